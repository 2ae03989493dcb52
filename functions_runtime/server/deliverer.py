"""``functions serve``'s delivery processes: the delivery loops in interpreters of their own.

The serve process answers the API and ingest; delivering (idempotency claims, the
sandbox invoke, delivery records, acks) runs in child processes, so that the two halves
do not share one interpreter lock. Each child opens the same data directory (SQLite
serialises the processes' writes), runs ``threads`` delivery loops over its own worker
pool, and stops, after settling what it holds, on SIGTERM or SIGINT or when its standard
input closes: the serve process stopped, or died (no orphan keeps delivering). The serve
process restarts a child that exits unexpectedly; jobs a dead child had received come
back after the visibility timeout.

Children run at a lower CPU priority than serve (``nice``, ``DELIVERY_NICENESS`` by
default; their zygote and sandbox workers inherit it): when ingest and delivery want
more CPU than the machine has, requests are answered (durably queued) first and
deliveries go on with what is left, catching up after the burst. Ingest is what
clients wait on; delivery is asynchronous by design. Under sustained overload the
queue grows either way; the priority only decides who waits.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from ..delivery.dispatch import DeliveryPolicy, Dispatcher, run_worker
from . import cpus

__all__ = ["DELIVERY_NICENESS", "WARM_WORKERS", "DeliveryProcesses", "main"]

_RESTART_DELAY = 1.0
DELIVERY_NICENESS = 10
"""How much lower than serve's the delivery processes' CPU priority is (``nice``)."""
WARM_WORKERS = 64
"""Sandbox workers each delivery process keeps warm (its pool's ``max_workers``)."""


def _policy_json(policy: DeliveryPolicy) -> str:
    fields: dict[str, Any] = asdict(policy)
    fields["max_age"] = policy.max_age.total_seconds()
    return json.dumps(fields)


def _policy(text: str) -> DeliveryPolicy:
    fields: dict[str, Any] = json.loads(text)
    fields["max_age"] = timedelta(seconds=float(fields["max_age"]))
    return DeliveryPolicy(**fields)


class DeliveryProcesses:
    """Starts ``count`` delivery processes, restarts any that dies, and stops them."""

    def __init__(
        self,
        count: int,
        data_dir: Path,
        allow: tuple[str, ...],
        *,
        threads: int,
        policy: DeliveryPolicy,
        niceness: int = DELIVERY_NICENESS,
        warm_workers: int = WARM_WORKERS,
        cpu_sets: Sequence[Collection[int] | None] = (),
    ) -> None:
        """``cpu_sets``: each slot's CPUs (``cpus.py``; missing or None: not pinned)."""
        self._cpu_sets = tuple(cpu_sets)
        self._command = [
            sys.executable,
            "-m",
            "functions_runtime.server.deliverer",
            "--data-dir",
            str(data_dir),
            "--threads",
            str(threads),
            "--policy",
            _policy_json(policy),
            "--nice",
            str(niceness),
            "--max-workers",
            str(warm_workers),
            *(f"--allow-host={host}" for host in allow),
        ]
        self._children: list[subprocess.Popen[bytes] | None] = [None] * count
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True, name="deliverers")

    def start(self) -> None:
        for slot in range(len(self._children)):
            self._children[slot] = self._spawn(slot)
        self._watcher.start()

    def pids(self) -> list[int]:
        return [child.pid for child in self._children if child is not None]

    def _spawn(self, slot: int) -> subprocess.Popen[bytes]:
        # stdin is the lifeline: the child stops when it closes. Output is the parent's.
        # Its own process group: Ctrl-C in a terminal (SIGINT to the foreground group)
        # reaches serve only, which stops the children in order (a child still
        # importing would die of KeyboardInterrupt with a traceback).
        mine = self._cpu_sets[slot] if slot < len(self._cpu_sets) else None
        command = self._command if not mine else [*self._command, f"--cpus={cpus.spelled(mine)}"]
        return subprocess.Popen(command, stdin=subprocess.PIPE, process_group=0)

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            for slot, child in enumerate(self._children):
                if child is None or child.poll() is None:
                    continue
                if self._stopping.is_set():
                    return
                print(
                    f"functions serve: delivery process {child.pid} exited with status "
                    f"{child.returncode}; starting another",
                    file=sys.stderr,
                    flush=True,
                )
                if child.stdin is not None:
                    child.stdin.close()
                if self._stopping.wait(_RESTART_DELAY):
                    return
                self._children[slot] = self._spawn(slot)

    def stopping(self) -> None:
        """From now on, a child that exits is not replaced (a signal to the whole
        process group stops the children while serve is still stopping)."""
        self._stopping.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every child to finish what it holds and exit; kill any still running after
        ``timeout`` seconds (its jobs come back after the visibility timeout)."""
        self._stopping.set()
        if self._watcher.is_alive():
            self._watcher.join()
        children = [child for child in self._children if child is not None]
        for child in children:
            if child.stdin is not None:
                child.stdin.close()
        deadline = time.monotonic() + timeout
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _watch_stdin(stop: threading.Event) -> None:
    """Set ``stop`` when standard input closes.

    It reads the file descriptor, not ``sys.stdin.buffer``: this daemon thread is still
    blocked in the read when a signal ends the process, and a buffered reader's lock
    held at interpreter shutdown aborts it ("Fatal Python error: _enter_buffered_busy").
    """
    try:
        while os.read(sys.stdin.fileno(), 65536):
            pass
    except OSError:
        pass
    finally:
        stop.set()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m functions_runtime.server.deliverer")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--policy", default=_policy_json(DeliveryPolicy()))
    parser.add_argument("--allow-host", dest="allow", action="append", default=[])
    parser.add_argument("--nice", type=int, default=0, help="lower this process's priority")
    parser.add_argument("--max-workers", type=int, default=WARM_WORKERS, help="warm workers")
    parser.add_argument("--cpus", type=cpus.parse, default=None, help="run on these (cpus.py)")
    args = parser.parse_args(argv)
    refused = cpus.pin_to(args.cpus)  # first: every thread, the zygote, workers inherit it
    if refused:
        print(f"functions serve: delivery process: {refused}", file=sys.stderr, flush=True)
    if args.nice > 0:
        os.nice(args.nice)  # first: the zygote and the workers inherit it

    from ..control.embedded import open_embedded
    from ..control.ports import StoreError
    from ..delivery.embedded import open_delivery
    from ..delivery.embedded.store import open_store

    data_dir = Path(args.data_dir)
    try:
        backend = open_embedded(data_dir)
        delivery = open_delivery(data_dir)
    except StoreError as exc:
        print(f"functions deliverer: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()
    from ..sandbox.host import isolation

    def emit(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    # The probe starts the zygote: the worker template is ready before the first event.
    store = open_store(data_dir)  # functions_sdk.store: shared with serve's API
    with isolation.pool(
        isolation.mode_from(), emit, max_workers=max(args.max_workers, 1), store=store
    ) as pool:
        dispatcher = Dispatcher(
            backend, delivery, pool, allow=tuple(args.allow), policy=_policy(args.policy)
        )
        loops = [
            threading.Thread(target=run_worker, args=(dispatcher, stop), name=f"delivery-{n}")
            for n in range(max(args.threads, 1))
        ]
        for loop in loops:
            loop.start()
        # The main thread waits where signals reach it; it also ends when every loop has.
        while any(loop.is_alive() for loop in loops) and not stop.wait(0.5):
            pass
        for loop in loops:
            loop.join()


if __name__ == "__main__":
    main()
