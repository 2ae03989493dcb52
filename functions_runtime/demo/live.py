"""The second half of ``make demo``: ``functions serve`` with a real tracking client.

Starts ``functions serve`` on a free port with a throw-away data directory, creates a
source, deploys ``user_functions/signed_webhook`` pointed at the local sink, sends
events with ``segment-analytics-python`` (its host set to the server), and shows the
deliveries with ``functions stats`` and ``functions logs``. Every step is the CLI.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Live", "live_demo"]


@dataclass(frozen=True)
class Live:
    """The running server: its URL (the console is at ``/``), the API key to sign in
    with, the process, and how many events the demo delivered through it."""

    url: str
    api_key: str
    process: subprocess.Popen[str]
    delivered: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cli(env: dict[str, str], *args: str, show: bool = True) -> str:
    if show:
        print(f"\n$ functions {' '.join(args)}", flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "functions_runtime.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"functions {' '.join(args)} failed: {proc.stderr.strip()}")
    if show:
        print(proc.stdout.rstrip(), flush=True)
    return proc.stdout


def _send_with_segment_client(host: str, write_key: str, count: int) -> None:
    import segment.analytics as analytics  # a real tracking client, pointed at serve

    analytics.write_key = write_key
    analytics.host = host
    analytics.sync_mode = True  # one request per call: the demo shows each answer
    for i in range(count):
        analytics.track(f"user-{i % 3}", "Order Completed", {"order": i, "total": 10.5 * i})
    analytics.identify("user-1", {"email": "ada@example.com", "plan": "pro"})
    analytics.page("user-1", "Docs", "Getting started", {"path": "/docs"})
    analytics.flush()


def _wait_for_deliveries(env: dict[str, str], instance: str, expected: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = json.loads(_cli(env, "stats", instance, "--json", show=False))
        if stats["total"] >= expected:
            break
        time.sleep(0.3)
    return stats


@contextmanager
def live_demo(root: Path, sink_url: str) -> Iterator[Live]:
    """Run the live half of the demo; the server keeps running until the block ends."""
    data_dir = Path(tempfile.mkdtemp(prefix="functions-demo-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FUNCTIONS_API_URL": url,
        "FUNCTIONS_API_KEY": "fk_demo_" + secrets.token_urlsafe(16),
    }
    print(f"\n$ functions serve --port {port} --data-dir {data_dir} --allow-host 127.0.0.1")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_runtime.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--allow-host",
            "127.0.0.1",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=root,
    )
    try:
        assert server.stdout is not None
        print("  " + server.stdout.readline().rstrip(), flush=True)
        source = json.loads(_cli(env, "sources", "create", "web"))
        settings = data_dir / "settings.json"
        settings.write_text(json.dumps({"url": sink_url, "signing_secret": "demo-signing-secret"}))
        deployed = json.loads(
            _cli(
                env,
                "deploy",
                str(root / "user_functions" / "signed_webhook"),
                "--source",
                "web",
                "--settings",
                str(settings),
            )
        )
        count = 12
        print(
            f"\nSending {count + 2} events with segment-analytics-python "
            f"(host={url}, write key {source['write_key'][:8]}...)",
            flush=True,
        )
        _send_with_segment_client(url, source["write_key"], count)
        stats = _wait_for_deliveries(env, deployed["instance"], count + 2)
        _cli(env, "stats", deployed["instance"])
        _cli(env, "logs", deployed["instance"], "--limit", "3")
        delivered = int(stats.get("counts", {}).get("delivered", 0))
        yield Live(url, env["FUNCTIONS_API_KEY"], server, delivered)
    finally:
        server.terminate()
        server.wait(timeout=30)
