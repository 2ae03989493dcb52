"""The host's client of the zygote (``sandbox/host/zygote_client.py``), piece by piece.

``test_zygote.py`` runs it behind a ``WorkerPool``, where a wrong record, a leaked
descriptor or a lost exit report shows up only as a fallback or a hang, if at all. Here:
the pure helpers; ``_start`` and :func:`exec_worker` on real processes; one real zygote
for the whole module; and scripted stand-in zygotes (:data:`FAKE_ZYGOTE`, a few ms each)
that answer with exactly the records a test needs and log every request they get.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.sandbox.guest.namespaces import CLONE_NEWPID
from functions_runtime.sandbox.host.zygote_client import (
    ForkedProcess,
    Launched,
    Launcher,
    Zygote,
    ZygoteError,
    _gone,
    _pipes,
    _sender_pid,
    _start,
    boot_command,
    exec_worker,
    worker_environment,
)
from tests.security.forked import run_forked

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux zygote")

# A stand-in zygote: its config (JSON, argv[1]) lists the records it sends once started
# (``hello``), the records it answers each spawn request with (``on_spawn``, one list per
# request; none left: it exits without answering), those it answers a kill request with
# (``on_kill``), whether it kills the group named in a kill request (``kill``) and
# whether it exits right after ``hello`` (``exit``), after its first answer to a spawn
# request (``exit_after_spawn``) or, leaving it unread, once a request comes
# (``exit_unread``: the host's next read fails with ECONNRESET). From its second start on
# (its log exists), ``later`` overrides that config. It logs its start (pid, and whether
# its stdout and stderr are /dev/null) and every request to ``log``, one JSON line each.
FAKE_ZYGOTE = """
import json, os, select, socket, struct, sys
MESSAGE = struct.Struct("=cii")
config = json.loads(sys.argv[1])
control = socket.socket(fileno=os.dup(0))
if os.path.exists(config["log"]):  # started before: ``later`` overrides the config
    config.update(config.get("later", {}))
log = open(config["log"], "a", buffering=1)
null = os.stat(os.devnull)
quiet = [os.path.samestat(os.fstat(fd), null) for fd in (1, 2)]
log.write(json.dumps(["start", os.getpid(), quiet]) + "\\n")
def send(records):
    for kind, pid, value in records:
        control.send(MESSAGE.pack(kind.encode(), pid, value))
send(config.get("hello", []))
if config.get("exit_unread"):
    select.select([control], [], [])
    sys.exit(0)
replies = config.get("on_spawn", [])
while not config.get("exit"):
    data, fds, _, _ = socket.recv_fds(control, 64, 8)
    if not data:
        break
    kind, pid, value = MESSAGE.unpack(data)
    log.write(json.dumps(["got", kind.decode(), pid, value, len(fds)]) + "\\n")
    for fd in fds:
        os.close(fd)
    if kind == b"S":
        if not replies:
            break
        send(replies.pop(0))
        if config.get("exit_after_spawn"):
            break
    elif kind == b"K":
        if config.get("kill"):
            try:
                os.killpg(pid, 9)
            except OSError:
                pass
        send(config.get("on_kill", []))
"""

Fake = Callable[..., tuple[list[str], Path]]
EAGAIN_TEXT = os.strerror(11)


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    """``fake(**config)``: the command of a stand-in zygote, and its log."""
    count = iter(range(1000))

    def make(**config: Any) -> tuple[list[str], Path]:
        log = tmp_path / f"fake{next(count)}.log"
        config["log"] = str(log)
        return [sys.executable, "-I", "-S", "-c", FAKE_ZYGOTE, json.dumps(config)], log

    return make


def _log(path: Path) -> list[list[Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@contextlib.contextmanager
def _started(command: list[str]) -> Iterator[Zygote]:
    """A client of the stand-in zygote that ``command`` starts, closed afterwards."""
    zygote = Zygote(command)
    try:
        yield zygote
    finally:
        zygote.close()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process in its own session, for a stand-in zygote to name as its worker (it
    ends with the test process too: EOF on its stdin)."""
    code = "import sys; sys.stdin.read()"
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", code], stdin=subprocess.PIPE, start_new_session=True
    )
    yield proc
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()
    assert proc.stdin is not None
    proc.stdin.close()


@pytest.fixture(scope="module")
def launcher() -> Iterator[Launcher]:
    """One real zygote for the module."""
    launched = Launcher()
    launched.prestart()
    yield launched
    launched.close()


def _open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def _inodes(pid: int) -> dict[int, int]:
    """The inode behind each of ``pid``'s descriptors."""
    found = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            found[int(name)] = os.stat(f"/proc/{pid}/fd/{name}").st_ino
    return found


def _close(launched: Launched) -> None:
    for fd in (launched.stdin, launched.stdout, launched.stderr):
        os.close(fd)


# -- pure helpers ------------------------------------------------------------------------


def test_boot_command_runs_the_module_isolated_with_the_hosts_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "path", ["", "/app", "/deps"])
    boot = (
        "import runpy, sys; sys.path[:0] = ['/app', '/deps']; "
        "runpy.run_module('pkg.mod', run_name='__main__', alter_sys=True)"
    )
    assert boot_command("pkg.mod") == [sys.executable, "-I", "-B", "-c", boot]


def test_the_worker_environment_is_the_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LANG", "LC_ALL", "TZ"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "canary")
    base = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    assert worker_environment() == base
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    monkeypatch.setenv("TZ", "Europe/Paris")
    assert worker_environment() == {**base, "LANG": "fr_FR.UTF-8", "TZ": "Europe/Paris"}


def test_a_zygote_error_is_broken_unless_told_otherwise() -> None:
    error = ZygoteError("the zygote died")
    assert (str(error), error.broken) == ("the zygote died", True)
    assert ZygoteError("EAGAIN", broken=False).broken is False


def test_the_sender_pid_comes_from_the_credentials_only() -> None:
    creds = struct.pack("=iII", 4242, 1000, 1001)
    rights = (socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("=iII", 7, 8, 9))
    other_level = (socket.SOL_SOCKET + 1, socket.SCM_CREDENTIALS, struct.pack("=iII", 5, 0, 0))
    found = (socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds + b"\0\0\0\0")
    assert _sender_pid([rights, other_level, found]) == 4242
    assert _sender_pid([rights, other_level]) is None
    assert _sender_pid([]) is None


def test_gone_tells_a_live_process_from_a_zombie_and_a_reaped_one() -> None:
    """The process's name has a ``)`` and a state letter in it: the state is read after
    the last ``)``."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        try:
            os.close(go_w)
            with open("/proc/self/comm", "w") as fh:
                fh.write("a) Z (b")
            os.write(ready_w, b"x")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    try:
        assert os.read(ready_r, 1) == b"x"
        assert not _gone(pid)
    finally:
        os.close(go_w)  # the child ends
        os.close(ready_r)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped: a zombie
    try:
        assert _gone(pid)
    finally:
        os.waitpid(pid, 0)
    assert _gone(pid)
    assert not _gone(os.getpid())


# -- starting processes ------------------------------------------------------------------

SHOW = """
import json, os, sys
sys.stderr.write("to stderr")
print(json.dumps({
    "cwd": os.getcwd(),
    "own_session": os.getsid(0) == os.getpid(),
    "env": dict(os.environ),
    "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
    "stdin": os.fstat(0).st_ino,
}))
"""


def test_start_gives_the_process_its_pipes_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FUNCTIONS_CANARY", "host only")
    (in_r, in_w), (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe(), os.pipe()
    extra = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(extra, True)
    stdin = os.fstat(in_r).st_ino
    proc = _start([sys.executable, "-I", "-S", "-c", SHOW], stdin=in_r, stdout=out_w, stderr=err_w)
    for fd in (in_r, out_w, err_w, extra):
        os.close(fd)
    with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
        shown, errors = json.loads(out.read()), err.read()
    os.close(in_w)
    assert proc.wait() == 0
    assert errors == b"to stderr"
    assert shown["cwd"] == "/"
    assert shown["own_session"]
    assert shown["env"] == worker_environment()
    assert shown["fds"] == [0, 1, 2, 3]  # 3: the listing's own
    assert shown["stdin"] == stdin


def test_an_exec_ed_worker_holds_its_pipes_and_its_group_is_killed() -> None:
    before = _open_fds()
    launched = exec_worker()
    try:
        assert _open_fds() - before == {launched.stdin, launched.stdout, launched.stderr}
        assert isinstance(launched.proc, subprocess.Popen)
        assert launched.namespaces == 0
        assert launched.proc.args == boot_command("functions_runtime.sandbox.guest.worker")
        theirs = _inodes(launched.proc.pid)
        assert theirs[0] == os.fstat(launched.stdin).st_ino
        assert theirs[2] == os.fstat(launched.stderr).st_ino
        assert os.fstat(launched.stdout).st_ino in theirs.values()  # fd 1, or 3 once moved
        launched.kill()
        assert launched.proc.wait(timeout=10) == -signal.SIGKILL
        launched.kill()  # reaped: nothing to kill, no error
    finally:
        _close(launched)
    assert _open_fds() == before


def test_an_exec_that_fails_leaves_no_descriptor_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    before = _open_fds()
    with pytest.raises(FileNotFoundError):
        exec_worker()
    assert _open_fds() == before


def test_pipes_close_what_they_made_when_descriptors_run_out() -> None:
    def job(_: int) -> object:
        highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 16, highest + 16))
        held = []
        with contextlib.suppress(OSError):
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        free = held[-3:]  # three slots: one pipe, and half of the next
        for fd in free:
            os.close(fd)
        try:
            _pipes()
        except OSError as exc:
            still_open = []
            for fd in free:
                with contextlib.suppress(OSError):
                    os.fstat(fd)
                    still_open.append(fd)
            return [exc.errno, still_open]
        return "no error"

    [answer], status = run_forked(job)
    assert (answer, status) == ([24, []], 0)  # EMFILE, and the first pipe closed


# -- stand-in zygotes ----------------------------------------------------------------------


def test_without_a_pid_namespace_the_zygote_names_its_worker(
    fake: Fake, sleeper: subprocess.Popen[bytes]
) -> None:
    """The pid in ``P`` is the host's; the kill request names it; ``X`` ends it."""
    pid = sleeper.pid
    command, log = fake(
        hello=[["R", 0, 0]], on_spawn=[[["P", pid, 0]]], kill=True, on_kill=[["X", pid, 9]]
    )
    with _started(command) as zygote:
        before = _open_fds()
        launched = zygote.spawn()
        assert _open_fds() - before == {launched.stdin, launched.stdout, launched.stderr}
        assert isinstance(launched.proc, ForkedProcess)
        assert (launched.proc.pid, launched.namespaces, zygote.namespaces) == (pid, 0, 0)
        assert zygote.pid == zygote.proc.pid
        assert launched.proc.poll() is None
        launched.kill()
        assert launched.proc.wait(timeout=10) == -signal.SIGKILL
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
        assert zygote.returncode(pid) is None  # reported once, then forgotten
        zygote.kill(pid)  # it has ended: no request goes out
        launched.kill()
        _close(launched)
    [start, *requests] = _log(log)
    assert start == ["start", zygote.proc.pid, [True, True]]  # its output goes nowhere
    assert requests == [["got", "S", 0, 0, 3], ["got", "K", pid, 0, 0]]


def test_in_a_pid_namespace_the_host_pid_comes_as_credentials(fake: Fake) -> None:
    """The zygote's view (2) is in the message; the kernel's translation of the sender is
    the host's view (here the stand-in itself); requests carry the zygote's view."""
    command, log = fake(
        hello=[["R", 0, CLONE_NEWPID]], on_spawn=[[["P", 2, 0]]], on_kill=[["X", 2, 3 << 8]]
    )
    with _started(command) as zygote:
        zygote.wait_ready()
        assert zygote.namespaces == CLONE_NEWPID
        launched = zygote.spawn()
        assert (launched.proc.pid, launched.namespaces) == (zygote.proc.pid, CLONE_NEWPID)
        launched.kill()
        assert launched.proc.wait(timeout=1.0) == 3
        assert launched.proc.returncode == 3
        _close(launched)
    assert _log(log)[1:] == [["got", "S", 0, 0, 3], ["got", "K", 2, 0, 0]]


def test_closing_the_zygote_kills_its_workers_and_reports_them_killed(
    fake: Fake, sleeper: subprocess.Popen[bytes]
) -> None:
    command, _ = fake(hello=[["R", 0, 0]], on_spawn=[[["P", sleeper.pid, 0]]])
    zygote = Zygote(command)
    launched = zygote.spawn()
    zygote.close()
    assert launched.proc.poll() == -signal.SIGKILL  # at once: no report will come
    assert sleeper.wait(timeout=10) == -signal.SIGKILL
    _close(launched)


def test_an_exit_report_for_a_pid_never_announced_is_kept_under_that_pid(fake: Fake) -> None:
    command, _ = fake(hello=[["R", 0, 0], ["X", 4242, 1 << 8]])
    with _started(command) as zygote:
        zygote.wait_ready()
        assert zygote.returncode(4242, timeout=10) == 1


def test_a_report_read_by_another_thread_meanwhile_is_not_waited_for(fake: Fake) -> None:
    """The exit report arrives in another thread's read while this one waits for the
    lock: it is answered at once, without a read that would hold the lock (and every
    spawn) for the whole timeout (seen as 0.5 s stalls of spawns behind evictions)."""
    command, _ = fake(hello=[["R", 0, 0]])
    with _started(command) as zygote:
        zygote.wait_ready()
        looked = threading.Event()

        class Exited(dict[int, int]):
            def __contains__(self, pid: object) -> bool:
                looked.set()  # the first look, before the lock
                return super().__contains__(pid)

        zygote._exited = Exited()
        reads: list[float] = []
        zygote._pump = reads.append  # type: ignore[method-assign]
        answers: list[int | None] = []
        with zygote._lock:  # another thread reading
            waiting = threading.Thread(target=lambda: answers.append(zygote.returncode(77, 30)))
            waiting.start()
            assert looked.wait(30)
            dict.__setitem__(zygote._exited, 77, 0)  # what that read took in
        waiting.join(30)
        assert (answers, reads) == ([0], [])


def test_a_worker_whose_exit_report_is_lost_is_seen_gone(
    fake: Fake, sleeper: subprocess.Popen[bytes]
) -> None:
    command, _ = fake(hello=[["R", 0, 0]], on_spawn=[[["P", sleeper.pid, 0]]])
    with _started(command) as zygote:
        launched = zygote.spawn()
        sleeper.kill()
        sleeper.wait()
        assert launched.proc.wait(timeout=0.05) == -signal.SIGKILL
        _close(launched)


def test_a_fork_that_fails_is_no_broken_zygote(fake: Fake) -> None:
    refusals = [[["F", 0, 11]], [["F", 0, 11]], [["F", 0, 11]]]
    command, log = fake(hello=[["R", 0, 0]], on_spawn=refusals)
    with _started(command) as zygote:
        before = _open_fds()
        with pytest.raises(ZygoteError) as failed:
            zygote.spawn()
        assert str(failed.value) == f"the zygote could not fork: {EAGAIN_TEXT}"
        assert failed.value.broken is False
        assert _open_fds() == before
        assert not zygote.dead
    command, log = fake(hello=[["R", 0, 0]], on_spawn=refusals)
    launcher = Launcher(zygote_command=command)
    try:
        for fallbacks in (1, 2):
            launched = launcher.launch()  # exec'ed, and the zygote kept
            assert isinstance(launched.proc, subprocess.Popen)
            assert launcher.fallbacks == fallbacks
            launched.kill()
            launched.proc.wait()
            _close(launched)
        strict = Launcher(zygote_command=command, exec_fallback=False)
        with pytest.raises(ZygoteError) as refused:
            strict.launch()
        assert refused.value.broken is False
        strict.close()
    finally:
        launcher.close()
    assert [entry[0] for entry in _log(log)] == ["start", "got", "got", "start", "got"]


def test_a_zygote_that_never_says_ready(fake: Fake) -> None:
    command, _ = fake()
    with _started(command) as zygote:
        with pytest.raises(ZygoteError, match=r"^the zygote did not start$"):
            zygote.wait_ready(timeout=0.2)
        assert not zygote.dead


def test_a_zygote_already_ready_is_ready_at_once(fake: Fake) -> None:
    command, _ = fake(hello=[["R", 0, 0]])
    with _started(command) as zygote:
        waiting = select.poll()  # poll, not select: this process may hold fds over 1024
        waiting.register(zygote._sock, select.POLLIN)
        waiting.poll(30_000)  # the R record is waiting
        zygote.wait_ready(timeout=0.5)


def test_a_zygote_that_exits_is_dead_at_once(fake: Fake) -> None:
    command, _ = fake(exit=True)
    with _started(command) as zygote:
        with pytest.raises(ZygoteError, match=r"^the zygote did not start$"):
            zygote.wait_ready(timeout=120)  # no waiting for the deadline
        assert zygote.dead


def test_a_zygote_gone_before_a_spawn(fake: Fake) -> None:
    command, _ = fake(hello=[["R", 0, 0]], exit=True)
    with _started(command) as zygote:
        zygote.proc.wait()
        before = _open_fds()
        with pytest.raises(ZygoteError, match=r"^the zygote is gone: ") as failed:
            zygote.spawn()
        assert failed.value.broken is True
        assert zygote.dead
        assert _open_fds() == before


def test_a_zygote_that_dies_on_a_spawn_request(fake: Fake) -> None:
    command, _ = fake(hello=[["R", 0, 0]])
    with _started(command) as zygote:
        before = _open_fds()
        with pytest.raises(ZygoteError, match=r"^the zygote did not answer a spawn request$"):
            zygote.spawn()
        assert zygote.dead
        assert _open_fds() == before


def test_a_zygote_that_leaves_a_spawn_request_unread(fake: Fake) -> None:
    command, _ = fake(hello=[["R", 0, 0]], exit_unread=True)
    with _started(command) as zygote:
        with pytest.raises(ZygoteError, match=r"^the zygote did not answer a spawn request$"):
            zygote.spawn()
        assert zygote.dead


def test_a_broken_zygote_is_tried_twice_then_workers_are_exec_ed_for_a_while(
    fake: Fake,
) -> None:
    command, log = fake(hello=[["R", 0, 0]])  # dies on every spawn request
    launcher = Launcher(zygote_command=command)
    try:
        for _ in range(2):
            launched = launcher.launch()
            assert isinstance(launched.proc, subprocess.Popen)
            assert launcher.fallbacks == 1  # one switch to exec, for FALLBACK_SECONDS
            launched.kill()
            launched.proc.wait()
            _close(launched)
    finally:
        launcher.close()
    assert [entry[0] for entry in _log(log)].count("start") == 2  # not again in a while
    strict = Launcher(zygote_command=command, exec_fallback=False)
    no_fallback = r"^the zygote cannot start workers \(no exec fallback\)$"
    with pytest.raises(ZygoteError, match=no_fallback):
        strict.launch()
    strict.close()


def test_each_switch_to_exec_counts_as_a_fallback(fake: Fake) -> None:
    """A refused fork, then a zygote that breaks (the first, then its replacement)."""
    command, _ = fake(hello=[["R", 0, 0]], on_spawn=[[["F", 0, 11]]], later={"on_spawn": []})
    launcher = Launcher(zygote_command=command)
    try:
        for fallbacks in (1, 2):
            launched = launcher.launch()
            assert isinstance(launched.proc, subprocess.Popen)
            assert launcher.fallbacks == fallbacks
            launched.kill()
            launched.proc.wait()
            _close(launched)
    finally:
        launcher.close()


def test_a_launch_without_descriptors_left_fails_with_oserror(fake: Fake) -> None:
    command, _ = fake(hello=[["R", 0, 0]])

    def job(_: int) -> object:
        launcher = Launcher(zygote_command=command)
        launcher.prestart()
        highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, highest + 1))
        with contextlib.suppress(OSError):
            while True:
                os.open(os.devnull, os.O_RDONLY)
        try:
            launcher.launch()
        except OSError as exc:
            return exc.errno
        return "launched"

    [answer], status = run_forked(job)
    assert (answer, status) == (24, 0)  # EMFILE


def test_a_dead_zygote_takes_its_workers_along_and_a_new_one_is_started(
    fake: Fake, sleeper: subprocess.Popen[bytes]
) -> None:
    command, _ = fake(
        hello=[["R", 0, 0]], on_spawn=[[["P", sleeper.pid, 0]]], exit_after_spawn=True
    )
    launcher = Launcher(zygote_command=command)
    try:
        launcher.prestart()
        first = launcher.zygote_pid
        assert first is not None
        launched = launcher.launch()
        assert launched.proc.pid == sleeper.pid
        assert launched.proc.wait(timeout=10) == -signal.SIGKILL
        assert sleeper.wait(timeout=10) == -signal.SIGKILL  # killed with its zygote
        assert launcher.zygote_pid is None
        launcher.prestart()
        second = launcher.zygote_pid
        assert second not in (None, first)
        _close(launched)
    finally:
        launcher.close()
    assert not os.path.exists(f"/proc/{second}")  # closed and reaped


def test_discarding_a_zygote_already_replaced_keeps_the_current_one(fake: Fake) -> None:
    """As when two threads' spawns fail on one zygote and the first has replaced it."""
    command, _ = fake(hello=[["R", 0, 0]])
    launcher = Launcher(zygote_command=command)
    try:
        launcher.prestart()
        current = launcher.zygote_pid
        assert current is not None
        launcher._discard(Zygote(command))
        assert launcher.zygote_pid == current
    finally:
        launcher.close()


def test_a_launcher_that_does_not_fork_starts_no_zygote() -> None:
    launcher = Launcher(fork=False)
    launcher.prestart()
    assert launcher.zygote_pid is None
    launched = launcher.launch()
    assert isinstance(launched.proc, subprocess.Popen)
    assert launcher.fallbacks == 0
    launched.kill()
    launched.proc.wait()
    _close(launched)
    launcher.close()


def test_prestart_survives_a_zygote_that_cannot_start(fake: Fake) -> None:
    command, _ = fake(exit=True)
    launcher = Launcher(zygote_command=command)
    launcher.prestart()
    assert launcher.zygote_pid is None
    launcher.close()


# -- the real zygote -----------------------------------------------------------------------


def test_a_forked_worker_holds_its_pipes_and_its_exit_is_reported(launcher: Launcher) -> None:
    assert launcher.fork and launcher.exec_fallback
    launched = launcher.launch()
    assert launcher.fallbacks == 0
    proc = launched.proc
    assert isinstance(proc, ForkedProcess)
    zygote = proc._zygote
    assert launched.namespaces == zygote.namespaces
    with open(f"/proc/{proc.pid}/stat") as fh:
        assert int(fh.read().rsplit(")", 1)[1].split()[1]) == launcher.zygote_pid
    assert proc.poll() is None
    with zygote._lock:  # as during another thread's spawn: a live worker is not waited for
        assert proc.poll() is None
    for timeout in (0, 0.05):
        with pytest.raises(subprocess.TimeoutExpired) as late:
            proc.wait(timeout=timeout)
        assert (late.value.cmd, late.value.timeout) == (f"worker {proc.pid}", timeout)
    os.close(launched.stdin)  # EOF before any frame: the worker exits 0
    assert proc.wait() == 0
    assert proc.returncode == 0
    assert zygote.returncode(proc.pid) is None  # forgotten once read
    os.close(launched.stdout)
    os.close(launched.stderr)


def _own_session(pid: int) -> bool:
    """Polled until the forked child has left the zygote's session (``setsid``): a kill
    request before that finds no process group ``pid`` to kill."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.getsid(pid) == pid:
            return True
        time.sleep(0.01)
    return False


def test_a_forked_worker_is_killed_through_the_zygote(launcher: Launcher) -> None:
    launched = launcher.launch()
    assert isinstance(launched.proc, ForkedProcess)
    assert _own_session(launched.proc.pid)
    launched.kill()
    assert launched.proc.wait(timeout=10) == -signal.SIGKILL
    launched.kill()  # ended: nothing is sent
    _close(launched)
