"""Browser tests of the web console: Debian's chromium driven by Playwright for Python,
against a real ``functions serve`` (port 0) and a local sink the test controls.

Skipped, with the reason, only where chromium or the console's build is missing
(``make chromium`` installs the one, ``make console`` builds the other).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
BUILT = ROOT / "functions_runtime" / "console" / "static" / "index.html"
SCREENS = ROOT / "build" / "console-screens"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN_KEY = "fk_console-e2e-admin-key-0123456789"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Sink(ThreadingHTTPServer):
    """The customer's endpoint. ``broken``: it answers 503 unless the request carries
    ``X-Api-Version: 2`` (what the fixed version of the function sends)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.received: list[Received] = []
        self.broken = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _SinkHandler(BaseHTTPRequestHandler):
    server: Sink
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.received.append(Received(self.path, headers, body))
        ok = not self.server.broken or headers.get("x-api-version") == "2"
        answer = b'{"ok": true}' if ok else b'{"error": "upgrade to API version 2"}'
        self.send_response(200 if ok else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@dataclass
class Served:
    url: str
    output: list[str] = field(default_factory=list)


@contextlib.contextmanager
def serving(data_dir: Path) -> Iterator[Served]:
    """``functions serve`` on a free port, retries fast (base 50 ms, 2 attempts)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCTIONS_")}
    env.update(FUNCTIONS_API_KEY=ADMIN_KEY, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "functions_runtime.cli", "serve", "--port", "0"]
    flags = ["--data-dir", str(data_dir), "--allow-host", "127.0.0.1"]
    flags += ["--delivery-processes", "1", "--workers", "2"]
    flags += ["--max-attempts", "2", "--retry-base", "0.05", "--retry-window", "1"]
    with subprocess.Popen(
        [*command, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    ) as process:
        served = Served("")
        ready = threading.Event()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                served.output.append(line)
                match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
                if match:
                    served.url = match.group(1)
                if line.startswith("Default workspace:"):
                    ready.set()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 30
            while not ready.wait(0.1):
                assert process.poll() is None, "".join(served.output)
                assert time.monotonic() < deadline, "".join(served.output)
            yield served
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            reader.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (make chromium installs Debian's chromium)")
    if not BUILT.exists():
        pytest.skip("the console is not built (make console)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()
