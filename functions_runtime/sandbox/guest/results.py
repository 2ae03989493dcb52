"""Turn what a handler returned or raised into plain JSON, without running its code.

Only exact types are accepted (``type(x) is dict``, never ``isinstance``): a dict
subclass, an object with ``__eq__`` / ``__hash__`` or anything else the author made
is refused, so no author code runs while results are built, and the host only ever
sees JSON bytes.
"""

from __future__ import annotations

import datetime
import decimal
import math
import uuid
from typing import Any

from functions_sdk import (
    BaseEvent,
    DropEvent,
    EventNotSupported,
    FunctionError,
    RetryError,
)
from functions_sdk.events import event_to_dict

__all__ = ["MAX_RESULT_DEPTH", "ResultError", "classify", "error_info", "to_json"]

MAX_RESULT_DEPTH = 32
MAX_RESULT_ITEMS = 100_000
MAX_MESSAGE = 2000


class ResultError(Exception):
    """The handler returned something that cannot leave the sandbox."""


def to_json(value: Any) -> Any:
    """A JSON-safe copy of ``value`` built with exact-type checks only."""
    budget = [MAX_RESULT_ITEMS]
    return _walk(value, 0, budget)


def _walk(value: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise ResultError(f"result has more than {MAX_RESULT_ITEMS} values")
    if depth > MAX_RESULT_DEPTH:
        raise ResultError(f"result is nested deeper than {MAX_RESULT_DEPTH} levels")
    cls = type(value)
    if value is None or cls is bool or cls is int or cls is str:
        return value
    if cls is float:
        if not math.isfinite(value):
            raise ResultError("result contains NaN or infinity, which JSON cannot carry")
        return value
    if cls is dict:
        out: dict[str, Any] = {}
        for key, item in dict.items(value):
            if type(key) is not str:
                raise ResultError(
                    f"result has a dict key of type {type(key).__name__}; JSON keys are strings"
                )
            out[key] = _walk(item, depth + 1, budget)
        return out
    if cls is list or cls is tuple:
        return [_walk(item, depth + 1, budget) for item in list.__iter__(list(value))]
    if cls is datetime.datetime or cls is datetime.date:
        return value.isoformat()
    if cls is decimal.Decimal or cls is uuid.UUID:
        return str(value)
    if isinstance(value, BaseEvent) and type(value).__module__ == "functions_sdk.events":
        return _walk(event_to_dict(value), depth, budget)
    raise ResultError(
        f"handler returned a {cls.__name__}; return plain JSON values "
        "(dict, list, str, int, float, bool, None) or an event"
    )


def classify(exc: BaseException) -> str:
    """The outcome an exception leads to (by SDK class, never by an attribute)."""
    if isinstance(exc, DropEvent | EventNotSupported):
        return "filtered"
    if isinstance(exc, RetryError):
        return "retry"
    if isinstance(exc, RecursionError | MemoryError):
        return "retry"
    return "rejected"


# The C-level descriptors of every exception's ``args`` and ``__traceback__``: read
# through them, a class attribute of the same name on an author's subclass (a
# property) is never consulted.
_ARGS: Any = BaseException.__dict__["args"]
_TRACEBACK: Any = BaseException.__dict__["__traceback__"]
_PLAIN_ARGS = frozenset({str, int, float, bool, type(None)})


def error_info(exc: BaseException, filename: str, redact: Any) -> dict[str, Any]:
    """``{"type", "message", "line"}`` for the delivery record, masked and bounded.

    Runs no author code: the message comes from the exception's ``args`` (read through
    ``BaseException``'s own descriptor), an SDK error's from the text it was given at
    construction, never from a ``message`` attribute (which a subclass can make a
    property); the line from the traceback's own fields.
    """
    try:
        message = _message_of(exc)
    except Exception:
        message = "<the exception's message could not be read>"
    line = None
    try:
        tb = _TRACEBACK.__get__(exc, BaseException)
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
            tb = tb.tb_next
    except Exception:
        line = None
    name = type(exc).__name__
    if isinstance(exc, RecursionError):
        message = "maximum recursion depth exceeded (resource limit)"
    elif isinstance(exc, MemoryError):
        message = "memory limit exceeded (resource limit)"
    return {"type": name, "message": redact(message[:MAX_MESSAGE]), "line": line}


def _message_of(exc: BaseException) -> str:
    args = _ARGS.__get__(exc, BaseException)
    if type(args) is not tuple:  # pragma: no cover - the C slot is always a tuple
        return "<non-text message>"
    if issubclass(type(exc), FunctionError):
        # An SDK error: the text it was constructed with, if it is exactly a str.
        if not args:
            return ""
        return args[0] if type(args[0]) is str else "<non-text message>"
    if all(type(arg) in _PLAIN_ARGS for arg in args):
        # Plain arguments only: ``str()`` is the exception type's own (host) code,
        # which authors cannot override (special names are refused at compile).
        message = str(exc)
        return message if type(message) is str else "<non-text message>"
    return ", ".join(arg if type(arg) is str else f"<{type(arg).__name__}>" for arg in args)
