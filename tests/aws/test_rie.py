"""The entry points under AWS's own Lambda Runtime Interface Emulator, fed the samples.

They run in ``make test`` (which runs ``make aws-rie`` first) and are skipped, saying
why, only where the emulator cannot be installed (not x86_64, not installed) or with
``FUNCTIONS_RIE=0``. The emulator is the binary that
ships inside the aws-sam-cli wheel (what ``sam local invoke`` runs in its container),
here without Docker, both of its addresses bound to 127.0.0.1. It starts
``python -m awslambdaric <Handler>`` as Lambda's Python runtime does, with a Lambda-like
layout: a Python 3.12 venv holding only awslambdaric, the function's code and its
requirements.txt dependencies on ``PYTHONPATH`` (``/var/task`` on Lambda) instead of in
site-packages. The handlers reach the resources on a moto server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.coldstart_rie import DEPS, PYTHON, RIE, rie_missing
from bench.procstat import descendants
from functions_runtime.lambdas.local_invoke import find_function
from tests.aws import aws_support as aws
from tests.aws.conftest import MotoStack


def _why_not() -> str | None:
    """Why the emulator tests cannot run here (None: they run, as in `make test`)."""
    if os.environ.get("FUNCTIONS_RIE") == "0":
        return "turned off with FUNCTIONS_RIE=0"
    return rie_missing()


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_why_not() is not None, reason=_why_not() or ""),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Emulator:
    """One function under the emulator: ``invoke(event)`` POSTs to its invoke URL."""

    def __init__(self, function: str, code: Path, stack: MotoStack, log: Path) -> None:
        spec = find_function(aws.template(), function, aws.ROOT)
        self.port = free_port()
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            **stack.environ(),
            **aws.function_env(function, stack.names),
            "PYTHONPATH": f"{code}:{DEPS}",
            "AWS_LAMBDA_FUNCTION_NAME": function,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(spec.timeout)),
            "AWS_SAM_LOCAL": "true",  # as under `sam local`: Powertools skips X-Ray
        }
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            [
                str(RIE),
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{self.port}",
                "--runtime-api-address",
                f"127.0.0.1:{free_port()}",
                str(PYTHON),
                "-m",
                "awslambdaric",
                spec.handler,
            ],
            cwd=code,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                break
            assert self.process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the emulator did not listen"
            time.sleep(0.1)

    def invoke(self, event: Path) -> Any:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations",
            data=event.read_bytes(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        others = descendants(self.process.pid)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in others:  # the runtime runs in its own process group
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._out.close()


@pytest.fixture
def emulators(
    moto_stack: MotoStack, lambda_code: Path, tmp_path: Path
) -> Iterator[dict[str, Emulator]]:
    for path in (RIE, PYTHON, DEPS):
        if not path.exists():
            pytest.fail(f"{path} is missing: run `make aws-rie`")
    started: dict[str, Emulator] = {}
    try:
        for function in aws.FUNCTIONS:
            started[function] = Emulator(
                function, lambda_code, moto_stack, tmp_path / f"{function}.log"
            )
        yield started
    finally:
        for emulator in started.values():
            emulator.stop()


def test_python_is_lambdas() -> None:
    version = subprocess.run(
        [str(PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version in ("(3, 12)", "(3, 13)"), f"the emulator's Python is {version}"


def test_samples_under_the_emulator(
    emulators: dict[str, Emulator], moto_stack: MotoStack, tmp_path: Path
) -> None:
    def run(function: str, event: Path) -> Any:
        return emulators[function].invoke(event)

    try:
        aws.check_samples(run, moto_stack, tmp_path)
    except AssertionError:
        for emulator in emulators.values():
            print(f"--- {emulator.log.name}\n{emulator.log.read_text()[-6000:]}")
        raise
