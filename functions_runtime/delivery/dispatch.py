"""The delivery worker: run queued events through their instance's sandbox and settle them.

``Dispatcher.process(jobs)`` is the unit of logic and of testing: it groups jobs by
instance, skips messages already delivered (Powertools idempotency), runs the rest
(``on_batch`` batches when the function has it), records a delivery for every event
and returns how each job is to be settled: ``ack``, ``retry`` after a wait from the
function's retry schedule (:mod:`.retries`), or ``dead`` (retries exhausted, or the
code cannot run). The embedded loop (:func:`run_worker`) and the SQS Lambda handler
apply those settlements.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from ..control.backend import Backend
from ..control.libraries import module_files, pins_for
from ..control.models import Instance, Version
from ..control.ports import StoreError
from ..control.settings import decrypt_settings_and_names, spec_for
from ..manifest import Manifest, RetrySpec
from ..sandbox.host.pool import InstanceSpec, WorkerPool
from .ports import Delivery, DeliveryBackend, Job, Queue, SafeMemo
from .retries import RetrySchedule

__all__ = ["DeliveryPolicy", "Dispatcher", "Settlement", "run_worker"]

logger = logging.getLogger("functions.delivery")

# Claims are read-check-write, so they hold the database's writer lock while Powertools
# computes each record; a few at a time keeps the other loops' record writes from waiting long.
CLAIMS_PER_TRANSACTION = 10

TERMINAL = frozenset({"delivered", "filtered", "rejected"})


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retry and idempotency settings of a deployment.

    ``max_attempts`` attempts within ``max_age`` of the first (the retry window), waits
    starting near ``base_delay`` seconds (see :mod:`.retries`); a function's
    ``[retry]`` table in ``function.toml`` sets its own attempts and window.
    """

    max_attempts: int = 8
    max_age: timedelta = timedelta(hours=4)
    base_delay: float = 1.0
    jitter: float = 0.25
    idempotency_window: int = 24 * 3600
    visibility_timeout: int = 60

    def schedule(self, retry: RetrySpec | None = None) -> RetrySchedule:
        """The retry schedule of a function whose manifest has ``retry`` (or none)."""
        attempts = retry.attempts if retry is not None and retry.attempts else None
        window = retry.window_seconds if retry is not None and retry.window_seconds else None
        return RetrySchedule(
            attempts=attempts or self.max_attempts,
            window_seconds=window or self.max_age.total_seconds(),
            first_wait=self.base_delay,
            jitter=self.jitter,
        )

    def backoff(self, attempt: int, rng: random.Random) -> int:
        """Seconds to wait after failed ``attempt`` under the deployment's schedule."""
        return self.schedule().wait(attempt, rng)


@dataclass(frozen=True)
class Settlement:
    job: Job
    action: Literal["ack", "retry", "dead"]
    delay: int = 0
    reason: str = ""
    outcome: str = ""  # the delivery's outcome ("" when nothing ran: duplicate or busy)


@dataclass(frozen=True)
class _Target:
    instance: Instance
    version_id: str
    spec: InstanceSpec
    batched: bool
    retry: RetrySchedule


class Dispatcher:
    """Turns jobs into deliveries; shared by ``functions serve`` and the SQS Lambda."""

    def __init__(
        self,
        control: Backend,
        delivery: DeliveryBackend,
        pool: WorkerPool,
        *,
        policy: DeliveryPolicy | None = None,
        allow: tuple[str, ...] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
    ) -> None:
        self.control = control
        self.delivery = delivery
        self.pool = pool
        self.policy = policy or DeliveryPolicy()
        self.allow = allow
        self.clock = clock
        self.rng = rng or random.Random()
        self._idempotency = delivery.idempotency
        self._idempotency.configure(
            IdempotencyConfig(expires_after_seconds=self.policy.idempotency_window),
            function_name="functions.deliver",
        )
        self._targets: dict[tuple[str, int, str], _Target] = {}
        self._lock = threading.Lock()

    # -- the unit of work ------------------------------------------------------------------

    def process(
        self, jobs: list[Job], settle: Callable[[list[Settlement]], None] | None = None
    ) -> list[Settlement]:
        """Run and record ``jobs``; one settlement per job, in order.

        Writes are grouped per instance: the idempotency claims, a few per transaction;
        then, for each part that finishes together (a sandbox invoke's events, the
        duplicates, the insert function's drops), its delivery records and idempotency
        results in a deferred block (blind writes, committed together at its end). ``settle``, when
        given, is called with that part's settlements inside the same block (the
        embedded loop acks its jobs there: one commit settles the part, or none of it is
        settled).
        """
        settled: dict[str, Settlement] = {}
        groups: dict[tuple[str, str], list[Job]] = {}
        for job in jobs:
            body = job.body
            key = (str(body.get("instance_id")), str(body.get("version_id") or ""))
            groups.setdefault(key, []).append(job)
        for (instance_id, version_override), group in groups.items():
            for part in self._process_group(instance_id, version_override, group):
                with self.delivery.deferred():
                    done = part()
                    if settle is not None and done:
                        settle(done)
                settled.update((settlement.job.id, settlement) for settlement in done)
        return [settled[job.id] for job in jobs]

    def _process_group(
        self, instance_id: str, version_override: str, jobs: list[Job]
    ) -> Iterator[Callable[[], list[Settlement]]]:
        """The group's parts, in order: each a function that records its jobs' outcomes
        and returns their settlements (called inside a deferred block)."""
        workspace_id = str(jobs[0].body.get("workspace_id"))
        target = self._target(workspace_id, instance_id, version_override or None)
        if target is None:
            yield lambda: [self._unavailable(job) for job in jobs]
            return
        states: list[tuple[Job, str]] = []
        for start in range(0, len(jobs), CLAIMS_PER_TRANSACTION):
            with self.delivery.transaction():
                states += [
                    (job, self._claim(job)) for job in jobs[start : start + CLAIMS_PER_TRANSACTION]
                ]
        skipped = [
            Settlement(job, "ack", reason="already delivered (idempotency)")
            if state == "done"
            else Settlement(job, "retry", delay=math.ceil(self.policy.base_delay))
            for job, state in states
            if state != "run"
        ]
        yield lambda: skipped
        runnable = [job for job, state in states if state == "run"]
        events = {job.id: job.body.get("event") for job in runnable}
        if runnable and target.instance.insert_id:
            runnable = yield from self._run_insert(workspace_id, target, runnable, events)
        if not runnable:
            return
        size = target.instance.batch_max_count if target.batched else len(runnable)
        for start in range(0, len(runnable), size):
            chunk = runnable[start : start + size]
            results = self.pool.invoke(
                target.spec, [events[job.id] for job in chunk], batch=target.batched
            )
            yield functools.partial(self._settle_all, target, chunk, results)

    def _settle_all(
        self, target: _Target, jobs: list[Job], results: list[dict[str, Any]]
    ) -> list[Settlement]:
        # The records of one call's events share what they can: an on_batch call's logs
        # and requests are one list for all of them, checked for the records once.
        memo: SafeMemo = {}
        return [
            self._settle_alone(job, target, result, memo)
            for job, result in zip(jobs, results, strict=True)
        ]

    def _settle_alone(
        self, job: Job, target: _Target, result: dict[str, Any], memo: SafeMemo | None = None
    ) -> Settlement:
        """``_settle``, except that a job whose outcome cannot be recorded is settled on
        its own (dead-lettered with the reason) instead of failing its whole part. A
        store that fails (``StoreError``) still fails the part: its jobs come back."""
        try:
            return self._settle(job, target, result, memo)
        except StoreError:
            raise
        except Exception as exc:
            logger.exception("the delivery of job %s could not be recorded", job.id)
            reason = f"its delivery could not be recorded: {type(exc).__name__}: {exc}"[:500]
            error = {"type": "RecordFailed", "line": None, "message": reason}
            self._record(job, target, "failed", error, {"duration_ms": result.get("duration_ms")})
            return Settlement(job, "dead", reason=reason, outcome="failed")

    def _unavailable(self, job: Job) -> Settlement:
        self._record(
            job,
            None,
            "filtered",
            {
                "type": "InstanceUnavailable",
                "line": None,
                "message": "the instance was deleted or disabled; event not delivered",
            },
        )
        return Settlement(job, "ack", outcome="filtered")

    def _run_insert(
        self, workspace_id: str, target: _Target, jobs: list[Job], events: dict[str, Any]
    ) -> Generator[Callable[[], list[Settlement]], None, list[Job]]:
        """Run the instance's insert function first; returns the jobs to forward and
        replaces their events in ``events``. Dropped, rejected or failed ones are settled
        here with the insert function's outcome (it fails closed: no insert, no delivery)."""
        insert_id = str(target.instance.insert_id)
        insert = self._target(workspace_id, insert_id, None)
        if insert is None:
            unavailable: dict[str, Any] = {
                "outcome": "retry",
                "result": None,
                "logs": [],
                "requests": [],
                "duration_ms": 0.0,
                "error": {
                    "type": "InsertUnavailable",
                    "line": None,
                    "message": f"insert instance {insert_id} is missing or disabled",
                },
            }
            yield lambda: [self._settle(job, target, unavailable) for job in jobs]
            return []
        results = self.pool.invoke(insert.spec, [events[job.id] for job in jobs], batch=False)
        forwarded: list[Job] = []
        stopped: list[tuple[Job, dict[str, Any]]] = []
        for job, result in zip(jobs, results, strict=True):
            if result["outcome"] == "delivered" and isinstance(result["result"], dict):
                events[job.id] = result["result"]
                forwarded.append(job)
                continue
            error = dict(result.get("error") or {})
            if result["outcome"] == "delivered":
                result = {**result, "outcome": "rejected"}
                error = {
                    "type": "ValidationError",
                    "line": None,
                    "message": "the insert function must return the event to forward",
                }
            error["message"] = f"insert function: {error.get('message', '')}"
            stopped.append((job, {**result, "error": error}))
        yield functools.partial(
            self._settle_all, target, [job for job, _ in stopped], [r for _, r in stopped]
        )
        return forwarded

    def _settle(
        self, job: Job, target: _Target, result: dict[str, Any], memo: SafeMemo | None = None
    ) -> Settlement:
        outcome = str(result["outcome"])
        if outcome in TERMINAL:
            self._record(job, target, outcome, result["error"], result, memo)
            self._complete(job, outcome)
            return Settlement(job, "ack", outcome=outcome)
        self._release(job)
        error = result.get("error") or {}
        reason = f"{error.get('type', outcome)}: {error.get('message', '')}"[:500]
        age = self.clock() - job.sent_at
        if outcome == "invalid":
            self._record(job, target, "failed", error, result, memo)
            return Settlement(job, "dead", reason=reason, outcome="failed")
        schedule = target.retry
        exhausted = job.receive_count >= schedule.attempts
        if exhausted or age.total_seconds() >= schedule.deadline_seconds:
            self._record(job, target, "failed", error, result, memo)
            return Settlement(
                job,
                "dead",
                reason=f"retries exhausted after {job.receive_count} attempts: {reason}",
                outcome="failed",
            )
        self._record(job, target, "retry", error, result, memo)
        delay = schedule.wait(job.receive_count, self.rng)
        return Settlement(job, "retry", delay=delay, outcome="retry")

    # -- idempotency (Powertools persistence layer) --------------------------------------

    def _key(self, job: Job) -> dict[str, Any]:
        body = job.body
        return {
            "instance_id": body.get("instance_id"),
            "message_id": body.get("message_id"),
            "replay": body.get("replay_id") or "",
        }

    def _claim(self, job: Job) -> Literal["run", "done", "busy"]:
        remaining = self.policy.visibility_timeout * 1000
        try:
            self._idempotency.save_inprogress(
                data=self._key(job), remaining_time_in_millis=remaining
            )
            return "run"
        except IdempotencyItemAlreadyExistsError as exc:
            record: DataRecord | None = getattr(exc, "old_data_record", None)
            if record is None:
                try:
                    record = self._idempotency.get_record(data=self._key(job))
                except IdempotencyItemNotFoundError:
                    return "busy"
            return "done" if record is not None and record.status == "COMPLETED" else "busy"

    def _complete(self, job: Job, outcome: str) -> None:
        self._idempotency.save_success(data=self._key(job), result={"outcome": outcome})

    def _release(self, job: Job) -> None:
        self._idempotency.delete_record(data=self._key(job), exception=RuntimeError("retry"))

    # -- records ------------------------------------------------------------------------------

    def _record(
        self,
        job: Job,
        target: _Target | None,
        outcome: str,
        error: dict[str, Any] | None,
        result: dict[str, Any] | None = None,
        memo: SafeMemo | None = None,
    ) -> None:
        body = job.body
        event = body.get("event")
        fields = {
            "id": f"{body.get('instance_id')}:{body.get('message_id')}:{job.receive_count}"
            f"{':' + str(body['replay_id']) if body.get('replay_id') else ''}",
            "workspace_id": str(body.get("workspace_id")),
            "instance_id": str(body.get("instance_id")),
            "version_id": target.version_id if target else None,
            "message_id": str(body.get("message_id")),
            "event_type": event.get("type") if isinstance(event, dict) else None,
            "outcome": outcome,
            "attempt": job.receive_count,
            "error": error,
            "logs": (result or {}).get("logs") or [],
            "requests": (result or {}).get("requests") or [],
            "duration_ms": float((result or {}).get("duration_ms") or 0.0),
            "at": self.clock(),
            "event": event,
        }
        # The event as the queue gave it: checked there when its text was (Job.plain);
        # lists shared by the records of one call: checked once (memo).
        context = {"plain_event": job.plain, "memo": memo}
        record = Delivery.model_validate(fields, context=context)
        self.delivery.deliveries.record(record)

    # -- what to run ----------------------------------------------------------------------------

    def batching(self, job: Job) -> tuple[int, float]:
        """How many of this job's instance to run together, and how long to wait for
        them: ``(1, 0.0)`` unless its function has ``on_batch``."""
        body = job.body
        target = self._target(
            str(body.get("workspace_id")),
            str(body.get("instance_id")),
            str(body.get("version_id") or "") or None,
        )
        if target is None or not target.batched:
            return 1, 0.0
        wait = min(target.instance.batch_wait_seconds, self.policy.visibility_timeout / 2)
        return target.instance.batch_max_count, wait

    def spec_for(self, workspace_id: str, instance_id: str) -> InstanceSpec | None:
        """The runnable spec of an enabled instance (None when missing or disabled)."""
        target = self._target(workspace_id, instance_id, None)
        return target.spec if target is not None else None

    def _target(
        self, workspace_id: str, instance_id: str, version_override: str | None
    ) -> _Target | None:
        store = self.control.metadata
        instance = store.get_instance(workspace_id, instance_id)
        if instance is None or not instance.enabled:
            return None
        version_id = version_override or instance.version_id
        cache_key = (instance.id, instance.revision, version_id)
        with self._lock:
            cached = self._targets.get(cache_key)
        if cached is not None:
            return cached
        version = store.get_version(workspace_id, version_id)
        if version is None:
            return None
        target = self._build(instance, version, repin=version_override is not None)
        with self._lock:
            self._targets[cache_key] = target
        return target

    def _build(self, instance: Instance, version: Version, *, repin: bool = False) -> _Target:
        manifest = Manifest.model_validate(
            {k: v for k, v in version.manifest.items() if k != "source"}
        )
        code = self.control.blobs.get(version.code_key).decode("utf-8")
        # The libraries pinned at deploy; another version than the deployed one (a
        # replay's) takes the latest of those it imports that are not pinned.
        pins = dict(instance.libraries)
        if repin:
            latest = pins_for(self.control.metadata, instance.workspace_id, version.imports)
            pins = {**latest, **pins}
        modules = module_files(
            self.control.blobs, self.control.metadata, instance.workspace_id, version, pins
        )
        # Only into the sandbox; names once secret are masked whatever the manifest says.
        settings, sealed = decrypt_settings_and_names(self.control.box, instance)
        key = f"{instance.id}:{version.id}:{instance.revision}"
        spec = spec_for(
            key, code, manifest, settings, self.allow, also_secret=sealed, modules=modules
        )
        # The instance's own store (functions_sdk.store), whatever its version: decided
        # here, by the host, never by the worker.
        spec = replace(
            spec,
            store_scope=f"{instance.workspace_id}/{instance.id}",
            workspace=instance.workspace_id,
        )
        return _Target(
            instance,
            version.id,
            spec,
            batched="on_batch" in version.handlers,
            retry=self.policy.schedule(manifest.retry),
        )


def run_worker(
    dispatcher: Dispatcher,
    stop: threading.Event,
    *,
    max_messages: int = 100,
    idle_sleep: float = 0.05,
    max_pause: float = 30.0,
    wait: Callable[[float], object] | None = None,
) -> None:
    """The embedded delivery loop: receive, hold, process, settle, until ``stop`` is set.

    Jobs of an instance whose function has ``on_batch`` are held until the instance's
    ``batch_max_count`` is reached or its oldest has waited ``batch_wait_seconds``
    (always less than the visibility timeout); other jobs run at once.

    A step that fails (the store is locked, full or damaged) is logged as one line and
    the loop pauses, twice as long after each failure in a row (from ``2 * idle_sleep``
    up to ``max_pause`` seconds), until a step succeeds. ``wait(seconds)`` does the
    pausing (by default ``stop.wait``: a stop ends the pause).
    """
    pause = wait if wait is not None else stop.wait
    queue = dispatcher.delivery.queue
    visibility = dispatcher.policy.visibility_timeout
    held: dict[tuple[str, str], list[Job]] = {}
    since: dict[tuple[str, str], float] = {}
    failures = 0
    while True:
        stopping = stop.is_set()
        try:
            busy = _step(dispatcher, queue, visibility, held, since, max_messages, stopping)
            failures = 0
        except Exception as exc:
            # A receive, lookup or group that failed: its jobs reappear after the
            # visibility timeout; keep delivering, more slowly while it lasts.
            failures += 1
            busy = False
            backoff = min(max_pause, idle_sleep * 2**failures)
            _log_failure(exc, failures, backoff)
        if stopping:  # that step ran everything held (or failed: it comes back later)
            return
        if failures:
            pause(backoff)
        elif not busy:
            pause(idle_sleep)


def _log_failure(exc: Exception, failures: int, backoff: float) -> None:
    """One line per failed step; the traceback too for the first failure in a row of
    an error that is not the store's (a bug, not a full disk), at most once a streak."""
    what = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
    logger.error(
        "delivery step failed (%s); %d in a row, next try in %.2f s",
        what,
        failures,
        backoff,
        exc_info=exc if failures == 1 and not isinstance(exc, StoreError) else None,
    )


def _step(
    dispatcher: Dispatcher,
    queue: Queue,
    visibility: int,
    held: dict[tuple[str, str], list[Job]],
    since: dict[tuple[str, str], float],
    max_messages: int,
    stopping: bool,
) -> bool:
    """One turn of :func:`run_worker`: receive into ``held``, run what is ready. True
    when it received or ran anything (the loop goes on without a pause)."""
    room = max_messages - sum(len(group) for group in held.values())
    jobs = queue.receive(room, visibility_timeout=visibility) if room > 0 and not stopping else []
    now = time.monotonic()
    for job in jobs:
        key = (str(job.body.get("instance_id")), str(job.body.get("version_id") or ""))
        held.setdefault(key, []).append(job)
        since.setdefault(key, now)
    ready: list[Job] = []
    for key, group in list(held.items()):
        count, wait = dispatcher.batching(group[0])
        if stopping or len(group) >= count or now - since[key] >= wait:
            ready.extend(group)
            del held[key], since[key]
    if ready:
        dispatcher.process(ready, settle=lambda done: _apply(queue, done))
    return bool(jobs or ready)


def _apply(queue: Queue, settlements: list[Settlement]) -> None:
    for settlement in settlements:
        if settlement.action == "ack":
            queue.ack(settlement.job)
        elif settlement.action == "retry":
            queue.retry(settlement.job, settlement.delay)
        else:
            queue.dead_letter(settlement.job, settlement.reason)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes (for tools and tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
