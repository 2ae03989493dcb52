"""Linux namespaces for the zygote (and so for every worker it forks).

The zygote calls :func:`enter` once it has imported everything and before it forks any
worker: new network (only a loopback, down), IPC, UTS, mount and pid namespaces, plus a
user namespace when it is not root (unprivileged user namespaces: its own uid is mapped
to 0 inside, so it may mount; workers then drop every capability, see ``confine.py``).
In the mount namespace every mount becomes private, ``/tmp`` is an empty private tmpfs
and ``/proc`` is the new pid namespace's own (a worker that could read it would see the
zygote and its siblings, never the host); if that mount is refused, an empty tmpfs
hides ``/proc`` instead.

``unshare(2)`` through ctypes rather than bubblewrap or nsjail: the zygote is already a
single-threaded process that we start and control, so the namespaces cost two system
calls and a fork (no extra binary to ship to Lambda or to find on a host, no second
process tree to supervise, no setuid helper), and the same code reports exactly what it
got. A pid namespace applies to children only, so after ``unshare`` the zygote forks
once: the child is pid 1 of the new namespace and serves as the zygote; the parent only
waits for it (and, if the host kills the parent, the child dies by ``PDEATHSIG`` and
takes every worker with it: the kernel kills a pid namespace with its pid 1).

Pids inside differ from the host's: the zygote reports each worker's pid with
``SCM_CREDENTIALS``, which the kernel translates to the host's view (see
``zygote_client.py``).
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["ALL", "CLONE_NEWNET", "CLONE_NEWPID", "describe", "enter", "mount_proc"]

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
ALL = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 0x4000, 0x40000
_NAMES = {
    CLONE_NEWUSER: "user",
    CLONE_NEWNET: "net",
    CLONE_NEWPID: "pid",
    CLONE_NEWIPC: "ipc",
    CLONE_NEWUTS: "uts",
    CLONE_NEWNS: "mount",
}


def describe(flags: int) -> str:
    return ", ".join(name for bit, name in _NAMES.items() if flags & bit) or "none"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    libc = _libc()
    _check(
        libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def enter() -> int:
    """Unshare what this process may; returns the namespaces entered (0: none).

    The pid namespace applies to the children of the caller: the caller must fork
    once and let the child serve (see the module docstring)."""
    uid, gid = os.geteuid(), os.getegid()
    flags = ALL if uid == 0 else ALL | CLONE_NEWUSER
    try:
        _check(_libc().unshare(flags), "unshare")
    except OSError:
        return 0
    if flags & CLONE_NEWUSER:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1m,mode=0700")
    _libc().sethostname(b"sandbox", 7)
    return flags


def mount_proc() -> None:
    """In pid 1 of the new namespace: ``/proc`` shows this namespace only."""
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    try:
        _mount("proc", "/proc", "proc", flags, "hidepid=2")
    except OSError:
        _mount("tmpfs", "/proc", "tmpfs", flags, "size=4k,mode=0555")
