"""A peer that accepts connections and never answers: what a hung server looks like."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def hanging_url() -> Iterator[str]:
    """An http:// URL on 127.0.0.1 whose connections the kernel accepts (from the listen
    backlog) and nobody ever reads or answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
