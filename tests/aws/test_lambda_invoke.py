"""``functions lambda-invoke``: the sample events give their documented results
(samples/lambda-events/README.md), and the command behaves as Lambda does: the
template's environment, a context with a deadline, the deadline enforced.

The samples run in their documented order against a moto server (``make aws-tools``)
on which the template's resources were provisioned and the sample credentials seeded;
the child processes reach it through ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.aws import aws_support as aws
from tests.aws.conftest import MotoStack


def lambda_invoke(
    function: str,
    event: Path,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = aws.ROOT,
) -> tuple[int, Any, str]:
    """Run the command; (exit status, the JSON it printed or None, stderr)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "functions_runtime.cli",
            "lambda-invoke",
            function,
            "-e",
            str(event),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    output = json.loads(result.stdout) if result.stdout.strip() else None
    return result.returncode, output, result.stderr


# -- the samples, in their documented order ---------------------------------------------


@pytest.fixture(scope="module")
def run_sample(moto_stack: MotoStack, lambda_code: Path, tmp_path_factory: pytest.TempPathFactory):
    env_file = aws.env_file(tmp_path_factory.mktemp("env") / "env.json", moto_stack.names)

    def run(function: str, path: Path) -> Any:
        code, output, stderr = lambda_invoke(
            function,
            path,
            "--env-file",
            str(env_file),
            "--code-dir",
            str(lambda_code),
            env=moto_stack.environ(),
        )
        assert (code, output is not None) == (0, True), stderr
        return output

    return run


def test_every_sample_is_tested_and_documented() -> None:
    samples = sorted(p.name for p in aws.SAMPLES.glob("*.json"))
    assert samples == sorted(aws.SAMPLE_ORDER)
    readme = (aws.SAMPLES / "README.md").read_text(encoding="utf-8")
    for name in samples:
        assert f"`{name}`" in readme, name
    for name in samples:
        text = (aws.SAMPLES / name).read_text(encoding="utf-8")
        if name.startswith("api-") and name not in ("api-track.json", "api-batch-bad-message.json"):
            assert aws.ADMIN_KEY in text, name
    assert aws.VERSION_PLACEHOLDER in (aws.SAMPLES / "api-test.json").read_text()


def test_samples_give_their_documented_results(
    run_sample: Any, moto_stack: MotoStack, tmp_path: Path
) -> None:
    aws.check_samples(run_sample, moto_stack, tmp_path)


# -- behaving as Lambda does --------------------------------------------------------------

PROBE = """\
import os
import time

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError(event["fail"])
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "remaining": context.get_remaining_time_in_millis(),
        "env": {k: v for k, v in os.environ.items()
                if k.startswith(("GREETING", "TABLE", "QUEUE", "KEY", "URL", "AWS_LAMBDA",
                                 "LAMBDA_TASK_ROOT", "FUNCTIONS_API_KEY", "MODE"))},
        "cwd": os.getcwd(),
        "module": __file__,
    }
"""
PROBE_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hello
Globals:
  Function:
    Runtime: python3.12
    CodeUri: code
    Timeout: 2
    Environment:
      Variables:
        GREETING: !Ref Greeting
Resources:
  Probe:
    Type: AWS::Serverless::Function
    Properties:
      Handler: probe.handler
      MemorySize: 512
      Environment:
        Variables:
          TABLE: !Ref Table
          QUEUE: !GetAtt Queue.Arn
          URL: !Sub "https://${Table}.example/${AWS::Region}"
          MODE: fixed
  Table:
    Type: AWS::DynamoDB::Table
  Queue:
    Type: AWS::SQS::Queue
"""


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "probe.py").write_text(PROBE)
    (tmp_path / "template.yaml").write_text(PROBE_TEMPLATE)
    return tmp_path


def write_event(directory: Path, event: dict[str, Any]) -> Path:
    path = directory / "event.json"
    path.write_text(json.dumps(event))
    return path


def test_environment_and_context_are_lambdas(probe: Path) -> None:
    event = write_event(probe, {"hello": "world"})
    code, out, _ = lambda_invoke(
        "Probe",
        event,
        env={"FUNCTIONS_API_KEY": "not for the handler", "AWS_REGION": "eu-west-1"},
        cwd=probe,
    )
    assert code == 0
    assert out["event"] == {"hello": "world"}
    assert out["function_name"] == "Probe"
    assert out["memory"] == 512
    assert out["arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:Probe"
    assert 0 < out["remaining"] <= 2000
    assert len(out["request_id"]) == 36
    env = out["env"]
    assert env["GREETING"] == "hello"  # a parameter's default
    assert env["TABLE"] == "Table"  # a resource: a placeholder, as sam local invoke gives
    assert env["QUEUE"] == "Queue.Arn"
    assert env["URL"] == "https://Table.example/eu-west-1"  # !Sub, pseudo parameters
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "Probe"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert "FUNCTIONS_API_KEY" not in env  # only AWS_* and a few basics are passed on
    assert Path(env["LAMBDA_TASK_ROOT"]) == probe / "code" == Path(out["cwd"])
    assert Path(out["module"]).parent == probe / "code"


def test_env_file_sets_declared_variables_only(probe: Path) -> None:
    env_file = probe / "env.json"
    env_file.write_text(
        json.dumps(
            {
                "Parameters": {"TABLE": "real-table", "UNDECLARED": "x"},
                "Probe": {"QUEUE": "arn:aws:sqs:eu-west-1:111122223333:q"},
            }
        )
    )
    event = write_event(probe, {})
    code, out, _ = lambda_invoke("Probe", event, "--env-file", str(env_file), cwd=probe)
    assert code == 0
    assert out["env"]["TABLE"] == "real-table"
    assert out["env"]["QUEUE"] == "arn:aws:sqs:eu-west-1:111122223333:q"
    assert "UNDECLARED" not in out["env"]


def test_deadline_is_enforced(probe: Path) -> None:
    event = write_event(probe, {"sleep": 30})
    code, out, _ = lambda_invoke("Probe", event, cwd=probe)  # the handler sleeps 30 s
    assert code == 1
    assert out["errorType"] == "Sandbox.Timedout"
    assert out["errorMessage"].endswith("Task timed out after 2.00 seconds")

    code, out, _ = lambda_invoke("Probe", event, "--timeout", "1", cwd=probe)
    assert (code, out["errorMessage"].endswith("Task timed out after 1.00 seconds")) == (1, True)


def test_handler_errors_are_lambdas_error_object(probe: Path) -> None:
    code, out, _ = lambda_invoke("Probe", write_event(probe, {"fail": "boom"}), cwd=probe)
    assert code == 1
    assert (out["errorType"], out["errorMessage"]) == ("ValueError", "boom")
    assert out["stackTrace"] and len(out["requestId"]) == 36


def test_usage_errors(probe: Path) -> None:
    event = write_event(probe, {})
    code, out, stderr = lambda_invoke("Nope", event, cwd=probe)
    assert (code, out) == (2, None)
    assert "no function 'Nope'" in stderr and "Probe" in stderr
    code, out, stderr = lambda_invoke(
        "Probe", event, "--code-dir", str(probe / "missing"), cwd=probe
    )
    assert code == 2 and "does not exist" in stderr
