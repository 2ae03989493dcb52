"""Each OS layer of ``guest/confine.py``, applied in a forked child of the test process:
what each step reports, what it takes away (the ids, the capabilities, no_new_privs,
each Landlock right of each ABI, the parent-death signal), and the report of a layer
that cannot be applied.

``test_os_confinement.py`` shows the layers stopping attacks in real workers; this file
pins each step on its own, with the exact report the host's isolation policy reads.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from forked import errno_of, refuse_calls, run_forked

from functions_runtime.sandbox.guest import confine

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux confinement")
ROOT = os.geteuid() == 0
ABI = confine.landlock_abi()
NOBODY = 65534


def _child(job: Callable[[], object]) -> Any:
    """``job()``'s answer from a forked child, which must exit normally."""
    [answer], status = run_forked(lambda _fd: job())
    assert os.waitstatus_to_exitcode(status) == 0, answer
    return answer


def _caps() -> list[str]:
    with open("/proc/self/status") as fh:
        lines = dict(line.split(":\t", 1) for line in fh.read().splitlines() if ":\t" in line)
    return [lines[name].strip() for name in ("CapInh", "CapPrm", "CapEff")]


@pytest.fixture()
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def test_only_names_known_layers_and_keeps_no_new_privs() -> None:
    assert confine.Layers.only("landlock") == confine.Layers(
        no_new_privs=True, uid=False, landlock=True, seccomp=False
    )
    assert confine.Layers.only() == confine.Layers(True, False, False, False)
    assert confine.Layers.only("uid", "seccomp") == confine.Layers(True, True, False, True)
    assert confine.Layers() == confine.Layers(True, True, True, True)
    with pytest.raises(ValueError) as raised:
        confine.Layers.only("seccomp", "selinux", "apparmor")
    assert str(raised.value) == "unknown layers: ['apparmor', 'selinux']"


def test_a_failing_step_is_recorded_as_missing_with_its_reason() -> None:
    applied = confine.Applied()

    def refused() -> str:
        raise OSError(errno.EPERM, "Operation not permitted")

    def bare() -> str:
        raise OSError("no errno")

    confine._apply(applied, "a", lambda: "active")
    confine._apply(applied, "b", refused)
    confine._apply(applied, "c", bare)
    assert applied.layers == {
        "a": "active",
        "b": "missing: Operation not permitted",
        "c": "missing: no errno",
    }
    with pytest.raises(ValueError):  # only OSError means "missing"
        confine._apply(applied, "d", lambda: str(int("x")))
    assert confine.Applied().layers == {}


def test_the_filesystem_rights_of_each_abi() -> None:
    rights = {abi: confine._fs_rights(abi) for abi in range(1, 9)}
    assert rights == {
        1: (1 << 13) - 1,  # execute ... make_sym
        2: (1 << 14) - 1,  # + refer
        3: (1 << 15) - 1,  # + truncate
        4: (1 << 15) - 1,
        5: (1 << 16) - 1,  # + ioctl_dev
        6: (1 << 16) - 1,
        7: (1 << 16) - 1,
        8: (1 << 16) - 1,
    }


def _ids() -> list[Any]:
    return [list(os.getresuid()), list(os.getresgid()), os.getgroups()]


@pytest.mark.skipif(not ROOT, reason="the root path of the uid drop")
def test_root_becomes_nobody_with_no_groups_and_no_capabilities() -> None:
    def job() -> object:
        os.setgroups([1, 2, 3])
        step = confine._drop_identity()
        return [step, *_ids(), _caps(), errno_of(lambda: os.setresuid(0, 0, 0))]

    step, uids, gids, groups, caps, back = _child(job)
    assert step == "active"
    assert uids == [NOBODY] * 3
    assert gids == [NOBODY] * 3
    assert groups == []
    assert caps == ["0000000000000000"] * 3
    assert back == errno.EPERM


def test_a_process_that_is_not_root_keeps_its_uid() -> None:
    def job() -> object:
        if ROOT:
            os.setresgid(1000, 1000, 1000)
            os.setresuid(1000, 1000, 1000)
        return [confine._drop_identity(), *_ids()]

    step, uids, _, _ = _child(job)
    assert step == f"not root: runs as uid {uids[0]}"
    assert uids[0] == (1000 if ROOT else os.geteuid())


def _in_user_namespace() -> None:
    """Root of a user namespace that maps only this (unprivileged) uid: 65534 unmapped."""
    if ROOT:
        os.setgroups([])
        os.setresgid(1000, 1000, 1000)
        os.setresuid(1000, 1000, 1000)
        ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # dumpable again, to write the maps
    uid, gid = os.geteuid(), os.getegid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    for name, text in [("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")]:
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)


def test_root_of_a_user_namespace_drops_every_capability() -> None:
    def job() -> object:
        try:
            _in_user_namespace()
        except OSError:
            return "no user namespace"
        before = _caps()
        return [before, confine._drop_identity(), _caps(), os.geteuid()]

    answer = _child(job)
    if answer == "no user namespace":
        pytest.skip("unprivileged user namespaces are disabled here")
    before, step, after, euid = answer
    assert before[2] != "0000000000000000"  # root of the namespace: capabilities
    assert step == "active (root of a user namespace: every capability dropped)"
    assert after == ["0000000000000000"] * 3
    assert euid == 0


def test_capabilities_on_an_unknown_architecture_are_an_oserror(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(confine.platform, "machine", lambda: "riscv64")
    with pytest.raises(OSError) as raised:
        confine._drop_capabilities()
    assert (raised.value.errno, raised.value.strerror) == (
        errno.ENOSYS,
        "capset: unknown architecture",
    )


def test_a_refused_capset_is_an_oserror_naming_it() -> None:
    """Not root and no capabilities: capset to empty sets succeeds, so refuse it with a
    filter (capset of the wrong version would be another error)."""

    def job() -> object:
        refuse_calls(_CAPSET[platform.machine()], errno.EPERM)
        try:
            confine._drop_capabilities()
        except OSError as exc:
            return [exc.errno, exc.strerror]
        return "no error"

    if platform.machine() not in _CAPSET:
        pytest.skip("system call numbers")
    assert _child(job) == [errno.EPERM, "capset: Operation not permitted"]


_CAPSET = {"x86_64": 126, "aarch64": 91}
_LANDLOCK_CREATE = 444


def test_no_new_privs_is_set_and_read_back() -> None:
    def job() -> object:
        before = confine.no_new_privs()
        step = confine._no_new_privs_step()
        return [before, step, confine.no_new_privs()]

    assert _child(job) == [False, "active", True]


def test_a_refused_prctl_is_an_oserror_naming_its_option() -> None:
    with pytest.raises(OSError) as raised:
        confine._prctl(10_000, 1)
    assert (raised.value.errno, raised.value.strerror) == (
        errno.EINVAL,
        "prctl(10000): Invalid argument",
    )


def test_the_parent_death_signal_is_sigkill() -> None:
    def job() -> object:
        confine.set_parent_death_kill()
        signum = ctypes.c_int(-1)
        ctypes.CDLL(None).prctl(2, ctypes.byref(signum), 0, 0, 0)  # PR_GET_PDEATHSIG
        return signum.value

    assert _child(job) == signal.SIGKILL


@pytest.mark.skipif(ABI < 1, reason="no Landlock here")
def test_landlock_abi_is_the_kernels() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    assert ABI == version >= 1


def _after_landlock(abi: int, port: int, parent: int) -> list[object]:
    """What a process may still do once ``_landlock(abi)`` restricted it (root, no
    seccomp: only Landlock refuses)."""
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("\0functions-test-confine-" + str(os.getpid()))
        server.listen()
        confine._landlock(abi)

        def abstract() -> None:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect("\0functions-test-confine-" + str(os.getppid()))

        def tcp() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass

        def bind() -> None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))

        return [
            errno_of(lambda: open("/etc/hostname").close()),
            errno_of(lambda: os.listdir("/")),
            errno_of(tcp),
            errno_of(bind),
            errno_of(lambda: os.kill(parent, 0)),
            errno_of(abstract),
        ]


@pytest.mark.skipif(ABI < 6, reason="needs Landlock ABI 6 to see every right")
@pytest.mark.parametrize(
    ("abi", "expected"),
    [
        # files, directories, TCP connect, TCP bind, a signal out, an abstract socket out
        (1, [errno.EACCES, errno.EACCES, "ok", "ok", "ok", "ok"]),
        (3, [errno.EACCES, errno.EACCES, "ok", "ok", "ok", "ok"]),
        (4, [errno.EACCES, errno.EACCES, errno.EACCES, errno.EACCES, "ok", "ok"]),
        (5, [errno.EACCES, errno.EACCES, errno.EACCES, errno.EACCES, "ok", "ok"]),
        (6, [errno.EACCES, errno.EACCES, errno.EACCES, errno.EACCES, errno.EPERM, errno.EPERM]),
    ],
)
def test_landlock_refuses_what_each_abi_canrefuse_calls(
    abi: int, expected: list[object], listener: socket.socket
) -> None:
    port, parent = listener.getsockname()[1], os.getpid()
    server = socket.socket(socket.AF_UNIX)  # the test process's abstract socket
    server.bind("\0functions-test-confine-" + str(os.getpid()))
    server.listen()
    try:
        answer = _child(lambda: _after_landlock(abi, port, parent))
    finally:
        server.close()
    assert answer == expected


def test_a_refused_ruleset_is_an_oserror_naming_the_call() -> None:
    def job() -> object:
        refuse_calls(_LANDLOCK_CREATE, errno.EPERM)
        try:
            confine._landlock(max(ABI, 1))
        except OSError as exc:
            return [exc.errno, exc.strerror]
        return "no error"

    assert _child(job) == [errno.EPERM, "landlock_create_ruleset: Operation not permitted"]


@pytest.mark.skipif(ABI < 1, reason="no Landlock here")
def test_a_refused_restrict_self_is_an_oserror_naming_the_call() -> None:
    def job() -> object:
        refuse_calls(446, errno.EPERM)  # landlock_restrict_self
        before = len(os.listdir("/proc/self/fd"))
        try:
            confine._landlock(ABI)
        except OSError as exc:
            return [exc.errno, exc.strerror, len(os.listdir("/proc/self/fd")) - before]
        return "no error"

    # and the ruleset's descriptor is closed all the same
    assert _child(job) == [errno.EPERM, "landlock_restrict_self: Operation not permitted", 0]


def test_a_kernel_without_landlock_is_reported_missing() -> None:
    def job() -> object:
        refuse_calls(_LANDLOCK_CREATE, errno.ENOSYS)
        return [confine.landlock_abi(), confine._landlock_step()]

    assert _child(job) == [0, "missing: the kernel has no Landlock"]


@pytest.mark.skipif(ABI < 1, reason="no Landlock here")
def test_the_landlock_step_names_the_abi() -> None:
    assert _child(confine._landlock_step) == f"active (ABI {ABI})"


def test_an_architecture_without_a_filter_is_reported_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(confine.platform, "machine", lambda: "riscv64")
    assert confine._seccomp_step() == "missing: no filter for the riscv64 architecture"


def _confined(layers: confine.Layers | None) -> object:
    applied = confine.confine(layers) if layers is not None else confine.confine()
    probes = [
        errno_of(lambda: open("/etc/hostname").close()),
        errno_of(lambda: socket.socket().close()),
        errno_of(lambda: os.setresuid(0, 0, 0)),
    ]
    return [applied.layers, [os.getuid(), os.geteuid()], probes]  # getresuid: EPERM


@pytest.mark.skipif(not ROOT or ABI < 1, reason="root with Landlock")
def test_every_layer_in_order_by_default() -> None:
    layers, uids, probes = _child(lambda: _confined(None))
    assert layers == {
        "no_new_privs": "active",
        "uid": "active",
        "landlock": f"active (ABI {ABI})",
        "seccomp": "active",
    }
    assert list(layers) == list(confine.LAYERS)
    assert uids == [NOBODY] * 2
    assert probes == [errno.EPERM] * 3  # seccomp answers first


@pytest.mark.skipif(not ROOT or ABI < 1, reason="root with Landlock")
@pytest.mark.parametrize(
    ("names", "uid", "probes"),
    [
        ((), 0, ["ok", "ok", "ok"]),
        (("uid",), NOBODY, ["ok", "ok", errno.EPERM]),
        (("landlock",), 0, [errno.EACCES, "ok", "ok"]),
        (("seccomp",), 0, [errno.EPERM, errno.EPERM, errno.EPERM]),
    ],
)
def test_each_layer_alone(names: tuple[str, ...], uid: int, probes: list[object]) -> None:
    layers, uids, seen = _child(lambda: _confined(confine.Layers.only(*names)))
    assert list(layers) == ["no_new_privs", *(n for n in confine.LAYERS if n in names)]
    assert all(value.startswith("active") for value in layers.values()), layers
    assert uids == [uid] * 2
    assert seen == probes


@pytest.mark.skipif(not ROOT, reason="root: the uid drop is what fails here")
def test_a_layer_that_fails_does_not_stop_the_others() -> None:
    def job() -> object:
        refuse_calls(117, errno.EPERM, 126)  # setresuid, then the fallback's capset
        return _confined(confine.Layers.only("uid", "seccomp"))

    if platform.machine() != "x86_64":
        pytest.skip("system call numbers")
    layers, uids, probes = _child(job)
    assert layers == {
        "no_new_privs": "active",
        "uid": "missing: capset: Operation not permitted",
        "seccomp": "active",
    }
    assert uids == [0, 0]
    assert probes == [errno.EPERM] * 3
