"""Limits on the JSON the platform accepts and records: nesting depth, numbers, text.

Events, settings and request bodies are JSON values. Three things in them break the
platform further down the line if they are let in: nesting deeper than the serialisers
go (Python's parser stops near 1,000 levels, pydantic's writer at 255), numbers JSON
cannot carry (``NaN``, ``Infinity``, ``1e400``), and strings holding a lone surrogate
(``"\\ud800"`` is valid JSON but not valid UTF-8). ``problem`` says why a value is
refused (at ingest and in the API); ``make_safe`` turns anything into a value that
every store can write (for delivery records, which must always be written).
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = [
    "COMPACT",
    "MAX_DEPTH",
    "TOO_DEEP",
    "compact_text",
    "loads_plain",
    "make_safe",
    "problem",
    "too_deep",
]

MAX_DEPTH = 64  # levels of objects and arrays, the outermost one counted as 1
# Encoders built once: ``json.dumps`` with an option builds one per call, about half
# the cost of encoding an event-sized value. ``json.JSONEncoder.encode`` is safe to
# share between threads (it keeps no state between calls).
COMPACT = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""Compact, strict JSON (``ValueError`` for NaN and infinities), ASCII-only."""
_STRICT = json.JSONEncoder(allow_nan=False)
TOO_DEEP = f"[nested more than {MAX_DEPTH} levels deep: dropped]"
_SCALARS = frozenset({type(None), bool, int})
_EMPTY = frozenset({list, dict})


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` has objects or arrays nested more than ``limit`` levels deep."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend(
            (child, depth + 1) for child in children if isinstance(child, dict | list | tuple)
        )
    return False


def problem(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """Why ``value`` is not a JSON value the platform takes, or None.

    Refused: nesting deeper than ``limit`` levels, and numbers that are not finite
    (``NaN``, ``Infinity`` and literals too large for a double, such as ``1e400``).
    """
    not_finite = False
    stack: list[tuple[Any, int]] = [(value, 1)]  # one walk for both checks
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float):
            not_finite = not_finite or not math.isfinite(item)
            continue
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:  # depth is reported first, wherever a bad number stands
            return f"nested more than {limit} levels deep (objects and arrays)"
        stack.extend((child, depth + 1) for child in children)
    if not_finite:
        return "holds a number JSON cannot carry (NaN, Infinity or out of range)"
    return None


def compact_text(value: Any, limit: int = MAX_DEPTH) -> tuple[str, None] | tuple[None, str]:
    """``(text, None)``: ``value`` as compact, ASCII-only JSON; or ``(None, why)`` when
    it is refused, with the answer :func:`problem` gives (depth first, then numbers), or
    because it holds something that is not JSON at all.

    One pass of the C encoder does most of the checking: it refuses numbers that are
    not finite, and a text with at most ``limit`` opening brackets cannot nest deeper
    than ``limit`` (brackets inside strings only count too many). Only a value that
    fails either is walked by :func:`problem`. ASCII-only, so ``len(text)`` is its size
    in bytes and any Python string (even a lone surrogate) round-trips.
    """
    try:
        text = COMPACT.encode(value)
    except (ValueError, RecursionError):
        text = None  # a number that is not finite (or nesting past the encoder)
    except TypeError as exc:
        return None, f"holds a value JSON cannot carry ({exc})"
    if text is None or not _shallow(text, limit):
        trouble = problem(value, limit)
        if trouble is not None:
            return None, trouble
        if text is None:
            return None, "cannot be written as JSON (a container holds itself)"
    return text, None


def loads_plain(text: str, limit: int = MAX_DEPTH) -> tuple[Any, bool]:
    """``json.loads(text)``, and whether every value in it is *plain*: one that
    :func:`make_safe` would return as it is, at ``limit`` levels below the top (the
    top value itself may be one level deeper: an envelope around the values).

    Told while parsing and from the text: no ``NaN`` or ``Infinity`` constant and no
    number too large for a double (``1e400``) was parsed, the text is ASCII and holds no
    ``\\ud...`` escape (every surrogate, lone or paired, in ASCII-only JSON), and it has
    at most ``limit + 1`` opening brackets. ``ValueError`` as from ``json.loads``."""
    try:
        value = _PLAIN_DECODER.decode(text)
    except _NotPlain:
        return json.loads(text), False
    plain = text.isascii() and "\\ud" not in text and _shallow(text, limit + 1)
    return value, plain


class _NotPlain(Exception):
    """A number JSON cannot carry, met while parsing (``loads_plain`` parses again)."""


def _refuse_constant(name: str) -> float:
    raise _NotPlain(name)


def _finite(literal: str) -> float:
    number = float(literal)
    if math.isinf(number):
        raise _NotPlain(literal)
    return number


_PLAIN_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)


def make_safe(value: Any, limit: int = MAX_DEPTH) -> Any:
    """``value``, or a copy of it, that any JSON writer takes: strings with lone surrogates
    escaped (``\\ud800`` as the six characters), keys made strings, numbers that are not
    finite as their names (``"NaN"``), containers deeper than ``limit`` replaced by a
    note saying so, and anything that is not JSON by its ``repr``.

    A value that needs none of that (the usual case) is returned as it is: ``None``, a
    boolean, an integer, an ASCII string and an empty list or dict at once, anything
    else after one pass of the C encoder (no number that is not finite, nothing that is
    not JSON, no ``\\ud...`` escape, which is how the ASCII-only text shows any
    surrogate, lone or paired, and at most ``limit`` opening brackets or, when there
    are more, no container deeper than ``limit`` found by a walk). Its keys may then be
    numbers, ``None`` or booleans, which every writer turns into text (pydantic's JSON
    does).
    """
    kind = type(value)
    if kind in _SCALARS or (kind is str and value.isascii()) or (kind in _EMPTY and not value):
        return value  # as the encoder would have said, without calling it
    try:
        text = _STRICT.encode(value)
    except (ValueError, TypeError, RecursionError):
        return _safe(value, limit, 1)
    if "\\ud" in text or not (_shallow(text, limit) or not too_deep(value, limit)):
        return _safe(value, limit, 1)
    return value


def _shallow(text: str, limit: int) -> bool:
    """True when the JSON ``text`` has at most ``limit`` opening brackets, so it cannot
    nest deeper than ``limit`` levels (brackets inside strings only count too many)."""
    return text.count("{") + text.count("[") <= limit


def _safe(value: Any, limit: int, depth: int) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict | list | tuple):
        if depth > limit:
            return TOO_DEEP
        if isinstance(value, dict):
            return {_text(str(k)): _safe(v, limit, depth + 1) for k, v in value.items()}
        return [_safe(v, limit, depth + 1) for v in value]
    return _text(repr(value))


def _text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
