"""A webhook receiver in the test process that records every POST."""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when the body is not JSON


class WebhookRecorder:
    """A threaded HTTP server in the test process that records every POST and answers 200.

    It stands in for the bridge (or PagerDuty/Slack) where a test only needs to see what
    Alertmanager sends. Set `status` to make it fail (Alertmanager retries 5xx). GET /metrics
    serves `metrics_text`, so Prometheus can scrape it as the `alert-bridge` job and
    AlertBridgeDown stays quiet.
    """

    def __init__(self, metrics_text: str = "alert_bridge_outbox_depth 0\n") -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self.metrics_text = metrics_text
        self.status = 200  # what POSTs are answered with
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", errors="replace")
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw
                with recorder._lock:
                    recorder._received.append(Received(self.path, dict(self.headers), body))
                self._reply(recorder.status, b'{"status":"ok"}\n', "application/json")

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._reply(200, recorder.metrics_text.encode(), "text/plain; version=0.0.4")
                else:
                    self._reply(404, b"not found\n", "text/plain")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def alerts(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every alert of every Alertmanager webhook payload received (on `path`)."""
        out: list[dict[str, Any]] = []
        for request in self.received(path):
            if isinstance(request.body, dict):
                out += [
                    {**a, "_receiver": request.body.get("receiver")}
                    for a in request.body.get("alerts", [])
                ]
        return out

    def start(self) -> WebhookRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
