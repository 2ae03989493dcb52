"""A source function: Stripe-style webhooks in, Segment Spec events out.

Checks the ``Stripe-Signature``-style HMAC header with the secret setting, then
emits a ``track`` for paid invoices and an ``identify`` for new customers.
"""

import hashlib
import hmac
from typing import Any

from functions_sdk import InvalidEventPayload, Settings, SourceRequest, ValidationError, emit


def _verify(request: SourceRequest, secret: str) -> None:
    given = request.header("x-signature") or ""
    expected = (
        "sha256=" + hmac.new(secret.encode(), request.body.encode(), hashlib.sha256).hexdigest()
    )
    if not hmac.compare_digest(given, expected):
        raise ValidationError("the webhook signature does not match")


def on_request(request: SourceRequest, settings: Settings) -> dict[str, Any]:
    _verify(request, settings.get_str("signing_secret"))
    payload = request.json()
    if not isinstance(payload, dict) or "type" not in payload:
        raise InvalidEventPayload("expected a JSON object with a type")
    data = payload.get("data") or {}
    customer = str(data.get("customer") or "")
    if not customer:
        raise InvalidEventPayload("the webhook has no data.customer")
    if payload["type"] == "invoice.paid":
        emit(
            {
                "type": "track",
                "event": "Invoice Paid",
                "userId": customer,
                "properties": {
                    "amount": data.get("amount", 0) / 100,
                    "currency": data.get("currency", "usd"),
                },
            }
        )
    elif payload["type"] == "customer.created":
        emit({"type": "identify", "userId": customer, "traits": {"email": data.get("email")}})
    else:
        return {"ignored": payload["type"]}
    return {"emitted": payload["type"]}
