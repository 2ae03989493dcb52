"""One contract for every backend: the control plane relies on exactly this."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest

from functions_runtime.control.backend import Backend
from functions_runtime.control.models import (
    ApiKey,
    AuditEntry,
    Function,
    Instance,
    Source,
    Version,
    Workspace,
    new_id,
    utcnow,
)
from functions_runtime.control.ports import ConflictError, NotFoundError, StoreError

NOW = utcnow().replace(microsecond=0)


def workspace(store: Backend, name: str = "acme") -> Workspace:
    ws = Workspace(id=new_id("ws"), name=name, created_at=NOW)
    store.metadata.create_workspace(ws)
    return ws


def function(store: Backend, ws: Workspace, name: str = "webhook") -> Function:
    fn = Function(id=new_id("fn"), workspace_id=ws.id, name=name, created_at=NOW, updated_at=NOW)
    store.metadata.create_function(fn)
    return fn


def version(ws: Workspace, fn: Function, number: int, code: bytes = b"x") -> Version:
    digest = hashlib.sha256(code + str(number).encode()).hexdigest()
    return Version(
        id="ver_" + digest[:20],
        function_id=fn.id,
        workspace_id=ws.id,
        number=number,
        code_key=hashlib.sha256(code).hexdigest(),
        content_hash=digest,
        manifest={"name": fn.name, "kind": "destination", "settings": {"url": {"type": "string"}}},
        handlers=["on_track"],
        warnings=[],
        author="key_1",
        created_at=NOW,
    )


def instance(ws: Workspace, fn: Function, ver: Version, **kw: object) -> Instance:
    return Instance(
        id=new_id("in"),
        workspace_id=ws.id,
        function_id=fn.id,
        version_id=ver.id,
        created_at=NOW,
        updated_at=NOW,
        **kw,
    )  # type: ignore[arg-type]


def test_workspaces_round_trip(backend: Backend):
    ws = workspace(backend)
    assert backend.metadata.get_workspace(ws.id) == ws
    assert backend.metadata.get_workspace("ws_missing") is None
    other = workspace(backend, "globex")
    assert {w.id for w in backend.metadata.list_workspaces()} == {ws.id, other.id}
    with pytest.raises(ConflictError):
        backend.metadata.create_workspace(ws)


def test_api_keys_are_found_by_hash(backend: Backend):
    assert backend.metadata.has_admin_key() is False
    ws = workspace(backend)
    key = ApiKey(
        id=new_id("key"), key_hash="a" * 64, prefix="fk_abcd", workspace_id=ws.id, created_at=NOW
    )
    admin = ApiKey(
        id=new_id("key"),
        key_hash="b" * 64,
        prefix="fk_admn",
        workspace_id=None,
        admin=True,
        created_at=NOW,
    )
    backend.metadata.put_api_key(key)
    assert backend.metadata.has_admin_key() is False
    backend.metadata.put_api_key(admin)
    assert backend.metadata.find_api_key("a" * 64) == key
    assert backend.metadata.find_api_key("b" * 64) == admin
    assert backend.metadata.find_api_key("c" * 64) is None
    assert backend.metadata.has_admin_key() is True


def test_function_names_are_unique_per_workspace(backend: Backend):
    ws, other = workspace(backend), workspace(backend, "globex")
    fn = function(backend, ws)
    with pytest.raises(ConflictError):
        function(backend, ws)  # same name, same workspace
    same_name_elsewhere = function(backend, other)
    assert backend.metadata.get_function(ws.id, fn.id) == fn
    assert backend.metadata.find_function(ws.id, "webhook") == fn
    assert backend.metadata.find_function(other.id, "webhook") == same_name_elsewhere
    assert backend.metadata.list_functions(ws.id) == [fn]


def test_reads_never_cross_workspaces(backend: Backend):
    ws, other = workspace(backend), workspace(backend, "globex")
    fn = function(backend, ws)
    ver = version(ws, fn, 1)
    backend.metadata.add_version(ver)
    inst = instance(ws, fn, ver)
    backend.metadata.create_instance(inst)
    src = Source(
        id=new_id("src"), workspace_id=ws.id, name="web", write_key_hash="d" * 64, created_at=NOW
    )
    backend.metadata.create_source(src)
    assert backend.metadata.get_function(other.id, fn.id) is None
    assert backend.metadata.find_function(other.id, fn.name) is None
    assert backend.metadata.list_functions(other.id) == []
    assert backend.metadata.get_version(other.id, ver.id) is None
    assert backend.metadata.list_versions(other.id, fn.id) == []
    assert backend.metadata.get_instance(other.id, inst.id) is None
    assert backend.metadata.list_instances(other.id) == []
    assert backend.metadata.get_source(other.id, src.id) is None
    assert backend.metadata.find_source(other.id, "web") is None
    assert backend.metadata.list_sources(other.id) == []
    assert backend.metadata.list_audit(other.id) == []
    foreign = inst.model_copy(update={"workspace_id": other.id})
    with pytest.raises((NotFoundError, ConflictError)):
        backend.metadata.update_instance(foreign, expected_revision=1)


def test_versions_advance_the_function_atomically(backend: Backend):
    ws = workspace(backend)
    fn = function(backend, ws)
    v1, v2 = version(ws, fn, 1, b"one"), version(ws, fn, 2, b"two")
    backend.metadata.add_version(v1)
    backend.metadata.add_version(v2)
    stored = backend.metadata.get_function(ws.id, fn.id)
    assert stored is not None
    assert (stored.latest_version, stored.version_count) == (v2.id, 2)
    assert backend.metadata.get_version(ws.id, v1.id) == v1
    assert [v.number for v in backend.metadata.list_versions(ws.id, fn.id)] == [1, 2]
    with pytest.raises(ConflictError):
        backend.metadata.add_version(version(ws, fn, 2, b"late"))  # number 2 is taken
    with pytest.raises(ConflictError):
        backend.metadata.add_version(version(ws, fn, 4, b"gap"))  # must be count + 1


def test_racing_uploads_have_exactly_one_winner(backend: Backend):
    ws = workspace(backend)
    fn = function(backend, ws)
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def upload(i: int) -> None:
        barrier.wait()
        try:
            backend.metadata.add_version(version(ws, fn, 1, f"code-{i}".encode()))
            outcomes.append("won")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "won"]
    assert len(backend.metadata.list_versions(ws.id, fn.id)) == 1


def test_instances_update_with_optimistic_concurrency(backend: Backend):
    ws = workspace(backend)
    fn = function(backend, ws)
    v1, v2 = version(ws, fn, 1, b"a"), version(ws, fn, 2, b"b")
    backend.metadata.add_version(v1)
    backend.metadata.add_version(v2)
    inst = instance(ws, fn, v1, settings={"url": "https://x"}, secrets="opaque")
    backend.metadata.create_instance(inst)
    assert backend.metadata.get_instance(ws.id, inst.id) == inst
    later = NOW + timedelta(seconds=5)
    moved = inst.model_copy(update={"version_id": v2.id, "revision": 2, "updated_at": later})
    backend.metadata.update_instance(moved, expected_revision=1)
    assert backend.metadata.get_instance(ws.id, inst.id) == moved
    stale = inst.model_copy(update={"enabled": False, "revision": 2})
    with pytest.raises(ConflictError):
        backend.metadata.update_instance(stale, expected_revision=1)
    assert backend.metadata.list_instances(ws.id) == [moved]
    assert backend.metadata.list_instances(ws.id, function_id=fn.id) == [moved]
    assert backend.metadata.list_instances(ws.id, function_id="fn_other") == []
    with pytest.raises(NotFoundError):
        backend.metadata.update_instance(
            instance(ws, fn, v1).model_copy(update={"revision": 2}), expected_revision=1
        )


def test_racing_deploys_have_exactly_one_winner(backend: Backend):
    ws = workspace(backend)
    fn = function(backend, ws)
    v1 = version(ws, fn, 1)
    backend.metadata.add_version(v1)
    inst = instance(ws, fn, v1)
    backend.metadata.create_instance(inst)
    outcomes: list[str] = []
    barrier = threading.Barrier(3)

    def deploy(i: int) -> None:
        barrier.wait()
        try:
            backend.metadata.update_instance(
                inst.model_copy(update={"settings": {"n": i}, "revision": 2}), expected_revision=1
            )
            outcomes.append("won")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=deploy, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "won"]
    stored = backend.metadata.get_instance(ws.id, inst.id)
    assert stored is not None and stored.revision == 2


def test_sources_by_name_and_write_key(backend: Backend):
    ws = workspace(backend)
    src = Source(
        id=new_id("src"), workspace_id=ws.id, name="web", write_key_hash="e" * 64, created_at=NOW
    )
    backend.metadata.create_source(src)
    with pytest.raises(ConflictError):
        backend.metadata.create_source(src.model_copy(update={"id": new_id("src")}))
    assert backend.metadata.get_source(ws.id, src.id) == src
    assert backend.metadata.find_source(ws.id, "web") == src
    assert backend.metadata.find_source_by_write_key("e" * 64) == src
    assert backend.metadata.find_source_by_write_key("f" * 64) is None
    assert backend.metadata.list_sources(ws.id) == [src]


def test_a_source_is_updated_in_its_own_workspace_only(backend: Backend):
    ws, other = workspace(backend), workspace(backend)
    src = Source(
        id=new_id("src"), workspace_id=ws.id, name="web", write_key_hash="d" * 64, created_at=NOW
    )
    backend.metadata.create_source(src)
    assert backend.metadata.get_source(ws.id, src.id).webhook_token_hash is None  # type: ignore[union-attr]
    rotated = src.model_copy(update={"webhook_token_hash": "c" * 64})
    backend.metadata.update_source(rotated)
    assert backend.metadata.get_source(ws.id, src.id) == rotated
    assert backend.metadata.find_source_by_write_key("d" * 64) == rotated
    with pytest.raises(NotFoundError):
        backend.metadata.update_source(rotated.model_copy(update={"workspace_id": other.id}))
    with pytest.raises(NotFoundError):
        backend.metadata.update_source(rotated.model_copy(update={"id": new_id("src")}))
    assert backend.metadata.get_source(other.id, src.id) is None


def test_audit_log_is_newest_first_and_bounded(backend: Backend):
    ws = workspace(backend)
    for i in range(5):
        backend.metadata.append_audit(
            AuditEntry(
                id=new_id("au"),
                workspace_id=ws.id,
                actor="key_1",
                action=f"step.{i}",
                target="fn_1",
                at=NOW + timedelta(seconds=i),
                details={"i": i},
            )
        )
    entries = backend.metadata.list_audit(ws.id, limit=3)
    assert [e.action for e in entries] == ["step.4", "step.3", "step.2"]
    assert entries[0].details == {"i": 4}


def test_blobs_are_content_addressed(backend: Backend):
    key = backend.blobs.put(b"def on_track(event, settings): pass\n")
    assert key == hashlib.sha256(b"def on_track(event, settings): pass\n").hexdigest()
    assert backend.blobs.put(b"def on_track(event, settings): pass\n") == key
    assert backend.blobs.get(key) == b"def on_track(event, settings): pass\n"
    with pytest.raises(NotFoundError):
        backend.blobs.get("0" * 64)


def test_secret_box_is_authenticated_and_bound_to_context(backend: Backend):
    context = {"workspace": "ws_1", "instance": "in_1"}
    blob = backend.box.encrypt(b'{"api_key": "sk-live-1"}', context)
    assert "sk-live-1" not in blob
    assert backend.box.decrypt(blob, context) == b'{"api_key": "sk-live-1"}'
    with pytest.raises(StoreError):
        backend.box.decrypt(blob, {"workspace": "ws_2", "instance": "in_1"})
    tampered = blob[:-4] + ("AAAA" if not blob.endswith("AAAA") else "BBBB")
    with pytest.raises(StoreError):
        backend.box.decrypt(tampered, context)
    assert backend.box.encrypt(b"same", context) != backend.box.encrypt(b"same", context)


def test_libraries_a_versions_files_and_an_instances_pins_round_trip(backend: Backend):
    """A library is a function of kind ``library`` (names shared with functions, per
    workspace); a version keeps its files and imports, an instance its pins."""
    ws, other = workspace(backend), workspace(backend, "globex")
    library = Function(
        id=new_id("fn"),
        workspace_id=ws.id,
        name="acme_utils",
        kind="library",
        created_at=NOW,
        updated_at=NOW,
    )
    backend.metadata.create_function(library)
    with pytest.raises(ConflictError):
        function(backend, ws, "acme_utils")  # a function cannot take a library's name
    lib_version = version(ws, library, 1).model_copy(
        update={"files": {"acme_utils/__init__.py": "a" * 64}, "handlers": []}
    )
    backend.metadata.add_version(lib_version)
    assert backend.metadata.get_version(ws.id, lib_version.id) == lib_version
    stored = backend.metadata.find_function(ws.id, "acme_utils")
    assert stored is not None and stored.kind == "library"
    assert stored.latest_version == lib_version.id
    assert backend.metadata.find_function(other.id, "acme_utils") is None
    assert backend.metadata.get_version(other.id, lib_version.id) is None

    fn = function(backend, ws)
    ver = version(ws, fn, 1, code=b"handler").model_copy(
        update={
            "files": {"helpers.py": "b" * 64, "lib/util.py": "c" * 64},
            "imports": ["acme_utils"],
        }
    )
    backend.metadata.add_version(ver)
    assert backend.metadata.get_version(ws.id, ver.id) == ver
    assert backend.metadata.list_versions(ws.id, fn.id) == [ver]
    inst = instance(ws, fn, ver, libraries={"acme_utils": lib_version.id})
    backend.metadata.create_instance(inst)
    assert backend.metadata.get_instance(ws.id, inst.id) == inst
    moved = inst.model_copy(update={"libraries": {}, "revision": 2})
    backend.metadata.update_instance(moved, expected_revision=1)
    assert backend.metadata.get_instance(ws.id, inst.id) == moved
