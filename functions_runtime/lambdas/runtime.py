"""What every Lambda entry point builds once per cold start, from its environment.

Cold start (docs/PERFORMANCE.md, "Lambda cold start"): the sandbox pool's zygote and
isolation probe start in their own process, from a thread, as soon as the handler module
asks (:func:`start_pool`), so they overlap the rest of the module's imports; each AWS
client is built on its first call (:class:`LazyClient`), once per cold start, so an
entry point pays only for the services it uses.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..sandbox.host import isolation

if TYPE_CHECKING:
    from ..control.backend import Backend
    from ..control.service import ControlPlane
    from ..delivery.dispatch import Dispatcher
    from ..delivery.ingest import Ingest
    from ..delivery.ports import DeliveryBackend
    from ..sandbox.host.pool import WorkerPool

__all__ = ["LambdaRuntime", "LazyClient", "build_runtime", "start_pool"]


@dataclass(frozen=True)
class LambdaRuntime:
    backend: Backend
    delivery: DeliveryBackend
    pool: WorkerPool
    plane: ControlPlane
    ingest: Ingest
    dispatcher: Dispatcher


# One lock for every client: a boto3 session is not safe to build clients from in
# several threads at once.
_BUILD = threading.Lock()


class LazyClient:
    """A boto3 client built on first use (thread-safe, once): building one loads the
    service's model (S3's costs about 60 ms), which an invocation that never calls the
    service should not pay."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None
        self._lock = _BUILD

    def __getattr__(self, name: str) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build()
                client = self._client
        return getattr(client, name)


def _allow(env: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(e.strip() for e in env.get("FUNCTIONS_HTTP_ALLOW", "").split(",") if e.strip())


def emit(line: str) -> None:
    print(line, flush=True)  # CloudWatch, at every cold start


def _pool(env: Mapping[str, str]) -> WorkerPool:
    # Non-dumpable host, isolation probed and logged, strict by default (no namespaces
    # on Lambda: seccomp, no_new_privs and Landlock where the kernel has it).
    return isolation.pool(
        isolation.mode_from(env=env),
        emit,
        max_workers=int(env.get("FUNCTIONS_MAX_WORKERS", "8")),
        spares=0,
    )


def start_pool(env: Mapping[str, str] | None = None) -> Future[WorkerPool]:
    """The pool, built in a thread: its zygote (an interpreter and its imports) and the
    isolation probe run in other processes while this one goes on importing. The
    result (or the :class:`IsolationError` of strict mode) comes from ``.result()``."""
    env = os.environ if env is None else env
    pending: Future[WorkerPool] = Future()

    def run() -> None:
        try:
            pending.set_result(_pool(env))
        except BaseException as exc:  # re-raised by .result() in the importing thread
            pending.set_exception(exc)

    threading.Thread(target=run, name="functions-pool-start", daemon=True).start()
    return pending


def build_runtime(
    env: Mapping[str, str] | None = None,
    session: Any = None,
    pool: Future[WorkerPool] | None = None,
) -> LambdaRuntime:
    """Clients, stores and services from the environment the template sets. ``pool``:
    from :func:`start_pool` (started here when not given)."""
    from ..control.aws import aws_backend, names_from_env
    from ..control.service import ControlPlane
    from ..delivery.aws import aws_delivery, delivery_names_from_env
    from ..delivery.aws.store import STORE_ENV_VAR, DynamoStore
    from ..delivery.dispatch import DeliveryPolicy, Dispatcher
    from ..delivery.ingest import Ingest

    env = os.environ if env is None else env
    pending = pool or start_pool(env)
    if session is None:
        import boto3

        session = boto3.Session()

    def client(name: str) -> LazyClient:
        return LazyClient(lambda: session.client(name))

    dynamodb, s3, kms, sqs = (client(n) for n in ("dynamodb", "s3", "kms", "sqs"))
    backend = aws_backend(dynamodb, s3, kms, names_from_env(env), serialize=False)
    delivery = aws_delivery(sqs, dynamodb, delivery_names_from_env(env))
    allow = _allow(env)
    policy = DeliveryPolicy(max_attempts=int(env.get("FUNCTIONS_MAX_ATTEMPTS", "8")))
    workers = pending.result()
    # functions_sdk.store: the table template.yaml declares; without one, in memory.
    table = env.get(STORE_ENV_VAR, "").strip()
    if table:
        workers.store = DynamoStore(dynamodb, table)
    else:
        emit(f"{STORE_ENV_VAR} not set: handlers' store is in memory, per Lambda instance")
    return LambdaRuntime(
        backend=backend,
        delivery=delivery,
        pool=workers,
        plane=ControlPlane(backend, workers, allow=allow),
        ingest=Ingest(backend.metadata, delivery.queue, delivery.deliveries),
        dispatcher=Dispatcher(backend, delivery, workers, policy=policy, allow=allow),
    )
