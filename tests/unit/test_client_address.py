"""The client's address through trusted reverse proxies (bridge/client_address.py)."""

from __future__ import annotations

import pytest

from bridge.client_address import client_address, parse_trusted_proxies
from bridge.settings import SettingsError, load_settings

PROXY = "172.30.95.10"
TRUSTED = parse_trusted_proxies(f"{PROXY}, 10.1.0.0/16, fd00::/8")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # No proxy in front: the peer, whatever the request claims.
        ("198.51.100.7", [], "198.51.100.7"),
        ("198.51.100.7", ["203.0.113.5"], "198.51.100.7"),
        # The trusted proxy names the client it served.
        (PROXY, ["203.0.113.5"], "203.0.113.5"),
        # A client's own X-Forwarded-For is further left than what the proxy appended.
        (PROXY, ["1.2.3.4, 203.0.113.5"], "203.0.113.5"),
        (PROXY, ["1.2.3.4", "203.0.113.5"], "203.0.113.5"),
        # Trusted hops are walked back to the first untrusted one.
        (PROXY, ["203.0.113.5, 10.1.2.3"], "203.0.113.5"),
        (PROXY, ["10.1.2.3"], "10.1.2.3"),
        # The proxy without a header: the proxy itself (nothing better is known).
        (PROXY, [], PROXY),
        # Garbage in the chain is not believed: the last trusted hop's view stands.
        (PROXY, ["203.0.113.5, not-an-address"], PROXY),
        (PROXY, ["203.0.113.5, not-an-address, 10.1.2.3"], "10.1.2.3"),
        (PROXY, [" 203.0.113.5 "], "203.0.113.5"),
        # IPv6, and an IPv4 peer on a dual-stack socket.
        ("fd00::1", ["2001:db8::5"], "2001:db8::5"),
        (f"::ffff:{PROXY}", ["203.0.113.5"], "203.0.113.5"),
        # A server that reported no peer.
        (None, ["203.0.113.5"], "unknown"),
        ("", [], "unknown"),
    ],
)
def test_the_client_is_the_nearest_address_that_is_not_a_trusted_proxy(
    peer: str | None, forwarded_for: list[str], expected: str
) -> None:
    assert client_address(peer, forwarded_for, TRUSTED) == expected


def test_without_trusted_proxies_the_header_is_never_believed() -> None:
    assert client_address(PROXY, ["203.0.113.5"], ()) == PROXY


def test_the_setting_takes_addresses_and_networks_and_defaults_to_none() -> None:
    assert load_settings({}).trusted_proxies == ()
    settings = load_settings({"BRIDGE_TRUSTED_PROXIES": "172.30.95.10, 10.0.0.0/8,,::1"})
    trusted = [str(n) for n in settings.trusted_proxies]
    assert trusted == ["172.30.95.10/32", "10.0.0.0/8", "::1/128"]


@pytest.mark.parametrize("value", ["proxy", "10.0.0.0/33", "172.30.95.10, 300.1.1.1"])
def test_a_bad_trusted_proxy_stops_the_bridge_with_the_variable_named(value: str) -> None:
    with pytest.raises(SettingsError, match=r"BRIDGE_TRUSTED_PROXIES: .* is not an IP address"):
        load_settings({"BRIDGE_TRUSTED_PROXIES": value})
