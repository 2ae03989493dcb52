"""Slack notifier: post chosen track events, and optionally identifies, to Slack.

Messages go to a Slack *incoming webhook* (``webhook_url``, a secret setting) as
``{"text": ..., "blocks": [...]}``: ``text`` is the plain fallback shown in
notifications, ``blocks`` the formatted message.

* ``on_track`` posts the events whose name is listed in the ``events`` setting;
  other track events are filtered (``EventNotSupported``).
* ``on_identify`` posts a new-user message when ``notify_identify`` is true;
  otherwise identifies are filtered.
* Other event types have no handler, so they are filtered.

Slack answers ``200`` with the text ``ok``. 429 (rate limited) and 5xx are
retried; any other answer (``invalid_payload``, ``no_service``, ...) rejects the
event with Slack's reason.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from functions_sdk import (
    BaseEvent,
    EventNotSupported,
    IdentifyEvent,
    RetryError,
    Settings,
    TrackEvent,
    ValidationError,
    fetch,
    logger,
)

MAX_FIELDS = 10  # Slack's limit for fields in one section block
MAX_FIELD_CHARS = 300
MAX_TEXT_CHARS = 2900  # a section's text may be at most 3000 characters


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_value(value: Any) -> str:
    """A property value as short text: strings as they are, the rest as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return escape(_shorten(text, MAX_FIELD_CHARS))


def who(event: BaseEvent) -> str:
    """How the message names the user: the userId, else the anonymousId."""
    if event.userId:
        return event.userId
    return f"anonymous {event.anonymousId}"


def fields(values: dict[str, Any], limit: int) -> list[dict[str, str]]:
    """Up to ``limit`` (at most 10) ``*name*\\nvalue`` fields, in the event's order."""
    out: list[dict[str, str]] = []
    for name, value in values.items():
        if len(out) >= min(limit, MAX_FIELDS):
            break
        if value is None or value == "" or value == [] or value == {}:
            continue
        out.append({"type": "mrkdwn", "text": f"*{escape(str(name))}*\n{show_value(value)}"})
    return out


def context_line(event: BaseEvent) -> dict[str, Any]:
    parts = []
    if event.timestamp is not None:
        parts.append(event.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    if event.messageId:
        parts.append(f"message {escape(event.messageId)}")
    text = " · ".join(parts) if parts else event.type
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def message(headline: str, details: dict[str, Any], event: BaseEvent, limit: int) -> dict[str, Any]:
    """The Slack payload: a fallback ``text`` and the same content as blocks."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _shorten(headline, MAX_TEXT_CHARS)}}
    ]
    shown = fields(details, limit)
    if shown:
        blocks.append({"type": "section", "fields": shown})
    blocks.append(context_line(event))
    return {"text": _shorten(headline, MAX_TEXT_CHARS), "blocks": blocks}


def _post(payload: dict[str, Any], settings: Settings) -> dict[str, Any]:
    url = settings.get_str("webhook_url")
    logger.info("posting to %s", url)  # the URL is a secret: the log shows ***
    response = fetch(url, method="POST", json=payload)
    status = response.status
    if status == 429 or status >= 500:
        wait = response.headers.get("retry-after", "")
        hint = f" (Retry-After: {wait} s)" if wait else ""
        raise RetryError(f"Slack answered {status}{hint}; the event will be retried", status=status)
    answer = response.text.strip()
    if not response.ok:
        raise ValidationError(
            f"Slack refused the message with {status} {answer[:100]!r}: check the webhook_url "
            "setting (no_service, invalid_token, channel_is_archived) or the message"
        )
    if answer != "ok":
        logger.warning("Slack answered %s with %r instead of 'ok'", status, answer[:100])
    return {"status": status, "slack": answer[:100]}


def _limit(settings: Settings) -> int:
    return int(settings.get_number("max_properties", MAX_FIELDS))


def on_track(event: TrackEvent, settings: Settings) -> dict[str, Any]:
    wanted = [str(name) for name in settings.get_list("events")]
    if event.event not in wanted:
        raise EventNotSupported(
            f"track event {event.event!r} is not in the events setting ({len(wanted)} names)"
        )
    headline = f":bell: *{escape(event.event)}* by `{escape(who(event))}`"
    revenue = event.properties.get("revenue")
    if isinstance(revenue, int | float) and not isinstance(revenue, bool):
        currency = event.properties.get("currency")
        unit = currency if isinstance(currency, str) else "USD"
        headline += f" ({revenue:.2f} {escape(unit)})"
    return _post(message(headline, event.properties, event, _limit(settings)), settings)


def on_identify(event: IdentifyEvent, settings: Settings) -> dict[str, Any]:
    if not settings.get_bool("notify_identify", False):
        raise EventNotSupported("identify notifications are off (notify_identify is false)")
    traits = event.traits
    name = traits.get("name")
    if not isinstance(name, str) or not name:
        first, last = traits.get("firstName"), traits.get("lastName")
        name = " ".join(p for p in (first, last) if isinstance(p, str) and p)
    email = traits.get("email")
    label = escape(name) if name else f"`{escape(who(event))}`"
    if isinstance(email, str) and email:
        label += f" ({escape(email)})"
    headline = f":wave: New user: {label}"
    details = {k: v for k, v in traits.items() if k not in ("name", "email")}
    return _post(message(headline, details, event, _limit(settings)), settings)
