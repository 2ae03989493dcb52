"""The pool's batch outcome and its memory of compiled code (``sandbox/host/pool.py``).

Written for mutation testing (issue 18): no worker is started here.
"""

from __future__ import annotations

import pytest

from functions_runtime.sandbox.host.pool import (
    COMPILE_CACHE,
    COMPILE_CACHE_BYTES,
    InstanceSpec,
    WorkerPool,
    summarise,
)


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


LIMIT = 16


def test_the_compiled_code_remembered_is_the_most_recently_used() -> None:
    """Each code is compiled once (the same answer object comes back) until ``LIMIT``
    other codes have been used since."""
    pool = WorkerPool(spares=0, compile_cache=(LIMIT, COMPILE_CACHE_BYTES))
    try:
        first = [pool._loadable(code(n)) for n in range(LIMIT)]
        assert all(isinstance(found, list) and found for found in first)  # no handler
        assert all(pool._loadable(code(n)) is first[n] for n in range(LIMIT))
        assert pool._loadable(code(0)) is first[0]  # now the most recently used
        newest = pool._loadable(code(LIMIT))
        again = pool._loadable(code(1))
        assert again is not first[1], "the least recently used was kept"
        assert again == first[1]
        assert pool._loadable(code(0)) is first[0]
        assert pool._loadable(code(LIMIT)) is newest
        assert len(pool._compiled) == LIMIT
    finally:
        pool.close()


def test_the_compiled_code_remembered_stays_within_its_bytes() -> None:
    """Packed code counts by its length: past the byte budget the least recently used
    go, but the newest always stays."""
    source = "def on_track(event, settings):\n    return {!r}\n"
    specs = [
        InstanceSpec(key=f"b{n}", source=source.format("x" * 3000 * n), filename="handler.py")
        for n in range(1, 5)
    ]
    sizes = []
    with WorkerPool(spares=0, compile_cache=(COMPILE_CACHE, 1)) as tiny:
        for spec in specs:
            packed = tiny._loadable(spec)
            assert isinstance(packed, str)
            sizes.append(len(packed))
            assert list(tiny._compiled.values()) == [packed]  # alone, over the budget
            assert tiny._compiled_bytes == len(packed)
    budget = sizes[2] + sizes[3]
    with WorkerPool(spares=0, compile_cache=(COMPILE_CACHE, budget)) as pool:
        for spec in specs:
            pool._loadable(spec)
        assert len(pool._compiled) == 2  # the last two fit; the first two were dropped
        assert pool._compiled_bytes == budget
        pool._loadable(specs[0])  # compiled again: the oldest kept one goes
        assert pool._compiled_bytes == sizes[0] + sizes[3]


def test_refused_code_starts_no_worker() -> None:
    pool = WorkerPool(spares=0)
    try:
        [result] = pool.invoke(code(1), [{"type": "track", "event": "x", "userId": "u"}])
        assert result["outcome"] == "invalid"
        assert "handler" in result["error"]["message"]
        assert (pool.starts, pool.worker_pids()) == (0, [])
    finally:
        pool.close()
