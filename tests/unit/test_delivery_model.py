"""The delivery record's model: what it checks, and what the dispatcher may tell it was
checked already (the validation context's ``plain_event`` and ``memo``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from functions_runtime.delivery.ports import Delivery, SafeMemo

LONE = "\ud800"


def fields(**changes: Any) -> dict[str, Any]:
    return {
        "id": "in_1:m1:1",
        "workspace_id": "ws_1",
        "instance_id": "in_1",
        "message_id": "m1",
        "outcome": "delivered",
        "at": datetime(2026, 1, 1, tzinfo=UTC),
        **changes,
    }


def test_every_field_a_handler_or_a_sender_fills_is_made_writable() -> None:
    record = Delivery.model_validate(
        fields(
            event={"name": LONE},
            logs=[f"saw {LONE}"],
            requests=[{"body": LONE}],
            error={"message": LONE},
        )
    )
    record.model_dump_json()  # would raise on a lone surrogate
    assert record.event == {"name": "\\ud800"}
    assert record.logs == ["saw \\ud800"]
    assert record.requests == [{"body": "\\ud800"}]
    assert record.error == {"message": "\\ud800"}


def test_a_plain_event_is_taken_as_it_is_and_nothing_else_is() -> None:
    """``plain_event`` is the queue's word for the event only (``Job.plain``): the other
    fields are still checked."""
    event = {"type": "track", "properties": {"n": [1, 2.5]}}
    record = Delivery.model_validate(
        fields(event=event, logs=[LONE]), context={"plain_event": True}
    )
    assert record.event == event
    assert record.logs == ["\\ud800"]
    unchecked = Delivery.model_validate(fields(event={"s": LONE}), context={"plain_event": False})
    assert unchecked.event == {"s": "\\ud800"}


def test_a_list_shared_by_the_records_of_one_call_is_checked_once() -> None:
    shared = [{"url": "https://example.com/hook", "body": LONE}]
    memo: SafeMemo = {}
    first, second = (
        Delivery.model_validate(fields(id=f"in_1:m{n}:1", requests=shared), context={"memo": memo})
        for n in (1, 2)
    )
    assert (
        first.requests
        == second.requests
        == [{"url": "https://example.com/hook", "body": "\\ud800"}]
    )
    assert list(memo) == [id(shared)]
    equal_but_other = [dict(shared[0])]
    Delivery.model_validate(fields(requests=equal_but_other), context={"memo": memo})
    assert len(memo) == 2


def test_a_memo_entry_for_another_object_is_not_used() -> None:
    """An id is only an object's while it lives: the memo keeps the object and checks it
    is the same one, so an entry left by an object whose id was reused is not trusted."""
    value = [{"body": LONE}]
    memo: SafeMemo = {id(value): (["someone else"], ["stale"])}
    record = Delivery.model_validate(fields(requests=value), context={"memo": memo})
    assert record.requests == [{"body": "\\ud800"}]
    assert memo[id(value)][0] is value
