"""What every Lambda entry point builds once per cold start, from its environment.

Cold start (docs/PERFORMANCE.md, "Lambda cold start"): the sandbox pool's zygote and
isolation probe start in their own process, from a thread, as soon as the handler module
asks (:func:`start_pool`), so they overlap the rest of the module's imports; the pool is
waited for when first used. Everything else is built when first used, once: each AWS
client on its first call (:class:`LazyClient`, boto3 itself imported then), and the
stores and services of :class:`LambdaRuntime` (the control plane, ingest, the
dispatcher, with their modules and Powertools' idempotency) on first access. The handler
modules end their import by starting :func:`warm_in_background`, which builds what their
first event needs while the zygote is still starting: the import stays small and the
first event does not pay for the build after it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from ..sandbox.host import isolation

if TYPE_CHECKING:
    from ..control.backend import Backend
    from ..control.service import ControlPlane
    from ..delivery.dispatch import Dispatcher
    from ..delivery.ingest import Ingest
    from ..delivery.ports import DeliveryBackend
    from ..sandbox.host.pool import WorkerPool
    from ..sandbox.host.store import KeyValueStore

__all__ = [
    "LambdaRuntime",
    "LazyClient",
    "LazyStore",
    "build_runtime",
    "start_pool",
    "warm_in_background",
]

T = TypeVar("T")


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


class LazyStore:
    """The handlers' store (``functions_sdk.store``), built on its first call, once: its
    module brings the AWS delivery backend's models (pydantic), which init need not
    import."""

    def __init__(self, build: Callable[[], KeyValueStore]) -> None:
        self._build = build
        self._store: KeyValueStore | None = None
        self._lock = threading.Lock()

    @property
    def target(self) -> KeyValueStore:
        with self._lock:
            if self._store is None:
                self._store = self._build()
            return self._store

    def get(self, scope: str, key: str) -> str | None:
        return self.target.get(scope, key)

    def put(self, scope: str, key: str, text: str, ttl: float | None) -> None:
        self.target.put(scope, key, text, ttl)

    def delete(self, scope: str, key: str) -> bool:
        return self.target.delete(scope, key)

    def incr(self, scope: str, key: str, by: int) -> int:
        return self.target.incr(scope, key, by)


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
        compile_in_host=False,  # the cold start imports no compiler; workers compile
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


class LambdaRuntime:
    """The pool (from :func:`start_pool`: waited for on first use, when a strict-mode
    isolation failure surfaces) and, built on first access, once, under one lock: the
    control and delivery backends over lazy clients, the control plane, ingest and the
    dispatcher. :meth:`warm` builds some of them ahead of the first event."""

    def __init__(
        self,
        env: Mapping[str, str],
        session: Any,
        pool: WorkerPool | Future[WorkerPool],
        on_pool: Callable[[WorkerPool], None] | None = None,
    ) -> None:
        self.env = env
        self.allow = _allow(env)
        self._session = session
        self._lock = threading.RLock()
        self._pending = pool if isinstance(pool, Future) else None
        self._pool: WorkerPool | None = None if isinstance(pool, Future) else pool
        self._on_pool = on_pool
        self._pool_lock = threading.Lock()

    @property
    def pool(self) -> WorkerPool:
        """The sandbox pool; the first access waits for it to start (and raises its
        ``IsolationError`` in strict mode when the isolation required is missing)."""
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None and self._pending is not None:
                    workers = self._pending.result()
                    if self._on_pool is not None:
                        self._on_pool(workers)
                    self._pool = workers
        assert self._pool is not None
        return self._pool

    def warm(
        self,
        *names: str,
        clients: tuple[str, ...] = (),
        build: Callable[[], object] | None = None,
    ) -> None:
        """Build ``names`` (attributes: ``dispatcher``, ``plane``, ...), then what
        ``build`` builds (the API's resolver), and the AWS ``clients`` now, as a first
        event would; called from a thread at the end of a handler module's import, so
        the first event finds them (or waits for them, under the same locks) instead of
        building them after the import. A failure is left for the first event to meet
        again and report."""
        try:
            for name in names:
                getattr(self, name)
            if build is not None:
                build()
            for name in clients:
                self._clients[name].meta  # noqa: B018 (the access builds the client)
        except Exception:  # the first event builds it again and reports the error
            return

    def _once(self, name: str, build: Callable[[], T]) -> T:
        # cached_property alone may build twice in two threads: here once, under the lock.
        with self._lock:
            if name not in self.__dict__:
                self.__dict__[name] = build()
            found: T = self.__dict__[name]
            return found

    def _client(self, name: str) -> LazyClient:
        def build() -> Any:
            if self._session is None:
                import boto3

                self._session = boto3.Session()
            return self._session.client(name)

        return LazyClient(build)

    @cached_property
    def _clients(self) -> dict[str, LazyClient]:
        return self._once(
            "_clients", lambda: {n: self._client(n) for n in ("dynamodb", "s3", "kms", "sqs")}
        )

    @cached_property
    def backend(self) -> Backend:
        def build() -> Backend:
            from ..control.aws import aws_backend, names_from_env

            c = self._clients
            names = names_from_env(self.env)
            return aws_backend(c["dynamodb"], c["s3"], c["kms"], names, serialize=False)

        return self._once("backend", build)

    @cached_property
    def delivery(self) -> DeliveryBackend:
        def build() -> DeliveryBackend:
            from ..delivery.aws import aws_delivery, delivery_names_from_env

            c = self._clients
            return aws_delivery(c["sqs"], c["dynamodb"], delivery_names_from_env(self.env))

        return self._once("delivery", build)

    @cached_property
    def plane(self) -> ControlPlane:
        def build() -> ControlPlane:
            from ..control.service import ControlPlane

            return ControlPlane(self.backend, self.pool, allow=self.allow)

        return self._once("plane", build)

    @cached_property
    def ingest(self) -> Ingest:
        def build() -> Ingest:
            from ..delivery.ingest import Ingest

            delivery = self.delivery
            return Ingest(self.backend.metadata, delivery.queue, delivery.deliveries)

        return self._once("ingest", build)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        def build() -> Dispatcher:
            from ..delivery.dispatch import DeliveryPolicy, Dispatcher

            attempts = int(self.env.get("FUNCTIONS_MAX_ATTEMPTS", "8"))
            policy = DeliveryPolicy(max_attempts=attempts)
            return Dispatcher(
                self.backend, self.delivery, self.pool, policy=policy, allow=self.allow
            )

        return self._once("dispatcher", build)


def build_runtime(
    env: Mapping[str, str] | None = None,
    session: Any = None,
    pool: Future[WorkerPool] | None = None,
) -> LambdaRuntime:
    """The runtime of the environment the template sets (``pool``: from
    :func:`start_pool`, started here when not given). Nothing here waits: the pool is
    waited for on first use, when it also gets the handlers' store; clients, stores and
    services are built on first use (or by :meth:`LambdaRuntime.warm`)."""
    env = os.environ if env is None else env
    # functions_sdk.store: the table template.yaml declares; without one, in memory.
    table = env.get("FUNCTIONS_STORE_TABLE", "").strip()
    if not table:
        emit("FUNCTIONS_STORE_TABLE not set: handlers' store is in memory, per Lambda instance")

    def give_store(workers: WorkerPool) -> None:
        if not table:
            return

        def store() -> KeyValueStore:
            from ..delivery.aws.store import DynamoStore

            return DynamoStore(runtime._clients["dynamodb"], table)

        workers.store = LazyStore(store)

    runtime = LambdaRuntime(env, session, pool or start_pool(env), on_pool=give_store)
    return runtime


def warm_in_background(
    runtime: LambdaRuntime,
    *names: str,
    clients: tuple[str, ...] = (),
    build: Callable[[], object] | None = None,
) -> None:
    """:meth:`LambdaRuntime.warm` in a daemon thread (see there)."""
    threading.Thread(
        target=runtime.warm,
        args=names,
        kwargs={"clients": clients, "build": build},
        name="functions-warm",
        daemon=True,
    ).start()
