"""``functions serve`` as a process, driven over HTTP and by the CLI, as the README tells.

The server listens on 127.0.0.1 (port 0: the OS picks one, the server prints it);
functions only reach a receiver this test starts on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from functions_runtime.control.auth import hash_key
from tests.functional.conftest import EVENTS, ROOT, USER_FUNCTIONS, Sink

ADMIN_KEY = "fk_serve-test-admin-key-0123456789"
SECRET = "whsec_serve-test-secret-0123456789"
STARTUP_SECONDS = 30


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCTIONS_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@dataclass
class Server:
    """A running ``functions serve`` and everything it printed."""

    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", "".join(self.stdout))
        assert match, self.stdout
        return match.group(1)

    @property
    def printed_key(self) -> str | None:
        match = re.search(r"export FUNCTIONS_API_KEY=(\S+)", "".join(self.stdout))
        return match.group(1) if match else None

    @property
    def output(self) -> str:
        return "".join(self.stdout + self.stderr)

    def call(self, method: str, path: str, key: str | None, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self) -> int:
        """SIGTERM, and the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def _pump(stream: IO[str], lines: list[str], server: Server) -> None:
    for line in stream:
        lines.append(line)
        if line.startswith("Default workspace:"):
            server.ready.set()


@contextlib.contextmanager
def serving(data_dir: Path, env: dict[str, str], *flags: str) -> Iterator[Server]:
    command = [sys.executable, "-m", "functions_runtime.cli", "serve", "--port", "0"]
    with subprocess.Popen(
        [*command, "--data-dir", str(data_dir), *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    ) as process:
        server = Server(process)
        pumps = [
            threading.Thread(target=_pump, args=(process.stdout, server.stdout, server)),
            threading.Thread(target=_pump, args=(process.stderr, server.stderr, server)),
        ]
        for pump in pumps:
            pump.start()
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not server.ready.wait(0.1):
                assert process.poll() is None, server.output
                assert time.monotonic() < deadline, server.output
            yield server
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for pump in pumps:
                pump.join(timeout=10)


def functions(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the ``functions`` CLI."""
    return subprocess.run(
        [sys.executable, "-m", "functions_runtime.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def ok_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done
    return json.loads(done.stdout)


# -- the admin key ---------------------------------------------------------------------------


def test_serve_takes_the_admin_key_from_the_environment(tmp_path: Path):
    with serving(tmp_path / "data", base_env(FUNCTIONS_API_KEY=ADMIN_KEY)) as server:
        assert server.printed_key is None
        assert "Admin API key" not in server.output
        assert server.call("GET", "/v1/functions", ADMIN_KEY) == (200, {"functions": []})
        status, body = server.call("GET", "/v1/functions", "fk_wrong")
        assert (status, body["error"]["code"]) == (401, "unauthorized")

        assert server.stop() == 0
    assert server.stderr[-1] == "functions serve: stopped\n"


def test_serve_prints_a_new_admin_key_once_and_stores_it_hashed(tmp_path: Path):
    data_dir = tmp_path / "data"
    with serving(data_dir, base_env()) as first:
        key = first.printed_key
        assert key is not None and key.startswith("fk_")
        assert first.call("GET", "/v1/workspaces", key)[0] == 200
        workspace = re.findall(r"Default workspace: (\S+)", first.output)
        assert first.stop() == 0

    with serving(data_dir, base_env()) as again:
        assert again.printed_key is None
        assert "Admin API key" not in again.output
        assert re.findall(r"Default workspace: (\S+)", again.output) == workspace
        status, body = again.call("GET", "/v1/workspaces", key)
        assert status == 200
        assert [w["name"] for w in body["workspaces"]] == ["default"]
        assert again.stop() == 0

    stored = b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())
    assert key.encode() not in stored
    assert hash_key(key).encode() in stored


# -- the README story, with the CLI ------------------------------------------------------------


def versions_table(text: str) -> list[tuple[int, str, bool]]:
    """``functions versions``: (number, id, deployed) per row (files, then * and the
    instances that run it)."""
    rows = re.findall(
        r"^\s*(\d+)\s+(ver_\w+)\s+\S+\s+[\w./]+(?:, [\w./]+)*\s*(\*?)(?:\s+in_\w+)*\s*$",
        text,
        re.M,
    )
    return [(int(n), ident, mark == "*") for n, ident, mark in rows]


def test_the_readme_story_with_the_cli(tmp_path: Path, sink: Sink):
    server_env = base_env(FUNCTIONS_API_KEY=ADMIN_KEY)
    with serving(tmp_path / "data", server_env, "--allow-host", "127.0.0.1") as server:
        env = base_env(FUNCTIONS_API_URL=server.url, FUNCTIONS_API_KEY=ADMIN_KEY)
        settings = tmp_path / "settings.json"
        settings.write_text(json.dumps({"url": sink.url, "signing_secret": SECRET}))

        source = ok_json(functions("sources", "create", "web", env=env))
        assert source["name"] == "web"
        assert source["source"].startswith("src_")
        assert source["write_key"].startswith("wk_")

        first = ok_json(
            functions(
                "deploy",
                str(USER_FUNCTIONS / "signed_webhook"),
                "--source",
                "web",
                "--settings",
                str(settings),
                env=env,
            )
        )
        assert first["name"] == "signed_webhook"
        assert first["function"].startswith("fn_")
        assert first["version"].startswith("ver_")
        assert first["instance"].startswith("in_")
        assert (first["number"], first["source"]) == (1, source["source"])
        assert first["settings"] == {"url": sink.url, "signing_secret": "***"}

        tested = ok_json(
            functions("test", "signed_webhook", "--event", str(EVENTS / "identify.json"), env=env)
        )
        assert tested["outcome"] == "delivered", tested
        [received] = sink.received
        digest = hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
        assert received.headers["x-signature"] == "sha256=" + digest

        # Version 2: a copy of the folder with changed code; the settings stay.
        v2_folder = tmp_path / "signed_webhook_v2"
        shutil.copytree(USER_FUNCTIONS / "signed_webhook", v2_folder)
        handler = v2_folder / "handler.py"
        handler.write_text(handler.read_text().replace("delivered: webhook", "sent: webhook"))
        second = ok_json(
            functions(
                "deploy", str(v2_folder), "--name", "signed_webhook", "--source", "web", env=env
            )
        )
        assert (second["function"], second["instance"]) == (first["function"], first["instance"])
        assert second["number"] == 2
        assert second["settings"] == first["settings"]

        listed = functions("versions", "signed_webhook", env=env)
        assert listed.returncode == 0, listed
        assert versions_table(listed.stdout) == [
            (1, first["version"], False),
            (2, second["version"], True),
        ]

        rolled = ok_json(functions("rollback", "signed_webhook", "1", env=env))
        assert rolled["instance"]["id"] == first["instance"]
        assert rolled["instance"]["version_id"] == first["version"]
        listed = functions("versions", "signed_webhook", env=env)
        assert [deployed for *_, deployed in versions_table(listed.stdout)] == [True, False]

        audit = functions("audit", env=env)
        assert audit.returncode == 0, audit
        actions = [line.split()[1] for line in audit.stdout.splitlines()]
        assert actions == [
            "instance.rollback",
            "instance.deploy",
            "version.upload",
            "instance.create",
            "version.upload",
            "function.create",
            "source.create",
        ]
        assert first["instance"] in audit.stdout.splitlines()[0]

        # Errors: one line on stderr, exit status 1.
        missing = functions("rollback", "signed_webhook", "9", env=env)
        assert (missing.returncode, missing.stdout) == (1, "")
        assert missing.stderr == "functions: error: function signed_webhook has no version 9\n"
        wrong_key = functions("versions", "signed_webhook", env={**env, "FUNCTIONS_API_KEY": "x"})
        assert (wrong_key.returncode, wrong_key.stdout) == (1, "")
        assert wrong_key.stderr == "functions: error: 401 unauthorized: unknown API key\n"
        no_key = functions("audit", env=base_env(FUNCTIONS_API_URL=server.url))
        assert no_key.returncode == 1
        assert no_key.stderr.count("\n") == 1
        assert "FUNCTIONS_API_KEY is not set" in no_key.stderr

        assert server.stop() == 0

    printed = [server.output, json.dumps([source, first, tested, second, rolled]), audit.stdout]
    assert not [text for text in printed if SECRET in text]


# -- the local HTTP adapter ------------------------------------------------------------------------


def raw_request(url: str, head: bytes, body: bytes = b"") -> bytes:
    """Send bytes as they are; what the server answers within 2 s (b"" if it closes)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=2) as conn:
        conn.sendall(head + b"\r\n\r\n" + body)
        try:
            return conn.recv(4096)
        except TimeoutError:
            return b"(no answer within 2 s)"


def test_a_bad_content_length_is_answered_400(tmp_path: Path):
    with serving(tmp_path / "data", base_env(FUNCTIONS_API_KEY=ADMIN_KEY)) as server:
        answers = [
            raw_request(
                server.url,
                b"POST /v1/sources HTTP/1.1\r\nHost: localhost\r\n"
                b"Authorization: Bearer " + ADMIN_KEY.encode() + b"\r\n"
                b"Content-Length: " + length,
                b'{"name": "web"}',
            )
            for length in (b"fifteen", b"-1")
        ]
        assert server.call("GET", "/v1/sources", ADMIN_KEY) == (200, {"sources": []})
        assert server.stop() == 0

    assert [answer.split(b"\r\n")[0] for answer in answers] == [b"HTTP/1.1 400 Bad Request"] * 2
