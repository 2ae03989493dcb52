"""A minimal HTTP receiver on 127.0.0.1 for the handler's POSTs.

It runs in its own process (``python -m bench.sink``) so that its threads do not
compete for the GIL with the in-process baselines being timed. It answers every
request with ``200`` and a tiny JSON body, prints its port on the first line of
stdout, and exits when its stdin closes (the bench ended) or after
``MAX_LIFETIME`` seconds, whichever comes first.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .procstat import cpu_seconds

__all__ = ["HOST", "Sink", "main"]

HOST = "127.0.0.1"
STATS_PATH = "/__sink_stats"
MAX_LIFETIME = 1800.0
_ROOT = Path(__file__).resolve().parent.parent
_counter = itertools.count(1)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1: connections are kept alive, as a real endpoint does; both the host's
    # broker (http.client connections) and the in-process baseline (urllib3) reuse theirs.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms ACK wait
    server_version = "bench-sink"
    sys_version = ""

    def _answer(self) -> None:
        if self.path == STATS_PATH:
            self._stats()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b'{"ok":true,"id":"r%d"}' % next(_counter)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stats(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        server.questions += 1  # each question comes on a connection of its own
        body = json.dumps({"connections": server.connections - server.questions}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = _answer
    do_PUT = _answer
    do_GET = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    connections = 0
    """Connections accepted so far."""
    questions = 0
    """Of which, those that asked for these figures."""

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1  # only the serving thread accepts: no lock needed
        super().process_request(request, client_address)


def serve_until_stdin_closes(
    server: ThreadingHTTPServer, lifetime: float, poll_interval: float
) -> None:
    """Print the port, then serve until stdin closes or ``lifetime`` seconds pass (a sink
    process never outlives the bench that started it)."""
    print(server.server_address[1], flush=True)

    def watch_stdin() -> None:
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=watch_stdin, daemon=True).start()
    timer = threading.Timer(lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        server.serve_forever(poll_interval=poll_interval)
    finally:
        timer.cancel()
        server.server_close()


def main() -> None:
    """Serve until stdin closes or ``MAX_LIFETIME`` passes."""
    serve_until_stdin_closes(_Server((HOST, 0), _Handler), MAX_LIFETIME, 0.5)


class Sink:
    """The sink process, as a context manager: ``with Sink() as sink: sink.url``."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/events"

    def usage(self) -> tuple[int, float]:
        """Connections the sink has accepted (not counting these questions') and
        the CPU seconds it has used so far: what a real endpoint would pay on its own
        machine, paid here on the bench's."""
        assert self._proc is not None, "the sink is not running"
        url = f"http://{HOST}:{self.port}{STATS_PATH}"
        with urllib.request.urlopen(url, timeout=30) as answer:
            connections = int(json.load(answer)["connections"])
        return connections, cpu_seconds([self._proc.pid])

    def start(self) -> Sink:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sink"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=_ROOT,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the HTTP sink did not start (printed {line!r})")
        self.port = int(line)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    main()
