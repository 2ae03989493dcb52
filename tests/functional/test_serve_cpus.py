"""``functions serve --cpu-affinity``: serve and each delivery process on a CPU of its
own choosing, their zygotes with them (``server/cpus.py``); ``off``: the kernel's."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench.procstat import descendants
from functions_runtime.server.cpus import layout
from tests.functional.test_serve import ADMIN_KEY, base_env, serving

STARTUP = 30.0
CPUS = sorted(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs")


def allowed(pid: int) -> set[int]:
    return os.sched_getaffinity(pid)


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read().replace(b"\0", b" ").decode()


def deliverers(serve_pid: int) -> list[int]:
    return [p for p in descendants(serve_pid) if "server.deliverer" in cmdline(p)]


@pytest.mark.parametrize("flag", [[], ["--cpu-affinity", "off"]])
def test_serve_lays_out_its_processes(tmp_path: Path, flag: list[str]):
    env = base_env(FUNCTIONS_API_KEY=ADMIN_KEY)
    with serving(tmp_path / "data", env, "--delivery-processes", "2", *flag) as server:
        serve = server.process.pid
        delivery = deliverers(serve)
        assert len(delivery) == 2, server.output
        deadline = time.monotonic() + STARTUP
        while len(tree := {p: d for d in delivery for p in descendants(d)}) < len(delivery):
            assert time.monotonic() < deadline, "each delivery process starts its zygote"
            time.sleep(0.1)
        if flag:
            assert {frozenset(allowed(p)) for p in [serve, *delivery, *tree]} == {frozenset(CPUS)}
            return
        plan = layout("on", 2, CPUS)
        assert allowed(serve) == plan.serve
        assert sorted(map(sorted, map(allowed, delivery))) == sorted(map(sorted, plan.deliveries))
        assert not any(allowed(p) == set(CPUS) for p in delivery)
        for p, d in tree.items():  # the zygotes (and any worker) inherit their CPUs
            assert allowed(p) == allowed(d), cmdline(p)
        assert server.stop() == 0
