"""template.yaml held to AWS's own tools, and to the code it deploys.

cfn-lint and aws-sam-translator pin their own dependencies (the translator pins
pydantic), so they live in a separate tools environment (``make aws-tools``, under
build/tools/) and run here as subprocesses of its python.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions_runtime.delivery import aws as delivery_aws
from tests.aws import aws_support as aws

RUNTIME = aws.ROOT / "functions_runtime"
# Names as a deployed stack's would look (the handlers import with them; no call is made).
NAMES = aws.Names(
    "t-functions",
    "t-functions-code",
    "1234abcd-12ab-34cd-56ef-1234567890ab",
    f"https://sqs.us-east-1.amazonaws.com/{aws.ACCOUNT}/t-functions-queue",
    f"https://sqs.us-east-1.amazonaws.com/{aws.ACCOUNT}/t-functions-dlq",
    "t-functions-deliveries",
    "t-functions-idempotency",
)


@pytest.fixture(scope="module")
def tools() -> Path:
    return aws.tools_python()


@pytest.fixture(scope="module")
def transformed(tools: Path) -> dict[str, Any]:
    """The template as plain CloudFormation, from aws-sam-translator."""
    result = subprocess.run(
        [str(tools), str(aws.HERE / "_sam_translate.py"), str(aws.TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return aws.template()


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return aws.build_code(tmp_path_factory.mktemp("build") / "lambda")


def resources(data: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in data["Resources"].items() if v["Type"] == kind}


def only(data: dict[str, Any], kind: str) -> dict[str, Any]:
    [found] = resources(data, kind).values()
    return found["Properties"]  # type: ignore[no-any-return]


# -- AWS's tools -------------------------------------------------------------------------


def test_cfn_lint_passes_and_would_catch_a_mistake(tools: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        aws.TEMPLATE.read_text().replace("MessageRetentionPeriod: 1209600", "MessageRetention: 1")
    )
    lint = tools.parent / "cfn-lint"
    result = subprocess.run(
        [str(lint), "--format", "parseable", str(aws.TEMPLATE), str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    problems = [line for line in result.stdout.splitlines() if line.strip()]
    assert [p for p in problems if not p.startswith(str(broken))] == [], result.stdout
    assert any("MessageRetention" in p for p in problems), result.stdout + result.stderr


def test_translator_makes_plain_cloudformation(transformed: dict[str, Any]) -> None:
    types = {v["Type"] for v in transformed["Resources"].values()}
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    assert "Transform" not in transformed
    assert {
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Stage",
        "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::Permission",
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::IAM::Role",
    } <= types


# -- what the template declares ------------------------------------------------------------


def test_http_api_routes_everything_to_the_api_function(transformed: dict[str, Any]) -> None:
    body = only(transformed, "AWS::ApiGatewayV2::Api")["Body"]
    [(path, methods)] = body["paths"].items()
    assert path == "$default"
    integration = methods["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
    assert integration["payloadFormatVersion"] == "2.0"
    assert "ApiFunction.Arn" in json.dumps(integration["uri"])
    stage = only(transformed, "AWS::ApiGatewayV2::Stage")
    assert stage["StageName"] == {"Ref": "Stage"}


def test_functions(transformed: dict[str, Any], raw: dict[str, Any]) -> None:
    functions = resources(transformed, "AWS::Lambda::Function")
    assert set(functions) == set(aws.FUNCTIONS)
    handlers = {}
    for name, resource in functions.items():
        props = resource["Properties"]
        assert props["Runtime"] in ("python3.12", "python3.13")
        assert props["Architectures"] in (["x86_64"], ["arm64"])
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Code"] == {"S3Bucket": "placeholder-bucket", "S3Key": "functions.zip"}
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == "functions"
        assert env["POWERTOOLS_METRICS_NAMESPACE"]
        assert env["POWERTOOLS_LOG_LEVEL"] == env["LOG_LEVEL"] == {"Ref": "LogLevel"}
        assert env["FUNCTIONS_MAX_ATTEMPTS"] == {"Ref": "MaxAttempts"}
        assert env["FUNCTIONS_HTTP_ALLOW"] == {"Ref": "HttpAllow"}
        handlers[name] = props["Handler"]
    assert handlers == {
        "ApiFunction": "functions_runtime.lambdas.api.handler",
        "WorkerFunction": "functions_runtime.lambdas.worker.handler",
    }
    # CodeUri is the build directory, which holds the runtime and the SDK only.
    assert raw["Globals"]["Function"]["CodeUri"] == "build/lambda"
    assert "build/lambda" in aws.BUILD_SCRIPT.read_text()


def test_worker_event_source_and_queues(transformed: dict[str, Any]) -> None:
    mapping = only(transformed, "AWS::Lambda::EventSourceMapping")
    assert mapping["FunctionName"] == {"Ref": "WorkerFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": "BatchWindowSeconds"}
    queues = resources(transformed, "AWS::SQS::Queue")
    queue = queues["DeliveryQueue"]["Properties"]
    dlq = queues["DeadLetterQueue"]["Properties"]
    worker_timeout = transformed["Resources"]["WorkerFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * worker_timeout
    assert queue["MessageRetentionPeriod"] == delivery_aws.QUEUE_RETENTION == 4 * 24 * 3600
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
        "maxReceiveCount": delivery_aws.MAX_RECEIVE_COUNT,
    }
    assert dlq["MessageRetentionPeriod"] == delivery_aws.DLQ_RETENTION == 14 * 24 * 3600
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    max_attempts = transformed["Parameters"]["MaxAttempts"]
    assert max_attempts["MaxValue"] < delivery_aws.MAX_RECEIVE_COUNT  # the worker decides


def _described_tables() -> dict[str, dict[str, Any]]:
    """What provision() and provision_delivery() create, as DescribeTable shows it."""
    with mock_aws():
        session = boto3.Session(
            region_name=aws.REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        names = aws.provision_all(session, "shape")
        dynamodb = session.client("dynamodb")
        tables = {
            "FunctionsTable": names.table,
            "DeliveriesTable": names.deliveries_table,
            "IdempotencyTable": names.idempotency_table,
            "StoreTable": names.store_table,
        }
        found = {}
        for logical, name in tables.items():
            table = dynamodb.describe_table(TableName=name)["Table"]
            ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            found[logical] = {**table, "ttl": ttl.get("AttributeName")}
        return found


def test_tables_match_what_provision_creates(transformed: dict[str, Any]) -> None:
    tables = resources(transformed, "AWS::DynamoDB::Table")
    described = _described_tables()
    assert set(tables) == set(described)

    def keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
        return [(k["AttributeName"], k["KeyType"]) for k in schema]

    for logical, made in described.items():
        props = tables[logical]["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert made["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert keys(props["KeySchema"]) == keys(made["KeySchema"])
        assert sorted(map(json.dumps, props["AttributeDefinitions"])) == sorted(
            map(json.dumps, made["AttributeDefinitions"])
        )
        gsis = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
        made_gsis = {g["IndexName"]: g for g in made.get("GlobalSecondaryIndexes", [])}
        assert set(gsis) == set(made_gsis)
        for name, gsi in gsis.items():
            assert keys(gsi["KeySchema"]) == keys(made_gsis[name]["KeySchema"])
            assert gsi["Projection"] == made_gsis[name]["Projection"]
        ttl = props.get("TimeToLiveSpecification")
        assert (ttl["AttributeName"] if ttl else None) == made["ttl"]
        assert not ttl or ttl["Enabled"] is True


def test_code_bucket_and_key(transformed: dict[str, Any]) -> None:
    bucket = only(transformed, "AWS::S3::Bucket")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["FunctionsKey", "Arn"]},
    }
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    policy = only(transformed, "AWS::S3::BucketPolicy")
    assert policy["Bucket"] == {"Ref": "CodeBucket"}
    [deny] = policy["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    key = only(transformed, "AWS::KMS::Key")
    assert key["EnableKeyRotation"] is True
    assert key["KeyPolicy"]["Statement"]


def test_parameters_outputs_and_globals(transformed: dict[str, Any], raw: dict[str, Any]) -> None:
    assert {"Stage", "LogLevel", "MaxAttempts", "HttpAllow", "BatchWindowSeconds"} <= set(
        transformed["Parameters"]
    )
    assert {"ApiUrl", "QueueUrl", "DeadLetterQueueUrl"} <= set(transformed["Outputs"])
    assert transformed["Outputs"]["QueueUrl"]["Value"] == {"Ref": "DeliveryQueue"}
    assert transformed["Outputs"]["DeadLetterQueueUrl"]["Value"] == {"Ref": "DeadLetterQueue"}
    function_globals = raw["Globals"]["Function"]
    assert function_globals["Tracing"] == "Active"
    assert {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    } <= set(function_globals["Environment"]["Variables"])


# -- the code the template deploys -----------------------------------------------------------

_IMPORT_CHECK = """\
import json, os, sys
from moto import mock_aws
with mock_aws():
    import importlib
    module_name, _, name = sys.argv[1].rpartition(".")
    module = importlib.import_module(module_name)
    handler = getattr(module, name)
    # What the first event builds (services, store; the API's resolver) is code the
    # function runs too: build it, so its modules count.
    runtime = module.runtime
    runtime.dispatcher, runtime.plane, runtime.ingest, runtime.pool.store.target
    getattr(module, "app", lambda: None)()
    modules = sorted(
        getattr(m, "__file__", None) or "" for k, m in sys.modules.items()
        if k.split(".")[0] in ("functions_runtime", "functions_sdk")
    )
    print(json.dumps({"callable": callable(handler), "modules": modules}))
"""


@pytest.fixture(scope="module")
def imported(build_dir: Path) -> dict[str, dict[str, Any]]:
    """Per function: its handler imported from the build directory, as on Lambda (the
    directory first on sys.path, the template's environment, moto standing in for AWS)."""
    data = aws.template()
    found = {}
    for function in aws.FUNCTIONS:
        env = {**aws.FAKE_AWS, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(build_dir)}
        env.update(aws.function_env(function, NAMES))
        handler = data["Resources"][function]["Properties"]["Handler"]
        result = subprocess.run(
            [sys.executable, "-c", _IMPORT_CHECK, handler],
            cwd=build_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        found[function] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_build_directory_holds_the_runtime_and_the_sdk_only(build_dir: Path) -> None:
    assert sorted(p.name for p in build_dir.iterdir()) == [
        "Makefile",
        "functions_runtime",
        "functions_sdk",
        "requirements.txt",
    ]
    requirements = (build_dir / "requirements.txt").read_text()
    for dependency in ("pydantic", "RestrictedPython", "aws-lambda-powertools[tracer]", "boto3"):
        assert dependency in requirements
    for dev_tool in ("pytest", "moto", "mypy", "ruff", "functions-sdk"):
        assert dev_tool not in requirements


def test_sam_builds_every_function_with_the_makefile_that_ships_bytecode(
    raw: dict[str, Any], build_dir: Path
) -> None:
    # SAM's default Python builder drops .pyc files; the makefile method keeps them.
    functions = resources(raw, "AWS::Serverless::Function")
    assert functions
    makefile = (build_dir / "Makefile").read_text()
    runtime = raw["Globals"]["Function"]["Runtime"]
    assert f"LAMBDA_PYTHON ?= {runtime}\n" in makefile
    targets = makefile.split("\nbuild-", 1)[1].split(":", 1)[0]
    for name, function in functions.items():
        assert function["Metadata"]["BuildMethod"] == "makefile", name
        assert f"build-{name}" in f"build-{targets}".split(), name
    assert "--invalidation-mode unchecked-hash" in makefile
    assert "--no-compile" in makefile  # pip's own .pyc would be timestamp-checked


def test_the_build_ships_unchecked_bytecode_for_lambdas_python(
    raw: dict[str, Any], tmp_path: Path
) -> None:
    from bench.coldstart_rie import PYTHON

    if not PYTHON.exists():
        pytest.skip(f"no Python of Lambda's version here ({PYTHON}: run `make aws-rie`)")
    tag = raw["Globals"]["Function"]["Runtime"].replace("python", "cpython-").replace(".", "")
    code = aws.build_code(tmp_path / "lambda", PYTHON)
    sources = sorted(code.rglob("*.py"))
    assert len(sources) > 50
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        # PEP 552 flags: bit 0 hash-based, bit 1 check the source; unchecked is 0b01.
        assert int.from_bytes(compiled.read_bytes()[4:8], "little") == 0b01, compiled


def test_every_handler_resolves_to_a_callable_from_the_build_directory(
    imported: dict[str, dict[str, Any]], build_dir: Path
) -> None:
    for function, result in imported.items():
        assert result["callable"], function
        outside = [m for m in result["modules"] if not m.startswith(str(build_dir))]
        assert outside == [], (function, outside)


def _env_reads(path: Path) -> set[str]:
    """Variable names a module reads: ``os.environ[...]``, ``.get("X")`` on an
    environment, ``os.getenv``, and the names in ``ENV_VARS`` tables."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    environ = ("environ", "env", "os.environ")

    def is_env(node: ast.AST) -> bool:
        return ast.unparse(node) in environ

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == "get" and is_env(func.value)) or (
                ast.unparse(func) == "os.getenv"
            ):
                names.add(str(node.args[0].value))
        if (
            isinstance(node, ast.Subscript)
            and is_env(node.value)
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(str(node.slice.value))
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            targets = [ast.unparse(t) for t in node.targets]
            if "ENV_VARS" in targets:
                names |= {str(v.value) for v in node.value.values if isinstance(v, ast.Constant)}
    return names


# Copied into sandbox workers when set; Lambda sets LANG and TZ itself.
_PASSED_THROUGH = {"LANG", "LC_ALL", "TZ"}
# Set by Lambda or by SAM's and Chalice's local emulation themselves (whether to trace).
_PLATFORM = {"LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"}


def test_every_variable_the_code_reads_is_set_for_its_function(
    imported: dict[str, dict[str, Any]], raw: dict[str, Any]
) -> None:
    data = raw
    for function, result in imported.items():
        declared = set(aws.find_function(data, function, aws.ROOT).variables)
        read: set[str] = set()
        for module in result["modules"]:
            if module.endswith(".py"):
                read |= _env_reads(Path(module))
        assert {"FUNCTIONS_TABLE", "FUNCTIONS_QUEUE_URL", "FUNCTIONS_MAX_WORKERS"} <= read
        missing = read - declared - _PASSED_THROUGH - _PLATFORM
        assert missing == set(), (function, missing)
        # Powertools reads these (service, metrics namespace, log level).
        assert {
            "POWERTOOLS_SERVICE_NAME",
            "POWERTOOLS_METRICS_NAMESPACE",
            "POWERTOOLS_LOG_LEVEL",
        } <= declared


# -- IAM: the calls the code makes, and nothing more -------------------------------------------

_CLIENTS = {"_db": "dynamodb", "_s3": "s3", "_kms": "kms", "_sqs": "sqs", "client": "dynamodb"}


def _client_calls(path: Path, service_of_call: str | None = None) -> Iterator[tuple[str, str]]:
    """(service, method) of every low-level client call outside provisioning code:
    ``self._db.get_item(...)``, ``self._call("send_message", ...)`` (SqsQueue)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if "provision" in function.name:
            continue  # tests and local use only: never the Lambda roles
        for node in ast.walk(function):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner = node.func.value
            if (
                isinstance(owner, ast.Attribute)
                and ast.unparse(owner.value) == "self"
                and owner.attr in _CLIENTS
            ):
                yield _CLIENTS[owner.attr], node.func.attr
            elif node.func.attr == "_call" and isinstance(node.args[0], ast.Constant):
                yield "sqs", str(node.args[0].value)


def _builds_transaction_deletes(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Dict)
        and any(isinstance(k, ast.Constant) and k.value == "Delete" for k in node.keys)
        for node in ast.walk(tree)
    )


def _scanned_actions() -> set[str]:
    files = sorted(RUNTIME.glob("control/aws/*.py")) + sorted(RUNTIME.glob("delivery/aws/*.py"))
    import aws_lambda_powertools.utilities.idempotency.persistence.dynamodb as powertools

    files.append(Path(powertools.__file__))  # the idempotency layer the worker uses
    session = boto3.Session(region_name=aws.REGION)
    mappings = {
        service: session.client(
            service, aws_access_key_id="x", aws_secret_access_key="x"
        ).meta.method_to_api_mapping
        for service in ("dynamodb", "s3", "kms", "sqs")
    }
    actions: set[str] = set()
    for path in files:
        if _builds_transaction_deletes(path):  # {"Delete": {...}} items of a transaction
            actions.add("dynamodb:DeleteItem")
        for service, method in _client_calls(path):
            if method in ("get_waiter",):
                continue
            operation = mappings[service].get(method)
            assert operation is not None, f"{path.name}: {service}.{method} is not an API call"
            if operation == "TransactWriteItems":  # see control/aws/__init__.py
                actions |= {"dynamodb:PutItem", "dynamodb:UpdateItem"}
                continue
            action = f"{service}:{operation}"
            actions.add(aws.BATCH_ACTIONS.get(action, action))
    return actions


# In the code, but never called on Lambda: ``counts`` (no route uses it; GetQueueAttributes
# of the event source mapping is in INFRA) and ``receive`` on the main queue (the event
# source mapping receives; ReceiveMessage itself is also used on the dead-letter queue).
_NOT_ON_LAMBDA = {"sqs:GetQueueAttributes"}


def test_the_code_calls_exactly_the_expected_actions() -> None:
    expected = {action for calls in aws.EXPECTED_CALLS.values() for action, _ in calls}
    scanned = _scanned_actions()
    assert scanned - _NOT_ON_LAMBDA == expected


def test_each_role_allows_its_calls_and_nothing_more(transformed: dict[str, Any]) -> None:
    attributes = aws.resource_attributes(NAMES)
    for function in aws.FUNCTIONS:
        policy = aws.statements(transformed, function, attributes)
        for action, resource in aws.EXPECTED_CALLS[function] | aws.INFRA[function]:
            logical, _, path = resource.partition("/")
            arn = "*" if resource == "*" else attributes[logical]["Arn"]
            if path:
                arn += "/" + path.replace("*", "0123abcd")
            assert aws.allowed(policy, action, arn), (function, action, arn)
        # Nothing broader: exactly these pairs, no action wildcard, "*" only for X-Ray.
        grants = aws.granted(transformed, function)
        assert grants == aws.EXPECTED_CALLS[function] | aws.INFRA[function], (
            function,
            grants ^ (aws.EXPECTED_CALLS[function] | aws.INFRA[function]),
        )
        assert not any("*" in action for action, _ in grants)
        assert {a for a, r in grants if r == "*"} <= {
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
        }
        role = transformed["Resources"][aws.role_of(transformed, function)]["Properties"]
        assert "ManagedPolicyArns" not in role


def test_docstrings_list_the_actions_the_roles_grant() -> None:
    """The IAM lists in the two module docstrings name every action the code needs."""
    documented: set[str] = set()
    for module in (RUNTIME / "control/aws/__init__.py", RUNTIME / "delivery/aws/__init__.py"):
        doc = ast.get_docstring(ast.parse(module.read_text(encoding="utf-8"))) or ""
        runtime_part = doc.split("alone (tests, local use")[0]
        documented |= set(re.findall(r"``((?:dynamodb|s3|kms|sqs):[A-Za-z]+)``", runtime_part))
    expected = {action for calls in aws.EXPECTED_CALLS.values() for action, _ in calls}
    assert expected <= documented, expected - documented
