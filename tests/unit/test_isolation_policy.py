"""The isolation decisions of ``sandbox/host/isolation.py`` that need no worker: which
mode is asked for, which missing layers stop strict mode (only those this platform
could have), what is required of every worker, and the start-up line. ``probe`` (a real
confined worker) is covered by ``functions doctor`` and the security suite.
"""

from __future__ import annotations

import logging
import os
import platform

import pytest

from functions_runtime.sandbox.guest import confine, seccomp
from functions_runtime.sandbox.host.isolation import (
    IsolationError,
    Layer,
    check,
    describe,
    mode_from,
    platform_has,
    required,
)

LAMBDA = "AWS_LAMBDA_FUNCTION_NAME"


def test_the_mode_is_the_flag_then_the_environment_then_strict() -> None:
    assert mode_from("best-effort", {"FUNCTIONS_ISOLATION": "strict"}) == "best-effort"
    assert mode_from(None, {"FUNCTIONS_ISOLATION": "best-effort"}) == "best-effort"
    assert mode_from("", {"FUNCTIONS_ISOLATION": "best-effort"}) == "best-effort"
    assert mode_from(None, {"FUNCTIONS_ISOLATION": ""}) == "strict"
    assert mode_from(None, {}) == "strict"


def test_the_mode_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCTIONS_ISOLATION", "best-effort")
    assert mode_from() == "best-effort"
    monkeypatch.delenv("FUNCTIONS_ISOLATION")
    assert mode_from() == "strict"


@pytest.mark.parametrize("mode", ["off", "Strict", "none"])
def test_an_unknown_mode_is_refused(mode: str) -> None:
    with pytest.raises(ValueError) as caught:
        mode_from(mode, {})
    assert str(caught.value) == (
        f"FUNCTIONS_ISOLATION / --isolation must be one of strict, best-effort; got {mode!r}"
    )


def test_strict_mode_refuses_a_missing_layer_the_platform_could_have() -> None:
    layers = [
        Layer("language", True, "RestrictedPython"),
        Layer("no_new_privs", False, "missing: not set"),  # every platform has it
        Layer("network_broker", False, "missing: sockets"),  # not an OS layer
    ]
    with pytest.raises(IsolationError) as caught:
        check(layers, "strict")
    assert str(caught.value) == (
        "strict isolation: refusing to run customer code; missing no_new_privs: missing: "
        "not set (set FUNCTIONS_ISOLATION=best-effort to run anyway)"
    )
    two = [Layer("no_new_privs", False, "a"), Layer("no_new_privs", False, "b")]
    with pytest.raises(IsolationError, match="missing no_new_privs: a; no_new_privs: b "):
        check(two, "strict")


def test_best_effort_logs_what_is_missing_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    layers = [Layer("no_new_privs", False, "missing: not set"), Layer("uid", True, "active")]
    with caplog.at_level(logging.WARNING, logger="functions.isolation"):
        assert check(layers, "best-effort") == ["no_new_privs: missing: not set"]
    assert [r.getMessage() for r in caplog.records] == [
        "isolation (best-effort): no_new_privs: missing: not set"
    ]
    assert caplog.records[0].levelno == logging.WARNING


def test_nothing_missing_is_no_problem(caplog: pytest.LogCaptureFixture) -> None:
    layers = [Layer("no_new_privs", True, "active"), Layer("language", False, "x")]
    with caplog.at_level(logging.WARNING, logger="functions.isolation"):
        assert check(layers, "strict") == []
    assert caplog.records == []


def test_on_lambda_missing_namespaces_do_not_stop_strict_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(LAMBDA, "worker")
    layers = [Layer("namespaces", False, "missing: none"), Layer("no_new_privs", True, "active")]
    assert check(layers, "strict") == []
    assert required(layers) == ["no_new_privs"]
    monkeypatch.delenv(LAMBDA)
    if platform_has()["namespaces"] == "":  # this machine could have them
        assert required(layers) == ["namespaces", "no_new_privs"]
        with pytest.raises(IsolationError, match="missing namespaces: missing: none"):
            check(layers, "strict")


def test_required_names_only_os_layers_the_platform_has() -> None:
    layers = [
        Layer("language", True, ""),
        Layer("no_new_privs", True, ""),
        Layer("network_broker", True, ""),
    ]
    assert required(layers) == ["no_new_privs"]


def test_what_the_platform_could_have() -> None:
    has = platform_has({LAMBDA: "worker"})
    assert list(has) == ["no_new_privs", "seccomp", "landlock", "namespaces", "uid"]
    assert has["no_new_privs"] == ""
    assert has["namespaces"] == "AWS Lambda creates none"
    uid = os.geteuid()
    assert has["uid"] == ("" if uid == 0 else f"not root: workers already run as uid {uid}")
    if uid == 0:
        assert platform_has({})["namespaces"] == ""  # root can always create them
    # this machine's kernel and architecture decide which side of each is seen here
    landlock = "the kernel has no Landlock (or it is disabled)"
    assert has["landlock"] == ("" if confine.landlock_abi() else landlock)
    seccomp_reason = f"no filter for {platform.machine()}"
    assert has["seccomp"] == ("" if seccomp.supported() else seccomp_reason)


def test_the_start_up_line() -> None:
    layers = [Layer("language", True, "x"), Layer("seccomp", False, "y")]
    assert describe(layers) == "isolation: language=active; seccomp=MISSING"
    assert describe([]) == "isolation: "
