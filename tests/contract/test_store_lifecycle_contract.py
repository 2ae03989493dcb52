"""The store contract for deletes and replaced keys, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions_runtime.control.backend import Backend
from functions_runtime.control.models import ApiKey, Function, Source, new_id
from functions_runtime.control.ports import ConflictError, NotFoundError
from tests.contract.test_store_contract import NOW, function, version, workspace


def _source(backend: Backend, ws_id: str, name: str = "web", key: str = "a" * 64) -> Source:
    src = Source(
        id=new_id("src"), workspace_id=ws_id, name=name, write_key_hash=key, created_at=NOW
    )
    backend.metadata.create_source(src)
    return src


def test_a_deleted_function_keeps_its_record_and_frees_its_name(backend: Backend):
    ws = workspace(backend)
    fn = function(backend, ws, "webhook")
    backend.metadata.add_version(version(ws, fn, 1))
    later = NOW + timedelta(minutes=5)
    backend.metadata.delete_function(ws.id, fn.id, later)
    stored = backend.metadata.get_function(ws.id, fn.id)
    assert stored is not None and stored.deleted_at == later
    assert stored.name == "webhook" and stored.version_count == 1  # the record is kept
    assert backend.metadata.find_function(ws.id, "webhook") is None
    assert [f.id for f in backend.metadata.list_functions(ws.id)] == [fn.id]
    again = function(backend, ws, "webhook")  # the name is free
    assert backend.metadata.find_function(ws.id, "webhook") == again
    backend.metadata.delete_function(ws.id, fn.id, later + timedelta(minutes=1))  # idempotent
    assert backend.metadata.get_function(ws.id, fn.id).deleted_at == later  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        backend.metadata.delete_function(ws.id, new_id("fn"), later)


def test_a_function_is_deleted_in_its_own_workspace_only(backend: Backend):
    ws, other = workspace(backend), workspace(backend)
    fn = function(backend, ws)
    with pytest.raises(NotFoundError):
        backend.metadata.delete_function(other.id, fn.id, NOW)
    assert backend.metadata.get_function(ws.id, fn.id).deleted_at is None  # type: ignore[union-attr]


def test_a_replaced_write_key_finds_the_source_no_more(backend: Backend):
    ws, other = workspace(backend), workspace(backend)
    src = _source(backend, ws.id, key="a" * 64)
    taken = _source(backend, ws.id, name="app", key="c" * 64)
    changed = backend.metadata.replace_write_key(ws.id, src.id, "b" * 64)
    assert changed == src.model_copy(update={"write_key_hash": "b" * 64})
    assert backend.metadata.find_source_by_write_key("a" * 64) is None
    assert backend.metadata.find_source_by_write_key("b" * 64) == changed
    assert backend.metadata.get_source(ws.id, src.id) == changed
    with pytest.raises(ConflictError):
        backend.metadata.replace_write_key(ws.id, src.id, taken.write_key_hash)
    assert backend.metadata.find_source_by_write_key("b" * 64) == changed
    with pytest.raises(NotFoundError):
        backend.metadata.replace_write_key(other.id, src.id, "d" * 64)
    assert backend.metadata.find_source_by_write_key("d" * 64) is None


def test_a_deleted_source_frees_its_name_and_write_key(backend: Backend):
    ws = workspace(backend)
    src = _source(backend, ws.id, key="a" * 64)
    backend.metadata.delete_source(ws.id, src.id, NOW)
    stored = backend.metadata.get_source(ws.id, src.id)
    assert stored is not None and stored.deleted_at == NOW and stored.name == "web"
    assert backend.metadata.find_source(ws.id, "web") is None
    assert backend.metadata.find_source_by_write_key("a" * 64) is None
    again = _source(backend, ws.id, key="a" * 64)  # both are free again
    assert backend.metadata.find_source(ws.id, "web") == again
    assert backend.metadata.find_source_by_write_key("a" * 64) == again
    with pytest.raises(NotFoundError):
        backend.metadata.delete_source(ws.id, new_id("src"), NOW)


def test_a_deleted_api_key_is_found_no_more(backend: Backend):
    ws = workspace(backend)
    for admin, digest in ((False, "1" * 64), (True, "2" * 64)):
        key = ApiKey(
            id=new_id("key"),
            key_hash=digest,
            prefix="fk_abcd",
            workspace_id=None if admin else ws.id,
            admin=admin,
            created_at=NOW,
        )
        backend.metadata.put_api_key(key)
        assert backend.metadata.find_api_key(digest) == key
        backend.metadata.delete_api_key(digest)
        assert backend.metadata.find_api_key(digest) is None
        backend.metadata.delete_api_key(digest)  # nothing there: nothing happens
    assert not backend.metadata.has_admin_key()


def test_function_records_round_trip_with_deleted_at(backend: Backend):
    ws = workspace(backend)
    fn = Function(id=new_id("fn"), workspace_id=ws.id, name="x", created_at=NOW, updated_at=NOW)
    backend.metadata.create_function(fn)
    assert backend.metadata.get_function(ws.id, fn.id) == fn
