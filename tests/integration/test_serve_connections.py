"""A real `alert-bridge serve` under idle and slow clients (issue 25 item 6) and oversized
unauthenticated bodies (issue 22 item 7): it keeps answering Alertmanager and /healthz."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import Engine

from tests.support.bridge_proc import bridge_env, start_bridge
from tests.support.payloads import alert, payload
from tests.support.procs import wait_until

pytestmark = pytest.mark.slow

# Waitress's own connection limit was 100: one more than that, and then some.
IDLE_SOCKETS = 105
# Generous: the answer is expected at once; this only bounds a hang.
ANSWER_DEADLINE_S = 15.0


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


@contextmanager
def half_requests(url: str, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that each send a request line and one header, then nothing."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.create_connection(_address(url), timeout=ANSWER_DEADLINE_S)
            s.sendall(b"POST /webhook/alertmanager HTTP/1.1\r\nHost: bridge\r\n")
            sockets.append(s)
        yield sockets
    finally:
        for s in sockets:
            s.close()


def _closed_by_server(s: socket.socket) -> bool:
    s.settimeout(0.05)
    try:
        return s.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_105_idle_connections_leave_the_webhook_and_healthz_answered(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    with (
        start_bridge(tmp_path, bridge_env(tmp_path, db_url)) as bridge,
        half_requests(bridge.url, IDLE_SOCKETS) as idle,
    ):
        started = time.monotonic()
        health = requests.get(f"{bridge.url}/healthz", timeout=ANSWER_DEADLINE_S)
        hook = requests.post(
            f"{bridge.url}/webhook/alertmanager",
            data=json.dumps(payload(alert())),
            headers={"Content-Type": "application/json"},
            timeout=ANSWER_DEADLINE_S,
        )
        elapsed = time.monotonic() - started
        assert health.status_code == 200
        assert hook.status_code == 200, hook.text
        print(f"/healthz and the webhook answered in {elapsed:.3f} s beside {len(idle)} idle")

        # Idle time is bounded: the server closes every half request on its own.
        wait_until(
            lambda: all(_closed_by_server(s) for s in idle) or None,
            timeout=90,
            what="the server to close every idle half request",
        )


def test_an_oversized_unauthenticated_body_is_refused_before_it_is_sent(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    """The server answers 413 on the headers alone: nothing of the 32 MiB is read."""
    env = bridge_env(tmp_path, db_url, BRIDGE_WEBHOOK_TOKEN="hook-Tok3n-for-this-test")
    with (
        start_bridge(tmp_path, env) as bridge,
        socket.create_connection(_address(bridge.url), timeout=ANSWER_DEADLINE_S) as s,
    ):
        s.sendall(
            b"POST /webhook/alertmanager HTTP/1.1\r\nHost: bridge\r\n"
            b"Content-Type: application/json\r\n"
            + f"Content-Length: {32 * 1024 * 1024}\r\n\r\n".encode()
            + b'{"version": "4", '
        )
        status_line = s.makefile("rb").readline()
        assert status_line.split()[1] == b"413", status_line
