"""``functions lambda-invoke`` as a fresh clone has it: no AWS account, no endpoint, no
built code directory, no tools environment. Local AWS (moto, from the dev extras) is
started by the command itself, or in this process for a sequence of calls.

Every file in samples/lambda-events runs here (in its documented order, with its
documented result), in the default test run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.lambdas.local_aws import LocalAws, local_aws
from functions_runtime.lambdas.local_command import one_line_error
from tests.aws import aws_support as aws

ROOT = aws.ROOT


def fresh_clone(tmp_path: Path) -> Path:
    """What a clone holds that lambda-invoke reads: the template, the build script and
    the sources (no build/lambda)."""
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("template.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, clone / name)
    shutil.copytree(ROOT / "scripts", clone / "scripts")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "functions_runtime", clone / "functions_runtime", ignore=ignore)
    (clone / "sdk").mkdir()
    shutil.copy(ROOT / "sdk" / "pyproject.toml", clone / "sdk" / "pyproject.toml")
    shutil.copytree(ROOT / "sdk" / "src", clone / "sdk" / "src", ignore=ignore)
    return clone


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "functions_runtime.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=180,
        check=False,
    )


def test_a_fresh_clone_invokes_the_api_with_no_aws(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    event = aws.SAMPLES / "api-track.json"
    done = cli("lambda-invoke", "ApiFunction", "-e", str(event), cwd=clone)
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["statusCode"] == 200, reply
    assert json.loads(reply["body"])["success"] is True
    assert "starting local AWS" in done.stderr


def test_the_pipeline_delivers_to_the_local_sink(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    event = aws.SAMPLES / "api-track.json"
    done = cli("lambda-invoke", "--pipeline", "-e", str(event), cwd=clone)
    assert done.returncode == 0, done.stdout + done.stderr
    hops = [line.split(" ", 2)[:2] for line in done.stdout.splitlines()]
    assert hops == [
        ["0", "setup:"],
        ["1", "api:"],
        ["2", "queue:"],
        ["3", "worker:"],
        ["4", "sink:"],
    ]
    assert '"queued": 1' in done.stdout
    assert '"batchItemFailures": []' in done.stdout
    assert '4 sink: POST /in {"type":"track","event":"Signed Up"' in done.stdout


def test_a_failing_invocation_exits_1_with_the_error_on_one_line(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Records": [{"body": "not json"}]}))
    done = cli("lambda-invoke", "WorkerFunction", "-e", str(bad), cwd=clone)
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("functions: error: WorkerFunction failed: "), last


def test_a_code_dir_built_for_another_python_is_refused(tmp_path: Path) -> None:
    code = tmp_path / "code" / "pydantic_core"
    code.mkdir(parents=True)
    (code / "_pydantic_core.cpython-302-x86_64-linux-gnu.so").write_bytes(b"")
    event = aws.SAMPLES / "api-track.json"
    done = cli(
        "lambda-invoke", "ApiFunction", "-e", str(event), "--code-dir", str(code.parent), cwd=ROOT
    )
    assert done.returncode == 2
    assert "built for another Python" in done.stderr


def test_one_line_error_for_an_api_5xx_names_the_logged_cause() -> None:
    reply = {"statusCode": 500, "body": json.dumps({"error": {"message": "internal error"}})}
    logs = json.dumps({"level": "ERROR", "exception": "Traceback ...\nNoCredentialsError: x"})
    line = one_line_error("ApiFunction", True, reply, f"noise\n{logs}\n")
    assert line == "ApiFunction answered 500: internal error (cause: NoCredentialsError: x)"
    assert one_line_error("ApiFunction", True, {"statusCode": 404, "body": "{}"}, "") is None


# -- every sample, in order, on one local AWS -------------------------------------------


class _Stack:
    def __init__(self, local: LocalAws) -> None:
        self.local = local
        v = local.variables
        self.names = aws.Names(
            v["FUNCTIONS_TABLE"],
            v["FUNCTIONS_CODE_BUCKET"],
            v["FUNCTIONS_KMS_KEY_ID"],
            v["FUNCTIONS_QUEUE_URL"],
            v["FUNCTIONS_DLQ_URL"],
            v["FUNCTIONS_DELIVERIES_TABLE"],
            v["FUNCTIONS_IDEMPOTENCY_TABLE"],
        )

    def client(self, name: str) -> Any:
        return self.local.client(name)


@pytest.fixture(scope="module")
def stack() -> Iterator[_Stack]:
    with local_aws() as local:
        yield _Stack(local)


def test_every_sample_event_gives_its_documented_result(stack: _Stack, tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path)
    # The file `functions local-aws` writes for `sam local invoke --env-vars`.
    env_vars = str(stack.local.write_env_vars(tmp_path / "local-env.json"))

    def run(function: str, path: Path) -> Any:
        args = ("lambda-invoke", function, "-e", str(path), "--env-file", env_vars)
        done = cli(*args, cwd=clone, env=stack.local.environ())
        assert done.stdout.strip(), done.stderr
        return json.loads(done.stdout)

    aws.check_samples(run, stack, tmp_path)
