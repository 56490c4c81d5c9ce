"""Outbound TLS: the system's trust store plus `BRIDGE_CA_BUNDLE` when set
(a TLS-inspecting corporate proxy, or the test replicas)."""

from __future__ import annotations

import ssl


def client_ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context
