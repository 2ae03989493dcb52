"""Signed webhook: POST each event as JSON to ``url``, signed with HMAC-SHA256.

Every request carries:

* ``Content-Type: application/json``;
* ``X-Event-Type``: the event's type (``track``, ``identify``, ...), or ``batch``
  when ``on_batch`` sends a JSON array of events in one request;
* ``X-Signature: sha256=<hex>``: the HMAC-SHA256 of the exact body bytes, keyed
  with the ``signing_secret`` setting. Receivers verify it like this::

      expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
      ok = hmac.compare_digest(expected, request.headers["X-Signature"])

The receiver's answer decides the outcome: 2xx delivers, 429 and 5xx are retried
(as are connection failures and timeouts), any other status rejects the event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from functions_sdk import (
    AliasEvent,
    BaseEvent,
    DeleteEvent,
    Event,
    GroupEvent,
    IdentifyEvent,
    PageEvent,
    RetryError,
    ScreenEvent,
    Settings,
    TrackEvent,
    ValidationError,
    fetch,
    logger,
)

SIGNATURE_HEADER = "X-Signature"
EVENT_TYPE_HEADER = "X-Event-Type"


def signature(body: bytes, secret: str) -> str:
    """The ``X-Signature`` value for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def encode_body(payload: Any) -> bytes:
    """The exact bytes sent (and signed): compact JSON, ASCII only."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def build_request(payload: Any, event_type: str, secret: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one signed request."""
    body = encode_body(payload)
    headers = {
        "Content-Type": "application/json",
        EVENT_TYPE_HEADER: event_type,
        SIGNATURE_HEADER: signature(body, secret),
    }
    return body, headers


def event_payload(event: BaseEvent) -> dict[str, Any]:
    """The event as JSON, with the keys it arrived with (unknown keys included)."""
    payload: dict[str, Any] = event.model_dump(mode="json", exclude_unset=True)
    return payload


def _post(payload: Any, event_type: str, settings: Settings) -> int:
    """POST ``payload`` signed; return the status, or raise for the outcome."""
    url = settings.get_str("url")
    body, headers = build_request(payload, event_type, settings.get_str("signing_secret"))
    # fetch raises RetryError itself for connection failures and timeouts.
    response = fetch(url, method="POST", body=body, headers=headers)
    status = response.status
    if status == 429 or status >= 500:
        raise RetryError(f"the webhook answered {status}; the event will be retried", status=status)
    if not response.ok:
        raise ValidationError(
            f"the webhook answered {status}: {response.text[:200]} "
            "(check the url setting and what the receiver expects)"
        )
    logger.info("%s delivered: webhook answered %s", event_type, status)
    return status


def _send(event: BaseEvent, settings: Settings) -> dict[str, Any]:
    return {"status": _post(event_payload(event), event.type, settings)}


def on_track(event: TrackEvent, settings: Settings) -> dict[str, Any]:
    return _send(event, settings)


def on_identify(event: IdentifyEvent, settings: Settings) -> dict[str, Any]:
    return _send(event, settings)


def on_page(event: PageEvent, settings: Settings) -> dict[str, Any]:
    return _send(event, settings)


def on_screen(event: ScreenEvent, settings: Settings) -> dict[str, Any]:
    return _send(event, settings)


def on_group(event: GroupEvent, settings: Settings) -> dict[str, Any]:
    return _send(event, settings)


def on_alias(event: AliasEvent, settings: Settings) -> dict[str, Any]:
    return _send(event, settings)


def on_delete(event: DeleteEvent, settings: Settings) -> dict[str, Any]:
    return _send(event, settings)


def on_batch(events: list[Event], settings: Settings) -> list[dict[str, Any]]:
    """One signed POST with the JSON array of events; one result per event, in order.

    The receiver answers for the whole array, so a retryable answer retries the
    whole batch and any other error rejects it.
    """
    payload = [event_payload(event) for event in events]
    status = _post(payload, "batch", settings)
    return [{"status": status, "type": event.type} for event in events]
