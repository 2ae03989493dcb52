"""Run one handler source two ways: through the production sandbox and as plain CPython.

A corpus file is an ordinary handler module with ``on_track(event, settings)`` (or
``on_identify``); its first lines may say ``# event: <json>`` and ``# settings: <json>``.
Both runs see the same event (parsed by the SDK) and settings; results are compared as
JSON, the form in which a result leaves the sandbox.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

from functions_sdk import Settings
from functions_sdk._context import InvocationContext, activate
from functions_sdk.events import parse_event

CORPUS = Path(__file__).parent / "corpus"
DEFAULT_EVENT: dict[str, Any] = {
    "type": "track",
    "event": "Order Completed",
    "userId": "user-42",
    "messageId": "m-1",
    "timestamp": "2026-11-30T12:34:56Z",
    "properties": {
        "order_id": "o-991",
        "total": 129.5,
        "currency": "EUR",
        "plan": "pro",
        "items": [
            {"sku": "A-1", "qty": 2, "price": 20.0},
            {"sku": "B-7", "qty": 1, "price": 89.5},
        ],
    },
    "context": {"ip": "203.0.113.9", "locale": "de-DE"},
}
DEFAULT_SETTINGS: dict[str, Any] = {
    "api_key": "sk-test-123",
    "endpoint": "https://crm.example.com/api",
    "region": "eu",
}


def header(source: str, name: str, default: Any) -> Any:
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        if line.startswith(f"# {name}: "):
            return json.loads(line.split(": ", 1)[1])
    return default


def handler_name(source: str) -> str:
    return "on_identify" if "def on_identify(" in source else "on_track"


def run_plain(source: str, event: dict[str, Any], settings: dict[str, Any]) -> Any:
    """The handler as plain CPython runs it (a module called "handler")."""
    name = "handler"  # an imported module is in sys.modules (dataclasses look there)
    module = types.ModuleType(name)
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        exec(compile(source, "handler.py", "exec"), module.__dict__)
        with activate(InvocationContext()):
            handler = module.__dict__[handler_name(source)]
            result = handler(parse_event(event), Settings(settings))
    finally:
        if previous is None:
            del sys.modules[name]
        else:
            sys.modules[name] = previous
    return json.loads(json.dumps(result))
