"""The worker process: runs one instance's handler code, nothing else.

Started by exec (``python -I -m functions_runtime.sandbox.guest.worker``), or forked from the
zygote (``zygote.py``, itself started that way), with an allow-listed environment, so it
holds no AWS credentials and no runtime secrets.
It talks to the host over stdin / a duplicate of stdout with length-prefixed JSON
frames. The host kills it from outside on timeout or memory; inside, it sets
rlimits before it loads any handler code.

Messages from the host:

* ``{"op": "rehearse"}`` (only to a spare, before its load; no answer): run the built-in
  rehearsal (``guest/rehearsal.py``) so that the process's first-touch page faults are
  taken before an invocation waits for it;
* ``{"op": "load", "source", "filename", "kind", "memory_mb", "cpu_seconds", "modules",
  "code"}`` (``modules``: the function's other files and its pinned libraries' files,
  path -> source; ``code``: all of it as the host's pool compiled it, marshalled
  (``sandbox/loadable.py``), loaded as it is; without ``code`` the worker compiles the
  sources itself, the same way: it reads no file either way)
  answered by ``{"ok": true, "handlers": [...], "confinement": {...}, "rehearsed": bool}``
  or ``{"ok": false, "errors": [...]}``;
* ``{"op": "invoke", "events": [...], "batch": bool, "settings": {...},
  "secret_names": [...], "hold": bool}`` answered by one ``{"index": i, "result":
  {...}}`` frame per event (for an ``on_batch`` call, one ``{"results": [...],
  "shared": {"logs", "requests"}}`` frame for all of them), then ``{"done": true,
  "cpu": s}``.

An event's record goes out before the next event runs when the event called the host
(a ``fetch`` or ``store`` frame); the records of events that called nothing on the host
may wait and go out together (``guest/held.py``), and ``{"running": i}`` may come among
them.

While a handler runs, each ``fetch`` it makes is one ``{"op": "fetch", ...}`` frame to
the host (``functions_sdk.http``), answered by one ``{"op": "answer", ...}`` frame: the
worker opens no socket and resolves no name; the host checks, performs and records the
request (``sandbox/host/broker.py``). The request records in a result come from the
host, not from here.

``functions_sdk.store`` calls take the same path: one ``{"op": "store", "action", "key",
...}`` frame, one ``{"op": "answer", ...}`` frame back (``sandbox/host/store.py``). No
frame names an instance: the host answers from the store of the instance it is serving.

Results are data and leave unmasked (an insert function's event, a source's emitted
events, ``on_batch`` results are forwarded as they are); logs and error messages are
records, masked here with the instance's secrets (``functions_sdk._masking``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import signal
import sys
import time
from collections.abc import Mapping
from types import CodeType
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from functions_runtime.sandbox.guest.isolation import code_constants, end_event
from functions_sdk import BaseEvent, FunctionError, Settings, SourceRequest
from functions_sdk._context import InvocationContext, Transport, activate
from functions_sdk.events import EventParseError, parse_event

from ..folder import ModuleCode
from ..loadable import Loadable, compile_load, unpack
from . import confine, rehearsal
from .guards import Guards
from .held import HeldRecords
from .loader import EventModules, Importer
from .namespace import AUTHOR_BASES, build_globals
from .protocol import FrameError, FrameReader, compact, write_frame
from .results import ResultError, classify, error_info, to_json

__all__ = ["main", "run"]

MiB = 1024 * 1024
MAX_RESULT_BYTES = 1 * MiB
MAX_RECORD_BYTES = 256 * 1024


def _set_limits(memory_mb: int, cpu_seconds: int, vm_now: int) -> None:
    """rlimits for the rest of this process's life (set before handler code loads).
    ``vm_now``: the address space's size, read before confinement took /proc away."""
    if vm_now >= 0:  # -1: /proc was not there to read (the host's memory kill remains)
        resource.setrlimit(resource.RLIMIT_AS, (vm_now + memory_mb * MiB,) * 2)
    used = int(_cpu_used()) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (used + cpu_seconds, used + cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _vm_size() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return -1


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Runner:
    """Holds the compiled code of the one instance this worker serves."""

    def __init__(
        self,
        code: CodeType,
        filename: str,
        kind: str,
        transport: Transport | None = None,
        modules: Mapping[str, ModuleCode] | None = None,
        *,
        freeze: bool = False,
    ) -> None:
        """``freeze``: after each event, freeze what survives its collection (only in a
        worker process: see ``guest/isolation.py``)."""
        self.code = code
        self.filename = filename
        self.kind = kind
        self.transport = transport
        self.modules: Mapping[str, ModuleCode] = modules or {}
        self.guards = Guards(AUTHOR_BASES)
        self.exhausted = False
        # Patterns compiled from these stay in re's cache between events.
        self.constants = code_constants(code)
        self.freeze = freeze
        # The secrets of the invocation message last seen (the same for all its events).
        self._secrets: tuple[dict[str, Any] | None, tuple[str, ...]] = (None, ())

    def _globals(self, name: str, importer: Importer) -> dict[str, Any]:
        return build_globals(self.guards, name, importer)

    def fresh_module(self) -> dict[str, Any]:
        """The handler module, run afresh; its own modules load afresh when it (or they)
        import them, once per call (``guest/loader.py``)."""
        if not self.modules:
            namespace = build_globals(self.guards)
        else:
            event_modules = EventModules(self.modules, self._globals)
            namespace = build_globals(self.guards, "handler", event_modules.importer_for(""))
            event_modules.register("handler", namespace)
        exec(self.code, namespace)
        return namespace

    def _context(self, message: dict[str, Any]) -> InvocationContext:
        """A fresh context per event; the secrets to mask (a tuple of strings) are
        computed once per invocation message."""
        seen, secrets = self._secrets
        if seen is not message:
            secrets = _settings(message).secret_values()
            self._secrets = (message, secrets)
        return InvocationContext(secrets=secrets, transport=self.transport)

    def run_one(self, raw: Any, message: dict[str, Any]) -> dict[str, Any]:
        ctx = self._context(message)
        started = time.perf_counter()
        with activate(ctx):
            outcome, result, error = self._call_single(raw, message, ctx)
            self._end_event()
        return _record(outcome, result, error, ctx, started)

    def _end_event(self) -> None:
        """Clear what the event left behind (see ``guest/isolation.py``), still under
        its own context; a failure here asks for a fresh worker."""
        try:
            end_event(self.constants, freeze=self.freeze)
        except Exception:
            self.exhausted = True

    def _call_single(
        self, raw: Any, message: dict[str, Any], ctx: InvocationContext
    ) -> tuple[str, Any, dict[str, Any] | None]:
        if self.kind == "source":
            return self._call_source(raw, message, ctx)
        try:
            event = parse_event(raw)
        except EventParseError as exc:
            return (
                "rejected",
                None,
                {"type": "InvalidEventPayload", "message": ctx.redact(str(exc)), "line": None},
            )
        try:
            namespace = self.fresh_module()
            handler = namespace.get(f"on_{event.type}")
            if handler is None or not callable(handler):
                return (
                    "filtered",
                    None,
                    {
                        "type": "EventNotSupported",
                        "message": f"no on_{event.type} handler",
                        "line": None,
                    },
                )
            value = handler(event, _settings(message))
            return self._delivered(value, event)
        except Exception as exc:
            self.exhausted = self.exhausted or isinstance(exc, MemoryError)
            return classify(exc), None, error_info(exc, self.filename, ctx.redact)

    def _call_source(
        self, raw: Any, message: dict[str, Any], ctx: InvocationContext
    ) -> tuple[str, Any, dict[str, Any] | None]:
        """``on_request(request, settings)``: the events it emits are in the record."""
        try:
            request = SourceRequest.model_validate(raw)
        except PydanticValidationError as exc:
            error = {
                "type": "InvalidEventPayload",
                "line": None,
                "message": f"not a webhook request: {exc.error_count()} problems",
            }
            return "rejected", None, error
        try:
            value = self.fresh_module()["on_request"](request, _settings(message))
            return "delivered", to_json(value), None
        except Exception as exc:
            ctx.emitted.clear()  # a failed request emits nothing (it may be retried)
            self.exhausted = self.exhausted or isinstance(exc, MemoryError)
            return classify(exc), None, error_info(exc, self.filename, ctx.redact)

    def _delivered(self, value: Any, event: BaseEvent) -> tuple[str, Any, dict[str, Any] | None]:
        if self.kind == "insert" and value is None:
            return (
                "rejected",
                None,
                {
                    "type": "ValidationError",
                    "line": None,
                    "message": "insert functions return the event to forward, or raise DropEvent",
                },
            )
        return "delivered", to_json(value), None

    def run_batch(self, raws: list[Any], message: dict[str, Any]) -> list[dict[str, Any]]:
        """``on_batch``: one call for the valid events, one result per event in order."""
        ctx = self._context(message)
        started = time.perf_counter()
        results: list[dict[str, Any] | None] = [None] * len(raws)
        events: list[BaseEvent] = []
        positions: list[int] = []
        with activate(ctx):
            for i, raw in enumerate(raws):
                try:
                    events.append(parse_event(raw))
                    positions.append(i)
                except EventParseError as exc:
                    results[i] = _record(
                        "rejected",
                        None,
                        {
                            "type": "InvalidEventPayload",
                            "message": ctx.redact(str(exc)),
                            "line": None,
                        },
                        InvocationContext(),
                        started,
                    )
            outcomes = self._call_batch(events, message, ctx)
            self._end_event()
        elapsed = (time.perf_counter() - started) * 1000 / max(len(raws), 1)
        logs, requests = list(ctx.logs), list(ctx.requests)
        for i, (outcome, result, error) in zip(positions, outcomes, strict=True):
            results[i] = {
                "outcome": outcome,
                "result": result,
                "error": error,
                "logs": logs,
                "requests": requests,
                "duration_ms": round(elapsed, 3),
                "shared": True,  # the logs and requests of the whole call
            }
        return [r for r in results if r is not None]

    def _call_batch(
        self, events: list[BaseEvent], message: dict[str, Any], ctx: InvocationContext
    ) -> list[tuple[str, Any, dict[str, Any] | None]]:
        if not events:
            return []
        try:
            namespace = self.fresh_module()
            # A copy: the handler may change its list without touching ours.
            returned = namespace["on_batch"](list(events), _settings(message))
            # And ours of what it returned, taken before anything is checked: nothing
            # the author still holds (a property, a finaliser) can change it under us.
            values = list.copy(returned) if type(returned) is list else None
            if values is None or len(values) != len(events):
                got = len(values) if values is not None else type(returned).__name__
                raise ResultError(
                    f"on_batch must return a list of {len(events)} results "
                    f"(one per event, in order); got {got}"
                )
        except Exception as exc:
            self.exhausted = self.exhausted or isinstance(exc, MemoryError)
            info = error_info(exc, self.filename, ctx.redact)
            return [(classify(exc), None, info)] * len(events)
        return [self._settle(values[i], events[i], ctx) for i in range(len(events))]

    def _settle(
        self, value: Any, event: BaseEvent, ctx: InvocationContext
    ) -> tuple[str, Any, dict[str, Any] | None]:
        """One ``on_batch`` result: an SDK error returned (not raised) is that error's
        outcome; anything else is a result. Whatever goes wrong while settling it (the
        author's objects cannot be turned into JSON, a limit is hit) is this event's
        outcome, never the worker's end."""
        try:
            if issubclass(type(value), FunctionError):
                return classify(value), None, error_info(value, self.filename, ctx.redact)
            return self._delivered(value, event)
        except Exception as exc:
            self.exhausted = self.exhausted or isinstance(exc, MemoryError)
            outcome = "retry" if isinstance(exc, MemoryError | RecursionError) else "rejected"
            return outcome, None, error_info(exc, self.filename, ctx.redact)


def pipe_transport(inp: FrameReader, held: HeldRecords) -> Transport:
    """``fetch`` (and ``store``) over the worker's pipes: one request frame out (after
    the records waiting to go, in one write), one answer frame in."""

    def send(request: dict[str, Any]) -> dict[str, Any]:
        held.called = True
        held.send(request)
        answer = inp.read()
        if not isinstance(answer, dict) or answer.get("op") != "answer":
            raise FrameError("the host sent something other than a fetch answer")
        return answer

    return send


def _settings(message: dict[str, Any]) -> Settings:
    # A fresh copy per call: handler code can never reach the host's settings.
    return Settings(message.get("settings") or {}, secret_names=message.get("secret_names") or ())


def _record(
    outcome: str, result: Any, error: dict[str, Any] | None, ctx: InvocationContext, started: float
) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "result": result,
        "error": error,
        "logs": list(ctx.logs),
        "requests": list(ctx.requests),
        "emitted": list(ctx.emitted),
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }


def _rehearse() -> bool:
    """One event of the rehearsal handler, in process (see ``guest/rehearsal.py``);
    whether it was delivered (False, and nothing done, in a process that has no
    rehearsal code: one not forked from the zygote). A rehearsal that fails costs the
    worker nothing: it loads its instance's code as any other would."""
    code = rehearsal.code()
    if code is None:
        return False
    try:
        delivered = _rehearsal_event(code)
    except Exception:
        delivered = False
    gc.collect()  # the rehearsal's runner and records: collected, not frozen
    gc.freeze()  # as after every event: what survives is left alone by later collections
    return delivered


def _rehearsal_event(code: CodeType) -> bool:
    answer = compact(rehearsal.ANSWER)

    def transport(request: dict[str, Any]) -> dict[str, Any]:
        compact(request)  # as a fetch frame is encoded
        reply: dict[str, Any] = json.loads(answer)
        return reply

    runner = Runner(code, "rehearsal.py", "destination", transport)
    record = _safe(runner.run_one(dict(rehearsal.EVENT), rehearsal.MESSAGE))
    compact({"index": 0, "result": record})  # as its record frame is encoded
    return bool(record["outcome"] == "delivered")


def _serve(fd: int, out: int, vm_now: int, confinement: dict[str, str]) -> None:
    inp = FrameReader(fd)
    load = inp.read()
    rehearsed = False
    if load.get("op") == "rehearse":
        rehearsed = _rehearse()
        load = inp.read()
    kind = load.get("kind", "destination")
    packed = load.get("code")
    errors: list[str] = []
    loadable: Loadable | None
    if isinstance(packed, str):  # compiled by the host (``sandbox/loadable.py``)
        loadable = unpack(packed)
    else:
        errors, loadable = compile_load(
            load["source"], load["filename"], kind, load.get("modules") or {}
        )
    if loadable is None:
        write_frame(out, {"ok": False, "errors": errors})
        return
    _set_limits(int(load.get("memory_mb", 256)), int(load.get("cpu_seconds", 600)), vm_now)
    held = HeldRecords(out)
    signal.signal(signal.SIGALRM, held.on_timer)
    runner = Runner(
        loadable.code,
        load["filename"],
        kind,
        pipe_transport(inp, held),
        modules=loadable.modules,
        freeze=True,
    )
    # What confinement is active is reported before any handler code has run (compiling
    # runs none): the host's isolation policy decides whether this worker may serve.
    reply = {
        "ok": True,
        "handlers": list(loadable.handlers),
        "confinement": confinement,
        "rehearsed": rehearsed,
    }
    write_frame(out, reply)
    while True:
        message = inp.read()
        events = message["events"]
        last: list[dict[str, Any]] = []
        if message.get("batch") and "on_batch" in loadable.handlers:
            last.append(_batch_frame(runner.run_batch(events, message)))
        else:
            hold = message.get("hold", True) is True
            for i, raw in enumerate(events):
                held.start(i)
                frame = {"index": i, "result": _safe(runner.run_one(raw, message))}
                if i == len(events) - 1:
                    last.append(frame)  # goes with the end, below
                else:
                    held.add(frame, hold=hold)
        # After a MemoryError the interpreter may be in a poor state: ask for a new worker.
        # The end goes out with the last records, in one write (one wake-up of the host).
        last.append({"done": True, "cpu": _cpu_used(), "recycle": runner.exhausted})
        held.send(*last)


def _safe(result: dict[str, Any]) -> dict[str, Any]:
    """Bound the result's size and the record's; refuse what cannot be sent (the record
    always leaves as a small, valid frame). The result is data: never masked."""
    try:
        value = result["result"]
        size = len(compact(value))
    except (TypeError, ValueError, RecursionError) as exc:
        return _bounded(_refused(result, "ResultError", str(exc)[:500]))
    except MemoryError:
        return _bounded(_refused(result, "ResultTooLarge", "the result is too large to send"))
    if size > MAX_RESULT_BYTES:
        return _bounded(
            _refused(
                result,
                "ResultTooLarge",
                f"the result is {size} bytes of JSON; the limit is {MAX_RESULT_BYTES}",
            )
        )
    return _bounded({**result, "result": value})


def _batch_frame(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One frame for an ``on_batch`` call: the logs and requests the events share are
    sent (and bounded) once, not once per event; a result without ``logs`` and
    ``requests`` takes the shared ones."""
    shared: dict[str, Any] = {"logs": [], "requests": []}
    for result in results:
        if result.get("shared"):
            shared = _bounded({"logs": result["logs"], "requests": result["requests"]})
            break
    out = []
    for result in results:
        if result.pop("shared", False):
            result = {**result, "logs": [], "requests": []}
            safe = _safe(result)
            del safe["logs"], safe["requests"]
        else:
            safe = _safe(result)
        out.append(safe)
    return {"results": out, "shared": shared}


def _bounded(result: dict[str, Any]) -> dict[str, Any]:
    """Keep logs and recorded requests within ``MAX_RECORD_BYTES`` together."""
    budget = MAX_RECORD_BYTES
    kept: dict[str, list[Any]] = {"logs": [], "requests": []}
    for key in ("requests", "logs"):
        for item in result.get(key) or []:
            size = len(json.dumps(item))
            if size > budget:
                note = f"[{key} truncated: the record is limited to {MAX_RECORD_BYTES} bytes]"
                dropped: dict[str, Any] = {
                    "method": None,
                    "url": None,
                    "status": None,
                    "duration_ms": 0.0,
                    "request_headers": {},
                    "request_body": None,
                    "error": note,
                }
                kept[key].append(note if key == "logs" else dropped)
                break
            budget -= size
            kept[key].append(item)
    return {**result, **kept}


def _refused(result: dict[str, Any], kind: str, message: str) -> dict[str, Any]:
    error = {"type": kind, "message": message, "line": None}
    return {**result, "outcome": "rejected", "result": None, "error": error}


def prepare() -> int:
    """Set up the worker's descriptors (while the filesystem is still there): frames go
    out on a private copy of stdout (returned); fd 1 itself points at /dev/null so
    nothing else can write into the protocol stream."""
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    return out


def serve(out: int, vm_now: int, confinement: dict[str, str]) -> None:
    """Serve the host on fd 0 / ``out`` until it closes the pipe."""
    with contextlib.suppress(FrameError):  # the host closed the pipe: exit quietly
        _serve(0, out, vm_now, confinement)


def run(layers: confine.Layers | None = None) -> None:
    """Shared by both ways a worker starts, exec'ed (:func:`main`) and forked from the
    zygote (``zygote.py``): descriptors, then confinement (``guest/confine.py``), then
    the host's frames. Nothing of an instance exists in the process before confinement:
    its code and settings are in the first frame."""
    out = prepare()
    # Dies with its parent (no watchdog thread: the seccomp filter allows no threads).
    confine.set_parent_death_kill()
    vm_now = _vm_size()
    applied = confine.confine(layers)
    serve(out, vm_now, applied.layers)


def main() -> None:
    run()
    sys.exit(0)


if __name__ == "__main__":
    main()
