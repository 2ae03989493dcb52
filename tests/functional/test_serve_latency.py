"""``functions serve --cpu-latency-qos on``: the kernel's CPU latency request is held
while serve runs and ends with it (``server/latency.py``); without the flag, serve
leaves it alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.test_serve import ADMIN_KEY, base_env, serving
from tests.unit.test_cpu_latency import DEVICE_USABLE, current_limit


@pytest.mark.skipif(not DEVICE_USABLE, reason="needs root and /dev/cpu_dma_latency")
def test_serve_holds_the_cpu_latency_request_while_it_runs(tmp_path: Path):
    env = base_env(FUNCTIONS_API_KEY=ADMIN_KEY)
    before = current_limit()
    with serving(tmp_path / "data", env, "--cpu-latency-qos", "on") as server:
        assert current_limit() == 0
        assert server.stop() == 0
        assert "--cpu-latency-qos: idle CPUs poll while this runs" in server.output
    assert current_limit() == before


def test_serve_without_the_flag_leaves_the_cpu_latency_alone(tmp_path: Path):
    env = base_env(FUNCTIONS_API_KEY=ADMIN_KEY)
    with serving(tmp_path / "data", env) as server:
        if DEVICE_USABLE:
            assert current_limit() > 0
        assert server.stop() == 0
        assert "cpu-latency-qos" not in server.output
