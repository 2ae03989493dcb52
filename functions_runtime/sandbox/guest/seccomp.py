"""The worker's seccomp-bpf filter: an allow-list, built here as a classic BPF program.

What a confined worker may do is compute and talk over the pipes it already holds:
read/write on its descriptors, memory management (never executable memory), futexes,
clocks and sleeps, its own interval timer (``setitimer``: a ``SIGALRM`` to itself, which
the worker uses to send the records it holds when an event runs long), ``getrandom``,
signal handling and return, its own identity and resource usage, ``setrlimit`` on
itself, signals to itself, and exit. Everything else
fails with ``EPERM``: no ``socket``/``connect``, no ``open``/``openat`` (nor any other
path-taking call), no ``execve``, no ``clone``/``fork``/``clone3`` (not even threads: the
worker has exactly one), no ``ptrace``, ``process_vm_*``, ``kill`` of another process,
``mount``/``unshare``/``setns``, ``bpf``, ``perf_event_open``, ``io_uring_*``,
``userfaultfd``, ``keyctl``, ``personality``, ``ioctl`` or ``prctl``. ``mmap`` and
``mprotect`` are allowed only without ``PROT_EXEC``.

EPERM rather than killing with SIGSYS: the property (the call is not made) is the same,
but a call that CPython or glibc make on an ordinary error path (``linecache`` trying to
read a source file for a traceback) then fails as an ``OSError`` that the worker handles,
instead of killing the worker and turning a handler's exception into a retried delivery.
A call from the wrong architecture (or x86_64's x32 ABI) kills the process: that is never
CPython.

Why a hand-built program and not libseccomp (``pyseccomp``): the program is ~120
instructions generated from the table below, needs no native library (AWS Lambda's
images do not promise ``libseccomp``), and the tests in ``tests/security`` exercise
every denied class with real calls.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import struct

__all__ = ["ALLOWED", "allow_list", "install", "supported"]

# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
_LD_ABS_W = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
EPERM = 1
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PROT_EXEC = 0x4
X32_SYSCALL_BIT = 0x40000000

_OFF_NR, _OFF_ARCH = 0, 4


def _arg(i: int, high: bool = False) -> int:
    return 16 + 8 * i + (4 if high else 0)  # little-endian seccomp_data.args[i]


# name -> (x86_64 number, aarch64 number); None: the call does not exist there.
_NUMBERS: dict[str, tuple[int | None, int | None]] = {
    "read": (0, 63),
    "write": (1, 64),
    "readv": (19, 65),
    "writev": (20, 66),
    "pread64": (17, 67),
    "close": (3, 57),
    "fstat": (5, 80),
    "lseek": (8, 62),
    "fcntl": (72, 25),
    "poll": (7, None),
    "ppoll": (271, 73),
    "select": (23, None),
    "pselect6": (270, 72),
    "munmap": (11, 215),
    "mremap": (25, 216),
    "brk": (12, 214),
    "madvise": (28, 233),
    "rt_sigaction": (13, 134),
    "rt_sigprocmask": (14, 135),
    "rt_sigreturn": (15, 139),
    "sigaltstack": (131, 132),
    "futex": (202, 98),
    "clock_gettime": (228, 113),
    "clock_getres": (229, 114),
    "clock_nanosleep": (230, 115),
    "nanosleep": (35, 101),
    "setitimer": (38, 103),
    "gettimeofday": (96, 169),
    "getrandom": (318, 278),
    "exit": (60, 93),
    "exit_group": (231, 94),
    "getpid": (39, 172),
    "gettid": (186, 178),
    "getppid": (110, 173),
    "getuid": (102, 174),
    "geteuid": (107, 175),
    "getgid": (104, 176),
    "getegid": (108, 177),
    "getrusage": (98, 165),
    "times": (100, 153),
    "getrlimit": (97, 163),
    "sched_yield": (24, 124),
    "restart_syscall": (219, 128),
    "rseq": (334, 293),
    "set_robust_list": (273, 99),
    # with an argument check (see allow_list)
    "mmap": (9, 222),
    "mprotect": (10, 226),
    "setrlimit": (160, 164),
    "prlimit64": (302, 261),
    "tgkill": (234, 131),
}
ALLOWED = tuple(_NUMBERS)
_ARCHES = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}


def supported() -> bool:
    return platform.machine() in _ARCHES


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _ret(value: int) -> bytes:
    return _ins(_RET_K, value)


def allow_list(own_pid: int) -> bytes:
    """The program for this architecture; ``own_pid`` is the only target ``tgkill`` may
    name (CPython's ``raise()``/``abort()`` signal themselves).

    The rest of the program is the same for every worker: it is built once per process
    (in the zygote, before any fork) and only the ``tgkill`` comparison is made per
    worker. Built in a freshly forked worker, the whole program cost about 0.4 ms."""
    before, after = _around_own_pid(platform.machine())
    return before + _ins(_JEQ_K, own_pid, 1, 0) + after


_OWN_PID = b"own pid"  # marks where the ``tgkill`` comparison goes (never 8 bytes long)


@functools.cache
def _around_own_pid(machine: str) -> tuple[bytes, bytes]:
    """The program's instructions before and after the comparison with the own pid."""
    column, audit_arch = _ARCHES[machine]
    deny = _ret(RET_ERRNO | EPERM)
    allow = _ret(RET_ALLOW)
    prog = [
        _ins(_LD_ABS_W, _OFF_ARCH),
        _ins(_JEQ_K, audit_arch, 1, 0),
        _ret(RET_KILL_PROCESS),
        _ins(_LD_ABS_W, _OFF_NR),
    ]
    if column == 0:  # x86_64: the x32 ABI's numbers would bypass the table
        prog += [_ins(_JGE_K, X32_SYSCALL_BIT, 0, 1), _ret(RET_KILL_PROCESS)]
    checks: dict[str, list[bytes]] = {
        # prot (args[2]) without PROT_EXEC: no new executable memory
        "mmap": [_ins(_LD_ABS_W, _arg(2)), _ins(_JSET_K, PROT_EXEC, 0, 1), deny, allow],
        "mprotect": [_ins(_LD_ABS_W, _arg(2)), _ins(_JSET_K, PROT_EXEC, 0, 1), deny, allow],
        # prlimit64(pid = 0, ...): only its own limits
        "prlimit64": [
            _ins(_LD_ABS_W, _arg(0)),
            _ins(_JEQ_K, 0, 1, 0),
            deny,
            _ins(_LD_ABS_W, _arg(0, high=True)),
            _ins(_JEQ_K, 0, 1, 0),
            deny,
            allow,
        ],
        # tgkill(own_pid, ...): itself only
        "tgkill": [
            _ins(_LD_ABS_W, _arg(0)),
            _OWN_PID,
            deny,
            _ins(_LD_ABS_W, _arg(0, high=True)),
            _ins(_JEQ_K, 0, 1, 0),
            deny,
            allow,
        ],
    }
    for name, numbers in _NUMBERS.items():
        number = numbers[column]
        if number is None:
            continue
        # Not this call: skip its block (every block ends in a return, so the
        # accumulator still holds the call's number when it is skipped).
        block = checks.get(name, [allow])
        prog.append(_ins(_JEQ_K, number, 0, len(block)))
        prog += block
    prog.append(deny)
    at = next(i for i, part in enumerate(prog) if part is _OWN_PID)
    return b"".join(prog[:at]), b"".join(prog[at + 1 :])


# Made once, at import (in the zygote), not in each forked worker (see ``confine._LIBC``).
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.prctl  # noqa: B018 - resolved here, before any fork
if supported():
    _around_own_pid(platform.machine())  # the program's fixed part, before any fork


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(program: bytes) -> None:
    """Load ``program`` for this (single-threaded) process; irreversible."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    if _LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")
