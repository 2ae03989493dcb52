"""The embedded delivery backend: queue, delivery records and idempotency in SQLite.

Layout of ``data_dir`` (0o700 when created here)::

    delivery.db     the queue (jobs, dead_letters), deliveries and idempotency tables
                    (SQLite, WAL, synchronous=FULL), with -wal and -shm beside it

It is a separate file from the control plane's ``functions.db``, so ingest and the
workers never wait on control-plane writes (SQLite has one writer per file). Several
processes may open the same directory (``serve`` restarting, a CLI replaying dead
letters): SQLite serialises their writes, and a process killed at any moment loses
nothing that ``Queue.send`` returned for.

Imports: the delivery and control cores, ``control.embedded`` and Powertools; never
boto3, the AWS backends or anything above ``delivery``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ...control.embedded.files import make_private_dir
from ..ports import DeliveryBackend
from .database import DeliveryDatabase
from .deliveries import EmbeddedDeliveryStore
from .idempotency import SQLitePersistenceLayer
from .queue import EmbeddedQueue

__all__ = [
    "DATABASE_FILE",
    "EmbeddedDeliveryStore",
    "EmbeddedQueue",
    "SQLitePersistenceLayer",
    "open_delivery",
]

DATABASE_FILE = "delivery.db"


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
    db = DeliveryDatabase(root / DATABASE_FILE)
    return DeliveryBackend(
        queue=EmbeddedQueue(db, clock),
        deliveries=EmbeddedDeliveryStore(db),
        idempotency=SQLitePersistenceLayer(db, clock),
        # The delivery side's group writes skip their own fsync: losing them to a power
        # cut means an event delivered again, never one lost (sends stay durable).
        transaction=lambda: db.transaction(durable=False),
        deferred=db.deferred,
    )
