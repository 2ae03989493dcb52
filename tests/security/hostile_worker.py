"""A stand-in for a *compromised* worker process (used by test_hostile_worker.py).

Defence in depth assumes that handler code may one day escape the in-process
guards. Then it owns the worker and can write anything to the frame pipe. This
script speaks the worker protocol just enough to be loaded, then answers the
first ``invoke`` with the hostile frames named by a ``# mode: <name>`` line in the
instance's source. The host must survive every one of them.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import struct
import sys
import time

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024  # the host's limit (test_hostile_worker checks it is the same)


def read_exact(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data


def read_frame(fd: int) -> dict:
    (size,) = HEADER.unpack(read_exact(fd, HEADER.size))
    return json.loads(read_exact(fd, size))


def raw(fd: int, body: bytes) -> None:
    data = HEADER.pack(len(body)) + body
    while data:
        data = data[os.write(fd, data) :]


def frame(fd: int, message: object) -> None:
    raw(fd, json.dumps(message).encode())


def record(outcome: str = "delivered", result: object = None) -> dict:
    return {
        "outcome": outcome,
        "result": result,
        "error": None,
        "logs": [],
        "requests": [],
        "duration_ms": 0.1,
    }


def main() -> None:
    out = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    load = read_frame(0)
    found = re.search(r"# mode: (\S+)", load["source"])
    mode = found.group(1) if found else "honest"
    if mode in LOAD_MODES:  # the lifecycle block below answers the load itself
        LOAD_MODES[mode](out, load)
    else:
        frame(out, {"ok": True, "handlers": ["on_track"]})
    while True:
        message = read_frame(0)
        events = message["events"]
        if mode in INVOKE_MODES:  # the lifecycle block below
            INVOKE_MODES[mode](out, message)
            continue
        if mode == "memory_hog":
            # It escaped the address-space rlimit (or never had one): it fills memory
            # and stays silent; only the host's RSS watchdog can stop it.
            hoard = bytearray(512 * 1024 * 1024)
            for offset in range(0, len(hoard), 4096):
                hoard[offset] = 1
            read_frame(0)
        elif mode == "deep_json":
            raw(out, b"[" * 100_000 + b"]" * 100_000)
        elif mode == "not_an_object":
            frame(out, [1, 2, 3])
        elif mode == "no_result":
            frame(out, {"index": 0})
        elif mode == "result_not_an_object":
            frame(out, {"index": 0, "result": "delivered"})
        elif mode == "forged_outcome":
            frame(out, {"index": 0, "result": record(outcome="pwned")})
        elif mode == "missing_fields":
            frame(out, {"index": 0, "result": {"outcome": "delivered"}})
        elif mode == "flood":
            for i in range(200):
                frame(out, {"index": i, "result": record(result="x" * 1000)})
        elif mode == "batch_flood":
            shared = {"logs": [], "requests": []}  # well-formed: only the count is wrong
            frame(out, {"results": [record() for _ in range(200)], "shared": shared})
        elif mode == "batch_not_a_list":
            frame(out, {"results": "all good", "shared": {"logs": [], "requests": []}})
        elif mode == "batch_shared_forged":
            shared = {"logs": [{"not": "text"}], "requests": ["not an object"]}
            frame(out, {"results": [{"outcome": "delivered", "result": None}], "shared": shared})
        elif mode == "batch_half_shared":
            half = {"outcome": "delivered", "result": None, "error": None, "duration_ms": 1.0}
            frame(out, {"results": [{**half, "logs": []}], "shared": {"logs": [], "requests": []}})
        elif mode == "batch_half_shared_requests":
            half = {"outcome": "delivered", "result": None, "error": None, "duration_ms": 1.0}
            own = {**half, "requests": [{"forged": True}]}
            frame(out, {"results": [own], "shared": {"logs": [], "requests": []}})
        elif mode == "bad_done":
            for i, _ in enumerate(events):
                frame(out, {"index": i, "result": record()})
            frame(out, {"done": True, "cpu": "lots", "recycle": False})
            continue
        elif mode == "oversize_header":
            os.write(out, HEADER.pack(0xFFFFFFFF))
        elif mode == "garbage":
            raw(out, b"\xff\xfe not json")
        elif mode == "record_without_result":
            incomplete = record()
            del incomplete["result"]
            frame(out, {"index": 0, "result": incomplete})
        elif mode == "log_not_text":
            frame(out, {"index": 0, "result": {**record(), "logs": [["not", "text"]]}})
        elif mode == "request_not_object":
            frame(out, {"index": 0, "result": {**record(), "requests": ["GET /"]}})
        elif mode == "empty_frame":
            raw(out, b"")  # a header saying 0 bytes, and nothing after it
            time.sleep(3600)
        elif mode == "exact_max_frame":
            # A well-formed record exactly as long as a frame may be (the host's limit).
            body = json.dumps({"index": 0, "result": record(result="")}).encode()
            pad = MAX_FRAME - len(body)
            padded = json.dumps({"index": 0, "result": record(result="x" * pad)}).encode()
            assert len(padded) == MAX_FRAME
            raw(out, padded)
        elif mode == "silence":
            time.sleep(3600)
        elif mode == "early_exit":
            sys.exit(3)
        else:
            for i, _ in enumerate(events):
                frame(out, {"index": i, "result": record(result={"honest": True})})
        frame(out, {"done": True, "cpu": 0.0, "recycle": False})


# -- The worker's lifecycle as the host sees it (test_hostile_worker.py's lifecycle
# tests): how a worker refuses or answers its load, how it dies, what it sends besides
# records. Each LOAD_MODES entry answers the load frame; each INVOKE_MODES entry
# answers one invoke frame, done frame included (or never returns).

ON_BATCH = ["on_batch", "on_track"]
HOARD: list[bytearray] = []  # what load_hog holds for its whole life


def done(out: int, **extra: object) -> None:
    frame(out, {"done": True, "cpu": 0.0, "recycle": False, **extra})


def honest(out: int, message: dict, **extra: object) -> None:
    for i, _ in enumerate(message["events"]):
        frame(out, {"index": i, "result": record(result={"honest": True})})
    done(out, **extra)


def stdin_closed(out: int, load: dict) -> None:
    os.close(0)  # before the reply: the host's next write finds no reader, at once
    frame(out, {"ok": True, "handlers": ["on_track"]})
    time.sleep(3600)  # alive, not answering: the host kills it


def stderr_closed(out: int, load: dict) -> None:
    os.close(2)
    frame(out, {"ok": True, "handlers": ["on_track"]})


def load_hog(out: int, load: dict) -> None:
    """Holds more than the instance's memory limit before it has loaded anything: the
    limit counts from what the worker holds once loaded (its baseline)."""
    hoard = bytearray(96 * 1024 * 1024)
    for offset in range(0, len(hoard), 4096):
        hoard[offset] = 1
    HOARD.append(hoard)
    # A slow start, as the host times it: a host that watched memory during the load
    # would look at this worker several times (every 50 ms) before the reply.
    time.sleep(0.3)
    frame(out, {"ok": True, "handlers": ["on_track"]})


LOAD = {"ok": True, "handlers": ["on_track"]}
ECHOED: list[dict] = []  # echo's load frame


def echo_load(out: int, load: dict) -> None:
    ECHOED.append(load)
    frame(out, LOAD)


def fetch_first(out: int, load: dict) -> None:
    """The load reply and a fetch in one write: the host finds the fetch already read
    when the invocation starts, so it performs it whatever the deadline."""
    reply = json.dumps(LOAD).encode()
    request = {"op": "fetch", "method": "GET", "url": "http://127.0.0.1:9/", "headers": []}
    fetch = json.dumps(request).encode()
    os.write(out, HEADER.pack(len(reply)) + reply + HEADER.pack(len(fetch)) + fetch)


def wait_for_the_answer(out: int, message: dict) -> None:
    read_frame(0)  # the host's answer to fetch_first's fetch
    time.sleep(3600)  # then silence: the host's deadline has passed already


LOAD_MODES = {
    "fetch_first": fetch_first,
    "refuse": lambda out, load: frame(out, {"ok": False, "errors": ["handler.py:3: no", 4]}),
    "refuse_silently": lambda out, load: frame(out, {"ok": False}),
    "no_handlers": lambda out, load: frame(out, {"ok": True}),
    "honest_on_batch": lambda out, load: frame(out, {**LOAD, "handlers": ON_BATCH}),
    "trickle_on_batch": lambda out, load: frame(out, {**LOAD, "handlers": ON_BATCH}),
    "echo": echo_load,
    "stdin_closed": stdin_closed,
    "stderr_closed": stderr_closed,
    "load_hog": load_hog,
}


def kill_self(signum: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file from SIGXCPU
    os.kill(os.getpid(), signum)
    time.sleep(3600)  # not reached: the signal ends the process


def stderr_flood(out: int, message: dict) -> None:
    """More than a pipe holds on stderr before the records: the host must keep reading
    stderr, or this write never returns."""
    data = b"x" * (256 * 1024)
    while data:
        data = data[os.write(2, data) :]
    honest(out, message)


def trickle(out: int, message: dict) -> None:
    """A record every half second: each well within the timeout, all together not."""
    for i, _ in enumerate(message["events"]):
        time.sleep(0.5)  # the handler's work, as the host times it
        frame(out, {"index": i, "result": record(result={"honest": True})})
    done(out)


def honest_on_batch(out: int, message: dict) -> None:
    if not message["batch"]:
        honest(out, message)
        return
    results = [
        {"outcome": "delivered", "result": {"batch": True}, "error": None, "duration_ms": 0.1}
        for _ in message["events"]
    ]
    frame(out, {"results": results, "shared": {"logs": [], "requests": [{"forged": True}]}})
    done(out)


def fetch_refused(out: int, message: dict) -> None:
    """A fetch the broker refuses before any network (an unknown method); the result is
    the answer the host sent back, and the record claims a request of its own."""
    frame(out, {"op": "fetch", "method": "BREW", "url": "http://127.0.0.1:9/pot"})
    answer = read_frame(0)
    forged = {**record(result=answer), "requests": [{"forged": True}]}
    frame(out, {"index": 0, "result": forged})
    done(out)


def store_call(out: int, message: dict) -> None:
    """A store call; the result is the answer the host sent back."""
    frame(out, {"op": "store", "action": "incr", "key": "n", "by": 2})
    frame(out, {"index": 0, "result": record(result=read_frame(0))})
    done(out)


def echo(out: int, message: dict) -> None:
    frame(out, {"index": 0, "result": record(result={"load": ECHOED[0], "invoke": message})})
    done(out)


def done_without_cpu(out: int, message: dict) -> None:
    for i, _ in enumerate(message["events"]):
        frame(out, {"index": i, "result": record()})
    frame(out, {"done": True, "recycle": False})


def early_done(out: int, message: dict) -> None:
    done(out)


def two_records(out: int, message: dict) -> None:
    for _ in range(2):
        frame(out, {"index": 0, "result": record()})
    done(out)


# Held records (guest/held.py): a worker may keep the records of events that called
# nothing on the host and send them later. Each mode below dies while the third event
# (index 2) runs; what it sent before decides how the host charges the events.
CRASHING_EVENT = 2


def crash_while_holding(out: int, message: dict) -> None:
    """Held the first two records, then died: nothing was sent. Run again with
    ``"hold": false``, it sends each record and dies at the same event."""
    if message.get("hold") is True:
        sys.exit(3)
    for i, _ in enumerate(message["events"]):
        if i == CRASHING_EVENT:
            sys.exit(3)
        frame(out, {"index": i, "result": record(result={"run": "again"})})
    done(out)


def crash_after_saying_which_runs(out: int, message: dict) -> None:
    """Sent the two held records and which event runs (its timer), then died."""
    for i in range(CRASHING_EVENT):
        frame(out, {"index": i, "result": record(result={"run": "once"})})
    frame(out, {"running": CRASHING_EVENT})
    sys.exit(3)


def crash_after_a_store_call(out: int, message: dict) -> None:
    """Called the host during the first event (nothing can be held since), then died:
    the first event is the one charged, and nothing is run again."""
    frame(out, {"op": "store", "action": "incr", "key": "calls", "by": 1})
    read_frame(0)
    sys.exit(3)


def running_out_of_range(out: int, message: dict) -> None:
    frame(out, {"running": len(message["events"])})
    time.sleep(3600)


INVOKE_MODES = {
    "exit_zero": lambda out, message: sys.exit(0),
    "killed_by_signal": lambda out, message: kill_self(signal.SIGKILL),
    "cpu_limit": lambda out, message: kill_self(signal.SIGXCPU),
    "stderr_flood": stderr_flood,
    "stderr_closed": honest,
    "load_hog": honest,
    "no_handlers": honest,
    "done_without_cpu": done_without_cpu,
    "cpu_spent": lambda out, message: honest(out, message, cpu=599.0),
    "recycle": lambda out, message: honest(out, message, recycle=True),
    "trickle": trickle,
    "trickle_on_batch": trickle,
    "honest_on_batch": honest_on_batch,
    "fetch_refused": fetch_refused,
    "fetch_first": wait_for_the_answer,
    "store_call": store_call,
    "echo": echo,
    "early_done": early_done,
    "two_records": two_records,
    "crash_while_holding": crash_while_holding,
    "crash_after_saying_which_runs": crash_after_saying_which_runs,
    "crash_after_a_store_call": crash_after_a_store_call,
    "running_out_of_range": running_out_of_range,
}


if __name__ == "__main__":
    main()
