"""Typed Segment Spec events: the objects every destination handler receives.

The runtime turns each delivered JSON event into one of these pydantic v2 models
with :func:`parse_event`, then calls the handler for its ``type``. Authors type
their handlers with the matching model::

    from functions_sdk import Settings, TrackEvent

    def on_track(event: TrackEvent, settings: Settings) -> None:
        revenue = event.properties.get("revenue")
        ...

The models are also importable from ``functions_sdk.events``. A handler that
takes events of several types (``on_batch``) can be typed with the :data:`Event`
union, e.g. ``def on_batch(events: list[Event], settings: Settings) -> None``.

What is enforced
----------------
* ``type`` must be one of :data:`EVENT_TYPES`:
  ``track``, ``identify``, ``page``, ``screen``, ``group``, ``alias`` or ``delete``.
* At least one of ``userId`` and ``anonymousId`` must be a non-empty string
  (a string of only whitespace counts as empty). ``delete`` and ``alias`` events
  need a non-empty ``userId``.
* The ids ``userId``, ``anonymousId``, ``groupId`` and ``previousId`` must be
  strings. Integers are accepted and turned into strings (real clients send
  numeric ids); booleans, floats, lists and objects are rejected.
* The fields each type needs: ``track`` needs a non-empty ``event``; ``group``
  needs a non-empty ``groupId``; ``alias`` needs a non-empty ``previousId``.
* ``messageId`` is at most 100 characters. It may be missing, because the
  runtime assigns one.
* ``timestamp``, ``originalTimestamp``, ``sentAt`` and ``receivedAt`` must be
  ISO-8601 strings. A trailing ``Z`` is fine, and so are offsets such as
  ``+02:00``. Timestamps without an offset are taken as UTC, as the Spec says. The
  models hold them as timezone-aware :class:`~datetime.datetime` objects.
* ``context``, ``integrations``, ``properties`` and ``traits`` must be JSON
  objects. Their contents are not checked. A ``null`` ``properties`` or
  ``traits`` becomes ``{}``, so handlers can always call ``.get`` on it.
* Assigning to a field re-runs these checks (``validate_assignment``). For
  example, ``event.userId = ["x"]`` raises :class:`pydantic.ValidationError`.

Unknown fields are kept
-----------------------
A key that the Spec does not name (``writeKey``, ``_metadata`` and so on) is
kept as it is. It is readable through ``event.model_extra`` and comes back out
of :func:`event_to_dict`. Keys inside ``context``, ``properties``, ``traits`` and
``integrations`` are never dropped either.

Errors
------
:func:`parse_event` raises :class:`EventParseError`, a :class:`ValueError`.
Its ``problems`` list names each field that is wrong, for example
``"event: field required"``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeAlias, cast

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "EVENT_TYPES",
    "AliasEvent",
    "BaseEvent",
    "DeleteEvent",
    "Event",
    "EventParseError",
    "GroupEvent",
    "IdentifyEvent",
    "PageEvent",
    "ScreenEvent",
    "TrackEvent",
    "event_to_dict",
    "parse_event",
]

EVENT_TYPES: tuple[str, ...] = (
    "track",
    "identify",
    "page",
    "screen",
    "group",
    "alias",
    "delete",
)

MAX_MESSAGE_ID_LENGTH = 100


# --------------------------------------------------------------------------- field types


def _coerce_id(value: object) -> object:
    """Accept a string id and turn an integer id into a string. Reject everything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise PydanticCustomError("id_type", "must be a string")


def _coerce_required_id(value: object) -> object:
    """Like :func:`_coerce_id`, but an empty or blank string is also an error."""
    text = _coerce_id(value)
    if isinstance(text, str) and not text.strip():
        raise PydanticCustomError("empty", "must not be empty")
    return text


def _non_empty_str(value: object) -> object:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "must be a string")
    if not value.strip():
        raise PydanticCustomError("empty", "must not be empty")
    return value


def _parse_timestamp(value: object) -> object:
    """Parse an ISO-8601 string (or take a datetime). An offset-less value is taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("timestamp", "must be an ISO-8601 timestamp") from None
    else:
        raise PydanticCustomError("timestamp", "must be an ISO-8601 timestamp")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _version(value: object) -> object:
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise PydanticCustomError("version_type", "must be an integer or a string")


def _null_to_empty(value: object) -> object:
    return {} if value is None else value


_Id = Annotated[str, BeforeValidator(_coerce_id)]
_RequiredId = Annotated[str, BeforeValidator(_coerce_required_id)]
_NonEmptyStr = Annotated[str, BeforeValidator(_non_empty_str)]
_Timestamp = Annotated[datetime, BeforeValidator(_parse_timestamp)]
_Version = Annotated[int | str, BeforeValidator(_version)]
_Object = Annotated[dict[str, Any], BeforeValidator(_null_to_empty)]


# --------------------------------------------------------------------------- models


class BaseEvent(BaseModel):
    """The fields that every Segment Spec event has in common.

    Unknown top-level keys are kept (``extra="allow"``) and can be read through
    ``model_extra``. Assignments are validated.
    """

    model_config = ConfigDict(
        extra="allow",
        validate_assignment=True,
        populate_by_name=True,
        str_strip_whitespace=False,
    )

    type: str
    messageId: str | None = Field(default=None, max_length=MAX_MESSAGE_ID_LENGTH)
    userId: _Id | None = None
    anonymousId: _Id | None = None
    timestamp: _Timestamp | None = None
    originalTimestamp: _Timestamp | None = None
    sentAt: _Timestamp | None = None
    receivedAt: _Timestamp | None = None
    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    channel: str | None = None
    version: _Version | None = None
    projectId: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _require_identity(cls, data: Any) -> Any:
        # A "before" check, not an "after" one: on assignment pydantic runs it on
        # the would-be field values, so a failing ``event.userId = None`` leaves the
        # event unchanged. (An "after" check would see, and keep, the bad value.)
        if not isinstance(data, dict) or cls.model_fields["userId"].is_required():
            return data  # delete/alias: the required userId reports its own error
        user_id, anonymous_id = data.get("userId"), data.get("anonymousId")
        if _wrong_id_type(user_id) or _wrong_id_type(anonymous_id):
            return data  # the field's own check names the problem
        if not _filled(user_id) and not _filled(anonymous_id):
            raise PydanticCustomError(
                "identity_missing",
                "userId or anonymousId: at least one must be a non-empty string",
            )
        return data


def _wrong_id_type(value: object) -> bool:
    return value is not None and (isinstance(value, bool) or not isinstance(value, str | int))


def _filled(value: object) -> bool:
    """True for an id that counts: a non-blank string, or an integer (made a string)."""
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, int) and not isinstance(value, bool)


class TrackEvent(BaseEvent):
    """A user action: ``event`` is its name, and ``properties`` describes it."""

    type: Literal["track"] = "track"
    event: _NonEmptyStr
    properties: _Object = Field(default_factory=dict)


class IdentifyEvent(BaseEvent):
    """Who the user is: ``traits`` such as ``email`` or ``name``."""

    type: Literal["identify"] = "identify"
    traits: _Object = Field(default_factory=dict)


class PageEvent(BaseEvent):
    """A web page view, with an optional ``name`` and ``category``."""

    type: Literal["page"] = "page"
    name: str | None = None
    category: str | None = None
    properties: _Object = Field(default_factory=dict)


class ScreenEvent(BaseEvent):
    """A mobile screen view, with an optional ``name`` and ``category``."""

    type: Literal["screen"] = "screen"
    name: str | None = None
    category: str | None = None
    properties: _Object = Field(default_factory=dict)


class GroupEvent(BaseEvent):
    """Ties the user to a group (an account or company) named by ``groupId``."""

    type: Literal["group"] = "group"
    groupId: _RequiredId
    traits: _Object = Field(default_factory=dict)


class AliasEvent(BaseEvent):
    """Merges two identities: ``previousId`` becomes ``userId``."""

    type: Literal["alias"] = "alias"
    userId: _RequiredId
    previousId: _RequiredId


class DeleteEvent(BaseEvent):
    """A request to delete the user's data. ``context`` and ``integrations`` may be null."""

    type: Literal["delete"] = "delete"
    userId: _RequiredId


Event: TypeAlias = Annotated[
    TrackEvent | IdentifyEvent | PageEvent | ScreenEvent | GroupEvent | AliasEvent | DeleteEvent,
    Field(discriminator="type"),
]
"""Any event: a union of the seven models, told apart by ``type``."""

_MODELS: dict[str, type[BaseEvent]] = {
    "track": TrackEvent,
    "identify": IdentifyEvent,
    "page": PageEvent,
    "screen": ScreenEvent,
    "group": GroupEvent,
    "alias": AliasEvent,
    "delete": DeleteEvent,
}


# --------------------------------------------------------------------------- parsing


class EventParseError(ValueError):
    """The JSON value is not a valid event. ``problems`` lists each thing that is wrong.

    Each problem reads ``"<field>: <what is wrong>"`` (nested fields are joined
    with dots). ``str()`` gives ``"invalid <type>: <problem>; <problem>"``. The
    ``<type>`` is ``event`` when the type itself is missing or unknown.
    """

    def __init__(self, problems: list[str], event_type: str | None = None) -> None:
        self.problems: list[str] = list(problems)
        self.event_type: str | None = event_type
        super().__init__(f"invalid {event_type or 'event'}: " + "; ".join(self.problems))

    def __reduce__(self) -> tuple[type[EventParseError], tuple[list[str], str | None]]:
        return (type(self), (self.problems, self.event_type))


_JSON_TYPE_NAMES: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "list",
    tuple: "list",
}

_MAX_REPR = 40


def _json_type_name(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _short_repr(text: str) -> str:
    if len(text) > _MAX_REPR:
        return repr(text[:_MAX_REPR] + "...")
    return repr(text)


def _message(error: Any) -> str:
    """Turn one pydantic error (an ``ErrorDetails`` dict) into a short message."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "field required"
    if kind == "string_type":
        return "must be a string"
    if kind == "dict_type":
        return "must be an object"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}"
    if kind == "invalid_key":
        return "keys must be strings"
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _problems(exc: pydantic.ValidationError) -> list[str]:
    problems: list[str] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in error["loc"])
        message = _message(error)
        problems.append(f"{loc}: {message}" if loc else message)
    return problems


def parse_event(data: object) -> Event:
    """Validate a JSON-decoded value and return the model for its ``type``.

    Raises :class:`EventParseError` when ``data`` is not an object, ``type`` is
    missing or unknown, or any field fails its check. The input is not changed.
    """
    if not isinstance(data, dict):
        raise EventParseError([f"event must be a JSON object, got {_json_type_name(data)}"])
    if "type" not in data:
        raise EventParseError(["type: field required"])
    event_type = data["type"]
    if not isinstance(event_type, str):
        raise EventParseError(["type: must be a string"])
    model = _MODELS.get(event_type)
    if model is None:
        raise EventParseError(
            [f"type: {_short_repr(event_type)} is not one of {', '.join(EVENT_TYPES)}"]
        )
    try:
        event = model.model_validate(data)
    except pydantic.ValidationError as exc:
        # ``from None``: pydantic's own message repeats input values (which may be
        # personal data) and adds nothing that ``problems`` does not already say.
        raise EventParseError(_problems(exc), event_type) from None
    return cast(Event, event)


def event_to_dict(event: BaseEvent) -> dict[str, Any]:
    """Return the event as a JSON-ready dict, with only the keys it actually has.

    The result holds the keys that came in, including unknown ones, plus any
    field that was later assigned or changed in place (for example
    ``event.properties["x"] = 1`` when the input had no ``properties``). Defaults
    the input did not carry are not added. ``type`` is always present. Explicit
    ``null`` values stay ``null``.

    Datetimes come out as ISO-8601 strings in pydantic's format: UTC is written
    with a trailing ``Z`` (``"2024-01-01T00:00:00Z"``), other offsets as
    ``+02:00``, and fractions of a second with six digits. So a timestamp string
    may not come back exactly as it was sent, but it names the same instant.
    """
    full = event.model_dump(mode="json", by_alias=True, exclude_none=False)
    fields = type(event).model_fields
    kept = set(event.model_fields_set) | set(event.model_extra or {}) | {"type"}
    result: dict[str, Any] = {}
    for key, value in full.items():
        if key in kept:
            result[key] = value
            continue
        field = fields.get(key)
        if field is not None and not field.is_required():
            default = field.get_default(call_default_factory=True)
            if getattr(event, key) != default:
                result[key] = value
    return result
