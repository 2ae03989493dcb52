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
    frame(out, {"ok": True, "handlers": ["on_track"]})
    while True:
        message = read_frame(0)
        events = message["events"]
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


if __name__ == "__main__":
    main()
