"""What isolation is active, and whether customer code may run: ``functions doctor``.

:func:`probe` asks a real worker: it starts a zygote the way a pool does, forks a worker
(confined by the same code as every worker, ``sandbox/guest/confine.py``), loads a
trivial function and reads the confinement the worker reports in its load reply, and
the namespaces its zygote entered. :func:`platform_has` says which OS layers this
platform could have (Landlock in the kernel, an architecture the seccomp filter knows,
root or unprivileged user namespaces, root for the uid drop).

``FUNCTIONS_ISOLATION`` (or ``functions serve --isolation``):

* ``strict`` (the default): customer code runs only with every OS layer this platform
  could have. Startup fails when one is missing; each worker is checked again when it
  loads an instance, and the pool does not fall back to exec'ed workers (they would run
  without namespaces) when namespaces are required.
* ``best-effort``: what is missing is logged as a warning and code runs anyway.

A layer the platform cannot have (no Landlock in the kernel, no namespaces on Lambda) is
reported as missing with its reason and does not stop strict mode: strict means "all
this machine can do", which is what an operator can act on.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..guest import confine, namespaces, seccomp
from .pool import InstanceSpec, Worker, WorkerPool
from .zygote_client import Launcher

__all__ = [
    "ENV",
    "MODES",
    "IsolationError",
    "Layer",
    "check",
    "describe",
    "mode_from",
    "platform_has",
    "pool",
    "probe",
    "required",
    "set_non_dumpable",
]

ENV = "FUNCTIONS_ISOLATION"
MODES = ("strict", "best-effort")
OS_LAYERS = ("no_new_privs", "seccomp", "landlock", "namespaces", "uid")
PR_SET_DUMPABLE, PR_GET_DUMPABLE = 4, 3
_PROBE = "def on_track(event, settings):\n    return None\n"

log = logging.getLogger("functions.isolation")


class IsolationError(Exception):
    """Strict isolation was asked for and a layer this platform could have is missing."""


@dataclass(frozen=True)
class Layer:
    name: str
    active: bool
    reason: str


def mode_from(flag: str | None = None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    mode = flag or env.get(ENV, "") or "strict"
    if mode not in MODES:
        raise ValueError(f"{ENV} / --isolation must be one of {', '.join(MODES)}; got {mode!r}")
    return mode


def set_non_dumpable() -> bool:
    """``PR_SET_DUMPABLE 0`` for the host process: another process of the same user can
    then neither ptrace it nor read its ``/proc/<pid>/environ`` or ``mem``."""
    prctl = getattr(ctypes.CDLL(None), "prctl", None)
    if prctl is None:  # not Linux: nothing to set, and nothing that says it is set
        return False
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # a refusal shows in the answer below
    return _non_dumpable()


def _non_dumpable() -> bool:
    """Whether this process is not dumpable (False where there is no ``prctl``)."""
    prctl = getattr(ctypes.CDLL(None), "prctl", None)
    return prctl is not None and bool(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0)


def _userns_allowed(sysctl: str = "/proc/sys") -> bool:
    """Whether an unprivileged process may create a user namespace: neither switch
    under ``sysctl`` is ``0`` (a switch this kernel lacks does not forbid it)."""
    for name in ("user/max_user_namespaces", "kernel/unprivileged_userns_clone"):
        with contextlib.suppress(OSError), open(f"{sysctl}/{name}") as fh:
            if fh.read().strip() == "0":
                return False
    return True


def platform_has(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """For each OS layer: "" when this platform could have it, else why not."""
    env = os.environ if env is None else env
    root = os.geteuid() == 0
    lambda_ = "AWS_LAMBDA_FUNCTION_NAME" in env
    abi = confine.landlock_abi()
    return {
        "no_new_privs": "",
        "seccomp": "" if seccomp.supported() else f"no filter for {platform.machine()}",
        "landlock": "" if abi else "the kernel has no Landlock (or it is disabled)",
        "namespaces": (
            "AWS Lambda creates none"
            if lambda_
            else ""
            if root or _userns_allowed()
            else "not root and unprivileged user namespaces are disabled"
        ),
        "uid": "" if root else f"not root: workers already run as uid {os.geteuid()}",
    }


def _worker_layers(worker: Worker, launched_namespaces: int) -> dict[str, str]:
    layers = dict(worker.confinement)
    layers["namespaces"] = (
        f"active ({namespaces.describe(launched_namespaces)})"
        if launched_namespaces
        else "missing: the worker runs in the host's namespaces"
    )
    return layers


def probe(launcher: Launcher | None = None) -> list[Layer]:
    """Every layer, active or missing with the reason, from a real confined worker."""
    own = launcher is None
    launcher = launcher or Launcher()
    try:
        worker = Worker(launcher)
        try:
            problems = worker.load(InstanceSpec(key="doctor", source=_PROBE, filename="probe.py"))
            found = _worker_layers(worker, worker.namespaces)
        finally:
            worker.kill()
    finally:
        if own:
            launcher.close()
    can = platform_has()
    layers = [
        Layer("language", not problems, "RestrictedPython, run-time guards, curated modules"),
        Layer(
            "process",
            True,
            "worker processes never shared across workspaces, rlimits, external time/memory kill",
        ),
    ]
    for name in OS_LAYERS:
        state = found.get(name, "missing: the worker did not report it")
        active = state.startswith("active")
        reason = state if active or not can[name] else f"missing: {can[name]}"
        layers.append(Layer(name, active, reason))
    socketless = found.get("seccomp", "").startswith("active")
    layers.append(
        Layer(
            "network_broker",
            socketless,
            "the worker cannot create a socket (seccomp): the network is the host's"
            if socketless
            else "missing: the worker can open sockets itself",
        )
    )
    protected = _non_dumpable()
    layers.append(
        Layer(
            "non_dumpable_host",
            protected,
            "the host is not dumpable" if protected else "missing: the host is dumpable",
        )
    )
    return layers


def describe(layers: list[Layer]) -> str:
    """The one line ``serve`` and both Lambdas log at start."""
    return "isolation: " + "; ".join(
        f"{layer.name}={'active' if layer.active else 'MISSING'}" for layer in layers
    )


def required(layers: list[Layer]) -> list[str]:
    """The OS layers each worker must report active: those this platform has."""
    can = platform_has()
    return [layer.name for layer in layers if layer.name in can and not can[layer.name]]


def check(layers: list[Layer], mode: str) -> list[str]:
    """Problems: OS layers this platform could have that are missing. Raises
    :class:`IsolationError` in strict mode when there are any; logs them otherwise."""
    can = platform_has()
    problems = [
        f"{layer.name}: {layer.reason}"
        for layer in layers
        if not layer.active and not can.get(layer.name, "x")
    ]
    if problems and mode == "strict":
        raise IsolationError(
            "strict isolation: refusing to run customer code; missing "
            + "; ".join(problems)
            + f" (set {ENV}=best-effort to run anyway)"
        )
    for problem in problems:
        log.warning("isolation (best-effort): %s", problem)
    return problems


def pool(mode: str, emit: Callable[[str], None], **options: Any) -> WorkerPool:
    """The pool of serve, the delivery processes, the Lambdas and ``invoke``: the host
    made non-dumpable, the isolation probed on the pool's own zygote, the line logged
    through ``emit``, strict mode enforced (raises :class:`IsolationError`) and then
    required of every worker."""
    set_non_dumpable()
    launcher = Launcher()
    try:
        layers = probe(launcher)
        emit(describe(layers) + f" (mode {mode})")
        check(layers, mode)
    except BaseException:
        launcher.close()
        raise
    require = tuple(required(layers)) if mode == "strict" else ()
    launcher.exec_fallback = "namespaces" not in require
    return WorkerPool(launcher=launcher, require=require, **options)
