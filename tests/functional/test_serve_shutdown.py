"""Stopping ``functions serve`` with a signal to its process group (Ctrl-C in a
terminal, ``docker stop``, systemd): every process exits cleanly and no accepted event
is lost.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.functional.conftest import ROOT, Sink, user_function
from tests.functional.test_serve import ADMIN_KEY, STARTUP_SECONDS, Server, _pump, base_env

EVENTS = 30


@contextmanager
def serving_in_own_group(data_dir: Path) -> Iterator[Server]:
    """``functions serve`` as the leader of a new process group (as a shell starts it)."""
    command = [sys.executable, "-m", "functions_runtime.cli", "serve", "--port", "0"]
    with subprocess.Popen(
        [*command, "--data-dir", str(data_dir), "--allow-host", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base_env(FUNCTIONS_API_KEY=ADMIN_KEY),
        cwd=ROOT,
        start_new_session=True,
    ) as process:
        server = Server(process)
        pumps = [
            threading.Thread(target=_pump, args=(process.stdout, server.stdout, server)),
            threading.Thread(target=_pump, args=(process.stderr, server.stderr, server)),
        ]
        for pump in pumps:
            pump.start()
        try:
            assert server.ready.wait(STARTUP_SECONDS), server.output
            yield server
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            for pump in pumps:
                pump.join(timeout=30)


def signal_group(server: Server, signum: int) -> int:
    os.killpg(server.process.pid, signum)
    return server.process.wait(timeout=60)


def post_batch(server: Server, write_key: str, first: int) -> None:
    batch = [
        {"type": "track", "event": "Shutdown", "userId": "u", "messageId": f"m-{n}"}
        for n in range(first, first + 5)
    ]
    basic = base64.b64encode(f"{write_key}:".encode()).decode()
    request = urllib.request.Request(
        server.url + "/v1/batch",
        data=json.dumps({"batch": batch}).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert json.loads(response.read())["queued"] == 5


def delivered(sink: Sink) -> set[str]:
    ids: set[str] = set()
    for received in sink.received:
        body = json.loads(received.body)
        for event in body if isinstance(body, list) else [body]:
            ids.add(event.get("messageId"))
    return ids


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_group_stops_every_process_cleanly_and_loses_nothing(
    tmp_path: Path, sink: Sink, signum: int
):
    data_dir = tmp_path / "data"
    with serving_in_own_group(data_dir) as first:
        status, body = first.call("POST", "/v1/sources", ADMIN_KEY, {"name": "web"})
        assert status == 201, body
        source, write_key = body["source"]["id"], body["write_key"]
        files = user_function("signed_webhook")
        status, body = first.call("POST", "/v1/functions", ADMIN_KEY, {"files": files})
        assert status == 201, body
        settings = {"url": sink.url, "signing_secret": "whsec_shutdown_test_0123456789"}
        status, body = first.call(
            "POST",
            f"/v1/functions/{body['function']['id']}/deploy",
            ADMIN_KEY,
            {"source": source, "settings": settings},
        )
        assert status == 200, body
        for n in range(0, EVENTS, 5):
            post_batch(first, write_key, n)
        assert signal_group(first, signum) == 0
    assert "Fatal Python error" not in first.output
    assert "Traceback" not in first.output
    assert "starting another" not in first.output
    assert first.stderr[-1] == "functions serve: stopped\n"

    # What was accepted and not delivered yet is delivered after a restart.
    expected = {f"m-{n}" for n in range(EVENTS)}
    with serving_in_own_group(data_dir) as again:
        deadline = time.monotonic() + 120
        while not expected <= delivered(sink):
            assert time.monotonic() < deadline, sorted(expected - delivered(sink))
            time.sleep(0.1)
        assert signal_group(again, signal.SIGTERM) == 0
    assert "Fatal Python error" not in again.output
