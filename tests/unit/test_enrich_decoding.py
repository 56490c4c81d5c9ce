"""XID codes and the clock-event bitmask, decoded the way on-call needs them."""

from __future__ import annotations

import pytest

from bridge.enrich.clocks import decode_clock_events, describe_clock_events
from bridge.enrich.xid import CATALOG, GB10_RESET_NOTE, decode_xid


@pytest.mark.parametrize(
    ("code", "meaning", "action"),
    [
        (13, "graphics engine exception (application bug)", "restart the application"),
        (43, "application fault; the GPU is healthy", "none"),
        (48, "double-bit ECC error", "reset the GPU or reboot the node; RMA if the ECC"),
        (79, "GPU has fallen off the bus", "reboot the node"),
        (92, "high single-bit ECC error rate", "none; watch for more"),
        (119, "GSP RPC timeout", "reset the GPU; power-cycle the node if it persists"),
        (121, "C2C link corrected errors", "none; retrain the link at a maintenance window"),
        (154, "GPU recovery action changed", "act on the recovery action in the message"),
    ],
)
def test_catalog_codes_decode_to_meaning_and_first_action(
    code: int, meaning: str, action: str
) -> None:
    info = decode_xid(str(code), "NVIDIA H100 80GB HBM3")
    assert info.code == code and info.meaning == meaning
    assert info.action.startswith(action)


def test_every_code_of_the_domain_catalog_is_known() -> None:
    expected = {
        13,
        31,
        32,
        43,
        45,
        46,
        48,
        62,
        63,
        64,
        68,
        69,
        74,
        79,
        92,
        94,
        95,
        109,
        119,
        120,
        121,
        140,
        143,
        154,
    }
    assert set(CATALOG) == expected


def test_a_gpu_reset_on_gb10_is_explained_as_a_node_reboot() -> None:
    assert decode_xid(95, "NVIDIA GB10").note == GB10_RESET_NOTE
    assert decode_xid(95, None).note.startswith("if this is a DGX Spark (GB10)")
    assert decode_xid(95, "NVIDIA H100 80GB HBM3").note == ""
    assert decode_xid(79, "NVIDIA GB10").note == ""  # already "reboot the node"


def test_an_nvlink_xid_on_dgx_spark_is_flagged_as_unexpected() -> None:
    assert "no NVLink" in decode_xid(74, "NVIDIA GB10").note


def test_the_sticky_gauge_value_decodes_like_the_label() -> None:
    assert decode_xid(79.0).code == decode_xid("79").code == 79


@pytest.mark.parametrize("raw", ["abc", "", None, "0", "-3", "7.5"])
def test_an_unusable_xid_value_says_so(raw: str | None) -> None:
    info = decode_xid(raw)
    assert info.code is None and "unrecognised XID value" in info.meaning


def test_an_unknown_code_points_to_nvidias_catalog() -> None:
    info = decode_xid("999")
    assert info.headline == "XID 999: not in the bridge's catalog"
    assert "NVIDIA's XID catalog" in info.action


@pytest.mark.parametrize(
    ("mask", "text"),
    [
        (0, "none (0x0)"),
        (0x1, "GPU idle (0x1)"),
        (0x60, "SW thermal slowdown, HW thermal slowdown (0x60)"),
        (0x8 | 0x80, "HW slowdown, HW power brake (0x88)"),
        (0x4, "SW power cap (0x4)"),
        (0x1000, "unknown bits 0x1000 (0x1000)"),
    ],
)
def test_clock_event_reasons_are_decoded_bit_by_bit(mask: int, text: str) -> None:
    assert describe_clock_events(mask) == text


def test_every_documented_bit_has_a_name() -> None:
    assert decode_clock_events(0x1FF) == [
        "GPU idle",
        "application clocks setting",
        "SW power cap",
        "HW slowdown",
        "sync boost",
        "SW thermal slowdown",
        "HW thermal slowdown",
        "HW power brake",
        "display clock setting",
    ]
