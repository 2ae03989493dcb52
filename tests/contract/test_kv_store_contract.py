"""``functions_sdk.store``'s backends, one contract: in memory, SQLite, DynamoDB (moto).

Each backend is driven through the host's port (``sandbox/host/store.py``) with a clock
the test moves, so expiry is checked without waiting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from functions_runtime.delivery.aws.store import DynamoStore, provision_store
from functions_runtime.delivery.embedded.store import SQLiteStore
from functions_runtime.sandbox.host.store import KeyValueStore, StoreSession
from functions_sdk._memory_store import MemoryStore
from functions_sdk.errors import StoreError
from functions_sdk.store import MAX_VALUE_BYTES

# Small limits, so filling a store is quick; the defaults are the SDK's (checked below).
MAX_KEYS = 20
MAX_TOTAL_BYTES = 4 * MAX_VALUE_BYTES
LIMITS = (MAX_KEYS, MAX_TOTAL_BYTES)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def kv(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[KeyValueStore]:
    if request.param == "memory":
        yield MemoryStore(clock=clock, limits=LIMITS)
    elif request.param == "sqlite":
        store = SQLiteStore(tmp_path / "store.db", clock=clock, limits=LIMITS)
        yield store
        store.close()
    else:
        with mock_aws():
            client = boto3.client(
                "dynamodb",
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            yield DynamoStore(
                client, provision_store(client, prefix="kv"), clock=clock, limits=LIMITS
            )


def test_get_set_delete(kv: KeyValueStore) -> None:
    assert kv.get("ws/a", "k") is None
    kv.put("ws/a", "k", '{"x":[1,2.5,"é"]}', None)
    assert json.loads(kv.get("ws/a", "k") or "") == {"x": [1, 2.5, "é"]}
    kv.put("ws/a", "k", '"again"', None)
    assert kv.get("ws/a", "k") == '"again"'
    assert kv.delete("ws/a", "k") is True
    assert kv.delete("ws/a", "k") is False
    assert kv.get("ws/a", "k") is None


def test_scopes_are_separate(kv: KeyValueStore) -> None:
    kv.put("ws1/a", "token", '"one"', None)
    kv.put("ws2/a", "token", '"two"', None)
    assert kv.get("ws1/a", "token") == '"one"'
    assert kv.get("ws2/a", "token") == '"two"'
    assert kv.get("ws1/b", "token") is None
    assert kv.delete("ws1/b", "token") is False
    assert kv.get("ws1/a", "token") == '"one"'


def test_ttl_expires(kv: KeyValueStore, clock: Clock) -> None:
    kv.put("s", "token", '"t"', 10.0)
    kv.put("s", "forever", "1", None)
    clock.now += 9.5
    assert kv.get("s", "token") == '"t"'
    clock.now += 1.0
    assert kv.get("s", "token") is None
    assert kv.delete("s", "token") is False  # expired counts as missing
    assert kv.get("s", "forever") == "1"
    kv.put("s", "token", '"new"', 5.0)  # a set replaces the expiry
    kv.put("s", "token", '"kept"', None)
    clock.now += 100
    assert kv.get("s", "token") == '"kept"'


def test_incr(kv: KeyValueStore, clock: Clock) -> None:
    assert kv.incr("s", "n", 1) == 1
    assert kv.incr("s", "n", 41) == 42
    assert kv.incr("s", "n", -50) == -8
    kv.put("s", "t", "5", 10.0)
    assert kv.incr("s", "t", 1) == 6
    clock.now += 11  # incr kept the expiry
    assert kv.get("s", "t") is None
    assert kv.incr("s", "t", 1) == 1  # expired: starts again at 0
    kv.put("s", "text", '"abc"', None)
    with pytest.raises(StoreError, match="integers"):
        kv.incr("s", "text", 1)
    kv.put("s", "float", "1.5", None)
    with pytest.raises(StoreError, match="integers"):
        kv.incr("s", "float", 1)
    kv.put("s", "big", str(2**63 - 1), None)
    with pytest.raises(StoreError, match="64 bits"):
        kv.incr("s", "big", 1)
    assert kv.get("s", "big") == str(2**63 - 1)


def test_key_count_limit(kv: KeyValueStore, clock: Clock) -> None:
    for i in range(MAX_KEYS):
        kv.put("full", f"k{i}", "0", 50.0 if i == 0 else None)
    with pytest.raises(StoreError, match="full"):
        kv.put("full", "one-more", "0", None)
    with pytest.raises(StoreError, match="full"):
        kv.incr("full", "counter", 1)
    kv.put("full", "k5", "1", None)  # replacing a key needs no room
    kv.put("other", "k", "0", None)  # another instance is not affected
    clock.now += 60  # k0 expired: its room is free again
    kv.put("full", "one-more", "0", None)
    assert kv.get("full", "one-more") == "0"


def test_byte_limit(kv: KeyValueStore) -> None:
    big = json.dumps("x" * (MAX_VALUE_BYTES - 100))
    stored = 0
    for i in range(MAX_TOTAL_BYTES // MAX_VALUE_BYTES + 2):
        try:
            kv.put("bytes", f"v{i}", big, None)
        except StoreError as exc:
            assert "full" in str(exc)
            break
        stored += 1
    assert stored == MAX_TOTAL_BYTES // len(big)
    assert kv.get("bytes", f"v{stored}") is None  # the refused value is not stored
    assert kv.delete("bytes", "v0")
    kv.put("bytes", f"v{stored}", big, None)  # room again after a delete


def test_session_checks_what_arrives_and_answers_errors(kv: KeyValueStore) -> None:
    session = StoreSession(kv, "ws/inst")
    assert session.handle({"action": "set", "key": "k", "value": '{"a":1}', "ttl": 60}) == {}
    assert session.handle({"action": "get", "key": "k"}) == {"found": True, "value": '{"a":1}'}
    assert session.handle({"action": "incr", "key": "n", "by": 2}) == {"value": 2}
    assert session.handle({"action": "delete", "key": "k"}) == {"deleted": True}
    for bad in (
        {"action": "set", "key": "k", "value": "NaN"},
        {"action": "set", "key": "k", "value": "{bad"},
        {"action": "set", "key": "k", "value": "[" * 100 + "]" * 100},
        {"action": "set", "key": "k", "value": '"' + "x" * MAX_VALUE_BYTES + '"'},
        {"action": "set", "key": "k", "value": 5},
        {"action": "set", "key": "k", "value": "1", "ttl": -1},
        {"action": "set", "key": "", "value": "1"},
        {"action": "set", "key": "k" * 257, "value": "1"},
        {"action": "get", "key": ["k"]},
        {"action": "incr", "key": "n", "by": 1.5},
        {"action": "incr", "key": "n", "by": True},
        {"action": "drop_table", "key": "k"},
    ):
        answer = session.handle(bad)
        assert answer["error"]["type"] == "StoreError", bad
    assert session.handle({"action": "get", "key": "k"}) == {"found": False}
    session.close()
    assert "only reachable while an event runs" in str(
        session.handle({"action": "get", "key": "n"})
    )


def test_default_limits_are_the_documented_ones(tmp_path: Path) -> None:
    from functions_sdk import store

    assert (store.MAX_KEYS, store.MAX_TOTAL_BYTES) == (1000, 1024 * 1024)
    assert (store.MAX_KEY_BYTES, store.MAX_VALUE_BYTES) == (256, 64 * 1024)
    sqlite = SQLiteStore(tmp_path / "d.db")
    assert sqlite.limits == MemoryStore().limits == (1000, 1024 * 1024)
    sqlite.close()
