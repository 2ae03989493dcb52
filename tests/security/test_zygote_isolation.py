"""What a worker forked from the zygote inherits: no descriptor of the zygote's or of
another worker's, the allow-listed environment only, its own random stream."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from sandbox_harness import ENV_CANARIES

from functions_runtime.sandbox.host.pool import InstanceSpec, Worker, WorkerPool, worker_environment
from functions_runtime.sandbox.host.zygote_client import ForkedProcess, Launcher

TRACK = {"type": "track", "event": "Signed Up", "userId": "u1"}
RANDOM = """
import random
def on_track(event, settings):
    return [random.randint(0, 2**30) for _ in range(8)]
"""


def spec(src: str, key: str) -> InstanceSpec:
    return InstanceSpec(key=key, source=textwrap.dedent(src), filename="handler.py", timeout=5)


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in ENV_CANARIES.items():
            mp.setenv(name, value)
        with WorkerPool(max_workers=4, spares=1) as p:
            for key in ("a", "b", "c"):
                [result] = p.invoke(spec(RANDOM, key), [TRACK])
                assert result["outcome"] == "delivered", result
            yield p


def _workers(pool: WorkerPool) -> list[Worker]:
    return list(pool._workers)


def _fd_targets(pid: int) -> dict[int, tuple[str, os.stat_result | None]]:
    out: dict[int, tuple[str, os.stat_result | None]] = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        path = f"/proc/{pid}/fd/{name}"
        try:
            out[int(name)] = (os.readlink(path), os.stat(path))
        except OSError:
            out[int(name)] = ("?", None)
    return out


def test_forked_worker_holds_only_its_own_pipes(pool: WorkerPool):
    workers = _workers(pool)
    assert all(isinstance(w.proc, ForkedProcess) for w in workers)
    for worker in workers:
        own = {os.fstat(fd).st_ino for fd in (worker._in, worker._out, worker._err)}
        targets = _fd_targets(worker.proc.pid)
        # 0-2 the pipes; 3 the protocol's copy of stdout; 4 sys.stdout on /dev/null
        assert sorted(targets) == [0, 1, 2, 3, 4], targets
        for fd, (link, st) in targets.items():
            assert not link.startswith("socket:"), (fd, link)  # never the control socket
            assert st is not None
            if stat.S_ISFIFO(st.st_mode):
                assert st.st_ino in own, (fd, link)  # no other worker's pipe
            else:
                assert link == "/dev/null", (fd, link)
        inodes = {st.st_ino for fd, (_, st) in targets.items() if st is not None and fd != 1}
        assert inodes - own == {os.stat(os.devnull).st_ino}  # fd 4
        assert own <= inodes  # stdin, stderr and fd 3 (stdout's copy; fd 1 is /dev/null)


def test_forked_worker_has_as_many_descriptors_as_an_exec_one():
    with WorkerPool(max_workers=1, spares=0, launcher=Launcher(fork=False)) as exec_pool:
        exec_pool.invoke(spec(RANDOM, "x"), [TRACK])
        [pid] = exec_pool.worker_pids()
        assert sorted(_fd_targets(pid)) == [0, 1, 2, 3, 4]


def test_forked_worker_environment_is_allow_listed(pool: WorkerPool):
    expected = {f"{k}={v}" for k, v in worker_environment().items()}
    for pid in pool.worker_pids():
        with open(f"/proc/{pid}/environ", "rb") as fh:
            environ = fh.read()
        assert not any(value.encode() in environ for value in ENV_CANARIES.values())
        assert set(environ.decode().strip("\0").split("\0")) == expected


def test_workers_draw_different_random_streams(pool: WorkerPool):
    streams: list[Any] = []
    for key in ("a", "b", "c"):
        [result] = pool.invoke(spec(RANDOM, key), [TRACK])
        streams.append(tuple(result["result"]))
    assert len(set(streams)) == 3, streams


NOT_DUMPABLE = """
import json, os, sys
from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
src = "def on_track(event, settings):\\n    return 1\\n"
spec = InstanceSpec(key="k", source=src, filename="h.py", timeout=10)
with WorkerPool(max_workers=2, spares=0) as pool:
    [result] = pool.invoke(spec, [{"type": "track", "event": "x", "userId": "u"}])
    zygote = pool.launcher.zygote_pid
    print(json.dumps({
        "outcome": result["outcome"],
        "uid": os.geteuid(),
        "fallbacks": pool.launcher.fallbacks,
        "zygote": None if zygote is None else os.stat(f"/proc/{zygote}/environ").st_uid,
        "workers": [os.stat(f"/proc/{p}/environ").st_uid for p in pool.worker_pids()],
    }))
"""
NOBODY = 65534


def _python_for(uid: int) -> str | None:
    """An interpreter ``uid`` can run with this one's packages: this one, or the system's
    of the same version (a root-only pyenv or venv is common in CI); None if neither."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, shutil.which(version, path="/usr/local/bin:/usr/bin")):
        if candidate is None:
            continue
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2])"],
                user=uid,
                group=uid,
                extra_groups=[],
                capture_output=True,
                text=True,
                cwd="/",
                check=False,
            )
        except PermissionError:  # e.g. under /root: uid may not reach it
            continue
        if probe.returncode == 0 and probe.stdout.strip() == str(sys.version_info[:2]):
            return candidate
    return None


def _not_dumpable_report() -> dict[str, Any]:
    """Run :data:`NOT_DUMPABLE` as this uid, or, as root, as ``nobody`` (CI runs as root,
    where every /proc file is root's and nothing can be told apart)."""
    if os.geteuid() != 0:
        command, kwargs = [sys.executable], {}
    else:
        python = _python_for(NOBODY)
        if python is None:
            pytest.skip(f"no Python {sys.version_info[:2]} that uid {NOBODY} may run")
        command = [python]
        kwargs = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    path = [p for p in sys.path if p]  # this interpreter's packages, by absolute path
    boot = f"import sys; sys.path[:0] = {path!r}; exec(sys.stdin.read())"
    done = subprocess.run(
        [*command, "-I", "-c", boot],
        input=NOT_DUMPABLE,
        capture_output=True,
        text=True,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_zygote_is_not_dumpable() -> None:
    """A compromised worker (same uid, not root) cannot ptrace or read the zygote."""
    report = _not_dumpable_report()
    assert report["uid"] != 0
    assert report["outcome"] == "delivered", report
    assert (report["fallbacks"], report["zygote"] is not None) == (0, True), (
        "the zygote did not start for an unprivileged user: workers were exec'ed",
        report,
    )
    assert report["zygote"] == 0  # what non-dumpable looks like: its /proc files are root's
    assert report["workers"] == [report["uid"]]  # the workers are dumpable again


def test_zygote_holds_no_instance_data_and_no_worker_pipes(pool: WorkerPool):
    zygote = pool.launcher.zygote_pid
    assert zygote is not None
    if not os.access(f"/proc/{zygote}/environ", os.R_OK) or os.geteuid() != 0:
        pytest.skip("the zygote is not dumpable: only root reads its descriptors")
    targets = _fd_targets(zygote)
    pipes = {
        st.st_ino for _, st in targets.values() if st is not None and stat.S_ISFIFO(st.st_mode)
    }
    for worker in _workers(pool):
        own = {os.fstat(fd).st_ino for fd in (worker._in, worker._out, worker._err)}
        assert not own & pipes  # closed right after the fork
    sockets = [link for link, _ in targets.values() if link.startswith("socket:")]
    assert len(sockets) == 1  # the control socket only
    with open(f"/proc/{zygote}/environ", "rb") as fh:
        environ = fh.read()
    assert not any(value.encode() in environ for value in ENV_CANARIES.values())
