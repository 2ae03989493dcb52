"""``sam local`` reaches local AWS: the template declares ``AWS_ENDPOINT_URL`` through
the ``LocalAwsEndpoint`` parameter (unset on AWS), and the shipped ``--env-vars`` file
and ``samconfig.toml``'s ``local`` environment point both functions at
``functions local-aws --port 4566``. The same file runs here through ``lambda-invoke``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

from functions_runtime.lambdas.local_aws import local_aws
from functions_runtime.lambdas.local_invoke import find_function, load_template, resolve_environment
from tests.aws import aws_support as aws

ENV_VARS = aws.ROOT / "samples" / "sam-local" / "env-vars.json"
CONTAINER_ENDPOINT = "http://host.docker.internal:4566"


def test_the_endpoint_is_set_only_when_the_parameter_is_given() -> None:
    template = load_template(aws.ROOT / "template.yaml")
    for name in aws.FUNCTIONS:
        function = find_function(template, name, aws.ROOT)
        assert "AWS_ENDPOINT_URL" in function.variables
        assert "AWS_ENDPOINT_URL" not in resolve_environment(template, function)  # on AWS
        given = {"LocalAwsEndpoint": CONTAINER_ENDPOINT}
        env = resolve_environment(template, function, parameters=given)
        assert env["AWS_ENDPOINT_URL"] == CONTAINER_ENDPOINT
        empty = resolve_environment(template, function, parameters={"LocalAwsEndpoint": ""})
        assert "AWS_ENDPOINT_URL" not in empty


def test_the_shipped_files_name_what_the_template_declares() -> None:
    template = load_template(aws.ROOT / "template.yaml")
    variables = json.loads(ENV_VARS.read_text())["Parameters"]
    for name in aws.FUNCTIONS:
        declared = set(find_function(template, name, aws.ROOT).variables)
        assert set(variables) <= declared, set(variables) - declared
    assert variables["AWS_ENDPOINT_URL"] == CONTAINER_ENDPOINT
    config = tomllib.loads((aws.ROOT / "samconfig.toml").read_text())["local"]
    for command in ("local_invoke", "local_start_api"):
        params = config[command]["parameters"]
        assert params["parameter_overrides"] == f"LocalAwsEndpoint={CONTAINER_ENDPOINT}"
        assert (aws.ROOT / params["env_vars"]).resolve() == ENV_VARS
    assert "LocalAwsEndpoint" in template["Parameters"]


def test_the_env_vars_file_reaches_local_aws(tmp_path: Path) -> None:
    """The shipped file, with the host's address for the container's, through the
    template's declared AWS_ENDPOINT_URL: the shell's endpoint points nowhere, so the
    call only works if the file's value reaches the function."""
    with local_aws(port=0) as local:
        text = ENV_VARS.read_text().replace(CONTAINER_ENDPOINT, local.endpoint)
        env_file = tmp_path / "env-vars.json"
        env_file.write_text(text)
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        shell = {**base, **local.environ(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
        # The sample event under a name of its own: moto's state is process-wide, and
        # other tests in this process may have made "mobile-app" already.
        sample = json.loads((aws.SAMPLES / "api-create-source.json").read_text())
        sample["body"] = json.dumps({"name": f"env-vars-{uuid.uuid4().hex[:8]}"})
        event = tmp_path / "api-create-source.json"
        event.write_text(json.dumps(sample))
        command = ["lambda-invoke", "ApiFunction", "-e", str(event), "--env-file", str(env_file)]
        done = subprocess.run(
            [sys.executable, "-m", "functions_runtime.cli", *command],
            capture_output=True,
            text=True,
            cwd=aws.ROOT,
            env=shell,
            timeout=180,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["statusCode"] == 201, reply
    assert json.loads(reply["body"])["write_key"].startswith("wk_")


def test_conditions_are_evaluated_as_cloudformation_does() -> None:
    template: dict[str, object] = {
        "Parameters": {"Mode": {"Type": "String", "Default": "a"}, "Url": {"Default": ""}},
        "Conditions": {
            "IsA": {"Fn::Equals": [{"Ref": "Mode"}, "a"]},
            "HasUrl": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Url"}, ""]}]},
            "Both": {"Fn::And": [{"Condition": "IsA"}, {"Condition": "HasUrl"}]},
            "Either": {"Fn::Or": [{"Condition": "IsA"}, {"Condition": "HasUrl"}]},
        },
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Handler": "h.handler",
                    "Environment": {
                        "Variables": {
                            "BOTH": {"Fn::If": ["Both", "yes", {"Ref": "AWS::NoValue"}]},
                            "EITHER": {"Fn::If": ["Either", {"Ref": "Mode"}, "no"]},
                            "URL": {"Fn::If": ["HasUrl", {"Ref": "Url"}, {"Ref": "AWS::NoValue"}]},
                        }
                    },
                },
            }
        },
    }
    function = find_function(template, "Fn", aws.ROOT)
    assert resolve_environment(template, function) == {"EITHER": "a"}
    given = {"Mode": "b", "Url": "http://x"}
    env = resolve_environment(template, function, parameters=given)
    assert env == {"EITHER": "b", "URL": "http://x"}
    given = {"Mode": "a", "Url": "http://x"}
    assert resolve_environment(template, function, parameters=given)["BOTH"] == "yes"


def test_each_local_aws_starts_from_nothing() -> None:
    # moto keeps its servers' state in the process: the bench's cold start (a local AWS
    # in the test process) once left an instance on the sample source, and a later
    # local AWS in that process then queued each sample event twice.
    def make_leftover(local: Any) -> None:
        local.client("dynamodb").create_table(
            TableName="leftover",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    with local_aws(port=0) as first:
        make_leftover(first)
        tables = first.client("dynamodb").list_tables()["TableNames"]
        assert "leftover" in tables
    with local_aws(port=0) as second:
        assert second.client("dynamodb").list_tables()["TableNames"] == sorted(
            set(tables) - {"leftover"}
        )
