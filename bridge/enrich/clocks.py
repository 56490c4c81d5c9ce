"""dcgm-exporter's `DCGM_FI_DEV_CLOCKS_EVENT_REASONS` bitmask, decoded.

Bits from NVML's `nvmlClocksEventReasons` (nvml.h), as DOMAIN.md lists them. PromQL has no
bitwise AND, so the rules test bits arithmetically; here it is plain Python.
"""

from __future__ import annotations

CLOCK_EVENT_BITS: tuple[tuple[int, str], ...] = (
    (0x1, "GPU idle"),
    (0x2, "application clocks setting"),
    (0x4, "SW power cap"),
    (0x8, "HW slowdown"),
    (0x10, "sync boost"),
    (0x20, "SW thermal slowdown"),
    (0x40, "HW thermal slowdown"),
    (0x80, "HW power brake"),
    (0x100, "display clock setting"),
)
KNOWN_MASK = sum(bit for bit, _ in CLOCK_EVENT_BITS)


def decode_clock_events(mask: int) -> list[str]:
    """Names of the bits set in `mask`, lowest bit first; unknown bits by their hex value."""
    names = [name for bit, name in CLOCK_EVENT_BITS if mask & bit]
    unknown = mask & ~KNOWN_MASK
    if unknown > 0:
        names.append(f"unknown bits {unknown:#x}")
    return names


def describe_clock_events(mask: int) -> str:
    """`SW thermal slowdown, HW thermal slowdown (0x60)`, or `none (0x0)`."""
    if mask < 0:
        return f"invalid bitmask {mask}"
    names = decode_clock_events(mask)
    return f"{', '.join(names) if names else 'none'} ({mask:#x})"
