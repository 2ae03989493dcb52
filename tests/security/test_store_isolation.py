"""``functions_sdk.store`` through the real sandbox: whose keys a worker reaches, limits,
hostile keys and values, and nothing after the event.

The scope of every store call is the host's choice (``InstanceSpec.store_scope``, set by
the dispatcher to ``<workspace>/<instance>``); nothing a worker sends can change it.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.delivery.embedded.store import SQLiteStore
from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from functions_runtime.sandbox.host.store import StoreSession
from functions_sdk._memory_store import MemoryStore
from functions_sdk.store import MAX_VALUE_BYTES

EVENT = {"type": "track", "event": "E", "userId": "u", "messageId": "m1"}


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=4, spares=0) as pool:
        yield pool


@pytest.fixture
def kv(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "store.db")
    yield store
    store.close()


def spec(body: str, scope: str, key: str = "") -> InstanceSpec:
    source = "from functions_sdk import store, StoreError\n" + textwrap.dedent(body)
    return InstanceSpec(
        key=key or InstanceSpec.key_for(source, {}, scope),
        source=source,
        filename="handler.py",
        store_scope=scope,
    )


def run(pool: WorkerPool, body: str, scope: str, kv: Any, **event: Any) -> dict[str, Any]:
    [result] = pool.invoke(spec(body, scope), [{**EVENT, "properties": event}], store=kv)
    return result


READ_AND_WRITE = """
def on_track(event, settings):
    seen = store.get("token")
    store.set("token", event.properties["mine"])
    return {"seen": seen}
"""


def test_instances_and_workspaces_do_not_share_keys(pool: WorkerPool, kv: SQLiteStore) -> None:
    assert run(pool, READ_AND_WRITE, "ws1/a", kv, mine="a")["result"] == {"seen": None}
    # Same code and key name: another instance, the same instance id in another
    # workspace: each sees only its own value.
    assert run(pool, READ_AND_WRITE, "ws1/b", kv, mine="b")["result"] == {"seen": None}
    assert run(pool, READ_AND_WRITE, "ws2/a", kv, mine="c")["result"] == {"seen": None}
    assert run(pool, READ_AND_WRITE, "ws1/a", kv, mine="a2")["result"] == {"seen": "a"}
    assert kv.get("ws1/a", "token") == '"a2"'
    assert kv.get("ws1/b", "token") == '"b"'
    assert kv.get("ws2/a", "token") == '"c"'


def test_a_key_naming_another_instance_is_only_a_key(pool: WorkerPool, kv: SQLiteStore) -> None:
    kv.put("ws1/victim", "token", '"secret-of-victim"', None)
    body = """
    def on_track(event, settings):
        found = []
        for key in ("ws1/victim", "ws1/victim/token", "../victim/token", "token\\x00",
                    "%2e%2e/victim", "ws1/victim\\ttoken", "*", "%"):
            found.append(store.get(key))
        return found
    """
    result = run(pool, body, "ws1/attacker", kv)
    assert result["outcome"] == "delivered", result
    assert result["result"] == [None] * 8
    assert "secret-of-victim" not in json.dumps(result)


def test_a_scope_in_the_frame_is_ignored(kv: SQLiteStore) -> None:
    """What a hostile worker could put in a frame: the host never reads a scope from it."""
    kv.put("ws1/victim", "token", '"secret"', None)
    session = StoreSession(kv, "ws1/attacker")
    for extra in ({"scope": "ws1/victim"}, {"instance": "victim"}, {"workspace": "ws1"}):
        answer = session.handle({"op": "store", "action": "get", "key": "token", **extra})
        assert answer == {"found": False}
        session.handle({"op": "store", "action": "set", "key": "token", "value": "1", **extra})
        session.handle({"op": "store", "action": "delete", "key": "token", **extra})
    assert kv.get("ws1/victim", "token") == '"secret"'


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('store.set("k", float("nan"))', "not a JSON number"),
        ('store.set("k", float("inf"))', "not a JSON number"),
        (f'store.set("k", "x" * ({MAX_VALUE_BYTES} + 1))', "at most 65536 bytes"),
        ('store.set("k" * 257, 1)', "at most 256 bytes"),
        ('store.set("", 1)', "cannot be empty"),
        ("store.set(1, 1)", "keys are str"),
        ('store.set("k", {1: 2})', "dict keys must be str"),
        ('store.set("k", {"a": set()})', "set is not a JSON type"),
        ('store.set("k", b"bytes")', "bytes is not a JSON type"),
        ('store.set("k", 1, ttl=-5)', "ttl is a positive number"),
        ('store.set("k", 1, ttl=float("nan"))', "ttl is a positive number"),
        ('store.incr("k", by=1.5)', "int within 64 bits"),
        ('store.incr("k", by=2**70)', "int within 64 bits"),
    ],
)
def test_refused_values_raise_store_error(
    pool: WorkerPool, kv: SQLiteStore, expression: str, message: str
) -> None:
    body = f"""
    def on_track(event, settings):
        {expression}
    """
    result = run(pool, body, "ws/limits", kv)
    assert result["outcome"] == "rejected", result
    assert result["error"]["type"] == "StoreError", result
    assert message in result["error"]["message"], result
    assert kv.get("ws/limits", "k") is None


def test_deep_nesting_is_refused_without_harm(pool: WorkerPool, kv: SQLiteStore) -> None:
    body = """
    def on_track(event, settings):
        deep = []
        for _ in range(event.properties["depth"]):
            deep = [deep]
        try:
            store.set("deep", deep)
        except StoreError as exc:
            return str(exc)
        return "stored"
    """
    shallow = run(pool, body, "ws/deep", kv, depth=31)
    assert shallow["result"] == "stored", shallow
    for depth in (33, 5000, 200_000):
        result = run(pool, body, "ws/deep", kv, depth=depth)
        assert result["outcome"] == "delivered", result
        assert "nested more than 32 levels" in result["result"], result


def test_an_author_object_runs_no_hook(pool: WorkerPool, kv: SQLiteStore) -> None:
    body = """
    class Sneaky:
        def __iter__(self):
            raise RuntimeError("ran author code")

    def on_track(event, settings):
        try:
            store.set("k", {"a": [Sneaky()]})
        except StoreError as exc:
            return str(exc)
    """
    result = run(pool, body, "ws/sub", kv)
    assert result["result"] == "store values are JSON: Sneaky is not a JSON type", result


def test_a_subclass_of_a_json_type_runs_no_hook() -> None:
    """Exact types only (should the sandbox ever allow deriving from dict or str)."""
    from functions_sdk.errors import StoreError
    from functions_sdk.store import check_key, encode_value

    class Sneaky(dict[str, Any]):
        def items(self) -> Any:
            raise RuntimeError("ran author code")

    class Key(str):
        def encode(self, *args: Any, **kwargs: Any) -> bytes:
            raise RuntimeError("ran author code")

    with pytest.raises(StoreError, match="Sneaky is not a JSON type"):
        encode_value(Sneaky(a=1))
    with pytest.raises(StoreError, match="keys are str, not Key"):
        check_key(Key("k"))


def test_the_instance_totals_hold_through_the_sandbox(pool: WorkerPool, tmp_path: Path) -> None:
    small = SQLiteStore(tmp_path / "small.db", limits=(3, 10_000))
    body = """
    def on_track(event, settings):
        done = 0
        try:
            for i in range(10):
                store.set(f"k{i}", i)
                done += 1
        except StoreError as exc:
            return [done, str(exc)]
    """
    result = run(pool, body, "ws/full", small)
    assert result["result"] == [3, "the instance's store is full: at most 3 keys"], result
    small.close()


def test_no_store_access_once_the_invocation_is_over(pool: WorkerPool) -> None:
    """The pool's session for an invocation is closed when it returns: a frame that
    came later (a worker still running author code) gets an error, not the store."""
    sessions: list[StoreSession] = []

    class Recording(MemoryStore):
        def get(self, scope: str, key: str) -> str | None:
            return super().get(scope, key)

    store = Recording({"token": "t"})
    original = StoreSession.__init__

    def remember(self: StoreSession, backend: Any, scope: str) -> None:
        original(self, backend, scope)
        sessions.append(self)

    StoreSession.__init__ = remember  # type: ignore[method-assign]
    try:
        result = run(pool, 'def on_track(e, s):\n    return store.get("token")\n', "ws/x", store)
    finally:
        StoreSession.__init__ = original  # type: ignore[method-assign]
    assert result["result"] == "t"
    [session] = sessions
    late = session.handle({"action": "get", "key": "token"})
    assert late["error"]["type"] == "StoreError"
    assert "while an event runs" in late["error"]["message"]


def test_module_state_cannot_carry_the_store_between_events(pool: WorkerPool) -> None:
    """What a handler kept from an earlier event (a bound function, a closure) reaches
    the store only through the current event's session: the scope is the same, the
    calls are counted there."""
    store = MemoryStore()
    body = """
    KEPT = []
    def on_track(event, settings):
        if not KEPT:
            KEPT.append(store.set)
        KEPT[0]("k", event.properties["n"])
        return len(KEPT)
    """
    the_spec = spec(body, "ws/kept")
    results = pool.invoke(
        the_spec,
        [{**EVENT, "properties": {"n": 1}}, {**EVENT, "properties": {"n": 2}}],
        store=store,
    )
    assert [r["result"] for r in results] == [1, 1]  # module state is fresh per event
    assert store.scope_data("ws/kept") == {"k": 2}
    assert store.scopes() == ["ws/kept"]


def test_test_runs_never_reach_a_deployed_instances_store(tmp_path: Path) -> None:
    """A spec without ``store_scope`` (API and console test runs, ``functions invoke``)
    gets the pool's scratch store in memory, never the configured one."""
    configured = SQLiteStore(tmp_path / "store.db")
    configured.put("code/x", "token", '"deployed"', None)
    source = 'from functions_sdk import store\ndef on_track(e, s):\n    return store.incr("n")\n'
    with WorkerPool(max_workers=1, spares=0, store=configured) as own:
        scratch = InstanceSpec(key="x", source=source, filename="handler.py")
        assert own.invoke(scratch, [EVENT])[0]["result"] == 1
        assert own.invoke(scratch, [EVENT])[0]["result"] == 2
        deployed = InstanceSpec(key="x", source=source, filename="handler.py", store_scope="w/i")
        assert own.invoke(deployed, [EVENT])[0]["result"] == 1
    assert configured.get("code/x", "n") is None
    assert configured.get("w/i", "n") == "1"
    configured.close()
