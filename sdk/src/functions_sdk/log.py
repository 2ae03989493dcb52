"""Logging for function authors: lines land in the delivery record of the event.

``print(...)`` works too; both are captured per invocation, masked and size-capped.
"""

from __future__ import annotations

from ._context import current

__all__ = ["FunctionLogger", "logger"]


class FunctionLogger:
    """Write log lines into the current delivery record: ``logger.info("sent %s", n)``."""

    __slots__ = ()

    def _emit(self, level: str, message: object, args: tuple[object, ...]) -> None:
        text = str(message)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError):
                text = " ".join([text, *map(str, args)])
        current().log(f"{level} {text}")

    def debug(self, message: object, *args: object) -> None:
        """Log at DEBUG level."""
        self._emit("DEBUG", message, args)

    def info(self, message: object, *args: object) -> None:
        """Log at INFO level."""
        self._emit("INFO", message, args)

    def warning(self, message: object, *args: object) -> None:
        """Log at WARNING level."""
        self._emit("WARNING", message, args)

    def error(self, message: object, *args: object) -> None:
        """Log at ERROR level."""
        self._emit("ERROR", message, args)


logger = FunctionLogger()
