"""The zygote's namespaces (``guest/namespaces.py``), entered by a forked child of the
test process and inspected from inside: what each namespace hides, each mount's type,
flags and size, the user namespace's maps when the caller is not root, the fallback
when ``/proc`` cannot be mounted, and what ``enter`` does when ``unshare`` is refused.

``test_os_confinement.py`` shows the namespaces' effect on attacks (no network, no host
pid); this file pins each setting, so that a weaker one (a shared ``/tmp``, a ``/proc``
without ``hidepid``, a mapped uid other than the caller's) fails a test.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

import pytest
from forked import UNSHARE, refuse_calls, run_forked

from functions_runtime.sandbox.guest import namespaces

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux namespaces")
ROOT = os.geteuid() == 0
NOBODY = 65534
ST_NOSUID, ST_NODEV, ST_NOEXEC = 2, 4, 8
CLONE_NEWUTS, CLONE_NEWNS = 0x04000000, 0x00020000
MS_REC, MS_SLAVE, MS_SHARED = 0x4000, 1 << 19, 1 << 20


def _in_child(job: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``job()`` in a forked child (the namespaces are its own): what it returned, and
    the child's exit code under ``"exit"``."""
    [answer], status = run_forked(lambda _fd: job())
    return {**answer, "exit": os.waitstatus_to_exitcode(status)}


def _mounts() -> dict[str, tuple[str, str, str, str]]:
    """mount point -> (type, source, super options, optional fields)."""
    out = {}
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, right = line.split(" - ")
            fields = left.split()
            fstype, source, super_options = right.split()
            out[fields[4]] = (fstype, source, super_options, " ".join(fields[6:]))
    return out


def _unshare(flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _flags(path: str) -> int:
    return os.statvfs(path).f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC)


def _network() -> list[Any]:
    links = sorted(name for _, name in socket.if_nameindex())
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=5).close()
        connect: Any = "connected"
    except OSError as exc:
        connect = exc.errno
    return [links, connect]


def _inside() -> dict[str, Any]:
    """What a process sees once it has entered the namespaces."""
    tmp = os.statvfs("/tmp")
    mounts = _mounts()
    return {
        "hostname": socket.gethostname(),
        "network": _network(),
        "tmp": [
            *mounts["/tmp"][:2],
            _flags("/tmp"),
            tmp.f_blocks * tmp.f_frsize,
            os.listdir("/tmp"),
        ],
        "tmp mode": oct(os.stat("/tmp").st_mode & 0o7777),
        "shared": sorted(point for point, m in mounts.items() if "shared:" in m[3]),
        "euid": os.geteuid(),
    }


def _private_mounts() -> None:
    """As root, a mount namespace of this child's own whose mounts receive from the
    machine's but never propagate back (slave), then shared among themselves again: if
    ``enter`` ever mounted without its own ``unshare`` (a bug, or a mutant), the empty
    ``/tmp`` and ``/proc`` would cover only this child's view, never the machine's; and
    ``enter`` must still make every mount private itself (the "shared" check below)."""
    if ROOT:
        _unshare(CLONE_NEWNS)
        libc = ctypes.CDLL(None)
        for flags in (MS_REC | MS_SLAVE, MS_REC | MS_SHARED):
            assert libc.mount(b"none", b"/", None, ctypes.c_ulong(flags), None) == 0


def _named(name: bytes) -> None:
    """A UTS namespace of this child's own, named ``name`` (not the machine's name: the
    host may well be called "sandbox" too)."""
    _unshare(CLONE_NEWUTS)
    assert ctypes.CDLL(None).sethostname(name, len(name)) == 0


def _enter_then_pid1() -> dict[str, Any]:
    _private_mounts()
    _named(b"before-enter")
    flags = namespaces.enter()
    answer = {"flags": flags, **_inside()}
    child = os.fork()  # the pid namespace applies to children
    if child == 0:
        code = 0
        try:
            namespaces.mount_proc()
            proc = _mounts()["/proc"]
            listed = sorted(name for name in os.listdir("/proc") if name.isdigit())
            report = [os.getpid(), proc[0], proc[1], proc[2], _flags("/proc"), listed]
        except BaseException as exc:
            report, code = [repr(exc)], 3
        with open("/tmp/pid1.json", "w") as fh:
            json.dump(report, fh)
        os._exit(code)
    _, status = os.waitpid(child, 0)
    with open("/tmp/pid1.json") as fh:
        answer["pid1"] = json.load(fh)
    answer["pid1 exit"] = os.waitstatus_to_exitcode(status)
    return answer


@pytest.mark.skipif(not ROOT, reason="the root path (the unprivileged one is below)")
def test_root_enters_every_namespace_but_user() -> None:
    answer = _in_child(_enter_then_pid1)
    assert answer["exit"] == 0, answer
    assert answer["flags"] == namespaces.ALL
    assert namespaces.describe(answer["flags"]) == "net, pid, ipc, uts, mount"
    assert answer["hostname"] == "sandbox"
    assert answer["network"] == [["lo"], errno.ENETUNREACH]  # a loopback, down
    # /tmp: an empty private tmpfs of 1 MiB, mode 0700, nosuid, nodev, noexec
    assert answer["tmp"] == ["tmpfs", "tmpfs", ST_NOSUID | ST_NODEV | ST_NOEXEC, 1024 * 1024, []]
    assert answer["tmp mode"] == "0o700"
    assert answer["shared"] == []  # every mount private: nothing propagates to the host
    assert answer["euid"] == 0
    # pid 1 of the new pid namespace; /proc is that namespace's, with hidepid
    pid, fstype, source, options, flags, listed = answer["pid1"]
    assert pid == 1
    assert (fstype, source) == ("proc", "proc")
    assert "hidepid=invisible" in options.split(",") or "hidepid=2" in options.split(",")
    assert flags == ST_NOSUID | ST_NODEV | ST_NOEXEC
    assert listed == ["1"]
    assert answer["pid1 exit"] == 0


def _as_nobody(job: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        if ROOT:
            _private_mounts()
            _named(b"before-enter")
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            # as the zygote: dumpable, or /proc/self/uid_map becomes root's (unwritable)
            ctypes.CDLL(None, use_errno=True).prctl(4, 1, 0, 0, 0)
        return job()

    return run


def _userns_allowed() -> bool:
    def probe() -> dict[str, Any]:
        try:
            _unshare(namespaces.CLONE_NEWUSER)
        except OSError as exc:
            return {"ok": False, "errno": exc.errno}
        return {"ok": True}

    return bool(_in_child(_as_nobody(probe)).get("ok"))


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _unprivileged() -> dict[str, Any]:
    uid, gid = os.geteuid(), os.getegid()
    flags = namespaces.enter()
    return {
        "before": [uid, gid],
        "flags": flags,
        "uid_map": _read("/proc/self/uid_map").split(),
        "gid_map": _read("/proc/self/gid_map").split(),
        "setgroups": _read("/proc/self/setgroups").strip(),
        "ids": [os.geteuid(), os.getegid()],
        **_inside(),
    }


def test_an_unprivileged_caller_gets_a_user_namespace_mapping_only_itself() -> None:
    if not _userns_allowed():
        pytest.skip("unprivileged user namespaces are disabled here")
    answer = _in_child(_as_nobody(_unprivileged))
    assert answer["exit"] == 0, answer
    uid, gid = answer["before"]
    assert answer["flags"] == namespaces.ALL | namespaces.CLONE_NEWUSER
    assert namespaces.describe(answer["flags"]) == "user, net, pid, ipc, uts, mount"
    assert answer["uid_map"] == ["0", str(uid), "1"]
    assert answer["gid_map"] == ["0", str(gid), "1"]
    assert answer["setgroups"] == "deny"
    assert answer["ids"] == [0, 0]  # root inside, nobody outside
    assert answer["hostname"] == "sandbox"
    assert answer["tmp"] == ["tmpfs", "tmpfs", ST_NOSUID | ST_NODEV | ST_NOEXEC, 1024 * 1024, []]
    assert answer["tmp mode"] == "0o700"
    assert answer["shared"] == []


def test_proc_is_hidden_by_an_empty_tmpfs_when_it_cannot_be_mounted() -> None:
    """A user namespace without its own pid namespace may not mount the host's /proc."""
    if not _userns_allowed():
        pytest.skip("unprivileged user namespaces are disabled here")

    def job() -> dict[str, Any]:
        uid, gid = os.geteuid(), os.getegid()
        _unshare(namespaces.CLONE_NEWUSER | namespaces.CLONE_NEWNS)
        for path, text in [
            ("setgroups", "deny"),
            ("uid_map", f"0 {uid} 1"),
            ("gid_map", f"0 {gid} 1"),
        ]:
            with open(f"/proc/self/{path}", "w") as fh:
                fh.write(text)
        namespaces._mount("none", "/", None, namespaces.MS_REC | namespaces.MS_PRIVATE, None)
        try:
            namespaces._mount("proc", "/tmp", "proc", 0, None)
            refused: Any = "mounted"
        except OSError as exc:
            refused = [exc.errno, exc.strerror]
        namespaces.mount_proc()
        proc = os.statvfs("/proc")
        return {
            "refused": refused,
            "listed": os.listdir("/proc"),
            "mode": oct(os.stat("/proc").st_mode & 0o7777),
            "flags": _flags("/proc"),
            "size": proc.f_blocks * proc.f_frsize,
        }

    answer = _in_child(_as_nobody(job))
    assert answer["exit"] == 0, answer
    assert answer["refused"] == [errno.EPERM, "mount /tmp: Operation not permitted"]
    assert answer["listed"] == []
    assert answer["mode"] == "0o555"
    assert answer["flags"] == ST_NOSUID | ST_NODEV | ST_NOEXEC
    assert answer["size"] == 4096


def test_a_refused_unshare_enters_nothing_and_changes_nothing() -> None:
    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("system call numbers")

    def job() -> dict[str, Any]:
        if ROOT:
            _private_mounts()
            _named(b"before-enter")
        before = [socket.gethostname(), sorted(_mounts())]
        refuse_calls(UNSHARE[os.uname().machine], errno.EPERM)
        flags = namespaces.enter()
        return {"flags": flags, "same": [socket.gethostname(), sorted(_mounts())] == before}

    assert _in_child(job) == {"flags": 0, "same": True, "exit": 0}
    assert namespaces.describe(0) == "none"


def test_describe_names_each_namespace_in_a_fixed_order() -> None:
    assert namespaces.describe(namespaces.CLONE_NEWNET) == "net"
    assert namespaces.describe(namespaces.CLONE_NEWPID | namespaces.CLONE_NEWUSER) == "user, pid"
    assert namespaces.describe(1) == "none"


def test_a_failed_call_is_an_oserror_naming_what_failed() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.close(-1) == -1  # sets errno EBADF
    with pytest.raises(OSError) as raised:
        namespaces._check(-1, "close")
    assert (raised.value.errno, raised.value.strerror) == (
        errno.EBADF,
        "close: Bad file descriptor",
    )
    namespaces._check(0, "nothing")  # 0: success, no error


@pytest.mark.skipif(not ROOT, reason="an unprivileged mount fails with EPERM first")
def test_a_failed_mount_names_its_target() -> None:
    def job() -> dict[str, Any]:
        _unshare(namespaces.CLONE_NEWNS)
        try:
            namespaces._mount("tmpfs", "/nonexistent/x", "tmpfs", 0, "size=4k")
        except OSError as exc:
            return {"error": [exc.errno, exc.strerror]}
        return {"error": None}

    answer = _in_child(job)
    assert answer["error"] == [errno.ENOENT, "mount /nonexistent/x: No such file or directory"]
