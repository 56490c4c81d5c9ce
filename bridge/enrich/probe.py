"""TCP reachability of a node's exporter ports, checked from the bridge itself.

When Prometheus says a node is down, "does it answer us?" separates a dead node from a
broken path between Prometheus and the node. The addresses come from Prometheus's own
`instance` labels for that node (the configured targets), never from the alert payload.
"""

from __future__ import annotations

import errno
import socket

from bridge.enrich.model import TcpResult

MAX_PROBES = 16


def split_address(instance: str) -> tuple[str, int] | None:
    """`host:port` or `[v6]:port` → (host, port); None when there is no port to check."""
    host, sep, port = instance.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        return None
    return host.strip("[]"), int(port)


def check_tcp(instance: str, job: str, timeout: float) -> TcpResult:
    """Connect and close at once: open, refused, timeout, or unreachable."""
    address = split_address(instance)
    if address is None:
        return TcpResult(instance, job, "error", "no port in the instance label")
    try:
        with socket.create_connection(address, timeout=max(0.05, timeout)):
            return TcpResult(instance, job, "open")
    except TimeoutError:
        return TcpResult(instance, job, "timeout", f"no answer within {timeout:g}s")
    except ConnectionRefusedError:
        return TcpResult(instance, job, "refused")
    except socket.gaierror:
        return TcpResult(instance, job, "unreachable", "host name not found")
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return TcpResult(instance, job, "unreachable", exc.strerror or "")
        return TcpResult(instance, job, "error", type(exc).__name__)
