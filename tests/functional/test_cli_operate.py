"""Operating deployed functions with the CLI against a real ``functions serve``: lists,
diff, settings, enable / disable, logs with requests and answers, stats, replay by
name, key rotation and soft deletes, one command after the other as a user runs them."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.functional.test_delivery import post_batch
from tests.functional.test_serve import ADMIN_KEY, base_env, functions, ok_json, serving

TOKEN = "tok_operate-secret-0123456789"

HANDLER = """
from functions_sdk import RetryError, Settings, TrackEvent, ValidationError, fetch, logger


def on_track(event: TrackEvent, settings: Settings) -> int:
    response = fetch(
        settings.get_str("url") + "/" + str(event.event),
        method="POST",
        json={"event": event.event, "token": settings.get_str("token")},
    )
    logger.info("answered %s", response.status)
    if response.status >= 500:
        raise RetryError(f"the endpoint is down: {response.status}")
    if not response.ok:
        raise ValidationError(f"the endpoint refused the event: {response.status}")
    return response.status
"""
MANIFEST = """name = "ops-demo"

[settings.url]
type = "string"
required = true

[settings.token]
type = "string"
secret = true

[settings.label]
type = "string"

[settings.tries]
type = "number"
default = 3
"""


class Endpoint(ThreadingHTTPServer):
    """``/ok`` answers 200, ``/bad`` 400 echoing the token it was sent, ``/down`` 503."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EndpointHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _EndpointHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        status = {"/ok": 200, "/bad": 400}.get(self.path, 503)
        body = json.dumps({"error": "no such user", "echo": sent.get("token")}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


def wait_for(check: Callable[[], bool], timeout: float = 90.0) -> None:
    """Poll ``check`` until it holds (the condition, not a delay, ends the wait)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.2)


def write_function(folder: Path, handler: str = HANDLER) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "handler.py").write_text(handler)
    (folder / "function.toml").write_text(MANIFEST)
    return folder


def fails(done: Any, message: str) -> None:
    """An error on stderr (one line, then the problems it lists), exit status 1."""
    assert (done.returncode, done.stdout) == (1, ""), done
    assert done.stderr.startswith("functions: error: ") and message in done.stderr, done.stderr


def test_operating_deployed_functions_with_the_cli(tmp_path: Path, endpoint: Endpoint):
    flags = ("--allow-host", "127.0.0.1", "--max-attempts", "1", "--retry-base", "0.5")
    with serving(tmp_path / "data", base_env(FUNCTIONS_API_KEY=ADMIN_KEY), *flags) as server:
        env = base_env(FUNCTIONS_API_URL=server.url, FUNCTIONS_API_KEY=ADMIN_KEY)

        def cli(*args: str) -> Any:
            return functions(*args, env=env)

        source = ok_json(cli("sources", "create", "web"))
        assert [s["name"] for s in ok_json(cli("sources", "list", "--json"))] == ["web"]
        assert source["source"] in cli("sources", "list").stdout

        # deploy takes the function's name from function.toml
        settings = tmp_path / "settings.json"
        settings.write_text(json.dumps({"url": endpoint.url, "token": TOKEN, "label": "a"}))
        folder = write_function(tmp_path / "ops_folder")
        first = ok_json(cli("deploy", str(folder), "--source", "web", "--settings", str(settings)))
        assert first["name"] == "ops-demo"
        instance = first["instance"]

        listed = ok_json(cli("functions", "list", "--json"))
        assert [(f["name"], f["version_count"]) for f in listed] == [("ops-demo", 1)]
        assert "ops-demo" in cli("functions", "list").stdout
        [row] = ok_json(cli("instances", "list", "--json"))
        assert (row["id"], row["enabled"], row["source_id"]) == (instance, True, source["source"])
        table = cli("instances", "list").stdout
        assert instance in table and "v1" in table and "enabled" in table

        # a second version, uploaded only; versions says which instance runs which
        v2 = write_function(tmp_path / "v2", HANDLER.replace("answered %s", "got %s"))
        uploaded = ok_json(cli("deploy", str(v2), "--no-deploy"))
        assert (uploaded["number"], uploaded["deployed"]) == (2, False)
        versions = cli("versions", "ops-demo").stdout.splitlines()
        assert versions[1].split()[0] == "1" and versions[1].endswith(f"* {instance}")
        assert versions[2].split()[0] == "2" and "*" not in versions[2]
        as_json = ok_json(cli("versions", "ops-demo", "--json"))
        assert [(v["number"], v["instances"]) for v in as_json] == [(1, [instance]), (2, [])]
        diff = cli("diff", "ops-demo", "1", "v2")
        assert diff.returncode == 0, diff
        assert '-    logger.info("answered %s"' in diff.stdout
        assert '+    logger.info("got %s"' in diff.stdout
        assert ok_json(cli("diff", "ops-demo", "v1", "2", "--json"))["diff"] == diff.stdout
        fails(cli("diff", "ops-demo", "1", "7"), "function ops-demo has no version 7")

        # settings: set and unset merge; the secret stays and stays hidden
        changed = ok_json(cli("settings", "set", "ops-demo", "tries:=5", "label=b"))
        assert changed == {"url": endpoint.url, "label": "b", "tries": 5, "token": "***"}
        changed = ok_json(cli("settings", "unset", "ops-demo", "label"))
        assert changed == {"url": endpoint.url, "tries": 5, "token": "***"}
        assert ok_json(cli("settings", "show", instance, "--json")) == changed
        fails(cli("settings", "set", "ops-demo", "tries:=many"), "is not JSON")
        fails(cli("settings", "set", "ops-demo", "nope=1"), "settings.nope: not declared")

        # events: one delivered, one refused (400), one failed (503, one attempt)
        messages = [
            {"type": "track", "event": name, "userId": "u1", "messageId": f"m-{name}"}
            for name in ("ok", "bad", "down")
        ]
        assert post_batch(server.url, source["write_key"], messages) == 200

        def outcomes() -> set[str]:
            lines = cli("logs", "ops-demo", "--json").stdout.splitlines()
            return {json.loads(line)["outcome"] for line in lines}

        wait_for(lambda: outcomes() == {"delivered", "rejected", "failed"})
        logs = cli("logs", "ops-demo", "--outcome", "rejected")
        assert logs.returncode == 0 and logs.stderr == "", logs  # no progress on a pipe
        lines = logs.stdout.splitlines()
        assert "rejected" in lines[0] and "m-bad" in lines[0]
        assert re.fullmatch(
            r"! ValidationError: the endpoint refused the event: 400 \(line \d+\)",
            lines[1].strip(),
        ), lines[1]
        assert lines[2].strip() == (
            f'> POST {endpoint.url}/bad -> 400  {{"error": "no such user", "echo": "***"}}'
        )
        assert lines[3].strip() == "| INFO answered 400"
        assert TOKEN not in logs.stdout

        stats = ok_json(cli("stats", "ops-demo", "--json"))
        assert (stats["events"], stats["attempts"]) == (3, stats["total"])
        text = cli("stats", instance).stdout
        assert re.search(r"^events\s+3$", text, re.M), text
        assert re.search(rf"^attempts\s+{stats['attempts']}\s+p50", text, re.M), text

        # replay by the function's name, through version 2 given by its number
        replayed = cli("replay", "ops-demo", "--version", "v2", "--wait", "60")
        assert replayed.returncode == 0, replayed
        result = json.loads(replayed.stdout)
        assert (result["queued"], result["outcomes"]) == (1, {"failed": 1})
        assert "settled" not in replayed.stderr  # the progress bar is for terminals only

        # enable / disable
        assert cli("instances", "disable", "ops-demo").stdout == f"{instance} disabled\n"
        assert ok_json(cli("instances", "list", "--json"))[0]["enabled"] is False
        assert cli("instances", "enable", instance).stdout == f"{instance} enabled\n"

        # a new write key: the old one stops working
        rotated = ok_json(cli("sources", "rotate-key", "web"))
        assert (
            rotated["write_key"].startswith("wk_") and rotated["write_key"] != source["write_key"]
        )
        assert post_batch(server.url, source["write_key"], messages[:1]) == 401
        assert post_batch(server.url, rotated["write_key"], messages[:1]) == 200

        # a workspace key replaced by its holder: the old one stops working
        [workspace] = server.call("GET", "/v1/workspaces", ADMIN_KEY)[1]["workspaces"]
        status, created = server.call("POST", f"/v1/workspaces/{workspace['id']}/keys", ADMIN_KEY)
        assert status == 201
        old_key = created["api_key"]
        new_key = ok_json(functions("keys", "rotate", env={**env, "FUNCTIONS_API_KEY": old_key}))
        assert new_key["api_key"].startswith("fk_") and new_key["api_key"] != old_key
        fails(
            functions("functions", "list", env={**env, "FUNCTIONS_API_KEY": old_key}),
            "401 unauthorized",
        )
        with_new = functions(
            "functions", "list", env={**env, "FUNCTIONS_API_KEY": new_key["api_key"]}
        )
        assert with_new.returncode == 0 and "ops-demo" in with_new.stdout

        # soft deletes: a source with an instance is kept; then instance, source, function
        fails(cli("sources", "delete", "web"), "are attached to source web")
        assert "deleted" in cli("instances", "delete", "ops-demo").stdout
        assert ok_json(cli("instances", "list", "--json")) == []
        fails(cli("logs", instance), f"instance {instance!r} does not exist")
        assert "deleted" in cli("sources", "delete", "web").stdout
        assert post_batch(server.url, rotated["write_key"], messages[:1]) == 401
        assert ok_json(cli("sources", "list", "--json")) == []
        assert "deleted" in cli("functions", "delete", "ops-demo").stdout
        assert ok_json(cli("functions", "list", "--json")) == []
        again = ok_json(cli("deploy", str(folder), "--no-deploy"))  # the name is free
        assert again["function"] != first["function"] and again["number"] == 1

        actions = [e["action"] for e in ok_json(cli("audit", "--json", "--limit", "200"))]
        for action in (
            "instance.delete",
            "source.delete",
            "function.delete",
            "source.write_key_rotate",
            "key.rotate",
        ):
            assert action in actions
        assert server.stop() == 0
    assert TOKEN not in server.output
