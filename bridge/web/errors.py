"""JSON errors everywhere: `{"error": "...", "detail": ...}`."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException


def json_error(status: int, error: str, detail: Any = None, **headers: str) -> Response:
    response = jsonify({"error": error, "detail": detail})
    response.status_code = status
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = json_error(exc.code or 500, exc.name.lower(), exc.description)
        # Keep what the exception says beyond the body, e.g. `Allow` on a 405.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        # Never echo the exception: it may carry a URL with credentials.
        return json_error(500, "internal error", type(exc).__name__)
