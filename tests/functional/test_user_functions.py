"""The three user functions, run through the production sandbox with HTTP mocked.

``functions_sdk.testing`` runs each handler in a real worker process (same
compiler, guards and limits as production) and answers ``fetch`` from
``MockResponse`` lists, recording every request with secrets masked. A few tests
use a real receiver on 127.0.0.1 instead (``allow=("127.0.0.1",)``) to check the
bytes on the wire, which recorded requests mask (the signature header) or cut
(bodies over 2048 characters).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from functions_sdk.testing import ErrorInfo, InvocationResult, MockResponse, run_batch, run_function

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "user_functions"
EVENTS = ROOT / "samples" / "events"

SIGNED_WEBHOOK = str(FUNCTIONS / "signed_webhook")
SLACK = str(FUNCTIONS / "slack_notifier")
CRM = str(FUNCTIONS / "crm_upsert")

VALID_SAMPLES = ("track", "identify", "page", "screen", "group", "alias", "delete")
TIMESTAMP_KEYS = {"timestamp", "originalTimestamp", "sentAt", "receivedAt"}
MASK = "***"


def sample(name: str) -> Any:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def load_handler(name: str) -> ModuleType:
    """Import a handler as plain Python, the way an integration repo's tests do."""
    path = FUNCTIONS / name / "handler.py"
    spec = importlib.util.spec_from_file_location(f"user_function_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def everything(result: InvocationResult) -> str:
    """All the text a delivery record holds: where a secret must never appear."""
    return json.dumps(
        {
            "result": result.result,
            "error": None if result.error is None else asdict(result.error),
            "logs": result.logs,
            "requests": [asdict(r) for r in result.requests],
        }
    )


def assert_same_event(sent: dict[str, Any], original: dict[str, Any]) -> None:
    """``sent`` carries every key of ``original`` with the same value.

    Timestamps may be rewritten (``.123Z`` -> ``.123000Z``) but must name the same instant.
    """
    assert set(sent) == set(original)
    for key, value in original.items():
        if key in TIMESTAMP_KEYS:
            assert datetime.fromisoformat(sent[key]) == datetime.fromisoformat(value), key
        else:
            assert sent[key] == value, key


def hmac_sha256(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------- receiver


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.seen: list[dict[str, Any]] = []
        self.status = 200
        self.body = b"ok"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: _Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.server.seen.append(
            {"method": self.command, "path": self.path, "headers": self.headers, "body": raw}
        )
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    do_POST = do_DELETE = do_GET = _handle


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# =========================================================================== signed_webhook

HOOK = "https://hooks.example.com/segment/events"
SIGNING_SECRET = "whsec_test_5f3c9a1e7b"
HOOK_SETTINGS = {"url": HOOK, "signing_secret": SIGNING_SECRET}
HOOK_HEADERS = {
    "Content-Type": "application/json",
    "X-Signature": MASK,  # the header name contains "signature": recorded masked
    "User-Agent": "functions-sdk",
}


def run_hook(event: Any, *responses: MockResponse, **settings: Any) -> InvocationResult:
    return run_function(
        SIGNED_WEBHOOK,
        event,
        settings={**HOOK_SETTINGS, **settings},
        responses=list(responses),
    )


@pytest.mark.parametrize("name", VALID_SAMPLES)
def test_signed_webhook_posts_every_event_type(name: str) -> None:
    event = sample(name)
    result = run_hook(event, MockResponse(method="POST", url=HOOK, body="ok"))

    assert result.outcome == "delivered", result.error
    assert result.result == {"status": 200}
    assert result.error is None
    assert [(r.method, r.url, r.status) for r in result.requests] == [("POST", HOOK, 200)]
    request = result.requests[0]
    assert request.headers == {**HOOK_HEADERS, "X-Event-Type": event["type"]}
    assert_same_event(json.loads(request.body), event)
    assert result.logs == [f"INFO {event['type']} delivered: webhook answered 200"]


def test_signed_webhook_signature_is_hmac_of_the_exact_bytes_on_the_wire(
    receiver: _Receiver,
) -> None:
    event = sample("track")
    result = run_function(
        SIGNED_WEBHOOK,
        event,
        settings={"url": receiver.url + "/in?source=segment", "signing_secret": SIGNING_SECRET},
        allow=("127.0.0.1",),
    )

    assert result.outcome == "delivered", result.error
    [seen] = receiver.seen
    assert seen["method"] == "POST"
    assert seen["path"] == "/in?source=segment"
    assert seen["headers"]["X-Signature"] == hmac_sha256(SIGNING_SECRET, seen["body"])
    assert seen["headers"]["X-Event-Type"] == "track"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert_same_event(json.loads(seen["body"]), event)
    # The recorded request still masks the signature.
    assert result.requests[0].headers["X-Signature"] == MASK


def test_signed_webhook_batch_is_one_signed_post_of_the_array(receiver: _Receiver) -> None:
    events = sample("batch")
    results = run_batch(
        SIGNED_WEBHOOK,
        events,
        settings={"url": receiver.url + "/batch", "signing_secret": SIGNING_SECRET},
        allow=("127.0.0.1",),
    )

    assert [r.outcome for r in results] == ["delivered"] * len(events)
    assert [r.result for r in results] == [{"status": 200, "type": e["type"]} for e in events]
    [seen] = receiver.seen
    assert seen["headers"]["X-Event-Type"] == "batch"
    assert seen["headers"]["X-Signature"] == hmac_sha256(SIGNING_SECRET, seen["body"])
    sent = json.loads(seen["body"])
    assert len(sent) == len(events)
    for sent_event, original in zip(sent, events, strict=True):
        assert_same_event(sent_event, original)


def test_signed_webhook_batch_results_keep_order_around_an_invalid_event() -> None:
    events = sample("batch")
    mixed = [*events[:2], sample("invalid_track_missing_event"), *events[2:]]
    results = run_batch(
        SIGNED_WEBHOOK,
        mixed,
        settings=HOOK_SETTINGS,
        responses=[MockResponse(method="POST", url=HOOK, status=202)],
    )

    assert [r.outcome for r in results] == ["delivered"] * 2 + ["rejected"] + ["delivered"] * 4
    assert results[2].error is not None
    assert results[2].error.type == "InvalidEventPayload"
    assert "event: field required" in results[2].error.message
    assert results[2].requests == []
    delivered = [r for r in results if r.outcome == "delivered"]
    assert [r.result for r in delivered] == [{"status": 202, "type": e["type"]} for e in events]
    # One POST for the six valid events, shown on each of their records.
    for r in delivered:
        [request] = r.requests
        assert (request.method, request.url, request.status) == ("POST", HOOK, 202)
        assert request.headers == {**HOOK_HEADERS, "X-Event-Type": "batch"}


@pytest.mark.parametrize(
    ("status", "outcome", "error_type"),
    [
        (429, "retry", "RetryError"),
        (500, "retry", "RetryError"),
        (503, "retry", "RetryError"),
        (400, "rejected", "ValidationError"),
        (404, "rejected", "ValidationError"),
        (301, "rejected", "ValidationError"),
    ],
)
def test_signed_webhook_outcome_follows_the_receivers_status(
    status: int, outcome: str, error_type: str
) -> None:
    result = run_hook(sample("identify"), MockResponse(method="POST", url=HOOK, status=status))

    assert result.outcome == outcome
    assert result.result is None
    assert result.error is not None
    assert result.error.type == error_type
    assert str(status) in result.error.message
    assert [r.status for r in result.requests] == [status]


@pytest.mark.parametrize(("status", "outcome"), [(503, "retry"), (422, "rejected")])
def test_signed_webhook_batch_failure_applies_to_every_event(status: int, outcome: str) -> None:
    events = sample("batch")
    results = run_batch(
        SIGNED_WEBHOOK,
        events,
        settings=HOOK_SETTINGS,
        responses=[MockResponse(method="POST", url=HOOK, status=status)],
    )
    assert [r.outcome for r in results] == [outcome] * len(events)


def test_signed_webhook_connection_failure_is_retried() -> None:
    url = f"http://127.0.0.1:{closed_port()}/in"
    result = run_function(
        SIGNED_WEBHOOK,
        sample("track"),
        settings={"url": url, "signing_secret": SIGNING_SECRET},
        allow=("127.0.0.1",),
    )
    assert result.outcome == "retry"
    assert result.error is not None
    assert result.error.type == "RetryError"
    assert "connection refused" in result.error.message


def test_signed_webhook_masks_the_secret_even_when_the_receiver_echoes_it() -> None:
    echo = f"bad signature: expected key {SIGNING_SECRET}"
    result = run_hook(sample("track"), MockResponse(method="POST", url=HOOK, status=401, body=echo))

    assert result.outcome == "rejected"
    assert result.error is not None
    assert "bad signature: expected key ***" in result.error.message
    assert SIGNING_SECRET not in everything(result)


def test_signed_webhook_needs_its_settings() -> None:
    result = run_function(SIGNED_WEBHOOK, sample("track"), settings={"url": HOOK}, responses=[])
    assert (result.outcome, result.error and result.error.type) == ("invalid", "SettingsError")
    assert "settings.signing_secret: required" in result.error.message


def test_signed_webhook_helpers_sign_as_documented_in_plain_python() -> None:
    handler = load_handler("signed_webhook")

    # RFC 4231-style known answer (the Wikipedia HMAC-SHA256 example).
    assert handler.signature(b"The quick brown fox jumps over the lazy dog", "key") == (
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )

    payload = {"type": "track", "event": "Café Opened", "userId": "u1", "properties": {}}
    body, headers = handler.build_request(payload, "track", SIGNING_SECRET)
    assert body == json.dumps(payload, separators=(",", ":")).encode()
    assert body.isascii()
    assert headers == {
        "Content-Type": "application/json",
        "X-Event-Type": "track",
        "X-Signature": hmac_sha256(SIGNING_SECRET, body),
    }


# =========================================================================== slack_notifier

SLACK_URL = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/sEcReTtOkEn123456"
SLACK_SETTINGS: dict[str, Any] = {
    "webhook_url": SLACK_URL,
    "events": ["Order Completed", "Signed Up"],
    "notify_identify": True,
}
SLACK_OK = MockResponse(method="POST", url=SLACK_URL, body="ok")
SLACK_HEADERS = {"Content-Type": "application/json", "User-Agent": "functions-sdk"}


def run_slack(event: Any, *responses: MockResponse, **settings: Any) -> InvocationResult:
    return run_function(
        SLACK, event, settings={**SLACK_SETTINGS, **settings}, responses=list(responses)
    )


def test_slack_posts_a_listed_track_event_as_text_and_blocks() -> None:
    event = {
        "type": "track",
        "event": "Order Completed",
        "userId": "u_1",
        "messageId": "m-1",
        "timestamp": "2024-11-24T02:00:00+02:00",
        "properties": {"revenue": 25, "currency": "EUR", "coupon": "<b>&", "empty": ""},
    }
    result = run_slack(event, SLACK_OK)

    assert result.outcome == "delivered", result.error
    assert result.result == {"status": 200, "slack": "ok"}
    [request] = result.requests
    # The whole webhook URL is the secret: the recorded URL is masked.
    assert (request.method, request.url, request.status) == ("POST", MASK, 200)
    assert request.headers == SLACK_HEADERS
    headline = ":bell: *Order Completed* by `u_1` (25.00 EUR)"
    assert json.loads(request.body) == {
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*revenue*\n25"},
                    {"type": "mrkdwn", "text": "*currency*\nEUR"},
                    {"type": "mrkdwn", "text": "*coupon*\n&lt;b&gt;&amp;"},
                ],
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "2024-11-24 00:00:00 UTC · message m-1"}],
            },
        ],
    }
    assert result.logs == ["INFO posting to ***"]
    assert SLACK_URL not in everything(result)
    assert "sEcReTtOkEn" not in everything(result)


def test_slack_caps_fields_at_max_properties() -> None:
    result = run_slack(sample("track"), SLACK_OK, max_properties=3)
    assert result.outcome == "delivered"
    blocks = json.loads(result.requests[0].body)["blocks"]
    assert [f["text"].split("\n")[0] for f in blocks[1]["fields"]] == [
        "*order_id*",
        "*total*",
        "*revenue*",
    ]


def test_slack_filters_track_events_not_in_the_events_setting() -> None:
    event = {**sample("track"), "event": "Product Viewed"}
    result = run_slack(event, SLACK_OK)

    assert result.outcome == "filtered"
    assert result.error is not None
    assert result.error.type == "EventNotSupported"
    assert "'Product Viewed' is not in the events setting" in result.error.message
    assert result.requests == []


def test_slack_posts_new_users_when_notify_identify_is_on() -> None:
    result = run_slack(sample("identify"), SLACK_OK)

    assert result.outcome == "delivered", result.error
    body = json.loads(result.requests[0].body)
    assert body["text"] == ":wave: New user: Peter Gibbons (peter@example.com)"
    shown = [f["text"].split("\n")[0] for f in body["blocks"][1]["fields"]]
    assert "*name*" not in shown and "*email*" not in shown
    assert shown[:2] == ["*firstName*", "*lastName*"]


@pytest.mark.parametrize("notify", [False, None])
def test_slack_filters_identify_when_notify_identify_is_off(notify: bool | None) -> None:
    settings = {k: v for k, v in SLACK_SETTINGS.items() if k != "notify_identify"}
    if notify is not None:
        settings["notify_identify"] = notify
    result = run_function(SLACK, sample("identify"), settings=settings, responses=[SLACK_OK])

    assert result.outcome == "filtered"
    assert result.error is not None
    assert result.error.type == "EventNotSupported"
    assert "notify_identify" in result.error.message
    assert result.requests == []


@pytest.mark.parametrize("name", ["page", "screen", "group", "alias", "delete"])
def test_slack_filters_event_types_it_has_no_handler_for(name: str) -> None:
    result = run_slack(sample(name), SLACK_OK)
    assert result.outcome == "filtered"
    assert result.error == ErrorInfo("EventNotSupported", f"no on_{name} handler", None)
    assert result.requests == []


@pytest.mark.parametrize(
    ("response", "outcome", "error_type", "says"),
    [
        (
            MockResponse(status=429, body="rate_limited", headers={"Retry-After": "30"}),
            "retry",
            "RetryError",
            "Slack answered 429 (Retry-After: 30 s)",
        ),
        (MockResponse(status=500, body="internal_error"), "retry", "RetryError", "500"),
        (MockResponse(status=404, body="no_service"), "rejected", "ValidationError", "no_service"),
        (
            MockResponse(status=400, body="invalid_payload"),
            "rejected",
            "ValidationError",
            "400 'invalid_payload'",
        ),
        (MockResponse(status=403, body="invalid_token"), "rejected", "ValidationError", "403"),
    ],
)
def test_slack_outcome_follows_slacks_answer(
    response: MockResponse, outcome: str, error_type: str, says: str
) -> None:
    result = run_slack(sample("track"), response)

    assert result.outcome == outcome
    assert result.error is not None
    assert result.error.type == error_type
    assert says in result.error.message
    assert SLACK_URL not in everything(result)


def test_slack_warns_when_the_answer_is_not_ok() -> None:
    result = run_slack(sample("track"), MockResponse(method="POST", body="queued"))
    assert result.outcome == "delivered"
    assert result.logs == [
        "INFO posting to ***",
        "WARNING Slack answered 200 with 'queued' instead of 'ok'",
    ]


def test_slack_connection_failure_is_retried_and_the_url_stays_masked() -> None:
    url = f"http://127.0.0.1:{closed_port()}/services/T0/B0/sEcReTtOkEn"
    result = run_function(
        SLACK,
        sample("track"),
        settings={**SLACK_SETTINGS, "webhook_url": url},
        allow=("127.0.0.1",),
    )
    assert result.outcome == "retry"
    assert result.error is not None
    assert result.error.type == "RetryError"
    assert "connection refused" in result.error.message
    assert "sEcReTtOkEn" not in everything(result)
    assert result.requests[0].url == MASK


def test_slack_without_on_batch_runs_each_event_of_a_batch_in_order() -> None:
    results = run_batch(SLACK, sample("batch"), settings=SLACK_SETTINGS, responses=[SLACK_OK])

    assert [r.outcome for r in results] == [
        "delivered",  # identify, notify_identify on
        "delivered",  # Signed Up: listed
        "filtered",  # page: no handler
        "filtered",  # Product Viewed: not listed
        "filtered",  # group: no handler
        "delivered",  # Order Completed: listed
    ]
    texts = [json.loads(r.requests[0].body)["text"] for r in results if r.requests]
    assert texts == [
        ":wave: New user: Samir Nagheenanajar (samir@example.com)",
        ":bell: *Signed Up* by `user_c4ca4238`",
        ":bell: *Order Completed* by `user_c4ca4238` (42.00 USD)",
    ]


def test_slack_needs_the_events_setting() -> None:
    result = run_function(SLACK, sample("track"), settings={"webhook_url": SLACK_URL}, responses=[])
    assert (result.outcome, result.error and result.error.type) == ("invalid", "SettingsError")
    assert "settings.events: required" in result.error.message


# =========================================================================== crm_upsert

API = "https://crm.example.com/api/v1"
API_KEY = "crm_live_9d8c7b6a5f4e"
CRM_SETTINGS = {"api_base": API, "api_key": API_KEY}
CRM_HEADERS = {
    "Authorization": MASK,
    "Accept": "application/json",
    "Content-Type": "application/json",
    "User-Agent": "functions-sdk",
}
UPSERT_OK = MockResponse(method="POST", url=f"{API}/contacts/upsert", json={"id": "c_42"})
ACTIVITY_OK = MockResponse(method="POST", url=f"{API}/activities", status=201, json={"id": "a_7"})
COMPANY_OK = MockResponse(method="POST", url=f"{API}/companies/upsert", json={"id": "co_9"})


def run_crm(event: Any, *responses: MockResponse, **settings: Any) -> InvocationResult:
    return run_function(
        CRM, event, settings={**CRM_SETTINGS, **settings}, responses=list(responses)
    )


def sent(result: InvocationResult) -> list[tuple[str, str, dict[str, str], Any]]:
    """(method, url, headers, JSON body) of each recorded request."""
    return [
        (
            r.method,
            r.url,
            r.headers,
            None if r.body is None else json.loads(r.body),
        )
        for r in result.requests
    ]


def test_crm_identify_upserts_the_contact_by_email() -> None:
    event = sample("identify")
    result = run_crm(event, UPSERT_OK)

    assert result.outcome == "delivered", result.error
    assert result.result == {"contact_id": "c_42"}
    traits = {k: v for k, v in event["traits"].items() if k != "email"}
    assert sent(result) == [
        (
            "POST",
            f"{API}/contacts/upsert",
            CRM_HEADERS,
            {
                "email": "peter@example.com",
                "externalId": "user_8f14e45f",
                "anonymousId": "0b5b2e4a-7c1d-4f3a-9e60-3d2a1f6c9b10",
                "properties": traits,
            },
        )
    ]
    assert result.logs == ["INFO contact c_42 upserted"]
    assert API_KEY not in everything(result)


def test_crm_api_base_may_end_with_a_slash() -> None:
    result = run_crm(sample("identify"), UPSERT_OK, api_base=API + "/")
    assert result.outcome == "delivered"
    assert result.requests[0].url == f"{API}/contacts/upsert"


@pytest.mark.parametrize("email", [None, "", "not-an-email", 42])
def test_crm_identify_without_an_email_is_rejected(email: Any) -> None:
    event = sample("identify")
    if email is None:
        del event["traits"]["email"]
    else:
        event["traits"]["email"] = email
    result = run_crm(event, UPSERT_OK)

    assert result.outcome == "rejected"
    assert result.error is not None
    assert result.error.type == "InvalidEventPayload"
    assert "traits.email" in result.error.message
    assert result.requests == []


def test_crm_track_upserts_the_contact_then_logs_the_activity_against_its_id() -> None:
    event = sample("track")
    result = run_crm(event, UPSERT_OK, ACTIVITY_OK)

    assert result.outcome == "delivered", result.error
    assert result.result == {"contactId": "c_42", "activity_id": "a_7"}
    # "Idempotency-Key" contains "key": the SDK records its value masked.
    activity_headers = {
        "Authorization": MASK,
        "Accept": "application/json",
        "Idempotency-Key": MASK,
        "Content-Type": "application/json",
        "User-Agent": "functions-sdk",
    }
    assert sent(result) == [
        (
            "POST",
            f"{API}/contacts/upsert",
            CRM_HEADERS,
            {
                "email": "peter@example.com",
                "externalId": "user_8f14e45f",
                "anonymousId": "0b5b2e4a-7c1d-4f3a-9e60-3d2a1f6c9b10",
            },
        ),
        (
            "POST",
            f"{API}/activities",
            activity_headers,
            {
                "contactId": "c_42",
                "type": "event",
                "name": "Order Completed",
                "occurredAt": "2024-11-24T00:00:00.123000+00:00",
                "properties": event["properties"],
                "messageId": event["messageId"],
            },
        ),
    ]


def test_crm_track_sends_the_message_id_as_idempotency_key(receiver: _Receiver) -> None:
    receiver.body = b'{"id": "a_1"}'
    event = {k: v for k, v in sample("track").items() if k != "context"}
    result = run_function(
        CRM, event, settings={**CRM_SETTINGS, "api_base": receiver.url}, allow=("127.0.0.1",)
    )
    assert result.outcome == "delivered", result.error
    [seen] = receiver.seen
    assert seen["path"] == "/activities"
    assert seen["headers"]["Idempotency-Key"] == event["messageId"]
    assert seen["headers"]["Authorization"] == f"Bearer {API_KEY}"


def test_crm_track_without_email_uses_the_user_id() -> None:
    event = {**sample("track"), "context": {"library": {"name": "analytics-python"}}}
    del event["messageId"]
    # As given (no messageId), not as ingest would stamp it.
    result = run_function(
        CRM, event, settings=CRM_SETTINGS, responses=[UPSERT_OK, ACTIVITY_OK], stamp=False
    )

    assert result.outcome == "delivered", result.error
    assert result.result == {"contactExternalId": "user_8f14e45f", "activity_id": "a_7"}
    [(method, url, headers, body)] = sent(result)
    assert (method, url, headers) == ("POST", f"{API}/activities", CRM_HEADERS)
    assert body["contactExternalId"] == "user_8f14e45f"
    assert body["messageId"] is None


def test_crm_track_falls_back_to_the_user_id_when_the_upsert_has_no_id() -> None:
    result = run_crm(
        sample("track"),
        MockResponse(method="POST", url=f"{API}/contacts/upsert", status=204),
        ACTIVITY_OK,
    )
    assert result.outcome == "delivered", result.error
    assert result.result == {"contactExternalId": "user_8f14e45f", "activity_id": "a_7"}


def test_crm_filters_anonymous_track_events() -> None:
    event = {**sample("track"), "context": {}}
    del event["userId"]
    result = run_crm(event, UPSERT_OK, ACTIVITY_OK)

    assert result.outcome == "filtered"
    assert result.error is not None
    assert result.error.type == "EventNotSupported"
    assert result.requests == []


def test_crm_group_upserts_the_company() -> None:
    event = sample("group")
    result = run_crm(event, COMPANY_OK)

    assert result.outcome == "delivered", result.error
    assert result.result == {"company_id": "co_9"}
    traits = {k: v for k, v in event["traits"].items() if k != "name"}
    assert sent(result) == [
        (
            "POST",
            f"{API}/companies/upsert",
            CRM_HEADERS,
            {
                "externalId": "initech",
                "name": "Initech",
                "properties": traits,
                "contactExternalId": "user_8f14e45f",
            },
        )
    ]


@pytest.mark.parametrize(
    ("status", "outcome", "result"),
    [
        (204, "delivered", {"deleted": True, "status": 204}),
        (200, "delivered", {"deleted": True, "status": 200}),
        (404, "delivered", {"deleted": False, "status": 404}),
        (500, "retry", None),
        (429, "retry", None),
        (403, "rejected", None),
    ],
)
def test_crm_delete_removes_the_contact(
    status: int, outcome: str, result: dict[str, Any] | None
) -> None:
    event = {**sample("delete"), "userId": "user/8 f"}
    run = run_crm(event, MockResponse(method="DELETE", status=status))

    assert run.outcome == outcome, run.error
    assert run.result == result
    headers = {k: v for k, v in CRM_HEADERS.items() if k != "Content-Type"}
    assert [(r.method, r.url, r.headers, r.body) for r in run.requests] == [
        ("DELETE", f"{API}/contacts/external/user%2F8%20f", headers, None)
    ]


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_crm_retries_429_and_5xx(status: int) -> None:
    result = run_crm(
        sample("identify"),
        MockResponse(method="POST", url=f"{API}/contacts/upsert", status=status),
    )
    assert result.outcome == "retry"
    assert result.error is not None
    assert result.error.type == "RetryError"
    assert result.error.message == f"POST {API}/contacts/upsert answered {status}"
    assert [r.status for r in result.requests] == [status]


def test_crm_retries_when_the_activity_fails_after_the_upsert() -> None:
    result = run_crm(
        sample("track"),
        UPSERT_OK,
        MockResponse(method="POST", url=f"{API}/activities", status=503),
    )
    assert result.outcome == "retry"
    assert [(r.url, r.status) for r in result.requests] == [
        (f"{API}/contacts/upsert", 200),
        (f"{API}/activities", 503),
    ]


@pytest.mark.parametrize(
    ("response", "says"),
    [
        (
            MockResponse(status=400, json={"error": "email is not valid"}),
            "the CRM answered 400 when upserting the contact: email is not valid",
        ),
        (MockResponse(status=422, body="unprocessable"), "422 when upserting the contact"),
        (MockResponse(status=401), "the CRM refused the api_key (401)"),
        (MockResponse(status=501), "501"),
    ],
)
def test_crm_rejects_other_errors(response: MockResponse, says: str) -> None:
    result = run_crm(sample("identify"), response)
    assert result.outcome == "rejected"
    assert result.error is not None
    assert result.error.type == "ValidationError"
    assert says in result.error.message


def test_crm_masks_the_api_key_when_the_crm_echoes_it() -> None:
    result = run_crm(
        sample("identify"),
        MockResponse(status=400, json={"error": f"key {API_KEY} has no write scope"}),
    )
    assert result.outcome == "rejected"
    assert result.error is not None
    assert "key *** has no write scope" in result.error.message
    assert API_KEY not in everything(result)


@pytest.mark.parametrize("name", ["page", "screen", "alias"])
def test_crm_filters_event_types_it_has_no_handler_for(name: str) -> None:
    result = run_crm(sample(name), UPSERT_OK)
    assert result.outcome == "filtered"
    assert result.requests == []


def test_crm_runs_a_batch_event_by_event_in_order() -> None:
    results = run_batch(
        CRM,
        sample("batch"),
        settings=CRM_SETTINGS,
        responses=[UPSERT_OK, ACTIVITY_OK, COMPANY_OK],
    )
    assert [r.outcome for r in results] == [
        "delivered",  # identify: contact upsert
        "delivered",  # Signed Up: upsert (context.traits.email) + activity
        "filtered",  # page: no handler
        "filtered",  # Product Viewed: anonymous
        "delivered",  # group: company upsert
        "delivered",  # Order Completed: activity by userId
    ]
    assert [[r.url.removeprefix(API) for r in res.requests] for res in results] == [
        ["/contacts/upsert"],
        ["/contacts/upsert", "/activities"],
        [],
        [],
        ["/companies/upsert"],
        ["/activities"],
    ]


# =========================================================================== all three


@pytest.mark.parametrize("name", ["signed_webhook", "slack_notifier", "crm_upsert"])
def test_handlers_import_as_plain_python(name: str) -> None:
    handler = load_handler(name)
    handlers = [n for n in dir(handler) if n.startswith("on_")]
    assert handlers
    for n in handlers:
        assert callable(getattr(handler, n))


def test_slack_helpers_in_plain_python() -> None:
    handler = load_handler("slack_notifier")
    assert handler.escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert handler.show_value({"b": 1, "a": [1, 2]}) == '{"a": [1, 2], "b": 1}'
    assert handler.show_value("x" * 500).endswith("…")
    assert len(handler.show_value("x" * 500)) == handler.MAX_FIELD_CHARS


def test_crm_helpers_in_plain_python() -> None:
    handler = load_handler("crm_upsert")
    assert handler.email_of({"email": " Peter@Example.com "}) == "peter@example.com"
    assert handler.email_of({"email": "nope"}) is None
    assert handler.email_of({}) is None
