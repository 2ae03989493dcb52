"""``functions serve``: API, ingest and delivery on the embedded stores.

This process answers the API and ingest; ``processes`` delivery processes
(:mod:`functions_runtime.server.deliverer`) each run ``workers`` delivery loops, so ingest and
delivery do not share one interpreter lock.

The admin key comes from ``FUNCTIONS_API_KEY`` when set; otherwise one is generated
on first start, printed once and stored hashed. A ``default`` workspace is created
so that the admin key can deploy straight away.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from ..api.app import OpenApiDocument, build_app
from ..api.local import LocalApiServer
from ..control.embedded import open_embedded
from ..control.service import ControlPlane
from ..delivery.dispatch import DeliveryPolicy, Dispatcher
from ..delivery.embedded import open_delivery
from ..delivery.embedded.store import open_store
from ..delivery.ingest import Ingest
from ..sandbox.host import isolation
from . import cpus, latency
from .deliverer import DELIVERY_NICENESS, WARM_WORKERS, DeliveryProcesses

__all__ = ["serve"]


def serve(
    host: str,
    port: int,
    data_dir: Path,
    allow: tuple[str, ...],
    ready: threading.Event | None = None,
    workers: int = 2,
    policy: DeliveryPolicy | None = None,
    processes: int = 2,
    delivery_niceness: int = DELIVERY_NICENESS,
    warm_workers: int = WARM_WORKERS,
    cpu_affinity: str = "off",
    cpu_latency_qos: str = "off",
) -> None:
    """Run the API and ingest, and ``processes`` x ``workers`` delivery loops (at
    ``delivery_niceness`` lower CPU priority, see ``deliverer``), each keeping up to
    ``warm_workers`` sandbox workers warm, until SIGINT / SIGTERM. ``cpu_affinity``:
    ``on`` runs each process on CPUs of its own (``cpus.py``); the calling
    thread is pinned then, so call it from the main thread of a process of its own.
    ``cpu_latency_qos``: ``on`` keeps idle CPUs polling while serve runs (``latency.py``)."""
    plan = cpus.layout(cpu_affinity, processes)
    refused = cpus.pin_to(plan.serve)  # first: every thread and child below inherits it
    if refused:
        print(f"functions serve: --cpu-affinity: {refused}", file=sys.stderr, flush=True)
    backend = open_embedded(data_dir)
    delivery = open_delivery(data_dir)
    policy = policy or DeliveryPolicy()
    # The API's own pool runs test invocations; the delivery processes have theirs.
    mode = isolation.mode_from()
    store = open_store(data_dir)  # functions_sdk.store, in data_dir/store.db
    # Held until serve has stopped (the delivery processes included), released at exit.
    with (
        latency.hold(cpu_latency_qos) as qos,
        isolation.pool(
            mode, lambda line: print(line, flush=True), max_workers=16, store=store
        ) as pool,
    ):
        if qos.line:
            print(f"functions serve: --cpu-latency-qos: {qos.line}", file=sys.stderr, flush=True)
        plane = ControlPlane(backend, pool, allow=allow)
        generated, workspace = plane.bootstrap(os.environ.get("FUNCTIONS_API_KEY"))
        ingest = Ingest(backend.metadata, delivery.queue, delivery.deliveries)
        dispatcher = Dispatcher(backend, delivery, pool, allow=allow, policy=policy)
        deliverers = DeliveryProcesses(
            processes,
            data_dir,
            allow,
            threads=workers,
            policy=policy,
            niceness=delivery_niceness,
            warm_workers=warm_workers,
            cpu_sets=plan.deliveries,
        )
        openapi = OpenApiDocument()  # built once, for every thread's resolver
        server = LocalApiServer(
            (host, port), lambda: build_app(plane, ingest, delivery, dispatcher, openapi)
        )
        _log_server_lines()
        deliverers.start()
        url = f"http://{host}:{server.server_address[1]}"
        print(f"functions serve: listening on {url} (data in {data_dir})", flush=True)
        if generated:
            print("Admin API key (printed once; it is stored hashed):", flush=True)
            print(f"  export FUNCTIONS_API_KEY={generated}", flush=True)
        print(f"Default workspace: {workspace.id}", flush=True)

        def stop(signum: int, frame: FrameType | None) -> None:
            deliverers.stopping()
            server.request_shutdown()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        if ready is not None:
            ready.set()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.server_close()
            deliverers.stop(timeout=30)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    print("functions serve: stopped", file=sys.stderr, flush=True)


def _log_server_lines() -> None:
    """The HTTP server's notes (a client that hung up, a deep queue): one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("functions serve: %(message)s"))
    server_logger = logging.getLogger("waitress")
    server_logger.addHandler(handler)
    server_logger.setLevel(logging.INFO)
    server_logger.propagate = False
