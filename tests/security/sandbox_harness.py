"""Shared helpers for the sandbox security suite (fixtures are in conftest.py).

Everything here runs in the *host* (the pytest process), the way the runtime does:

* canaries are put into the host's environment before any worker starts
  (``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_ACCESS_KEY_ID``,
  ``FUNCTIONS_API_KEY``);
* one :class:`WorkerPool` serves each test module (2 s timeout, 128 MB, 3 spares);
* instance A is a benign function with a secret setting canary and a module-state
  canary. It runs in the same pool before every hostile instance B, so its worker is
  alive (and its secrets are in memory) while B runs;
* a TCP listener on the loopback port the SSRF cases aim at counts connections: a
  refused request must never open a socket.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool

SUFFIX = secrets.token_hex(8)

# Canaries in the host's environment: what a Lambda runtime holds.
ENV_CANARIES: dict[str, str] = {
    "AWS_SECRET_ACCESS_KEY": f"CANARY-AWS-{SUFFIX}",
    "AWS_SESSION_TOKEN": f"CANARY-TOKEN-{SUFFIX}",
    "AWS_ACCESS_KEY_ID": f"CANARY-AKID-{SUFFIX}",
    "FUNCTIONS_API_KEY": f"CANARY-FUNCAPI-{SUFFIX}",
}
# Another tenant's instance (A): a secret setting and module-level state.
A_SECRET = f"CANARY-ASECRET-{SUFFIX}"
A_STATE = f"CANARY-ASTATE-{SUFFIX}"
ALL_CANARIES: tuple[str, ...] = (*ENV_CANARIES.values(), A_SECRET, A_STATE)
# Evidence that a case read files or the environment even without a canary in them.
ESCAPE_MARKERS: tuple[str, ...] = ("root:x:0:0:", "PATH=/usr/local/bin:/usr/bin:/bin")

LOOPBACK_PORT = 48081  # the port every loopback SSRF case aims at

TIMEOUT = 2.0
MEMORY_MB = 128
# CPU seconds the host itself may spend on one invocation of a hostile instance
# (compiling, starting the worker, reading frames): hostile code must not make the
# host do its work.
HOST_CPU_BUDGET = 0.25

DEFAULT_EVENT: dict[str, Any] = {
    "type": "track",
    "event": "Security Probe",
    "userId": "attacker-1",
    "properties": {"plan": "pro"},
}

B_SETTINGS: dict[str, Any] = {"url": "https://hooks.example.com/in", "api_key": "b-own-key"}

INSTANCE_A_SOURCE = f'''
from functions_sdk import Settings, TrackEvent

STATE = {{"marker": "{A_STATE}", "seen": 0}}


def on_track(event: TrackEvent, settings: Settings) -> dict:
    STATE["seen"] += 1
    key = settings.get_str("api_key")
    return {{"ok": key.startswith("CANARY-") and STATE["marker"].startswith("CANARY-")}}
'''


def leaks_in(text: str) -> list[str]:
    """Canaries and escape markers found in ``text``."""
    return [marker for marker in (*ALL_CANARIES, *ESCAPE_MARKERS) if marker in text]


class LoopbackListener:
    """Accepts (and counts) TCP connections on 127.0.0.1 and ::1, port LOOPBACK_PORT."""

    def __init__(self) -> None:
        self.connections: list[str] = []
        self.bound: list[str] = []
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, LOOPBACK_PORT))
                sock.listen(16)
                sock.settimeout(0.1)
            except OSError:  # taken (another run of the suite): close it, count nothing
                sock.close()
                continue
            self._sockets.append(sock)
            self.bound.append(host)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for sock in self._sockets:
                try:
                    conn, addr = sock.accept()
                except (TimeoutError, OSError):
                    continue
                self.connections.append(str(addr[0]))
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for sock in self._sockets:
            sock.close()


@dataclass
class Sandbox:
    """The production sandbox as the suite drives it."""

    pool: WorkerPool
    listener: LoopbackListener
    a_results: list[dict[str, Any]] = field(default_factory=list)
    host_cpu: list[float] = field(default_factory=list)  # host CPU seconds per run_b run

    @property
    def a_spec(self) -> InstanceSpec:
        return InstanceSpec(
            key="security-instance-a",
            source=INSTANCE_A_SOURCE,
            filename="handler.py",
            timeout=TIMEOUT,
            memory_mb=MEMORY_MB,
            settings={"api_key": A_SECRET},
            secret_names=("api_key",),
        )

    def run_a(self) -> dict[str, Any]:
        """Run (and keep warm) the benign instance A."""
        [result] = self.pool.invoke(self.a_spec, [dict(DEFAULT_EVENT, userId="tenant-a")])
        self.a_results.append(result)
        return result

    def spec_b(self, key: str, source: str, kind: str = "destination") -> InstanceSpec:
        return InstanceSpec(
            key=key,
            source=source,
            filename="handler.py",
            kind=kind,
            timeout=TIMEOUT,
            memory_mb=MEMORY_MB,
            settings=dict(B_SETTINGS),
            secret_names=("api_key",),
        )

    def run_b(
        self, key: str, source: str, event: Any, runs: int = 1, batch: int = 0
    ) -> list[dict[str, Any]]:
        """Run hostile instance B ``runs`` times (same worker while it lives), real network.

        With ``batch`` > 0 each run sends that many copies of ``event`` as one batch.
        """
        spec = self.spec_b(key, source)
        results: list[dict[str, Any]] = []
        self.host_cpu = []
        for _ in range(runs):
            started = time.process_time()
            if batch:
                events = [json.loads(json.dumps(event)) for _ in range(batch)]
                results.extend(self.pool.invoke(spec, events, batch=True))
            else:
                results.extend(self.pool.invoke(spec, [event]))
            self.host_cpu.append(time.process_time() - started)
        return results

    def worker_environments(self) -> dict[int, bytes]:
        """``/proc/<pid>/environ`` of every live worker (read from the host)."""
        out: dict[int, bytes] = {}
        for pid in self.pool.worker_pids():
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    out[pid] = fh.read()
            except OSError:
                continue
        return out
