"""Shared pieces of the AWS tests: paths, the tools environment, real-shaped Lambda
events, the template's environment for provisioned names, and a small IAM evaluator.

The IAM evaluator resolves a role's statements (``!GetAtt X.Arn``, ``!Sub
"${X.Arn}/index/GSI1"``…) against concrete names and answers whether an action on an
ARN is allowed, the way IAM does for Allow statements without conditions: an action
and a resource pattern match with ``*`` and ``?`` wildcards.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.lambdas import local_pipeline
from functions_runtime.lambdas.local_invoke import find_function, load_template, resolve_environment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMPLES = ROOT / "samples" / "lambda-events"
BUILD_SCRIPT = ROOT / "scripts" / "build_lambda.sh"
TOOLS = ROOT / "build" / "tools"
TOOLS_PYTHON = TOOLS / "venv" / "bin" / "python"
HERE = Path(__file__).resolve().parent

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
# The credentials the sample events carry (samples/lambda-events/README.md).
ADMIN_KEY = "fk_sample-admin-key-do-not-use-in-production"
WRITE_KEY = "wk_sample-write-key-do-not-use-in-production"
SAMPLE_SOURCE = "sample-site"
FUNCTIONS = ("ApiFunction", "WorkerFunction")


def tools_python() -> Path:
    """The tools environment's python (cfn-lint, aws-sam-translator, moto server).

    Made by ``make aws-tools``. Missing: the test is skipped, except in CI where it fails.
    """
    if TOOLS_PYTHON.exists():
        return TOOLS_PYTHON
    message = f"{TOOLS_PYTHON} is missing: run `make aws-tools`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def build_code(dest: Path, lambda_python: Path | None = None) -> Path:
    """Build the Lambda code directory (scripts/build_lambda.sh) into ``dest``; with
    ``lambda_python`` (a Python of Lambda's version), with its bytecode as on Lambda."""
    extra = {"LAMBDA_PYTHON": str(lambda_python) if lambda_python else "none"}
    subprocess.run(
        ["bash", str(BUILD_SCRIPT), str(dest)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHON": sys.executable, **extra},
    )
    return dest


def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


# -- names and the template's environment ----------------------------------------------


@dataclass(frozen=True)
class Names:
    """The eight resources the runtime reads from its environment."""

    table: str
    bucket: str
    key_id: str
    queue_url: str
    dlq_url: str
    deliveries_table: str
    idempotency_table: str
    store_table: str = "t-functions-store"

    def variables(self) -> dict[str, str]:
        return {
            "FUNCTIONS_TABLE": self.table,
            "FUNCTIONS_CODE_BUCKET": self.bucket,
            "FUNCTIONS_KMS_KEY_ID": self.key_id,
            "FUNCTIONS_QUEUE_URL": self.queue_url,
            "FUNCTIONS_DLQ_URL": self.dlq_url,
            "FUNCTIONS_DELIVERIES_TABLE": self.deliveries_table,
            "FUNCTIONS_IDEMPOTENCY_TABLE": self.idempotency_table,
            "FUNCTIONS_STORE_TABLE": self.store_table,
        }


def provision_all(session: Any, prefix: str, **client_kw: Any) -> Names:
    """Create what the template declares with the runtime's own provision functions."""
    from functions_runtime.control.aws import provision
    from functions_runtime.delivery.aws import provision_delivery
    from functions_runtime.delivery.aws.store import provision_store

    dynamodb, s3, kms, sqs = (
        session.client(n, **client_kw) for n in ("dynamodb", "s3", "kms", "sqs")
    )
    control = provision(dynamodb, s3, kms, prefix=prefix)
    delivery = provision_delivery(sqs, dynamodb, prefix=prefix)
    return Names(
        table=control.table,
        bucket=control.bucket,
        key_id=control.key_id,
        queue_url=delivery.queue_url,
        dlq_url=delivery.dlq_url,
        deliveries_table=delivery.deliveries_table,
        idempotency_table=delivery.idempotency_table,
        store_table=provision_store(dynamodb, prefix=prefix),
    )


def function_env(
    logical_id: str, names: Names, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables the template gives ``logical_id``, with the resource names filled
    in (``--env-file`` semantics: only declared variables can be given)."""
    data = template()
    function = find_function(data, logical_id, ROOT)
    overrides = {"Parameters": {**names.variables(), **(extra or {})}}
    return resolve_environment(data, function, overrides, region=REGION)


def env_file(path: Path, names: Names, extra: Mapping[str, str] | None = None) -> Path:
    """A ``--env-file`` / ``sam local invoke --env-vars`` file for ``names``."""
    path.write_text(json.dumps({"Parameters": {**names.variables(), **(extra or {})}}))
    return path


def seed(session: Any, names: Names, **client_kw: Any) -> str:
    """Bootstrap the sample admin key and the ``sample-site`` source whose write key is
    the sample one; returns the default workspace id."""
    from functions_runtime.control.auth import hash_key
    from functions_runtime.control.aws import AwsNames, aws_backend
    from functions_runtime.control.models import Source, new_id, utcnow
    from functions_runtime.control.service import ControlPlane
    from functions_runtime.sandbox.host.pool import WorkerPool

    dynamodb, s3, kms = (session.client(n, **client_kw) for n in ("dynamodb", "s3", "kms"))
    backend = aws_backend(dynamodb, s3, kms, AwsNames(names.table, names.bucket, names.key_id))
    with WorkerPool(max_workers=1, spares=0) as pool:
        _, workspace = ControlPlane(backend, pool).bootstrap(ADMIN_KEY)
    if backend.metadata.find_source(workspace.id, SAMPLE_SOURCE) is None:
        backend.metadata.create_source(
            Source(
                id=new_id("src"),
                workspace_id=workspace.id,
                name=SAMPLE_SOURCE,
                write_key_hash=hash_key(WRITE_KEY),
                created_at=utcnow(),
            )
        )
    return workspace.id


# -- events ----------------------------------------------------------------------------------


def apigw_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    stage: str = "prod",
    query: str = "",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as a ``$default`` route on a named
    stage sends it: ``rawPath`` carries the stage."""
    raw = f"/{stage}{path}"
    text = None if body is None else json.dumps(body)
    sent = {
        "accept": "application/json",
        "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
        "user-agent": "functions-tests",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-proto": "https",
    }
    if text is not None:
        sent["content-type"] = "application/json"
        sent["content-length"] = str(len(text.encode()))
    sent.update({k.lower(): v for k, v in (headers or {}).items()})
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw,
        "rawQueryString": query,
        "headers": sent,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "http": {
                "method": method,
                "path": raw,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "functions-tests",
            },
            "requestId": f"req-{now:.6f}",
            "routeKey": "$default",
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(
            part.split("=", 1) for part in query.split("&") if "=" in part
        )
    if text is not None:
        event["body"] = text
    return event


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def sqs_event(messages: Iterable[dict[str, Any]], queue_url: str) -> dict[str, Any]:
    """The event the SQS event source mapping sends for messages it received (the same
    builder ``functions lambda-invoke --pipeline`` uses)."""
    return local_pipeline.sqs_event(list(messages), queue_url, REGION)


class Context:
    """A Lambda context for in-process calls."""

    def __init__(self, name: str, timeout: float = 30.0) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        self.aws_request_id = f"req-{time.time():.6f}"
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "$LATEST"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# -- ARNs and IAM -------------------------------------------------------------------------------


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def queue_arn(url: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{url.rstrip('/').rsplit('/', 1)[1]}"


def key_arn(key_id: str) -> str:
    return key_id if key_id.startswith("arn:") else f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


def resource_attributes(names: Names) -> dict[str, dict[str, str]]:
    """``Ref`` and ``Arn`` of the template's resources, for ``names``."""

    def log_group(name: str) -> dict[str, str]:
        group = f"/aws/lambda/{name}"
        return {"Ref": group, "Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"}

    return {
        "FunctionsTable": {"Ref": names.table, "Arn": table_arn(names.table)},
        "DeliveriesTable": {
            "Ref": names.deliveries_table,
            "Arn": table_arn(names.deliveries_table),
        },
        "IdempotencyTable": {
            "Ref": names.idempotency_table,
            "Arn": table_arn(names.idempotency_table),
        },
        "StoreTable": {"Ref": names.store_table, "Arn": table_arn(names.store_table)},
        "CodeBucket": {"Ref": names.bucket, "Arn": f"arn:aws:s3:::{names.bucket}"},
        "FunctionsKey": {"Ref": names.key_id, "Arn": key_arn(names.key_id)},
        "DeliveryQueue": {"Ref": names.queue_url, "Arn": queue_arn(names.queue_url)},
        "DeadLetterQueue": {"Ref": names.dlq_url, "Arn": queue_arn(names.dlq_url)},
        "ApiFunctionLogs": log_group("api"),
        "WorkerFunctionLogs": log_group("worker"),
    }


def resolve(value: Any, attributes: Mapping[str, Mapping[str, str]]) -> Any:
    """Plain values for intrinsics in a policy (Ref, GetAtt, Sub)."""
    if isinstance(value, list):
        return [resolve(v, attributes) for v in value]
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        fn, arg = next(iter(value.items()))
        if fn == "Ref":
            return attributes[arg]["Ref"]
        if fn == "Fn::GetAtt":
            logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return attributes[logical][attribute]
        if fn == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            out, rest = [], text
            while "${" in rest:
                before, _, after = rest.partition("${")
                name, _, rest = after.partition("}")
                logical, _, attribute = name.partition(".")
                out += [before, attributes[logical][attribute or "Ref"]]
            return "".join([*out, rest])
    raise AssertionError(f"unexpected intrinsic in a policy: {value!r}")


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def allows(self, action: str, arn: str) -> bool:
        return any(fnmatch.fnmatchcase(action, a) for a in self.actions) and any(
            fnmatch.fnmatchcase(arn, r) for r in self.resources
        )


def role_of(data: Mapping[str, Any], function: str) -> str:
    """The logical id of the role a function's ``Role: !GetAtt X.Arn`` names."""
    role = data["Resources"][function]["Properties"]["Role"]
    target = role["Fn::GetAtt"]
    return str(target.split(".")[0] if isinstance(target, str) else target[0])


def statements(
    data: Mapping[str, Any], function: str, attributes: Mapping[str, Mapping[str, str]]
) -> list[Statement]:
    """The Allow statements of ``function``'s role, resolved; asserts there is no Deny,
    no NotAction / NotResource and no Condition (the evaluator does not model them)."""
    role = data["Resources"][role_of(data, function)]
    assert role["Type"] == "AWS::IAM::Role"
    props = role["Properties"]
    assert not props.get("ManagedPolicyArns"), "managed policies are broader than needed"
    found: list[Statement] = []
    for policy in props.get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            assert st["Effect"] == "Allow" and not {"NotAction", "NotResource", "Condition"} & set(
                st
            ), st
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = resolve(st["Resource"], attributes)
            resources = resources if isinstance(resources, list) else [resources]
            found.append(Statement(st.get("Sid", ""), tuple(actions), tuple(resources)))
    return found


def allowed(found: Iterable[Statement], action: str, arn: str) -> bool:
    return any(st.allows(action, arn) for st in found)


# Batch operations are authorized as their single-message action; a transaction as
# the actions of its items.
BATCH_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
}
TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def permissions_for(
    service: str, operation: str, params: Mapping[str, Any], key_id: str
) -> list[tuple[str, str]]:
    """The (action, resource ARN) pairs IAM checks for one API call.

    S3 calls on SSE-KMS objects also need the KMS key: S3 asks KMS for a data key
    (PutObject) or to decrypt one (GetObject) on the caller's behalf.
    """
    action = BATCH_ACTIONS.get(f"{service}:{operation}", f"{service}:{operation}")
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            return [
                (TRANSACT_ACTIONS[kind], table_arn(body["TableName"]))
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
        if operation == "BatchGetItem":
            return [(action, table_arn(table)) for table in params["RequestItems"]]
        arn = table_arn(params["TableName"])
        if params.get("IndexName"):
            arn += f"/index/{params['IndexName']}"
        return [(action, arn)]
    if service == "sqs":
        return [(action, queue_arn(params["QueueUrl"]))]
    if service == "kms":
        return [(action, key_arn(params["KeyId"]))]
    if service == "s3":
        arn = f"arn:aws:s3:::{params['Bucket']}"
        found = [(action, f"{arn}/{params['Key']}" if "Key" in params else arn)]
        if operation == "PutObject":
            found.append(("kms:GenerateDataKey", key_arn(params.get("SSEKMSKeyId") or key_id)))
        if operation == "GetObject":
            found.append(("kms:Decrypt", key_arn(key_id)))
        return found
    raise AssertionError(f"no IAM mapping for {service}:{operation}")


# -- who calls what ------------------------------------------------------------------------
# (action, resource) pairs, a resource being a logical id with an optional path:
# "FunctionsTable/index/GSI1", "CodeBucket/code/*". From the docstrings of
# functions_runtime/control/aws/__init__.py and delivery/aws/__init__.py ("Who calls
# what"); the e2e test checks every call the handlers make is one of these,
# test_template that the scanned code calls nothing else and that each role grants
# exactly these plus INFRA.

EXPECTED_CALLS: dict[str, set[tuple[str, str]]] = {
    "ApiFunction": {
        # control plane: metadata, code, secrets
        ("dynamodb:GetItem", "FunctionsTable"),
        ("dynamodb:PutItem", "FunctionsTable"),
        ("dynamodb:UpdateItem", "FunctionsTable"),
        ("dynamodb:DeleteItem", "FunctionsTable"),  # soft deletes free name claims
        ("dynamodb:Query", "FunctionsTable"),
        ("dynamodb:Query", "FunctionsTable/index/GSI1"),
        ("s3:PutObject", "CodeBucket/code/*"),
        ("s3:GetObject", "CodeBucket/code/*"),
        ("kms:GenerateDataKey", "FunctionsKey"),
        ("kms:Decrypt", "FunctionsKey"),
        # ingest (send, and rejections recorded), deliveries and stats, replay
        ("sqs:SendMessage", "DeliveryQueue"),
        ("dynamodb:PutItem", "DeliveriesTable"),
        ("dynamodb:Query", "DeliveriesTable"),
        ("dynamodb:BatchGetItem", "DeliveriesTable"),  # the records' request sets
        ("sqs:ReceiveMessage", "DeadLetterQueue"),
        ("sqs:DeleteMessage", "DeadLetterQueue"),
        ("sqs:ChangeMessageVisibility", "DeadLetterQueue"),
        # functions_sdk.store of webhook source functions (run here, in the API)
        ("dynamodb:GetItem", "StoreTable"),
        ("dynamodb:PutItem", "StoreTable"),
        ("dynamodb:DeleteItem", "StoreTable"),
        ("dynamodb:Query", "StoreTable"),
    },
    "WorkerFunction": {
        # what to run: instance, version, code, secrets
        ("dynamodb:GetItem", "FunctionsTable"),
        ("s3:GetObject", "CodeBucket/code/*"),
        ("kms:Decrypt", "FunctionsKey"),
        # settling: retry (visibility), dead_letter (send to the DLQ, delete), records
        ("sqs:ChangeMessageVisibility", "DeliveryQueue"),
        ("sqs:DeleteMessage", "DeliveryQueue"),
        ("sqs:SendMessage", "DeadLetterQueue"),
        ("dynamodb:PutItem", "DeliveriesTable"),
        # Powertools' idempotency layer
        ("dynamodb:GetItem", "IdempotencyTable"),
        ("dynamodb:PutItem", "IdempotencyTable"),
        ("dynamodb:UpdateItem", "IdempotencyTable"),
        ("dynamodb:DeleteItem", "IdempotencyTable"),
        # functions_sdk.store (delivery/aws/store.py)
        ("dynamodb:GetItem", "StoreTable"),
        ("dynamodb:PutItem", "StoreTable"),
        ("dynamodb:DeleteItem", "StoreTable"),
        ("dynamodb:Query", "StoreTable"),
    },
}

# Granted although the code makes no such call: logs and traces, the S3 NoSuchKey
# answer, and the SQS event source mapping (which polls with the function's role).
_RUNTIME = {
    ("xray:PutTraceSegments", "*"),
    ("xray:PutTelemetryRecords", "*"),
    ("s3:ListBucket", "CodeBucket"),
}
INFRA: dict[str, set[tuple[str, str]]] = {
    "ApiFunction": _RUNTIME
    | {("logs:CreateLogStream", "ApiFunctionLogs"), ("logs:PutLogEvents", "ApiFunctionLogs")},
    "WorkerFunction": _RUNTIME
    | {
        ("logs:CreateLogStream", "WorkerFunctionLogs"),
        ("logs:PutLogEvents", "WorkerFunctionLogs"),
        ("sqs:ReceiveMessage", "DeliveryQueue"),
        ("sqs:DeleteMessage", "DeliveryQueue"),
        ("sqs:GetQueueAttributes", "DeliveryQueue"),
    },
}


def logical_resource(arn: str, attributes: Mapping[str, Mapping[str, str]]) -> str:
    """``arn`` as a logical id with a path, code object keys as ``code/*``."""
    for name, values in attributes.items():
        base = values["Arn"]
        if arn == base:
            return name
        if arn.startswith(base + "/"):
            rest = arn[len(base) + 1 :]
            return f"{name}/code/*" if rest.startswith("code/") else f"{name}/{rest}"
    raise AssertionError(f"{arn} is none of the template's resources")


def granted(data: Mapping[str, Any], function: str) -> set[tuple[str, str]]:
    """(action, resource) pairs the role of ``function`` grants, resources as logical
    ids (``!GetAtt X.Arn`` -> X, ``!Sub "${X.Arn}/index/GSI1"`` -> X/index/GSI1)."""

    def logical(value: Any) -> list[str]:
        if isinstance(value, list):
            return [r for v in value for r in logical(v)]
        if value == "*":
            return ["*"]
        fn, arg = next(iter(value.items()))
        if fn == "Fn::GetAtt":
            parts = arg.split(".") if isinstance(arg, str) else arg
            assert parts[1] == "Arn", value
            return [str(parts[0])]
        if fn == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            assert text.startswith("${") and ".Arn}" in text, value
            name, _, rest = text[2:].partition(".Arn}")
            return [name + rest]
        raise AssertionError(f"unexpected resource {value!r}")

    role = data["Resources"][role_of(data, function)]["Properties"]
    pairs: set[tuple[str, str]] = set()
    for policy in role.get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            pairs |= {(a, r) for a in actions for r in logical(st["Resource"])}
    return pairs


# -- the sample events and their documented results ------------------------------------

SAMPLE_ORDER = [
    "api-create-source.json",
    "api-create-function.json",
    "api-deploy.json",
    "api-test.json",
    "api-track.json",
    "api-batch-bad-message.json",
    "sqs-deliveries.json",
]
VERSION_PLACEHOLDER = "ver_replace-me"  # in api-test.json: the id api-create-function returns


def api_body(reply: dict[str, Any]) -> Any:
    assert reply["headers"]["Content-Type"] == "application/json", reply
    return json.loads(reply["body"])


def check_samples(run: Callable[[str, Path], Any], stack: Any, tmp_path: Path) -> None:
    """Run every sample in its documented order (samples/lambda-events/README.md) with
    ``run(function, event file) -> result`` on a freshly seeded ``stack``, and check the
    documented results."""
    reply = run("ApiFunction", SAMPLES / "api-create-source.json")
    assert reply["statusCode"] == 201, reply
    created = api_body(reply)
    assert created["source"]["name"] == "mobile-app"
    assert created["write_key"].startswith("wk_")

    reply = run("ApiFunction", SAMPLES / "api-create-function.json")
    assert reply["statusCode"] == 201, reply
    version = api_body(reply)["version"]
    assert version["id"].startswith("ver_") and version["number"] == 1
    assert version["handlers"] == ["on_track", "on_identify"]

    reply = run("ApiFunction", SAMPLES / "api-deploy.json")
    assert reply["statusCode"] == 200, reply
    instance = api_body(reply)["instance"]
    assert instance["settings"] == {"greeting": "Hello", "token": "***"}
    assert instance["version_id"] == version["id"] and instance["enabled"] is True

    # As shipped, api-test.json names a placeholder version; with the id it is tested.
    reply = run("ApiFunction", SAMPLES / "api-test.json")
    assert (reply["statusCode"], api_body(reply)["error"]["code"]) == (404, "not_found")
    sample = (SAMPLES / "api-test.json").read_text().replace(VERSION_PLACEHOLDER, version["id"])
    (tmp_path / "api-test.json").write_text(sample)
    reply = run("ApiFunction", tmp_path / "api-test.json")
    assert reply["statusCode"] == 200, reply
    tested = api_body(reply)
    assert tested["outcome"] == "delivered", tested
    assert tested["result"] == {"said": "Hello, Signed Up"}
    assert any("track Signed Up from user_8f14e45f" in line for line in tested["logs"])

    reply = run("ApiFunction", SAMPLES / "api-track.json")
    assert (reply["statusCode"], api_body(reply)) == (200, {"success": True, "queued": 1}), reply

    reply = run("ApiFunction", SAMPLES / "api-batch-bad-message.json")
    assert reply["statusCode"] == 200, reply
    batch = api_body(reply)
    assert (batch["success"], batch["queued"]) == (True, 2)
    [rejected] = batch["rejected"]
    assert (rejected["index"], rejected["messageId"]) == (1, "sample-batch-2-bad")

    # The sample SQS batch names an instance that does not exist: both records are
    # acknowledged (recorded as filtered, InstanceUnavailable), none is retried.
    reply = run("WorkerFunction", SAMPLES / "sqs-deliveries.json")
    assert reply == {"batchItemFailures": []}

    # The three events the ingest samples queued, as the event source mapping hands them
    # to the worker: the track is delivered, the good identify filtered (DropEvent).
    sqs: Any = stack.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=stack.names.queue_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=120,
        MessageSystemAttributeNames=["All"],
    )["Messages"]
    assert len(messages) == 3
    event_file = tmp_path / "queued.json"
    event_file.write_text(json.dumps(sqs_event(messages, stack.names.queue_url)))
    reply = run("WorkerFunction", event_file)
    assert reply == {"batchItemFailures": []}
    dynamodb: Any = stack.client("dynamodb")
    items = dynamodb.query(
        TableName=stack.names.deliveries_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"INST#{instance['id']}"}},
    )["Items"]
    outcomes = sorted((json.loads(i["data"]["S"])["message_id"], i["outcome"]["S"]) for i in items)
    assert outcomes == [
        ("ajs-next-1763978400000-5f8a2b1c-sample-track", "delivered"),
        ("sample-batch-1", "delivered"),
        ("sample-batch-2-bad", "rejected"),
        ("sample-batch-3", "filtered"),
    ]
