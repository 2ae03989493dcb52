"""What every Lambda entry point builds once per cold start, from its environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from ..control.aws import aws_backend, names_from_env
from ..control.backend import Backend
from ..control.service import ControlPlane
from ..delivery.aws import aws_delivery, delivery_names_from_env
from ..delivery.aws.store import STORE_ENV_VAR, DynamoStore
from ..delivery.dispatch import DeliveryPolicy, Dispatcher
from ..delivery.ingest import Ingest
from ..delivery.ports import DeliveryBackend
from ..sandbox.host import isolation
from ..sandbox.host.pool import WorkerPool

__all__ = ["LambdaRuntime", "build_runtime"]


@dataclass(frozen=True)
class LambdaRuntime:
    backend: Backend
    delivery: DeliveryBackend
    pool: WorkerPool
    plane: ControlPlane
    ingest: Ingest
    dispatcher: Dispatcher


def _allow(env: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(e.strip() for e in env.get("FUNCTIONS_HTTP_ALLOW", "").split(",") if e.strip())


def emit(line: str) -> None:
    print(line, flush=True)  # CloudWatch, at every cold start


def build_runtime(env: Mapping[str, str] | None = None, session: Any = None) -> LambdaRuntime:
    """Clients, stores and services from the environment the template sets."""
    env = os.environ if env is None else env
    session = session or boto3.Session()
    dynamodb, s3, kms, sqs = (session.client(n) for n in ("dynamodb", "s3", "kms", "sqs"))
    backend = aws_backend(dynamodb, s3, kms, names_from_env(env), serialize=False)
    delivery = aws_delivery(sqs, dynamodb, delivery_names_from_env(env))
    # functions_sdk.store: the table template.yaml declares; without one, in memory.
    table = env.get(STORE_ENV_VAR, "").strip()
    store = DynamoStore(dynamodb, table) if table else None
    if store is None:
        emit(f"{STORE_ENV_VAR} not set: handlers' store is in memory, per Lambda instance")
    # Non-dumpable host, isolation probed and logged, strict by default (no namespaces
    # on Lambda: seccomp, no_new_privs and Landlock where the kernel has it).
    pool = isolation.pool(
        isolation.mode_from(env=env),
        emit,
        max_workers=int(env.get("FUNCTIONS_MAX_WORKERS", "8")),
        spares=0,
        store=store,
    )
    allow = _allow(env)
    policy = DeliveryPolicy(max_attempts=int(env.get("FUNCTIONS_MAX_ATTEMPTS", "8")))
    return LambdaRuntime(
        backend=backend,
        delivery=delivery,
        pool=pool,
        plane=ControlPlane(backend, pool, allow=allow),
        ingest=Ingest(backend.metadata, delivery.queue, delivery.deliveries),
        dispatcher=Dispatcher(backend, delivery, pool, policy=policy, allow=allow),
    )
