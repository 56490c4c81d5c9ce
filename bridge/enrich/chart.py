"""A small PNG of the alert's metric over the last hour, threshold drawn in.

Pure: the stored chart spec (`context.chart_spec`) in, PNG bytes out. The same bytes go to
the Slack thread and to `/charts/<id>.png` (PagerDuty images), so both show one picture.
Pillow draws it: a few lines and labels do not need a plotting library's import time.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from bridge.enrich.units import format_value

WIDTH, HEIGHT = 640, 280
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 76, 16, 34, 44
BACKGROUND = (255, 255, 255)
AXIS = (120, 120, 120)
GRID = (230, 230, 230)
TEXT = (30, 30, 30)
THRESHOLD = (214, 39, 40)
PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (148, 103, 189),
    (140, 86, 75),
    (23, 190, 207),
)
LEGEND_ROW = 16
Y_TICKS = 4
X_TICKS = 4


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size)


def _points(series: Mapping[str, Any]) -> list[tuple[float, float]]:
    out = []
    for pair in series.get("points", []):
        if isinstance(pair, list | tuple) and len(pair) == 2 and pair[1] is not None:
            t, v = float(pair[0]), float(pair[1])
            if math.isfinite(t) and math.isfinite(v):
                out.append((t, v))
    return out


def _y_range(values: Sequence[float], threshold: float | None, unit: str) -> tuple[float, float]:
    if unit == "up":
        return -0.1, 1.1
    candidates = list(values) + ([threshold] if threshold is not None else [])
    low, high = min(candidates), max(candidates)
    if high == low:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.08
    return low - pad, high + pad


def render_chart(spec: Mapping[str, Any]) -> bytes:
    """PNG bytes for a stored chart spec; "no data" drawn when it has no points."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    small, title_font = _font(11), _font(14)
    draw.text((MARGIN_LEFT, 8), str(spec.get("title", ""))[:80], fill=TEXT, font=title_font)

    start, end = float(spec.get("start", 0)), float(spec.get("end", 1))
    if end <= start:
        end = start + 1
    unit = str(spec.get("unit", "none"))
    threshold = spec.get("threshold")
    threshold = float(threshold) if isinstance(threshold, int | float) else None
    series = [(str(s.get("name", "")), _points(s)) for s in spec.get("series") or []]
    values = [v for _, pts in series for _, v in pts]

    legend = len(series) > 1
    # The legend gets its own rows under the title, never over the lines.
    left, top = MARGIN_LEFT, MARGIN_TOP + (LEGEND_ROW * math.ceil(len(series) / 3) if legend else 0)
    right, bottom = WIDTH - MARGIN_RIGHT, HEIGHT - MARGIN_BOTTOM
    draw.rectangle((left, top, right, bottom), outline=AXIS)
    if not values:
        draw.text(
            ((left + right) // 2 - 20, (top + bottom) // 2), "no data", fill=AXIS, font=title_font
        )
        return _png(image)

    low, high = _y_range(values, threshold, unit)

    def x_of(t: float) -> float:
        return left + (t - start) / (end - start) * (right - left)

    def y_of(v: float) -> float:
        return bottom - (v - low) / (high - low) * (bottom - top)

    for i in range(Y_TICKS + 1):
        value = low + (high - low) * i / Y_TICKS
        y = y_of(value)
        draw.line((left, y, right, y), fill=GRID)
        label = format_value(value, unit) if unit != "up" else ""
        draw.text((4, y - 6), label[:12], fill=TEXT, font=small)
    if unit == "up":
        draw.text((4, y_of(1) - 6), "up", fill=TEXT, font=small)
        draw.text((4, y_of(0) - 6), "down", fill=TEXT, font=small)
    for i in range(X_TICKS + 1):
        t = start + (end - start) * i / X_TICKS
        x = x_of(t)
        draw.line((x, bottom, x, bottom + 4), fill=AXIS)
        label = datetime.fromtimestamp(t, UTC).strftime("%H:%M")
        draw.text((x - 14, bottom + 6), label, fill=TEXT, font=small)
    draw.text((right - 28, bottom + 22), "UTC", fill=AXIS, font=small)

    if threshold is not None and low <= threshold <= high:
        y = y_of(threshold)
        for x in range(left, right, 10):  # dashed
            draw.line((x, y, min(x + 5, right), y), fill=THRESHOLD, width=2)
        draw.text(
            (right - 110, y - 15),
            f"threshold {format_value(threshold, unit)}",
            fill=THRESHOLD,
            font=small,
        )

    for index, (name, pts) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        xy = [(x_of(t), y_of(v)) for t, v in pts]
        if len(xy) == 1:
            x, y = xy[0]
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        elif xy:
            draw.line(xy, fill=colour, width=2)
        if legend:
            lx = left + (index % 3) * 170
            ly = MARGIN_TOP - 6 + (index // 3) * LEGEND_ROW
            draw.line((lx, ly + 6, lx + 14, ly + 6), fill=colour, width=3)
            draw.text((lx + 18, ly), name[:24], fill=TEXT, font=small)
    return _png(image)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
