"""Shared helpers for the sandbox security suite (fixtures are in conftest.py).

Everything here runs in the *host* (the pytest process), the way the runtime does:

* canaries are put into the host's environment before any worker starts
  (``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_ACCESS_KEY_ID``,
  ``FUNCTIONS_API_KEY``);
* one :class:`WorkerPool` serves each test module (2 s timeout, 128 MB, 3 spares);
* instance A is a benign function with a secret setting canary and a module-state
  canary. It runs in the same pool before every hostile instance B, so its worker is
  alive (and its secrets are in memory) while B runs;
* a TCP listener on a free loopback port (port 0, the same on 127.0.0.1 and ::1)
  counts connections: a refused request must never open a socket. The cases name the
  port as ``CASE_PORT``; :meth:`Sandbox.source_of` puts the listener's port in its place.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
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

# The port the loopback SSRF cases write; replaced by the listener's (port 0) port.
CASE_PORT = 48081

TIMEOUT = 2.0
MEMORY_MB = 128

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
    """Accepts (and counts) TCP connections on 127.0.0.1 and ::1, one free port for both.

    Binding is not optional: a listener that could not bind would make the "no socket
    was opened" check vacuous, so a failure to bind raises. ``::1`` is skipped only
    where the host has no IPv6 loopback at all.
    """

    def __init__(self) -> None:
        self.connections: list[str] = []
        self._stop = threading.Event()
        self._sockets = self._bind()
        self.port: int = self._sockets[0].getsockname()[1]
        self.bound = [sock.getsockname()[0] for sock in self._sockets]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def _listen(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.bind((host, port))
            sock.listen(16)
            sock.settimeout(0.1)
        except OSError:
            sock.close()
            raise
        return sock

    def _bind(self) -> list[socket.socket]:
        ipv6 = _has_ipv6_loopback()
        for _ in range(50):
            v4 = self._listen(socket.AF_INET, "127.0.0.1", 0)
            if not ipv6:
                return [v4]
            try:
                v6 = self._listen(socket.AF_INET6, "::1", v4.getsockname()[1])
            except OSError:  # that port is taken on ::1: try another
                v4.close()
                continue
            return [v4, v6]
        raise RuntimeError("no free port on both 127.0.0.1 and ::1")

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


def _has_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        LoopbackListener._listen(socket.AF_INET6, "::1", 0).close()
    except OSError:
        return False
    return True


@dataclass
class Sandbox:
    """The production sandbox as the suite drives it."""

    pool: WorkerPool
    listener: LoopbackListener
    a_results: list[dict[str, Any]] = field(default_factory=list)

    def source_of(self, source: str) -> str:
        """A case's source aimed at the listener's port instead of ``CASE_PORT``."""
        return source.replace(str(CASE_PORT), str(self.listener.port))

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
        spec = self.spec_b(key, self.source_of(source))
        results: list[dict[str, Any]] = []
        for _ in range(runs):
            if batch:
                events = [json.loads(json.dumps(event)) for _ in range(batch)]
                results.extend(self.pool.invoke(spec, events, batch=True))
            else:
                results.extend(self.pool.invoke(spec, [event]))
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
