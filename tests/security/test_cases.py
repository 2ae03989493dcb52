"""Every hostile handler under ``cases/`` against the production sandbox.

Each case file starts with a header (see README.md)::

    # expect: invalid | contained
    # attack: <one line>
    # outcome: <outcome>            (contained: the outcome every run must end with)
    # error: <ErrorType> | none     (contained: the error type every run must end with;
                                     ``none`` for a delivered run)
    # runs: <n>                     (optional, contained: run n times in the same worker)
    # event: <json>                 (optional: the event to send; default DEFAULT_EVENT)
    # line: <n>                     (optional, invalid: an error must point at line n)
    # batch: <n>                    (optional, contained: send n copies of the event as a batch)

``invalid`` cases must be refused by ``compile_function`` with ``path:line: message``
errors and come back ``invalid`` from the pool. ``contained`` cases may compile, but
every run must end with exactly the declared outcome and error type, and a delivered
run with a result ``{"escaped": false, ...}`` (the case's own verdict that its attack
failed). A lost worker (``WorkerCrashed``, ``WorkerProtocolError``) counts only where
a case declares it. For every case, nothing from another instance or the host
(canaries, files, the environment) may appear in the output, output stays bounded, the
workers' environments hold no canary, and nothing connected to the loopback listener.
``test_null_sandbox.py`` checks that the guard-level cases fail without the sandbox.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sandbox_harness import (
    ALL_CANARIES,
    CASE_PORT,
    DEFAULT_EVENT,
    ENV_CANARIES,
    MEMORY_MB,
    TIMEOUT,
    LoopbackListener,
    Sandbox,
    leaks_in,
)

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.host.pool import InstanceSpec

CASES_DIR = Path(__file__).parent / "cases"
CASE_FILES = sorted(CASES_DIR.glob("[0-9][0-9][0-9]_*.py"))
CONTAINED_OUTCOMES = frozenset({"rejected", "filtered", "retry"})
ALL_OUTCOMES = CONTAINED_OUTCOMES | {"delivered"}
# The host's names for a worker it lost: a case passes with them only where it says so.
LOST_WORKER_ERRORS = frozenset({"WorkerCrashed", "WorkerProtocolError"})
MEMORY_RACE = frozenset({"MemoryError", "MemoryLimitExceeded"})
# Result, logs (64 KiB), error and request records of one run stay well under this.
MAX_OUTPUT_BYTES = 2 * 1024 * 1024
PROBLEM_RE = re.compile(r"^handler\.py:(\d+): \S.*", re.S)
_HEADER_RE = re.compile(r"^# (expect|attack|error|outcome|runs|event|line|batch): ?(.*)$")


@dataclass(frozen=True)
class Case:
    path: Path
    source: str
    expect: str
    attack: str
    error: str | None = None  # contained: an error type, or None for "none" (delivered)
    also: str | None = None  # the one other error type a memory race may give (see below)
    outcome: str | None = None  # contained: the one outcome of every run
    runs: int = 1
    event: Any = None
    line: int | None = None
    batch: int = 0

    @property
    def name(self) -> str:
        return self.path.stem


def load_case(path: Path) -> Case:
    source = path.read_text(encoding="utf-8")
    fields: dict[str, str] = {}
    for line in source.splitlines():
        match = _HEADER_RE.match(line)
        if not match:
            break
        fields[match.group(1)] = match.group(2).strip()
    lines = source.splitlines()
    assert lines[0].startswith("# expect: "), f"{path.name}: line 1 must be '# expect: ...'"
    assert lines[1].startswith("# attack: "), f"{path.name}: line 2 must be '# attack: ...'"
    expect = fields["expect"]
    assert expect in {"invalid", "contained"}, f"{path.name}: bad expect {expect!r}"
    assert fields["attack"], f"{path.name}: empty attack line"
    outcome: str | None = None
    error: str | None = None
    also: str | None = None
    if expect == "contained":
        assert "outcome" in fields, f"{path.name}: a contained case declares '# outcome: ...'"
        assert "error" in fields, f"{path.name}: a contained case declares '# error: ...'"
        outcome = fields["outcome"]
        assert outcome in ALL_OUTCOMES, f"{path.name}: bad outcome {outcome!r}"
        error = None if fields["error"] == "none" else fields["error"]
        if error is not None and " " in error:
            # The worker's address-space rlimit and the host's RSS watchdog race for the
            # same memory bomb; each layer has its own exact test (tests/unit).
            error, also = error.split()
            assert {error, also} == MEMORY_RACE, f"{path.name}: one error type per case"
        assert (error is None) == (outcome == "delivered"), (
            f"{path.name}: a delivered case declares '# error: none', any other an error type"
        )
    return Case(
        also=also,
        path=path,
        source=source,
        expect=expect,
        attack=fields["attack"],
        error=error,
        outcome=outcome,
        runs=int(fields.get("runs", "1")),
        event=json.loads(fields["event"]) if "event" in fields else None,
        line=int(fields["line"]) if "line" in fields else None,
        batch=int(fields.get("batch", "0")),
    )


CASES = [load_case(path) for path in CASE_FILES]


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 80
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names)
    numbers = [name[:3] for name in names]
    assert len(set(numbers)) == len(numbers), "case numbers must be unique"


@pytest.mark.parametrize("case", CASES, ids=[case.path.name for case in CASES])
def test_case(case: Case, sandbox: Sandbox) -> None:
    event = case.event if case.event is not None else dict(DEFAULT_EVENT)
    if case.expect == "invalid":
        _check_invalid(case, sandbox, event)
    else:
        _check_contained(case, sandbox, event)
    _check_environment(sandbox)


def _check_invalid(case: Case, sandbox: Sandbox, event: Any) -> None:
    report = compile_function(case.source, "handler.py")
    errors = [str(problem) for problem in report.errors]
    assert not report.ok, f"{case.name} compiled; it must be refused at upload"
    assert report.code is None
    located = [PROBLEM_RE.match(error) for error in errors]
    assert any(located), f"no 'path:line: message' error in {errors}"
    line_count = len(case.source.splitlines())
    lines = [int(match.group(1)) for match in located if match]
    assert all(1 <= line <= line_count for line in lines), errors
    if case.line is not None:
        assert case.line in lines, f"expected an error at line {case.line}: {errors}"
    assert not leaks_in(json.dumps(errors))

    spec = sandbox.spec_b(f"invalid-{case.name}", case.source)
    # The pool's host compiles the code once (as the control plane does at upload, the
    # same compile this test ran above: bounded source size and depth, every compiler
    # failure caught) and refuses it before any worker starts; the refusal is
    # remembered, so the same code is not compiled again and starts no worker.
    starts = sandbox.pool.starts
    [result] = sandbox.pool.invoke(spec, [event])
    assert sandbox.pool.worker_pids(spec) == [], "a worker was kept for refused code"
    [again] = sandbox.pool.invoke(spec, [event])
    assert sandbox.pool.starts == starts, "refused code started a worker"
    assert again["outcome"] == "invalid"
    assert result["outcome"] == "invalid", result
    assert result["result"] is None
    assert any(PROBLEM_RE.match(p) for p in result.get("problems", [])), result


def contained_problems(case: Case, results: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the records of a contained case's runs (empty: it held).

    Pure: the real run (below) and the null sandbox (``test_null_sandbox.py``) use it.
    """
    problems: list[str] = []
    if len(results) != case.runs * max(case.batch, 1):
        problems.append(f"{len(results)} records for {case.runs} run(s)")
    text = json.dumps(results)
    leaked = leaks_in(text)
    if leaked:
        problems.append(f"leaked {leaked}: {text[:2000]}")
    if len(text) > MAX_OUTPUT_BYTES * max(len(results), 1):
        problems.append(f"unbounded output, {len(text)} bytes of delivery records")
    for run, result in enumerate(results, 1):
        outcome = result["outcome"]
        error_type = (result.get("error") or {}).get("type")
        where = f"run {run}: {json.dumps(result)[:1500]}"
        if outcome != case.outcome:
            problems.append(f"outcome {outcome!r}, expected {case.outcome!r}: {where}")
        if error_type in LOST_WORKER_ERRORS and error_type != case.error:
            problems.append(f"the worker was lost ({error_type}), not contained: {where}")
        elif error_type != case.error and (case.also is None or error_type != case.also):
            problems.append(f"error {error_type!r}, expected {case.error!r}: {where}")
        if outcome == "delivered":
            value = result["result"]
            if not (isinstance(value, dict) and value.get("escaped") is False):
                problems.append(f"attack reported success / unexpected delivery: {where}")
        elif not (result.get("error") or {}).get("type"):
            problems.append(f"no error type: {where}")
        for request in result.get("requests") or []:
            if request["status"] is not None and outcome != "delivered":
                problems.append(f"a request was answered: {where}")
    return problems


def _check_contained(case: Case, sandbox: Sandbox, event: Any) -> None:
    a_before = sandbox.run_a()
    assert a_before["outcome"] == "delivered", a_before

    results = sandbox.run_b(
        f"case-{case.name}", case.source, event, runs=case.runs, batch=case.batch
    )
    problems = contained_problems(case, results)
    assert not problems, f"{case.name}: " + "\n".join(problems)
    assert not sandbox.listener.connections, (
        f"{case.name}: a socket was opened to the loopback listener {sandbox.listener.connections}"
    )
    # Instance A is unaffected by whatever B did.
    a_after = sandbox.run_a()
    assert a_after["outcome"] == "delivered" and a_after["result"] == {"ok": True}, a_after


def _check_environment(sandbox: Sandbox) -> None:
    for pid, environ in sandbox.worker_environments().items():
        for name, value in ENV_CANARIES.items():
            assert name.encode() not in environ, f"worker {pid} inherited {name}"
            assert value.encode() not in environ, f"worker {pid} holds a canary"
        for canary in ALL_CANARIES:
            assert canary.encode() not in environ


def test_worker_environment_is_allow_listed(sandbox: Sandbox) -> None:
    """The exec'd worker's /proc/<pid>/environ holds none of the host's secrets."""
    sandbox.run_a()
    environs = sandbox.worker_environments()
    assert environs, "no live worker to inspect"
    for environ in environs.values():
        pairs = (entry.partition(b"=") for entry in environ.split(b"\0") if entry)
        entries = {name: value for name, _, value in pairs}
        assert set(entries) <= {b"PATH", b"LANG", b"LC_ALL", b"TZ", b"PYDANTIC_DISABLE_PLUGINS"}
        # Set by the runtime, never inherited: no third-party pydantic plugin loads.
        assert entries.get(b"PYDANTIC_DISABLE_PLUGINS") == b"__all__", entries
        for canary in ALL_CANARIES:
            assert canary.encode() not in environ


def test_instance_a_is_isolated_from_b(sandbox: Sandbox) -> None:
    """A keeps its own state and secret; B, in the same pool, sees neither."""
    probe = """
def on_track(event, settings):
    return {"escaped": False, "settings": dict(settings.items()), "names": sorted(settings.keys())}
"""
    sandbox.run_a()
    results = sandbox.run_b("isolation-probe", probe, dict(DEFAULT_EVENT))
    assert results[0]["outcome"] == "delivered", results
    assert results[0]["result"]["names"] == ["api_key", "url"]
    assert not leaks_in(json.dumps(results))
    assert sandbox.run_a()["result"] == {"ok": True}
    assert not leaks_in(json.dumps(sandbox.a_results))  # A's own records are masked too


def test_invalid_spec_never_starts_a_worker(sandbox: Sandbox) -> None:
    """Code refused once is refused by the pool before any process sees it again."""
    warmup = InstanceSpec(
        key="never-started-warmup",
        source="import os\n\ndef on_track(event, settings):\n    return os.environ\n",
        filename="handler.py",
        timeout=TIMEOUT,
        memory_mb=MEMORY_MB,
    )
    sandbox.pool.invoke(warmup, [dict(DEFAULT_EVENT)])
    starts = sandbox.pool.starts
    spec = InstanceSpec(
        key="never-started",
        source="import os\n\ndef on_track(event, settings):\n    return os.environ\n",
        filename="handler.py",
        timeout=TIMEOUT,
        memory_mb=MEMORY_MB,
    )
    [result] = sandbox.pool.invoke(spec, [dict(DEFAULT_EVENT)])
    assert result["outcome"] == "invalid"
    assert result["problems"][0].startswith("handler.py:1: ")
    assert sandbox.pool.starts == starts


FUNCTIONS_CLI = Path(sys.executable).with_name("functions")


def _cli_env() -> dict[str, str]:
    """The CLI process starts *with* the canaries in its initial environment (as a
    Lambda runtime does), so they are in its /proc/<pid>/environ as well."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCTIONS_HTTP_ALLOW")}
    env.update(ENV_CANARIES)
    return env


@pytest.mark.parametrize(
    "name", ["001_subclasses_walk.py", "150_import_os.py", "240_posonly_guard_shadow.py"]
)
def test_cli_validate_refuses_invalid_cases(name: str) -> None:
    path = CASES_DIR / name
    proc = subprocess.run(
        [str(FUNCTIONS_CLI), "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_cli_env(),
    )
    assert proc.returncode == 1, proc
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    pattern = re.compile(rf"^{re.escape(str(path))}:(\d+): \S")
    assert lines, proc
    assert all(pattern.match(line) for line in lines), proc.stderr


@pytest.mark.parametrize(
    "name",
    ["169_open_proc_environ.py", "076_settings_private_values.py", "180_ssrf_loopback_ipv4.py"],
)
def test_cli_invoke_contains_hostile_cases(name: str, tmp_path: Path) -> None:
    """``functions invoke`` gives the case's declared outcome and error, with its event."""
    case = load_case(CASES_DIR / name)
    listener = LoopbackListener()
    try:
        handler = tmp_path / name
        handler.write_text(case.source.replace(str(CASE_PORT), str(listener.port)))
        event = tmp_path / "event.json"
        event.write_text(json.dumps(case.event if case.event is not None else DEFAULT_EVENT))
        proc = subprocess.run(
            [str(FUNCTIONS_CLI), "invoke", str(handler), "--event", str(event)],
            capture_output=True,
            text=True,
            timeout=60,
            env=_cli_env(),
        )
    finally:
        listener.close()
    assert proc.returncode == 0, proc.stderr
    assert not leaks_in(proc.stdout + proc.stderr)
    record = json.loads(proc.stdout)
    problems = contained_problems(case, [record])
    assert not problems, problems
    assert not listener.connections, listener.connections
