"""Fixtures of the AWS tests: a moto server (from the tools environment) for handlers
that run in child processes, with the template's resources provisioned and seeded."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.aws import aws_support as aws


@dataclass(frozen=True)
class MotoStack:
    """A moto server with the template's resources and the sample credentials."""

    endpoint: str
    names: aws.Names
    workspace_id: str

    def environ(self) -> dict[str, str]:
        """What a child process needs to reach it (``AWS_ENDPOINT_URL``, fake keys)."""
        return {**aws.FAKE_AWS, "AWS_ENDPOINT_URL": self.endpoint}

    def session(self) -> boto3.Session:
        return boto3.Session(
            region_name=aws.REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )

    def client(self, name: str) -> Any:
        return self.session().client(name, endpoint_url=self.endpoint)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server's endpoint, for the whole session."""
    python = aws.tools_python()
    server = subprocess.Popen(
        [str(python), str(aws.HERE / "_moto_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # its request log
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("port "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


@pytest.fixture(scope="module")
def moto_stack(moto_server: str, request: pytest.FixtureRequest) -> MotoStack:
    """The template's resources on the moto server, seeded; fresh for each test module
    (their names carry the module's name)."""
    prefix = request.module.__name__.rsplit(".", 1)[-1].replace("_", "-")[:30]
    session = boto3.Session(
        region_name=aws.REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    names = aws.provision_all(session, prefix, endpoint_url=moto_server)
    workspace_id = aws.seed(session, names, endpoint_url=moto_server)
    return MotoStack(moto_server, names, workspace_id)


@pytest.fixture(scope="session")
def lambda_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Lambda code directory, built as `make build-lambda` builds it (with bytecode
    when the emulator's Python 3.12 is installed, as the emulator tests run it)."""
    from bench.coldstart_rie import PYTHON

    python = PYTHON if PYTHON.exists() else None
    return aws.build_code(tmp_path_factory.mktemp("code") / "lambda", python)
