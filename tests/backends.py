"""Backends for tests: the embedded store in a temp dir, or the AWS store on moto."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
from moto import mock_aws

from functions_runtime.control.backend import Backend
from functions_runtime.delivery.ports import DeliveryBackend

BACKENDS = ("embedded", "aws")
_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def _fake_aws() -> Iterator[boto3.Session]:
    """moto with fake credentials in the environment, restored afterwards."""
    saved = {name: os.environ.get(name) for name in _FAKE_AWS}
    os.environ.update(_FAKE_AWS)
    try:
        with mock_aws():
            yield boto3.Session(region_name="us-east-1")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def make_backend(kind: str, data_dir: Path) -> Iterator[Backend]:
    """A fresh backend of ``kind`` ("embedded" or "aws"), torn down afterwards."""
    if kind == "embedded":
        from functions_runtime.control.embedded import open_embedded

        yield open_embedded(data_dir)
        return
    from functions_runtime.control.aws import aws_backend, provision

    with _fake_aws() as session:
        dynamodb, s3, kms = (session.client(n) for n in ("dynamodb", "s3", "kms"))
        names = provision(dynamodb, s3, kms, prefix="test")
        yield aws_backend(dynamodb, s3, kms, names)


@contextlib.contextmanager
def make_delivery(kind: str, data_dir: Path) -> Iterator[DeliveryBackend]:
    """A fresh queue + delivery store + idempotency layer of ``kind``."""
    if kind == "embedded":
        from functions_runtime.delivery.embedded import open_delivery

        yield open_delivery(data_dir)
        return
    from functions_runtime.delivery.aws import aws_delivery, provision_delivery

    with _fake_aws() as session:
        sqs, dynamodb = session.client("sqs"), session.client("dynamodb")
        names = provision_delivery(sqs, dynamodb, prefix="test")
        yield aws_delivery(sqs, dynamodb, names)
