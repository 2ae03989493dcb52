"""The pool's batch outcome and its memory of compiled code (``sandbox/host/pool.py``).

Written for mutation testing (issue 18): no worker is started here.
"""

from __future__ import annotations

import pytest

from functions_runtime.sandbox.host.pool import COMPILE_CACHE, InstanceSpec, WorkerPool, summarise


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([], "delivered"),  # nothing ran: nothing failed
        (["delivered"], "delivered"),
        (["delivered", "filtered"], "filtered"),
        (["rejected", "filtered", "delivered"], "rejected"),
        (["retry", "rejected"], "retry"),
        (["retry", "invalid", "delivered"], "invalid"),  # by severity, not by name
    ],
)
def test_the_batch_outcome_is_the_most_severe(outcomes: list[str], expected: str) -> None:
    assert summarise([{"outcome": o} for o in outcomes]) == expected


def code(n: int) -> InstanceSpec:
    return InstanceSpec(key=f"k{n}", source=f"# version {n}\n", filename="handler.py")


def test_the_compiled_code_remembered_is_the_most_recently_used() -> None:
    """Each code is compiled once (the same answer object comes back) until
    ``COMPILE_CACHE`` other codes have been used since."""
    pool = WorkerPool(spares=0)
    try:
        first = [pool._loadable(code(n)) for n in range(COMPILE_CACHE)]
        assert all(isinstance(found, list) and found for found in first)  # no handler
        assert all(pool._loadable(code(n)) is first[n] for n in range(COMPILE_CACHE))
        assert pool._loadable(code(0)) is first[0]  # now the most recently used
        newest = pool._loadable(code(COMPILE_CACHE))
        again = pool._loadable(code(1))
        assert again is not first[1], "the least recently used was kept"
        assert again == first[1]
        assert pool._loadable(code(0)) is first[0]
        assert pool._loadable(code(COMPILE_CACHE)) is newest
        assert len(pool._compiled) == COMPILE_CACHE
    finally:
        pool.close()


def test_refused_code_starts_no_worker() -> None:
    pool = WorkerPool(spares=0)
    try:
        [result] = pool.invoke(code(1), [{"type": "track", "event": "x", "userId": "u"}])
        assert result["outcome"] == "invalid"
        assert "handler" in result["error"]["message"]
        assert (pool.starts, pool.worker_pids()) == (0, [])
    finally:
        pool.close()
