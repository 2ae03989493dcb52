"""functions_sdk: what Functions handlers import.

A destination function is a module with one handler per event type::

    from functions_sdk import TrackEvent, Settings, fetch, RetryError

    def on_track(event: TrackEvent, settings: Settings) -> None:
        response = fetch(settings.get_str("url"), method="POST", json=event.properties)
        if not response.ok:
            raise RetryError(f"upstream answered {response.status}")

Everything public is listed in ``__all__``; anything else is private and may change.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    DropEvent,
    EventNotSupported,
    FetchError,
    FunctionError,
    InvalidEventPayload,
    RequestBlocked,
    RetryError,
    StoreError,
    ValidationError,
)
from .http import Response, fetch
from .log import logger
from .settings import Settings

if TYPE_CHECKING:
    from .events import (
        AliasEvent,
        BaseEvent,
        DeleteEvent,
        Event,
        GroupEvent,
        IdentifyEvent,
        PageEvent,
        ScreenEvent,
        TrackEvent,
        event_to_dict,
    )
    from .source import SourceRequest, emit

# The event models and source requests are pydantic models: their module is imported
# when one of them is first asked for, so a process that needs only the errors,
# settings or fetch (the runtime's host side, a Lambda's cold start) does not build
# them. The sandbox's worker template imports functions_sdk.events itself.
_LAZY = {
    **dict.fromkeys(
        (
            "AliasEvent",
            "BaseEvent",
            "DeleteEvent",
            "Event",
            "GroupEvent",
            "IdentifyEvent",
            "PageEvent",
            "ScreenEvent",
            "TrackEvent",
            "event_to_dict",
        ),
        "events",
    ),
    "SourceRequest": "source",
    "emit": "source",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # asked once: later lookups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "AliasEvent",
    "BaseEvent",
    "DeleteEvent",
    "DropEvent",
    "Event",
    "EventNotSupported",
    "FetchError",
    "FunctionError",
    "GroupEvent",
    "IdentifyEvent",
    "InvalidEventPayload",
    "PageEvent",
    "RequestBlocked",
    "Response",
    "RetryError",
    "ScreenEvent",
    "Settings",
    "SourceRequest",
    "StoreError",
    "TrackEvent",
    "ValidationError",
    "emit",
    "event_to_dict",
    "fetch",
    "logger",
]
