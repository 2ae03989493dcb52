"""When the delivery store fails: the loop backs off and says so in one line per
failure; a damaged database file is refused at start with what to do."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.ports import StoreError
from functions_runtime.delivery.dispatch import Dispatcher, run_worker
from functions_runtime.delivery.embedded import DATABASE_FILE, open_delivery
from functions_runtime.delivery.ports import Job
from functions_runtime.sandbox.host.pool import WorkerPool


class BrokenQueue:
    """A queue whose store fails ``failures`` times (forever when None), then works."""

    def __init__(self, queue: Any, failures: int | None) -> None:
        self._queue = queue
        self.left = failures

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[Job]:
        if self.left is None or self.left > 0:
            if self.left is not None:
                self.left -= 1
            raise StoreError("the metadata database failed: database or disk is full")
        return list(self._queue.receive(max_messages, visibility_timeout))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


class Pauses:
    """Stands in for the loop's sleep: records each pause; stops the loop after ``count``."""

    def __init__(self, stop: threading.Event, count: int) -> None:
        self.stop, self.count = stop, count
        self.seen: list[float] = []

    def __call__(self, seconds: float) -> bool:
        self.seen.append(seconds)
        if len(self.seen) >= self.count:
            self.stop.set()
        return self.stop.is_set()


def run(tmp_path: Path, failures: int | None, pauses: int) -> list[float]:
    backend, delivery = open_embedded(tmp_path), open_delivery(tmp_path)
    with WorkerPool(max_workers=1, spares=0) as pool:
        broken = replace(delivery, queue=BrokenQueue(delivery.queue, failures))
        dispatcher = Dispatcher(backend, broken, pool)
        stop = threading.Event()
        wait = Pauses(stop, pauses)
        run_worker(dispatcher, stop, idle_sleep=0.05, max_pause=1.0, wait=wait)
    return wait.seen


def test_a_failing_store_is_retried_with_capped_backoff_and_one_line_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="functions.delivery")

    seen = run(tmp_path, failures=None, pauses=7)

    assert seen == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    lines = [r for r in caplog.records if r.name == "functions.delivery"]
    assert len(lines) == 7
    for record in lines:
        message = record.getMessage()
        assert record.exc_info is None  # no traceback for the store's own failure
        assert "\n" not in message
        assert "disk is full" in message and "next try in" in message


def test_the_backoff_resets_once_the_store_works_again(tmp_path: Path) -> None:
    seen = run(tmp_path, failures=2, pauses=5)

    assert seen == [0.1, 0.2, 0.05, 0.05, 0.05]  # then the idle poll again


def damaged(data_dir: Path) -> Path:
    """A delivery database with jobs in it, one of its b-tree pages overwritten."""
    delivery = open_delivery(data_dir)
    delivery.queue.send([{"n": n, "pad": "x" * 500} for n in range(200)])
    del delivery
    path = data_dir / DATABASE_FILE
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with path.open("r+b") as file:
        file.seek(4096 * 5)
        file.write(b"\x0d" + b"\xff" * 4095)
    return path


def test_a_damaged_database_is_refused_at_open_with_what_to_do(tmp_path: Path) -> None:
    path = damaged(tmp_path)

    with pytest.raises(StoreError) as raised:
        open_delivery(tmp_path)

    message = str(raised.value)
    assert str(path) in message
    assert "quick_check" in message and "restore a backup" in message
    assert "\n" not in message


def test_a_file_that_is_not_a_database_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / DATABASE_FILE).write_bytes(b"not a database at all" * 500)

    with pytest.raises(StoreError, match="cannot be used: file is not a database"):
        open_delivery(tmp_path)


def test_serve_refuses_to_start_on_a_damaged_database(tmp_path: Path) -> None:
    damaged(tmp_path)

    command = ["-m", "functions_runtime.cli", "serve", "--port", "0", "--data-dir"]
    done = subprocess.run(
        [sys.executable, *command, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("functions: error: the delivery database")
