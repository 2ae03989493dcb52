import json
from datetime import date, datetime
from decimal import Decimal


def encode(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def on_track(event, settings):
    body = {"when": date(2026, 11, 30), "amount": Decimal("12.50"), "event": event.event}
    text = json.dumps(body, default=encode, sort_keys=True, separators=(",", ":"))
    return {"text": text, "back": json.loads(text)}
