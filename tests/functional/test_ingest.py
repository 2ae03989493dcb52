"""Ingest refuses bad requests whole and queues nothing; bad messages in a good batch are
rejected on their own. Runs the real routes (API Gateway v2 events) on the embedded
stores."""

from __future__ import annotations

import base64
import gzip
import json
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.api.app import build_app
from functions_runtime.api.local import LocalContext, to_apigw_event
from functions_runtime.control.auth import Principal, hash_key
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.errors import ServiceError
from functions_runtime.control.service import ControlPlane
from functions_runtime.delivery.embedded import open_delivery
from functions_runtime.delivery.ingest import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, Ingest
from functions_runtime.delivery.ports import DeliveryBackend
from functions_runtime.sandbox.host.pool import WorkerPool

HANDLER = "def on_track(event, settings):\n    return event.event\n"


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        backend = open_embedded(tmp_path / "data")
        self.delivery: DeliveryBackend = open_delivery(tmp_path / "data")
        self.pool = WorkerPool(max_workers=2, spares=0)
        plane = ControlPlane(backend, self.pool)
        _, workspace = plane.bootstrap("admin")
        admin = Principal("key_admin", None, True)
        source, self.write_key = plane.create_source(admin, workspace.id, "web")
        function, _ = plane.create_function(
            admin, workspace.id, files={"handler.py": HANDLER}, name="fn"
        )
        self.instance = plane.deploy(admin, workspace.id, function.id, source_id=source.id)
        self.ingest = Ingest(backend.metadata, self.delivery.queue, self.delivery.deliveries)
        self.app = build_app(plane, self.ingest, self.delivery)
        self.workspace = workspace.id
        self.plane, self.admin, self.function_id = plane, admin, function.id

    def post(
        self,
        path: str,
        body: bytes | dict[str, Any] | list[Any],
        *,
        key: str | None = "",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"content-type": "application/json", **(headers or {})}
        if key is not None:
            token = base64.b64encode(f"{key or self.write_key}:".encode()).decode()
            sent["authorization"] = f"Basic {token}"
        result = self.app.resolve(
            to_apigw_event("POST", path, sent, raw, "127.0.0.1"), LocalContext()
        )
        return int(result["statusCode"]), json.loads(result["body"])

    def queued(self) -> int:
        counts = self.delivery.queue.counts()
        return counts.visible + counts.in_flight


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.pool.close()


def track(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Clicked", "userId": f"u{n}", **extra}


def test_single_track_is_queued_with_id_and_received_at(harness: Harness):
    status, body = harness.post("/v1/track", {"event": "Clicked", "userId": "u1"})
    assert (status, body) == (200, {"success": True, "queued": 1})
    [job] = harness.delivery.queue.receive(10, visibility_timeout=30)
    event = job.body["event"]
    assert event["type"] == "track" and event["messageId"] and event["receivedAt"]
    assert job.body["instance_id"] == harness.instance.id


def test_the_project_id_is_the_authenticated_source_not_the_clients(harness: Harness):
    other = "src_someoneelses00000"
    status, _ = harness.post("/v1/batch", {"batch": [track(1, projectId=other), track(2)]})
    assert status == 200
    jobs = harness.delivery.queue.receive(10, visibility_timeout=30)
    source_id = harness.instance.source_id
    assert [job.body["event"]["projectId"] for job in jobs] == [source_id, source_id]


def test_write_key_in_the_body_and_gzip_bodies(harness: Harness):
    body = gzip.compress(
        json.dumps({"writeKey": harness.write_key, "batch": [track(1), track(2)]}).encode()
    )
    status, answer = harness.post("/v1/batch", body, key=None, headers={"content-encoding": "gzip"})
    assert (status, answer["queued"]) == (200, 2)


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("missing key", 401, "unauthorized"),
        ("wrong key", 401, "unauthorized"),
        ("not json", 400, "bad_request"),
        ("wrong content type", 415, "unsupported_media_type"),
        ("oversize message", 413, "payload_too_large"),
        ("oversize batch", 413, "payload_too_large"),
        ("empty batch", 400, "bad_request"),
        ("type mismatch", 400, "bad_request"),
        ("bad gzip", 400, "bad_request"),
        ("body not an object", 400, "bad_request"),
    ],
)
def test_bad_requests_are_refused_whole(harness: Harness, case: str, status: int, code: str):
    big = "x" * (MAX_MESSAGE_BYTES + 10)
    requests: dict[str, tuple[str, Any, dict[str, Any]]] = {
        "missing key": ("/v1/track", track(), {"key": None}),
        "wrong key": ("/v1/track", track(), {"key": "wk_wrong"}),
        "not json": ("/v1/batch", b"{nope", {}),
        "wrong content type": (
            "/v1/track",
            track(),
            {"headers": {"content-type": "application/xml"}},
        ),
        "oversize message": ("/v1/track", track(properties={"blob": big}), {}),
        "oversize batch": (
            "/v1/batch",
            {"batch": [track(i, properties={"b": "y" * 30_000}) for i in range(20)]},
            {},
        ),
        "empty batch": ("/v1/batch", {"batch": []}, {}),
        "type mismatch": ("/v1/identify", track(), {}),
        "bad gzip": ("/v1/batch", b"not gzip at all", {"headers": {"content-encoding": "gzip"}}),
        "body not an object": ("/v1/batch", [track()], {}),
    }
    path, body, options = requests[case]
    got_status, answer = harness.post(path, body, **options)
    assert got_status == status, answer
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]
    assert harness.queued() == 0  # nothing half-written


def test_a_batch_mixing_good_and_bad_messages(harness: Harness):
    batch = [
        track(1),
        {"type": "track", "userId": "u2"},  # no event name
        {"type": "purchase", "userId": "u3"},  # unknown type
        "not an object",
        track(5, properties={"blob": "z" * (MAX_MESSAGE_BYTES + 1)}),  # one message too big
        track(6),
    ]
    assert len(json.dumps({"batch": batch})) < MAX_BATCH_BYTES
    status, answer = harness.post("/v1/batch", {"batch": batch})
    assert status == 200
    assert answer["queued"] == 2
    rejected = {r["index"]: r["reason"] for r in answer["rejected"]}
    assert set(rejected) == {1, 2, 3, 4}
    assert "event: field required" in rejected[1]
    assert "not one of track" in rejected[2]
    assert "JSON object" in rejected[3]
    assert "limit is" in rejected[4]
    records = harness.delivery.deliveries.list(
        harness.workspace, harness.instance.id, outcome="rejected"
    )
    assert len(records) == 4  # visible in logs and stats, never silently dropped
    stats = harness.delivery.deliveries.stats(harness.workspace, harness.instance.id)
    assert stats.counts == {"rejected": 4}


def nested(levels: int) -> Any:
    value: Any = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_messages_json_cannot_carry_or_nested_too_deep_are_rejected_alone(harness: Harness):
    raw = (
        b'{"batch": ['
        + json.dumps(track(1)).encode()
        + b', {"type": "track", "event": "nan", "userId": "u2", "properties": {"v": NaN}}'
        + b', {"type": "track", "event": "inf", "userId": "u3", "properties": {"v": -Infinity}}'
        + b', {"type": "track", "event": "big", "userId": "u4", "properties": {"v": 1e400}}'
        + b", "
        + json.dumps(track(5, properties=nested(300))).encode()
        + b", "
        + json.dumps(track(6, context="not an object")).encode()
        + b", "
        + json.dumps(track(7)).encode()
        + b'], "context": {"library": {"name": "analytics.js"}}}'
    )
    status, answer = harness.post("/v1/batch", raw)

    assert status == 200, answer
    assert answer["queued"] == 2
    rejected = {r["index"]: r["reason"] for r in answer["rejected"]}
    assert set(rejected) == {1, 2, 3, 4, 5}
    assert all("JSON cannot carry" in rejected[i] for i in (1, 2, 3))
    assert "more than 64 levels" in rejected[4]
    assert "context must be a JSON object" in rejected[5]
    records = harness.delivery.deliveries.list(
        harness.workspace, harness.instance.id, outcome="rejected"
    )
    assert len(records) == 5  # each recorded, however odd its content


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
def test_a_body_nested_past_the_parser_is_refused_with_400(harness: Harness, path: str):
    levels = 5000
    raw = b'{"batch": [' + b"[" * levels + b"]" * levels + b"]}"

    status, answer = harness.post(path, raw)

    assert status == 400, answer
    assert "too deeply" in answer["error"]["message"]
    assert harness.queued() == 0


def test_a_single_message_nested_too_deep_is_refused_with_the_reason(harness: Harness):
    status, answer = harness.post("/v1/track", track(properties=nested(100)))

    assert status == 400, answer
    assert answer["error"] == {
        "code": "bad_request",
        "message": "the message nests objects and arrays more than 64 levels deep",
    }
    assert harness.queued() == 0


class FailingQueue:
    """The real queue, except that writes fail (a full disk, SQS unreachable)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def send(self, bodies: Any, delay_seconds: int = 0) -> None:
        raise OSError(28, "No space left on device: /secret/path/queue.db")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.parametrize(
    ("path", "body"), [("/v1/track", track()), ("/v1/batch", {"batch": [track()]})]
)
def test_a_failed_queue_write_is_never_answered_200(
    harness: Harness, path: str, body: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The durability promise: 200 only once the events are queued. The catch-all
    answers 500 with a generic message (the cause goes to the server log only)."""
    harness.ingest.queue = FailingQueue(harness.delivery.queue)  # type: ignore[assignment]
    with caplog.at_level("ERROR", logger="functions"):
        status, answer = harness.post(path, body)
    assert status == 500, answer
    assert answer["error"]["code"] == "internal", answer
    assert "success" not in answer and "queued" not in answer
    assert "secret" not in json.dumps(answer) and "No space" not in json.dumps(answer)
    assert "No space left on device" in caplog.text
    assert harness.queued() == 0


def test_a_rejected_message_is_recorded_whole_for_each_instance(harness: Harness):
    """The rejection record is what the console and the stats show: every field pinned
    (a small message is kept for inspection, one over the limit is not)."""
    small = {"type": "track", "userId": "u2", "messageId": "m-small"}  # no event name
    big = track(3, messageId="m-big", properties={"blob": "z" * (MAX_MESSAGE_BYTES + 1)})
    status, answer = harness.post("/v1/batch", {"batch": [track(1), small, big]})
    assert (status, answer["queued"]) == (200, 1)
    reasons = {r["index"]: r["reason"] for r in answer["rejected"]}
    assert [(r["index"], r["messageId"]) for r in answer["rejected"]] == [
        (1, "m-small"),
        (2, "m-big"),
    ]
    [job] = harness.delivery.queue.receive(10, visibility_timeout=30)
    stamp = job.body["event"]["receivedAt"]  # RFC 3339 in UTC, as the tracking API's
    assert stamp.endswith("Z") and "+00:00" not in stamp, stamp
    records = harness.delivery.deliveries.list(
        harness.workspace, harness.instance.id, outcome="rejected"
    )
    by_id = {r.message_id: r for r in records}
    assert sorted(by_id) == ["m-big", "m-small"]
    instance = harness.instance
    for message_id, index, event in (("m-small", 1, small), ("m-big", 2, None)):
        record = by_id[message_id]
        assert record.id == f"{instance.id}:{message_id}:ingest"
        assert (record.workspace_id, record.instance_id, record.version_id) == (
            harness.workspace,
            instance.id,
            instance.version_id,
        )
        assert (record.event_type, record.outcome, record.attempt) == ("track", "rejected", 0)
        assert record.error == {
            "type": "InvalidEventPayload",
            "message": reasons[index],
            "line": None,
        }
        if event is None:
            assert record.event is None
        else:
            assert record.event is not None
            assert set(record.event) == {*event, "projectId", "receivedAt"}
            assert {k: record.event[k] for k in event} == event
        assert record.at is not None


def test_a_write_key_in_the_body_is_never_queued(harness: Harness):
    """The write key authenticates the request; it is a credential, not event data: it
    must not reach the queue, the handler, the delivery records or a destination."""
    status, _ = harness.post(
        "/v1/track", {"event": "Clicked", "userId": "u1", "writeKey": harness.write_key}, key=None
    )
    assert status == 200
    [job] = harness.delivery.queue.receive(10, visibility_timeout=30)
    assert "writeKey" not in job.body["event"]
    assert harness.write_key not in json.dumps(job.body)


def test_a_batch_context_is_shared_and_each_message_context_wins(harness: Harness):
    shared = {"library": {"name": "analytics.js"}, "ip": "10.0.0.1"}
    batch = [track(1), track(2, context={"ip": "10.0.0.2", "locale": "fr"})]
    status, answer = harness.post("/v1/batch", {"batch": batch, "context": shared})
    assert (status, answer["queued"]) == (200, 2)
    jobs = harness.delivery.queue.receive(10, visibility_timeout=30)
    contexts = {job.body["event"]["userId"]: job.body["event"]["context"] for job in jobs}
    assert contexts == {
        "u1": shared,
        "u2": {"library": {"name": "analytics.js"}, "ip": "10.0.0.2", "locale": "fr"},
    }


def basic(value: str) -> dict[str, str]:
    return {"authorization": f"Basic {value}"}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "no key",
            "missing write key: send it as the HTTP Basic user name or as writeKey in the body",
        ),
        (
            "a key that is not a string",
            "missing write key: send it as the HTTP Basic user name or as writeKey in the body",
        ),
        ("unknown key", "unknown write key"),
        ("two words", "malformed Basic authorization"),
        ("not base64", "malformed Basic authorization"),
    ],
)
def test_write_key_refusals_say_why(harness: Harness, case: str, message: str):
    """401 with the reason; a token with characters outside base64 is refused, not
    decoded leniently (the lenient decoder drops them and may find a valid key)."""
    token = base64.b64encode(f"{harness.write_key}:".encode()).decode()
    sent: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
        "no key": (track(), {}),
        "a key that is not a string": ({**track(), "writeKey": 12345}, {}),
        "unknown key": (track(), basic(base64.b64encode(b"wk_unknown:").decode())),
        "two words": (track(), basic(f"{token[:4]} {token[4:]}")),
        "not base64": (track(), basic(f"{token[:4]}!{token[4:]}")),
    }
    body, headers = sent[case]
    status, answer = harness.post("/v1/track", body, key=None, headers=headers)
    assert (status, answer["error"]["code"], answer["error"]["message"]) == (
        401,
        "unauthorized",
        message,
    )
    assert harness.queued() == 0


def test_a_batch_body_without_a_batch_says_what_a_batch_is(harness: Harness):
    status, answer = harness.post("/v1/batch", {"batch": []})
    assert (status, answer["error"]["message"]) == (400, 'a batch body is {"batch": [messages]}')


def test_the_basic_password_may_hold_colons(harness: Harness):
    """The write key is the user name: everything before the *first* colon."""
    token = base64.b64encode(f"{harness.write_key}:pass:with:colons".encode()).decode()
    status, _ = harness.post("/v1/track", track(), key=None, headers=basic(token))
    assert status == 200


def test_a_rejected_message_with_a_type_that_is_not_text_has_no_event_type(harness: Harness):
    odd = {"type": 5, "event": "x", "userId": "u", "messageId": "m-odd"}
    status, answer = harness.post("/v1/batch", {"batch": [track(1), odd]})
    assert (status, answer["queued"]) == (200, 1)
    [record] = harness.delivery.deliveries.list(
        harness.workspace, harness.instance.id, outcome="rejected"
    )
    assert (record.message_id, record.event_type) == ("m-odd", None)


# -- Content-Encoding and whole-request refusals, each with its status, code and message ---


def test_identity_gzip_and_deflate_bodies_are_all_queued(harness: Harness) -> None:
    raw = json.dumps({"batch": [track(1), track(2)]}).encode()
    bodies = {
        "identity": raw,
        " Identity ": raw,
        "": raw,
        "gzip": gzip.compress(raw),
        "GZIP": gzip.compress(raw),
        "deflate": zlib.compress(raw),
    }
    for encoding, body in bodies.items():
        status, answer = harness.post("/v1/batch", body, headers={"content-encoding": encoding})
        assert (status, answer) == (200, {"success": True, "queued": 2}), encoding
    assert harness.queued() == 12


def test_a_body_that_decompresses_to_exactly_the_limit_is_read_whole(harness: Harness) -> None:
    """Decompression stops just past ``MAX_BATCH_BYTES``: a body of exactly the limit
    is read to its end (and queued), one byte more is refused with 413."""

    def batch(last: int) -> bytes:
        messages = [track(i, properties={"pad": "p" * 21_500}) for i in range(23)]
        messages.append(track(23, properties={"pad": "p" * last}))
        return json.dumps({"batch": messages}).encode()

    exact = batch(MAX_BATCH_BYTES - len(batch(0)))
    assert len(exact) == MAX_BATCH_BYTES
    status, answer = harness.post(
        "/v1/batch", gzip.compress(exact), headers={"content-encoding": "gzip"}
    )
    assert (status, answer) == (200, {"success": True, "queued": 24})
    status, answer = harness.post(
        "/v1/batch", gzip.compress(exact + b" "), headers={"content-encoding": "gzip"}
    )
    assert (status, answer["error"]) == (
        413,
        {
            "code": "payload_too_large",
            "message": f"the decompressed body is over {MAX_BATCH_BYTES} bytes",
        },
    )


def refused(harness: Harness, kind: str, body: bytes, **headers: str | None) -> Any:
    options: dict[str, str | None] = {
        "content_type": "application/json",
        "content_encoding": None,
        "authorization": "Basic " + base64.b64encode(f"{harness.write_key}:".encode()).decode(),
        **headers,
    }
    with pytest.raises(ServiceError) as caught:
        harness.ingest.accept(kind, body, **options)
    assert harness.queued() == 0
    return caught.value.status, caught.value.code, caught.value.message


def test_whole_request_refusals_say_why(harness: Harness) -> None:
    one = json.dumps(track()).encode()
    big = json.dumps(track(properties={"blob": "x" * MAX_MESSAGE_BYTES})).encode()
    assert refused(harness, "batch", one, content_encoding="br") == (
        415,
        "unsupported_media_type",
        "unsupported Content-Encoding br",
    )
    bad = refused(harness, "batch", b"not gzip at all", content_encoding="gzip")
    assert bad[:2] == (400, "bad_request")
    assert bad[2].startswith("the body is not valid gzip: ")
    bad = refused(harness, "batch", b"not deflate", content_encoding="deflate")
    assert bad[:2] == (400, "bad_request")
    assert bad[2].startswith("the body is not valid deflate: ")
    assert refused(harness, "trackx", one) == (
        404,
        "not_found",
        "unknown ingest endpoint /v1/trackx",
    )
    assert refused(harness, "track", one, content_type="Application/XML; charset=utf-8") == (
        415,
        "unsupported_media_type",
        "send JSON (Content-Type: application/json), not application/xml",
    )
    assert refused(harness, "track", big) == (
        413,
        "payload_too_large",
        f"the request body is {len(big)} bytes; the limit is {MAX_MESSAGE_BYTES}",
    )
    bad = refused(harness, "track", b"{nope")
    assert bad[:2] == (400, "bad_request")
    assert bad[2].startswith("the body is not JSON: ")
    assert refused(harness, "batch", b"[1, 2]") == (
        400,
        "bad_request",
        "the body must be a JSON object",
    )
    assert refused(harness, "batch", b"[" * 5000 + b"]" * 5000) == (
        400,
        "bad_request",
        "the body nests objects and arrays too deeply (the limit is 64 levels)",
    )


@pytest.mark.parametrize("kind", ["track", "identify", "page", "screen", "group", "alias"])
def test_each_single_message_endpoint_takes_up_to_the_message_limit(
    harness: Harness, kind: str
) -> None:
    message = {"type": kind, "userId": "u1", "event": "Clicked", "groupId": "g1"}
    message["previousId"] = "u0"
    head = len(json.dumps({**message, "properties": {"pad": ""}}).encode())
    exact = json.dumps({**message, "properties": {"pad": "p" * (MAX_MESSAGE_BYTES - head)}})
    assert len(exact.encode()) == MAX_MESSAGE_BYTES
    options = {
        "content_type": "text/plain",
        "content_encoding": None,
        "authorization": "Basic " + base64.b64encode(f"{harness.write_key}:".encode()).decode(),
    }
    accepted = harness.ingest.accept(kind, exact.encode(), **options)
    assert (accepted.accepted, accepted.rejected) == (1, [])
    with pytest.raises(ServiceError) as caught:
        harness.ingest.accept(kind, exact.encode() + b" ", **options)
    assert (caught.value.status, caught.value.code) == (413, "payload_too_large")


@pytest.mark.parametrize("content_type", [None, "", "application/json; charset=utf-8"])
def test_the_import_endpoint_takes_a_batch_with_or_without_a_content_type(
    harness: Harness, content_type: str | None
) -> None:
    body = json.dumps({"batch": [track(1), track(2)]}).encode()
    accepted = harness.ingest.accept(
        "import",
        body,
        authorization="Basic " + base64.b64encode(f"{harness.write_key}:".encode()).decode(),
        content_type=content_type,
        content_encoding=None,
    )
    assert (accepted.queued, accepted.accepted, accepted.rejected) == (2, 2, [])
    assert harness.queued() == 2


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/import", {"batch": [{"type": "track", "event": "Imported", "userId": "u1"}]}),
        ("/v1/batch", {"batch": [{"type": "track", "event": "Batched", "userId": "u1"}]}),
        ("/v1/track", {"type": "track", "event": "Single", "userId": "u1"}),
        ("/v1/identify", {"type": "identify", "userId": "u1"}),
    ],
)
def test_each_ingest_route_queues_and_answers_json(
    harness: Harness, path: str, body: dict[str, Any]
) -> None:
    token = base64.b64encode(f"{harness.write_key}:".encode()).decode()
    headers = {"content-type": "application/json", "authorization": f"Basic {token}"}
    event = to_apigw_event("POST", path, headers, json.dumps(body).encode(), "127.0.0.1")
    answer = harness.app.resolve(event, LocalContext())
    assert answer["statusCode"] == 200, answer
    assert answer["headers"]["Content-Type"] == "application/json"
    assert json.loads(answer["body"]) == {"success": True, "queued": 1}
    assert harness.queued() == 1


def test_a_decompression_bomb_is_refused_without_being_inflated(harness: Harness) -> None:
    """100 MB of zeros in a 100 KB gzip body: refused with 413 after inflating just past
    the batch limit, never the whole of it (memory traced while ingest reads it)."""
    bomb = gzip.compress(b"0" * (100 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 200 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(ServiceError) as caught:
            harness.ingest.accept(
                "batch",
                bomb,
                authorization=None,
                content_type="application/json",
                content_encoding="gzip",
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (caught.value.status, caught.value.code) == (413, "payload_too_large")
    assert peak < 10 * MAX_BATCH_BYTES  # about 1 MB read, not 100 MB


def test_a_source_feeds_only_its_own_enabled_destinations(harness: Harness) -> None:
    """Events of a source reach its enabled destination instances only: not another
    source's instances in the same workspace, not a disabled one, not an insert."""
    plane, admin, ws = harness.plane, harness.admin, harness.workspace
    other, _ = plane.create_source(admin, ws, "other")
    elsewhere = plane.deploy(admin, ws, harness.function_id, source_id=other.id)
    second, _ = plane.create_function(admin, ws, files={"handler.py": HANDLER}, name="fn2")
    off = plane.deploy(admin, ws, second.id, source_id=harness.instance.source_id)
    plane.update_instance(admin, ws, off.id, enabled=False)
    harness.ingest.forget_routes()
    status, answer = harness.post("/v1/batch", {"batch": [track(1), track(2)]})
    assert (status, answer) == (200, {"success": True, "queued": 2})
    jobs = harness.delivery.queue.receive(10, visibility_timeout=30)
    assert [job.body["instance_id"] for job in jobs] == [harness.instance.id] * 2
    assert harness.instance.id not in (elsewhere.id, off.id)


def test_batch_messages_that_cannot_be_queued_say_why(harness: Harness) -> None:
    status, answer = harness.post(
        "/v1/batch", {"batch": [5, {**track(2), "context": "web"}, track(3)]}
    )
    assert status == 200
    assert answer["queued"] == 1
    assert [(r["index"], r["reason"]) for r in answer["rejected"]] == [
        (0, "a message must be a JSON object, got int"),
        (1, "context must be a JSON object, got str"),
    ]


def test_a_batch_message_of_exactly_the_message_limit_is_queued(harness: Harness) -> None:
    def message(pad: int) -> dict[str, Any]:
        return track(1, messageId="m-exact", properties={"pad": "p" * pad})

    compact = len(json.dumps(message(0), separators=(",", ":")).encode())
    exact = message(MAX_MESSAGE_BYTES - compact)
    assert len(json.dumps(exact, separators=(",", ":")).encode()) == MAX_MESSAGE_BYTES
    over = {**message(MAX_MESSAGE_BYTES - compact + 1), "messageId": "m-over+"}
    status, answer = harness.post("/v1/batch", {"batch": [exact, over]})
    assert status == 200
    assert answer["queued"] == 1
    assert [(r["messageId"], r["reason"]) for r in answer["rejected"]] == [
        ("m-over+", f"message is {MAX_MESSAGE_BYTES + 1} bytes; the limit is {MAX_MESSAGE_BYTES}")
    ]


def test_accepted_counts_messages_and_queued_counts_jobs(harness: Harness) -> None:
    """One job per accepted message and destination instance, each naming its
    workspace, instance, message and the time ingest received it."""
    plane, admin, ws = harness.plane, harness.admin, harness.workspace
    second, _ = plane.create_function(admin, ws, files={"handler.py": HANDLER}, name="fn2")
    other = plane.deploy(admin, ws, second.id, source_id=harness.instance.source_id)
    harness.ingest.forget_routes()
    batch = [track(1, messageId="m1"), "not a message", track(2, messageId="m2")]
    accepted = harness.ingest.accept(
        "batch",
        json.dumps({"batch": batch}).encode(),
        authorization="Basic " + base64.b64encode(f"{harness.write_key}:".encode()).decode(),
        content_type="application/json",
        content_encoding=None,
    )
    assert (accepted.accepted, accepted.queued, len(accepted.rejected)) == (2, 4, 1)
    jobs = harness.delivery.queue.receive(10, visibility_timeout=30)
    seen = sorted((job.body["instance_id"], job.body["message_id"]) for job in jobs)
    assert seen == sorted(
        (instance, message)
        for instance in (harness.instance.id, other.id)
        for message in ("m1", "m2")
    )
    for job in jobs:
        assert job.body["workspace_id"] == ws
        stamp = job.body["event"]["receivedAt"]
        assert job.body["received_at"].replace("+00:00", "Z") == stamp


def test_the_queued_event_is_the_stamped_message_with_its_keys_in_order(harness: Harness) -> None:
    """Ingest queues the text it encoded to check a message, with its stamps added:
    it must read back as the message stamped (keys new to it last, in stamp order; the
    client's own receivedAt / projectId replaced where they stand)."""
    plain = {"type": "track", "event": "E", "userId": "u1", "properties": {"a": [1, "é"]}}
    named = {**plain, "messageId": "m-named"}
    forged = {"projectId": "src_forged", **plain, "receivedAt": "1999-01-01T00:00:00Z"}
    status, answer = harness.post("/v1/batch", {"batch": [plain, named, forged]})
    assert (status, answer["queued"]) == (200, 3)
    jobs = harness.delivery.queue.receive(10, visibility_timeout=30)
    events = [job.body["event"] for job in jobs]
    source_id = harness.instance.source_id
    stamp = events[0]["receivedAt"]
    assert stamp.endswith("Z")
    assert events[0]["messageId"].startswith("fn-")
    assert list(events[0]) == [*plain, "messageId", "receivedAt", "projectId"]
    assert events[0] == {
        **plain,
        "messageId": events[0]["messageId"],
        "receivedAt": stamp,
        "projectId": source_id,
    }
    assert list(events[1]) == [*named, "receivedAt", "projectId"]
    assert events[1] == {**named, "receivedAt": stamp, "projectId": source_id}
    assert list(events[2]) == [*forged, "messageId"]
    assert events[2] == {
        **forged,
        "receivedAt": stamp,
        "projectId": source_id,
        "messageId": events[2]["messageId"],
    }
    assert [job.body["message_id"] for job in jobs] == [e["messageId"] for e in events]


class _Recorder:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, bodies: list[Any], delay_seconds: int = 0) -> None:
        self.bodies += bodies


def test_each_queued_body_is_exactly_the_json_of_the_body_it_stands_for(harness: Harness) -> None:
    """No key written twice, nothing beside the JSON encoder's own output."""
    recorder = _Recorder()
    ingest = Ingest(harness.ingest.store, recorder, harness.delivery.deliveries)  # type: ignore[arg-type]
    source = harness.ingest.store.find_source_by_write_key(hash_key(harness.write_key))
    assert source is not None
    messages = [
        {"type": "track", "event": "E", "userId": "u1"},
        {"type": "track", "event": "E", "userId": "u1", "messageId": "m1", "projectId": "x"},
        {
            "receivedAt": "2020-01-01T00:00:00Z",
            "type": "identify",
            "userId": "u\ud83d\ude00",
            "messageId": "m2",
        },
    ]
    assert ingest.enqueue(source, messages).queued == 3
    assert len(recorder.bodies) == 3
    for text in recorder.bodies:
        assert text == json.dumps(json.loads(text), separators=(",", ":"))
