"""``functions doctor`` and what it is built on: ``isolation.probe`` asks a real confined
worker which layers are active, ``isolation.pool`` logs the line, enforces strict mode
and requires the layers of every worker, ``set_non_dumpable`` protects the host.

Checks that change the process (a seccomp filter that refuses ``unshare``, the dumpable
flag) run in a forked child (``forked.run_forked``).
"""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from forked import PRCTL, UNSHARE, refuse_calls, refuse_prctl, run_forked

from functions_runtime.sandbox.guest import namespaces
from functions_runtime.sandbox.host import isolation
from functions_runtime.sandbox.host.isolation import (
    IsolationError,
    _userns_allowed,
    _worker_layers,
    platform_has,
)
from functions_runtime.sandbox.host.pool import InstanceSpec

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux isolation layers")

LAYERS = [
    "language",
    "process",
    "no_new_privs",
    "seccomp",
    "landlock",
    "namespaces",
    "uid",
    "network_broker",
    "non_dumpable_host",
]
PR_SET_DUMPABLE, PR_SET_SECCOMP = 4, 22
TRACK = {"type": "track", "event": "Probe", "userId": "u1"}


def _dumpable(flag: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, flag, 0, 0, 0)


def _layers() -> dict[str, list[Any]]:
    return {layer.name: [layer.active, layer.reason] for layer in isolation.probe()}


def test_doctor_names_every_layer_in_order_and_each_is_active_where_it_can_be() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "functions_runtime.cli", "doctor"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    *rows, line = proc.stdout.splitlines()
    assert [row.split()[0] for row in rows] == LAYERS
    states = {row.split()[0]: row.split()[1] for row in rows}
    can = platform_has()
    for name, reason in can.items():  # strict mode: what the platform can have is on
        assert states[name] == ("active" if not reason else "MISSING"), (name, reason)
    for name in ("language", "process", "non_dumpable_host"):
        assert states[name] == "active"
    assert states["network_broker"] == states["seccomp"]
    assert line == (
        "isolation: "
        + "; ".join(
            f"{name}={'active' if states[name] == 'active' else 'MISSING'}" for name in LAYERS
        )
        + " (mode strict)"
    )


def test_probe_says_why_each_layer_is_active() -> None:
    layers = _layers()
    assert list(layers) == LAYERS
    assert layers["language"] == [True, "RestrictedPython, run-time guards, curated modules"]
    assert layers["process"] == [
        True,
        "worker processes never shared across workspaces, rlimits, external time/memory kill",
    ]
    can = platform_has()
    for name in ("no_new_privs", "seccomp", "landlock", "namespaces", "uid"):
        active, reason = layers[name]
        if can[name]:
            assert [active, reason] == [False, f"missing: {can[name]}"], name
        else:
            assert active and reason.startswith("active"), (name, reason)
    if not can["namespaces"]:
        assert layers["namespaces"][1].startswith("active (") and "net" in layers["namespaces"][1]
    assert layers["network_broker"] == [
        True,
        "the worker cannot create a socket (seccomp): the network is the host's",
    ]


def test_probe_reports_the_host_dumpable_until_set_non_dumpable() -> None:
    def job(fd: int) -> list[Any]:
        _dumpable(1)
        before = _layers()["non_dumpable_host"]
        made = isolation.set_non_dumpable()
        return [before, made, _layers()["non_dumpable_host"]]

    [answer], status = run_forked(job)
    assert os.waitstatus_to_exitcode(status) == 0, answer
    assert answer == [
        [False, "missing: the host is dumpable"],
        True,
        [True, "the host is not dumpable"],
    ]


def test_set_non_dumpable_says_false_when_the_kernel_refuses() -> None:
    def job(fd: int) -> list[Any]:
        _dumpable(1)
        refuse_calls(PRCTL[os.uname().machine], errno.EPERM)
        return [isolation.set_non_dumpable()]

    [answer], status = run_forked(job)
    assert os.waitstatus_to_exitcode(status) == 0, answer
    assert answer == [False]


def test_a_worker_without_seccomp_is_reported_as_having_the_network() -> None:
    def job(fd: int) -> dict[str, Any]:
        refuse_prctl(PR_SET_SECCOMP, errno.EPERM)  # the worker's filter cannot go on
        return _layers()

    [layers], status = run_forked(job)
    assert os.waitstatus_to_exitcode(status) == 0, layers
    assert layers["seccomp"][0] is False and layers["seccomp"][1].startswith("missing")
    assert layers["network_broker"] == [False, "missing: the worker can open sockets itself"]
    assert layers["no_new_privs"][0] is True  # only the one prctl option was refused


def _pool_without_unshare(mode: str) -> dict[str, Any]:
    """``isolation.pool(mode)`` where the zygote cannot enter namespaces (``unshare``
    refused by a seccomp filter that its exec inherits)."""

    def job(fd: int) -> dict[str, Any]:
        refuse_calls(UNSHARE[os.uname().machine], errno.EPERM)
        lines: list[str] = []
        try:
            with isolation.pool(mode, lines.append, max_workers=1) as pool:
                spec = InstanceSpec(key="p", source=isolation._PROBE, filename="p.py")
                [result] = pool.invoke(spec, [TRACK])
                return {
                    "lines": lines,
                    "outcome": result["outcome"],
                    "require": list(pool.require),
                    "fallback": pool.launcher.exec_fallback,
                }
        except IsolationError as exc:
            return {"lines": lines, "refused": str(exc)}

    [answer], status = run_forked(job)
    assert os.waitstatus_to_exitcode(status) == 0, answer
    return answer


needs_namespaces = pytest.mark.skipif(
    bool(platform_has()["namespaces"]), reason="this platform cannot create namespaces"
)


@needs_namespaces
def test_strict_refuses_to_run_code_when_the_zygote_cannot_enter_namespaces() -> None:
    answer = _pool_without_unshare("strict")
    [line] = answer["lines"]
    assert "namespaces=MISSING" in line and line.endswith(" (mode strict)")
    refused = answer["refused"]
    assert refused.startswith("strict isolation: refusing to run customer code; missing ")
    assert "namespaces: missing: the worker runs in the host's namespaces" in refused
    assert refused.endswith(f" (set {isolation.ENV}=best-effort to run anyway)")


@needs_namespaces
def test_best_effort_runs_code_without_namespaces_and_requires_nothing() -> None:
    answer = _pool_without_unshare("best-effort")
    [line] = answer["lines"]
    assert "namespaces=MISSING" in line and line.endswith(" (mode best-effort)")
    assert answer["outcome"] == "delivered"
    assert answer["require"] == []
    assert answer["fallback"] is True


def test_a_strict_pool_requires_every_layer_the_platform_has() -> None:
    lines: list[str] = []
    with isolation.pool("strict", lines.append, max_workers=1, spares=0) as pool:
        [result] = pool.invoke(
            InstanceSpec(key="s", source=isolation._PROBE, filename="s.py"), [TRACK]
        )
        require = list(pool.require)
        fallback = pool.launcher.exec_fallback
        assert (pool.max_workers, pool.spares) == (1, 0)  # the options reach the pool
    can = platform_has()
    assert require == [name for name in can if not can[name]]
    assert fallback is ("namespaces" not in require)
    assert result["outcome"] == "delivered"
    [line] = lines
    assert line.startswith("isolation: language=active; ") and line.endswith(" (mode strict)")


class _Worker:
    def __init__(self, confinement: dict[str, str]) -> None:
        self.confinement = confinement


def test_worker_layers_name_the_namespaces_entered_and_copy_the_rest() -> None:
    confinement = {"seccomp": "active", "uid": "missing: not root"}
    worker = _Worker(confinement)
    entered = namespaces.CLONE_NEWNET | namespaces.CLONE_NEWPID
    assert _worker_layers(worker, entered) == {  # type: ignore[arg-type]
        "seccomp": "active",
        "uid": "missing: not root",
        "namespaces": "active (net, pid)",
    }
    assert _worker_layers(worker, 0)["namespaces"] == (  # type: ignore[arg-type]
        "missing: the worker runs in the host's namespaces"
    )
    assert confinement == {"seccomp": "active", "uid": "missing: not root"}  # a copy


@pytest.mark.parametrize(
    ("files", "allowed"),
    [
        ({}, True),
        ({"user/max_user_namespaces": "15000\n"}, True),
        ({"user/max_user_namespaces": "0\n"}, False),
        ({"kernel/unprivileged_userns_clone": "1\n"}, True),
        ({"kernel/unprivileged_userns_clone": "0\n"}, False),
        ({"user/max_user_namespaces": "15000", "kernel/unprivileged_userns_clone": "0"}, False),
        ({"user/max_user_namespaces": "0", "kernel/unprivileged_userns_clone": "1"}, False),
        ({"user/max_user_namespaces": "10", "kernel/unprivileged_userns_clone": "1"}, True),
    ],
)
def test_user_namespaces_are_allowed_unless_a_switch_is_zero(
    tmp_path: Path, files: dict[str, str], allowed: bool
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert _userns_allowed(str(tmp_path)) is allowed
