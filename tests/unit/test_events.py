"""Unit tests for functions_sdk.events: Segment Spec event models and parse_event."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pydantic
import pytest

from functions_sdk import events
from functions_sdk.events import (
    EVENT_TYPES,
    AliasEvent,
    BaseEvent,
    DeleteEvent,
    Event,
    EventParseError,
    GroupEvent,
    IdentifyEvent,
    PageEvent,
    ScreenEvent,
    TrackEvent,
    event_to_dict,
    parse_event,
)

VALID: dict[str, dict[str, Any]] = {
    "track": {
        "type": "track",
        "event": "Order Completed",
        "userId": "u1",
        "properties": {"revenue": 9.5, "currency": "EUR"},
    },
    "identify": {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}},
    "page": {
        "type": "page",
        "anonymousId": "a1",
        "name": "Home",
        "category": "Docs",
        "properties": {"path": "/"},
    },
    "screen": {"type": "screen", "userId": "u1", "name": "Settings", "properties": {}},
    "group": {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"plan": "pro"}},
    "alias": {"type": "alias", "userId": "u2", "previousId": "u1"},
    "delete": {"type": "delete", "userId": "u1", "context": None, "integrations": None},
}

MODELS: dict[str, type[BaseEvent]] = {
    "track": TrackEvent,
    "identify": IdentifyEvent,
    "page": PageEvent,
    "screen": ScreenEvent,
    "group": GroupEvent,
    "alias": AliasEvent,
    "delete": DeleteEvent,
}


def problems_of(data: object) -> list[str]:
    with pytest.raises(EventParseError) as info:
        parse_event(data)
    return info.value.problems


def with_(kind: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID[kind])
    data.update(changes)
    return data


def without(kind: str, *keys: str) -> dict[str, Any]:
    data = copy.deepcopy(VALID[kind])
    for key in keys:
        data.pop(key)
    return data


# --------------------------------------------------------------------------- public surface


def test_public_names() -> None:
    assert sorted(events.__all__) == sorted(
        [
            "BaseEvent",
            "TrackEvent",
            "IdentifyEvent",
            "PageEvent",
            "ScreenEvent",
            "GroupEvent",
            "AliasEvent",
            "DeleteEvent",
            "Event",
            "EVENT_TYPES",
            "parse_event",
            "EventParseError",
            "event_to_dict",
        ]
    )
    assert EVENT_TYPES == ("track", "identify", "page", "screen", "group", "alias", "delete")
    assert issubclass(EventParseError, ValueError)


# --------------------------------------------------------------------------- valid events


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_type_parses_into_its_model(kind: str) -> None:
    event = parse_event(copy.deepcopy(VALID[kind]))
    assert type(event) is MODELS[kind]
    assert event.type == kind


def test_track_fields() -> None:
    event = parse_event(VALID["track"])
    assert isinstance(event, TrackEvent)
    assert event.event == "Order Completed"
    assert event.properties == {"revenue": 9.5, "currency": "EUR"}
    assert event.userId == "u1"
    assert event.anonymousId is None
    assert event.context is None


def test_type_specific_defaults_are_empty_objects() -> None:
    track = parse_event({"type": "track", "event": "E", "userId": "u"})
    identify = parse_event({"type": "identify", "userId": "u"})
    page = parse_event({"type": "page", "userId": "u"})
    group = parse_event({"type": "group", "userId": "u", "groupId": "g"})
    assert isinstance(track, TrackEvent) and track.properties == {}
    assert isinstance(identify, IdentifyEvent) and identify.traits == {}
    assert isinstance(page, PageEvent)
    assert (page.name, page.category, page.properties) == (None, None, {})
    assert isinstance(group, GroupEvent) and group.traits == {}


def test_null_properties_and_traits_become_empty_dicts() -> None:
    track = parse_event(with_("track", properties=None))
    identify = parse_event(with_("identify", traits=None))
    assert isinstance(track, TrackEvent) and track.properties == {}
    assert isinstance(identify, IdentifyEvent) and identify.traits == {}


def test_common_fields_parse() -> None:
    data = with_(
        "track",
        messageId="m-1",
        anonymousId="a1",
        context={"ip": "203.0.113.9", "library": {"name": "analytics.js", "version": "4"}},
        integrations={"All": True, "Salesforce": False},
        channel="server",
        version=2,
        projectId="src_1",
    )
    event = parse_event(data)
    assert event.messageId == "m-1"
    assert event.context == data["context"]
    assert event.integrations == {"All": True, "Salesforce": False}
    assert (event.channel, event.version, event.projectId) == ("server", 2, "src_1")
    assert parse_event(with_("track", version="1.1")).version == "1.1"


def test_models_can_be_built_directly_with_type_defaulted() -> None:
    event = TrackEvent(event="Signed Up", userId="u1")
    assert event.type == "track"
    assert event_to_dict(event) == {"type": "track", "event": "Signed Up", "userId": "u1"}


def test_event_union_is_a_discriminated_union() -> None:
    adapter: pydantic.TypeAdapter[list[Event]] = pydantic.TypeAdapter(list[Event])
    parsed = adapter.validate_python([VALID["screen"], VALID["alias"]])
    assert [type(e) for e in parsed] == [ScreenEvent, AliasEvent]


def test_parse_event_does_not_mutate_input() -> None:
    data = with_("track", properties=None, userId=42, extra={"k": [1]})
    before = copy.deepcopy(data)
    parse_event(data)
    assert data == before


# --------------------------------------------------------------------------- required fields


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (without("track", "event"), ["event: field required"]),
        (with_("track", event=""), ["event: must not be empty"]),
        (with_("track", event="   "), ["event: must not be empty"]),
        (with_("track", event=12), ["event: must be a string"]),
        (without("group", "groupId"), ["groupId: field required"]),
        (with_("group", groupId=""), ["groupId: must not be empty"]),
        (with_("group", groupId=["g"]), ["groupId: must be a string"]),
        (without("alias", "previousId"), ["previousId: field required"]),
        (with_("alias", previousId=""), ["previousId: must not be empty"]),
        (
            {"type": "alias", "anonymousId": "a1"},
            ["userId: field required", "previousId: field required"],
        ),
        (without("delete", "userId"), ["userId: field required"]),
        ({"type": "delete", "anonymousId": "a1"}, ["userId: field required"]),
        (with_("delete", userId=""), ["userId: must not be empty"]),
    ],
    ids=[
        "track-no-event",
        "track-empty-event",
        "track-blank-event",
        "track-int-event",
        "group-no-groupId",
        "group-empty-groupId",
        "group-list-groupId",
        "alias-no-previousId",
        "alias-empty-previousId",
        "alias-anonymous-only",
        "delete-no-userId",
        "delete-anonymous-only",
        "delete-empty-userId",
    ],
)
def test_required_field_problems(data: dict[str, Any], expected: list[str]) -> None:
    assert problems_of(data) == expected


def test_error_message_format() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(without("track", "event"))
    assert str(info.value) == "invalid track: event: field required"
    assert info.value.event_type == "track"


def test_several_problems_are_all_reported() -> None:
    data = with_("page", userId=True, name=3, context=[], messageId="m" * 101)
    assert problems_of(data) == [
        "messageId: must be at most 100 characters",
        "userId: must be a string",
        "context: must be an object",
        "name: must be a string",
    ]
    with pytest.raises(EventParseError, match=r"^invalid page: messageId: .*; name: "):
        parse_event(data)


@pytest.mark.parametrize("kind", ["track", "identify", "page", "screen", "group"])
def test_user_or_anonymous_id_required(kind: str) -> None:
    data = without(kind, *(k for k in ("userId", "anonymousId") if k in VALID[kind]))
    assert problems_of(data) == ["userId or anonymousId: at least one must be a non-empty string"]


def test_empty_ids_do_not_count_as_identity() -> None:
    problems = problems_of(with_("identify", userId="", anonymousId="  "))
    assert problems == ["userId or anonymousId: at least one must be a non-empty string"]
    event = parse_event(with_("identify", userId="", anonymousId="a1"))
    assert (event.userId, event.anonymousId) == ("", "a1")


def test_message_id_may_be_missing_or_100_chars() -> None:
    assert parse_event(VALID["track"]).messageId is None
    assert parse_event(with_("track", messageId="m" * 100)).messageId == "m" * 100


# --------------------------------------------------------------------------- ids


def test_int_ids_are_coerced_to_strings() -> None:
    event = parse_event(with_("group", userId=42, anonymousId=0, groupId=7))
    assert isinstance(event, GroupEvent)
    assert (event.userId, event.anonymousId, event.groupId) == ("42", "0", "7")
    alias = parse_event({"type": "alias", "userId": 2, "previousId": 1})
    assert isinstance(alias, AliasEvent) and alias.previousId == "1"
    assert event_to_dict(alias)["userId"] == "2"


@pytest.mark.parametrize("bad", [True, False, ["u1"], {"id": "u1"}, 1.5], ids=repr)
def test_non_string_user_id_rejected(bad: object) -> None:
    assert problems_of(with_("track", userId=bad)) == ["userId: must be a string"]


def test_non_string_anonymous_and_previous_ids_rejected() -> None:
    assert problems_of(with_("page", anonymousId=[1])) == ["anonymousId: must be a string"]
    assert problems_of(with_("alias", previousId=False)) == ["previousId: must be a string"]


# --------------------------------------------------------------------------- type / shape


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], "event must be a JSON object, got list"),
        (None, "event must be a JSON object, got null"),
        ("track", "event must be a JSON object, got string"),
        (3, "event must be a JSON object, got number"),
        (True, "event must be a JSON object, got boolean"),
    ],
    ids=["list", "null", "string", "number", "bool"],
)
def test_not_an_object(data: object, expected: str) -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(data)
    assert info.value.problems == [expected]
    assert str(info.value) == f"invalid event: {expected}"


def test_missing_type() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(without("track", "type"))
    assert info.value.problems == ["type: field required"]
    assert str(info.value) == "invalid event: type: field required"


def test_unknown_type() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(with_("track", type="foo"))
    assert info.value.problems == [
        "type: 'foo' is not one of track, identify, page, screen, group, alias, delete"
    ]
    assert str(info.value).startswith("invalid event: type: 'foo' is not one of track, ")


@pytest.mark.parametrize("bad", [None, 1, ["track"]], ids=repr)
def test_non_string_type(bad: object) -> None:
    assert problems_of(with_("track", type=bad)) == ["type: must be a string"]


def test_type_is_case_sensitive_and_long_values_are_shortened() -> None:
    assert problems_of(with_("track", type="Track"))[0].startswith("type: 'Track' is not one")
    (problem,) = problems_of(with_("track", type="x" * 5000))
    assert len(problem) < 200


def test_object_fields_must_be_objects() -> None:
    data = with_("track", properties=[1], integrations="All", context=5)
    assert problems_of(data) == [
        "context: must be an object",
        "integrations: must be an object",
        "properties: must be an object",
    ]
    assert problems_of(with_("identify", traits="x")) == ["traits: must be an object"]


def test_version_must_be_int_or_string() -> None:
    assert problems_of(with_("track", version=[2])) == ["version: must be an integer or a string"]
    assert problems_of(with_("track", version=True)) == ["version: must be an integer or a string"]


def test_direct_model_with_wrong_type_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError):
        TrackEvent.model_validate(with_("track", type="identify"))


# --------------------------------------------------------------------------- unknown fields


def test_unknown_fields_kept_everywhere_and_round_tripped() -> None:
    data = with_(
        "track",
        writeKey="wk_123",
        _metadata={"bundled": ["Segment.io"], "unbundled": []},
        customTopLevel=[1, {"a": None}],
        context={"ip": "203.0.113.9", "myVendor": {"flag": True}},
        properties={"revenue": 1, "nested": {"deep": [1, 2, 3]}, "weird key!": None},
    )
    event = parse_event(copy.deepcopy(data))
    assert event.model_extra == {
        "writeKey": "wk_123",
        "_metadata": {"bundled": ["Segment.io"], "unbundled": []},
        "customTopLevel": [1, {"a": None}],
    }
    assert event.context is not None and event.context["myVendor"] == {"flag": True}
    assert isinstance(event, TrackEvent)
    assert event.properties["weird key!"] is None
    assert event_to_dict(event) == data


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_round_trip_is_exact_for_every_type(kind: str) -> None:
    data = with_(kind, extraField={"x": 1})
    assert event_to_dict(parse_event(copy.deepcopy(data))) == data


def test_round_trip_adds_no_defaults_and_keeps_explicit_nulls() -> None:
    data = {"type": "page", "userId": "u", "name": None, "context": None}
    out = event_to_dict(parse_event(data))
    assert out == data
    assert "properties" not in out and "category" not in out


def test_event_to_dict_includes_later_changes() -> None:
    event = parse_event({"type": "track", "event": "E", "userId": "u"})
    assert isinstance(event, TrackEvent)
    event.properties["enriched"] = True  # mutated in place: the field was never "set"
    event.anonymousId = "a1"
    event.channel = "server"
    assert event_to_dict(event) == {
        "type": "track",
        "event": "E",
        "userId": "u",
        "anonymousId": "a1",
        "channel": "server",
        "properties": {"enriched": True},
    }


def test_event_to_dict_is_json_ready() -> None:
    event = parse_event(with_("identify", timestamp="2024-01-01T00:00:00Z"))
    out = event_to_dict(event)
    assert out["timestamp"] == "2024-01-01T00:00:00Z"
    assert isinstance(out["timestamp"], str)


# --------------------------------------------------------------------------- timestamps


def test_timestamp_with_z_suffix() -> None:
    event = parse_event(with_("track", timestamp="2024-01-01T00:00:00Z"))
    assert event.timestamp == datetime(2024, 1, 1, tzinfo=UTC)
    assert event.timestamp is not None and event.timestamp.utcoffset() == timedelta(0)


def test_timestamp_with_offset_and_fraction() -> None:
    event = parse_event(with_("track", sentAt="2024-01-01T00:00:00.123+02:00"))
    expected = datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=timezone(timedelta(hours=2)))
    assert event.sentAt == expected
    assert event.sentAt is not None and event.sentAt.utcoffset() == timedelta(hours=2)
    assert event_to_dict(event)["sentAt"] == "2024-01-01T00:00:00.123000+02:00"


def test_all_four_timestamps_and_naive_means_utc() -> None:
    event = parse_event(
        with_(
            "track",
            timestamp="2024-01-01T00:00:00Z",
            originalTimestamp="2024-01-01T00:00:00",
            sentAt="2024-01-01T00:00:01Z",
            receivedAt="2024-01-01T00:00:02.5Z",
        )
    )
    assert event.originalTimestamp == datetime(2024, 1, 1, tzinfo=UTC)
    assert event.receivedAt == datetime(2024, 1, 1, 0, 0, 2, 500000, tzinfo=UTC)
    assert event.sentAt is not None and event.timestamp is not None
    assert event.sentAt - event.timestamp == timedelta(seconds=1)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("timestamp", "yesterday"),
        ("originalTimestamp", "2024-13-01T00:00:00Z"),
        ("sentAt", 1704067200),
        ("receivedAt", ["2024-01-01T00:00:00Z"]),
    ],
)
def test_invalid_timestamp_names_the_field(field: str, bad: object) -> None:
    assert problems_of(with_("track", **{field: bad})) == [
        f"{field}: must be an ISO-8601 timestamp"
    ]


# --------------------------------------------------------------------------- assignment


def test_assignment_is_validated() -> None:
    event = parse_event(VALID["track"])
    with pytest.raises(pydantic.ValidationError):
        event.userId = ["x"]  # type: ignore[assignment]
    assert event.userId == "u1"
    event.userId = 99  # type: ignore[assignment]
    assert event.userId == "99"
    event.timestamp = "2024-01-01T00:00:00Z"  # type: ignore[assignment]
    assert event.timestamp == datetime(2024, 1, 1, tzinfo=UTC)


def test_assignment_cannot_remove_the_last_identity() -> None:
    event = parse_event(VALID["track"])
    with pytest.raises(pydantic.ValidationError, match="userId or anonymousId"):
        event.userId = None
    assert event.userId == "u1"  # a failed assignment leaves the event unchanged
    event.anonymousId = "a1"
    event.userId = None
    assert (event.userId, event.anonymousId) == (None, "a1")


def test_assignment_of_required_fields_checked() -> None:
    track = parse_event(VALID["track"])
    assert isinstance(track, TrackEvent)
    with pytest.raises(pydantic.ValidationError):
        track.event = ""
    delete = parse_event(VALID["delete"])
    with pytest.raises(pydantic.ValidationError):
        delete.userId = None
    assert track.event == "Order Completed" and delete.userId == "u1"


# --------------------------------------------------------------------------- error object


def test_parse_error_pickles() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(without("group", "groupId"))
    clone = pickle.loads(pickle.dumps(info.value))
    assert isinstance(clone, EventParseError)
    assert clone.problems == ["groupId: field required"]
    assert clone.event_type == "group"
    assert str(clone) == str(info.value)


def test_parse_error_does_not_echo_input_values() -> None:
    with pytest.raises(EventParseError) as info:
        parse_event(with_("track", userId={"ssn": "123-45-6789"}))
    assert "123-45-6789" not in str(info.value)
    assert info.value.__cause__ is None
