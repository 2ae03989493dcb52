"""The AWS backend on moto, beyond the store contract: layout, provisioning, errors."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions_runtime.control.aws import AwsNames, aws_backend, names_from_env, provision
from functions_runtime.control.backend import Backend
from functions_runtime.control.models import (
    ApiKey,
    AuditEntry,
    Function,
    Instance,
    Source,
    Version,
    Workspace,
    new_id,
    utcnow,
)
from functions_runtime.control.ports import ConflictError, NotFoundError, StoreError

NOW = utcnow().replace(microsecond=0)


@dataclass
class Aws:
    dynamodb: Any
    s3: Any
    kms: Any
    prefix: str
    names: AwsNames
    backend: Backend

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        key = {"pk": {"S": pk}, "sk": {"S": sk}}
        found: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=self.names.table, Key=key
        ).get("Item")
        return found


@pytest.fixture(scope="module")
def session() -> Iterator[boto3.Session]:
    """One mocked account per module (clients are slow to make); each test provisions
    its own table, bucket and key under a fresh prefix."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        with mock_aws():
            yield boto3.Session(region_name="us-east-1")


@pytest.fixture(scope="module")
def clients(session: boto3.Session) -> tuple[Any, Any, Any]:
    return session.client("dynamodb"), session.client("s3"), session.client("kms")


_prefixes = itertools.count()


@pytest.fixture
def aws(clients: tuple[Any, Any, Any]) -> Aws:
    dynamodb, s3, kms = clients
    prefix = f"unit{next(_prefixes)}"
    names = provision(dynamodb, s3, kms, prefix=prefix)
    return Aws(dynamodb, s3, kms, prefix, names, aws_backend(dynamodb, s3, kms, names))


def make_workspace(aws: Aws, name: str = "acme") -> Workspace:
    ws = Workspace(id=new_id("ws"), name=name, created_at=NOW)
    aws.backend.metadata.create_workspace(ws)
    return ws


def make_function(aws: Aws, ws: Workspace, name: str = "webhook") -> Function:
    fn = Function(id=new_id("fn"), workspace_id=ws.id, name=name, created_at=NOW, updated_at=NOW)
    aws.backend.metadata.create_function(fn)
    return fn


def make_version(ws: Workspace, fn: Function, number: int, code: bytes = b"x") -> Version:
    digest = hashlib.sha256(code + str(number).encode()).hexdigest()
    return Version(
        id="ver_" + digest[:20],
        function_id=fn.id,
        workspace_id=ws.id,
        number=number,
        code_key=hashlib.sha256(code).hexdigest(),
        content_hash=digest,
        manifest={"name": fn.name},
        handlers=["on_track"],
        author="key_1",
        created_at=NOW + timedelta(minutes=number),
    )


# configuration and provisioning


def test_names_from_env_reads_the_three_variables() -> None:
    env = {
        "FUNCTIONS_TABLE": "t",
        "FUNCTIONS_CODE_BUCKET": "b",
        "FUNCTIONS_KMS_KEY_ID": "alias/k",
        "OTHER": "x",
    }
    assert names_from_env(env) == AwsNames(table="t", bucket="b", key_id="alias/k")


def test_names_from_env_names_what_is_missing() -> None:
    with pytest.raises(StoreError, match="FUNCTIONS_CODE_BUCKET, FUNCTIONS_KMS_KEY_ID not set"):
        names_from_env({"FUNCTIONS_TABLE": "t", "FUNCTIONS_CODE_BUCKET": " "})


def test_provision_creates_the_table_bucket_and_key(aws: Aws) -> None:
    assert (aws.names.table, aws.names.bucket) == (
        f"{aws.prefix}-functions",
        f"{aws.prefix}-functions-code",
    )
    table = aws.dynamodb.describe_table(TableName=aws.names.table)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "GSI1"
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["gsi1pk", "gsi1sk"]
    assert gsi["Projection"]["ProjectionType"] == "ALL"
    aws.s3.head_bucket(Bucket=aws.names.bucket)
    key = aws.kms.describe_key(KeyId=aws.names.key_id)["KeyMetadata"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")


def test_provision_is_idempotent(aws: Aws) -> None:
    ws = make_workspace(aws)
    assert provision(aws.dynamodb, aws.s3, aws.kms, prefix=aws.prefix) == aws.names
    assert aws.backend.metadata.get_workspace(ws.id) == ws


def test_provision_outside_us_east_1(session: boto3.Session) -> None:
    eu = boto3.Session(region_name="eu-west-1")
    s3 = eu.client("s3")
    names = provision(eu.client("dynamodb"), s3, eu.client("kms"), prefix="eu")
    assert s3.get_bucket_location(Bucket=names.bucket)["LocationConstraint"] == "eu-west-1"


@pytest.mark.parametrize("prefix", ["", "Upper", "-x", "x-", "a_b", "x" * 41])
def test_provision_refuses_bad_prefixes(aws: Aws, prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        provision(aws.dynamodb, aws.s3, aws.kms, prefix=prefix)


# the table layout documented in aws.py


def test_items_follow_the_documented_layout(aws: Aws) -> None:
    ws = make_workspace(aws)
    fn = make_function(aws, ws)
    ver = make_version(ws, fn, 1)
    aws.backend.metadata.add_version(ver)
    workspace = aws.item(f"WS#{ws.id}", "WORKSPACE")
    assert workspace is not None and workspace["gsi1pk"] == {"S": "WORKSPACE"}
    function = aws.item(f"WS#{ws.id}", f"FN#{fn.id}")
    assert function is not None
    assert function["version_count"] == {"N": "1"}
    assert function["latest_version"] == {"S": ver.id}
    assert "version_count" not in json.loads(function["data"]["S"])
    claim = aws.item(f"WS#{ws.id}", "FNNAME#webhook")
    assert claim is not None and claim["function_id"] == {"S": fn.id}
    version = aws.item(f"WS#{ws.id}", f"VER#{ver.id}")
    assert version is not None
    assert version["gsi1pk"] == {"S": f"WS#{ws.id}#FN#{fn.id}"}
    assert version["gsi1sk"] == {"S": "VER#0000000001"}
    assert Version.model_validate_json(version["data"]["S"]) == ver


def test_source_claims_and_audit_keys(aws: Aws) -> None:
    ws = make_workspace(aws)
    src = Source(
        id=new_id("src"), workspace_id=ws.id, name="web", write_key_hash="e" * 64, created_at=NOW
    )
    aws.backend.metadata.create_source(src)
    write_key = aws.item("WRITEKEY#" + "e" * 64, "WRITEKEY")
    assert write_key is not None
    assert (write_key["workspace_id"]["S"], write_key["source_id"]["S"]) == (ws.id, src.id)
    at = NOW.replace(microsecond=5).astimezone(timezone(timedelta(hours=2)))
    entry = AuditEntry(id="au_1", workspace_id=ws.id, actor="key_1", action="a", target="t", at=at)
    aws.backend.metadata.append_audit(entry)
    stamp = NOW.strftime("%Y-%m-%dT%H:%M:%S") + ".000005Z"
    assert aws.item(f"WS#{ws.id}", f"AUDIT#{stamp}#au_1") is not None


# records and their rules


def test_function_round_trips_its_counters_and_time_zones(aws: Aws) -> None:
    ws = make_workspace(aws)
    plus_two = timezone(timedelta(hours=2))
    fn = Function(
        id=new_id("fn"),
        workspace_id=ws.id,
        name="tz",
        created_at=NOW.astimezone(plus_two),
        updated_at=NOW,
        latest_version="ver_x",
        version_count=3,
    )
    aws.backend.metadata.create_function(fn)
    stored = aws.backend.metadata.get_function(ws.id, fn.id)
    assert stored == fn
    assert stored is not None and stored.created_at.utcoffset() == timedelta(hours=2)


def test_versions_list_in_number_order_and_advance_updated_at(aws: Aws) -> None:
    ws = make_workspace(aws)
    fn = make_function(aws, ws)
    versions = [make_version(ws, fn, n, f"code {n}".encode()) for n in range(1, 12)]
    for ver in versions:
        aws.backend.metadata.add_version(ver)
    assert aws.backend.metadata.list_versions(ws.id, fn.id) == versions
    stored = aws.backend.metadata.get_function(ws.id, fn.id)
    assert stored is not None
    assert (stored.version_count, stored.latest_version) == (11, versions[-1].id)
    assert stored.updated_at == versions[-1].created_at


def test_adding_a_version_to_a_missing_function_is_not_found(aws: Aws) -> None:
    ws = make_workspace(aws)
    ghost = Function(
        id="fn_ghost", workspace_id=ws.id, name="ghost", created_at=NOW, updated_at=NOW
    )
    with pytest.raises(NotFoundError, match="fn_ghost does not exist"):
        aws.backend.metadata.add_version(make_version(ws, ghost, 1))
    assert aws.backend.metadata.list_versions(ws.id, ghost.id) == []


def test_the_same_content_twice_is_a_conflict_that_changes_nothing(aws: Aws) -> None:
    ws = make_workspace(aws)
    fn = make_function(aws, ws)
    ver = make_version(ws, fn, 1)
    aws.backend.metadata.add_version(ver)
    with pytest.raises(ConflictError, match="uploaded before"):
        aws.backend.metadata.add_version(ver.model_copy(update={"number": 2}))
    stored = aws.backend.metadata.get_function(ws.id, fn.id)
    assert stored is not None and stored.version_count == 1


def test_a_failed_create_writes_none_of_its_items(aws: Aws) -> None:
    ws, other = make_workspace(aws), make_workspace(aws, "globex")
    first = Source(
        id=new_id("src"), workspace_id=other.id, name="web", write_key_hash="a" * 64, created_at=NOW
    )
    aws.backend.metadata.create_source(first)
    clash = first.model_copy(update={"id": new_id("src"), "workspace_id": ws.id})
    with pytest.raises(ConflictError, match="write key"):
        aws.backend.metadata.create_source(clash)
    assert aws.backend.metadata.find_source(ws.id, "web") is None
    assert aws.backend.metadata.get_source(ws.id, clash.id) is None
    retry = clash.model_copy(update={"write_key_hash": "b" * 64})
    aws.backend.metadata.create_source(retry)  # the name was never claimed
    assert aws.backend.metadata.find_source_by_write_key("a" * 64) == first
    assert aws.backend.metadata.find_source_by_write_key("b" * 64) == retry


def test_api_key_hashes_are_unique(aws: Aws) -> None:
    key = ApiKey(
        id="key_1", key_hash="c" * 64, prefix="fk_c", workspace_id=None, admin=True, created_at=NOW
    )
    aws.backend.metadata.put_api_key(key)
    with pytest.raises(ConflictError, match="API key"):
        aws.backend.metadata.put_api_key(key.model_copy(update={"id": "key_2", "admin": False}))
    assert aws.item("ADMINKEY", "APIKEY#" + "c" * 64) is not None
    assert aws.backend.metadata.find_api_key("c" * 64) == key


def test_update_instance_tells_conflict_from_absence(aws: Aws) -> None:
    ws = make_workspace(aws)
    fn = make_function(aws, ws)
    inst = Instance(
        id=new_id("in"),
        workspace_id=ws.id,
        function_id=fn.id,
        version_id="ver_1",
        created_at=NOW,
        updated_at=NOW,
    )
    aws.backend.metadata.create_instance(inst)
    with pytest.raises(ConflictError, match="changed since revision 4"):
        aws.backend.metadata.update_instance(inst.model_copy(update={"revision": 5}), 4)
    with pytest.raises(NotFoundError, match="does not exist"):
        aws.backend.metadata.update_instance(inst.model_copy(update={"id": "in_x"}), 1)
    with pytest.raises(ConflictError):
        aws.backend.metadata.create_instance(inst)


def test_lists_are_in_creation_order(aws: Aws) -> None:
    ws = make_workspace(aws)
    fns = [
        Function(
            id=f"fn_{9 - i}",
            workspace_id=ws.id,
            name=f"f{i}",
            created_at=NOW + timedelta(seconds=i),
            updated_at=NOW,
        )
        for i in range(4)
    ]
    for fn in reversed(fns):
        aws.backend.metadata.create_function(fn)
    assert aws.backend.metadata.list_functions(ws.id) == fns
    later = Workspace(id="ws_0", name="later", created_at=NOW + timedelta(days=1))
    aws.backend.metadata.create_workspace(later)
    assert [w.id for w in aws.backend.metadata.list_workspaces()] == [ws.id, later.id]


def test_audit_limits(aws: Aws) -> None:
    ws = make_workspace(aws)
    for i in range(3):
        aws.backend.metadata.append_audit(
            AuditEntry(
                id=f"au_{i}",
                workspace_id=ws.id,
                actor="k",
                action=f"a.{i}",
                target="t",
                at=NOW + timedelta(hours=i),
            )
        )
    assert aws.backend.metadata.list_audit(ws.id, limit=0) == []
    assert [e.id for e in aws.backend.metadata.list_audit(ws.id, limit=50)] == [
        "au_2",
        "au_1",
        "au_0",
    ]


def test_unserialized_store_works_too(aws: Aws) -> None:
    backend = aws_backend(aws.dynamodb, aws.s3, aws.kms, aws.names, serialize=False)
    ws = Workspace(id=new_id("ws"), name="plain", created_at=NOW)
    backend.metadata.create_workspace(ws)
    assert aws.backend.metadata.get_workspace(ws.id) == ws


def test_missing_table_is_a_store_error_naming_the_operation(aws: Aws) -> None:
    names = AwsNames("nope", aws.names.bucket, aws.names.key_id)
    backend = aws_backend(aws.dynamodb, aws.s3, aws.kms, names)
    with pytest.raises(
        StoreError, match=r"get_workspace failed: ResourceNotFoundException.*FUNCTIONS_TABLE"
    ) as caught:
        backend.metadata.get_workspace("ws_1")
    assert type(caught.value) is StoreError


# blobs


def test_blobs_are_encrypted_with_the_key_under_code(aws: Aws) -> None:
    key = aws.backend.blobs.put(b"print(1)\n")
    head = aws.s3.head_object(Bucket=aws.names.bucket, Key=f"code/{key}")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert aws.names.key_id in head["SSEKMSKeyId"]


def test_corrupt_blobs_are_refused(aws: Aws) -> None:
    key = aws.backend.blobs.put(b"original")
    aws.s3.put_object(Bucket=aws.names.bucket, Key=f"code/{key}", Body=b"swapped")
    with pytest.raises(StoreError, match="corrupt"):
        aws.backend.blobs.get(key)


@pytest.mark.parametrize("key", ["", "../x", "A" * 64, "0" * 63])
def test_malformed_blob_keys_are_not_found(aws: Aws, key: str) -> None:
    with pytest.raises(NotFoundError):
        aws.backend.blobs.get(key)


def test_missing_bucket_is_a_store_error(aws: Aws) -> None:
    names = AwsNames(aws.names.table, "no-such-bucket", aws.names.key_id)
    blobs = aws_backend(aws.dynamodb, aws.s3, aws.kms, names).blobs
    with pytest.raises(StoreError, match=r"NoSuchBucket.*FUNCTIONS_CODE_BUCKET") as caught:
        blobs.get("0" * 64)
    assert type(caught.value) is StoreError


# secrets


def envelope(blob: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(base64.urlsafe_b64decode(blob))
    return parsed


def test_blob_is_a_versioned_envelope_with_a_kms_data_key(aws: Aws) -> None:
    context = {"workspace": "ws_1", "instance": "in_1"}
    blob = aws.backend.box.encrypt(b"secret", context)
    sealed = envelope(blob)
    assert sorted(sealed) == ["c", "k", "n", "v"] and sealed["v"] == 1
    encrypted_key = base64.urlsafe_b64decode(sealed["k"])
    data_key = aws.kms.decrypt(CiphertextBlob=encrypted_key, EncryptionContext=context)
    assert len(data_key["Plaintext"]) == 32
    with pytest.raises(aws.kms.exceptions.InvalidCiphertextException):  # moto checks context
        aws.kms.decrypt(CiphertextBlob=encrypted_key, EncryptionContext={"workspace": "ws_1"})


def test_empty_context_and_empty_plaintext(aws: Aws) -> None:
    assert aws.backend.box.decrypt(aws.backend.box.encrypt(b"", {}), {}) == b""
    with pytest.raises(StoreError):
        aws.backend.box.decrypt(aws.backend.box.encrypt(b"x", {}), {"a": "b"})


def test_swapped_ciphertexts_do_not_open(aws: Aws) -> None:
    context = {"instance": "in_1"}
    one, two = (
        envelope(aws.backend.box.encrypt(b"one", context)),
        envelope(aws.backend.box.encrypt(b"two", context)),
    )
    mixed = {**one, "c": two["c"]}
    blob = base64.urlsafe_b64encode(json.dumps(mixed).encode()).decode()
    with pytest.raises(StoreError, match="tampered"):
        aws.backend.box.decrypt(blob, context)


def test_another_key_cannot_open_a_blob(aws: Aws) -> None:
    other_key = aws.kms.create_key()["KeyMetadata"]["KeyId"]
    names = AwsNames(aws.names.table, aws.names.bucket, other_key)
    other_box = aws_backend(aws.dynamodb, aws.s3, aws.kms, names).box
    blob = aws.backend.box.encrypt(b"sk-live-2", {"i": "1"})
    with pytest.raises(StoreError) as caught:
        other_box.decrypt(blob, {"i": "1"})
    assert "sk-live-2" not in str(caught.value)


@pytest.mark.parametrize(
    "blob",
    [
        "",
        "not base64!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"v": 2, "k": "", "n": "", "c": ""}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "k": "AAAA", "n": "AAAA", "c": "AAAA"}').decode(),
        base64.urlsafe_b64encode(b'{"v": 1, "k": 1, "n": "AAAA", "c": "AAAA"}').decode(),
    ],
)
def test_malformed_blobs_are_store_errors(aws: Aws, blob: str) -> None:
    with pytest.raises(StoreError, match="cannot decrypt secrets"):
        aws.backend.box.decrypt(blob, {"i": "1"})


def test_contexts_map_strings_to_strings(aws: Aws) -> None:
    with pytest.raises(StoreError, match="strings to strings"):
        aws.backend.box.encrypt(b"x", {"n": 1})  # type: ignore[dict-item]
