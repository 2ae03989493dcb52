"""What one event leaves behind in a worker must not reach the next event.

A worker serves many events of one instance. Each event already gets fresh module
globals and its own event and settings objects; what remains are the process-wide
caches that handler code feeds through the objects it is given, and the author's
objects that die only when the garbage collector finds their cycles:

* a suspended generator of event 1 caught in a cycle (its frame holds its module's
  globals, which hold the generator) would run its ``finally`` whenever the collector
  next runs: during event 2, under event 2's context. :func:`end_event` collects
  while the finished event's context is still active;
* pydantic remembers one ``setattr`` handler per attribute name on each model class
  (``__pydantic_setattr_handlers__``), so handler code that sets many distinct names
  on events grows it for the life of the worker;
* ``urllib.parse`` keeps ``lru_cache``s (``urlsplit``, the quoter factory) and ``re``
  a cache of compiled patterns: event 1's URLs and patterns would stay in memory for
  event 2 (and cached objects are the very objects event 1 was handed).

:func:`end_event` clears all of them after every event (after every ``on_batch``
call); filling them again costs each event little.
"""

from __future__ import annotations

import gc
import re
import urllib.parse
from typing import Any

from pydantic import BaseModel

import functions_sdk
import functions_sdk.events

__all__ = ["end_event", "setattr_handler_count"]


def _models() -> tuple[type[BaseModel], ...]:
    found: list[type[BaseModel]] = []
    for module in (functions_sdk, functions_sdk.events):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, BaseModel) and value not in found:
                found.append(value)
    if functions_sdk.BaseEvent not in found:  # pragma: no cover - exported today
        found.append(functions_sdk.BaseEvent)
    return tuple(found)


_MODELS = _models()
# The functools caches that handler code reaches through the urllib.parse facade.
_CACHES: tuple[Any, ...] = tuple(
    cache
    for cache in (
        getattr(urllib.parse, "urlsplit", None),
        getattr(urllib.parse, "_byte_quoter_factory", None),
    )
    if cache is not None and hasattr(cache, "cache_clear")
)


def _setattr_handlers(model: type[BaseModel]) -> dict[str, Any] | None:
    handlers = vars(model).get("__pydantic_setattr_handlers__")
    return handlers if type(handlers) is dict else None


def end_event() -> None:
    """Run with the finished event's context still active, before the next event."""
    # The author's unreachable objects die now, under this event's context.
    gc.collect()
    for model in _MODELS:
        handlers = _setattr_handlers(model)
        if handlers:
            handlers.clear()
    for cache in _CACHES:
        cache.cache_clear()
    re.purge()


def setattr_handler_count() -> int:
    """How many names pydantic remembers ``setattr`` handlers for (for tests)."""
    return sum(len(_setattr_handlers(model) or ()) for model in _MODELS)
