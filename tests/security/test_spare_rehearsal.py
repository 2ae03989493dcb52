"""A spare worker's rehearsal (``guest/rehearsal.py``): a pool's spare runs one event of
a built-in handler before it is bound to any code, so that its first-touch page faults
are not on a miss's path. Real workers, the production zygote.

What must hold: only spares rehearse (a pool without spares, the CLI's and the
Lambda's, never does); the rehearsal succeeds under the worker's confinement (it is
reported, so a layer that broke it would show here); and the instance the spare then
serves sees nothing of it: no log line, no request record, no setting, and the
rehearsal's fetch never reached the host's broker.
"""

from __future__ import annotations

from typing import Any

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from functions_runtime.sandbox.host.worker import Worker
from functions_runtime.sandbox.host.zygote_client import Launcher

EVENT = {"type": "track", "event": "E", "userId": "u", "messageId": "m1"}

PROBE = """
import json
import re

def on_track(event, settings):
    print("probe", event.event)
    return {
        "settings": sorted(settings.keys()),
        "name": settings["name"],
        "patterns": [p for p in ("rehearsal", "Rehearsal") if re.search(p, "x") is not None],
        "dumped": json.dumps({"n": 1}),
    }
"""


def spec(name: str) -> InstanceSpec:
    return InstanceSpec(
        key=f"{name}:{name}",
        source=PROBE,
        filename="handler.py",
        settings={"name": name},
        store_scope=f"{name}/{name}",
        workspace=name,  # a workspace each: every instance takes a worker of its own
    )


def _worker_of(pool: WorkerPool, name: str) -> Worker:
    [worker] = [w for w in pool._workers if w.running == f"{name}:{name}"]
    return worker


def _first_event(pool: WorkerPool, name: str) -> dict[str, Any]:
    [result] = pool.invoke(spec(name), [EVENT])
    assert result["outcome"] == "delivered", result
    return result


def test_a_spare_rehearses_and_its_instance_sees_nothing_of_it() -> None:
    with WorkerPool(spares=1) as pool:
        first = _first_event(pool, "alpha")  # no spare yet: a worker started for it
        assert not _worker_of(pool, "alpha").rehearsed
        pool._spares_settled()
        served = _first_event(pool, "beta")  # the spare, rehearsed before its load
        assert pool.spare_hits == 1
        assert _worker_of(pool, "beta").rehearsed, "the rehearsal failed in the worker"
        for result, name in ((first, "alpha"), (served, "beta")):
            assert result["logs"] == ["probe E"]
            assert result["requests"] == []
            assert result["result"] == {
                "settings": ["name"],
                "name": name,
                "patterns": [],
                "dumped": '{"n": 1}',
            }
        # The rehearsal's fetch was answered in the worker: the broker never saw it.
        assert pool.broker.idle_connections("beta:beta") == 0


def test_a_pool_without_spares_never_rehearses() -> None:
    with WorkerPool(spares=0) as pool:
        _first_event(pool, "alpha")
        _first_event(pool, "beta")
        assert not _worker_of(pool, "alpha").rehearsed
        assert not _worker_of(pool, "beta").rehearsed


def test_an_execed_spare_has_nothing_to_rehearse_and_serves() -> None:
    # Without the zygote a worker has no rehearsal code: it says so and loads as usual.
    with WorkerPool(spares=1, launcher=Launcher(fork=False)) as pool:
        _first_event(pool, "alpha")
        pool._spares_settled()
        _first_event(pool, "beta")
        assert pool.spare_hits == 1
        assert not _worker_of(pool, "beta").rehearsed
