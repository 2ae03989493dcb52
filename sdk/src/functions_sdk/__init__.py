"""functions_sdk: what Functions handlers import.

A destination function is a module with one handler per event type::

    from functions_sdk import TrackEvent, Settings, fetch, RetryError

    def on_track(event: TrackEvent, settings: Settings) -> None:
        response = fetch(settings.get_str("url"), method="POST", json=event.properties)
        if not response.ok:
            raise RetryError(f"upstream answered {response.status}")

Everything public is listed in ``__all__``; anything else is private and may change.
"""

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
from .http import Response, fetch
from .log import logger
from .settings import Settings
from .source import SourceRequest, emit

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
