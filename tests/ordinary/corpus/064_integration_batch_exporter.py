"""A batch exporter: functools and itertools to group, chunk and total events."""
from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from typing import Any, Iterable, Iterator

CHUNK = 2


def chunked(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(rows)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


@functools.lru_cache(maxsize=None)
def column(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def to_row(event) -> dict[str, Any]:
    props = event.properties
    return {column("User Id"): event.userId, column("Event"): event.event,
            column("Total"): props.get("total", 0)}


def on_batch(events, settings):
    rows = [to_row(e) for e in events]
    by_event = defaultdict(list)
    for key, group in itertools.groupby(sorted(rows, key=lambda r: r["event"]), key=lambda r: r["event"]):
        by_event[key].extend(group)
    totals = {k: functools.reduce(lambda a, r: a + r["total"], v, 0) for k, v in by_event.items()}
    chunks = list(chunked(rows, CHUNK))
    running = list(itertools.accumulate(r["total"] for r in rows))
    summary = {"chunks": len(chunks), "totals": totals, "running": running}
    return [dict(row, summary=summary) for row in rows]


def on_track(event, settings):
    other = type(event).model_validate({"type": "track", "event": "Signed Up", "userId": "u2",
                                        "properties": {"total": 0}})
    return on_batch([event, other, event], settings)
