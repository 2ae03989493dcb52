"""The zygote's side of its protocol (``guest/zygote.py``), driven in the test process:
each request over a ``SOCK_SEQPACKET`` pair, each answer's exact record, and what a
forked child holds when its body starts (own session, its pipes on 0-2 and nothing
else, default SIGCHLD, no wake-up descriptor, collections on, dumpable).

``test_zygote.py`` runs the real zygote behind a ``WorkerPool``; a wrong record or a
leaked descriptor there shows up only as a fallback or a hang, if at all.
"""

from __future__ import annotations

import ctypes
import errno
import gc
import json
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from functions_runtime.sandbox.guest import namespaces, zygote
from tests.security.forked import UNSHARE, refuse_calls

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux zygote")
MESSAGE = struct.Struct("=cii")


@pytest.fixture()
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    host, control = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    yield host, control
    host.close()
    control.close()


def _pipes() -> tuple[list[int], list[int]]:
    """Three pipes: the child's ends (stdin read, stdout and stderr write), ours."""
    ends = [os.pipe() for _ in range(3)]
    theirs = [ends[0][0], ends[1][1], ends[2][1]]
    ours = [ends[0][1], ends[1][0], ends[2][0]]
    return theirs, ours


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _record(host: socket.socket) -> tuple[bytes, int, int]:
    data = host.recv(64)
    assert len(data) == MESSAGE.size, data
    kind, pid, value = MESSAGE.unpack(data)
    return kind, pid, value


def _what_a_worker_holds() -> None:
    """A body: report, on fd 1, what the forked child holds when its body starts."""
    dumpable = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
    wake = signal.set_wakeup_fd(-1)
    report = {
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "session": os.getsid(0) == os.getpid(),
        "sigchld": signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL,
        "wakeup": wake,
        "gc": gc.isenabled(),
        "dumpable": dumpable,
        "stdin": os.read(0, 100).decode(),
    }
    os.write(1, json.dumps(report).encode())


def _spawn(
    pair: tuple[socket.socket, socket.socket], body: Callable[[], None], pid_ns: bool = False
) -> tuple[int, list[int], set[int]]:
    host, control = pair
    theirs, ours = _pipes()
    socket.send_fds(host, [MESSAGE.pack(b"S", 0, 0)], theirs)
    for fd in theirs:
        os.close(fd)
    live: set[int] = set()
    assert zygote._spawn(control, live, body, pid_ns) is True
    [child] = live
    return child, ours, live


def test_a_spawned_worker_holds_only_its_pipes_in_its_own_session(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    host, _control = pair
    before = set(os.listdir("/proc/self/fd"))
    gc.disable()  # as in the zygote: the child must turn collections back on
    signal.signal(signal.SIGCHLD, lambda *_: None)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    old_wake = signal.set_wakeup_fd(wake_w)
    try:
        child, (stdin, stdout, stderr), live = _spawn(pair, _what_a_worker_holds)
    finally:
        gc.enable()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(old_wake)
        os.close(wake_r)
        os.close(wake_w)
    assert _record(host) == (b"P", child, 0)
    assert set(os.listdir("/proc/self/fd")) - before == {str(fd) for fd in (stdin, stdout, stderr)}
    os.write(stdin, b"hello")
    os.close(stdin)
    report = json.loads(_read_all(stdout))
    assert _read_all(stderr) == b""
    assert report == {
        "fds": [0, 1, 2, 3],  # its pipes, and listdir's own descriptor
        "session": True,
        "sigchld": True,
        "wakeup": -1,
        "gc": True,
        "dumpable": 1,
        "stdin": "hello",
    }
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert live == {child}


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60  # a bound against a hang, not a timing claim
    while not condition():
        assert time.monotonic() < deadline, "the condition never became true"
        time.sleep(0.01)


def _raises() -> None:
    """A body that fails, its stderr the worker's fd 2 (as in a real worker; pytest's
    capture is elsewhere) and buffered: the zygote must flush it before ``_exit``."""
    sys.stderr = os.fdopen(2, "w", buffering=8192)
    int("x")


def _reaped(host: socket.socket, control: socket.socket, live: set[int], child: int) -> int:
    """Wait until ``child`` has ended, let the zygote reap it: the status it reports."""
    _wait_for(lambda: _state(child) == "Z")
    zygote._reap(control, live)
    kind, pid, status = _record(host)
    assert (kind, pid) == (b"X", child)
    assert live == set()
    return status


@pytest.mark.parametrize(
    ("body", "code", "stderr"),
    [
        (lambda: None, 0, ""),
        (lambda: sys.exit(7), 7, ""),
        (lambda: sys.exit("a message"), 1, ""),
        (_raises, 1, "ValueError: invalid literal for int() with base 10: 'x'\n"),
    ],
    ids=["returns", "exits 7", "exits with text", "raises"],
)
def test_the_exit_status_of_a_worker_is_reported(
    pair: tuple[socket.socket, socket.socket], body: Callable[[], None], code: int, stderr: str
) -> None:
    host, control = pair
    child, ours, live = _spawn(pair, body)
    assert _record(host) == (b"P", child, 0)
    os.close(ours[0])
    os.close(ours[1])
    err = _read_all(ours[2]).decode()
    status = _reaped(host, control, live, child)
    assert os.waitstatus_to_exitcode(status) == code
    # an exception's traceback goes to the worker's stderr (the host logs it)
    assert err.endswith(stderr) and (err == "") is (stderr == ""), err


def test_a_kill_request_kills_a_live_worker_only(pair: tuple[socket.socket, socket.socket]) -> None:
    host, control = pair
    child, ours, live = _spawn(pair, lambda: os.read(0, 1) and None)
    assert _record(host) == (b"P", child, 0)
    _wait_for(lambda: os.getpgid(child) == child)  # its own group: setsid is done
    other = os.fork()  # a process of its own group that the zygote did not spawn
    if other == 0:  # pragma: no cover (the child)
        os.setpgid(0, 0)
        time.sleep(60)
        os._exit(0)
    try:
        host.send(MESSAGE.pack(b"K", other, 0))
        assert zygote._spawn(control, live, lambda: None, False) is True
        host.send(MESSAGE.pack(b"K", child, 0))
        assert zygote._spawn(control, live, lambda: None, False) is True
        status = _reaped(host, control, {child}, child)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        assert os.waitpid(other, os.WNOHANG) == (0, 0)  # still running
    finally:
        os.kill(other, signal.SIGKILL)
        os.waitpid(other, 0)
        for fd in ours:
            os.close(fd)


def test_a_request_that_is_not_a_spawn_is_refused_with_einval(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    host, control = pair
    before = set(os.listdir("/proc/self/fd"))
    theirs, ours = _pipes()
    requests = [
        (MESSAGE.pack(b"S", 0, 0), theirs[:2]),  # two descriptors, not three
        (MESSAGE.pack(b"Q", 0, 0), theirs),  # an unknown kind
        (b"S", theirs),  # not a record
    ]
    for data, fds in requests:
        socket.send_fds(host, [data], fds)
        assert zygote._spawn(control, set(), lambda: None, False) is True
        assert _record(host) == (b"F", 0, errno.EINVAL)
    for fd in theirs + ours:
        os.close(fd)
    assert set(os.listdir("/proc/self/fd")) == before  # every received descriptor closed


def test_the_zygote_stops_when_the_host_goes(pair: tuple[socket.socket, socket.socket]) -> None:
    host, control = pair
    host.shutdown(socket.SHUT_RDWR)
    assert zygote._spawn(control, set(), lambda: None, False) is False


def test_in_a_pid_namespace_the_pid_goes_as_credentials(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    host, _ = pair
    host.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    child, ours, _live = _spawn(pair, lambda: None, pid_ns=True)
    data, ancillary, _, _ = host.recvmsg(64, socket.CMSG_SPACE(12))
    assert MESSAGE.unpack(data) == (b"P", child, 0)
    [(level, kind, creds)] = ancillary
    assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)
    assert struct.unpack("=iII", creds) == (child, os.getuid(), os.getgid())
    for fd in ours:
        os.close(fd)
    os.waitpid(child, 0)


def test_reap_leaves_a_running_worker_alone(pair: tuple[socket.socket, socket.socket]) -> None:
    host, control = pair
    child, ours, live = _spawn(pair, lambda: os.read(0, 1) and None)
    assert _record(host) == (b"P", child, 0)
    zygote._reap(control, live)  # returns at once: the worker is still reading
    assert live == {child}
    os.close(ours[0])  # EOF: the worker's body returns
    status = _reaped(host, control, live, child)
    assert os.waitstatus_to_exitcode(status) == 0
    for fd in ours[1:]:
        os.close(fd)


def test_reap_without_children_sends_nothing(pair: tuple[socket.socket, socket.socket]) -> None:
    host, control = pair
    zygote._reap(control, set())
    zygote._reap(control, {123456789})  # not a child of this process
    host.setblocking(False)
    with pytest.raises(BlockingIOError):
        host.recv(64)


def _in_child(job: Callable[[], Any]) -> Any:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.close(read_fd)
        os.write(write_fd, json.dumps(job()).encode())
        os._exit(0)
    os.close(write_fd)
    answer = json.loads(_read_all(read_fd))
    os.waitpid(pid, 0)
    return answer


@pytest.mark.skipif(os.geteuid() != 0, reason="root drops to a uid whose limit applies")
def test_a_fork_that_fails_is_answered_with_its_errno() -> None:
    """A fork refused (no process left under RLIMIT_NPROC): ``F`` with the errno, the
    received descriptors closed, nothing live, and the zygote goes on serving."""

    def job() -> Any:
        import resource

        host, control = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        before = len(os.listdir("/proc/self/fd"))
        theirs, ours = _pipes()
        socket.send_fds(host, [MESSAGE.pack(b"S", 0, 0)], theirs)
        for fd in theirs + ours:
            os.close(fd)
        live: set[int] = set()
        serving = zygote._spawn(control, live, lambda: None, False)
        answer = list(MESSAGE.unpack(host.recv(64)))
        return {
            "serving": serving,
            "answer": [answer[0].decode(), *answer[1:]],
            "live": sorted(live),
            "leaked": len(os.listdir("/proc/self/fd")) - before,
            "pid": os.getpid(),
        }

    answer = _in_child(job)
    pid = answer.pop("pid")
    assert answer == {
        "serving": True,
        "answer": ["F", 0, errno.EAGAIN],
        "live": [],
        "leaked": 0,
    }, pid


@pytest.mark.skipif(os.geteuid() != 0, reason="root makes its own mount namespace")
def test_without_a_pid_namespace_the_zygote_does_not_fork() -> None:
    """``unshare`` refused: no namespaces, no fork, ``/proc`` untouched (the child makes
    a private mount namespace of its own first, so a mutant that mounts stays in it)."""

    def job() -> Any:
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.unshare(namespaces.CLONE_NEWNS) == 0
        assert libc.mount(b"none", b"/", None, ctypes.c_ulong(0x4000 | 0x40000), None) == 0
        refuse_calls(UNSHARE[os.uname().machine], errno.EPERM)
        _host, control = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        me = os.getpid()
        flags = zygote._enter_namespaces(control)
        if os.getpid() != me:  # a fork that should not have happened: report, then end
            os._exit(9)
        with open("/proc/self/mountinfo") as fh:
            proc = [line for line in fh if line.split()[4] == "/proc"]
        return {"flags": flags, "proc mounts": len(proc), "control": control.fileno() >= 0}

    assert _in_child(job) == {"flags": 0, "proc mounts": 1, "control": True}


def test_dumpable_is_set_both_ways() -> None:
    def job() -> list[int]:
        prctl = ctypes.CDLL(None).prctl
        zygote._set_dumpable(False)
        off = prctl(3, 0, 0, 0, 0)
        zygote._set_dumpable(True)
        return [off, prctl(3, 0, 0, 0, 0)]

    assert _in_child(job) == [0, 1]


@pytest.mark.skipif(os.geteuid() != 0, reason="root enters the namespaces without a user one")
def test_with_a_pid_namespace_the_zygote_serves_as_pid_1() -> None:
    """The forked child of ``_enter_namespaces`` is pid 1, in its own session, dies with
    its parent, and sees its namespace's /proc; the parent exits with its exit code."""

    def job() -> Any:
        # a mount namespace of its own, slave of the machine's: whatever the code under
        # test mounts never covers the machine's /tmp or /proc, even without its unshare
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.unshare(namespaces.CLONE_NEWNS) == 0
        for flags in (0x4000 | 1 << 19, 0x4000 | 1 << 20):  # MS_REC | MS_SLAVE, MS_SHARED
            assert libc.mount(b"none", b"/", None, ctypes.c_ulong(flags), None) == 0
        read_fd, write_fd = os.pipe()
        host, control = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        middle = os.fork()
        if middle == 0:  # pragma: no cover (becomes the waiting parent, then exits)
            os.close(read_fd)
            flags = zygote._enter_namespaces(control)
            signum = ctypes.c_int(-1)
            ctypes.CDLL(None).prctl(2, ctypes.byref(signum), 0, 0, 0)  # PR_GET_PDEATHSIG
            report = {
                "flags": flags,
                "pid": os.getpid(),
                "session": os.getsid(0) == os.getpid(),
                "pdeathsig": signum.value,
                "proc": sorted(n for n in os.listdir("/proc") if n.isdigit()),
            }
            os.write(write_fd, json.dumps(report).encode())
            os._exit(5)
        os.close(write_fd)
        control.close()
        report = json.loads(_read_all(read_fd))
        _, status = os.waitpid(middle, 0)
        host.close()
        return {**report, "exit": os.waitstatus_to_exitcode(status)}

    answer = _in_child(job)
    assert answer == {
        "flags": namespaces.ALL,
        "pid": 1,
        "session": True,
        "pdeathsig": signal.SIGKILL,
        "proc": ["1"],
        "exit": 5,
    }
