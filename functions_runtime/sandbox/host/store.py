"""The host side of ``functions_sdk.store``: the store port and the ``store`` frames.

A worker has no file or socket, so a handler's ``store.get(...)`` is one
``{"op": "store", "action", "key", ...}`` frame on the worker's pipe, answered by one
``{"op": "answer", ...}`` frame, exactly like ``fetch``. The pool hands each such frame
to the :class:`StoreSession` of the invocation. The session is bound by the host to
the instance it is serving (:attr:`InstanceSpec.store_scope <.pool.InstanceSpec>`):
nothing in a frame names an instance, so a worker can only ever reach its own
instance's keys. Every check of :mod:`functions_sdk.store` runs again here, on what
arrived: the worker's own checks are a courtesy, not a guard.

Backends implement :class:`KeyValueStore` (scoped by instance, values as JSON text,
limits enforced with ``functions_sdk.store.check_room``): in memory
(``functions_sdk._memory_store.MemoryStore``, for ``functions invoke`` and tests),
SQLite (``delivery/embedded/store.py``), DynamoDB (``delivery/aws/store.py``), all
behind one contract suite (``tests/contract/test_store_contract.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from functions_sdk.errors import StoreError
from functions_sdk.store import (
    MAX_VALUE_BYTES,
    check_by,
    check_key,
    check_ttl,
    encode_value,
)

__all__ = ["KeyValueStore", "StoreSession"]

_log = logging.getLogger(__name__)
Answer = dict[str, Any]


class KeyValueStore(Protocol):
    """Where instances' stores live. ``scope`` is chosen by the host, never by a worker."""

    def get(self, scope: str, key: str) -> str | None:
        """The JSON text under ``key``, None when missing or expired."""
        ...

    def put(self, scope: str, key: str, text: str, ttl: float | None) -> None:
        """Store ``text`` (checked JSON) under ``key``; raise ``StoreError`` when the
        instance's limits (keys, bytes) leave no room. ``ttl``: seconds, or None."""
        ...

    def delete(self, scope: str, key: str) -> bool: ...

    def incr(self, scope: str, key: str, by: int) -> int:
        """Atomically add ``by`` to an integer (0 when missing); ``StoreError`` when the
        key holds something else or the limits leave no room."""
        ...


class StoreSession:
    """One invocation's store: the backend, bound to the instance being served.

    :meth:`close` ends it: later frames (a worker that kept going after its event)
    get an error, never an answer from the store."""

    def __init__(self, backend: KeyValueStore, scope: str) -> None:
        self._backend: KeyValueStore | None = backend
        self._scope = scope
        self.calls = 0

    def close(self) -> None:
        self._backend = None

    def handle(self, frame: Mapping[str, Any]) -> Answer:
        """Answer one ``store`` frame: ``{"found", "value"}`` / ``{"deleted"}`` /
        ``{"value"}`` / ``{}``, or ``{"error": {"type", "message"}}``."""
        backend = self._backend
        if backend is None:
            return _error("StoreError", "the store is only reachable while an event runs")
        self.calls += 1
        try:
            return _perform(backend, self._scope, frame)
        except StoreError as exc:
            return _error("StoreError", exc.message if hasattr(exc, "message") else str(exc))
        except Exception as exc:  # the backend failed: the event is retried later
            _log.warning("store backend failed: %s: %s", type(exc).__name__, exc)
            return _error("RetryError", "the store is unavailable; the event will be retried")


def _perform(backend: KeyValueStore, scope: str, frame: Mapping[str, Any]) -> Answer:
    action = frame.get("action")
    key = check_key(frame.get("key"))
    if action == "get":
        text = backend.get(scope, key)
        return {"found": False} if text is None else {"found": True, "value": text}
    if action == "set":
        text = _checked_text(frame.get("value"))
        backend.put(scope, key, text, check_ttl(frame.get("ttl")))
        return {}
    if action == "delete":
        return {"deleted": bool(backend.delete(scope, key))}
    if action == "incr":
        return {"value": int(backend.incr(scope, key, check_by(frame.get("by"))))}
    raise StoreError("unknown store action")


def _checked_text(raw: object) -> str:
    """The worker's JSON text, parsed and encoded again here: what is stored is JSON the
    host wrote, within the limits, whatever the worker sent."""
    if type(raw) is not str:
        raise StoreError("store values are JSON text")
    if len(raw) > MAX_VALUE_BYTES:  # characters <= bytes: cheap first cut
        raise StoreError(f"a store value is at most {MAX_VALUE_BYTES} bytes of JSON")
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise StoreError("store values are JSON (the value did not parse)") from None
    return encode_value(value)  # refuses more than MAX_DEPTH levels before it recurses deeper


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _error(kind: str, message: str) -> Answer:
    return {"error": {"type": kind, "message": message}}
