"""CRM upsert: dataclasses for the payloads, an enum of endpoints, a small client."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Optional

from functions_sdk import Settings, TrackEvent

log = logging.getLogger(__name__)


class Endpoint(str, Enum):
    CONTACTS = "/v3/contacts"
    DEALS = "/v3/deals"
    NOTES = "/v3/notes"

    def url(self, base: str) -> str:
        return base.rstrip("/") + self.value


@dataclass
class Contact:
    external_id: str
    email: Optional[str] = None
    properties: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        body = asdict(self)
        return {k: v for k, v in body.items() if v not in (None, {}, [])}


@dataclass
class Deal:
    contact_id: str
    amount: float
    currency: str = "USD"
    stage: str = "closedwon"


@dataclass
class Upsert:
    endpoint: Endpoint
    payload: dict[str, Any]
    idempotency_key: str

    def as_request(self, base: str) -> dict[str, Any]:
        return {"method": "POST", "url": self.endpoint.url(base), "json": self.payload,
                "headers": {"Idempotency-Key": self.idempotency_key}}


def plan(event: TrackEvent, settings: Settings) -> list[Upsert]:
    props = event.properties
    contact = Contact(external_id=event.userId or "anon", properties={"plan": props.get("plan")})
    ops = [Upsert(Endpoint.CONTACTS, contact.to_payload(), f"c-{event.messageId}")]
    if event.event == "Order Completed":
        deal = Deal(contact.external_id, float(props["total"]), props.get("currency", "USD"))
        ops.append(Upsert(Endpoint.DEALS, asdict(deal), f"d-{props['order_id']}"))
    return ops


def on_track(event: TrackEvent, settings: Settings) -> dict[str, Any]:
    ops = plan(event, settings)
    log.info("upserting %d objects", len(ops))
    return {"requests": [op.as_request(settings["endpoint"]) for op in ops],
            "endpoints": [e.name for e in Endpoint]}
