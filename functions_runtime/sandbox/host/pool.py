"""The host side of the sandbox: worker processes per instance, deadlines, outcomes.

A :class:`WorkerPool` keeps warm workers (at most ``max_workers`` in all, least
recently used evicted), each bound to one code. A worker serves one instance, or, when
the host names the instances' workspace (deliveries do), any instance of that workspace
that runs the same code and memory limit, one invocation at a time
(:func:`worker_key`): each event still gets its instance's settings as a fresh copy and a
fresh module, the broker's connections and the store stay per instance, and instances
of different workspaces never share a worker, so no setting or secret crosses a tenant
even in a worker's memory. A catalogue of many instances of one function then needs one
warm worker, not one each (docs/PERFORMANCE.md, the long tail). A second worker for the
same key starts only when the first is busy. Each worker is forked from the
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
import copy
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from functions_sdk import Settings
from functions_sdk._memory_store import MemoryStore

from .broker import Broker
from .store import KeyValueStore, StoreSession
from .worker import OUTCOME_SEVERITY, WORKER_CPU_BUDGET, InstanceSpec, Worker, WorkerLost
from .zygote_client import Launcher, ZygoteError, worker_environment

__all__ = [
    "InstanceSpec",
    "Worker",
    "WorkerPool",
    "summarise",
    "worker_environment",
    "worker_key",
]

HELPER_THREADS = 2
"""Threads that kill evicted workers and start spares (one spare start at a time)."""
logger = logging.getLogger("functions.pool")

# Compiled codes the pool keeps (LRU): at most this many, and this much packed text.
COMPILE_CACHE = 4096
COMPILE_CACHE_BYTES = 64 * 1024 * 1024


class WorkerPool:
    """Warm workers per :func:`worker_key`, least recently used evicted past ``max_workers``."""

    def __init__(
        self,
        max_workers: int = 64,
        spares: int = 1,
        *,
        launcher: Launcher | None = None,
        require: tuple[str, ...] = (),
        broker: Broker | None = None,
        store: KeyValueStore | None = None,
        compile_in_host: bool = True,
        compile_cache: tuple[int, int] = (COMPILE_CACHE, COMPILE_CACHE_BYTES),
    ) -> None:
        """``require``: OS layers (``no_new_privs``, ``seccomp``, ``landlock``, ``uid``,
        ``namespaces``) every worker must report active before it gets an instance's
        code (strict isolation, ``sandbox/host/isolation.py``); a worker without one is
        killed and the events are retried. ``compile_in_host``: each code is compiled
        once here and loaded by its workers (``sandbox/loadable.py``), so a miss does not
        compile; without it (the worker Lambda, whose cold start must not import the
        compiler) each new worker compiles the source itself. ``compile_cache``: how many
        codes, and how many bytes of them, it keeps (least recently used dropped)."""
        self.max_workers = max_workers
        self.compile_in_host = compile_in_host
        self.compile_cache = compile_cache
        self._compiled_bytes = 0
        self.require = require
        self.spares = spares
        self.launcher = launcher if launcher is not None else Launcher()
        self.broker = broker if broker is not None else Broker()
        # ``store``: where deliveries' store calls go (SQLite, DynamoDB). Without one
        # (``functions invoke``), and always for specs without a ``store_scope`` (test
        # runs), a store in memory, for the pool's life.
        self.scratch = MemoryStore()
        self.store: KeyValueStore = store if store is not None else self.scratch
        self._spare: list[Worker] = []  # started, importing, bound to no instance yet
        # Each code's compile, by its key: the payload a worker loads, or its problems.
        self._compiled: collections.OrderedDict[str, str | list[str]] = collections.OrderedDict()
        # Every bound worker, least recently used first, and the workers of each key.
        self._workers: collections.OrderedDict[Worker, str] = collections.OrderedDict()
        self._by_key: dict[str, list[Worker]] = {}
        self._lock = threading.Lock()
        # Threads that kill evicted workers and start spares, off the invocations' path;
        # kept for the pool's life (see ``_helper``).
        self._helpers = ThreadPoolExecutor(HELPER_THREADS, thread_name_prefix="functions-pool")
        self._refilling = False  # a thread is starting spares
        self._spare_ready = threading.Condition(self._lock)
        self._closed = False
        self.evictions = 0
        self.starts = 0
        self.spare_hits = 0

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True  # a spare started from now on is killed, not kept
            for worker in [*self._workers, *self._spare]:
                worker.kill()
            self._workers.clear()
            self._by_key.clear()
            self._spare.clear()
        self._helpers.shutdown(wait=True)  # what was handed to them has finished
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
        # Each code is compiled once, here (as the control plane compiles it at upload),
        # and loaded by every worker that runs it (``sandbox/loadable.py``); a refusal
        # (the host's, or a worker's when it compiles) is remembered: it starts no worker.
        code = self._loadable(spec)
        if isinstance(code, list):
            return [_invalid(code) for _ in events]
        results: list[dict[str, Any]] = []
        session = self.broker.session(
            spec.key,
            allow=spec.allow,
            secrets=Settings(spec.settings, secret_names=spec.secret_names).secret_values(),
            mocks=copy.deepcopy(mocks) if mocks is not None else None,
        )
        # After a loss that may have taken held records with it (``_may_have_held``), the
        # events without one run again, each record sent as it is made.
        hold = True
        while len(results) < len(events):
            pending = events[len(results) :]
            started = time.perf_counter()
            try:
                worker = self._worker_for(spec, code)  # its lock held: one at a time
            except WorkerLost as lost:  # not confined as required: nothing ran
                return [_failure(lost, 0.0) for _ in events]
            except _Invalid as exc:
                if exc.refused and code is None:  # the worker compiled it: the code's own
                    self._remember(spec, exc.problems)
                return [_invalid(exc.problems) for _ in events]
            done_before = len(results)
            try:
                if worker.retired:
                    continue  # evicted while this call waited for it: take another
                if not worker.alive():
                    self._discard(worker)
                    continue  # died while idle: take a fresh one
                worker.served.add(spec.key)
                worker.invoke(
                    pending,
                    batch=batch,
                    session=session,
                    results=results,
                    store=store_session,
                    spec=spec,
                    hold=hold,
                )
                if worker.exhausted or worker.cpu > WORKER_CPU_BUDGET * 0.8:
                    # Out of the pool while its lock is held: an invocation waiting for
                    # this worker must never get it and then be killed with it.
                    self._discard(worker)
            except WorkerLost as lost:
                self._discard(worker)
                if len(results) == len(events):
                    continue  # every event has its record; only the worker misbehaved after
                whole = batch and "on_batch" in worker.handlers
                if not whole and hold and _may_have_held(worker, lost, len(results), len(events)):
                    hold = False
                    continue
                elapsed = round((time.perf_counter() - started) * 1000, 3)
                failed = _failure(lost, elapsed)
                failed["requests"] = session.take_records()  # what it sent before it was lost
                if whole:
                    del results[done_before:]
                    results.extend(dict(failed) for _ in pending)
                else:
                    results.append(failed)
                continue
            finally:
                # ``running`` stays the last instance: it is read only while the lock is
                # held, and clearing it first left a moment where a held worker ran
                # "nothing", so another invocation of this instance started a second worker.
                worker.lock.release()
                self._trim()
        return results

    def _trim(self) -> None:
        """Back within ``max_workers`` once busy workers are free again (starts past the
        bound happen while every worker is busy: those are never evicted)."""
        if len(self._workers) > self.max_workers:
            with self._lock:
                self._evict_idle(len(self._workers) - self.max_workers)

    def _worker_for(self, spec: InstanceSpec, code: str | None) -> Worker:
        """A worker for ``spec``, its lock held: an idle warm one of its
        :func:`worker_key` (the most recently used); else the one running this instance,
        once it is free; else a new one bound to its code. So two instances of one
        workspace run side by side (a slow endpoint of one never holds up the other), and
        one instance's invocations run one after another. The caller checks it is alive."""
        key = worker_key(spec)
        with self._lock:
            found, own = self._idle_or_own(key, spec)
            if found is not None:
                return found
            if own is None:
                self._evict_idle(len(self._workers) + 1 - self.max_workers)
                while not self._spare and self._refilling:
                    self._spare_ready.wait()  # it is on its way: sooner than a new one
                spare = self._spare.pop() if self._spare else None
        if own is not None:
            return self._wait_for(own, spec)
        try:
            worker = spare if spare is not None and spare.alive() else Worker(self.launcher)
        except ZygoteError as exc:  # strict isolation: no exec'ed worker instead
            raise WorkerLost("retry", "IsolationError", str(exc)) from None
        if spare is not None and worker is not spare:
            spare.kill()

        self.spare_hits += worker is spare
        self.starts += 1
        self._refill_spares()
        try:
            problems = worker.load(spec, code)
        except WorkerLost as lost:
            worker.kill()
            raise _Invalid(
                [f"{spec.filename}:1: the worker failed to start: {lost.message}"],
                refused=False,
            ) from None
        if problems:
            worker.kill()
            raise _Invalid(problems)
        # The load reply says what confinement is active; loading ran no code.
        if self.require and not _confined(worker, self.require):
            worker.kill()
            missing = [n for n in self.require if not _confined(worker, (n,))]
            raise WorkerLost(
                "retry",
                "IsolationError",
                f"strict isolation: the worker lacks {', '.join(missing)}; no code was run",
            )
        with self._lock:
            # Another thread may have started one meanwhile: if it is idle, or runs this
            # instance, that one serves (and this one goes), as if it had been there.
            found, own = self._idle_or_own(key, spec)
            if found is None and own is None:
                worker.lock.acquire()  # nobody else knows this worker yet
                worker.running = spec.key
                self._workers[worker] = key
                self._by_key.setdefault(key, []).append(worker)
                return worker
        worker.kill()
        if found is not None:
            return found
        assert own is not None
        return self._wait_for(own, spec)

    def _idle_or_own(self, key: str, spec: InstanceSpec) -> tuple[Worker | None, Worker | None]:
        """An idle worker of ``key``, now locked for ``spec`` (the most recently used),
        else none and the worker busy with ``spec``'s instance, if any (caller holds the
        pool lock)."""
        own = None
        for worker in reversed(self._by_key.get(key, [])):
            if worker.lock.acquire(blocking=False):
                worker.running = spec.key
                self._workers.move_to_end(worker)
                return worker, None
            if worker.running == spec.key:
                own = worker
        return None, own

    @staticmethod
    def _wait_for(own: Worker, spec: InstanceSpec) -> Worker:
        """``own``, busy with ``spec``'s instance, once it is free: one instance's
        invocations run one after another, as they always have (if ``own`` dies or is
        evicted meanwhile, the caller sees it dead or retired and takes another)."""
        own.lock.acquire()
        own.running = spec.key
        return own

    def _loadable(self, spec: InstanceSpec) -> str | list[str] | None:
        """``spec``'s code compiled, packed for a load frame; or its problems; ``None``
        when its workers compile it (``compile_in_host`` off, no refusal remembered).
        Compiled outside the lock (a big source holds up no other instance), remembered
        for the codes used last (``compile_cache``)."""
        key = _code_key(spec)
        with self._lock:
            found = self._compiled.get(key)
            if found is not None:
                self._compiled.move_to_end(key)
                return found
        if not self.compile_in_host:
            return None
        from ..loadable import compile_load, pack  # the compiler: not at import (Lambda)

        problems, loadable = compile_load(spec.source, spec.filename, spec.kind, dict(spec.modules))
        compiled = problems if loadable is None else pack(loadable)
        self._remember(spec, compiled)
        return compiled

    def _remember(self, spec: InstanceSpec, compiled: str | list[str]) -> None:
        most, budget = self.compile_cache
        with self._lock:
            key = _code_key(spec)
            self._compiled_bytes += _size(compiled) - _size(self._compiled.pop(key, None))
            self._compiled[key] = compiled
            while len(self._compiled) > most or (
                self._compiled_bytes > budget and len(self._compiled) > 1
            ):
                _, dropped = self._compiled.popitem(last=False)
                self._compiled_bytes -= _size(dropped)

    def _evict_idle(self, count: int) -> None:
        """Kill the ``count`` least recently used workers that are not running anything
        (caller holds the pool lock). Busy workers are never evicted: the pool may
        exceed its bound for as long as they run."""
        for worker in list(self._workers):
            if count <= 0:
                return
            if not worker.lock.acquire(blocking=False):
                continue
            try:
                self._unlist(worker)
                worker.retired = True  # before its lock is released: see _invoke
                self._retire(worker)
            finally:
                worker.running = None
                worker.lock.release()
            self._forget_connections(worker)
            self.evictions += 1
            count -= 1

    def _helper(self, target: Callable[[], None]) -> None:
        """Run ``target`` on one of the pool's helper threads (caller holds the pool
        lock); :meth:`close` waits for it. The threads live as long as the pool: a
        thread started per task made each miss wait for that thread's first turn
        (``Thread.start`` returns once the new thread has run), about a millisecond of
        every miss on a VM (docs/PERFORMANCE.md, the fifteenth session). After
        :meth:`close` nothing more is handed to them (``_retire`` kills in place then)."""
        if self._closed:
            return
        self._helpers.submit(target).add_done_callback(_report_failure)

    def _retire(self, worker: Worker) -> None:
        """Kill an evicted worker (idle, out of every list) off the invocation's path:
        its end and reaping (a few ms) hold up neither the invocation that made room nor
        the pool's lock (caller holds it)."""
        if self._closed:
            worker.kill()  # close() has stopped the helpers
        else:
            self._helper(worker.kill)

    def _refill_spares(self) -> None:
        """Keep ``spares`` unbound workers starting up, so a new instance skips the
        interpreter start and imports (they hold no instance's code or data). They are
        started on a helper thread: the zygote's fork is not on any invocation's path;
        an invocation that finds no spare waits for the one on its way."""
        with self._lock:
            if self._closed or self._refilling or len(self._spare) >= self.spares:
                return
            self._refilling = True
            self._helper(self._start_spares)

    def _start_spares(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closed or len(self._spare) >= self.spares:
                        return
                try:
                    worker = Worker(self.launcher)
                except ZygoteError:
                    return  # the next start reports it
                try:
                    worker.rehearse()  # its first-touch faults now, not on a miss's path
                except WorkerLost:  # gone already: the next start reports why
                    worker.kill()
                    return
                with self._lock:
                    if not self._closed:
                        self._spare.append(worker)
                        self._spare_ready.notify_all()
                        continue
                worker.kill()
                return
        finally:
            with self._lock:
                self._refilling = False
                self._spare_ready.notify_all()

    def _spares_settled(self) -> None:
        """Wait until no spare is being started (for tests)."""
        with self._lock:
            while self._refilling:
                self._spare_ready.wait()

    def _discard(self, worker: Worker) -> None:
        with self._lock:
            self._unlist(worker)
        worker.kill()
        self._forget_connections(worker)

    def _unlist(self, worker: Worker) -> None:
        """Take ``worker`` out of the pool's lists (caller holds the pool lock)."""
        key = self._workers.pop(worker, None)
        if key is not None:
            self._by_key[key].remove(worker)
            if not self._by_key[key]:
                del self._by_key[key]

    def _forget_connections(self, worker: Worker) -> None:
        """Close the broker's connections of the instances ``worker`` served."""
        for instance in worker.served:
            self.broker.forget(instance)

    def worker_pids(self, spec: InstanceSpec | None = None) -> list[int]:
        """The process ids of the warm workers (those that may run ``spec``, if given)."""
        with self._lock:
            if spec is None:
                return [w.proc.pid for w in self._workers]
            return [w.proc.pid for w in self._by_key.get(worker_key(spec), [])]


def _size(compiled: str | list[str] | None) -> int:
    """What a remembered compile weighs: its packed text, or its problems' text."""
    if compiled is None:
        return 0
    return len(compiled) if isinstance(compiled, str) else sum(map(len, compiled))


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


def worker_key(spec: InstanceSpec) -> str:
    """Which warm workers may run ``spec``: without a workspace, only the instance's
    own; with one, any worker of that workspace bound to the same code (files, kind)
    and memory limit. Never a worker of another workspace."""
    if not spec.workspace:
        return f"instance\0{spec.key}"
    return f"workspace\0{spec.workspace}\0{spec.memory_mb}\0{_code_key(spec)}"


def _code_key(spec: InstanceSpec) -> str:
    return _code_digest(spec.kind, spec.filename, spec.source, spec.modules)


@functools.lru_cache(maxsize=64)  # holds the sources: a few warm instances' worth
def _code_digest(
    kind: str, filename: str, source: str, modules: tuple[tuple[str, str], ...]
) -> str:
    """The code's digest, remembered: every invocation asks for it, and hashing a
    warm instance's source again each time cost more than the lookup (a cache hit
    compares the same string objects, which is immediate)."""
    digest = hashlib.sha256(f"{kind}\0{filename}\0{source}".encode())
    for path, text in modules:
        digest.update(f"\0{path}\0{len(text)}\0{text}".encode())
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


def _may_have_held(worker: Worker, lost: WorkerLost, reported: int, events: int) -> bool:
    """Whether a lost worker may have held finished records (``guest/held.py``), when
    ``reported`` of the invocation's ``events`` have a record: more than one has none;
    the host was not called since the last record came (so none of them called
    anything outside: running them again repeats nothing); the worker had not said
    which event was running with nothing held (its timer does so when an event runs
    long: a handler that loops is charged, not run twice); and it was lost to a crash,
    a timeout or its memory, not to a protocol error."""
    return (
        events - reported > 1
        and not worker.called_since_result
        and worker.running_event != reported
        and lost.outcome == "retry"
    )


def _failure(lost: WorkerLost, elapsed: float) -> dict[str, Any]:
    return {
        "outcome": lost.outcome,
        "result": None,
        "error": {"type": lost.error_type, "message": lost.message, "line": None},
        "logs": [],
        "requests": [],
        "duration_ms": elapsed,
    }


def summarise(results: list[dict[str, Any]]) -> str:
    """The batch-level outcome: the most severe per-event outcome."""
    if not results:
        return "delivered"
    outcomes: list[str] = [str(r["outcome"]) for r in results]
    return max(outcomes, key=OUTCOME_SEVERITY.index)


def _report_failure(done: Future[None]) -> None:
    """A helper's task that raised: said, as an uncaught exception in a thread is."""
    error = done.exception()
    if error is not None:
        logger.error("pool helper failed", exc_info=error)
