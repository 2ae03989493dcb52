"""``functions_sdk.store`` outside the runtime, its checks, and ``MemoryStore``."""

from __future__ import annotations

from typing import Any

import pytest

from functions_runtime.sandbox.host.store import _checked_text
from functions_sdk import StoreError, store
from functions_sdk._context import InvocationContext, activate
from functions_sdk.testing import MemoryStore


def test_outside_the_runtime_there_is_no_store() -> None:
    with pytest.raises(StoreError, match="there is no store here"):
        store.get("k")
    with pytest.raises(StoreError, match="there is no store here"):
        store.set("k", 1)


def test_frames_and_answers() -> None:
    sent: list[dict[str, Any]] = []
    answers = iter(
        [
            {"op": "answer", "found": True, "value": '{"a":[1]}'},
            {"op": "answer", "found": False},
            {"op": "answer"},
            {"op": "answer", "value": 3},
            {"op": "answer", "deleted": True},
            {"op": "answer", "error": {"type": "RetryError", "message": "down"}},
            {"op": "answer", "error": {"type": "StoreError", "message": "full"}},
        ]
    )

    def transport(frame: dict[str, Any]) -> dict[str, Any]:
        sent.append(frame)
        return next(answers)

    with activate(InvocationContext(transport=transport)):
        assert store.get("k") == {"a": [1]}
        assert store.get("k", "dflt") == "dflt"
        store.set("k", (1, "é"), ttl=5)
        assert store.incr("n", 3) == 3
        assert store.delete("k") is True
        with pytest.raises(Exception, match="down") as retry:
            store.get("k")
        assert type(retry.value).__name__ == "RetryError"
        with pytest.raises(StoreError, match="full"):
            store.get("k")
    assert sent[2] == {"op": "store", "action": "set", "key": "k", "value": '[1,"é"]', "ttl": 5.0}
    assert sent[3] == {"op": "store", "action": "incr", "key": "n", "by": 3}


def test_ttl_is_capped_at_a_year() -> None:
    assert store.check_ttl(10**12) == store.MAX_TTL_SECONDS


def test_host_parses_and_re_encodes_what_arrives() -> None:
    assert _checked_text('{ "a" : 1.0 }') == '{"a":1.0}'
    for bad in ("Infinity", "-Infinity", "NaN", '{"a": NaN}', "[" * 10_000):
        with pytest.raises(StoreError):
            _checked_text(bad)
    assert _checked_text('[[[]], {"a": {"b": 1}}, 1]') == '[[[]],{"a":{"b":1}},1]'


def test_memory_store_data_and_scopes() -> None:
    kv = MemoryStore({"token": "t"})
    assert kv.data == {"token": "t"}  # the seed, before any instance used it
    kv.put("a", "n", "1", None)
    assert kv.data == {"token": "t", "n": 1}
    kv.put("b", "n", "2", None)
    with pytest.raises(ValueError, match="2 instances"):
        _ = kv.data
    assert kv.scope_data("b") == {"token": "t", "n": 2}
    with pytest.raises(StoreError, match="store values are JSON"):
        MemoryStore({"bad": float("nan")})
