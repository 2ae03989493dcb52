"""Source functions: turn an incoming webhook into Segment Spec events.

A source function defines ``on_request(request, settings)``; ``request`` is a
:class:`SourceRequest` (method, headers, query, body) and the handler calls
:func:`emit` once per event it wants to send. Emitted events are validated against
the Spec and enter ingest like any other event::

    from functions_sdk import SourceRequest, Settings, emit

    def on_request(request: SourceRequest, settings: Settings) -> None:
        payload = request.json()
        emit({"type": "track", "event": "Invoice Paid", "userId": payload["customer"],
              "properties": {"amount": payload["amount"]}})
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._context import current
from .errors import InvalidEventPayload, ValidationError
from .events import EventParseError, event_to_dict, parse_event

__all__ = ["MAX_EMITTED", "MAX_EMITTED_BYTES", "MAX_EMITTED_EVENT_BYTES", "SourceRequest", "emit"]

MAX_EMITTED = 500
# JSON bytes: one emitted event at most what ingest accepts for one message, all of one
# request's together at most this.
MAX_EMITTED_EVENT_BYTES = 32 * 1024
MAX_EMITTED_BYTES = 1024 * 1024


class SourceRequest(BaseModel):
    """The webhook request a source function receives (a copy; changing it does nothing)."""

    model_config = ConfigDict(extra="forbid")

    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    body: str = ""

    def json(self) -> Any:  # type: ignore[override]
        """The body parsed as JSON (``InvalidEventPayload`` when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise InvalidEventPayload(f"the request body is not JSON: {exc}") from None

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default


def emit(event: Any) -> None:
    """Send one Spec event (a dict or an event model) on from a source function.

    It is validated now: an event that fails the Spec raises ``ValidationError``, and
    so does one over ``MAX_EMITTED_EVENT_BYTES`` of JSON or one that would take the
    request's emitted events past ``MAX_EMITTED`` events or ``MAX_EMITTED_BYTES``.
    """
    ctx = current()
    emitted: list[dict[str, Any]] = ctx.emitted
    if len(emitted) >= MAX_EMITTED:
        raise ValidationError(f"a source function may emit at most {MAX_EMITTED} events")
    try:
        model = parse_event(event if isinstance(event, dict) else event_to_dict(event))
    except (EventParseError, TypeError, AttributeError) as exc:
        raise ValidationError(f"emitted event is not valid: {exc}") from None
    data = event_to_dict(model)
    size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_EMITTED_EVENT_BYTES:
        raise ValidationError(
            f"an emitted event may be at most {MAX_EMITTED_EVENT_BYTES} bytes of JSON; "
            f"this one is {size}"
        )
    if ctx.emitted_bytes + size > MAX_EMITTED_BYTES:
        raise ValidationError(
            f"the events a source function emits may be at most {MAX_EMITTED_BYTES} "
            "bytes of JSON together"
        )
    ctx.emitted_bytes += size
    emitted.append(data)
