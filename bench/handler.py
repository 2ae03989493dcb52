"""The benchmark's destination function: customer code, run three ways by the bench.

This module is both the source the sandbox compiles (``handler_source()`` reads
this file) and a plain Python module the in-process baselines import. It does what
a typical webhook destination does for each event: build a payload from the
event, serialise it with ``json``, sign the exact body with HMAC-SHA256 and POST
it with the SDK's ``fetch``; the receiver's answer decides the outcome.

It has no ``on_batch``, so a batch runs one handler call per event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from functions_sdk import (
    IdentifyEvent,
    PageEvent,
    RetryError,
    Settings,
    TrackEvent,
    ValidationError,
    fetch,
)


def _context_fields(context: dict[str, Any] | None) -> dict[str, Any]:
    ctx = context or {}
    library = ctx.get("library") or {}
    return {
        "ip": ctx.get("ip"),
        "locale": ctx.get("locale"),
        "user_agent": ctx.get("userAgent"),
        "library": f"{library.get('name', 'unknown')}/{library.get('version', '0')}",
    }


def track_payload(event: TrackEvent) -> dict[str, Any]:
    """The receiver's JSON for a track event: an order with its line items."""
    props = event.properties
    items = []
    for product in props.get("products") or []:
        quantity = int(product.get("quantity", 1))
        price = float(product.get("price", 0.0))
        items.append(
            {
                "sku": product.get("sku"),
                "name": product.get("name"),
                "quantity": quantity,
                "amount": round(price * quantity, 2),
            }
        )
    return {
        "kind": "event",
        "name": event.event,
        "user": event.userId or event.anonymousId,
        "message_id": event.messageId,
        "sent_at": event.timestamp.isoformat() if event.timestamp else None,
        "order": {
            "id": props.get("order_id"),
            "revenue": props.get("revenue"),
            "currency": str(props.get("currency", "USD")).upper(),
            "items": items,
            "item_count": sum(item["quantity"] for item in items),
        },
        "context": _context_fields(event.context),
    }


def identify_payload(event: IdentifyEvent) -> dict[str, Any]:
    """The receiver's JSON for an identify event: the user's profile."""
    traits = event.traits
    return {
        "kind": "profile",
        "user": event.userId or event.anonymousId,
        "message_id": event.messageId,
        "email": str(traits.get("email", "")).lower() or None,
        "name": traits.get("name"),
        "plan": traits.get("plan"),
        "context": _context_fields(event.context),
    }


def page_payload(event: PageEvent) -> dict[str, Any]:
    """The receiver's JSON for a page view."""
    props = event.properties
    return {
        "kind": "page",
        "user": event.userId or event.anonymousId,
        "message_id": event.messageId,
        "name": event.name,
        "url": props.get("url"),
        "referrer": props.get("referrer"),
        "context": _context_fields(event.context),
    }


def signature(body: str, secret: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body, keyed with the signing secret."""
    digest = hmac.new(secret.encode("utf-8"), body.encode("utf-8"), hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def deliver(payload: dict[str, Any], event_type: str, settings: Settings) -> dict[str, Any]:
    """POST the signed payload; 2xx delivers, 429/5xx retry, other statuses reject."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    headers = {
        "Content-Type": "application/json",
        "X-Event-Type": event_type,
        "X-Signature": signature(body, settings.get_str("signing_secret")),
    }
    response = fetch(settings.get_str("url"), method="POST", body=body, headers=headers)
    if response.status == 429 or response.status >= 500:
        raise RetryError(f"the receiver answered {response.status}", status=response.status)
    if not response.ok:
        raise ValidationError(f"the receiver answered {response.status}: {response.text[:200]}")
    answer = response.json()
    return {"status": response.status, "id": answer.get("id")}


def on_track(event: TrackEvent, settings: Settings) -> dict[str, Any]:
    return deliver(track_payload(event), "track", settings)


def on_identify(event: IdentifyEvent, settings: Settings) -> dict[str, Any]:
    return deliver(identify_payload(event), "identify", settings)


def on_page(event: PageEvent, settings: Settings) -> dict[str, Any]:
    return deliver(page_payload(event), "page", settings)
