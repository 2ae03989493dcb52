"""``python -m bench.delivery_loop``: the delivery loop's own CPU per event.

Issue 16 §4's latency at 3,000 events/s is decided by how much CPU the delivery
processes spend per event: the ingest bench's machine is nearly full at that rate. This
drives the real parts of one delivery loop on one thread, in process, with the embedded
backend in a temporary directory: ingest queues ``--events`` copies of the ingest
bench's ``Order Completed`` event (20 per request), then the loop receives up to 100
jobs at a time, and ``Dispatcher.process`` claims, invokes, records and settles them,
as ``run_worker`` does. The figure is that thread's CPU (``time.thread_time``) per
event: the receive, the idempotency claims and completions, the records and the acks,
and the host's side of the sandbox (frames, the broker's requests); not the sandbox
workers' CPU, nor the sink's. Every run checks that every event was delivered.

``--handler signed_webhook`` (the default) is the ingest bench's function
(``user_functions/signed_webhook``: ``on_batch``, one signed POST per 20 events, to the
bench's sink); ``--handler cpu`` returns at once. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from functions_runtime.control.auth import Principal
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.models import Source
from functions_runtime.control.service import ControlPlane
from functions_runtime.delivery.dispatch import Dispatcher, Settlement, _apply
from functions_runtime.delivery.embedded import open_delivery
from functions_runtime.delivery.ingest import Ingest
from functions_runtime.delivery.ports import DeliveryBackend
from functions_runtime.sandbox.host.pool import WorkerPool

from .ingest import _event_template
from .paths import BenchError
from .sink import HOST, Sink

__all__ = ["main", "measure"]

ROOT = Path(__file__).resolve().parent.parent
ADMIN = Principal("key_admin", None, True)
RECEIVE = 100  # run_worker's max_messages
CPU_HANDLER = """
def on_track(event, settings):
    return {"seen": event.event}
"""


def _files(handler: str) -> dict[str, str]:
    if handler == "cpu":
        return {"handler.py": CPU_HANDLER}
    folder = ROOT / "user_functions" / handler
    return {path.name: path.read_text() for path in sorted(folder.iterdir()) if path.is_file()}


class _Loop:
    """A deployed function, its source and one delivery loop's parts, in ``data``."""

    def __init__(self, data: Path, handler: str, sink_url: str, pool: WorkerPool) -> None:
        control = open_embedded(data)
        self.delivery: DeliveryBackend = open_delivery(data)
        plane = ControlPlane(control, pool, allow=(HOST,))
        _, workspace = plane.bootstrap("admin")
        self.source: Source
        self.source, _ = plane.create_source(ADMIN, workspace.id, "bench")
        function, _ = plane.create_function(
            ADMIN, workspace.id, files=_files(handler), name=handler
        )
        settings = {"url": sink_url, "signing_secret": "bench"} if handler != "cpu" else {}
        plane.deploy(ADMIN, workspace.id, function.id, source_id=self.source.id, settings=settings)
        self.ingest = Ingest(control.metadata, self.delivery.queue, self.delivery.deliveries)
        self.dispatcher = Dispatcher(control, self.delivery, pool, allow=(HOST,))
        self._template = _event_template()

    def queue(self, events: int, prefix: str) -> None:
        head, middle, tail = self._template
        for start in range(0, events, 20):
            batch = [
                json.loads(f"{head}{prefix}{n}{middle}{time.time()}{tail}")
                for n in range(start, min(start + 20, events))
            ]
            self.ingest.enqueue(self.source, batch)

    def drain(self) -> tuple[int, float, dict[str, int]]:
        """Deliver everything queued: (events, loop-thread CPU seconds, outcomes)."""
        queue = self.delivery.queue
        done, cpu, outcomes = 0, 0.0, {}

        def settle(settlements: list[Settlement]) -> None:
            for settlement in settlements:
                outcomes[str(settlement.outcome)] = outcomes.get(str(settlement.outcome), 0) + 1
            _apply(queue, settlements)  # as run_worker settles

        while True:
            started = time.thread_time()
            jobs = queue.receive(RECEIVE, visibility_timeout=30)
            if jobs:
                self.dispatcher.process(jobs, settle=settle)
            cpu += time.thread_time() - started
            if not jobs:
                return done, cpu, outcomes
            done += len(jobs)


def measure(
    events: int = 2000, repeat: int = 3, handler: str = "signed_webhook"
) -> list[dict[str, Any]]:
    """One row per repeat, after a warm-up of 200 events (worker start, connections)."""
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp,
        Sink() as sink,
        WorkerPool(max_workers=4, spares=0) as pool,
    ):
        loop = _Loop(Path(tmp) / "data", handler, sink.url, pool)
        loop.queue(200, "warm-")
        loop.drain()
        for run in range(repeat):
            loop.queue(events, f"r{run}-")
            done, cpu, outcomes = loop.drain()
            if outcomes != {"delivered": events} or done != events:
                raise BenchError(f"{events} events queued, {done} taken: {outcomes}")
            rows.append({"events": done, "cpu_us": cpu / max(done, 1) * 1e6, "outcomes": outcomes})
    return rows


def render(rows: Sequence[dict[str, Any]], handler: str) -> str:
    lines = [f"delivery loop thread, {handler}: CPU µs per event (outcomes)"]
    for row in rows:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(row["outcomes"].items()))
        lines.append(f"{row['cpu_us']:7.1f}  ({row['events']} events: {outcomes})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery_loop", description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--handler", choices=("signed_webhook", "cpu"), default="signed_webhook")
    args = parser.parse_args(argv)
    print(render(measure(args.events, args.repeat, args.handler), args.handler))


if __name__ == "__main__":
    main()
