"""The SQS queue's answers to what SQS itself says: stale receipts, refused values,
faults, and the limits it checks before calling. A scripted client stands in for SQS
(the behaviour on moto is in test_aws_delivery.py and the queue contract): it answers
each operation from a script and records the calls, so that every error code SQS can
return is covered, not only the ones moto happens to produce."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from functions_runtime.control.ports import StoreError
from functions_runtime.delivery.aws import SqsQueue
from functions_runtime.delivery.ports import Job, QueueCounts

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
STALE = [
    "ReceiptHandleIsInvalid",
    "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
]


def fault(code: str, message: str = "boom") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Operation")


class ScriptedSqs:
    """Answers each operation with ``answers[name]`` (a value, an exception to raise,
    or a function of the call's parameters); records every call."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(**params: Any) -> Any:
            self.calls.append((name, params))
            answer = self.answers.get(name, {})
            if isinstance(answer, list):  # one answer per call, in turn
                answer = answer.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer(params) if callable(answer) else answer

        return call

    def named(self, name: str) -> list[dict[str, Any]]:
        return [params for called, params in self.calls if called == name]


def queue(sqs: ScriptedSqs) -> SqsQueue:
    return SqsQueue(sqs, "https://q", "https://dlq", clock=lambda: NOW)


def job(sent_at: datetime = NOW) -> Job:
    return Job(id="m1", body={"message_id": "m1"}, receive_count=1, sent_at=sent_at, receipt="r1")


# -- settling with a receipt that no longer settles anything -------------------------------


@pytest.mark.parametrize("code", STALE)
def test_every_stale_receipt_code_is_ignored_when_settling(code: str) -> None:
    """Acked, retried or dead-lettered with a stale receipt: nothing to do (the message is
    gone, or back in the queue and received again); SQS names that in four ways."""
    sqs = ScriptedSqs(delete_message=fault(code), change_message_visibility=fault(code))
    q = queue(sqs)
    q.ack(job())
    q.retry(job(), 10)
    q.dead_letter(job(), "rejected")
    assert len(sqs.named("change_message_visibility")) == 1  # no second try for a stale one
    [bury] = sqs.named("send_message")  # at least once: the body is kept
    assert bury["QueueUrl"] == "https://dlq"
    assert [p["QueueUrl"] for p in sqs.named("delete_message")] == ["https://q", "https://q"]


@pytest.mark.parametrize(
    ("settle", "operation"),
    [
        (lambda q: q.ack(job()), "queue ack"),
        (lambda q: q.dead_letter(job(), "r"), "queue dead-letter"),
    ],
)
def test_a_failed_delete_is_a_store_error_naming_the_operation(
    settle: Callable[[SqsQueue], None], operation: str
) -> None:
    sqs = ScriptedSqs(delete_message=fault("InternalError"))
    with pytest.raises(StoreError) as raised:
        settle(queue(sqs))
    assert str(raised.value) == f"{operation} failed: InternalError: boom"


def test_a_failed_retry_is_a_store_error_naming_the_operation() -> None:
    sqs = ScriptedSqs(change_message_visibility=fault("InternalError"))
    with pytest.raises(StoreError) as raised:
        queue(sqs).retry(job(), 10)
    assert str(raised.value) == "queue retry failed: InternalError: boom"


def test_a_dead_letter_that_cannot_be_buried_stays_in_the_queue() -> None:
    """The send to the dead-letter queue failed: the message is not deleted (it is
    received again), and the error names the operation."""
    sqs = ScriptedSqs(send_message=fault("InternalError"))
    with pytest.raises(StoreError, match=r"^queue dead-letter failed: InternalError"):
        queue(sqs).dead_letter(job(), "r")
    assert sqs.named("delete_message") == []


# -- retry: the 12-hour cap ------------------------------------------------------------------


def test_a_retry_is_hidden_for_its_delay_within_zero_and_twelve_hours() -> None:
    sqs = ScriptedSqs()
    q = queue(sqs)
    for delay in (17, -3, 43_200, 50_000):
        q.retry(job(), delay)
    hides = sqs.named("change_message_visibility")
    assert [(p["QueueUrl"], p["ReceiptHandle"]) for p in hides] == [("https://q", "r1")] * 4
    assert [p["VisibilityTimeout"] for p in hides] == [17, 0, 43_200, 43_200]


@pytest.mark.parametrize(
    ("age", "delay", "second"),
    [
        (timedelta(hours=2), 43_200, 43_200 - 7200 - 5),  # hidden for what is left
        (timedelta(hours=2, seconds=0.5), 43_200, 43_200 - 7201 - 5),  # rounded up
        (timedelta(hours=2), 35_995, None),  # what is left (35 995) is not shorter
        (timedelta(hours=2), 35_996, 35_995),
        (timedelta(hours=12), 600, None),  # nothing left: it comes back at once
        (timedelta(seconds=43_194), 600, 1),
        (timedelta(seconds=43_195), 600, None),
    ],
)
def test_a_retry_past_the_cap_is_hidden_for_what_is_left(
    age: timedelta, delay: int, second: int | None
) -> None:
    """SQS refuses a visibility that would take the message past 12 hours
    (InvalidParameterValue): the retry hides it for the time left since it was sent,
    less 5 seconds, when that is shorter than the delay and more than nothing."""
    sqs = ScriptedSqs(change_message_visibility=[fault("InvalidParameterValue"), {}])
    queue(sqs).retry(job(sent_at=NOW - age), delay)
    hides = [p["VisibilityTimeout"] for p in sqs.named("change_message_visibility")]
    assert hides == [delay] + ([second] if second is not None else [])


def test_a_second_refusal_of_a_retry_is_not_an_error() -> None:
    """The job was not hidden: it is received again at once, which a retry allows."""
    sqs = ScriptedSqs(change_message_visibility=fault("InvalidParameterValue"))
    queue(sqs).retry(job(sent_at=NOW - timedelta(hours=2)), 43_200)
    assert len(sqs.named("change_message_visibility")) == 2


# -- the limits checked before calling ----------------------------------------------------------


def test_send_takes_delays_from_0_to_900_seconds() -> None:
    sqs = ScriptedSqs(send_message_batch={"Successful": [], "Failed": []})
    q = queue(sqs)
    q.send([{"n": 1}], delay_seconds=0)
    q.send([{"n": 2}], delay_seconds=900)
    for wrong in (-1, 901):
        with pytest.raises(ValueError, match=r"^delay_seconds must be 0 to 900"):
            q.send([{"n": 3}], delay_seconds=wrong)
    sent = sqs.named("send_message_batch")
    assert [(p["QueueUrl"], p["Entries"][0]["DelaySeconds"]) for p in sent] == [
        ("https://q", 0),
        ("https://q", 900),
    ]


def test_a_send_that_fails_twice_says_which_and_why() -> None:
    refused = {
        "Failed": [{"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "x"}]
    }
    sqs = ScriptedSqs(send_message_batch=refused)
    with pytest.raises(StoreError) as raised:
        queue(sqs).send([{"n": 0}, {"n": 1}, {"n": 2}])
    assert str(raised.value) == (
        "queue send failed: 1 of 3 messages not queued (InternalError: x); "
        "nothing was acknowledged, send them again"
    )
    first, second = sqs.named("send_message_batch")
    assert [e["Id"] for e in first["Entries"]] == ["0", "1", "2"]
    assert second["Entries"] == [{"Id": "1", "MessageBody": '{"n":1}', "DelaySeconds": 0}]


def test_receive_takes_visibility_timeouts_from_0_to_12_hours_and_never_waits() -> None:
    """A receive never long-polls: the loop calls it with held jobs waiting."""
    sqs = ScriptedSqs(receive_message={"Messages": []})
    q = queue(sqs)
    assert q.receive(5, visibility_timeout=0) == []
    assert q.receive(5, visibility_timeout=43_200) == []
    for wrong in (-1, 43_201):
        with pytest.raises(ValueError, match=r"^visibility_timeout must be 0 to 43200 seconds"):
            q.receive(5, visibility_timeout=wrong)
    asked = sqs.named("receive_message")
    assert [(p["VisibilityTimeout"], p["WaitTimeSeconds"]) for p in asked] == [
        (0, 0),
        (43_200, 0),
    ]
    assert asked[0]["QueueUrl"] == "https://q"
    assert asked[0]["MaxNumberOfMessages"] == 5


def test_a_message_without_attributes_is_a_first_attempt_sent_now() -> None:
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": '{"n": 1}'}
    sqs = ScriptedSqs(receive_message=[{"Messages": [message]}, {"Messages": []}])
    [received] = queue(sqs).receive(10)
    assert received == Job(
        id="m1", body={"n": 1}, receive_count=1, sent_at=NOW, receipt="r1", plain=True
    )
    assert len(sqs.named("receive_message")) == 1  # a short page: drained, no second call


# -- dead letters: the hold is released, whatever happens -----------------------------------


def dead_message(n: int) -> dict[str, Any]:
    return {"MessageId": f"d{n}", "ReceiptHandle": f"h{n}", "Body": json.dumps({"n": n})}


@pytest.mark.parametrize(
    "error", [fault("InternalError"), EndpointConnectionError(endpoint_url="https://dlq")]
)
def test_releasing_held_dead_letters_is_best_effort(error: Exception) -> None:
    """12 letters looked at, none taken: both batches of releases are tried, though the
    first fails (the hold lapses on its own after 30 s)."""
    pages = [{"Messages": [dead_message(n) for n in range(10)]}]
    pages += [{"Messages": [dead_message(n) for n in range(10, 12)]}, {"Messages": []}]
    sqs = ScriptedSqs(receive_message=pages, change_message_visibility_batch=[error, {}])
    assert queue(sqs).take_dead(lambda body: False) == []
    released = sqs.named("change_message_visibility_batch")
    assert [p["QueueUrl"] for p in released] == ["https://dlq", "https://dlq"]
    assert [[e["ReceiptHandle"] for e in p["Entries"]] for p in released] == [
        [f"h{n}" for n in range(10)],
        ["h10", "h11"],
    ]
    assert [e["Id"] for e in released[1]["Entries"]] == ["0", "1"]
    assert {e["VisibilityTimeout"] for p in released for e in p["Entries"]} == {0}


def test_a_send_fault_names_the_operation_and_a_refusal_without_message_says_so() -> None:
    with pytest.raises(StoreError) as raised:
        queue(ScriptedSqs(send_message_batch=fault("InternalError"))).send([{"n": 0}])
    assert str(raised.value) == "queue send failed: InternalError: boom"
    refused = {"Failed": [{"Id": "0", "SenderFault": True, "Code": "InvalidParameterValue"}]}
    with pytest.raises(StoreError) as raised:
        queue(ScriptedSqs(send_message_batch=refused)).send([{"n": 0}])
    assert str(raised.value).startswith(
        "queue send failed: 1 of 1 messages not queued (InvalidParameterValue: ); "
    )


def test_a_receive_stops_at_repeats_and_returns_each_message_once() -> None:
    """SQS may hand the same messages out again (a visibility timeout of 0): a receive
    that asks for more stops at a page of repeats instead of returning them twice."""
    page = {"Messages": [dead_message(n) for n in range(10)]}
    sqs = ScriptedSqs(receive_message=page)
    jobs = queue(sqs).receive(25, visibility_timeout=0)
    assert sorted(j.id for j in jobs) == sorted(f"d{n}" for n in range(10))
    assert [p["MaxNumberOfMessages"] for p in sqs.named("receive_message")] == [10, 10]


def test_a_receive_fault_names_the_operation() -> None:
    with pytest.raises(StoreError) as raised:
        queue(ScriptedSqs(receive_message=fault("InternalError"))).receive(1)
    assert str(raised.value) == "queue receive failed: InternalError: boom"


def test_a_malformed_body_is_buried_with_its_reason_then_deleted() -> None:
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "[1, 2]"}
    sqs = ScriptedSqs(receive_message=[{"Messages": [message]}], delete_message=[{}])
    assert queue(sqs).receive(10) == []
    [buried] = sqs.named("send_message")
    assert (buried["QueueUrl"], buried["MessageBody"]) == ("https://dlq", "[1, 2]")
    attributes = {k: v["StringValue"] for k, v in buried["MessageAttributes"].items()}
    assert attributes == {
        "reason": "malformed body: not a JSON object",
        "dead_at": NOW.isoformat(),
        "job_id": "m1",
    }
    assert sqs.named("delete_message") == [{"QueueUrl": "https://q", "ReceiptHandle": "r1"}]
    sqs = ScriptedSqs(receive_message=[{"Messages": [message]}], delete_message=fault("Boom"))
    with pytest.raises(StoreError) as raised:
        queue(sqs).receive(10)
    assert str(raised.value) == "queue ack failed: Boom: boom"


def test_a_job_carries_its_first_send_time_and_receive_count() -> None:
    """The retry window is measured from the first send (SentTimestamp), not from this
    receive: without it an event failing for ever would never age out."""
    sent = NOW - timedelta(hours=3)
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "r1",
        "Body": '{"n": 1}',
        "Attributes": {
            "SentTimestamp": str(int(sent.timestamp() * 1000)),
            "ApproximateReceiveCount": "4",
        },
    }
    sqs = ScriptedSqs(receive_message=[{"Messages": [message]}])
    [received] = queue(sqs).receive(10)
    assert (received.sent_at, received.receive_count) == (sent, 4)


def test_a_dead_letter_receive_fault_names_the_operation_and_releases_what_it_held() -> None:
    pages = [{"Messages": [dead_message(n) for n in range(10)]}, fault("InternalError")]
    sqs = ScriptedSqs(receive_message=pages)
    with pytest.raises(StoreError) as raised:
        queue(sqs).take_dead(lambda body: False)
    assert str(raised.value) == "dead-letter receive failed: InternalError: boom"
    [released] = sqs.named("change_message_visibility_batch")
    assert [e["ReceiptHandle"] for e in released["Entries"]] == [f"h{n}" for n in range(10)]


def test_take_dead_asks_for_what_is_left_and_takes_each_letter_once() -> None:
    """Pages: two letters, then the first again (its hold lapsed: a new receipt) with a
    new one that matches, then repeats only. Each letter is looked at once, the lapsed
    one released under its latest receipt, the receive asks for no more than the limit
    leaves, and a letter without attributes died now."""
    again = {**dead_message(0), "ReceiptHandle": "h0-again"}
    pages = [
        {"Messages": [dead_message(0), dead_message(1)]},
        {"Messages": [again, dead_message(2)]},
        {"Messages": [again]},
    ]
    sqs = ScriptedSqs(receive_message=pages)
    taken = queue(sqs).take_dead(lambda body: body["n"] in (1, 2), limit=3)
    assert [(d.id, d.body, d.dead_at, d.reason) for d in taken] == [
        ("d1", {"n": 1}, NOW, "redrive: receive count exceeded"),
        ("d2", {"n": 2}, NOW, "redrive: receive count exceeded"),
    ]
    asked = sqs.named("receive_message")
    assert [p["MaxNumberOfMessages"] for p in asked] == [3, 2, 1]
    assert {(p["QueueUrl"], p["VisibilityTimeout"], p["WaitTimeSeconds"]) for p in asked} == {
        ("https://dlq", 30, 1)
    }
    assert {tuple(p["MessageSystemAttributeNames"]) for p in asked} == {("SentTimestamp",)}
    assert {tuple(p["MessageAttributeNames"]) for p in asked} == {("reason", "dead_at", "job_id")}
    assert [p["ReceiptHandle"] for p in sqs.named("delete_message")] == ["h1", "h2"]
    [released] = sqs.named("change_message_visibility_batch")
    assert [e["ReceiptHandle"] for e in released["Entries"]] == ["h0-again"]


def test_a_failed_take_names_the_operation() -> None:
    sqs = ScriptedSqs(
        receive_message=[{"Messages": [dead_message(0)]}], delete_message=fault("InternalError")
    )
    with pytest.raises(StoreError) as raised:
        queue(sqs).take_dead(lambda body: True)
    assert str(raised.value) == "dead-letter take failed: InternalError: boom"


def test_a_counts_fault_names_the_operation() -> None:
    with pytest.raises(StoreError) as raised:
        queue(ScriptedSqs(get_queue_attributes=fault("InternalError"))).counts()
    assert str(raised.value) == "queue counts failed: InternalError: boom"


def test_counts_missing_from_the_answer_are_zero_and_each_queue_is_asked() -> None:
    sqs = ScriptedSqs(get_queue_attributes={"Attributes": {}})
    assert queue(sqs).counts() == QueueCounts(visible=0, in_flight=0, dead=0)
    assert [p["QueueUrl"] for p in sqs.named("get_queue_attributes")] == [
        "https://q",
        "https://dlq",
    ]


def test_counts_add_delayed_to_in_flight_and_held_dead_letters_to_dead() -> None:
    """A dead letter held by a replay in progress (not visible) is still a dead letter."""

    def attributes(params: dict[str, Any]) -> dict[str, Any]:
        if params["QueueUrl"] == "https://q":
            values = {"Messages": 3, "MessagesNotVisible": 4, "MessagesDelayed": 5}
        else:
            values = {"Messages": 6, "MessagesNotVisible": 7}
        return {"Attributes": {f"ApproximateNumberOf{k}": str(v) for k, v in values.items()}}

    sqs = ScriptedSqs(get_queue_attributes=attributes)
    assert queue(sqs).counts() == QueueCounts(visible=3, in_flight=9, dead=13)
