"""Scenario 4, ingest: ``functions serve`` accepting ``/v1/batch`` from concurrent clients.

Three kinds of process besides this one, all on 127.0.0.1:

* ``functions serve`` (``python -m functions_runtime.cli serve``) on a fresh data dir,
  with ``user_functions/signed_webhook`` deployed for one source and pointed at
* the **recording sink** (``python -m bench.ingest sink``), which notes, for every
  messageId it is sent, the time it arrived and the event's ``receivedAt`` (ingest's
  stamp);
* the **load clients** (``python -m bench.ingest load SPEC``): processes with a few
  threads each, one persistent ``http.client`` connection per thread, posting
  ``/v1/batch`` with HTTP Basic auth (the write key); every event carries its send
  time in ``properties.bench_sent_at``.

Per batch size, on two fresh servers (no backlog carried over):

* *saturation*: the clients post as fast as they are answered. Accepted throughput is
  the events in requests answered 200 with every event queued, over the window (from
  the clients' common start to the later of its end and the last answer);
* *light* then *paced*, on the second server: the clients send on a fixed schedule,
  first at a tenth of the target rate, then at the target rate (both capped below the
  saturation rate, so that the offered load is really offered). After each, the bench
  waits (bounded) for the deliveries; latency per accepted event is sink arrival time
  minus client send time (one host clock), reported as p50 / p95 / p99 / max. Events
  still undelivered when the wait ends count as "at least" their age then, and a
  percentile that such an event reaches is marked ``_at_least``.

The server, its delivery process and sandbox workers, the sink and the clients share
this machine's cores; CPU is sampled per process over each window so the report can
say who used what.
Every loop is bounded in count and time. ``BENCH_INGEST_KEEP=1`` keeps the data dirs
and the servers' logs and prints where they are.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

from .procstat import cpu_seconds, descendants, machine_busy_seconds
from .sink import serve_until_stdin_closes

__all__ = ["IngestParams", "RecordingSink", "run_ingest"]

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "user_functions" / "signed_webhook"
ADMIN_KEY = "fk_bench_ingest_admin_key_0123456789"
SINK_LIFETIME = 600.0
"""The sink exits by itself after this long, should the bench die without closing it."""
CLIENT_START_DELAY = 0.5
"""Clients are told to start this long after all of them are ready (imported, with
their events' template built), all at once: a slow machine delays the phase, not its
first requests."""
REQUEST_TIMEOUT = 15.0
DRAIN_RATE_MIN = 200


@dataclass(frozen=True)
class IngestParams:
    batch_sizes: tuple[int, ...] = (1, 20, 100)
    clients: int = 4
    """Load-generator processes."""
    connections: int = 2
    """Persistent connections (one thread each) per client process."""
    saturate_seconds: float = 4.0
    light_seconds: float = 3.0
    """A first paced phase at a tenth of the target (at most half the saturation rate)."""
    paced_seconds: float = 4.0
    target_rate: float = 3000.0
    """Events/s offered in the paced phase (capped at 0.9 x the saturation rate)."""
    drain_seconds: float = 4.0
    """How long after each paced phase to wait for the last deliveries."""
    start_delay: float = CLIENT_START_DELAY
    max_events: int = 100_000
    """Per phase and client process, whatever the time left."""
    warmup_events: int = 20
    budget_seconds: float = 85.0
    """Phases that would start after this are skipped (and reported as such)."""
    serve_args: tuple[str, ...] = ()
    """Extra ``functions serve`` flags (e.g. ``--delivery-processes 2``)."""


def _fail(message: str) -> NoReturn:
    # Imported here: bench.paths loads the runtime, which the helper processes never need.
    from .paths import BenchError

    raise BenchError(message) from None


# ------------------------------------------------------------------------------ events

_SENT_MARK = 987654321.123456
_ID_MARK = "BENCH-MESSAGE-ID"


def _event_template() -> tuple[str, str, str]:
    """A typical ``Order Completed`` track event as JSON, cut around its messageId and
    send time so that a client only joins strings per event."""
    event = {
        "type": "track",
        "event": "Order Completed",
        "userId": "user_00042",
        "anonymousId": "0b5b2e4a-7c1d-4f3a-9e60-000000000042",
        "messageId": _ID_MARK,
        "timestamp": "2024-11-24T00:00:00.123Z",
        "context": {
            "ip": "203.0.113.42",
            "locale": "en-US",
            "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15",
            "library": {"name": "analytics-python", "version": "2.3.2"},
            "page": {"path": "/checkout/complete", "url": "https://shop.example.com/checkout"},
        },
        "properties": {
            "order_id": "50314b8e9bcf000000000042",
            "revenue": 25.0,
            "currency": "usd",
            "products": [
                {"product_id": "507f1f77bcf86cd799439011", "sku": "45790-32", "price": 19.0},
                {"product_id": "507f1f77bcf86cd799439012", "sku": "46493-32", "price": 3.0},
            ],
            "bench_sent_at": _SENT_MARK,
        },
    }
    text = json.dumps(event, separators=(",", ":"))
    head, rest = text.split(_ID_MARK)
    middle, tail = rest.split(repr(_SENT_MARK))
    return head, middle, tail


# ------------------------------------------------------------------------- the sink


class _SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # fetch opens a connection per request anyway
    server_version = "bench-ingest-sink"
    sys_version = ""
    server: _SinkServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        arrived = time.time()
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        events = data if isinstance(data, list) else [data]
        rows = []
        for event in events:
            if isinstance(event, dict) and isinstance(event.get("messageId"), str):
                sent = (event.get("properties") or {}).get("bench_sent_at")
                rows.append((event["messageId"], arrived, event.get("receivedAt"), sent))
        self.server.note(rows)
        self._reply(b'{"ok":true}')

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        prefix = (parse_qs(url.query).get("prefix") or [""])[0]
        if url.path == "/count":
            self._reply(json.dumps(self.server.count(prefix)).encode())
        elif url.path == "/records":
            self._reply(json.dumps(self.server.records(prefix)).encode())
        else:
            self.send_error(404)

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self) -> None:
        super().__init__((HOST, 0), _SinkHandler)
        self.lock = threading.Lock()
        # messageId -> [arrived (epoch s), receivedAt (ISO text), sent (epoch s), copies]
        self.seen: dict[str, list[Any]] = {}

    def note(self, rows: list[tuple[str, float, Any, Any]]) -> None:
        with self.lock:
            for message_id, arrived, received_at, sent in rows:
                entry = self.seen.get(message_id)
                if entry is None:
                    self.seen[message_id] = [arrived, received_at, sent, 1]
                else:
                    entry[3] += 1

    def count(self, prefix: str) -> dict[str, int]:
        with self.lock:
            entries = [e for k, e in self.seen.items() if k.startswith(prefix)]
        return {"events": len(entries), "copies": sum(e[3] for e in entries)}

    def records(self, prefix: str) -> dict[str, list[Any]]:
        with self.lock:
            return {k: list(e) for k, e in self.seen.items() if k.startswith(prefix)}


def sink_main() -> None:
    """``python -m bench.ingest sink``: print the port, serve until stdin closes."""
    serve_until_stdin_closes(_SinkServer(), SINK_LIFETIME, 0.2)


class RecordingSink:
    """The recording sink process: ``with RecordingSink() as sink: sink.url``."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/hook"

    def __enter__(self) -> RecordingSink:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.ingest", "sink"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.__exit__(None, None, None)
            _fail(f"the recording sink did not start (printed {line!r})")
        self.port = int(line)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self.proc = self.proc, None
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

    def _get(self, path: str, prefix: str) -> Any:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            conn.request("GET", f"{path}?prefix={prefix}")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def count(self, prefix: str) -> int:
        return int(self._get("/count", prefix)["events"])

    def records(self, prefix: str) -> dict[str, list[Any]]:
        data: dict[str, list[Any]] = self._get("/records", prefix)
        return data

    def cpu(self) -> float:
        return cpu_seconds([self.proc.pid]) if self.proc is not None else 0.0


# ---------------------------------------------------------------------- the clients


def _connection_loop(
    spec: dict[str, Any], index: int, out: dict[str, Any], template: tuple[str, str, str]
) -> None:
    """One persistent connection: post batches until ``end_at`` or ``max_events``."""
    head, middle, tail = template
    batch = int(spec["batch"])
    interval = float(spec["interval"])  # seconds between requests; 0: as fast as answered
    start_at, end_at = float(spec["start_at"]), float(spec["end_at"])
    max_events = int(spec["max_events"])
    prefix = f"{spec['prefix']}{index}-"
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Basic "
        + base64.b64encode(f"{spec['write_key']}:".encode()).decode("ascii"),
    }
    accepted: list[list[float]] = []  # [first seq, events, sent at, answered at]
    statuses: dict[str, int] = {}
    errors: list[str] = []
    conn = http.client.HTTPConnection(HOST, int(spec["port"]), timeout=REQUEST_TIMEOUT)
    seq = 0
    requests = 0
    time.sleep(max(0.0, start_at - time.time()))
    ready = time.time()
    # Paced streams are staggered evenly over one interval, so that together they send
    # at the offered rate even when the interval is longer than the phase.
    first = start_at + interval * int(spec["stream_base"] + index) / int(spec["streams"])
    while seq + batch <= max_events:
        if interval:
            due = first + requests * interval
            if due >= end_at:
                break
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
        sent = time.time()
        if sent >= end_at:
            break
        stamp = repr(sent)
        events = [f"{head}{prefix}{seq + k}{middle}{stamp}{tail}" for k in range(batch)]
        body = ('{"batch":[' + ",".join(events) + "]}").encode()
        requests += 1
        try:
            conn.request("POST", "/v1/batch", body, headers)
            response = conn.getresponse()
            answer = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            status = 0
            if len(errors) < 5:
                errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection(HOST, int(spec["port"]), timeout=REQUEST_TIMEOUT)
            time.sleep(0.05)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 200 and json.loads(answer).get("queued") == batch:
            accepted.append([seq, batch, sent, time.time()])
        seq += batch
    conn.close()
    out[str(index)] = {
        "prefix": prefix,
        "late_start": max(0.0, ready - start_at),
        "requests": requests,
        "accepted": accepted,
        "statuses": statuses,
        "errors": errors,
    }


def load_main(text: str) -> None:
    """``python -m bench.ingest load SPEC``: say ``ready``, read the window's
    ``start_at`` and ``end_at`` (a JSON line on stdin), post as SPEC (JSON) says within
    it, print JSON."""
    spec = json.loads(text)
    template = _event_template()
    print("ready", flush=True)
    spec.update(json.loads(sys.stdin.readline()))
    out: dict[str, Any] = {}
    threads = [
        threading.Thread(target=_connection_loop, args=(spec, i, out, template), daemon=True)
        for i in range(int(spec["connections"]))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=float(spec["end_at"]) - time.time() + 2 * REQUEST_TIMEOUT)
    print(json.dumps({"connections": out, "cpu_seconds": time.process_time()}), flush=True)


def _run_clients(
    params: IngestParams,
    port: int,
    write_key: str,
    prefix: str,
    batch: int,
    rate: float,
    seconds: float,
    at_edges: Callable[[], None],
) -> dict[str, Any]:
    """Start ``params.clients`` load processes together; their merged results.

    ``at_edges`` is called when the clients start sending and when they should stop."""
    streams = params.clients * params.connections
    # Paced: each connection sends one request every `interval` seconds.
    interval = (batch * streams / rate) if rate > 0 else 0.0
    procs = []
    for c in range(params.clients):
        spec = {
            "port": port,
            "write_key": write_key,
            "prefix": f"{prefix}c{c}.",
            "batch": batch,
            "interval": interval,
            "max_events": params.max_events // params.connections,
            "connections": params.connections,
            "stream_base": c * params.connections,
            "streams": streams,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.ingest", "load", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            text=True,
        )
        procs.append(proc)
    results = []
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                _fail(f"a load client failed to start (exit {proc.wait()})")
        start_at = time.time() + params.start_delay
        end_at = start_at + seconds
        window = json.dumps({"start_at": start_at, "end_at": end_at}) + "\n"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(window)
            proc.stdin.flush()  # communicate() closes it
        for edge in (start_at, end_at):
            time.sleep(max(0.0, edge - time.time()))
            at_edges()
        deadline = end_at + 2 * REQUEST_TIMEOUT + 5
        for proc in procs:
            try:
                out, _ = proc.communicate(timeout=max(1.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                _fail("a load client did not finish in time")
            if proc.returncode != 0 or not out.strip():
                _fail(f"a load client failed (exit {proc.returncode})")
            results.append(json.loads(out))
    finally:
        for proc in procs:  # only after a failure: the others are not waited for then
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    connections = [c for r in results for c in r["connections"].values()]
    statuses: dict[str, int] = {}
    for c in connections:
        for status, n in c["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    accepted = [(c["prefix"], row) for c in connections for row in c["accepted"]]
    return {
        "start_at": start_at,
        "end_at": end_at,
        "interval": interval,
        "requests": sum(c["requests"] for c in connections),
        "accepted": accepted,
        "statuses": statuses,
        "errors": [e for c in connections for e in c["errors"]][:5],
        "late_start": max((float(c["late_start"]) for c in connections), default=0.0),
        "cpu_seconds": sum(float(r["cpu_seconds"]) for r in results),
    }


# ------------------------------------------------------------------------ the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """``functions serve`` on a fresh data dir, with signed_webhook deployed."""

    def __init__(self, data_dir: Path, serve_args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.serve_args = serve_args
        self.port = _free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = data_dir.parent / f"{data_dir.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.write_key = ""

    def start(self, sink_url: str, timeout: float = 30.0) -> None:
        env = {**os.environ, "FUNCTIONS_API_KEY": ADMIN_KEY, "FUNCTIONS_API_URL": self.url}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "functions_runtime.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    "--allow-host",
                    HOST,
                    *self.serve_args,
                ],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self._up():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                _fail(f"functions serve did not start: {self._log_tail()}")
            time.sleep(0.05)
        self._deploy(sink_url)

    def _up(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-1500:]
        except OSError:
            return "(no log)"

    def _deploy(self, sink_url: str) -> None:
        from functions_runtime.cli.client import ApiClient, ApiError, read_function_files

        api = ApiClient(self.url, ADMIN_KEY, timeout=30)
        try:
            self.write_key = api.call("POST", "/v1/sources", {"name": "bench"})["write_key"]
            files = read_function_files(str(FUNCTION_DIR))
            created = api.call("POST", "/v1/functions", {"name": "bench-hook", "files": files})
            api.call(
                "POST",
                f"/v1/functions/{created['function']['id']}/deploy",
                {
                    "version": created["version"]["id"],
                    "source": "bench",
                    "settings": {"url": sink_url, "signing_secret": "whsec_bench_s3cr3t"},
                },
            )
        except ApiError as exc:
            _fail(f"deploying to functions serve failed: {exc}")

    def pids(self) -> list[int]:
        if self.proc is None:
            return []
        return [self.proc.pid, *descendants(self.proc.pid)]

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _warm_up(server: Server, sink: RecordingSink, prefix: str, events: int) -> None:
    """Post ``events`` and wait (bounded) until the sink has them: the sandbox worker
    is started, the handler compiled and the routes cached before any timing."""
    template = _event_template()
    head, middle, tail = template
    stamp = repr(time.time())
    body = (
        '{"batch":['
        + ",".join(f"{head}{prefix}{i}{middle}{stamp}{tail}" for i in range(events))
        + "]}"
    )
    key = base64.b64encode(f"{server.write_key}:".encode()).decode()
    conn = http.client.HTTPConnection(HOST, server.port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request(
            "POST",
            "/v1/batch",
            body.encode(),
            {"Content-Type": "application/json", "Authorization": f"Basic {key}"},
        )
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    if response.status != 200:
        _fail(f"warm-up batch answered {response.status}: {answer[:200]!r}")
    deadline = time.monotonic() + 30
    while sink.count(prefix) < events:
        if time.monotonic() > deadline:
            _fail(f"warm-up events never reached the sink: {server._log_tail()}")
        time.sleep(0.05)


# ------------------------------------------------------------------------- figures


def _latency(pairs: list[tuple[float, bool]]) -> dict[str, Any]:
    """Nearest-rank p50 / p95 / p99 / max in ms of ``(seconds, censored)`` pairs.

    A censored value (an event not delivered when the bench stopped waiting) is a lower
    bound; a percentile is marked ``_at_least`` when a censored value ranks at or below
    it, since the true one may then be higher."""
    if not pairs:
        return {"n": 0}
    data = sorted(pairs)
    first_censored = next((i for i, (_, c) in enumerate(data) if c), len(data))
    out: dict[str, Any] = {"n": len(data)}
    for name, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100)):
        rank = max(1, min(len(data), -(-q * len(data) // 100)))
        out[name] = round(data[rank - 1][0] * 1000, 1)
        out[f"{name}_at_least"] = rank - 1 >= first_censored
    return out


def _epoch(iso: Any) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _per_s(count: float, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def _phase(
    params: IngestParams,
    server: Server,
    sink: RecordingSink,
    prefix: str,
    batch: int,
    rate: float,
    seconds: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the clients once: the phase's throughput and CPU figures, and the raw results.

    Throughput is over the window, from the clients' common start to the later of its
    end and the last answer. CPU (the serve process and its descendants, the sink,
    the whole machine) is sampled at the window's planned start and end; the clients'
    is their processes' whole CPU time."""
    samples: list[tuple[float, float, float, float, float]] = []

    def sample() -> None:
        pids = server.pids()
        samples.append(
            (
                time.time(),
                cpu_seconds(pids[:1]),
                cpu_seconds(pids[1:]),
                sink.cpu(),
                machine_busy_seconds(),
            )
        )

    clients = _run_clients(
        params, server.port, server.write_key, prefix, batch, rate, seconds, sample
    )
    delivered = sink.count(prefix)
    (t0, serve0, workers0, sink0, busy0), (t1, serve1, workers1, sink1, busy1) = samples
    serve_cpu = serve1 - serve0 + workers1 - workers0
    last_answer = max((row[3] for _, row in clients["accepted"]), default=0.0)
    window = max(clients["end_at"], last_answer) - clients["start_at"]
    events = sum(int(row[1]) for _, row in clients["accepted"])
    cores = os.cpu_count() or 1
    span = max(t1 - t0, 1e-9)
    figures: dict[str, Any] = {
        "offered_rate": round(rate, 1) if rate else None,
        "seconds": round(window, 3),
        "requests": clients["requests"],
        "failed_requests": clients["requests"] - len(clients["accepted"]),
        "statuses": clients["statuses"],
        "errors": clients["errors"],
        "late_start_ms": round(clients["late_start"] * 1000, 1),
        "accepted_events": events,
        "events_per_s": _per_s(events, window),
        "requests_per_s": _per_s(len(clients["accepted"]), window),
        "delivered_in_window": delivered,
        "delivered_per_s": _per_s(delivered, window),
        "request_ms": _latency([(row[3] - row[2], False) for _, row in clients["accepted"]]),
        "cpu": {
            "serve_cores": round((serve1 - serve0) / span, 2),
            "workers_cores": round((workers1 - workers0) / span, 2),
            "sink_cores": round((sink1 - sink0) / span, 2),
            "clients_cpu_seconds": round(clients["cpu_seconds"], 2),
            "machine_busy_share": round((busy1 - busy0) / (span * cores), 3),
        },
        "serve_cpu_ms_per_event": round(serve_cpu * 1000 / events, 3) if events else None,
    }
    return figures, clients


def _drain(
    server: Server, sink: RecordingSink, prefix: str, expected: int, seconds: float
) -> dict[str, Any]:
    """Wait (at most ``seconds``) until the sink has ``expected`` events of ``prefix``;
    the delivery rate meanwhile, with no ingest load, and its CPU per event."""
    started = time.monotonic()
    cpu_before = cpu_seconds(server.pids())
    before = count = sink.count(prefix)
    while count < expected and time.monotonic() - started < seconds:
        time.sleep(0.05)
        count = sink.count(prefix)
    waited = time.monotonic() - started
    cpu = cpu_seconds(server.pids()) - cpu_before
    drained = count - before
    # Fewer than DRAIN_RATE_MIN events is a remainder (often held for batch_wait), not a rate.
    enough = drained >= DRAIN_RATE_MIN
    return {
        "drain_seconds": round(waited, 2),
        "drain_delivered": drained,
        "drain_delivered_per_s": _per_s(drained, waited) if enough else None,
        "drain_cpu_ms_per_event": round(cpu * 1000 / drained, 3) if enough else None,
    }


def _latencies(
    sink: RecordingSink, prefix: str, clients: dict[str, Any], stopped_waiting: float
) -> dict[str, Any]:
    """Per accepted event: sink arrival - client send (the total), and its two parts,
    ingest's ``receivedAt`` - send and arrival - ``receivedAt``."""
    records = sink.records(prefix)
    total: list[tuple[float, bool]] = []
    accept: list[tuple[float, bool]] = []
    queued: list[tuple[float, bool]] = []
    copies = 0
    for id_prefix, (seq, n, sent, _answered) in clients["accepted"]:
        for k in range(int(n)):
            record = records.get(f"{id_prefix}{int(seq) + k}")
            if record is None:
                total.append((stopped_waiting - sent, True))
                continue
            arrived, received_at, _sent_in_event, seen = record
            copies += int(seen) - 1
            total.append((arrived - sent, False))
            received = _epoch(received_at)
            if received is not None:
                accept.append((received - sent, False))
                queued.append((arrived - received, False))
    return {
        "delivered": sum(1 for _, censored in total if not censored),
        "undelivered": sum(1 for _, censored in total if censored),
        "duplicates": copies,
        "latency_ms": _latency(total),
        "send_to_accept_ms": _latency(accept),
        "accept_to_deliver_ms": _latency(queued),
    }


def _paced(
    params: IngestParams,
    server: Server,
    sink: RecordingSink,
    prefix: str,
    batch: int,
    rate: float,
    seconds: float,
    drain: float,
) -> dict[str, Any]:
    figures, clients = _phase(params, server, sink, prefix, batch, rate, seconds)
    figures.update(_drain(server, sink, prefix, figures["accepted_events"], drain))
    figures.update(_latencies(sink, prefix, clients, time.time()))
    return figures


def _measure_batch(
    params: IngestParams, sink: RecordingSink, workdir: Path, batch: int, deadline: float
) -> dict[str, Any]:
    row: dict[str, Any] = {"batch": batch, "mode": f"batch-{batch}"}
    # Saturation, on its own server: the clients post as fast as they are answered.
    server = Server(workdir / f"serve-b{batch}-saturate", params.serve_args)
    try:
        started = time.monotonic()
        server.start(sink.url)
        _warm_up(server, sink, f"w{batch}s-", params.warmup_events)
        row["server_ready_seconds"] = round(time.monotonic() - started, 2)
        row["saturation"], _ = _phase(
            params, server, sink, f"s{batch}-", batch, 0.0, params.saturate_seconds
        )
    finally:
        server.stop()
    saturation = row["saturation"]
    needed = (
        row["server_ready_seconds"]
        + params.light_seconds
        + params.paced_seconds
        + 2 * (params.drain_seconds + params.start_delay)
        + 0.5
    )
    if time.monotonic() + needed > deadline or not saturation["events_per_s"]:
        row["skipped"] = "paced phases: over the scenario's time budget or nothing accepted"
        return row
    # Paced, on a fresh server (no backlog): first a light rate (a tenth of the target),
    # then the target rate (capped below what ingest accepted), each drained (bounded).
    light = min(params.target_rate / 10, 0.5 * saturation["events_per_s"])
    target = min(params.target_rate, 0.9 * saturation["events_per_s"])
    server = Server(workdir / f"serve-b{batch}-paced", params.serve_args)
    try:
        server.start(sink.url)
        _warm_up(server, sink, f"w{batch}p-", params.warmup_events)
        row["light"] = _paced(
            params,
            server,
            sink,
            f"l{batch}-",
            batch,
            light,
            params.light_seconds,
            params.drain_seconds,
        )
        row["paced"] = _paced(
            params,
            server,
            sink,
            f"p{batch}-",
            batch,
            target,
            params.paced_seconds,
            params.drain_seconds,
        )
    finally:
        server.stop()
    return row


def run_ingest(params: IngestParams) -> dict[str, Any]:
    """Measure every batch size; see the module's docstring."""
    started = time.monotonic()
    deadline = started + params.budget_seconds
    keep = os.environ.get("BENCH_INGEST_KEEP") == "1"
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    rows = []
    try:
        with RecordingSink() as sink:
            for batch in params.batch_sizes:
                if time.monotonic() + params.saturate_seconds + 6 > deadline:
                    rows.append(
                        {"batch": batch, "mode": f"batch-{batch}", "skipped": "time budget"}
                    )
                    continue
                rows.append(_measure_batch(params, sink, workdir, batch, deadline))
    finally:
        if keep:
            print(f"bench.ingest: data dirs and logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return {
        "clients": params.clients,
        "connections_per_client": params.connections,
        "saturate_seconds": params.saturate_seconds,
        "light_seconds": params.light_seconds,
        "paced_seconds": params.paced_seconds,
        "drain_seconds": params.drain_seconds,
        "target_rate": params.target_rate,
        "function": "user_functions/signed_webhook",
        "serve_args": list(params.serve_args),
        "rows": rows,
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """``sink`` and ``load SPEC`` are the helper processes; no argument runs the scenario."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["sink"]:
        sink_main()
    elif len(args) == 2 and args[0] == "load":
        load_main(args[1])
    else:
        print(json.dumps(run_ingest(IngestParams()), indent=2))


if __name__ == "__main__":
    main()
