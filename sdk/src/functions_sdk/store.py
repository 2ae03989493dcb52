"""A small key-value store per function instance, with expiry: tokens, cursors, caches.

::

    from functions_sdk import store

    token = store.get("token")
    if token is None:
        token = fetch(...).json()["access_token"]
        store.set("token", token, ttl=3300)      # seconds; gone after that
    store.incr("sent")                          # counters
    store.delete("cursor")

* Values are JSON: ``None``, ``bool``, ``int``, ``float`` (not NaN or infinity),
  ``str``, lists and dicts with ``str`` keys, nested at most :data:`MAX_DEPTH` levels.
  ``get`` returns a fresh copy: changing it changes nothing stored.
* Limits: a key is at most :data:`MAX_KEY_BYTES` bytes of UTF-8, a value at most
  :data:`MAX_VALUE_BYTES` bytes of JSON; an instance holds at most :data:`MAX_KEYS` keys
  and :data:`MAX_TOTAL_BYTES` bytes (keys and values together). Past any of them the call
  raises :class:`~functions_sdk.errors.StoreError` (outcome ``rejected``) and nothing is
  stored. A store that cannot be reached raises
  :class:`~functions_sdk.errors.RetryError`.
* The store belongs to the instance (a function deployed with its settings in a
  workspace), not to the handler's code: it survives new versions, and no other
  instance can read it. The runtime decides which instance's store a call reaches; the
  handler cannot name another.
* Outside the runtime there is no store: in tests pass
  ``functions_sdk.testing.MemoryStore`` to ``run_function(..., store=...)``.

How: like ``fetch``, each call is one message to the host (the handler's process has
no file or socket); the host checks it again and answers from its store (SQLite with
``functions serve``, DynamoDB on AWS, memory for ``functions invoke``).
"""

from __future__ import annotations

import json
import math
from typing import Any

from ._context import current
from .errors import RetryError, StoreError

__all__ = [
    "MAX_DEPTH",
    "MAX_KEYS",
    "MAX_KEY_BYTES",
    "MAX_TOTAL_BYTES",
    "MAX_TTL_SECONDS",
    "MAX_VALUE_BYTES",
    "delete",
    "get",
    "incr",
    "set",
]

MAX_KEY_BYTES = 256
"""Longest key, in bytes of UTF-8."""
MAX_VALUE_BYTES = 64 * 1024
"""Largest value, in bytes of compact JSON."""
MAX_TOTAL_BYTES = 1024 * 1024
"""Most bytes (keys and values) one instance's store holds."""
MAX_KEYS = 1000
"""Most keys one instance's store holds."""
MAX_DEPTH = 32
"""Deepest nesting of lists and dicts in a value (the outermost counted as 1)."""
MAX_TTL_SECONDS = 366 * 24 * 3600
"""Longest ``ttl`` (a year); ``None`` keeps the value until it is deleted."""
MAX_INT = 2**63 - 1
"""``incr`` keeps counters within a signed 64-bit integer."""

NO_STORE = (
    "there is no store here: handlers reach it through the runtime; in a test, run the "
    "handler with functions_sdk.testing.run_function(..., store=MemoryStore())"
)


def get(key: str, default: Any = None) -> Any:
    """The value stored under ``key``, or ``default`` when there is none (or it expired)."""
    answer = _call({"action": "get", "key": check_key(key)})
    if not answer.get("found"):
        return default
    return json.loads(str(answer["value"]))


def set(key: str, value: Any, ttl: float | None = None) -> None:
    """Store ``value`` (JSON) under ``key``; ``ttl``: seconds until it expires."""
    _call(
        {
            "action": "set",
            "key": check_key(key),
            "value": encode_value(value),
            "ttl": check_ttl(ttl),
        }
    )


def delete(key: str) -> bool:
    """Remove ``key``; ``True`` when it was there."""
    return bool(_call({"action": "delete", "key": check_key(key)}).get("deleted"))


def incr(key: str, by: int = 1) -> int:
    """Add ``by`` to the integer under ``key`` (0 when missing) and return the new value.
    The key keeps its expiry; a new key has none. Atomic in the store."""
    return int(_call({"action": "incr", "key": check_key(key), "by": check_by(by)})["value"])


# -- checks (the host runs them again on what arrives) -----------------------------------


def check_key(key: object) -> str:
    if type(key) is not str:
        raise StoreError(f"store keys are str, not {type(key).__name__}")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise StoreError("a store key must be valid text (no lone surrogates)") from None
    if size == 0:
        raise StoreError("a store key cannot be empty")
    if size > MAX_KEY_BYTES:
        raise StoreError(f"a store key is at most {MAX_KEY_BYTES} bytes; this one is {size}")
    return key


def encode_value(value: object) -> str:
    """``value`` as compact JSON text, or :class:`StoreError` saying why not."""
    problem = _problem(value, 1)
    if problem is not None:
        raise StoreError(f"store values are JSON: {problem}")
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        size = len(text.encode("utf-8"))
    except (TypeError, ValueError, RecursionError, UnicodeEncodeError) as exc:
        raise StoreError(f"store values are JSON: {str(exc)[:200]}") from None
    if size > MAX_VALUE_BYTES:
        raise StoreError(f"a store value is at most {MAX_VALUE_BYTES} bytes of JSON; got {size}")
    return text


def _problem(value: object, depth: int) -> str | None:
    """What makes ``value`` unfit (exact types only: no subclass's hooks run)."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return None
    if kind is float:
        return None if math.isfinite(value) else f"{value!r} is not a JSON number"  # type: ignore[arg-type]
    if kind is list or kind is tuple or kind is dict:
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if kind is dict:
            items: Any = dict.items(value)  # type: ignore[arg-type]
            for k, v in items:
                if type(k) is not str:
                    return f"dict keys must be str, not {type(k).__name__}"
                found = _problem(v, depth + 1)
                if found:
                    return found
            return None
        for item in value:  # type: ignore[attr-defined]
            found = _problem(item, depth + 1)
            if found:
                return found
        return None
    return f"{kind.__name__} is not a JSON type"


def check_ttl(ttl: object) -> float | None:
    if ttl is None:
        return None
    if type(ttl) is int or type(ttl) is float:
        seconds = float(ttl)
        if math.isfinite(seconds) and seconds > 0:
            return min(seconds, float(MAX_TTL_SECONDS))
    raise StoreError(f"ttl is a positive number of seconds or None, not {ttl!r:.50}")


def check_by(by: object) -> int:
    if type(by) is int and -MAX_INT <= by <= MAX_INT:
        return by
    raise StoreError("incr(by=...) is an int within 64 bits")


def check_room(
    keys: int,
    total: int,
    key: str,
    text: str,
    limits: tuple[int, int] = (MAX_KEYS, MAX_TOTAL_BYTES),
) -> None:
    """Raise :class:`StoreError` when an instance holding ``keys`` other keys of
    ``total`` bytes has no room for ``key`` = ``text`` (used by every backend).
    ``limits``: (most keys, most bytes) of an instance."""
    max_keys, max_bytes = limits
    if keys + 1 > max_keys:
        raise StoreError(f"the instance's store is full: at most {max_keys} keys")
    size = entry_size(key, text)
    if total + size > max_bytes:
        raise StoreError(
            f"the instance's store is full: {total} bytes held, {size} more would pass "
            f"the limit of {max_bytes}"
        )


def entry_size(key: str, text: str) -> int:
    return len(key.encode("utf-8")) + len(text.encode("utf-8"))


def incremented(text: str | None, by: int) -> str:
    """The JSON text of an ``incr`` of the value ``text`` (None: missing)."""
    current_value = 0 if text is None else json.loads(text)
    if type(current_value) is not int:
        raise StoreError("incr works on integers; the key holds another value")
    result = current_value + by
    if not -MAX_INT - 1 <= result <= MAX_INT:
        raise StoreError("incr would take the counter past 64 bits")
    return str(result)


def _call(request: dict[str, Any]) -> dict[str, Any]:
    ctx = current()
    if ctx.transport is None:
        raise StoreError(NO_STORE)
    answer = ctx.transport({"op": "store", **request})
    error = answer.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or "the store refused the call")
        if error.get("type") == "RetryError":
            raise RetryError(message)
        raise StoreError(message)
    return answer
