"""The store contract runs against both backends: embedded (SQLite) and AWS (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from functions_runtime.control.backend import Backend


@pytest.fixture(params=["embedded", "aws"])
def backend(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    if request.param == "embedded":
        from functions_runtime.control.embedded import open_embedded

        yield open_embedded(tmp_path / "data")
        return
    from functions_runtime.control.aws import aws_backend, provision

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        dynamodb, s3, kms = session.client("dynamodb"), session.client("s3"), session.client("kms")
        names = provision(dynamodb, s3, kms, prefix="contract")
        yield aws_backend(dynamodb, s3, kms, names)
