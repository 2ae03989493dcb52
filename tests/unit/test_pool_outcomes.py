"""The pool's batch outcome and its memory of refused code (``sandbox/host/pool.py``).

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


def test_the_refused_code_remembered_is_the_most_recently_used() -> None:
    pool = WorkerPool(spares=0)
    try:
        for n in range(COMPILE_CACHE):
            pool._remember_refusal(code(n), [f"problem {n}"])
        assert all(pool._refused(code(n)) == [f"problem {n}"] for n in range(COMPILE_CACHE))
        assert pool._refused(code(0)) == ["problem 0"]  # now the most recently used
        pool._remember_refusal(code(COMPILE_CACHE), ["newest"])
        assert pool._refused(code(1)) is None, "the least recently used was kept"
        assert pool._refused(code(0)) == ["problem 0"]
        assert pool._refused(code(COMPILE_CACHE)) == ["newest"]
    finally:
        pool.close()
