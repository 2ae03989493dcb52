"""One event must not reach the next one served by the same worker (issues 12 and 17).

Through the production pool (the worker process, measured from the host side): nested
settings written by one event, a suspended generator's ``finally`` and the per-name
``setattr`` cache pydantic keeps on event classes. In process (the worker's
``Runner``, as the worker runs it): the process-wide caches handler code feeds
(``urllib.parse``'s ``lru_cache``s, ``re``'s pattern cache, pydantic's handlers).
"""

from __future__ import annotations

import re
import textwrap
import urllib.parse
from typing import Any

from pydantic import BaseModel
from sandbox_harness import DEFAULT_EVENT, MEMORY_MB, TIMEOUT, Sandbox

import functions_sdk
import functions_sdk.events
from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.guest.isolation import (
    _MODELS,
    _models,
    code_constants,
    end_event,
    setattr_handler_count,
)
from functions_runtime.sandbox.guest.worker import Runner
from functions_runtime.sandbox.host.pool import InstanceSpec
from functions_sdk.events import parse_event

MiB = 1024 * 1024


def _spec(key: str, source: str, settings: dict[str, Any] | None = None) -> InstanceSpec:
    return InstanceSpec(
        key=key,
        source=textwrap.dedent(source),
        filename="handler.py",
        timeout=TIMEOUT,
        memory_mb=MEMORY_MB,
        settings=settings or {},
    )


def _event(user: str, **extra: Any) -> dict[str, Any]:
    return dict(DEFAULT_EVENT, userId=user, **extra)


def test_nested_settings_written_by_one_event_are_not_seen_by_the_next(
    sandbox: Sandbox,
) -> None:
    source = """
    def on_track(event, settings):
        nested = settings["nested"]
        seen = {"map": nested.get("writer"), "list": len(settings["hosts"])}
        nested["writer"] = event.userId
        settings["hosts"].append("evil.example")
        settings.get("nested")["writer"] = event.userId
        settings.get_map("nested")["writer"] = event.userId
        settings.get_list("hosts").append("evil.example")
        return seen
    """
    spec = _spec(
        "isolation-settings",
        source,
        {"nested": {"writer": None}, "hosts": ["a.example"]},
    )
    results = sandbox.pool.invoke(spec, [_event("u-1"), _event("u-2"), _event("u-3")])
    assert [r["outcome"] for r in results] == ["delivered"] * 3, results
    assert [r["result"] for r in results] == [{"map": None, "list": 1}] * 3
    # And across invocations of the same (warm) worker.
    [again] = sandbox.pool.invoke(spec, [_event("u-4")])
    assert again["result"] == {"map": None, "list": 1}


GENERATOR_SOURCE = """
from functions_sdk import logger


def on_track(event, settings):
    who = event.userId

    def gen():
        try:
            yield 1
        finally:
            logger.info("finally of " + who)

    pending = gen()
    next(pending)
    keep = [pending]
    keep.append(keep)  # a cycle: only the garbage collector frees it
    junk = [[i] for i in range(50000)]  # enough allocation for a collection to run
    return {"who": who, "junk": len(junk)}
"""


def test_a_suspended_generator_finishes_within_its_own_event(sandbox: Sandbox) -> None:
    spec = _spec("isolation-generator", GENERATOR_SOURCE)
    [first] = sandbox.pool.invoke(spec, [_event("u-first")])
    [second] = sandbox.pool.invoke(spec, [_event("u-second")])
    [third] = sandbox.pool.invoke(spec, [_event("u-third")])
    assert [r["outcome"] for r in (first, second, third)] == ["delivered"] * 3
    assert first["logs"] == ["INFO finally of u-first"], first
    assert second["logs"] == ["INFO finally of u-second"], second
    assert third["logs"] == ["INFO finally of u-third"], third


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


SETATTR_SOURCE = """
def on_track(event, settings):
    round_ = event.properties["round"]
    pad = "n" * 1000
    for i in range(600):
        setattr(event, f"{pad}_{round_}_{i}", i)
    return {"ok": True}
"""


def test_distinct_attribute_names_keep_worker_memory_flat(sandbox: Sandbox) -> None:
    """pydantic remembers a setattr handler per attribute name on the model class: 30
    events each setting 600 new 1 KB names would keep ~20 MB for the worker's life."""
    spec = _spec("isolation-setattr", SETATTR_SOURCE)
    for warm in range(3):
        [result] = sandbox.pool.invoke(spec, [_event("u", properties={"round": -1 - warm})])
        assert result["outcome"] == "delivered", result
    [pid] = sandbox.pool.worker_pids(spec)
    before = _rss(pid)
    for round_ in range(30):
        [result] = sandbox.pool.invoke(spec, [_event("u", properties={"round": round_})])
        assert result["outcome"] == "delivered", result
    assert sandbox.pool.worker_pids(spec) == [pid], "the worker was replaced"
    grown = _rss(pid) - before
    assert grown < 4 * MiB, f"the worker grew by {grown / MiB:.1f} MiB over 30 events"


CACHE_SOURCE = """
import re
from urllib.parse import quote, urlsplit


def on_track(event, settings):
    parts = urlsplit("https://hooks.example.com/" + event.userId)
    quote(event.userId, safe="~" + event.userId[-1])
    re.compile("user-" + event.userId)
    setattr(event, "seen_" + event.userId, True)
    return {"path": parts.path}
"""


def test_process_wide_caches_are_cleared_after_each_event() -> None:
    report = compile_function(textwrap.dedent(CACHE_SOURCE), "handler.py")
    assert report.ok and report.code is not None, report.errors
    runner = Runner(report.code, "handler.py", "destination")
    message: dict[str, Any] = {"settings": {}, "secret_names": []}
    for user in ("pii-alice", "pii-bob"):
        record = runner.run_one(_event(user), message)
        assert record["outcome"] == "delivered", record
        assert record["result"] == {"path": f"/{user}"}
        assert urllib.parse.urlsplit.cache_info().currsize == 0
        assert urllib.parse._byte_quoter_factory.cache_info().currsize == 0
        assert not [key for key in re._cache if user in repr(key)]  # type: ignore[attr-defined]
        assert setattr_handler_count() == 0


PATTERN_SOURCE = r"""
import re

ORDER = r"^order-(\d+)$"


def on_track(event, settings):
    re.match(ORDER, event.event)
    re.compile("user-" + event.userId)
    re.compile("flagged-" + event.userId, re.IGNORECASE)
    return {"ok": True}
"""


def test_only_patterns_from_the_handlers_constants_stay_cached() -> None:
    """A constant pattern is the same for every event and may stay compiled (a purge per
    event made a one-regex handler 4x slower); one built from event data never does."""
    report = compile_function(PATTERN_SOURCE, "handler.py")
    assert report.ok and report.code is not None, report.errors
    runner = Runner(report.code, "handler.py", "destination")
    message: dict[str, Any] = {"settings": {}, "secret_names": []}
    for user in ("pii-alice", "pii-bob"):
        record = runner.run_one(_event(user, event="order-12"), message)
        assert record["outcome"] == "delivered", record
        keys = [repr(key) for key in re._cache]  # type: ignore[attr-defined]
        assert not [key for key in keys if "pii-" in key], keys
        assert any(r"^order-(\\d+)$" in key for key in keys), keys
        # CPython 3.12 (the Lambda runtime) has a second cache, trimmed the same way.
        second = [repr(key) for key in getattr(re, "_cache2", {})]
        assert not [key for key in second if "pii-" in key], second


def test_the_cleared_models_are_every_exported_pydantic_model_once() -> None:
    """``end_event`` clears the ``setattr`` handlers of these classes (computed once, at
    import: ``_models`` is called here again to check what it finds)."""
    exported = {
        value
        for module in (functions_sdk, functions_sdk.events)
        for value in (getattr(module, name) for name in module.__all__)
        if isinstance(value, type) and issubclass(value, BaseModel)
    }
    models = _models()
    assert models == _MODELS
    assert len(models) == len(exported) and set(models) == exported
    assert functions_sdk.BaseEvent in models and functions_sdk.events.TrackEvent in models


def test_a_remembered_setattr_handler_is_counted_then_cleared() -> None:
    event = parse_event(_event("pii-carol"))
    setattr(event, "seen_pii_carol", True)  # noqa: B010 - the name is the point
    assert setattr_handler_count() == 1
    end_event()
    assert setattr_handler_count() == 0


def test_the_constants_of_a_handler_include_those_in_tuples_and_sets() -> None:
    code = compile(
        "def f(x):\n    return x in {'a', 'b'} or x in ('c', 1) or x == b'd'\n", "h", "exec"
    )
    assert code_constants(code) == frozenset({"a", "b", "c", b"d"})
