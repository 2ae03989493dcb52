"""The host's answer to ``store`` frames (``sandbox/host/store.py``), frame by frame.

A compromised worker can send any frame: every check of ``functions_sdk.store`` runs
again here, on what arrived. These tests send the frames directly (no worker), so the
host's checks are what is tested, not the SDK's courtesy copies in the worker.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from functions_runtime.sandbox.host.store import StoreSession, _checked_text
from functions_sdk._memory_store import MemoryStore
from functions_sdk.errors import StoreError
from functions_sdk.store import MAX_DEPTH, MAX_TTL_SECONDS, MAX_VALUE_BYTES


class Recording:
    """A backend that records its calls and answers from a MemoryStore."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.kv = MemoryStore()

    def get(self, scope: str, key: str) -> str | None:
        self.calls.append(("get", scope, key))
        return self.kv.get(scope, key)

    def put(self, scope: str, key: str, text: str, ttl: float | None) -> None:
        self.calls.append(("put", scope, key, text, ttl))
        self.kv.put(scope, key, text, ttl)

    def delete(self, scope: str, key: str) -> bool:
        self.calls.append(("delete", scope, key))
        return self.kv.delete(scope, key)

    def incr(self, scope: str, key: str, by: int) -> int:
        self.calls.append(("incr", scope, key, by))
        return self.kv.incr(scope, key, by)


def frame(action: str, key: object = "k", **extra: Any) -> dict[str, Any]:
    return {"op": "store", "action": action, "key": key, **extra}


def error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


def test_each_action_is_answered_from_the_instances_scope() -> None:
    backend = Recording()
    session = StoreSession(backend, "ws/alpha")
    assert session.handle(frame("get")) == {"found": False}
    assert session.handle(frame("set", value='{ "a" : [1, 2.5] }', ttl=5)) == {}
    assert session.handle(frame("get")) == {"found": True, "value": '{"a":[1,2.5]}'}
    assert session.handle(frame("set", "n", value="1")) == {}
    assert session.handle(frame("incr", "n", by=4)) == {"value": 5}
    assert session.handle(frame("delete")) == {"deleted": True}
    assert session.handle(frame("delete")) == {"deleted": False}
    assert backend.calls == [
        ("get", "ws/alpha", "k"),
        ("put", "ws/alpha", "k", '{"a":[1,2.5]}', 5.0),  # the host's own JSON text
        ("get", "ws/alpha", "k"),
        ("put", "ws/alpha", "n", "1", None),
        ("incr", "ws/alpha", "n", 4),
        ("delete", "ws/alpha", "k"),
        ("delete", "ws/alpha", "k"),
    ]
    assert session.calls == 7


def test_a_ttl_is_checked_and_capped_by_the_host() -> None:
    backend = Recording()
    session = StoreSession(backend, "s")
    assert session.handle(frame("set", value="1", ttl=10**12)) == {}
    assert backend.calls == [("put", "s", "k", "1", float(MAX_TTL_SECONDS))]
    for ttl in (-5, 0, "5", float("nan"), True):
        answer = session.handle(frame("set", value="1", ttl=ttl))
        assert answer["error"]["type"] == "StoreError", (ttl, answer)
        assert answer["error"]["message"].startswith("ttl is a positive number"), answer
    assert len(backend.calls) == 1, "a refused ttl reached the backend"


UNPARSED = "store values are JSON (the value did not parse)"


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (frame("get", None), "store keys are str, not NoneType"),
        (frame("get", ""), "a store key cannot be empty"),
        (frame("get", "k" * 257), "a store key is at most 256 bytes; this one is 257"),
        (frame("set", value={"a": 1}), "store values are JSON text"),
        (frame("set", value=None), "store values are JSON text"),
        (frame("set"), "store values are JSON text"),
        (
            frame("set", value=" " * (MAX_VALUE_BYTES + 1)),
            f"a store value is at most {MAX_VALUE_BYTES} bytes of JSON",
        ),
        (frame("set", value="NaN"), UNPARSED),
        (frame("set", value="[1,"), UNPARSED),
        (
            frame("set", value="[" * 5000 + "]" * 5000),
            "store values are JSON (the value did not parse)",
        ),
        (
            frame("set", value="[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)),
            f"store values are JSON: nested more than {MAX_DEPTH} levels deep",
        ),
        (frame("incr", by=1.5), "incr(by=...) is an int within 64 bits"),
        (frame("incr", by=True), "incr(by=...) is an int within 64 bits"),
        (frame("incr"), "incr(by=...) is an int within 64 bits"),
        (frame("drop"), "unknown store action"),
        (frame(None), "unknown store action"),  # type: ignore[arg-type]
    ],
)
def test_a_refused_frame_never_reaches_the_backend(sent: dict[str, Any], message: str) -> None:
    backend = Recording()
    session = StoreSession(backend, "s")
    assert session.handle(sent) == error("StoreError", message)
    assert backend.calls == []


def test_a_value_of_exactly_the_limit_is_stored() -> None:
    backend = Recording()
    text = '"' + "x" * (MAX_VALUE_BYTES - 2) + '"'
    assert StoreSession(backend, "s").handle(frame("set", value=text)) == {}
    assert backend.kv.get("s", "k") == text


def test_a_value_nested_to_the_limit_is_stored() -> None:
    backend = Recording()
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert StoreSession(backend, "s").handle(frame("set", value=text)) == {}
    assert backend.kv.get("s", "k") == text


class Failing(Recording):
    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    def get(self, scope: str, key: str) -> str | None:
        raise self.exc


def test_a_failing_backend_is_a_retry_and_a_full_one_a_store_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="functions_runtime.sandbox.host.store"):
        answer = StoreSession(Failing(OSError("disk gone")), "s").handle(frame("get"))
    assert answer == error("RetryError", "the store is unavailable; the event will be retried")
    assert [r.getMessage() for r in caplog.records] == ["store backend failed: OSError: disk gone"]
    full = StoreSession(Failing(StoreError("the instance's store is full")), "s")
    assert full.handle(frame("get")) == error("StoreError", "the instance's store is full")


def test_a_closed_session_answers_nothing_from_the_store() -> None:
    backend = Recording()
    session = StoreSession(backend, "s")
    assert session.handle(frame("set", value="1")) == {}
    session.close()
    for sent in (frame("get"), frame("set", value="2"), frame("delete")):
        answer = session.handle(sent)
        assert answer == error("StoreError", "the store is only reachable while an event runs")
    assert len(backend.calls) == 1 and session.calls == 1
    assert backend.kv.get("s", "k") == "1"


def test_depth_is_counted_in_containers_up_to_the_limit_exactly() -> None:
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert _checked_text(at_limit) == at_limit
    mixed = '{"a":' * (MAX_DEPTH - 1) + "[1]" + "}" * (MAX_DEPTH - 1)
    assert _checked_text(mixed) == mixed  # objects count as levels as arrays do
    scalars = "[" + ",".join(['"s"', "1", "null", "[[]]"]) + "]"
    assert _checked_text(scalars) == scalars  # scalars are not levels
    for deeper in (MAX_DEPTH + 1, MAX_DEPTH * 3):  # refused without deep recursion
        text = "[" * deeper + "]" * deeper
        with pytest.raises(StoreError, match=f"nested more than {MAX_DEPTH} levels deep"):
            _checked_text(text)
