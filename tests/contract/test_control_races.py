"""Conflict races through the control plane, on both stores: two requests that read the
same state and write at once have exactly one winner; the loser gets a 409 to retry,
and the store holds the winner's write only.

The race is forced, not hoped for: the store given to the control plane makes each
writer wait at a barrier until both have read, so both compute the same next version
number or expect the same instance revision (the stores are real; only the timing is
arranged)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from functions_runtime.control.auth import Principal
from functions_runtime.control.backend import Backend
from functions_runtime.control.errors import ServiceError
from functions_runtime.control.service import ControlPlane
from functions_runtime.sandbox.host.pool import WorkerPool

ADMIN = Principal("key_admin", None, True)
HANDLER = "def on_track(event, settings):\n    return {'v': %d}\n"


class RacingStore:
    """The real store; ``write`` calls wait until ``parties`` of them have arrived."""

    def __init__(self, store: Any, write: str, parties: int = 2) -> None:
        self._store = store
        self._write = write
        self.barrier = threading.Barrier(parties, timeout=60)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name != self._write:
            return attr

        def gated(*args: Any, **kwargs: Any) -> Any:
            self.barrier.wait()
            return attr(*args, **kwargs)

        return gated


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=1, spares=0) as p:
        yield p


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` at once; each one's result or the ServiceError it raised."""
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            out[i] = calls[i]()
        except ServiceError as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def plane_with(backend: Backend, pool: WorkerPool, write: str) -> tuple[ControlPlane, str]:
    setup = ControlPlane(backend, pool)
    _, workspace = setup.bootstrap("admin")
    racing = dataclasses.replace(backend, metadata=RacingStore(backend.metadata, write))
    return ControlPlane(racing, pool), workspace.id


def test_two_uploads_at_once_have_one_winner(backend: Backend, pool: WorkerPool) -> None:
    plane, ws = plane_with(backend, pool, "add_version")
    function, _ = ControlPlane(backend, pool).create_function(
        ADMIN, ws, files={"handler.py": HANDLER % 0}, name="fn"
    )
    outcomes = race(
        *(
            lambda n=n: plane.upload_version(
                ADMIN, ws, function.id, files={"handler.py": HANDLER % n}
            )
            for n in (1, 2)
        )
    )
    losers = [o for o in outcomes if isinstance(o, ServiceError)]
    winners = [o for o in outcomes if not isinstance(o, ServiceError)]
    assert (len(winners), len(losers)) == (1, 1), outcomes
    assert (losers[0].status, losers[0].code) == (409, "conflict")
    versions = backend.metadata.list_versions(ws, function.id)
    assert [v.number for v in versions] == [1, 2]
    assert versions[1].id == winners[0].id


def test_two_deploys_at_once_have_one_winner(backend: Backend, pool: WorkerPool) -> None:
    plane, ws = plane_with(backend, pool, "update_instance")
    direct = ControlPlane(backend, pool)
    source, _ = direct.create_source(ADMIN, ws, "web")
    function, _ = direct.create_function(ADMIN, ws, files={"handler.py": HANDLER % 0}, name="fn")
    instance = direct.deploy(ADMIN, ws, function.id, source_id=source.id)
    outcomes = race(
        *(
            lambda on=on: plane.update_instance(ADMIN, ws, instance.id, enabled=on)
            for on in (False, True)
        )
    )
    losers = [o for o in outcomes if isinstance(o, ServiceError)]
    winners = [o for o in outcomes if not isinstance(o, ServiceError)]
    assert (len(winners), len(losers)) == (1, 1), outcomes
    assert (losers[0].status, losers[0].code) == (409, "conflict")
    stored = backend.metadata.get_instance(ws, instance.id)
    assert stored is not None
    assert (stored.revision, stored.enabled) == (instance.revision + 1, winners[0].enabled)
