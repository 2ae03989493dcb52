"""Workers forked from the pool's zygote: lifecycle, recovery, exit statuses, fallback."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from functions_runtime.sandbox.host.zygote_client import ForkedProcess, Launcher

TRACK = {"type": "track", "event": "Signed Up", "userId": "u1"}
OK = "def on_track(event, settings):\n    return 'ok'\n"
SLEEPY = "import time\ndef on_track(event, settings):\n    time.sleep(30)\n"


def spec(src: str, key: str = "k", **kw: Any) -> InstanceSpec:
    kw.setdefault("timeout", 5.0)
    return InstanceSpec(key=key, source=textwrap.dedent(src), filename="handler.py", **kw)


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=4, spares=0) as p:
        yield p


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read()


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[0] not in "ZX":
                        alive.append(pid)
            except OSError:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


# nanosleep and clock_nanosleep: what time.sleep waits in (x86_64; aarch64).
_SLEEP_SYSCALLS = {"x86_64": {"35", "230"}, "aarch64": {"101", "115"}}.get(
    platform.machine(), set()
)


def _wait_asleep(pid: int, timeout: float = 20.0) -> bool:
    """Wait until ``pid`` is inside a sleep system call (/proc/PID/syscall): the
    handler is running, past the frame read, rather than guessing how long that takes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/syscall") as fh:
                if fh.read().split()[0] in _SLEEP_SYSCALLS:
                    return True
        except (OSError, IndexError):
            pass
        time.sleep(0.01)
    return False


def _kill_while_running(pool: WorkerPool, signum: int) -> dict[str, Any]:
    """Run SLEEPY, send ``signum`` to its worker from outside, return the result."""
    results: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: results.extend(pool.invoke(spec(SLEEPY), [TRACK])))
    thread.start()
    deadline = time.monotonic() + 10
    while not pool.worker_pids() and time.monotonic() < deadline:
        time.sleep(0.02)
    [pid] = pool.worker_pids()
    assert _wait_asleep(pid), "the handler never reached its sleep"
    os.kill(pid, signum)
    thread.join(20)
    [result] = results
    return result


def test_workers_are_forked_by_the_zygote(pool: WorkerPool):
    pool.invoke(spec(OK, key="a"), [TRACK])
    pool.invoke(spec(OK, key="b"), [TRACK])
    zygote = pool.launcher.zygote_pid
    assert zygote is not None
    assert b"functions_runtime.sandbox.guest.zygote" in _cmdline(zygote)
    pids = pool.worker_pids()
    assert len(pids) == 2
    assert all(_ppid(pid) == zygote for pid in pids)
    assert all(os.getpgid(pid) == pid for pid in pids)  # own session: killpg works
    assert pool.launcher.fallbacks == 0


def test_zygote_is_not_limited_to_no_processes_but_has_no_core_dumps(pool: WorkerPool):
    pool.prestart()
    zygote = pool.launcher.zygote_pid
    with open(f"/proc/{zygote}/limits") as fh:
        limits = {line[:26].strip(): line[26:].split() for line in fh.read().splitlines()[1:]}
    assert limits["Max core file size"][:2] == ["0", "0"]
    assert limits["Max processes"][0] != "0"
    assert os.getpgid(zygote) == zygote


def test_timeout_memory_and_crash_outcomes_from_forked_workers(pool: WorkerPool):
    [late] = pool.invoke(spec(SLEEPY, timeout=0.5), [TRACK])
    assert (late["outcome"], late["error"]["type"]) == ("retry", "TimeoutError")
    assert late["error"]["message"] == "the handler did not finish within 0.5 s"
    hog = """
    def on_track(event, settings):
        chunks = []
        for _ in range(64):
            chunks.append(bytearray(16 * 1024 * 1024))
        return len(chunks)
    """
    [big] = pool.invoke(spec(hog, key="hog", memory_mb=128), [TRACK])
    assert big["outcome"] == "retry"
    assert big["error"]["type"] in {"MemoryLimitExceeded", "MemoryError"}
    [after] = pool.invoke(spec(OK, key="after"), [TRACK])
    assert after["result"] == "ok"


@pytest.mark.parametrize(
    ("signum", "message"),
    [
        (signal.SIGXCPU, "the handler used up its CPU time limit (SIGXCPU)"),
        (signal.SIGKILL, "the worker was stopped by SIGKILL"),
        (signal.SIGTERM, "the worker was stopped by SIGTERM"),
    ],
)
@pytest.mark.parametrize("fork", [True, False])
def test_death_messages_match_exec_workers(fork: bool, signum: int, message: str):
    with WorkerPool(max_workers=2, spares=0, launcher=Launcher(fork=fork)) as pool:
        result = _kill_while_running(pool, signum)
    assert (result["outcome"], result["error"]["type"]) == ("retry", "WorkerCrashed")
    assert result["error"]["message"] == message


def test_exit_status_is_reported_through_the_zygote(pool: WorkerPool):
    worker = pool.launcher.launch()
    assert isinstance(worker.proc, ForkedProcess)
    assert worker.proc.poll() is None
    os.close(worker.stdin)  # the worker reads EOF before any load frame: exits 0
    assert worker.proc.wait(timeout=10) == 0
    assert worker.proc.returncode == 0
    os.close(worker.stdout)
    os.close(worker.stderr)


def test_killing_the_zygote_kills_its_workers_and_the_pool_recovers(pool: WorkerPool):
    pool.invoke(spec(OK, key="a"), [TRACK])
    [worker] = pool.worker_pids()
    zygote = pool.launcher.zygote_pid
    assert zygote is not None
    os.kill(zygote, signal.SIGKILL)
    assert _gone_within([worker], 5), "an orphaned worker outlived its zygote"
    [again] = pool.invoke(spec(OK, key="a"), [TRACK])  # the same instance: a new worker
    assert again["outcome"] == "delivered", again
    [other] = pool.invoke(spec(OK, key="b"), [TRACK])
    assert other["outcome"] == "delivered", other
    assert pool.launcher.zygote_pid not in (None, zygote)
    assert pool.launcher.fallbacks == 0


def test_a_broken_zygote_falls_back_to_exec_workers():
    broken = Launcher(zygote_command=[sys.executable, "-c", "pass"])
    with WorkerPool(max_workers=2, spares=0, launcher=broken) as pool:
        [result] = pool.invoke(spec(OK), [TRACK])
        assert result["outcome"] == "delivered", result
        assert broken.fallbacks == 1
        [pid] = pool.worker_pids()
        assert _ppid(pid) == os.getpid()
        assert b"functions_runtime.sandbox.guest.worker" in _cmdline(pid)
        [late] = pool.invoke(spec(SLEEPY, key="late", timeout=0.5), [TRACK])
        assert late["error"]["type"] == "TimeoutError"


def test_exec_only_pool_still_works():
    with WorkerPool(max_workers=2, spares=1, launcher=Launcher(fork=False)) as pool:
        for key in ("a", "b"):
            [result] = pool.invoke(spec(OK, key=key), [TRACK])
            assert result["result"] == "ok"
        assert pool.launcher.zygote_pid is None
        assert pool.spare_hits == 1


def test_close_stops_the_zygote_and_its_workers():
    pool = WorkerPool(max_workers=2, spares=1)
    pool.invoke(spec(OK), [TRACK])
    zygote = pool.launcher.zygote_pid
    assert zygote is not None
    pids = [*pool.worker_pids(), zygote]
    pool.close()
    assert _gone_within(pids, 5)


@pytest.mark.skipif(not _SLEEP_SYSCALLS, reason="sleep syscall numbers known for x86_64, aarch64")
def test_neither_zygote_nor_workers_outlive_a_killed_host(tmp_path: Path):
    host = tmp_path / "host.py"
    host.write_text(
        textwrap.dedent("""
        import threading, time
        from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
        pool = WorkerPool(spares=1)
        src = "import time\\ndef on_track(e, s):\\n    time.sleep(600)\\n"
        spec = InstanceSpec(key="k", source=src, filename="h.py", timeout=300)
        event = {"type": "track", "event": "x", "userId": "u"}
        threading.Thread(target=pool.invoke, args=(spec, [event]), daemon=True).start()
        SLEEPING = {SLEEPING!r}
        while not pool.worker_pids():
            time.sleep(0.05)
        [pid] = pool.worker_pids()
        while open(f"/proc/{pid}/syscall").read().split()[0] not in SLEEPING:
            time.sleep(0.01)  # polled until the handler is in its sleep
        print(pool.launcher.zygote_pid, *pool.worker_pids(), flush=True)
        time.sleep(600)
    """).replace("{SLEEPING!r}", repr(_SLEEP_SYSCALLS))
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, str(host)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    proc.send_signal(signal.SIGKILL)  # the host dies while the handler sleeps
    proc.wait()
    proc.stdout.close()
    if not _gone_within(pids, 5):
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        raise AssertionError("the zygote or a worker outlived its host")


def test_a_dead_worker_is_seen_dead_while_another_thread_holds_the_socket(pool: WorkerPool):
    pool.invoke(spec(OK), [TRACK])
    [worker] = list(pool._workers)
    assert isinstance(worker.proc, ForkedProcess)
    zygote = worker.proc._zygote
    held = threading.Event()

    def hold() -> None:  # as a spawn in another thread would, a little longer
        with zygote._lock:
            held.set()
            time.sleep(0.5)

    os.kill(worker.proc.pid, signal.SIGKILL)
    thread = threading.Thread(target=hold)
    thread.start()
    held.wait()
    assert _gone_within([worker.proc.pid], 5), "SIGKILL did not land"
    assert not worker.alive()
    assert worker.death_message() == "the worker was stopped by SIGKILL"
    thread.join()
