"""The worker's seccomp-bpf program, instruction by instruction and in the kernel.

``test_os_confinement.py`` shows that a confined worker cannot make a handful of
dangerous calls. This file pins the whole program: a small classic-BPF interpreter (the
five instructions ``seccomp.py`` emits, nothing else) runs it over every system call
number, both architectures' tables, the x32 ABI and the argument checks, and each
verdict is compared with the exact return value (allow, ``EPERM``, kill the process).
Then the program is loaded by the kernel in a forked child of the test process, which
makes real calls and reports each errno; and a program the kernel refuses is reported
with its errno.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import platform
import resource
import signal
import socket
import struct
import sys
import time

import pytest
from forked import errno_of, report, run_forked

from functions_runtime.sandbox.guest import seccomp

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux seccomp")

ALLOW, KILL, DENY = 0x7FFF0000, 0x80000000, 0x00050000 | errno.EPERM
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
BYTE_LOAD = struct.pack("=HBBI", 0x30, 0, 0, 0)  # BPF_LD | BPF_B | BPF_ABS: not for seccomp
# A few numbers from the kernel's tables (x86_64, aarch64), independent of seccomp.py.
KNOWN = {
    "read": (0, 63),
    "mmap": (9, 222),
    "exit_group": (231, 94),
    "tgkill": (234, 131),
    "prlimit64": (302, 261),
}
NEVER = {  # calls the worker must not make: (x86_64, aarch64)
    "socket": (41, 198),
    "connect": (42, 203),
    "openat": (257, 56),
    "execve": (59, 221),
    "clone": (56, 220),
    "clone3": (435, 435),
    "kill": (62, 129),
    "ptrace": (101, 117),
    "prctl": (157, 167),
    "ioctl": (16, 29),
    "unshare": (272, 97),
    "landlock_create_ruleset": (444, 444),
    "seccomp": (317, 277),
    "setuid": (105, 146),
    "pkey_mprotect": (329, 288),
    "process_vm_readv": (310, 270),
}


def run_bpf(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """What the kernel's classic-BPF machine returns for ``program`` on this call."""
    assert len(program) % 8 == 0 and 0 < len(program) // 8 <= 4096
    values = list(args) + [0] * (6 - len(args))
    data = struct.pack("<iIQ6Q", nr, arch, 0, *values)
    insns = [struct.unpack("<HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]  # IndexError: the program ran off its end
        if code == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            assert k % 4 == 0 and k + 4 <= len(data), k
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x35, 0x45):  # JEQ, JGE, JSET with K
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if taken else jf)
        elif code == 0x06:  # BPF_RET | BPF_K
            return k
        else:
            raise AssertionError(f"instruction {code:#x} is not one seccomp.py emits")


@pytest.fixture(params=["x86_64", "aarch64"])
def machine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Build for each architecture the filter knows (the program is pure data)."""
    monkeypatch.setattr(seccomp.platform, "machine", lambda: request.param)
    return str(request.param)


def _column(machine: str) -> int:
    return 0 if machine == "x86_64" else 1


def _numbers(machine: str) -> dict[str, int]:
    table = {name: pair[_column(machine)] for name, pair in seccomp._NUMBERS.items()}
    return {name: number for name, number in table.items() if number is not None}


def _benign(name: str, pid: int) -> tuple[int, ...]:
    """Arguments that the argument checks allow."""
    return {
        "mmap": (0, 4096, PROT_READ | PROT_WRITE, 0x22, 2**32 - 1, 0),
        "mprotect": (0, 4096, PROT_READ),
        "prlimit64": (0, resource.RLIMIT_AS, 0, 0),
        "tgkill": (pid, pid, signal.SIGABRT),
        "setrlimit": (resource.RLIMIT_AS, 0),
    }.get(name, (0, 0, 0))


def test_the_table_agrees_with_the_kernels_numbers() -> None:
    for name, pair in KNOWN.items():
        assert seccomp._NUMBERS[name] == pair, name
    assert not set(NEVER) & set(seccomp.ALLOWED)


def test_every_allowed_call_is_allowed_with_ordinary_arguments(machine: str) -> None:
    pid = 4242
    program = seccomp.allow_list(pid)
    arch = AUDIT_ARCH[machine]
    for name, number in _numbers(machine).items():
        assert run_bpf(program, number, arch, _benign(name, pid)) == ALLOW, name
    # poll and select exist on x86_64 only: the aarch64 program has no rule for them
    assert ("poll" in _numbers(machine)) is (machine == "x86_64")


def test_every_other_call_fails_with_eperm(machine: str) -> None:
    program = seccomp.allow_list(7)
    arch = AUDIT_ARCH[machine]
    allowed = set(_numbers(machine).values())
    for number in range(1024):
        if number not in allowed:
            assert run_bpf(program, number, arch) == DENY, number
    for name, pair in NEVER.items():
        assert run_bpf(program, pair[_column(machine)], arch) == DENY, name
    # the x32 rule takes every number from 0x40000000 up (as unsigned) on x86_64
    high = KILL if machine == "x86_64" else DENY
    assert run_bpf(program, -1, arch) == high
    assert run_bpf(program, 2**31 - 1, arch) == high


def test_another_architecture_is_killed(machine: str) -> None:
    program = seccomp.allow_list(7)
    other = AUDIT_ARCH["aarch64" if machine == "x86_64" else "x86_64"]
    for arch in (other, 0x40000003, 0, AUDIT_ARCH[machine] + 1, AUDIT_ARCH[machine] - 1):
        for number in (0, 1, 63, 64, 231, 94):
            assert run_bpf(program, number, arch) == KILL, (hex(arch), number)


def test_x32_numbers_are_killed_on_x86_64() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seccomp.platform, "machine", lambda: "x86_64")
        program = seccomp.allow_list(7)
    arch = AUDIT_ARCH["x86_64"]
    for number in (0x40000000, 0x40000000 + 0, 0x40000000 + 1, 0x40000000 + 39, 0x40000200):
        assert run_bpf(program, number, arch) == KILL, hex(number)
    assert run_bpf(program, 0x3FFFFFFF, arch) == DENY


def test_aarch64_has_no_x32_rule() -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seccomp.platform, "machine", lambda: "aarch64")
        program = seccomp.allow_list(7)
    assert run_bpf(program, 0x40000000 + 63, AUDIT_ARCH["aarch64"]) == DENY
    # load arch, check, kill, load nr; per call a test and its block (an allow, or the
    # argument checks of mmap, mprotect: 4, prlimit64, tgkill: 7); the final deny
    assert len(program) // 8 == 4 + 2 * len(_numbers("aarch64")) + 3 + 3 + 6 + 6 + 1


@pytest.mark.parametrize("name", ["mmap", "mprotect"])
def test_executable_memory_is_refused(machine: str, name: str) -> None:
    program = seccomp.allow_list(7)
    arch, number = AUDIT_ARCH[machine], _numbers(machine)[name]
    for prot in (PROT_EXEC, PROT_EXEC | PROT_READ, PROT_EXEC | PROT_READ | PROT_WRITE, 0xFF):
        assert run_bpf(program, number, arch, (0, 4096, prot)) == DENY, prot
    for prot in (0, PROT_READ, PROT_READ | PROT_WRITE, 0xFB, 2**32 - 1 - PROT_EXEC):
        assert run_bpf(program, number, arch, (PROT_EXEC, PROT_EXEC, prot, PROT_EXEC)) == ALLOW
    # only the low word of prot is looked at (the kernel reads an int)
    assert run_bpf(program, number, arch, (0, 0, PROT_READ | 4 << 32)) == ALLOW


def test_prlimit64_only_on_itself(machine: str) -> None:
    program = seccomp.allow_list(7)
    arch, number = AUDIT_ARCH[machine], _numbers(machine)["prlimit64"]
    assert run_bpf(program, number, arch, (0, 9, 1, 1)) == ALLOW
    for pid in (1, 7, 2**32, 2**32 + 7, 2**63, 2**64 - 1):
        assert run_bpf(program, number, arch, (pid, 9, 0, 0)) == DENY, pid


def test_tgkill_only_at_itself(machine: str) -> None:
    own = 0x1234
    program = seccomp.allow_list(own)
    arch, number = AUDIT_ARCH[machine], _numbers(machine)["tgkill"]
    assert run_bpf(program, number, arch, (own, 1, 9)) == ALLOW
    for pid in (0, 1, own - 1, own + 1, own + 2**32, 2**32, 2**64 - 1):
        assert run_bpf(program, number, arch, (pid, own, 9)) == DENY, pid
    # and other calls' arguments are never looked at
    read = _numbers(machine)["read"]
    assert run_bpf(program, read, arch, (2**64 - 1, PROT_EXEC, PROT_EXEC)) == ALLOW


def test_supported_names_the_two_architectures(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, expected in [("x86_64", True), ("aarch64", True), ("riscv64", False), ("", False)]:
        monkeypatch.setattr(seccomp.platform, "machine", lambda name=name: name)
        assert seccomp.supported() is expected, name


# -- the kernel ----------------------------------------------------------------------


def _confined(write_fd: int) -> list[object]:
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # no_new_privs, as confine.py sets it first
    seccomp.install(seccomp.allow_list(os.getpid()))
    anonymous = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    return [
        errno_of(os.getpid),
        errno_of(lambda: os.write(write_fd, b"")),
        errno_of(lambda: mmap.mmap(-1, 4096, flags=anonymous, prot=PROT_READ | PROT_WRITE)),
        errno_of(lambda: mmap.mmap(-1, 4096, flags=anonymous, prot=PROT_READ | PROT_EXEC)),
        errno_of(lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0))),
        errno_of(lambda: resource.prlimit(1, resource.RLIMIT_CORE)),
        errno_of(lambda: os.open("/etc/hostname", os.O_RDONLY)),
        errno_of(socket.socket),
        errno_of(lambda: os.kill(os.getppid(), 0)),
        errno_of(lambda: libc.prctl(38, 1, 0, 0, 0) == 0 or _raise_errno()),
        errno_of(lambda: os.kill(os.getpid(), 0)),
    ]


def _raise_errno() -> None:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))


def test_the_kernel_runs_the_program_with_the_same_verdicts() -> None:
    if not seccomp.supported():
        pytest.skip("no filter for this architecture")
    [lines], status = run_forked(_confined)
    eperm = errno.EPERM
    assert lines == [
        "ok",  # getpid
        "ok",  # write on a descriptor it holds
        "ok",  # mmap of plain memory
        eperm,  # executable memory
        "ok",  # setrlimit on itself
        eperm,  # prlimit64 of another process
        eperm,  # openat
        eperm,  # socket
        eperm,  # kill (not tgkill at itself)
        eperm,  # prctl
        eperm,  # kill, even at itself
    ], lines
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_x32_call_kills_the_process() -> None:
    if platform.machine() != "x86_64":
        pytest.skip("the x32 ABI is x86_64's")

    def job(write_fd: int) -> list[object]:
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(38, 1, 0, 0, 0) == 0
        seccomp.install(seccomp.allow_list(os.getpid()))
        report(write_fd, "installed")
        libc.syscall(0x40000000 + 39)  # x32 getpid
        return ["survived"]

    lines, status = run_forked(job)
    assert lines == ["installed"]
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS, status


@pytest.mark.parametrize(
    ("program", "code", "text"),
    [
        (b"", errno.EINVAL, "Invalid argument"),
        (struct.pack("=HBBI", 0x06, 0, 0, ALLOW) * 4097, errno.EINVAL, "Invalid argument"),
        (
            struct.pack("=HBBI", 0x30, 0, 0, 0) + struct.pack("=HBBI", 0x06, 0, 0, ALLOW),
            errno.EINVAL,
            "Invalid argument",
        ),
    ],
    ids=["empty", "too long", "not a seccomp instruction"],
)
def test_a_program_the_kernel_refuses_is_an_oserror(program: bytes, code: int, text: str) -> None:
    def job(write_fd: int) -> list[object]:
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(38, 1, 0, 0, 0) == 0
        try:
            seccomp.install(program)
        except OSError as exc:
            return [exc.errno, exc.strerror, str(exc)]
        return ["installed"]

    [lines], status = run_forked(job)
    assert lines == [code, f"seccomp: {text}", f"[Errno {code}] seccomp: {text}"]
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_valid_program_is_installed_whole() -> None:
    """A program of the test's own that refuses ``getcwd`` with EACCES: the kernel runs
    exactly the program given (not another one, not a truncated one)."""

    def job(write_fd: int) -> list[object]:
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.prctl(38, 1, 0, 0, 0) == 0
        ins = struct.Struct("=HBBI")
        getcwd = {"x86_64": 79, "aarch64": 17}[platform.machine()]
        program = b"".join(
            [
                ins.pack(0x20, 0, 0, 0),  # the call's number
                ins.pack(0x15, 0, 1, getcwd),
                ins.pack(0x06, 0, 0, 0x00050000 | errno.EACCES),
                ins.pack(0x06, 0, 0, ALLOW),
            ]
        )
        seccomp.install(program)
        return [errno_of(os.getcwd), errno_of(lambda: os.write(write_fd, b""))]

    [lines], status = run_forked(job)
    assert lines == [errno.EACCES, "ok"], lines
    assert os.waitstatus_to_exitcode(status) == 0


def test_programs_for_two_pids_differ_only_in_the_tgkill_comparison() -> None:
    # The fixed part is built once per process (in the zygote, before it forks); only
    # the comparison with the worker's own pid is made in each worker.
    first, second = seccomp.allow_list(1234), seccomp.allow_list(98765)
    assert len(first) == len(second)
    differ = [i for i in range(0, len(first), 8) if first[i : i + 8] != second[i : i + 8]]
    assert len(differ) == 1
    code, _, _, k = struct.unpack("=HBBI", second[differ[0] : differ[0] + 8])
    assert (code, k) == (0x15, 98765)  # JEQ own pid
    assert seccomp.allow_list(1234) == first  # nothing of one build leaks into the next


def _timer(write_fd: int) -> list[object]:
    """Under the filter: the worker's own interval timer works and signals only itself
    (``setitimer`` names no process); the other timer calls stay refused."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(38, 1, 0, 0, 0) == 0
    seccomp.install(seccomp.allow_list(os.getpid()))
    fired: list[int] = []
    signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    signal.setitimer(signal.ITIMER_REAL, 0.01)
    deadline = time.monotonic() + 5
    while not fired and time.monotonic() < deadline:
        time.sleep(0.005)
    numbers = {"x86_64": {"getitimer": 36, "timer_create": 222, "alarm": 37}}
    refused = [
        libc.syscall(number, 0, 0, 0) == -1 and ctypes.get_errno() == errno.EPERM
        for number in numbers.get(platform.machine(), {}).values()
    ]
    return [fired == [signal.SIGALRM], all(refused)]


def test_a_worker_may_arm_its_own_interval_timer_and_nothing_else() -> None:
    # setitimer is on the allow-list since the worker sends the records it holds when an
    # event runs long (guest/held.py): what it gives code that escaped the language
    # layer is a SIGALRM to its own process, which it could already raise (tgkill).
    if not seccomp.supported():
        pytest.skip("no filter for this architecture")
    [lines], status = run_forked(_timer)
    assert lines == [True, True], lines
    assert os.waitstatus_to_exitcode(status) == 0
