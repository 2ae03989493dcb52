"""OS confinement of one sandbox worker, applied before any instance's code exists in it.

Called in the zygote's forked child (and at the start of an exec'ed fallback worker)
once its pipes are on fds 0-2 and its protocol descriptors are set up, and *before* the
first frame (the instance's code and settings) is read. The order is forced by what each
step needs and what each step takes away:

1. **Descriptors**: every descriptor but the worker's pipes (and its ``/dev/null``
   stdout) is already closed by the caller, first, so nothing opened by the zygote or
   the host (the control socket, another worker's pipe) survives into what follows.
   Opening ``/dev/null`` and reading the address-space size happen here too, because
   the filesystem is gone after step 5.
2. **Orphan kill**: ``PR_SET_PDEATHSIG(SIGKILL)``: the worker dies with its parent,
   without a watchdog thread (step 6 forbids threads).
3. **no_new_privs**: required by Landlock and seccomp for an unprivileged process, and
   it makes the uid drop below final (no set-uid program could raise it again).
4. **Identity**: when root, ``setgroups([])``, then gid, then uid 65534 (in that order:
   after ``setresuid`` the process may no longer change its groups). Inside a user
   namespace where 65534 is not mapped, the worker drops every capability instead.
   Done before Landlock and seccomp because both forbid these calls afterwards.
5. **Landlock** (when the kernel has it): a ruleset that handles every filesystem right
   of the running ABI and grants none (no file, no directory, not even ``/dev/null``),
   from ABI 4 no TCP bind or connect, from ABI 6 no signal to and no abstract-socket
   connection with a process outside the worker's own domain. Before seccomp, which
   denies the Landlock system calls.
6. **seccomp-bpf**: an allow-list, applied last because it denies ``prctl``, the
   identity calls and Landlock's own calls used above (see ``seccomp.py``).

Everything a worker's Python can need later is imported by the zygote beforehand
(``zygote._preload``), so no file has to be opened after step 5.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from . import seccomp

__all__ = [
    "LAYERS",
    "NOBODY",
    "Applied",
    "Layers",
    "confine",
    "landlock_abi",
    "libc",
    "no_new_privs",
]

NOBODY = 65534
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

# Landlock (include/uapi/linux/landlock.h); the same numbers on every architecture.
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

_CAPSET = {"x86_64": 126, "aarch64": 91}
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

LAYERS = ("no_new_privs", "uid", "landlock", "seccomp")


@dataclass(frozen=True)
class Layers:
    """Which OS layers to apply. Production applies all of them (each only where the
    platform has it); the test tree's proof harness applies subsets to show which layer
    stops which attack."""

    no_new_privs: bool = True
    uid: bool = True
    landlock: bool = True
    seccomp: bool = True

    @staticmethod
    def only(*names: str) -> Layers:
        unknown = set(names) - set(LAYERS)
        if unknown:
            raise ValueError(f"unknown layers: {sorted(unknown)}")
        # no_new_privs always: Landlock and seccomp need it when the worker is not root.
        return Layers(**{name: name in names or name == "no_new_privs" for name in LAYERS})


@dataclass
class Applied:
    """What :func:`confine` did (reported by ``functions doctor``'s probe)."""

    layers: dict[str, str] = field(default_factory=dict)  # name -> "active" or the reason


# libc and the ctypes types are made once, at import, which is in the zygote: a worker
# forked from it calls them at once. Made in each forked child, they cost about 0.5 ms
# the first time (loading libc's handle and resolving the symbol, in pages the child
# must first copy) and 50 µs each time after.
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.syscall.restype = ctypes.c_long
_LIBC.prctl  # noqa: B018 - resolved here, before any fork


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def libc() -> ctypes.CDLL:
    """This process's libc (the handle made at import)."""
    return _LIBC


def _prctl(option: int, arg: int) -> None:
    if _LIBC.prctl(option, arg, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def no_new_privs() -> bool:
    return bool(_LIBC.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when it has none (or it is disabled)."""
    version = _LIBC.syscall(
        ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )
    return max(int(version), 0)


def _fs_rights(abi: int) -> int:
    return _FS_RIGHTS_BY_ABI[max(k for k in _FS_RIGHTS_BY_ABI if k <= abi)]


def _landlock(abi: int) -> None:
    """Restrict this thread (the worker has one) to no filesystem, no TCP, no scope."""
    attr = _RulesetAttr(
        _fs_rights(abi),
        NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0,
    )
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    fd = _LIBC.syscall(
        ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
        ctypes.byref(attr),
        ctypes.c_size_t(size),
        ctypes.c_uint32(0),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_create_ruleset: {os.strerror(err)}")
    try:
        if _LIBC.syscall(ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), fd, ctypes.c_uint32(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_restrict_self: {os.strerror(err)}")
    finally:
        os.close(fd)


def _drop_capabilities() -> None:
    """capset(2) to empty effective, permitted and inheritable sets."""
    number = _CAPSET.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, "capset: unknown architecture")
    header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if _LIBC.syscall(ctypes.c_long(number), ctypes.byref(header), ctypes.byref(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def _drop_identity() -> str:
    """Root becomes nobody; root of a user namespace loses its capabilities."""
    if os.geteuid() != 0:
        return f"not root: runs as uid {os.geteuid()}"
    try:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)  # clears every capability
        return "active"
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EPERM):
            raise
    # A user namespace that maps only our own uid (to 0): no 65534 to become.
    _drop_capabilities()
    return "active (root of a user namespace: every capability dropped)"


def set_parent_death_kill() -> None:
    """Die with the parent (the zygote, or the host for an exec'ed worker)."""
    parent = os.getppid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent != 1 and os.getppid() != parent:  # it died before the prctl
        os._exit(1)


def _apply(applied: Applied, name: str, step: Callable[[], str]) -> None:
    """Run one layer's ``step``; a failure is recorded (the host's isolation policy
    decides whether a worker missing it may run customer code), never raised."""
    try:
        applied.layers[name] = step()
    except OSError as exc:
        applied.layers[name] = f"missing: {exc.strerror or exc}"


def _landlock_step() -> str:
    abi = landlock_abi()
    if not abi:
        return "missing: the kernel has no Landlock"
    _landlock(abi)
    return f"active (ABI {abi})"


def _seccomp_step() -> str:
    if not seccomp.supported():
        return f"missing: no filter for the {platform.machine()} architecture"
    seccomp.install(seccomp.allow_list(os.getpid()))
    return "active"


def _no_new_privs_step() -> str:
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    return "active"


def confine(layers: Layers | None = None) -> Applied:
    """Apply ``layers`` (all by default) to this process, in the order of the module
    docstring, and say what is active. A layer that fails is reported as missing and
    the next is still tried: if no_new_privs fails, Landlock and seccomp are attempted
    anyway (the kernel refuses both to a process that has neither no_new_privs nor
    CAP_SYS_ADMIN, so they are reported missing too; a privileged process still gets
    them)."""
    layers = layers or Layers()
    applied = Applied()
    if layers.no_new_privs:
        _apply(applied, "no_new_privs", _no_new_privs_step)
    if layers.uid:
        _apply(applied, "uid", _drop_identity)
    if layers.landlock:
        _apply(applied, "landlock", _landlock_step)
    if layers.seccomp:
        _apply(applied, "seccomp", _seccomp_step)
    return applied
