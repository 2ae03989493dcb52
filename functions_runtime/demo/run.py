"""``make demo``: the signed-webhook sample function on every sample event, then live.

A small HTTP sink on 127.0.0.1 stands in for the customer's endpoint. Each sample
event goes through the same path as ``functions invoke`` (compile, worker process,
guards, limits); the table shows each outcome, then the sandbox refusing a looping
and a hostile handler.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..sandbox.host.local import build_spec
from ..sandbox.host.pool import WorkerPool
from .live import Live, live_demo

__all__ = ["main"]

SECRET = "demo-signing-secret"


class _Sink(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        reply = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/in"
    finally:
        server.shutdown()
        server.server_close()


def _detail(result: dict[str, Any]) -> str:
    if result["error"]:
        message = str(result["error"]["message"]).splitlines()[0]
        return f"{result['error']['type']}: {message[:70]}"
    reqs = result["requests"]
    if reqs:
        return f"{reqs[0]['method']} sink -> {reqs[0]['status']}"
    return json.dumps(result["result"])[:70]


def _row(name: str, result: dict[str, Any]) -> str:
    return f"  {name:<34} {result['outcome']:<10} {result['duration_ms']:>8.1f} ms  " + _detail(
        result
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="functions-demo", description=__doc__)
    parser.add_argument("--root", default=".", help="the repository root (samples/ is here)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    function = root / "user_functions" / "signed_webhook"
    events = sorted((root / "samples" / "events").glob("*.json"))
    print("Functions demo: user_functions/signed_webhook on every file in samples/events/\n")
    with _sink() as url, WorkerPool(max_workers=4) as pool, contextlib.ExitStack() as stack:
        print(f"A local sink at {url} stands in for the customer's endpoint.")
        print(
            "Same path as: functions invoke user_functions/signed_webhook --event FILE "
            "--settings FILE --allow-host 127.0.0.1\n"
        )
        spec = build_spec(
            str(function),
            {"url": url, "signing_secret": SECRET},
            timeout=None,
            allow=("127.0.0.1",),
        )
        print(f"  {'event file':<34} {'outcome':<10} {'time':>11}  detail")
        for path in events:
            payload = json.loads(path.read_text())
            if isinstance(payload, list):
                results = pool.invoke(spec, payload, batch=True)
                for i, result in enumerate(results):
                    print(_row(f"{path.name}[{i}]", result))
            else:
                print(_row(path.name, pool.invoke(spec, [payload])[0]))

        print("\nThe same function deployed on `functions serve`, fed by a real tracking client:")
        live = stack.enter_context(live_demo(root, url))
        print(f"\n{live.delivered} events delivered through functions serve.")

        print("\nThe sandbox at work:")
        track = json.loads((root / "samples" / "events" / "track.json").read_text())
        for name, timeout in (("looping", 1.0), ("hostile", None)):
            sample = root / "samples" / "functions" / name
            bad = build_spec(str(sample), {}, timeout=timeout, allow=())
            print(_row(f"samples/functions/{name}", pool.invoke(bad, [track])[0]))

        received = _Sink.received
        valid = sum(
            1
            for headers, body in received
            if hmac.compare_digest(
                headers.get("x-signature", ""),
                "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
            )
        )
        print(
            f"\nThe sink received {len(received)} requests; {valid} carried a valid signature"
            " (both parts; a batch of events is one request)."
        )
        _console(live)
    return 0


def _console(live: Live) -> None:
    """Print where the console is and the key to sign in with; in a terminal, keep
    serving (and the sink listening) until Ctrl-C."""
    print(f"\nThe web console: {live.url}/")
    print(f"Sign in with the API key {live.api_key}")
    if not sys.stdin.isatty():
        return
    print("Serving until Ctrl-C ...", flush=True)
    try:
        live.process.wait()
    except KeyboardInterrupt:
        print("\nStopping.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
