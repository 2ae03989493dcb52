"""Fixtures for the sandbox security suite; the helpers live in sandbox_harness.py."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from sandbox_harness import ENV_CANARIES, LoopbackListener, Sandbox, leaks_in

from functions_runtime.sandbox.host.pool import WorkerPool, worker_environment


@pytest.fixture(scope="module")
def canary_env() -> Iterator[dict[str, str]]:
    """Canaries in the host environment for the whole module (restored afterwards)."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in ENV_CANARIES.items():
            mp.setenv(name, value)
        yield dict(ENV_CANARIES)


@pytest.fixture(scope="module")
def sandbox(canary_env: dict[str, str]) -> Iterator[Sandbox]:
    """One pool per test module, started after the canaries are in place."""
    assert all(os.environ[k] == v for k, v in canary_env.items())
    assert not leaks_in(json.dumps(worker_environment()))
    listener = LoopbackListener()
    pool = WorkerPool(max_workers=4, spares=3)
    try:
        box = Sandbox(pool, listener)
        first = box.run_a()
        assert first["outcome"] == "delivered", first
        assert first["result"] == {"ok": True}, first
        yield box
    finally:
        pool.close()
        listener.close()
