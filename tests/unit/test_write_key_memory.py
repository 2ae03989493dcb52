"""The embedded store remembers write-key lookups (ingest asks once per request) only
until anything commits to the file: a key created, rotated or deleted anywhere counts
from the next lookup on."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from functions_runtime.control.embedded.metadata import EmbeddedMetadataStore
from functions_runtime.control.models import Source, Workspace

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def _store(path: Path) -> tuple[EmbeddedMetadataStore, Source]:
    store = EmbeddedMetadataStore(path)
    store.create_workspace(Workspace(id="ws_1", name="one", created_at=NOW))
    source = Source(
        id="src_1", workspace_id="ws_1", name="web", write_key_hash="a" * 64, created_at=NOW
    )
    store.create_source(source)
    return store, source


def test_a_rotation_through_another_connection_counts_at_once(tmp_path: Path) -> None:
    ingest, source = _store(tmp_path / "functions.db")
    control = EmbeddedMetadataStore(tmp_path / "functions.db")  # other connections
    assert ingest.find_source_by_write_key("a" * 64) == source
    assert ingest.find_source_by_write_key("a" * 64) == source  # remembered
    assert ingest.find_source_by_write_key("b" * 64) is None  # remembered as unknown
    rotated = control.replace_write_key("ws_1", "src_1", "b" * 64)
    assert ingest.find_source_by_write_key("a" * 64) is None
    assert ingest.find_source_by_write_key("b" * 64) == rotated
    control.delete_source("ws_1", "src_1", NOW)
    assert ingest.find_source_by_write_key("b" * 64) is None


def test_a_change_through_the_same_store_counts_at_once(tmp_path: Path) -> None:
    store, source = _store(tmp_path / "functions.db")
    assert store.find_source_by_write_key("a" * 64) == source
    assert store.find_source_by_write_key("c" * 64) is None
    store.replace_write_key("ws_1", "src_1", "c" * 64)
    assert store.find_source_by_write_key("a" * 64) is None
    assert store.find_source_by_write_key("c" * 64) is not None


def test_a_rotation_by_another_process_counts_at_once(tmp_path: Path) -> None:
    path = tmp_path / "functions.db"
    ingest, source = _store(path)
    assert ingest.find_source_by_write_key("a" * 64) == source
    rotate = (
        "import sys; from functions_runtime.control.embedded.metadata import "
        "EmbeddedMetadataStore as S; S(sys.argv[1]).replace_write_key('ws_1', 'src_1', 'd' * 64)"
    )
    subprocess.run([sys.executable, "-c", rotate, str(path)], check=True)
    assert ingest.find_source_by_write_key("a" * 64) is None
    assert ingest.find_source_by_write_key("d" * 64) is not None
