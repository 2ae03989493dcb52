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
call); filling them again costs each event little, except for ``re``: compiling a
pattern costs tens of microseconds, so a handler that matches one regex per event ran
4 times slower with the whole cache purged. Patterns whose text is a constant of the
handler's own code (:func:`code_constants`) stay cached: the same for every event, they
carry nothing of one; every other pattern (built from event data, settings, anything
computed) is dropped after each event as before.

The collection itself costs in proportion to the objects the collector tracks and may
collect: the zygote freezes its heap before it forks (``gc.freeze``), but everything a
worker allocated after that (its compiled code, its lazily imported modules, the
invocation's events) was traversed again after every event, 10 to 300 us each time. A
worker therefore passes ``freeze=True``: once the event's garbage is collected and the
caches are cleared, what survives is frozen too, so the next event's collection
traverses only what that event allocated. The guarantee is unchanged: an event's
objects are allocated during it, after the last freeze, so its unreachable cycles are
all found by its own collection; a frozen object is never collected, so it can never
be finalised during a later event either (and one that is not part of a cycle is freed
by its reference count as before).
"""

from __future__ import annotations

import gc
import re
import urllib.parse
from types import CodeType
from typing import Any

from pydantic import BaseModel

import functions_sdk
import functions_sdk.events

__all__ = ["code_constants", "end_event", "setattr_handler_count"]


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
_HANDLERS = "__pydantic_setattr_handlers__"
# Live views of the models' class namespaces (a class's mappingproxy follows it), taken
# once: end_event reads them after every event.
_NAMESPACES = tuple(vars(model) for model in _MODELS)
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
    handlers = vars(model).get(_HANDLERS)
    return handlers if type(handlers) is dict else None


def code_constants(code: CodeType) -> frozenset[str | bytes]:
    """Every ``str`` and ``bytes`` constant of ``code`` and the code objects it holds."""
    found: set[str | bytes] = set()
    stack = [code]
    while stack:
        for const in stack.pop().co_consts:
            if type(const) in (str, bytes):
                found.add(const)
            elif isinstance(const, CodeType):
                stack.append(const)
            elif type(const) in (tuple, frozenset):
                found.update(c for c in const if type(c) in (str, bytes))
    return frozenset(found)


def _trim_pattern_cache(keep: frozenset[str | bytes]) -> None:
    """Drop every cached pattern but those whose text is in ``keep`` (all of them when
    ``re``'s caches are not the dicts keyed ``(type, pattern, flags)`` they are in
    CPython 3.11 to 3.13)."""
    caches = [getattr(re, name, None) for name in ("_cache", "_cache2")]
    if not keep or any(c is not None and type(c) is not dict for c in caches):
        re.purge()
        return
    for cache in caches:
        if not cache:
            continue
        for key in list(cache):
            if not (
                type(key) is tuple
                and len(key) == 3
                and type(key[1]) in (str, bytes)
                and type(key[2]) is int
                and key[1] in keep
            ):
                del cache[key]


def end_event(keep_patterns: frozenset[str | bytes] = frozenset(), *, freeze: bool = False) -> None:
    """Run with the finished event's context still active, before the next event.
    ``keep_patterns``: the handler's constants (:func:`code_constants`), whose compiled
    patterns may stay cached. ``freeze``: freeze the survivors (in a worker only: a
    long-lived host process would never collect a frozen object that became garbage)."""
    # The author's unreachable objects die now, under this event's context.
    gc.collect()
    for namespace in _NAMESPACES:
        handlers = namespace.get(_HANDLERS)
        if type(handlers) is dict and handlers:
            handlers.clear()
    for cache in _CACHES:
        cache.cache_clear()
    _trim_pattern_cache(keep_patterns)
    if freeze:
        gc.freeze()


def setattr_handler_count() -> int:
    """How many names pydantic remembers ``setattr`` handlers for (for tests)."""
    return sum(len(_setattr_handlers(model) or ()) for model in _MODELS)
