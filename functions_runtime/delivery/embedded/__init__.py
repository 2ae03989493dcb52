"""The embedded delivery backend: queue, delivery records and idempotency in SQLite.

Layout of ``data_dir`` (0o700 when created here)::

    delivery.db     the queue: jobs and dead_letters tables
    records.db      the deliveries (delivery records), request_sets (their outgoing
                    requests, once per call) and idempotency tables

(SQLite, WAL, synchronous=FULL, each with -wal, -shm and .lock beside it.) They are
separate files from the control plane's ``functions.db`` and from each other, so ingest
and the workers never wait on control-plane writes, and ingest's sends never wait on
the delivery loops' records and claims (SQLite has one writer per file). Several
processes may open the same directory (``serve`` restarting, a CLI replaying dead
letters): SQLite serialises their writes, and a process killed at any moment loses
nothing that ``Queue.send`` returned for. A ``delivery.db`` from a release that kept
the records in it is upgraded on open (``database.move_records``).

A part's settlement is two commits, the records' file first (delivery records,
idempotency results), then the queue's (acks, retries, dead letters). A crash between
them leaves the jobs to come back: their idempotency records say they were delivered,
so they are acknowledged without running again (a retry or a dead letter whose queue
write was lost is run again once its visibility timeout has passed).

Imports: the delivery and control cores, ``control.embedded`` and Powertools; never
boto3, the AWS backends or anything above ``delivery``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ...control.embedded.files import make_private_dir
from ..ports import DeliveryBackend
from .database import DeliveryDatabase, RecordsDatabase, move_records
from .deliveries import EmbeddedDeliveryStore
from .idempotency import SQLitePersistenceLayer
from .queue import EmbeddedQueue

__all__ = [
    "DATABASE_FILE",
    "RECORDS_FILE",
    "EmbeddedDeliveryStore",
    "EmbeddedQueue",
    "SQLitePersistenceLayer",
    "open_delivery",
]

DATABASE_FILE = "delivery.db"
RECORDS_FILE = "records.db"


def open_delivery(
    data_dir: str | Path, *, clock: Callable[[], float] = time.time
) -> DeliveryBackend:
    """The embedded delivery backend over ``data_dir``, created (0o700) if missing.

    ``clock`` gives the time in epoch seconds (visibility, delays, timestamps, expiry of
    idempotency records). Raises ``StoreError`` with what to do when the directory or
    database cannot be used.
    """
    root = Path(data_dir).expanduser()
    make_private_dir(root)
    records = RecordsDatabase(root / RECORDS_FILE)
    queue = DeliveryDatabase(root / DATABASE_FILE)
    moved = move_records(queue, records)
    if moved:
        logging.getLogger("functions.delivery").warning(
            "upgraded %s: moved %d delivery records and idempotency keys to %s",
            root / DATABASE_FILE,
            moved,
            RECORDS_FILE,
        )

    @contextmanager
    def deferred() -> Iterator[None]:
        # Left to right on entry, so the records' block ends (commits) first.
        with queue.deferred(), records.deferred():
            yield

    return DeliveryBackend(
        queue=EmbeddedQueue(queue, clock),
        deliveries=EmbeddedDeliveryStore(records),
        idempotency=SQLitePersistenceLayer(records, clock),
        # The delivery side's group writes skip their own fsync: losing them to a power
        # cut means an event delivered again, never one lost (sends stay durable).
        transaction=lambda: records.transaction(durable=False),
        deferred=deferred,
    )
