"""A one-line progress display on stderr for long operations, shown only when stderr
is a terminal (pipes, logs and CI get nothing from it)."""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``update(text)`` redraws one status line; ``clear()`` removes it. Silent unless
    ``stream`` (default stderr) is a TTY."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.shown = False
        try:
            self.active = self.stream.isatty()
        except (AttributeError, ValueError):
            self.active = False

    def update(self, text: str) -> None:
        if not self.active:
            return
        self.stream.write("\r\x1b[2K" + text[:200])
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the line before other output is printed (and at the end)."""
        if self.active and self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self.shown = False
