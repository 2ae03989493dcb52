"""The AWS backend: metadata in DynamoDB, code in S3, secrets sealed with KMS.

``aws_backend(dynamodb, s3, kms, names)`` bundles the three stores; the boto3 low-level
clients are passed in, never created here. ``names_from_env`` reads the resource names
that ``template.yaml`` gives the Lambda functions; ``provision`` creates the same
resources for tests (moto) and local use.

DynamoDB table (``FUNCTIONS_TABLE``): on-demand, string keys ``pk`` (hash) and ``sk``
(range), one global secondary index ``GSI1`` (``gsi1pk`` hash, ``gsi1sk`` range,
projection ALL). Every item has ``type``; records have ``data``, the model's JSON
(``model_dump_json``), which reads parse back exactly::

    type           pk                  sk                        GSI1 keys, other attributes
    workspace      WS#<ws>             WORKSPACE                 gsi1pk=WORKSPACE,
                                                                 gsi1sk=<created_at>#<ws>
    api-key        APIKEY#<key_hash>   APIKEY                    -
    admin-key      ADMINKEY            APIKEY#<key_hash>         key_id; no data (a marker)
    function       WS#<ws>             FN#<fn>                   version_count (N),
                                                                 latest_version (absent
                                                                 until the first version),
                                                                 updated_at (JSON text);
                                                                 data holds the other fields
    function-name  WS#<ws>             FNNAME#<name>             function_id; no data
    version        WS#<ws>             VER#<version>             gsi1pk=WS#<ws>#FN#<fn>,
                                                                 gsi1sk=VER#<number, 10 digits>
    instance       WS#<ws>             INST#<in>                 revision (N), function_id
    source         WS#<ws>             SRC#<src>                 -
    source-name    WS#<ws>             SRCNAME#<name>            source_id; no data
    write-key      WRITEKEY#<hash>     WRITEKEY                  workspace_id, source_id;
                                                                 no data
    audit          WS#<ws>             AUDIT#<at>#<au>           -

Times in keys are UTC, fixed width (``2026-01-02T03:04:05.000000Z``), so string order
is time order. Every workspace-scoped item lives under ``WS#<ws>``, so a read with
another workspace's id cannot reach it; the global lookups (API key hash, write key
hash) are keyed by the hash alone.

Writes. Every create is conditional on ``attribute_not_exists(pk)``: a PutItem for a
lone record (workspace, non-admin API key, instance, audit entry), one
TransactWriteItems for a record and its claims (function + ``function-name``; source +
``source-name`` + ``write-key``; admin ``api-key`` + its unconditional ``admin-key``
marker). ``add_version`` is one TransactWriteItems: put the version, and on the
function ``SET latest_version, version_count, updated_at WHERE version_count =
number - 1`` (returning the old item, to tell a missing function from a lost race).
``update_instance`` is a PutItem ``WHERE attribute_exists(pk) AND revision =
expected``. Deletes are soft, one TransactWriteItems each: ``delete_function`` sets
``deleted_at`` on the function and deletes its ``function-name`` claim;
``delete_source`` rewrites the source and deletes its ``source-name`` and
``write-key`` claims; ``replace_write_key`` rewrites the source, deletes the old
``write-key`` claim and creates the new one (a claim is deleted only while it still
names its owner). ``delete_api_key`` deletes the key and its ``admin-key`` marker.
A failed condition or a concurrent transaction (``ConditionalCheckFailed``,
``TransactionConflict``) is a ``ConflictError``, or ``NotFoundError`` where the item is
absent; any other AWS error is a ``StoreError`` naming the operation.

Reads. GetItem and table Queries are strongly consistent, so a lookup by name or hash
(claim, then record: two GetItems) finds a record as soon as its create returns.
GSI1 (workspaces, a function's versions) is eventually consistent. Lists come in
creation order, versions by number, the audit log newest first (Query with
``ScanIndexForward=False`` and ``Limit``).

IAM actions the code calls at run time, and nothing else (TransactWriteItems has no
action of its own: its Put, Update and Delete items need PutItem, UpdateItem and
DeleteItem):

- ``dynamodb:GetItem``, ``dynamodb:PutItem``, ``dynamodb:UpdateItem``,
  ``dynamodb:DeleteItem``, ``dynamodb:Query`` on the table, and ``dynamodb:Query`` on
  ``<table ARN>/index/GSI1``.
- ``s3:PutObject``, ``s3:GetObject`` on ``<bucket ARN>/code/*``. Also grant
  ``s3:ListBucket`` on the bucket: the code never lists, but without it S3 answers a
  read of a missing key with AccessDenied instead of NoSuchKey.
- ``kms:GenerateDataKey``, ``kms:Decrypt`` on the key: called by the secret box, and by
  S3 on the caller's behalf for SSE-KMS objects (PutObject, GetObject).

``provision`` alone (tests, local use; never the Lambda role) also calls
``dynamodb:CreateTable``, ``dynamodb:DescribeTable``, ``s3:CreateBucket``,
``kms:DescribeKey``, ``kms:CreateKey`` and ``kms:CreateAlias``.

Imports: the control core (ports, models) and botocore; never the embedded backend,
``delivery`` or anything above ``control``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..backend import Backend
from ..ports import StoreError
from .blobs import S3BlobStore
from .errors import ClientError, error_code, translate_errors
from .items import GSI1
from .metadata import DynamoMetadataStore
from .secrets import KmsSecretBox

__all__ = ["AwsNames", "aws_backend", "names_from_env", "provision"]

# The variables template.yaml sets on every function, by AwsNames field.
ENV_VARS = {
    "table": "FUNCTIONS_TABLE",
    "bucket": "FUNCTIONS_CODE_BUCKET",
    "key_id": "FUNCTIONS_KMS_KEY_ID",
}

# Lower case, digits and inner hyphens: valid in table, bucket and alias names.
_PREFIX = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")


@dataclass(frozen=True)
class AwsNames:
    """The three resources of the AWS backend."""

    table: str  # DynamoDB table name
    bucket: str  # S3 bucket name
    key_id: str  # KMS key id, ARN, or alias


def names_from_env(env: Mapping[str, str]) -> AwsNames:
    """The resource names from ``FUNCTIONS_TABLE``, ``FUNCTIONS_CODE_BUCKET`` and
    ``FUNCTIONS_KMS_KEY_ID``; ``StoreError`` naming any that is unset or empty."""
    missing = [var for var in ENV_VARS.values() if not env.get(var, "").strip()]
    if missing:
        raise StoreError(
            f"{', '.join(missing)} not set: the AWS backend needs "
            f"{', '.join(ENV_VARS.values())} (template.yaml sets them on every function)"
        )
    return AwsNames(**{field: env[var].strip() for field, var in ENV_VARS.items()})


def aws_backend(
    dynamodb: Any, s3: Any, kms: Any, names: AwsNames, *, serialize: bool = True
) -> Backend:
    """The stores on AWS. ``serialize``: see ``DynamoMetadataStore``."""
    return Backend(
        metadata=DynamoMetadataStore(dynamodb, names.table, serialize=serialize),
        blobs=S3BlobStore(s3, names.bucket, names.key_id),
        box=KmsSecretBox(kms, names.key_id),
    )


def provision(dynamodb: Any, s3: Any, kms: Any, *, prefix: str) -> AwsNames:
    """Create what template.yaml declares: ``<prefix>-functions`` (table),
    ``<prefix>-functions-code`` (bucket) and the key ``alias/<prefix>-functions``.

    For tests and local use. Idempotent: resources that exist are kept as they are.
    """
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"prefix {prefix!r}: use 1 to 40 lower-case letters, digits and inner hyphens"
        )
    names = AwsNames(
        table=f"{prefix}-functions",
        bucket=f"{prefix}-functions-code",
        key_id=_provision_key(kms, f"alias/{prefix}-functions"),
    )
    _provision_table(dynamodb, names.table)
    _provision_bucket(s3, names.bucket)
    return names


def _provision_key(kms: Any, alias: str) -> str:
    with translate_errors("provision key"):
        try:
            return str(kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"])
        except ClientError as exc:
            if error_code(exc) != "NotFoundException":
                raise
        key_id = str(
            kms.create_key(
                Description="functions runtime: secret settings and code at rest",
                KeySpec="SYMMETRIC_DEFAULT",
                KeyUsage="ENCRYPT_DECRYPT",
            )["KeyMetadata"]["KeyId"]
        )
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        return key_id


def _provision_table(dynamodb: Any, table: str) -> None:
    def keys(hash_key: str, range_key: str) -> list[dict[str, str]]:
        return [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ]

    with translate_errors("provision table"):
        try:
            dynamodb.create_table(
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": name, "AttributeType": "S"}
                    for name in ("pk", "sk", "gsi1pk", "gsi1sk")
                ],
                KeySchema=keys("pk", "sk"),
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": GSI1,
                        "KeySchema": keys("gsi1pk", "gsi1sk"),
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
            )
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise
        dynamodb.get_waiter("table_exists").wait(TableName=table)


def _provision_bucket(s3: Any, bucket: str) -> None:
    region = s3.meta.region_name
    location = (
        {}
        if region in (None, "us-east-1")
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    with translate_errors("provision bucket"):
        try:
            s3.create_bucket(Bucket=bucket, **location)
        except ClientError as exc:
            if error_code(exc) != "BucketAlreadyOwnedByYou":
                raise
