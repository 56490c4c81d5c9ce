"""Who is asking: the client's address, seen through the reverse proxies the bridge trusts.

Behind the shipped Caddy proxy every request comes from the proxy's address, so anything
kept per client (the console's sign-in backoff) would hold every person alike: one
guesser's failures would lock everyone out. The proxy says whom it serves in
`X-Forwarded-For`, which anyone can also send, so it is believed only from the addresses
in `BRIDGE_TRUSTED_PROXIES`, and only as far back as the chain of trusted hops goes: the
client is the nearest address that is not a trusted proxy (the rightmost such entry, the
one the last trusted proxy saw). Entries further left were written by the client itself.

Pure functions on strings: the settings parse the list, the routes pass the request's
peer and headers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# What stands in for a peer the server did not report (never a real address).
UNKNOWN = "unknown"


def parse_trusted_proxies(raw: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDR networks; ValueError naming the bad entry."""
    networks: list[Network] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network (CIDR)") from None
    return tuple(dict.fromkeys(networks))


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str:
    """The address a per-client decision should use.

    `peer` is the connection's remote address; `forwarded_for` every `X-Forwarded-For`
    header of the request, in order (one header may list several hops).
    """
    peer_address = _address(peer)
    if peer_address is None:
        return peer or UNKNOWN
    if not _is_trusted(peer_address, trusted):
        return str(peer_address)
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    nearest = peer_address
    for hop in reversed(hops):
        hop_address = _address(hop)
        if hop_address is None:
            # A trusted proxy writes only addresses: anything else came from further
            # out, so the last trusted hop's view is all that can be believed.
            return str(nearest)
        if not _is_trusted(hop_address, trusted):
            return str(hop_address)
        nearest = hop_address
    return str(nearest)


def _address(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.2 from a dual-stack socket
    return any(address.version == net.version and address in net for net in trusted)


__all__ = ["UNKNOWN", "Network", "client_address", "parse_trusted_proxies"]
