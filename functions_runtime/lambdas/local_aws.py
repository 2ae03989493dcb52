"""Local AWS for ``functions lambda-invoke`` and ``functions local-aws``: a moto server on
127.0.0.1 with what ``template.yaml`` declares (the functions table, the code bucket, the
KMS key, the delivery queue and its dead-letter queue, the deliveries and idempotency
tables), created by the runtime's own ``provision`` functions, and seeded with the sample
credentials the events in ``samples/lambda-events`` carry.

moto (with its ``server`` extra) comes with the dev extras: ``pip install -e '.[dev]'``
(``make`` does it). It is imported only here, and only when local AWS is started.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ADMIN_KEY",
    "FAKE_CREDENTIALS",
    "SAMPLE_SOURCE",
    "WRITE_KEY",
    "LocalAws",
    "local_aws",
    "provision_local",
]

REGION = "us-east-1"
# moto accepts any credentials; these keep boto3 from looking for real ones.
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}
# The credentials the sample events carry (samples/lambda-events/README.md): seeded
# only into this local, throw-away AWS.
ADMIN_KEY = "fk_sample-admin-key-do-not-use-in-production"
WRITE_KEY = "wk_sample-write-key-do-not-use-in-production"
SAMPLE_SOURCE = "sample-site"


@dataclass(frozen=True)
class LocalAws:
    """A running local AWS: its endpoint and the template's resource names on it."""

    endpoint: str
    variables: dict[str, str]  # FUNCTIONS_TABLE, FUNCTIONS_QUEUE_URL, ...
    workspace_id: str
    region: str = REGION

    def environ(self) -> dict[str, str]:
        """What a process needs to reach it."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self, name: str) -> Any:
        import boto3

        session = boto3.Session(
            region_name=self.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            aws_session_token="local",
        )
        return session.client(name, endpoint_url=self.endpoint)

    def env_vars(self, endpoint: str | None = None) -> dict[str, Any]:
        """A ``sam local invoke --env-vars`` / ``lambda-invoke --env-file`` document;
        ``endpoint`` is the address as the functions see it (from a container:
        ``http://host.docker.internal:PORT``)."""
        return {"Parameters": {**self.variables, "AWS_ENDPOINT_URL": endpoint or self.endpoint}}

    def write_env_vars(self, path: Path, endpoint: str | None = None) -> Path:
        path.write_text(json.dumps(self.env_vars(endpoint), indent=2) + "\n", encoding="utf-8")
        return path


def provision_local(endpoint: str, prefix: str = "local", region: str = REGION) -> LocalAws:
    """Create the template's resources on ``endpoint`` and seed the sample credentials."""
    from ..control.auth import hash_key
    from ..control.aws import aws_backend, provision
    from ..control.models import Source, new_id, utcnow
    from ..control.service import ControlPlane
    from ..delivery.aws import provision_delivery
    from ..delivery.aws.store import provision_store
    from ..sandbox.host.pool import WorkerPool

    probe = LocalAws(endpoint, {}, "", region)
    dynamodb, s3, kms, sqs = (probe.client(n) for n in ("dynamodb", "s3", "kms", "sqs"))
    control = provision(dynamodb, s3, kms, prefix=prefix)
    delivery = provision_delivery(sqs, dynamodb, prefix=prefix)
    variables = {
        "FUNCTIONS_TABLE": control.table,
        "FUNCTIONS_CODE_BUCKET": control.bucket,
        "FUNCTIONS_KMS_KEY_ID": control.key_id,
        "FUNCTIONS_QUEUE_URL": delivery.queue_url,
        "FUNCTIONS_DLQ_URL": delivery.dlq_url,
        "FUNCTIONS_DELIVERIES_TABLE": delivery.deliveries_table,
        "FUNCTIONS_IDEMPOTENCY_TABLE": delivery.idempotency_table,
        "FUNCTIONS_STORE_TABLE": provision_store(dynamodb, prefix=prefix),
    }
    backend = aws_backend(dynamodb, s3, kms, control)
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
    return LocalAws(endpoint, variables, workspace.id, region)


@contextmanager
def local_aws(host: str = "127.0.0.1", port: int = 0, region: str = REGION) -> Iterator[LocalAws]:
    """A moto server in this process (a thread), provisioned and seeded, from nothing.

    moto keeps what its servers hold in the process, not in the server: a second local
    AWS in one process (the bench's cold start, then a test; two tests) would find the
    first one's tables, sources and instances. Each starts empty (moto's
    ``/moto-api/reset``) and leaves nothing behind."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise RuntimeError(
            "local AWS needs moto with its server extra (the dev extras): "
            "pip install -e '.[dev]', or point AWS_ENDPOINT_URL at an AWS endpoint"
        ) from exc
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # its request log
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    endpoint = f"http://{host}:{server.get_host_and_port()[1]}"
    try:
        _reset(endpoint)
        yield provision_local(endpoint, region=region)
    finally:
        _reset(endpoint)
        server.stop()


def _reset(endpoint: str) -> None:
    """Empty every moto backend of this process (what its servers hold)."""
    import urllib.request

    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()
