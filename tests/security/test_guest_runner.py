"""The worker's own work (``sandbox/guest/worker.py``), pinned to exact records: each
outcome of ``Runner`` with its error type and message, masking with the secrets of the
message at hand, ``on_batch`` results in event order, and what ``MemoryError`` leaves
for the host (a fresh worker).

Written against the mutants of worker.py that the rest of the suite let pass
(docs/TESTING.md, issue 18). In-process, through the worker's ``Runner`` as the worker
runs it; the frame bounds and ``_serve`` are in ``test_guest_worker_frames.py``.
"""

from __future__ import annotations

import gc
import inspect
import os
import signal
import sys
import time
from typing import Any

import pytest

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.folder import compile_modules
from functions_runtime.sandbox.guest import held as held_records
from functions_runtime.sandbox.guest import worker
from functions_runtime.sandbox.guest.protocol import (
    FrameError,
    FrameReader,
    read_frame,
    write_frame,
)
from functions_runtime.sandbox.guest.worker import Runner
from functions_runtime.sandbox.local_imports import folder_policy
from functions_sdk._context import InvocationContext
from functions_sdk.events import parse_event

SECRET = "TOPSECRET123"
MESSAGE = {"settings": {"k": SECRET}, "secret_names": ["k"]}
EVENT = {"type": "track", "event": "E", "userId": "u", "messageId": "m1"}
BAD = {"type": "track", "event": "E"}
BAD_ERROR = {
    "type": "InvalidEventPayload",
    "message": "invalid track: userId or anonymousId: at least one must be a non-empty string",
    "line": None,
}
TYPES = "track, identify, page, screen, group, alias, delete"
PLAIN = "return plain JSON values (dict, list, str, int, float, bool, None) or an event"


def runner(source: str, kind: str = "destination", **options: Any) -> Runner:
    report = compile_function(source, "handler.py", kind)
    assert report.ok and report.code is not None, [str(e) for e in report.errors]
    return Runner(report.code, "handler.py", kind, **options)


def timed(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` without its duration, checked to be a float of at most 3 decimals."""
    record = dict(record)
    duration = record.pop("duration_ms")
    assert type(duration) is float and duration >= 0 and round(duration, 3) == duration
    return record


def plain(outcome: str, result: Any = None, error: Any = None, **more: Any) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "result": result,
        "error": error,
        "logs": [],
        "requests": [],
        "emitted": [],
        **more,
    }


def error(kind: str, message: str, line: int | None = None) -> dict[str, Any]:
    return {"type": kind, "message": message, "line": line}


# -- one event -----------------------------------------------------------------------


def test_a_delivered_record_is_exactly_its_fields_and_the_result_is_not_masked() -> None:
    r = runner("def on_track(event, settings):\n    return {'a': settings.get_str('k')}\n")
    assert timed(r.run_one(dict(EVENT), MESSAGE)) == plain("delivered", {"a": SECRET})
    assert r.exhausted is False


def test_a_destination_may_return_none_and_an_insert_may_not() -> None:
    source = "def on_track(event, settings):\n    return None\n"
    assert timed(runner(source).run_one(dict(EVENT), MESSAGE)) == plain("delivered")
    insert = runner(source, "insert").run_one(dict(EVENT), MESSAGE)
    message = "insert functions return the event to forward, or raise DropEvent"
    assert timed(insert) == plain("rejected", None, error("ValidationError", message))
    forwarded = runner("def on_track(event, settings):\n    return event\n", "insert")
    assert timed(forwarded.run_one(dict(EVENT), MESSAGE)) == plain("delivered", EVENT)


RAISES = (
    "from functions_sdk import logger, RetryError\n"
    "def on_track(event, settings):\n"
    "    logger.info('hi ' + settings.get('k', 'none'))\n"
    "    raise RetryError('later ' + settings.get('k', 'none'))\n"
)


def test_logs_and_errors_are_masked_with_the_secrets_of_each_message() -> None:
    r = runner(RAISES)
    out = r.run_one(dict(EVENT), MESSAGE)
    retry = plain("retry", None, error("RetryError", "later ***", 4), logs=["INFO hi ***"])
    assert timed(out) == retry
    assert timed(r.run_one(dict(EVENT), MESSAGE)) == retry  # the same message again
    other = {"settings": {"k": "OTHERSECRET9"}, "secret_names": ["k"]}
    assert timed(r.run_one(dict(EVENT), other)) == retry
    assert timed(r.run_one(dict(EVENT), dict(MESSAGE))) == retry
    # No secret names: nothing is a secret; no settings at all: an empty Settings.
    shown = r.run_one(dict(EVENT), {"settings": {"k": "v"}})
    assert timed(shown) == plain(
        "retry", None, error("RetryError", "later v", 4), logs=["INFO hi v"]
    )
    bare = r.run_one(dict(EVENT), {})
    expected = plain("retry", None, error("RetryError", "later none", 4), logs=["INFO hi none"])
    assert timed(bare) == expected
    assert r.exhausted is False


def test_an_invalid_event_is_rejected_with_the_parse_error_masked() -> None:
    r = runner(RAISES)
    out = r.run_one({"type": SECRET}, MESSAGE)
    message = f"invalid event: type: '***' is not one of {TYPES}"
    assert timed(out) == plain("rejected", None, error("InvalidEventPayload", message))
    assert timed(r.run_one(dict(BAD), MESSAGE)) == plain("rejected", None, BAD_ERROR)


def test_an_event_without_a_callable_handler_is_filtered() -> None:
    r = runner(RAISES)
    identify = {"type": "identify", "userId": "u"}
    missing = error("EventNotSupported", "no on_identify handler")
    assert timed(r.run_one(identify, MESSAGE)) == plain("filtered", None, missing)
    rebound = runner("def on_track(event, settings):\n    return 1\non_track = 5\n")
    not_callable = error("EventNotSupported", "no on_track handler")
    assert timed(rebound.run_one(dict(EVENT), MESSAGE)) == plain("filtered", None, not_callable)


MEMORY = (
    "def on_track(event, settings):\n"
    "    if event.event == 'M':\n"
    "        return [0] * (2**60)\n"
    "    raise ValueError('v')\n"
)


def test_a_memory_error_asks_for_a_fresh_worker_and_that_stays_asked() -> None:
    r = runner(MEMORY)
    out = r.run_one({**EVENT, "event": "V"}, MESSAGE)
    assert timed(out) == plain("rejected", None, error("ValueError", "v", 4))
    assert r.exhausted is False
    out = r.run_one({**EVENT, "event": "M"}, MESSAGE)
    memory = error("MemoryError", "memory limit exceeded (resource limit)", 3)
    assert timed(out) == plain("retry", None, memory)
    assert r.exhausted is True
    r.run_one({**EVENT, "event": "V"}, MESSAGE)
    assert r.exhausted is True


def test_a_failure_at_the_end_of_an_event_asks_for_a_fresh_worker() -> None:
    class Broken:
        def __bool__(self) -> bool:
            raise RuntimeError("end_event failed")

    r = runner("def on_track(event, settings):\n    return 1\n")
    assert timed(r.run_one(dict(EVENT), MESSAGE)) == plain("delivered", 1)
    assert r.exhausted is False
    r.constants = Broken()  # type: ignore[assignment]
    assert timed(r.run_one(dict(EVENT), MESSAGE)) == plain("delivered", 1)
    assert r.exhausted is True


def test_only_a_worker_freezes_what_survives_an_event() -> None:
    source = "def on_track(event, settings):\n    return 1\n"
    report = compile_function(source, "handler.py")
    assert report.code is not None
    gc.unfreeze()
    try:
        runner(source).run_one(dict(EVENT), MESSAGE)
        assert gc.get_freeze_count() == 0
        Runner(report.code, "handler.py", "destination", freeze=True).run_one(dict(EVENT), MESSAGE)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_transport_carries_the_handlers_store_calls() -> None:
    sent: list[dict[str, Any]] = []

    def transport(frame: dict[str, Any]) -> dict[str, Any]:
        sent.append(frame)
        return {"op": "answer", "found": True, "value": "3"}

    source = (
        "from functions_sdk import store\n"
        "def on_track(event, settings):\n"
        "    return store.get('a')\n"
    )
    out = runner(source, transport=transport).run_one(dict(EVENT), MESSAGE)
    assert timed(out) == plain("delivered", 3)
    assert sent == [{"op": "store", "action": "get", "key": "a"}]


def test_the_handlers_own_modules_load_for_each_event() -> None:
    modules = {"util.py": "COUNT = []\n"}
    folder = compile_modules(modules, local=frozenset({"util", "handler"}))
    assert not folder.errors
    source = (
        "import util\n"
        "def on_track(event, settings):\n"
        "    util.COUNT.append(1)\n"
        "    return [len(util.COUNT), __name__]\n"
    )

    report = compile_function(
        source,
        "handler.py",
        "destination",
        folder_policy(frozenset({"util", "handler"}), frozenset(), ""),
    )
    assert report.code is not None, [str(e) for e in report.errors]
    r = Runner(report.code, "handler.py", "destination", modules=folder.modules)
    assert timed(r.run_one(dict(EVENT), MESSAGE)) == plain("delivered", [1, "handler"])
    assert timed(r.run_one(dict(EVENT), MESSAGE)) == plain("delivered", [1, "handler"])


def test_a_records_duration_is_the_milliseconds_since_its_event_started() -> None:
    # Bracketed by two readings of the same clock, not compared with a wall-time bound:
    # an event that started 1000 s before ``low`` ended between ``low`` and ``high``.
    low = time.perf_counter()
    started = low - 1000
    record = worker._record("delivered", 1, None, InvocationContext(), started)
    high = time.perf_counter()
    shortest, longest = (low - started) * 1000, (high - started) * 1000
    assert shortest - 0.001 <= record["duration_ms"] <= longest + 0.001  # rounded to 3 places


# -- sources -------------------------------------------------------------------------

SOURCE = (
    "from functions_sdk import emit\n"
    "def on_request(request, settings):\n"
    "    emit({'type': 'track', 'event': request.body, 'userId': 'u'})\n"
    "    if request.body == 'M':\n"
    "        return [0] * (2**60)\n"
    "    if request.body == 'fail':\n"
    "        raise ValueError('no ' + settings.get_str('k'))\n"
    "    return [request.body, settings.get_str('k')]\n"
)


def test_a_source_delivers_what_it_returns_with_what_it_emitted() -> None:
    r = runner(SOURCE, "source")
    emitted = [{"type": "track", "userId": "u", "event": "b"}]
    out = r.run_one({"body": "b"}, MESSAGE)
    assert timed(out) == plain("delivered", ["b", SECRET], emitted=emitted)


def test_a_failed_request_emits_nothing_and_an_invalid_one_is_rejected() -> None:
    r = runner(SOURCE, "source")
    out = r.run_one({"body": "fail"}, MESSAGE)
    assert timed(out) == plain("rejected", None, error("ValueError", "no ***", 7))
    assert r.exhausted is False
    invalid = r.run_one({"bogus": 1, "method": 3}, MESSAGE)
    refused = {
        "type": "InvalidEventPayload",
        "line": None,
        "message": "not a webhook request: 2 problems",
    }
    assert timed(invalid) == plain("rejected", None, refused)
    out = r.run_one({"body": "M"}, MESSAGE)
    memory = error("MemoryError", "memory limit exceeded (resource limit)", 5)
    assert timed(out) == plain("retry", None, memory)
    assert r.exhausted is True
    r.run_one({"body": "fail"}, MESSAGE)
    assert r.exhausted is True


# -- on_batch ------------------------------------------------------------------------

BATCH = (
    "from functions_sdk import logger, store, DropEvent, RetryError\n"
    "def on_batch(events, settings):\n"
    "    logger.info('n ' + settings.get_str('k'))\n"
    "    store.get('calls')\n"
    "    names = [e.event for e in events]\n"
    "    events.clear()\n"
    "    if names[0] == 'raise':\n"
    "        raise RetryError('down ' + settings.get_str('k'))\n"
    "    if names[0] == 'M':\n"
    "        return [0] * (2**60)\n"
    "    if names[0] == 'short':\n"
    "        return names[1:]\n"
    "    if names[0] == 'tuple':\n"
    "        return tuple(names)\n"
    "    if names[0] == 'mixed':\n"
    "        return [RetryError('r ' + settings.get_str('k')), DropEvent('d'), {1, 2}, None]\n"
    "    return names\n"
)


def batch(
    names: list[str], raws_between: list[Any] | None = None, kind: str = "destination"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Runner]:
    sent: list[dict[str, Any]] = []

    def transport(frame: dict[str, Any]) -> dict[str, Any]:
        sent.append(frame)
        return {"op": "answer", "found": False}

    r = runner(BATCH, kind, transport=transport)
    raws: list[Any] = [{**EVENT, "event": name} for name in names]
    raws[1:1] = raws_between or []
    return [timed(x) for x in r.run_batch(raws, MESSAGE)], sent, r


def shared(outcome: str, result: Any = None, error: Any = None) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "result": result,
        "error": error,
        "logs": ["INFO n ***"],
        "requests": [],
        "shared": True,
    }


def test_batch_results_come_back_in_event_order_with_invalid_events_their_own() -> None:
    masked = {"type": SECRET}
    bad_masked = error(
        "InvalidEventPayload",
        f"invalid event: type: '***' is not one of {TYPES}",
    )
    results, sent, r = batch(["a", "b"], [dict(BAD), masked])
    assert results == [
        shared("delivered", "a"),
        plain("rejected", None, BAD_ERROR),
        plain("rejected", None, bad_masked),
        shared("delivered", "b"),
    ]
    assert sent == [{"op": "store", "action": "get", "key": "calls"}]
    assert r.exhausted is False


def test_a_batch_of_only_invalid_events_never_calls_on_batch() -> None:
    results, sent, _ = batch([], [dict(BAD)])
    assert results == [plain("rejected", None, BAD_ERROR)]
    assert sent == []
    assert runner(BATCH).run_batch([], MESSAGE) == []


def test_an_on_batch_that_raises_fails_every_event_alike() -> None:
    results, _, r = batch(["raise", "b"], [dict(BAD)])
    down = error("RetryError", "down ***", 8)
    assert results == [
        shared("retry", None, down),
        plain("rejected", None, BAD_ERROR),
        shared("retry", None, down),
    ]
    assert r.exhausted is False


def test_an_on_batch_memory_error_asks_for_a_fresh_worker() -> None:
    results, _, r = batch(["M", "b"])
    memory = error("MemoryError", "memory limit exceeded (resource limit)", 10)
    assert results == [shared("retry", None, memory)] * 2
    assert r.exhausted is True


@pytest.mark.parametrize(("names", "got"), [(["short", "b", "c"], "2"), (["tuple", "b"], "tuple")])
def test_on_batch_returns_one_list_of_one_result_per_event(names: list[str], got: str) -> None:
    results, _, _ = batch(names)
    message = (
        f"on_batch must return a list of {len(names)} results (one per event, in order); got {got}"
    )
    assert results == [shared("rejected", None, error("ResultError", message))] * len(names)


def test_each_batch_result_is_settled_on_its_own() -> None:
    results, _, r = batch(["mixed", "b", "c", "d"])
    assert results == [
        shared("retry", None, error("RetryError", "r ***")),
        shared("filtered", None, error("DropEvent", "d")),
        shared("rejected", None, error("ResultError", f"handler returned a set; {PLAIN}")),
        shared("delivered", None),
    ]
    assert r.exhausted is False
    inserted, _, _ = batch(["mixed", "b", "c", "d"], kind="insert")
    message = "insert functions return the event to forward, or raise DropEvent"
    assert inserted[3] == shared("rejected", None, error("ValidationError", message))


CAUGHT = (
    "from functions_sdk import RetryError\n"
    "def on_batch(events, settings):\n"
    "    try:\n"
    "        raise RetryError('caught')\n"
    "    except RetryError as exc:\n"
    "        return [exc, {1}]\n"
)


def test_a_returned_error_that_was_raised_keeps_its_line() -> None:
    r = runner(CAUGHT)
    results = [timed(x) for x in r.run_batch([dict(EVENT), dict(EVENT)], MESSAGE)]
    set_error = error("ResultError", f"handler returned a set; {PLAIN}")
    assert results == [
        {**shared("retry", None, error("RetryError", "caught", 4)), "logs": []},
        {**shared("rejected", None, set_error), "logs": []},
    ]


def test_a_failed_settle_leaves_a_fresh_worker_asked_for() -> None:
    r = runner(CAUGHT + MEMORY)
    r.run_one({**EVENT, "event": "M"}, MESSAGE)
    assert r.exhausted is True
    results = r.run_batch([dict(EVENT), dict(EVENT)], MESSAGE)
    assert [x["outcome"] for x in results] == ["retry", "rejected"]  # the set: in _settle
    assert r.exhausted is True


def test_a_result_the_stack_cannot_settle_is_retried() -> None:
    r = runner(CAUGHT)
    event = parse_event(dict(EVENT))
    deep: Any = 1
    for _ in range(30):  # within MAX_RESULT_DEPTH: only the stack refuses it
        deep = [deep]
    assert r._settle(deep, event, InvocationContext()) == ("delivered", deep, None)
    depth = len(inspect.stack(0))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 30)
    try:
        settled = r._settle(deep, event, InvocationContext())
    finally:
        sys.setrecursionlimit(limit)
    message = "maximum recursion depth exceeded (resource limit)"
    assert settled == ("retry", None, error("RecursionError", message))
    assert r.exhausted is False


# -- the fetch pipe ------------------------------------------------------------------


def test_the_pipe_transport_sends_one_frame_and_takes_only_an_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests_r, requests_w = os.pipe()
    answers_r, answers_w = os.pipe()
    # Holding arms a SIGALRM timer (in this process, here): one that never fires.
    monkeypatch.setattr(held_records, "HOLD_SECONDS", 3600.0)
    try:
        held = held_records.HeldRecords(requests_w)
        send = worker.pipe_transport(FrameReader(answers_r), held)
        write_frame(answers_w, {"op": "answer", "status": 200})
        assert send({"op": "fetch", "url": "u"}) == {"op": "answer", "status": 200}
        assert read_frame(requests_r) == {"op": "fetch", "url": "u"}
        assert held.called  # the running event called the host: its record goes at once
        # Records held before a request go out first, in the same write.
        held.start(1)
        held.add({"index": 1, "result": "held"}, hold=True)
        assert held.frames and not held.called
        write_frame(answers_w, {"op": "answer", "status": 201})
        assert send({"op": "store"}) == {"op": "answer", "status": 201}
        assert read_frame(requests_r) == {"index": 1, "result": "held"}
        assert read_frame(requests_r) == {"op": "store"}
        assert not held.frames
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # disarmed once sent
        for wrong in ({"op": "fetch"}, {"status": 200}, ["op", "answer"]):
            write_frame(answers_w, wrong)
            with pytest.raises(
                FrameError, match=r"^the host sent something other than a fetch answer$"
            ):
                send({"op": "fetch"})
            assert read_frame(requests_r) == {"op": "fetch"}
    finally:
        for fd in (requests_r, requests_w, answers_r, answers_w):
            os.close(fd)
