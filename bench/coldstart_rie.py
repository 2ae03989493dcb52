"""Scenario coldstart, under AWS's Lambda Runtime Interface Emulator (issue 16 §2).

What ``make aws-rie`` installs (``build/tools/rie``: the emulator binary from the
aws-sam-cli wheel, a Python 3.12 venv holding only awslambdaric, the runtime's
dependencies in ``deps``) and the code directory ``scripts/build_lambda.sh`` builds, as
``tests/aws/test_rie.py`` runs them: per repeat a fresh emulator starts
``python -m awslambdaric functions_runtime.lambdas.worker.handler`` with the template's
environment and local AWS's endpoint, and is sent one SQS event (one track event queued
through the runtime's ingest, as in :mod:`bench.coldstart`); the figure is the wall
time from that POST to the reply, which on a fresh emulator covers the runtime's
start, the handler module's import (init) and the first event; and the CPU time of the
runtime's own process by then (``/proc``; the zygote and its workers are others). As
on Lambda, nothing is written next to the code at run time (``PYTHONDONTWRITEBYTECODE``;
``/var/task`` is read-only there), so a module without a ``.pyc`` in the build is
compiled at every cold start: the build ships unchecked-hash ``.pyc`` files compiled by
the emulator's Python (``LAMBDA_PYTHON=none`` in the environment builds without, to
compare). The API Lambda is timed the same way on ``GET /v1/sources``.

Skipped (with the reason in the results) where the emulator is not installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cold import ROOT
from .paths import BenchError
from .procstat import cpu_seconds, descendants
from .stats import summary

if TYPE_CHECKING:
    from .coldstart import Stack

__all__ = ["rie_missing", "run_coldstart_rie"]

RIE_DIR = ROOT / "build" / "tools" / "rie"
RIE = RIE_DIR / "aws-lambda-rie-x86_64"
PYTHON = RIE_DIR / "venv" / "bin" / "python"
DEPS = RIE_DIR / "deps"
_HANDLERS = {
    "worker": ("WorkerFunction", "functions_runtime.lambdas.worker.handler", 2048),
    "api": ("ApiFunction", "functions_runtime.lambdas.api.handler", 1024),
}
_DURATION = re.compile(r"Init Duration: ([0-9.]+) ms")


def rie_missing() -> str | None:
    """Why the emulator cannot run here (None: it can)."""
    if platform.machine() != "x86_64":
        return f"the emulator binary is x86_64 only; this machine is {platform.machine()}"
    if not (RIE_DIR / ".installed").exists():
        return "the emulator and its Python 3.12 are not installed: run `make aws-rie`"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _is_runtime(pid: int) -> bool:
    """The runtime's own process (``python -m awslambdaric``), not the zygote or workers."""
    try:
        return b"awslambdaric" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _environment(stack: Stack, code: Path, function: str, memory: int) -> dict[str, str]:
    template = {k: v for k, v in stack.env.items() if k not in os.environ}
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        **template,
        **stack.aws.environ(),
        **stack.aws.variables,
        "FUNCTIONS_HTTP_ALLOW": "127.0.0.1",
        "PYTHONPATH": f"{code}:{DEPS}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "300",
        "AWS_SAM_LOCAL": "true",  # as under `sam local`: Powertools skips X-Ray
    }


def _first_invoke(name: str, stack: Stack, code: Path, event: Path, log: Path) -> dict[str, Any]:
    function, handler, memory = _HANDLERS[name]
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(RIE),
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{port}",
                "--runtime-api-address",
                f"127.0.0.1:{_free_port()}",
                str(PYTHON),
                "-m",
                "awslambdaric",
                handler,
            ],
            cwd=code,
            env=_environment(stack, code, function, memory),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"the emulator did not start: {log.read_text()[-800:]}")
                time.sleep(0.02)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations",
                data=event.read_bytes(),
                method="POST",
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=120) as response:
                reply = json.loads(response.read())
            elapsed = (time.perf_counter() - started) * 1000
            runtime = [p for p in descendants(process.pid) if _is_runtime(p)]
            cpu = cpu_seconds(runtime) * 1000
        finally:
            others = descendants(process.pid)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for pid in others:  # the runtime runs in its own process group
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    found: dict[str, Any] = {"first_invoke_ms": elapsed, "cpu_ms": cpu, "reply": reply}
    init = _DURATION.search(log.read_text(errors="replace"))
    if init:
        found["init_reported_ms"] = float(init.group(1))
    return found


def run_coldstart_rie(repeat: int, stack: Stack) -> dict[str, Any]:
    """The emulator's figures on ``stack`` (the local AWS of :func:`run_coldstart`)."""
    missing = rie_missing()
    if missing:
        return {"skipped": missing}
    rows: dict[str, list[dict[str, Any]]] = {"worker": [], "api": []}
    with tempfile.TemporaryDirectory(prefix="bench-rie-") as tmp:
        code = Path(tmp, "code")
        subprocess.run(  # with the emulator Python's bytecode, as SAM's build ships it
            [str(ROOT / "scripts" / "build_lambda.sh"), str(code)],
            check=True,
            capture_output=True,
            env={**os.environ, "LAMBDA_PYTHON": os.environ.get("LAMBDA_PYTHON", str(PYTHON))},
        )
        for i in range(repeat):
            event = stack.sqs_event(1000 + i)
            worker = _first_invoke("worker", stack, code, event, Path(tmp, f"worker-{i}.log"))
            if worker["reply"].get("batchItemFailures") != []:
                raise BenchError(f"coldstart (emulator): not delivered: {worker['reply']}")
            rows["worker"].append(worker)
            api = _first_invoke("api", stack, code, stack.api_request, Path(tmp, f"api-{i}.log"))
            if api["reply"].get("statusCode") != 200:
                raise BenchError(f"coldstart (emulator): API request failed: {api['reply']}")
            rows["api"].append(api)
    figures: dict[str, Any] = {}
    for name, runs in rows.items():
        wall, cpu = [r["first_invoke_ms"] for r in runs], [r["cpu_ms"] for r in runs]
        figures[f"rie_{name}_init_and_first_event_ms"] = summary(wall, 1)
        figures[f"rie_{name}_init_and_first_event_cpu_ms"] = summary(cpu, 1)
    return figures
