"""An in-memory store backend: for tests (``functions_sdk.testing.MemoryStore``) and for
``functions invoke``, where no store is configured (one per process, gone at its end).

It implements the host's store port (``functions_runtime/sandbox/host/store.py``):
scoped by instance, values kept as JSON text, the limits of :mod:`functions_sdk.store`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .store import (
    MAX_KEYS,
    MAX_TOTAL_BYTES,
    check_key,
    check_room,
    encode_value,
    entry_size,
    incremented,
)

__all__ = ["MemoryStore"]

Entry = tuple[str, float | None]  # JSON text, expiry (seconds since the epoch) or None


class MemoryStore:
    """A store in memory, one dict per instance.

    ``MemoryStore({"token": "abc"})`` seeds every instance's store with those values
    (a test store usually serves the one function under test); after the run,
    ``store.data`` holds what that function's store holds, decoded. ``clock`` gives the
    time in seconds (``time.time``), for tests of expiry.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        limits: tuple[int, int] = (MAX_KEYS, MAX_TOTAL_BYTES),
    ) -> None:
        self.clock = clock
        self.limits = limits
        self._seed: dict[str, Entry] = {
            check_key(k): (encode_value(v), None) for k, v in (data or {}).items()
        }
        self._scopes: dict[str, dict[str, Entry]] = {}
        self._lock = threading.Lock()

    # -- inspection ---------------------------------------------------------------------

    @property
    def data(self) -> dict[str, Any]:
        """The live values of the one instance that used this store (the seed when none
        has; ``ValueError`` when several have: use :meth:`scope_data`)."""
        with self._lock:
            scopes = list(self._scopes)
        if not scopes:
            return self._decoded(self._seed)
        if len(scopes) > 1:
            raise ValueError(f"{len(scopes)} instances used this store: use scope_data()")
        return self.scope_data(scopes[0])

    def scope_data(self, scope: str) -> dict[str, Any]:
        with self._lock:
            return self._decoded(self._live(scope))

    def scopes(self) -> list[str]:
        with self._lock:
            return list(self._scopes)

    def _decoded(self, entries: Mapping[str, Entry]) -> dict[str, Any]:
        now = self.clock()
        return {
            k: json.loads(text) for k, (text, exp) in entries.items() if exp is None or exp > now
        }

    # -- the port -----------------------------------------------------------------------

    def _live(self, scope: str) -> dict[str, Entry]:
        """``scope``'s entries, expired ones dropped (caller holds the lock)."""
        entries = self._scopes.get(scope)
        if entries is None:
            entries = self._scopes[scope] = dict(self._seed)
        now = self.clock()
        for key in [k for k, (_, exp) in entries.items() if exp is not None and exp <= now]:
            del entries[key]
        return entries

    def get(self, scope: str, key: str) -> str | None:
        with self._lock:
            entry = self._live(scope).get(key)
        return None if entry is None else entry[0]

    def put(self, scope: str, key: str, text: str, ttl: float | None) -> None:
        with self._lock:
            entries = self._live(scope)
            others = [(k, t) for k, (t, _) in entries.items() if k != key]
            check_room(
                len(others), sum(entry_size(k, t) for k, t in others), key, text, self.limits
            )
            entries[key] = (text, None if ttl is None else self.clock() + ttl)

    def delete(self, scope: str, key: str) -> bool:
        with self._lock:
            return self._live(scope).pop(key, None) is not None

    def incr(self, scope: str, key: str, by: int) -> int:
        with self._lock:
            entries = self._live(scope)
            old = entries.get(key)
            text = incremented(None if old is None else old[0], by)
            others = [(k, t) for k, (t, _) in entries.items() if k != key]
            check_room(
                len(others), sum(entry_size(k, t) for k, t in others), key, text, self.limits
            )
            entries[key] = (text, None if old is None else old[1])
            return int(text)

    def clear(self, scope: str) -> None:
        with self._lock:
            self._scopes.pop(scope, None)
