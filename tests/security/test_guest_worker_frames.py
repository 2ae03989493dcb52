"""What leaves the worker (``sandbox/guest/worker.py``): each record bounded and always a
valid frame (``_safe``, ``_bounded``, ``_refused``), an ``on_batch`` call's one frame
(``_batch_frame``), the rlimits, the descriptors, and ``_serve``'s frames for load and
invoke messages.

Written against the mutants of worker.py that the rest of the suite let pass
(docs/TESTING.md, issue 18). ``_serve`` and the rlimits change the process that runs
them, so they run in a forked child of the test process (a mutant of worker.py is
active there too), talking to the test over two pipes as a worker talks to its host.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from forked import run_forked
from test_guest_runner import BAD, BAD_ERROR, EVENT  # the same event and its refusal

from functions_runtime.sandbox.guest import held as held_records
from functions_runtime.sandbox.guest import rehearsal, worker
from functions_runtime.sandbox.guest.protocol import read_frame, write_frame
from functions_runtime.sandbox.guest.worker import MAX_RECORD_BYTES, MAX_RESULT_BYTES

MiB = 1024 * 1024


def rec(result: Any = None, **more: Any) -> dict[str, Any]:
    return {
        "outcome": "delivered",
        "result": result,
        "error": None,
        "logs": ["l"],
        "requests": [],
        "emitted": [],
        "duration_ms": 1.5,
        **more,
    }


def refused(kind: str, message: str, **more: Any) -> dict[str, Any]:
    error = {"type": kind, "message": message, "line": None}
    return rec(None, outcome="rejected", error=error, **more)


# -- _safe, _refused -----------------------------------------------------------------


def test_a_result_within_the_limit_leaves_as_it_is() -> None:
    assert worker._safe(rec({"a": [1, "x"]})) == rec({"a": [1, "x"]})
    # The limit counts compact JSON: exactly the limit is allowed, one byte more is not.
    exact = ["x" * (MAX_RESULT_BYTES - 8), 1, 2]  # ["xx…x",1,2]
    assert len(json.dumps(exact, separators=(",", ":"))) == MAX_RESULT_BYTES
    assert worker._safe(rec(exact)) == rec(exact)
    over = ["x" * (MAX_RESULT_BYTES - 7), 1, 2]
    message = f"the result is {MAX_RESULT_BYTES + 1} bytes of JSON; the limit is {MAX_RESULT_BYTES}"
    assert worker._safe(rec(over)) == refused("ResultTooLarge", message)


def test_a_result_that_cannot_be_sent_is_refused_with_a_bounded_reason() -> None:
    assert worker._safe(rec(object())) == refused(
        "ResultError", "Object of type object is not JSON serializable"
    )
    nan = worker._safe(rec([float("nan")]))
    assert nan["error"]["message"].startswith("Out of range float values are not JSON compliant")
    assert nan == refused("ResultError", nan["error"]["message"])
    named = type("X" * 600, (), {})()
    long = worker._safe(rec(named))
    assert long == refused("ResultError", ("Object of type " + "X" * 600)[:500])
    deep: Any = 1
    for _ in range(sys.getrecursionlimit() + 100):
        deep = [deep]
    recursion = worker._safe(rec(deep))
    assert recursion == refused("ResultError", recursion["error"]["message"])
    assert "recursion" in recursion["error"]["message"]


def test_a_result_whose_json_does_not_fit_in_memory_is_refused() -> None:
    def job(fd: int) -> object:
        # Its JSON is six bytes a character ("\\u0001"): 192 MiB, in one allocation that
        # no free memory the process already holds can serve.
        value = "\x01" * (32 * MiB)
        vm = worker._vm_size()
        resource.setrlimit(resource.RLIMIT_AS, (vm + 32 * MiB,) * 2)
        return worker._safe(rec(value, logs=[log_of(B + 1)]))

    [found], status = run_forked(job)
    assert status == 0, found
    assert found == refused("ResultTooLarge", "the result is too large to send", logs=[NOTE])


def test_every_record_that_leaves_is_bounded() -> None:
    logs = ["x" * (MAX_RECORD_BYTES - 1)]
    note = f"[logs truncated: the record is limited to {MAX_RECORD_BYTES} bytes]"
    assert worker._safe(rec(1, logs=logs))["logs"] == [note]
    assert worker._safe(rec(object(), logs=logs))["logs"] == [note]
    assert worker._safe(rec([float("nan")], logs=logs))["logs"] == [note]
    over = ["x" * MAX_RESULT_BYTES]
    assert worker._safe(rec(over, logs=logs))["logs"] == [note]


def test_a_refused_record_keeps_everything_but_its_result_and_outcome() -> None:
    original = rec({"a": 1}, logs=["a", "b"], requests=[{"r": 1}])
    assert worker._refused(original, "K", "why") == {
        **original,
        "outcome": "rejected",
        "result": None,
        "error": {"type": "K", "message": "why", "line": None},
    }
    assert original == rec({"a": 1}, logs=["a", "b"], requests=[{"r": 1}])


# -- _bounded ------------------------------------------------------------------------

B = MAX_RECORD_BYTES
DROPPED = {
    "method": None,
    "url": None,
    "status": None,
    "duration_ms": 0.0,
    "request_headers": {},
    "request_body": None,
    "error": f"[requests truncated: the record is limited to {B} bytes]",
}
NOTE = f"[logs truncated: the record is limited to {B} bytes]"


def log_of(size: int) -> str:
    """A log line whose JSON (as ``_bounded`` counts it) is ``size`` bytes."""
    return "x" * (size - 2)


def request_of(size: int) -> dict[str, str]:
    """A request record whose JSON (``{"u": "…"}``) is ``size`` bytes."""
    return {"u": "x" * (size - 9)}


def bounded(logs: list[Any], requests: list[Any]) -> tuple[list[Any], list[Any]]:
    out = worker._bounded({"outcome": "o", "logs": logs, "requests": requests})
    assert out["outcome"] == "o"
    return out["logs"], out["requests"]


def test_logs_and_requests_share_one_budget_requests_first() -> None:
    assert len(json.dumps(request_of(100))) == 100
    assert bounded([log_of(B)], []) == ([log_of(B)], [])
    assert bounded([log_of(B + 1), "a"], []) == ([NOTE], [])
    assert bounded([log_of(B - 100)], [request_of(100)]) == ([log_of(B - 100)], [request_of(100)])
    assert bounded([log_of(B - 99)], [request_of(100)]) == ([NOTE], [request_of(100)])
    assert bounded([log_of(50)], [request_of(B + 1), request_of(10)]) == ([log_of(50)], [DROPPED])
    assert bounded(["a", "b", log_of(B - 6), "c"], []) == (["a", "b", log_of(B - 6), NOTE], [])
    assert bounded(["a", "b", log_of(B - 5), "c"], []) == (["a", "b", NOTE], [])


def test_a_record_without_logs_or_requests_gets_empty_ones() -> None:
    assert worker._bounded({"outcome": "o"}) == {"outcome": "o", "logs": [], "requests": []}
    none = {"outcome": "o", "logs": None, "requests": None}
    assert worker._bounded(none) == {"outcome": "o", "logs": [], "requests": []}


# -- _batch_frame ----------------------------------------------------------------------


def shared_result(result: Any, logs: list[str]) -> dict[str, Any]:
    return {
        "outcome": "delivered",
        "result": result,
        "error": None,
        "logs": logs,
        "requests": [{"r": 1}],
        "duration_ms": 2.0,
        "shared": True,
    }


def test_an_on_batch_frame_sends_the_shared_logs_once() -> None:
    own = rec(None, outcome="rejected", error=BAD_ERROR)
    results = [own, shared_result("a", ["s"]), shared_result(object(), ["s"])]
    frame = worker._batch_frame(results)
    assert frame == {
        "results": [
            own,
            {"outcome": "delivered", "result": "a", "error": None, "duration_ms": 2.0},
            {
                "outcome": "rejected",
                "result": None,
                "error": {
                    "type": "ResultError",
                    "message": "Object of type object is not JSON serializable",
                    "line": None,
                },
                "duration_ms": 2.0,
            },
        ],
        "shared": {"logs": ["s"], "requests": [{"r": 1}]},
    }


def test_the_shared_logs_are_bounded_and_absent_ones_are_empty() -> None:
    assert worker._batch_frame([rec(1)]) == {
        "results": [rec(1)],
        "shared": {"logs": [], "requests": []},
    }
    long = [log_of(B + 1)]
    frame = worker._batch_frame([shared_result(1, long)])
    assert frame["shared"] == {"logs": [NOTE], "requests": [{"r": 1}]}
    assert worker._batch_frame([]) == {"results": [], "shared": {"logs": [], "requests": []}}


# -- the process: rlimits, descriptors -----------------------------------------------


def limits() -> dict[str, Any]:
    names = ("AS", "CPU", "CORE", "FSIZE", "NOFILE", "NPROC")
    found: dict[str, Any] = {
        n: list(resource.getrlimit(getattr(resource, "RLIMIT_" + n))) for n in names
    }
    found["SIGXFSZ ignored"] = signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN
    found["frozen"] = gc.get_freeze_count() > 0
    return found


def test_the_rlimits_are_set_over_what_the_process_already_uses() -> None:
    def job(fd: int) -> object:
        before = worker._cpu_used()
        vm_now = worker._vm_size()
        worker._set_limits(300, 20, vm_now)
        after = worker._cpu_used()
        return {"limits": limits(), "vm": vm_now, "cpu": [before, after]}

    [found], status = run_forked(job)
    assert status == 0, found
    got, (before, after) = found["limits"], found["cpu"]
    assert got["AS"] == [found["vm"] + 300 * MiB] * 2
    soft, hard = got["CPU"]
    assert int(before) + 21 <= soft <= int(after) + 21 and hard == soft + 5
    assert got["CORE"] == got["FSIZE"] == got["NPROC"] == [0, 0]
    assert got["NOFILE"] == [64, 64]
    assert got["SIGXFSZ ignored"] is True


def test_without_proc_the_address_space_is_left_to_the_host() -> None:
    def job(fd: int) -> object:
        before = resource.getrlimit(resource.RLIMIT_AS)
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (0, hard))  # open() fails
        vm_now = worker._vm_size()
        worker._set_limits(300, 20, vm_now)
        return {"vm": vm_now, "same": list(before) == limits()["AS"]}

    [found], status = run_forked(job)
    assert status == 0, found
    assert found == {"vm": -1, "same": True}


def test_the_address_space_and_cpu_are_read_from_this_process() -> None:
    page = os.sysconf("SC_PAGE_SIZE")

    def statm() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * page

    low, size, high = statm(), worker._vm_size(), statm()
    assert min(low, high) <= size <= max(low, high)
    first = resource.getrusage(resource.RUSAGE_SELF)
    used = worker._cpu_used()
    last = resource.getrusage(resource.RUSAGE_SELF)
    assert first.ru_stime > 0
    assert first.ru_utime + first.ru_stime <= used <= last.ru_utime + last.ru_stime


def test_frames_go_out_on_a_copy_of_stdout_and_fd_1_is_dev_null() -> None:
    def job(fd: int) -> object:
        read_end, write_end = os.pipe()
        os.dup2(write_end, 1)
        os.close(write_end)
        out = worker.prepare()
        os.write(out, b"frame")
        os.write(1, b"stray")
        print("printed", flush=True)
        seen = {"fd1": os.readlink("/proc/self/fd/1"), "stdout": sys.stdout.name, "out": out}
        os.close(out)
        os.close(1)
        with os.fdopen(read_end, "rb") as pipe:
            return {**seen, "arrived": pipe.read().decode()}

    [found], status = run_forked(job)
    assert status == 0, found
    assert found["arrived"] == "frame"
    assert found["fd1"] == found["stdout"] == os.devnull
    assert found["out"] > 2


# -- _serve: the frames of a load and of invocations ---------------------------------


class Served:
    """``worker.serve`` (fd 0 in, a pipe out) in a forked child, as a host sees it."""

    def __init__(self, load: dict[str, Any], vm_now: int = -1, *, rehearse: bool = False) -> None:
        to_child, self.to_worker = os.pipe()
        self.from_worker, from_child = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover (the child)
            try:
                os.close(self.to_worker)
                os.close(self.from_worker)
                os.dup2(to_child, 0)
                worker.serve(from_child, vm_now, {"layer": "on"})
                usage = resource.getrusage(resource.RUSAGE_SELF)
                cpu = usage.ru_utime + usage.ru_stime
                write_frame(from_child, {"returned": limits(), "cpu": cpu})
            finally:
                os._exit(0)
        os.close(to_child)
        os.close(from_child)
        if rehearse:
            write_frame(self.to_worker, {"op": "rehearse"})
        write_frame(self.to_worker, load)

    def send(self, message: dict[str, Any]) -> None:
        write_frame(self.to_worker, message)

    def read(self) -> Any:
        """The next frame, past any ``{"running": i}``: the hold timer sends one when an
        event runs longer than ``HOLD_SECONDS`` while records wait (a busy machine), and
        the host only notes it (``guest/held.py``; the timer's own tests use ``Pipe``)."""
        while True:
            frame = read_frame(self.from_worker)
            if not (isinstance(frame, dict) and frame.keys() == {"running"}):
                return frame

    def close(self) -> Any:
        """The host closes the pipe: the worker returns quietly, with what it set."""
        os.close(self.to_worker)
        try:
            return self.read()
        finally:
            os.close(self.from_worker)
            os.waitpid(self.pid, 0)


def loaded(*handlers: str, rehearsed: bool = False) -> dict[str, Any]:
    """A load's answer: its handlers, the confinement ``Served`` reports, and whether
    the worker rehearsed first."""
    return {
        "ok": True,
        "handlers": list(handlers),
        "confinement": {"layer": "on"},
        "rehearsed": rehearsed,
    }


def results(frames: list[dict[str, Any]]) -> list[Any]:
    out = []
    for frame in frames:
        frame = dict(frame)
        if "result" in frame:
            frame["result"] = {k: v for k, v in frame["result"].items() if k != "duration_ms"}
        if "cpu" in frame:
            assert type(frame.pop("cpu")) is float
        if "results" in frame:
            frame["results"] = [
                {k: v for k, v in r.items() if k != "duration_ms"} for r in frame["results"]
            ]
        out.append(frame)
    return out


def delivered(result: Any, **more: Any) -> dict[str, Any]:
    return {
        "outcome": "delivered",
        "result": result,
        "error": None,
        "logs": [],
        "requests": [],
        "emitted": [],
        **more,
    }


HANDLER = (
    "from functions_sdk import store, logger\n"
    "def on_track(event, settings):\n"
    "    if event.event == 'M':\n"
    "        return [0] * (2**60)\n"
    "    if event.event == 'store':\n"
    "        return store.get('k')\n"
    "    logger.info(settings.get_str('k'))\n"
    "    return event.event\n"
)
BATCH = HANDLER + "def on_batch(events, settings):\n    return [e.event + '!' for e in events]\n"
MESSAGE = {"settings": {"k": "SECRETVALUE1"}, "secret_names": ["k"]}


@pytest.fixture
def served() -> Iterator[Served]:
    worker_ = Served({"op": "load", "source": HANDLER, "filename": "handler.py"})
    yield worker_


def test_a_load_that_does_not_compile_is_answered_with_its_errors() -> None:
    w = Served({"op": "load", "source": "import os\n", "filename": "handler.py"})
    reply = w.read()
    assert reply["ok"] is False and reply.keys() == {"ok", "errors"}
    assert reply["errors"] and all(e.startswith("handler.py:1: ") for e in reply["errors"])
    os.close(w.to_worker)
    os.close(w.from_worker)
    os.waitpid(w.pid, 0)


def test_a_helper_module_that_does_not_compile_fails_the_load() -> None:
    load = {"source": HANDLER, "filename": "handler.py", "modules": {"util.py": "import os\n"}}
    w = Served(load)
    reply = w.read()
    assert reply["ok"] is False
    assert reply["errors"] and all(e.startswith("util.py:1: ") for e in reply["errors"])
    os.close(w.to_worker)
    os.close(w.from_worker)
    os.waitpid(w.pid, 0)


def refusal(load: dict[str, Any]) -> Any:
    w = Served(load)
    reply = w.read()
    os.close(w.to_worker)
    os.close(w.from_worker)
    os.waitpid(w.pid, 0)
    return reply


AVAILABLE = "is not available in functions; available modules: abc, base64,"


def test_a_handler_that_does_not_compile_is_answered_before_its_modules_compile() -> None:
    # The upload already reported every error; a worker refuses the load at the first.
    modules = {"util.py": "import os\n"}
    reply = refusal(
        {"source": "import os\n" + HANDLER, "filename": "handler.py", "modules": modules}
    )
    assert reply["ok"] is False
    [problem] = reply["errors"]
    assert problem.startswith(f'handler.py:1: module "os" {AVAILABLE}')


def test_a_lone_handler_imports_only_the_sandboxs_modules() -> None:
    handler = "def on_track(event, settings):\n    return 1\n"
    for module in ("os", "handler"):
        reply = refusal({"source": f"import {module}\n" + handler, "filename": "handler.py"})
        assert reply.keys() == {"ok", "errors"} and reply["ok"] is False
        [problem] = reply["errors"]
        assert problem.startswith(f'handler.py:1: module "{module}" {AVAILABLE}')


def test_a_handler_with_modules_imports_no_other_module() -> None:
    source = "import os\ndef on_track(event, settings):\n    return 1\n"
    reply = refusal({"source": source, "filename": "handler.py", "modules": {"util.py": "X = 1\n"}})
    assert reply["ok"] is False
    [problem] = reply["errors"]
    assert problem.startswith(f'handler.py:1: module "os" {AVAILABLE}')


def test_the_handler_and_its_modules_import_each_other() -> None:
    source = (
        "from . import util\nNAME = 'h'\ndef on_track(event, settings):\n    return util.name()\n"
    )
    util = "import handler\ndef name():\n    return handler.NAME\n"
    w = Served({"source": source, "filename": "handler.py", "modules": {"util.py": util}})
    assert w.read() == loaded("on_track")
    w.send({"op": "invoke", "events": [EVENT], **MESSAGE})
    assert results([w.read(), w.read()]) == [
        {"index": 0, "result": delivered("h")},
        {"done": True, "recycle": False},
    ]
    w.close()


def test_a_load_without_limits_gets_256_mib_and_600_cpu_seconds() -> None:
    vm_now = worker._vm_size()
    w = Served({"source": HANDLER, "filename": "handler.py"}, vm_now=vm_now)
    assert w.read()["ok"] is True
    closed = w.close()
    after = closed["returned"]
    assert after["AS"] == [vm_now + 256 * MiB] * 2
    # The seconds it had used when the limit was set (at most those at its end), plus one.
    soft, hard = after["CPU"]
    assert 601 <= soft <= 601 + int(closed["cpu"]) and hard == soft + 5


def test_a_load_is_answered_with_the_handlers_and_the_confinement(served: Served) -> None:
    assert served.read() == loaded("on_track")
    closed = served.close()
    after = closed["returned"]
    assert 601 <= after["CPU"][0] <= 601 + int(closed["cpu"])
    # vm_now -1: the address space stays as it was (the host's memory kill remains)
    assert after["AS"] == list(resource.getrlimit(resource.RLIMIT_AS))
    assert after["NOFILE"] == [64, 64] and after["frozen"] is False


@pytest.mark.parametrize("has_code", [True, False])
def test_a_rehearsal_before_the_load_leaves_the_worker_as_it_was(
    monkeypatch: pytest.MonkeyPatch, has_code: bool
) -> None:
    """A spare's ``rehearse`` frame (``guest/rehearsal.py``): the worker runs the built-in
    event (only where it has the rehearsal's code: a zygote's child), says so in its
    load reply, and its first event's record holds nothing of the rehearsal."""
    monkeypatch.setattr(rehearsal, "_CODE", [])
    if has_code:
        rehearsal.prepare()
    w = Served({"op": "load", "source": HANDLER, "filename": "handler.py"}, rehearse=True)
    assert w.read() == loaded("on_track", rehearsed=has_code)
    w.send({"op": "invoke", "events": [EVENT], **MESSAGE})
    assert results([w.read(), w.read()]) == [
        {"index": 0, "result": delivered("E", logs=["INFO ***"])},
        {"done": True, "recycle": False},
    ]
    assert w.close()["returned"]["frozen"] is True  # as after every event in a worker


def test_each_event_is_one_frame_and_the_end_goes_with_the_last(served: Served) -> None:
    served.read()
    served.send({"op": "invoke", "events": [EVENT, BAD, {**EVENT, "event": "x"}], **MESSAGE})
    frames = [served.read() for _ in range(3)]
    assert results(frames) == [
        {"index": 0, "result": delivered("E", logs=["INFO ***"])},
        {"index": 1, "result": {**delivered(None), "outcome": "rejected", "error": BAD_ERROR}},
        {"index": 2, "result": delivered("x", logs=["INFO ***"])},
    ]
    assert results([served.read()]) == [{"done": True, "recycle": False}]
    # batch without an on_batch handler: one frame per event all the same
    served.send({"op": "invoke", "events": [EVENT], "batch": True, **MESSAGE})
    assert results([served.read(), served.read()]) == [
        {"index": 0, "result": delivered("E", logs=["INFO ***"])},
        {"done": True, "recycle": False},
    ]
    after = served.close()["returned"]
    assert after["frozen"] is True


def test_a_record_goes_out_before_the_next_event_runs(served: Served) -> None:
    served.read()
    served.send({"op": "invoke", "events": [EVENT, {**EVENT, "event": "store"}], **MESSAGE})
    first = served.read()
    assert first["index"] == 0
    assert served.read() == {"op": "store", "action": "get", "key": "k"}
    served.send({"op": "answer", "found": True, "value": "7"})
    assert results([served.read(), served.read()]) == [
        {"index": 1, "result": delivered(7)},
        {"done": True, "recycle": False},
    ]
    served.close()


def test_a_memory_error_ends_the_invocation_asking_for_a_fresh_worker(served: Served) -> None:
    served.read()
    served.send({"op": "invoke", "events": [{**EVENT, "event": "M"}], **MESSAGE})
    frames = results([served.read(), served.read()])
    assert frames[0]["result"]["outcome"] == "retry"
    assert frames[1] == {"done": True, "recycle": True}
    served.close()


def test_an_invocation_without_events_is_only_its_end(served: Served) -> None:
    served.read()
    served.send({"op": "invoke", "events": [], **MESSAGE})
    assert results([served.read()]) == [{"done": True, "recycle": False}]
    served.close()


def test_an_on_batch_call_is_one_frame_then_the_end() -> None:
    load = {
        "source": BATCH,
        "filename": "handler.py",
        "kind": "destination",
        "memory_mb": 700,
        "cpu_seconds": 30,
    }
    vm_now = worker._vm_size()
    w = Served(load, vm_now=vm_now)
    assert w.read() == loaded("on_track", "on_batch")
    w.send({"op": "invoke", "events": [EVENT, BAD], "batch": True, **MESSAGE})
    frame = results([w.read()])[0]
    assert frame == {
        "results": [
            {"outcome": "delivered", "result": "E!", "error": None},
            {**delivered(None), "outcome": "rejected", "error": BAD_ERROR},
        ],
        "shared": {"logs": [], "requests": []},
    }
    assert results([w.read()]) == [{"done": True, "recycle": False}]
    w.send({"op": "invoke", "events": [EVENT], "batch": False, **MESSAGE})
    assert results([w.read(), w.read()]) == [
        {"index": 0, "result": delivered("E", logs=["INFO ***"])},
        {"done": True, "recycle": False},
    ]
    after = w.close()["returned"]
    assert after["AS"] == [vm_now + 700 * MiB] * 2
    assert 31 <= after["CPU"][0] < 31 + 60


def test_a_source_and_its_own_modules_are_loaded_as_sent() -> None:
    source = "import util\ndef on_request(request, settings):\n    raise ValueError(util.X)\n"
    load = {
        "source": source,
        "filename": "src.py",
        "kind": "source",
        "modules": {"util.py": "X = 'from util'\n"},
    }
    w = Served(load)
    assert w.read() == loaded("on_request")
    w.send({"op": "invoke", "events": [{"body": "b"}], **MESSAGE})
    error = {"type": "ValueError", "message": "from util", "line": 3}
    assert results([w.read(), w.read()]) == [
        {"index": 0, "result": {**delivered(None), "outcome": "rejected", "error": error}},
        {"done": True, "recycle": False},
    ]
    w.close()


def test_the_worker_exits_quietly_when_the_host_closes_the_pipe() -> None:
    def job(fd: int) -> object:
        to_child, to_worker = os.pipe()
        os.dup2(to_child, 0)
        os.close(to_worker)
        worker.serve(fd, -1, {})
        return "returned"

    found, status = run_forked(job)
    assert status == 0 and found == ["returned"]


# -- HeldRecords: the records of events that called nothing on the host ----------------


class Pipe:
    """A HeldRecords writing into a pipe, and what came out of it so far, write by write
    (``os.read`` on a pipe returns what one write put in when the reader keeps up)."""

    def __init__(self) -> None:
        self.read_fd, write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.held = held_records.HeldRecords(write_fd)
        self.write_fd = write_fd

    def frames(self) -> list[Any]:
        """Every frame written so far (none: an empty list)."""
        data = b""
        while True:
            try:
                chunk = os.read(self.read_fd, 1 << 20)
            except BlockingIOError:
                break
            data += chunk
        found = []
        while data:
            size = int.from_bytes(data[:4], "big")
            found.append(json.loads(data[4 : 4 + size]))
            data = data[4 + size :]
        return found

    def close(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        os.close(self.read_fd)
        os.close(self.write_fd)


@pytest.fixture
def pipe(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipe]:
    monkeypatch.setattr(held_records, "HOLD_SECONDS", 3600.0)  # the age rule: its own test
    previous = signal.signal(signal.SIGALRM, signal.SIG_IGN)  # no timer ends pytest
    made = Pipe()
    yield made
    made.close()
    signal.signal(signal.SIGALRM, previous)


def test_records_of_events_that_called_nothing_wait_and_go_together(pipe: Pipe) -> None:
    for i in range(3):
        pipe.held.start(i)
        pipe.held.add({"index": i}, hold=True)
    assert pipe.frames() == []  # all three wait
    assert signal.getitimer(signal.ITIMER_REAL)[0] > 0  # and the timer runs for them
    pipe.held.send({"done": True})
    assert pipe.frames() == [{"index": 0}, {"index": 1}, {"index": 2}, {"done": True}]
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_record_goes_at_once_when_its_event_called_the_host_or_hold_is_off(
    pipe: Pipe,
) -> None:
    pipe.held.start(0)
    pipe.held.add({"index": 0}, hold=True)
    pipe.held.start(1)
    pipe.held.called = True  # what pipe_transport sets
    pipe.held.add({"index": 1}, hold=True)
    assert pipe.frames() == [{"index": 0}, {"index": 1}]  # with those before it
    pipe.held.start(2)
    assert not pipe.held.called  # each event starts afresh
    pipe.held.add({"index": 2}, hold=False)
    assert pipe.frames() == [{"index": 2}]


def test_records_wait_while_few_small_and_recent(
    pipe: Pipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(held_records.HOLD_MAX - 1):
        pipe.held.add({"index": i}, hold=True)
    assert pipe.frames() == []
    pipe.held.add({"index": "last"}, hold=True)
    assert len(pipe.frames()) == held_records.HOLD_MAX  # the count
    monkeypatch.setattr(held_records, "HOLD_BYTES", 1000)  # a write the pipe's buffer holds
    pipe.held.add({"big": "x" * 1000}, hold=True)
    assert len(pipe.frames()) == 1  # the size
    monkeypatch.setattr(held_records, "HOLD_SECONDS", 0.0)
    pipe.held.add({"index": "old"}, hold=True)
    assert pipe.frames() == [{"index": "old"}]  # the age


def test_the_timer_sends_waiting_records_and_names_the_running_event(pipe: Pipe) -> None:
    pipe.held.start(4)
    pipe.held.add({"index": 4}, hold=True)
    pipe.held.start(5)
    pipe.held.on_timer(signal.SIGALRM, None)
    assert pipe.frames() == [{"index": 4}, {"running": 5}]
    pipe.held.on_timer(signal.SIGALRM, None)  # nothing waits: nothing to say
    assert pipe.frames() == []


def test_a_timer_that_goes_off_during_a_write_tries_again_soon(pipe: Pipe) -> None:
    pipe.held.add({"index": 0}, hold=True)
    pipe.held._busy = True  # as inside add or send
    pipe.held.on_timer(signal.SIGALRM, None)
    assert pipe.frames() == []  # nothing written over a write under way
    assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 0.001
    pipe.held._busy = False
