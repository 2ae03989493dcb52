"""A spare worker's rehearsal: one event of a built-in handler, before any instance exists.

A worker forked from the zygote shares the zygote's memory copy-on-write. Its first load
and its first event write to about 1,200 of those pages (reference counts, the
allocator's free lists, caches), and each write copies a page: about 4 ms of page faults,
most of a pool miss once the code comes compiled (``docs/PERFORMANCE.md``, tenth
session). A spare is started before an invocation needs it (``host/pool.py``), so the
pool tells it to rehearse (``{"op": "rehearse"}``, before its load frame): it runs
:data:`SOURCE` once on :data:`EVENT`, in process, through the worker's own ``Runner``,
with a ``fetch`` answered at once from :data:`ANSWER` (no frame, no host). Those faults
are then taken while the spare waits instead of on the invocation's path.

Nothing of an instance is involved: the handler, its event, its settings and the answer
are the constants below. The rehearsal ends as every event does (``end_event``), then its
runner is collected and what survives is frozen, as after each event. The handler is
compiled in the zygote (:func:`prepare`), by the same compiler and policy as any handler;
a worker that was not forked from the zygote has no rehearsal code and skips it.
"""

from __future__ import annotations

from types import CodeType
from typing import Any

__all__ = ["ANSWER", "EVENT", "MESSAGE", "SOURCE", "code", "prepare"]

SOURCE = """
import json
from functions_sdk import fetch

def on_track(event, settings):
    props = event.properties
    body = json.dumps({"user": event.userId, "event": event.event, "total": props.get("total")})
    response = fetch(settings["url"], method="POST", body=body,
                     headers={"Content-Type": "application/json"})
    return {"status": response.status, "answer": response.json()}
"""

EVENT: dict[str, Any] = {
    "type": "track",
    "event": "Rehearsal",
    "userId": "rehearsal",
    "messageId": "rehearsal-1",
    "timestamp": "2024-01-01T00:00:00Z",
    "properties": {"total": 1.5},
    "context": {"ip": "192.0.2.1", "library": {"name": "rehearsal", "version": "1"}},
}

MESSAGE: dict[str, Any] = {
    "settings": {"url": "http://rehearsal.invalid/", "token": "rehearsal"},
    "secret_names": ["token"],
}

ANSWER: dict[str, Any] = {
    "op": "answer",
    "status": 200,
    "headers": [["Content-Type", "application/json"]],
    "body": '{"ok":true}',
    "body_b64": False,
    "url": "http://rehearsal.invalid/",
}

_CODE: list[CodeType] = []


def prepare() -> None:
    """Compile :data:`SOURCE` (in the zygote, before any worker is forked)."""
    from ..compiler import compile_function

    report = compile_function(SOURCE, "rehearsal.py")
    if report.code is not None:
        _CODE[:] = [report.code]


def code() -> CodeType | None:
    """The compiled rehearsal handler, or None outside a zygote's child."""
    return _CODE[0] if _CODE else None
