"""The embedded queue: jobs and dead letters in SQLite, with visibility timeouts.

A job is visible when ``visible_at <= now``. Receiving one hides it for the visibility
timeout and gives it a fresh receipt; ``ack``, ``retry`` and ``dead_letter`` only act
while that receipt is the job's latest, so a worker whose job timed out and went to
another worker cannot settle it (the same rule as SQS receipt handles, made strict).
Every change is one ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``: what
``send`` returned for survives a crash or power loss.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ...control.ports import StoreError
from ...json_limits import loads_plain
from ..ports import DeadLetter, EncodedBody, Job, QueueCounts, body_text
from .database import DeliveryDatabase

__all__ = ["EmbeddedQueue"]

_SEND = (
    "INSERT INTO jobs (id, body, visible_at, receive_count, sent_at, receipt)"
    " VALUES (?, ?, ?, 0, ?, NULL)"
)
_VISIBLE = (
    "SELECT id, body, receive_count, sent_at FROM jobs WHERE visible_at <= ?"
    " ORDER BY visible_at, rowid LIMIT ?"
)
_CLASH = "a queued job id clashed; send again"
_HIDE = (
    "UPDATE jobs SET visible_at = ?, receive_count = receive_count + 1, receipt = ? WHERE id = ?"
)


class EmbeddedQueue:
    """At-least-once queue on SQLite; safe to share between threads and processes."""

    def __init__(self, db: DeliveryDatabase, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock
        self._group = _GroupCommit(db)

    def send(self, bodies: Sequence[dict[str, Any] | EncodedBody], delay_seconds: int = 0) -> None:
        """Queue every body durably (all or none) before returning.

        ``ValueError`` or ``TypeError`` when a body is not JSON (nothing is queued).
        Sends from several threads at once share one transaction and one ``fsync``
        (group commit); inside this thread's open transaction, a send is part of it.
        """
        rows = [(_job_id(), body_text(body)) for body in bodies]
        if not rows:
            return
        now = self._clock()
        visible_at = now + max(delay_seconds, 0)
        params = [(id_, body, visible_at, now) for id_, body in rows]
        if self._db.in_transaction():
            with self._db.write(_CLASH) as conn:
                conn.executemany(_SEND, params)
        else:
            self._group.commit(params)

    def receive(self, max_messages: int = 10, visibility_timeout: int = 30) -> list[Job]:
        """Up to ``max_messages`` visible jobs, oldest-visible first, hidden for a while."""
        if max_messages <= 0:
            return []
        now = self._clock()
        hidden_until = now + max(visibility_timeout, 0)
        # Bodies are parsed after the commit: the writer lock is held for the SQL only.
        # No fsync of its own: a receive lost to a power cut only makes jobs visible again.
        with self._db.write("receiving jobs conflicted", durable=False) as conn:
            rows = [
                (id_, body, count + 1, sent_at, secrets.token_urlsafe(16))
                for id_, body, count, sent_at in conn.execute(_VISIBLE, [now, max_messages])
            ]
            conn.executemany(_HIDE, [(hidden_until, row[4], row[0]) for row in rows])
        return [_job(*row) for row in rows]

    def ack(self, job: Job) -> None:
        """Delete the job if ``job.receipt`` is still its latest receipt."""
        with self._db.write("acknowledging a job conflicted") as conn:
            conn.execute("DELETE FROM jobs WHERE id = ? AND receipt = ?", [job.id, job.receipt])

    def retry(self, job: Job, delay_seconds: int) -> None:
        """Make the job visible after ``delay_seconds`` (a stale receipt is ignored)."""
        visible_at = self._clock() + max(delay_seconds, 0)
        with self._db.write("retrying a job conflicted") as conn:
            conn.execute(
                "UPDATE jobs SET visible_at = ? WHERE id = ? AND receipt = ?",
                [visible_at, job.id, job.receipt],
            )

    def dead_letter(self, job: Job, reason: str) -> None:
        """Move the job to the dead letters, atomically (a stale receipt is ignored)."""
        dead_at = self._clock()
        with self._db.write("dead-lettering a job conflicted") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO dead_letters (id, body, reason, dead_at, receive_count)"
                " SELECT id, body, ?, ?, receive_count FROM jobs WHERE id = ? AND receipt = ?",
                [reason, dead_at, job.id, job.receipt],
            )
            conn.execute("DELETE FROM jobs WHERE id = ? AND receipt = ?", [job.id, job.receipt])

    def take_dead(
        self, match: Callable[[dict[str, Any]], bool], limit: int = 1000
    ) -> list[DeadLetter]:
        """Remove and return up to ``limit`` dead letters whose body matches, oldest first.

        One transaction: if ``match`` raises, nothing is removed.
        """
        taken: list[DeadLetter] = []
        if limit <= 0:
            return taken
        with self._db.write("taking dead letters conflicted") as conn:
            rows = conn.execute(
                "SELECT id, body, reason, dead_at FROM dead_letters ORDER BY dead_at, rowid"
            )
            for id_, text, reason, dead_at in rows:
                body = json.loads(text)
                if match(body):
                    taken.append(DeadLetter(id_, body, reason, _instant(dead_at)))
                    if len(taken) == limit:
                        break
            rows.close()
            conn.executemany("DELETE FROM dead_letters WHERE id = ?", [(d.id,) for d in taken])
        return taken

    def counts(self) -> QueueCounts:
        """Visible jobs; in-flight ones (every job not visible yet: received and not
        settled, waiting for a retry, or sent with a delay); dead letters."""
        now = self._clock()
        with self._db.snapshot() as conn:
            visible, hidden = conn.execute(
                "SELECT COALESCE(SUM(visible_at <= ?), 0), COALESCE(SUM(visible_at > ?), 0)"
                " FROM jobs",
                [now, now],
            ).fetchone()
            (dead,) = conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        return QueueCounts(visible=int(visible), in_flight=int(hidden), dead=int(dead))


def _job(id_: str, text: str, count: int, sent_at: float, receipt: str) -> Job:
    body, plain = loads_plain(text)
    return Job(id_, body, count, _instant(sent_at), receipt, plain=plain)


def _job_id() -> str:
    """A new job's id: the time in nanoseconds (16 hex digits), then 64 random bits.

    Ids that grow with time go to the right-hand end of the ``jobs`` primary-key index,
    as acks leave it from the left: a group commit of 70 sends writes a few index pages
    instead of 70 scattered ones (random ids doubled ``delivery.db``'s write-ahead log
    under load). The receipt, not the id, is what settles a job."""
    return f"{time.time_ns():016x}{os.urandom(8).hex()}"


def _instant(epoch_seconds: float) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)


class _Send:
    __slots__ = ("done", "error", "params")

    def __init__(self, params: list[tuple[Any, ...]]) -> None:
        self.params = params
        self.done = False
        self.error: BaseException | None = None


class _GroupCommit:
    """Group commit: a thread whose rows arrive while another thread's commit is under
    way waits for it, then commits every row that piled up meanwhile in one durable
    transaction. Each caller returns only once its own rows are committed; if the
    group's transaction fails, every caller in it gets the error (nothing of the group
    is queued)."""

    def __init__(self, db: DeliveryDatabase) -> None:
        self._db = db
        self._cond = threading.Condition()
        self._pending: list[_Send] = []
        self._committing = False

    def commit(self, params: list[tuple[Any, ...]]) -> None:
        mine = _Send(params)
        with self._cond:
            self._pending.append(mine)
            while self._committing and not mine.done:
                self._cond.wait()
            if mine.done:
                if mine.error is not None:
                    raise _again(mine.error) from mine.error
                return
            group, self._pending, self._committing = self._pending, [], True
        error: BaseException | None = None
        try:
            with self._db.write(_CLASH) as conn:
                conn.executemany(_SEND, [row for send in group for row in send.params])
        except BaseException as exc:
            error = exc
        with self._cond:
            for send in group:
                send.done, send.error = True, error
            self._committing = False
            self._cond.notify_all()
        if error is not None:
            raise error


def _again(error: BaseException) -> StoreError:
    """The group's error for one more waiting thread (one exception object must not be
    raised in several threads at once)."""
    if isinstance(error, StoreError):
        return type(error)(*error.args)
    return StoreError(f"queueing failed: {error}")
