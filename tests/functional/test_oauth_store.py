"""The OAuth-token sample (user_functions/oauth_token) and the store test helpers.

A real token endpoint and API on 127.0.0.1 count their hits: across several events the
token is fetched once, kept in the store with its lifetime, and reused.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from functions_sdk.testing import MemoryStore, MockResponse, run_batch, run_function

ROOT = Path(__file__).resolve().parents[2]
OAUTH = str(ROOT / "user_functions" / "oauth_token")
EVENT = {"type": "track", "event": "Order Completed", "userId": "u1", "properties": {"n": 1}}


class Endpoints:
    """/token hands out token-<n>; /api accepts only the newest token."""

    def __init__(self) -> None:
        self.token_hits = 0
        self.api_auth: list[str] = []
        self.revoked = False
        endpoints = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/token":
                    endpoints.token_hits += 1
                    body = {"access_token": f"token-{endpoints.token_hits}", "expires_in": 3600}
                    self._answer(200, body)
                    return
                auth = self.headers.get("Authorization", "")
                endpoints.api_auth.append(auth)
                valid = auth == f"Bearer token-{endpoints.token_hits}" and not endpoints.revoked
                self._answer(200 if valid else 401, {})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def settings(self) -> dict[str, Any]:
        return {
            "token_url": f"{self.url}/token",
            "api_url": f"{self.url}/api",
            "client_id": "client",
            "client_secret": "s3cret",
        }


@pytest.fixture
def endpoints() -> Iterator[Endpoints]:
    server = Endpoints()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_the_token_endpoint_is_hit_once_across_events(endpoints: Endpoints) -> None:
    store = MemoryStore()
    for _ in range(4):
        result = run_function(
            OAUTH, EVENT, settings=endpoints.settings(), allow=("127.0.0.1",), store=store
        )
        assert result.outcome == "delivered", result.explain()
    assert endpoints.token_hits == 1
    assert endpoints.api_auth == ["Bearer token-1"] * 4
    assert store.data == {"oauth_token": "token-1", "sent": 4}
    # In a batch too (one worker call, several events).
    results = run_batch(
        OAUTH, [EVENT] * 3, settings=endpoints.settings(), allow=("127.0.0.1",), store=store
    )
    assert [r.outcome for r in results] == ["delivered"] * 3
    assert endpoints.token_hits == 1
    assert store.data["sent"] == 7


def test_an_expired_token_is_fetched_again(endpoints: Endpoints) -> None:
    clock = [1_800_000_000.0]
    store = MemoryStore(clock=lambda: clock[0])
    run = lambda: run_function(  # noqa: E731
        OAUTH, EVENT, settings=endpoints.settings(), allow=("127.0.0.1",), store=store
    )
    assert run().outcome == "delivered"
    clock[0] += 3600 - 60 - 1  # the stored lifetime is expires_in less a minute
    assert run().outcome == "delivered"
    assert endpoints.token_hits == 1
    clock[0] += 2
    assert run().outcome == "delivered"
    assert endpoints.token_hits == 2
    assert store.data["oauth_token"] == "token-2"


def test_a_revoked_token_is_dropped_and_the_event_retried(endpoints: Endpoints) -> None:
    store = MemoryStore({"oauth_token": "stale"})
    result = run_function(
        OAUTH, EVENT, settings=endpoints.settings(), allow=("127.0.0.1",), store=store
    )
    assert result.outcome == "retry", result.explain()
    assert "oauth_token" not in store.data
    assert endpoints.token_hits == 0  # the seeded token was used as it was
    assert (
        run_function(
            OAUTH, EVENT, settings=endpoints.settings(), allow=("127.0.0.1",), store=store
        ).outcome
        == "delivered"
    )
    assert endpoints.token_hits == 1


def test_seeded_store_and_mocked_http() -> None:
    store = MemoryStore({"oauth_token": "cached"})
    result = run_function(
        OAUTH,
        EVENT,
        settings={
            "token_url": "https://auth.example.com/token",
            "api_url": "https://api.example.com/events",
            "client_id": "c",
            "client_secret": "s",
        },
        responses=[MockResponse(method="POST", url="https://api.example.com/events")],
        store=store,
    )
    assert result.outcome == "delivered", result.explain()
    assert [r.url for r in result.requests] == ["https://api.example.com/events"]
    assert result.requests[0].headers["Authorization"] == "***"  # recorded masked
    assert store.data == {"oauth_token": "cached", "sent": 1}


def test_each_run_gets_an_empty_store_unless_given_one(endpoints: Endpoints) -> None:
    for _ in range(2):
        result = run_function(OAUTH, EVENT, settings=endpoints.settings(), allow=("127.0.0.1",))
        assert result.outcome == "delivered", result.explain()
    assert endpoints.token_hits == 2


def test_the_pytest_fixtures(function_runner: Any, store: MemoryStore) -> None:
    """The plugin's ``store`` fixture is what ``function_runner``'s runs reach."""
    settings = {
        "token_url": "https://a.example.com/t",
        "api_url": "https://b.example.com/e",
        "client_id": "c",
        "client_secret": "s",
    }
    responses = [
        MockResponse(
            method="POST",
            url="https://a.example.com/t",
            json={"access_token": "tk", "expires_in": 600},
            times=1,
        ),
        MockResponse(method="POST", url="https://b.example.com/e"),
    ]
    for _ in range(3):
        result = function_runner(OAUTH, EVENT, settings=settings, responses=responses)
        assert result.outcome == "delivered", result.explain()
    assert store.data == {"oauth_token": "tk", "sent": 3}
