"""The embedded backend beyond the store contract: files, key, durability, integrity."""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from functions_runtime.control.backend import Backend
from functions_runtime.control.embedded import (
    EmbeddedMetadataStore,
    LocalSecretBox,
    open_embedded,
)
from functions_runtime.control.embedded.secrets import load_or_create_key
from functions_runtime.control.models import (
    AuditEntry,
    Function,
    Instance,
    Source,
    Version,
    Workspace,
    new_id,
)
from functions_runtime.control.ports import ConflictError, NotFoundError, StoreError

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def close(backend: Backend) -> None:
    assert isinstance(backend.metadata, EmbeddedMetadataStore)
    backend.metadata.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def backend(data_dir: Path) -> Iterator[Backend]:
    opened = open_embedded(data_dir)
    yield opened
    close(opened)


def seed(backend: Backend) -> tuple[Workspace, Function, Version]:
    ws = Workspace(id=new_id("ws"), name="acme", created_at=NOW)
    backend.metadata.create_workspace(ws)
    fn = Function(id=new_id("fn"), workspace_id=ws.id, name="hook", created_at=NOW, updated_at=NOW)
    backend.metadata.create_function(fn)
    code_key = backend.blobs.put(b"def on_track(event, settings):\n    return None\n")
    ver = Version(
        id="ver_" + "1" * 20, function_id=fn.id, workspace_id=ws.id, number=1,
        code_key=code_key, content_hash="1" * 64, manifest={"name": "hook"},
        handlers=["on_track"], author="key_1", created_at=NOW + timedelta(minutes=1),
    )  # fmt: skip
    backend.metadata.add_version(ver)
    return ws, fn, ver


def instance(ws: Workspace, fn: Function, ver: Version, **kw: object) -> Instance:
    fields: dict[str, object] = {"created_at": NOW, "updated_at": NOW, **kw}
    return Instance(
        id=new_id("in"), workspace_id=ws.id, function_id=fn.id, version_id=ver.id,
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


# -- the data directory ------------------------------------------------------------------


@posix_only
def test_open_creates_a_private_directory_key_and_database(data_dir: Path) -> None:
    backend = open_embedded(str(data_dir))
    try:
        seed(backend)
        assert mode(data_dir) == 0o700
        key = data_dir / "secret.key"
        assert mode(key) == 0o600 and key.stat().st_size == 32
        for name in ("functions.db", "functions.db-wal", "functions.db-shm"):
            assert mode(data_dir / name) == 0o600, name
        blob = next((data_dir / "code").glob("*/*"))
        assert mode(blob) == 0o600
        assert mode(blob.parent) == 0o700 and mode(data_dir / "code") == 0o700
        assert blob.parent.name == blob.name[:2]
        assert [p.name for p in data_dir.iterdir() if p.name.startswith(".")] == []
    finally:
        close(backend)


def test_database_uses_wal_and_enforces_foreign_keys(backend: Backend, data_dir: Path) -> None:
    with sqlite3.connect(data_dir / "functions.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    orphan = Function(id=new_id("fn"), workspace_id="ws_missing", name="x", created_at=NOW,
                      updated_at=NOW)  # fmt: skip
    with pytest.raises(NotFoundError):
        backend.metadata.create_function(orphan)


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    with pytest.raises(StoreError, match="not a directory"):
        open_embedded(tmp_path / "data")


def test_a_database_from_a_newer_release_is_refused(data_dir: Path) -> None:
    close(open_embedded(data_dir))
    with sqlite3.connect(data_dir / "functions.db") as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer release"):
        open_embedded(data_dir)


def test_a_closed_store_refuses_work(data_dir: Path) -> None:
    backend = open_embedded(data_dir)
    close(backend)
    with pytest.raises(StoreError, match="closed"):
        backend.metadata.list_workspaces()


# -- persistence -------------------------------------------------------------------------


def test_everything_survives_a_reopen(data_dir: Path) -> None:
    first = open_embedded(data_dir)
    ws, fn, ver = seed(first)
    context = {"workspace": ws.id, "instance": "in_1"}
    sealed = first.box.encrypt(b'{"token": "s3cret"}', context)
    inst = instance(ws, fn, ver, secrets=sealed, settings={"url": "https://x"})
    first.metadata.create_instance(inst)
    close(first)

    second = open_embedded(data_dir)
    try:
        stored = second.metadata.get_function(ws.id, fn.id)
        assert stored is not None and stored.latest_version == ver.id
        assert stored.updated_at == ver.created_at
        assert second.metadata.get_version(ws.id, ver.id) == ver
        assert second.metadata.get_instance(ws.id, inst.id) == inst
        assert second.blobs.get(ver.code_key).startswith(b"def on_track")
        assert second.box.decrypt(sealed, context) == b'{"token": "s3cret"}'
    finally:
        close(second)


def test_datetimes_keep_their_offset_and_sort_by_instant(backend: Backend) -> None:
    ws, fn, ver = seed(backend)
    plus_two = timezone(timedelta(hours=2))
    later_local = instance(ws, fn, ver, created_at=datetime(2025, 3, 1, 13, 30, tzinfo=plus_two))
    earlier_utc = instance(ws, fn, ver, created_at=datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    backend.metadata.create_instance(later_local)  # 11:30 UTC: the earliest
    backend.metadata.create_instance(earlier_utc)
    listed = backend.metadata.list_instances(ws.id)
    assert listed == [later_local, earlier_utc]
    assert listed[0].created_at.utcoffset() == timedelta(hours=2)


def test_audit_entries_at_the_same_instant_list_last_appended_first(backend: Backend) -> None:
    ws, _, _ = seed(backend)
    for action in ("a", "b", "c"):
        entry = AuditEntry(id=new_id("au"), workspace_id=ws.id, actor="key_1", action=action,
                           target="fn_1", at=NOW)  # fmt: skip
        backend.metadata.append_audit(entry)
    assert [e.action for e in backend.metadata.list_audit(ws.id)] == ["c", "b", "a"]
    assert backend.metadata.list_audit(ws.id, limit=0) == []


# -- integrity ---------------------------------------------------------------------------


def test_records_cannot_point_into_another_workspace(backend: Backend) -> None:
    ws, fn, ver = seed(backend)
    other = Workspace(id=new_id("ws"), name="globex", created_at=NOW)
    backend.metadata.create_workspace(other)
    theirs = Source(id=new_id("src"), workspace_id=other.id, name="web", write_key_hash="f" * 64,
                    created_at=NOW)  # fmt: skip
    backend.metadata.create_source(theirs)
    with pytest.raises(NotFoundError):
        backend.metadata.create_instance(instance(ws, fn, ver, source_id=theirs.id))
    with pytest.raises(NotFoundError):
        backend.metadata.add_version(ver.model_copy(update={"workspace_id": other.id}))
    assert backend.metadata.list_instances(ws.id) == []


def test_an_update_to_a_missing_version_changes_nothing(backend: Backend) -> None:
    ws, fn, ver = seed(backend)
    inst = instance(ws, fn, ver)
    backend.metadata.create_instance(inst)
    moved = inst.model_copy(update={"version_id": "ver_missing", "revision": 2})
    with pytest.raises(NotFoundError):
        backend.metadata.update_instance(moved, expected_revision=1)
    assert backend.metadata.get_instance(ws.id, inst.id) == inst


def test_two_stores_on_one_directory_race_safely(data_dir: Path) -> None:
    first = open_embedded(data_dir)
    second = open_embedded(data_dir)
    try:
        ws, fn, ver = seed(first)
        barrier, outcomes = threading.Barrier(2), []

        def upload(store: Backend, n: int) -> None:
            barrier.wait()
            try:
                store.metadata.add_version(
                    ver.model_copy(update={"id": f"ver_{n:020d}", "number": 2})
                )
                outcomes.append("won")
            except ConflictError:
                outcomes.append("conflict")

        threads = [
            threading.Thread(target=upload, args=(s, n)) for n, s in enumerate([first, second])
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["conflict", "won"]
        stored = second.metadata.get_function(ws.id, fn.id)
        assert stored is not None and stored.version_count == 2
    finally:
        close(first)
        close(second)


# -- code blobs --------------------------------------------------------------------------


def test_a_corrupt_blob_is_reported_and_healed_by_a_new_put(
    backend: Backend, data_dir: Path
) -> None:
    key = backend.blobs.put(b"original code")
    path = data_dir / "code" / key[:2] / key
    path.write_bytes(b"tampered code")
    with pytest.raises(StoreError, match="corrupt"):
        backend.blobs.get(key)
    assert backend.blobs.put(b"original code") == key
    assert backend.blobs.get(key) == b"original code"


@pytest.mark.parametrize("key", ["../secret.key", "A" * 64, "0" * 63, "", "0" * 64 + "/x"])
def test_blob_keys_that_are_not_sha256_digests_are_not_found(backend: Backend, key: str) -> None:
    with pytest.raises(NotFoundError):
        backend.blobs.get(key)


# -- the secret key and box --------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_a_key_file_of_the_wrong_size_is_refused_and_kept(data_dir: Path, size: int) -> None:
    data_dir.mkdir()
    key = data_dir / "secret.key"
    key.write_bytes(b"k" * size)
    with pytest.raises(StoreError, match=f"holds {size} bytes, not 32"):
        open_embedded(data_dir)
    assert key.read_bytes() == b"k" * size
    assert not (data_dir / "functions.db").exists()


def test_an_existing_key_is_used_not_replaced(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "secret.key").write_bytes(bytes(range(32)))
    backend = open_embedded(data_dir)
    try:
        sealed = LocalSecretBox(bytes(range(32))).encrypt(b"v", {"a": "1"})
        assert backend.box.decrypt(sealed, {"a": "1"}) == b"v"
    finally:
        close(backend)


def test_concurrent_first_opens_agree_on_one_key(tmp_path: Path) -> None:
    path, barrier, keys = tmp_path / "secret.key", threading.Barrier(8), []

    def load() -> None:
        barrier.wait()
        keys.append(load_or_create_key(path))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and len(set(keys)) == 1 and path.read_bytes() == keys[0]
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


def test_blobs_are_versioned_base64url_and_context_order_does_not_matter() -> None:
    box = LocalSecretBox(b"\x01" * 32)
    blob = box.encrypt(b"plain", {"b": "2", "a": "1"})
    raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    assert raw[0] == 1 and len(raw) == 1 + 12 + len(b"plain") + 16
    assert "=" not in blob and "+" not in blob and "/" not in blob
    assert box.decrypt(blob, {"a": "1", "b": "2"}) == b"plain"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda blob: "not base64!",
        lambda blob: blob[:10],
        lambda blob: "Ag" + blob[2:],  # another format byte
        lambda blob: blob.replace("-", "+").replace("_", "/") + "+/",
    ],
)
def test_undecryptable_blobs_raise_store_error_without_plaintext(mangle: object) -> None:
    box = LocalSecretBox(b"\x02" * 32)
    blob = box.encrypt(b"sk-live-secret", {"instance": "in_1"})
    with pytest.raises(StoreError, match="secret settings could not be decrypted") as caught:
        box.decrypt(mangle(blob), {"instance": "in_1"})  # type: ignore[operator]
    assert "sk-live-secret" not in str(caught.value)


def test_a_blob_from_another_key_is_refused() -> None:
    blob = LocalSecretBox(b"\x03" * 32).encrypt(b"x", {})
    with pytest.raises(StoreError, match="another key"):
        LocalSecretBox(b"\x04" * 32).decrypt(blob, {})


def test_empty_code_is_a_valid_blob(backend: Backend) -> None:
    assert backend.blobs.put(b"") == hashlib.sha256(b"").hexdigest()
    assert backend.blobs.get(hashlib.sha256(b"").hexdigest()) == b""
