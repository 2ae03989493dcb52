"""The host side of the sandbox: worker processes per instance, deadlines, outcomes.

A :class:`WorkerPool` keeps at most one warm worker per instance (and at most
``max_workers`` in all, least recently used evicted). Each worker is forked from the
pool's zygote, a ``python -I -B`` process started with an allow-listed environment that
has imported the worker's code and holds no instance's code or data
(``zygote_client.py``; a fresh ``python -I -B -m functions_runtime.sandbox.guest.worker`` when
the zygote fails): no AWS credentials, no runtime secrets, no other instance's data.
The host enforces the wall-clock timeout and the memory limit from outside, by
killing the worker's process group; a killed worker is replaced before the next
event.

The host is also the worker's network (``sandbox/host/broker.py``): a ``fetch`` frame
from the worker is performed by the pool's :class:`Broker` in the thread that runs the
invocation, and answered on the worker's pipe. No pool-wide lock is held meanwhile, so
a slow endpoint holds up only the invocation that called it, never another
instance's. The request records in each result are the broker's, not the worker's.

The host is the worker's store too (``sandbox/host/store.py``): a ``store`` frame is
answered from the pool's :class:`KeyValueStore`, scoped by the host to the instance
it is serving (``InstanceSpec.store_scope``), and only while that invocation runs.
Without a configured store the pool keeps one in memory, for its process's life.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import hashlib
import json
import os
import selectors
import signal
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from functions_sdk import Settings
from functions_sdk._memory_store import MemoryStore

from ..guest.protocol import MAX_FRAME, encode
from .broker import Broker, Session
from .store import KeyValueStore, StoreSession
from .zygote_client import Launcher, ZygoteError, exec_worker, worker_environment

__all__ = [
    "InstanceSpec",
    "WorkerPool",
    "summarise",
    "worker_environment",
]

MiB = 1024 * 1024
STARTUP_TIMEOUT = 20.0
POLL_INTERVAL = 0.05
WORKER_CPU_BUDGET = 600
STDERR_TAIL = 4096
COMPILE_CACHE = 256
OUTCOME_SEVERITY = ("delivered", "filtered", "rejected", "retry", "invalid")
KILL_WAIT = 5.0


@dataclass(frozen=True)
class InstanceSpec:
    """Everything needed to run one instance's code."""

    key: str
    source: str
    filename: str
    kind: str = "destination"
    timeout: float = 5.0
    memory_mb: int = 256
    settings: dict[str, Any] = field(default_factory=dict, hash=False)
    secret_names: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    # Whose store a handler's ``functions_sdk.store`` calls reach: set by the host
    # (``workspace/instance`` for deliveries); empty: one of the code's own (``key``).
    store_scope: str = field(default="", compare=False)

    @property
    def scope(self) -> str:
        return self.store_scope or f"code/{self.key}"

    # The function's other files and its pinned libraries' files: (path, source), sorted.
    modules: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def key_for(source: str, settings: dict[str, Any], *parts: object) -> str:
        digest = hashlib.sha256(source.encode())
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
        digest.update(repr(parts).encode())
        return digest.hexdigest()[:16]


class _WorkerLost(Exception):
    def __init__(self, outcome: str, error_type: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.error_type = error_type
        self.message = message


class Worker:
    """One worker process and the frames to and from it."""

    def __init__(self, launcher: Launcher | None = None) -> None:
        self._spec: InstanceSpec | None = None
        self._launched = launcher.launch() if launcher is not None else exec_worker()
        self.proc = self._launched.proc
        self._in = self._launched.stdin
        self._out = self._launched.stdout
        self._err = self._launched.stderr
        self._open = True
        self._closing = threading.Lock()
        # One selector for the worker's life: a fetch adds two frames per event, and an
        # epoll set per frame would cost a few syscalls each time.
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._out, selectors.EVENT_READ)
        self._selector.register(self._err, selectors.EVENT_READ)
        self._buffer = bytearray()
        self._stderr = bytearray()
        self.cpu = 0.0
        self.exhausted = False
        self.lock = threading.Lock()
        self._rss_checked = 0.0
        self.handlers: tuple[str, ...] = ()
        self.baseline_rss = 0
        # What OS confinement the worker reported (before any handler code ran in it)
        # and which namespaces it lives in (sandbox/guest/confine.py, namespaces.py).
        self.confinement: dict[str, str] = {}
        self.namespaces = self._launched.namespaces

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def spec(self) -> InstanceSpec:
        assert self._spec is not None, "load() binds the worker to an instance first"
        return self._spec

    def load(self, spec: InstanceSpec) -> list[str]:
        """Bind this worker to ``spec`` and compile its code; returns problems (empty when ok).

        A worker is bound once: it serves that one instance until it is killed.
        """
        assert self._spec is None, "a worker serves one instance only"
        self._spec = spec
        self._send(
            {
                "op": "load",
                "source": self.spec.source,
                "filename": self.spec.filename,
                "modules": dict(self.spec.modules),
                "kind": self.spec.kind,
                "memory_mb": self.spec.memory_mb,
                "cpu_seconds": WORKER_CPU_BUDGET,
            }
        )
        reply = self._receive(time.monotonic() + STARTUP_TIMEOUT, check_memory=False)
        if not reply.get("ok"):
            return [str(p) for p in reply.get("errors", ["the worker refused the code"])]
        self.handlers = tuple(reply.get("handlers", ()))
        reported = reply.get("confinement")
        if isinstance(reported, dict):
            self.confinement = {str(k): str(v) for k, v in reported.items()}
        self.baseline_rss = self.rss()
        return []

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self._launched.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=KILL_WAIT)
        with self._closing:
            if self._open:
                self._open = False
                self._selector.close()
                for fd in (self._in, self._out, self._err):
                    os.close(fd)

    def _over(self, limit: int, now: float) -> bool:
        """Memory over the limit (read at most once per poll interval)."""
        self._rss_checked = now
        return self.rss() > limit

    def rss(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0

    # -- invocation ----------------------------------------------------------------------

    def invoke(
        self,
        events: list[Any],
        *,
        batch: bool,
        session: Session,
        results: list[dict[str, Any]],
        store: StoreSession | None = None,
    ) -> None:
        """Run ``events``; append one result per event to ``results`` as they arrive.
        ``fetch`` frames are performed by ``session`` meanwhile.

        Raises ``_WorkerLost`` after a timeout, a memory kill or a crash; ``results``
        then holds what finished before it.
        """
        spec = self.spec
        self._send(
            {
                "op": "invoke",
                "events": events,
                "batch": batch,
                "settings": spec.settings,
                "secret_names": list(spec.secret_names),
            }
        )
        session.take_records()  # none of an earlier, lost attempt
        whole_batch = batch and "on_batch" in self.handlers
        budget = spec.timeout
        deadline = time.monotonic() + budget
        expected = len(results) + len(events)
        while True:
            frame = self._receive(deadline)
            # The worker runs customer code: trust nothing it sends beyond this shape.
            if not isinstance(frame, dict):
                raise self._protocol_error("a frame that is not an object")
            if frame.get("done") is True:
                cpu = frame.get("cpu", 0.0)
                if len(results) != expected or type(cpu) not in (int, float):
                    raise self._protocol_error("a malformed or early end of invocation")
                self.cpu = float(cpu)
                self.exhausted = frame.get("recycle") is True
                return
            if frame.get("op") == "fetch":
                answer = session.fetch(frame, deadline)
                del answer["record"]  # the record stays here: the worker's is not used
                self._send({"op": "answer", **answer})
                continue
            if frame.get("op") == "store":
                if store is None:
                    reply = {"error": {"type": "StoreError", "message": "no store here"}}
                else:
                    reply = store.handle(frame)
                self._send({"op": "answer", **reply})
                continue
            if "results" in frame:
                shared = frame.get("shared")
                if isinstance(shared, dict):
                    shared["requests"] = session.take_records()
                records = _batch_records(frame, self)
                if len(results) + len(records) > expected:
                    raise self._protocol_error("more results than events")
                results.extend(records)
                continue
            if len(results) >= expected:
                raise self._protocol_error("more results than events")
            record = _checked_record(frame.get("result"), self)
            record["requests"] = session.take_records()
            results.append(record)
            if not whole_batch:
                deadline = time.monotonic() + budget

    # -- frames ------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        data = encode(message)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._in, view) :]
        except (BrokenPipeError, OSError):
            raise _WorkerLost("retry", "WorkerCrashed", self.death_message()) from None

    def _receive(self, deadline: float, *, check_memory: bool = True) -> Any:
        limit = self.baseline_rss + self.spec.memory_mb * MiB
        if not self._open:
            raise _WorkerLost("retry", "WorkerCrashed", self.death_message())
        selector = self._selector
        while True:
            frame = self._pop_frame()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise _WorkerLost(
                    "retry",
                    "TimeoutError",
                    f"the handler did not finish within {self.spec.timeout:g} s",
                )
            now = time.monotonic()
            if (
                check_memory
                and self.baseline_rss
                and now - self._rss_checked >= POLL_INTERVAL
                and self._over(limit, now)
            ):
                self.kill()
                raise _WorkerLost(
                    "retry",
                    "MemoryLimitExceeded",
                    f"the handler used more than {self.spec.memory_mb} MB of memory",
                )
            for key, _ in selector.select(min(remaining, POLL_INTERVAL)):
                chunk = os.read(key.fd, 1 << 20)
                if key.fd == self._err:
                    self._stderr += chunk
                    del self._stderr[:-STDERR_TAIL]
                    if not chunk:
                        selector.unregister(self._err)
                    continue
                if not chunk:
                    self.kill()
                    raise _WorkerLost("retry", "WorkerCrashed", self.death_message())
                self._buffer += chunk

    def _pop_frame(self) -> Any:
        if len(self._buffer) < 4:
            return None
        (size,) = struct.unpack(">I", self._buffer[:4])
        if size > MAX_FRAME:
            self.kill()
            raise _WorkerLost("rejected", "WorkerProtocolError", "oversize frame from the worker")
        if len(self._buffer) < 4 + size:
            return None
        body = bytes(self._buffer[4 : 4 + size])
        del self._buffer[: 4 + size]
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            self.kill()
            raise _WorkerLost(
                "rejected", "WorkerProtocolError", "the worker sent a bad frame"
            ) from None

    def _protocol_error(self, what: str) -> _WorkerLost:
        self.kill()
        return _WorkerLost("rejected", "WorkerProtocolError", f"the worker sent {what}")

    def death_message(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "the worker stopped answering"
        if code < 0:
            name = signal.Signals(-code).name
            if -code == signal.SIGXCPU:
                return "the handler used up its CPU time limit (SIGXCPU)"
            return f"the worker was stopped by {name}"
        return f"the worker exited with status {code}"


class WorkerPool:
    """Warm workers, one per instance, least recently used evicted past ``max_workers``."""

    def __init__(
        self,
        max_workers: int = 64,
        spares: int = 1,
        *,
        launcher: Launcher | None = None,
        require: tuple[str, ...] = (),
        broker: Broker | None = None,
        store: KeyValueStore | None = None,
    ) -> None:
        """``require``: OS layers (``no_new_privs``, ``seccomp``, ``landlock``, ``uid``,
        ``namespaces``) every worker must report active before it gets an instance's
        code (strict isolation, ``sandbox/host/isolation.py``); a worker without one is
        killed and the events are retried."""
        self.max_workers = max_workers
        self.require = require
        self.spares = spares
        self.launcher = launcher if launcher is not None else Launcher()
        self.broker = broker if broker is not None else Broker()
        # ``store``: where deliveries' store calls go (SQLite, DynamoDB). Without one
        # (``functions invoke``), and always for specs without a ``store_scope`` (test
        # runs), a store in memory, for the pool's life.
        self.scratch = MemoryStore()
        self.store: KeyValueStore = store if store is not None else self.scratch
        self._spare: list[Worker] = []
        self._compiled: collections.OrderedDict[str, list[str]] = (
            collections.OrderedDict()
        )  # started, importing, bound to no instance yet
        self._workers: collections.OrderedDict[str, Worker] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.evictions = 0
        self.starts = 0
        self.spare_hits = 0

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for worker in [*self._workers.values(), *self._spare]:
                worker.kill()
            self._workers.clear()
            self._spare.clear()
        self.launcher.close()
        self.broker.close()

    def prestart(self) -> None:
        """Start the zygote now (it is otherwise started by the first worker start)."""
        self.launcher.prestart()

    def invoke(
        self,
        spec: InstanceSpec,
        events: list[Any],
        *,
        batch: bool = False,
        mocks: list[dict[str, Any]] | None = None,
        store: KeyValueStore | None = None,
    ) -> list[dict[str, Any]]:
        """Run ``events`` for ``spec``; one result dict per event, in order.
        ``store``: the backend of this call's ``store`` frames (the pool's otherwise)."""
        if store is None:
            store = self.store if spec.store_scope else self.scratch
        store_session = StoreSession(store, spec.scope)
        try:
            return self._invoke(spec, events, batch, mocks, store_session)
        finally:
            store_session.close()  # nothing reaches the store once the call is over

    def _invoke(
        self,
        spec: InstanceSpec,
        events: list[Any],
        batch: bool,
        mocks: list[dict[str, Any]] | None,
        store_session: StoreSession,
    ) -> list[dict[str, Any]]:
        # Code is compiled in the worker, under its limits, never in the host: a
        # refusal is remembered so the same code does not start a worker again.
        problems = self._refused(spec)
        if problems is not None:
            return [_invalid(problems) for _ in events]
        results: list[dict[str, Any]] = []
        session = self.broker.session(
            spec.key,
            allow=spec.allow,
            secrets=Settings(spec.settings, secret_names=spec.secret_names).secret_values(),
            mocks=copy.deepcopy(mocks) if mocks is not None else None,
        )
        while len(results) < len(events):
            pending = events[len(results) :]
            started = time.perf_counter()
            try:
                worker = self._worker_for(spec)
            except _WorkerLost as lost:  # not confined as required: nothing ran
                return [_failure(lost, 0.0) for _ in events]
            except _Invalid as exc:
                if exc.refused:
                    self._remember_refusal(spec, exc.problems)
                return [_invalid(exc.problems) for _ in events]
            done_before = len(results)
            try:
                with worker.lock:  # one invocation at a time per worker (one pipe pair)
                    if not worker.alive():
                        continue  # evicted or died while idle: take a fresh one
                    worker.invoke(
                        pending,
                        batch=batch,
                        session=session,
                        results=results,
                        store=store_session,
                    )
            except _WorkerLost as lost:
                self._discard(spec.key)
                if len(results) == len(events):
                    continue  # every event has its record; only the worker misbehaved after
                elapsed = round((time.perf_counter() - started) * 1000, 3)
                failed = _failure(lost, elapsed)
                failed["requests"] = session.take_records()  # what it sent before it was lost
                if batch and "on_batch" in worker.handlers:
                    del results[done_before:]
                    results.extend(dict(failed) for _ in pending)
                else:
                    results.append(failed)
                continue
            if worker.exhausted or worker.cpu > WORKER_CPU_BUDGET * 0.8:
                self._discard(spec.key)
        return results

    def _worker_for(self, spec: InstanceSpec) -> Worker:
        with self._lock:
            worker = self._workers.get(spec.key)
            if worker is not None and worker.alive():
                self._workers.move_to_end(spec.key)
                return worker
            if worker is not None:
                worker.kill()
                del self._workers[spec.key]
            self._evict_idle(len(self._workers) + 1 - self.max_workers)
            spare = self._spare.pop() if self._spare else None
        try:
            worker = spare if spare is not None and spare.alive() else Worker(self.launcher)
        except ZygoteError as exc:  # strict isolation: no exec'ed worker instead
            raise _WorkerLost("retry", "IsolationError", str(exc)) from None
        if spare is not None and worker is not spare:
            spare.kill()

        self.spare_hits += worker is spare
        self.starts += 1
        self._refill_spares()
        try:
            problems = worker.load(spec)
        except _WorkerLost as lost:
            worker.kill()
            raise _Invalid(
                [f"{spec.filename}:1: the worker failed to start: {lost.message}"],
                refused=False,
            ) from None
        if problems:
            worker.kill()
            raise _Invalid(problems)
        # The load reply says what confinement is active; compiling ran no code.
        if self.require and not _confined(worker, self.require):
            worker.kill()
            missing = [n for n in self.require if not _confined(worker, (n,))]
            raise _WorkerLost(
                "retry",
                "IsolationError",
                f"strict isolation: the worker lacks {', '.join(missing)}; no code was run",
            )
        with self._lock:
            racing = self._workers.get(spec.key)
            if racing is not None and racing.alive():
                worker.kill()  # another thread started this instance first: use that one
                return racing
            self._workers[spec.key] = worker
        return worker

    def _refused(self, spec: InstanceSpec) -> list[str] | None:
        """Problems a worker already reported for this exact code (None: not refused)."""
        with self._lock:
            problems = self._compiled.get(_code_key(spec))
            if problems is not None:
                self._compiled.move_to_end(_code_key(spec))
            return problems

    def _remember_refusal(self, spec: InstanceSpec, problems: list[str]) -> None:
        with self._lock:
            self._compiled[_code_key(spec)] = problems
            while len(self._compiled) > COMPILE_CACHE:
                self._compiled.popitem(last=False)

    def _evict_idle(self, count: int) -> None:
        """Kill the ``count`` least recently used workers that are not running anything
        (caller holds the pool lock). Busy workers are never evicted: the pool may
        exceed its bound for as long as they run."""
        for key in list(self._workers):
            if count <= 0:
                return
            worker = self._workers[key]
            if not worker.lock.acquire(blocking=False):
                continue
            try:
                del self._workers[key]
                worker.kill()
                self.broker.forget(key)
            finally:
                worker.lock.release()
            self.evictions += 1
            count -= 1

    def _refill_spares(self) -> None:
        """Keep ``spares`` unbound workers starting up, so a new instance skips the
        interpreter start and imports (they hold no instance's code or data)."""
        while True:
            with self._lock:
                if len(self._spare) >= self.spares:
                    return
            try:
                worker = Worker(self.launcher)
            except ZygoteError:
                return  # the next start reports it
            with self._lock:
                self._spare.append(worker)

    def _discard(self, key: str) -> None:
        with self._lock:
            worker = self._workers.pop(key, None)
        if worker is not None:
            worker.kill()
        self.broker.forget(key)

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.proc.pid for w in self._workers.values()]


class _Invalid(Exception):
    def __init__(self, problems: list[str], *, refused: bool = True) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.refused = refused  # the worker refused the code (not a failed start)


def _confined(worker: Worker, layers: tuple[str, ...]) -> bool:
    """Every layer in ``layers`` reported active by the worker (namespaces: by its zygote)."""
    for name in layers:
        if name == "namespaces":
            if not worker.namespaces:
                return False
        elif not worker.confinement.get(name, "").startswith("active"):
            return False
    return True


def _code_key(spec: InstanceSpec) -> str:
    digest = hashlib.sha256(f"{spec.kind}\0{spec.filename}\0{spec.source}".encode())
    for path, source in spec.modules:
        digest.update(f"\0{path}\0{len(source)}\0{source}".encode())
    return digest.hexdigest()


def _invalid(problems: list[str]) -> dict[str, Any]:
    return {
        "outcome": "invalid",
        "result": None,
        "error": {"type": "InvalidFunction", "message": "\n".join(problems), "line": None},
        "problems": problems,
        "logs": [],
        "requests": [],
        "duration_ms": 0.0,
    }


def _failure(lost: _WorkerLost, elapsed: float) -> dict[str, Any]:
    return {
        "outcome": lost.outcome,
        "result": None,
        "error": {"type": lost.error_type, "message": lost.message, "line": None},
        "logs": [],
        "requests": [],
        "duration_ms": elapsed,
    }


_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "error": (dict, type(None)),
    "logs": (list,),
    "requests": (list,),
    "duration_ms": (int, float),
}


def _checked_record(record: Any, worker: Worker) -> dict[str, Any]:
    """A worker's per-event record, checked field by field before the host uses it."""
    if not isinstance(record, dict) or record.get("outcome") not in OUTCOME_SEVERITY:
        raise worker._protocol_error("a record without a known outcome")
    for key, kinds in _RECORD_TYPES.items():
        if not isinstance(record.get(key), kinds):
            raise worker._protocol_error(f"a record whose {key} is malformed")
    if "result" not in record:
        raise worker._protocol_error("a record without a result")
    if not all(isinstance(line, str) for line in record["logs"]):
        raise worker._protocol_error("log lines that are not text")
    if not all(isinstance(req, dict) for req in record["requests"]):
        raise worker._protocol_error("request records that are not objects")
    return record


def _batch_records(frame: dict[str, Any], worker: Worker) -> list[dict[str, Any]]:
    """The records of an ``on_batch`` frame: each result without its own logs and
    requests gets the call's shared ones (checked once; the lists are shared)."""
    shared, results = frame.get("shared"), frame.get("results")
    if not isinstance(shared, dict) or not isinstance(results, list):
        raise worker._protocol_error("a malformed batch frame")
    common = _checked_record(
        {"outcome": "delivered", "result": None, "error": None, "duration_ms": 0.0, **shared},
        worker,
    )
    records = []
    for result in results:
        if isinstance(result, dict) and "logs" not in result and "requests" not in result:
            result = {**result, "logs": common["logs"], "requests": common["requests"]}
        records.append(_checked_record(result, worker))
    return records


def summarise(results: list[dict[str, Any]]) -> str:
    """The batch-level outcome: the most severe per-event outcome."""
    if not results:
        return "delivered"
    outcomes: list[str] = [str(r["outcome"]) for r in results]
    return max(outcomes, key=OUTCOME_SEVERITY.index)
