"""The one error a window's validation raises (its own module: fields and model share it)."""

from __future__ import annotations


class WindowError(ValueError):
    """A request that can never succeed: 400 naming `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
