"""One worker process of the sandbox, seen from the host, and what it runs.

:class:`InstanceSpec` is what the pool needs to run an instance's code; a
:class:`Worker` is one process forked from the zygote (or started afresh), with the
frames to and from it on its pipes: deadlines, the memory watchdog, the broker's
``fetch`` and the store's ``store`` frames answered while an invocation runs, and the
records it sends back checked field by field. :class:`~.pool.WorkerPool` keeps them.
"""

from __future__ import annotations

import contextlib
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

from ..guest.protocol import MAX_FRAME, encode
from .broker import Session
from .store import StoreSession
from .zygote_client import Launcher, exec_worker

__all__ = ["OUTCOME_SEVERITY", "WORKER_CPU_BUDGET", "InstanceSpec", "Worker", "WorkerLost"]

MiB = 1024 * 1024
STARTUP_TIMEOUT = 20.0
WORKER_CPU_BUDGET = 600
POLL_INTERVAL = 0.05
STDERR_TAIL = 4096
OUTCOME_SEVERITY = ("delivered", "filtered", "rejected", "retry", "invalid")
KILL_WAIT = 5.0
# Bytes asked for per read of a worker's pipe (a pipe holds 64 KiB). Asking for 1 MiB
# made every read allocate (mmap) a 1 MiB buffer and shrink it (mremap, munmap): three
# more system calls and a page fault for each frame of a few hundred bytes.
READ_CHUNK = 64 * 1024


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
    # The workspace the instance belongs to (set by the host for deliveries). A warm
    # worker may serve instances of one workspace that run the same code in turn (each
    # event gets its own settings and fresh module state); instances of different
    # workspaces, or without a workspace, never share a worker (``pool.worker_key``).
    workspace: str = field(default="", compare=False)

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


class WorkerLost(Exception):
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
        self.called_since_result = False
        self.running_event: int | None = None
        self.lock = threading.Lock()
        self._rss_checked = 0.0
        self.handlers: tuple[str, ...] = ()
        self.baseline_rss = 0
        self.served: set[str] = set()  # the instance keys it ran (their connections)
        # Evicted by the pool (set under its lock): its kill is on the way; nobody may
        # run anything on it, even a caller that was waiting for its lock.
        self.retired = False
        # The instance key of the invocation it runs (or ran last; read under its lock).
        self.running: str | None = None
        # What OS confinement the worker reported (before any handler code ran in it)
        # and which namespaces it lives in (sandbox/guest/confine.py, namespaces.py).
        self.confinement: dict[str, str] = {}
        self.rehearsed = False  # it ran the rehearsal before its load (a spare)
        self.namespaces = self._launched.namespaces

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def spec(self) -> InstanceSpec:
        """The instance of the invocation running (or of the last one, or the loaded one)."""
        assert self._spec is not None, "load() binds the worker to its code first"
        return self._spec

    def rehearse(self) -> None:
        """Ask a spare to rehearse before its load (``guest/rehearsal.py``); no answer
        comes, the load frame waits in the pipe until the rehearsal is over."""
        self._send({"op": "rehearse"})

    def load(self, spec: InstanceSpec, code: str | None = None) -> list[str]:
        """Bind this worker to ``spec``'s code; returns problems (empty when ok).
        ``code``: that code compiled by the host (``sandbox/loadable.py``); without it
        the worker compiles the source itself.

        A worker is bound once: it runs that code (and that memory limit) until it is
        killed. Which instances it may serve is the pool's decision (``worker_key``).
        """
        assert self._spec is None, "a worker is bound to one code only"
        self._spec = spec
        frame: dict[str, Any] = {
            "op": "load",
            "source": self.spec.source,
            "filename": self.spec.filename,
            "modules": dict(self.spec.modules),
            "kind": self.spec.kind,
            "memory_mb": self.spec.memory_mb,
            "cpu_seconds": WORKER_CPU_BUDGET,
        }
        if code is not None:
            frame["code"] = code
        self._send(frame)
        reply = self._receive(time.monotonic() + STARTUP_TIMEOUT, check_memory=False)
        if not reply.get("ok"):
            return [str(p) for p in reply.get("errors", ["the worker refused the code"])]
        self.handlers = tuple(reply.get("handlers", ()))
        self.rehearsed = reply.get("rehearsed") is True
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
        spec: InstanceSpec | None = None,
        hold: bool = True,
    ) -> None:
        """Run ``events`` of ``spec`` (by default the loaded one: the pool passes the
        instance it serves, whose code is the loaded code); append one result per event to
        ``results`` as they arrive. ``fetch`` frames are performed by ``session`` meanwhile.

        Raises ``WorkerLost`` after a timeout, a memory kill or a crash; ``results``
        then holds what arrived before it. The worker may hold the records of events
        that called nothing on the host, to send several in one write (``hold``; see
        ``guest/held.py``): after a loss, ``called_since_result`` tells whether the
        host has been called since the last record arrived (if not, every event without
        a record called nothing outside, and may have finished), and ``running_event``
        which event the worker said was running with nothing held (an index into
        ``results``; None when it has not said so since the last record).
        """
        if spec is not None:
            self._spec = spec  # its settings, secrets and timeout; deadlines name them
        spec = self.spec
        self._send(
            {
                "op": "invoke",
                "events": events,
                "batch": batch,
                "settings": spec.settings,
                "secret_names": list(spec.secret_names),
                "hold": hold,
            }
        )
        self.called_since_result = False
        self.running_event = None
        base = len(results)
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
            if "running" in frame:
                running = frame["running"]
                if type(running) is not int or not 0 <= running < len(events):
                    raise self._protocol_error("a running event out of range")
                self.running_event = base + running
                continue
            if frame.get("op") in ("fetch", "store"):
                self.called_since_result = True
            if frame.get("op") == "fetch":
                answer, keep_record = session.answer(frame, deadline)
                try:
                    self._send({"op": "answer", **answer})
                finally:
                    keep_record()  # while the worker goes on (the record stays here)
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
            self.called_since_result = False
            self.running_event = None
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
            raise WorkerLost("retry", "WorkerCrashed", self.death_message()) from None

    def _receive(self, deadline: float, *, check_memory: bool = True) -> Any:
        limit = self.baseline_rss + self.spec.memory_mb * MiB
        if not self._open:
            raise WorkerLost("retry", "WorkerCrashed", self.death_message())
        selector = self._selector
        while True:
            frame = self._pop_frame()
            if frame is not None:
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerLost(
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
                raise WorkerLost(
                    "retry",
                    "MemoryLimitExceeded",
                    f"the handler used more than {self.spec.memory_mb} MB of memory",
                )
            for key, _ in selector.select(min(remaining, POLL_INTERVAL)):
                chunk = os.read(key.fd, READ_CHUNK)
                if key.fd == self._err:
                    self._stderr += chunk
                    del self._stderr[:-STDERR_TAIL]
                    if not chunk:
                        selector.unregister(self._err)
                    continue
                if not chunk:
                    self.kill()
                    raise WorkerLost("retry", "WorkerCrashed", self.death_message())
                self._buffer += chunk

    def _pop_frame(self) -> Any:
        if len(self._buffer) < 4:
            return None
        (size,) = struct.unpack(">I", self._buffer[:4])
        if size > MAX_FRAME:
            self.kill()
            raise WorkerLost("rejected", "WorkerProtocolError", "oversize frame from the worker")
        if len(self._buffer) < 4 + size:
            return None
        body = self._buffer[4 : 4 + size]  # one copy (json reads a bytearray too)
        del self._buffer[: 4 + size]
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            self.kill()
            raise WorkerLost(
                "rejected", "WorkerProtocolError", "the worker sent a bad frame"
            ) from None

    def _protocol_error(self, what: str) -> WorkerLost:
        self.kill()
        return WorkerLost("rejected", "WorkerProtocolError", f"the worker sent {what}")

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
