"""The XID catalog: what a code means and what on-call does first.

From NVIDIA's "XID Errors" catalog (immediate actions), as summarised in DOMAIN.md. On GB10
(DGX Spark) the GPU is part of the SoC: a "GPU reset" is assumed to mean a node reboot, which
NVIDIA has not confirmed, so the message says so rather than hiding it.
"""

from __future__ import annotations

from dataclasses import dataclass

RESET = "reset the GPU"


@dataclass(frozen=True)
class XidEntry:
    meaning: str
    action: str


CATALOG: dict[int, XidEntry] = {
    13: XidEntry("graphics engine exception (application bug)", "restart the application"),
    31: XidEntry("GPU memory page fault (MMU fault)", "restart the application"),
    32: XidEntry("corrupted push buffer stream", "restart the application; check the PCIe link"),
    43: XidEntry("application fault; the GPU is healthy", "none"),
    45: XidEntry("preemptive cleanup after another error", "act on the other XIDs reported"),
    46: XidEntry("GPU stopped processing", RESET),
    48: XidEntry(
        "double-bit ECC error",
        f"{RESET} or reboot the node; RMA if the ECC thresholds are exceeded",
    ),
    62: XidEntry("internal micro-controller halt", RESET),
    63: XidEntry("ECC page retirement / row-remap recording event", "none"),
    64: XidEntry("ECC page retirement / row-remap failure", f"{RESET}; contact support"),
    68: XidEntry("NVDEC (video decoder) exception", "restart the application"),
    69: XidEntry("graphics engine class error", "restart the application"),
    74: XidEntry("NVLink error", f"{RESET} or reboot the node; if repeated, call the vendor"),
    79: XidEntry("GPU has fallen off the bus", "reboot the node"),
    92: XidEntry("high single-bit ECC error rate", "none; watch for more"),
    94: XidEntry("contained ECC error", f"restart the application; {RESET} when convenient"),
    95: XidEntry("uncontained ECC error", RESET),
    109: XidEntry("context switch timeout", RESET),
    119: XidEntry("GSP RPC timeout", f"{RESET}; power-cycle the node if it persists"),
    120: XidEntry("GSP error", f"{RESET}; power-cycle the node if it persists"),
    121: XidEntry("C2C link corrected errors", "none; retrain the link at a maintenance window"),
    140: XidEntry("unrecovered ECC error", RESET),
    143: XidEntry("GPU initialisation failure", RESET),
    154: XidEntry(
        "GPU recovery action changed",
        "act on the recovery action in the message (none, drain P2P, reset, or reboot)",
    ),
}

GB10_RESET_NOTE = (
    "DGX Spark (GB10): the GPU is part of the SoC, so a GPU reset means rebooting the node "
    "(not confirmed by NVIDIA)"
)
NO_NVLINK_NOTE = "DGX Spark has no NVLink: an NVLink XID there is unexpected, call the vendor"


@dataclass(frozen=True)
class XidInfo:
    code: int | None
    meaning: str
    action: str
    note: str = ""

    @property
    def headline(self) -> str:
        """`XID 79: GPU has fallen off the bus`."""
        return f"XID {self.code}: {self.meaning}" if self.code is not None else self.meaning


def decode_xid(raw: str | int | float | None, model: str | None = None) -> XidInfo:
    """Meaning and first action of an XID code (a label value or a gauge value).

    `model` is dcgm-exporter's `modelName` when known; on GB10 the note says what a reset
    means there, and when the model is unknown the note says it conditionally.
    """
    code = _code(raw)
    if code is None:
        return XidInfo(None, f"unrecognised XID value {raw!r}", "see the XID table in the runbook")
    entry = CATALOG.get(code)
    if entry is None:
        return XidInfo(
            code,
            "not in the bridge's catalog",
            "look the code up in NVIDIA's XID catalog (see the runbook)",
        )
    return XidInfo(code, entry.meaning, entry.action, _note(code, entry, model))


def _code(raw: str | int | float | None) -> int | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    if value != int(value) or value <= 0:
        return None
    return int(value)


def _note(code: int, entry: XidEntry, model: str | None) -> str:
    gb10 = model is not None and "GB10" in model.upper()
    notes = []
    if code == 74 and (gb10 or model is None):
        notes.append(NO_NVLINK_NOTE if gb10 else f"if this is a DGX Spark: {NO_NVLINK_NOTE}")
    if RESET in entry.action:
        if gb10:
            notes.append(GB10_RESET_NOTE)
        elif model is None:
            notes.append(f"if this is a {GB10_RESET_NOTE}")
    return "; ".join(notes)
