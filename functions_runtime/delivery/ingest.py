"""Ingest: the Segment tracking API, so existing tracking clients work unchanged.

``POST /v1/{track,identify,page,screen,group,alias}`` take one message,
``/v1/batch`` and ``/v1/import`` take ``{"batch": [...]}``. The source's write key
comes as HTTP Basic (the key as user) or as ``writeKey`` in the body. Bodies may be
gzip. A request is answered 200 only once its events are durably queued; a request
that is malformed as a whole queues nothing; inside a well-formed batch, a message
that fails the Spec is recorded as ``rejected`` while the good ones are queued.

A message is also rejected (alone) when it holds a number JSON cannot carry (``NaN``,
``Infinity``, ``1e400``) or nests objects and arrays more than
``json_limits.MAX_DEPTH`` (64) levels deep. As with size, a single-message request
nested that deep is refused whole (400), and so is any body nested past what the
parser takes (about 1,000 levels).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from functions_sdk.events import EventParseError, parse_event

from ..control.auth import hash_key
from ..control.errors import ServiceError
from ..control.models import Instance, Source
from ..control.ports import MetadataStore
from ..json_limits import MAX_DEPTH, compact_text, too_deep
from .ports import Delivery, DeliveryStore, EncodedBody, Queue

__all__ = ["MAX_BATCH_BYTES", "MAX_MESSAGE_BYTES", "Accepted", "Ingest"]

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
SINGLE_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})
ROUTING_TTL = 2.0  # seconds a source's instance list is cached


@dataclass(frozen=True)
class Accepted:
    """What ingest did with a request."""

    queued: int  # jobs queued (events x instances)
    accepted: int  # messages that passed the Spec
    rejected: list[dict[str, Any]]  # {"index", "messageId", "reason"}


class Ingest:
    """Authenticates, validates, stamps and fans events out to their instances' queue."""

    def __init__(
        self,
        store: MetadataStore,
        queue: Queue,
        deliveries: DeliveryStore,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.queue = queue
        self.deliveries = deliveries
        self.clock = clock
        self._routes: dict[str, tuple[float, list[Instance]]] = {}
        self._lock = threading.Lock()

    # -- the request ------------------------------------------------------------------------

    def accept(
        self,
        kind: str,
        body: bytes,
        *,
        authorization: str | None,
        content_type: str | None,
        content_encoding: str | None,
    ) -> Accepted:
        """Handle one ingest request; raises ``ServiceError`` when it is refused whole."""
        if kind not in SINGLE_TYPES and kind not in {"batch", "import"}:
            raise ServiceError(404, "not_found", f"unknown ingest endpoint /v1/{kind}")
        media = (content_type or "").split(";")[0].strip().lower()
        if media not in {"application/json", "text/plain", ""}:
            raise ServiceError(
                415,
                "unsupported_media_type",
                f"send JSON (Content-Type: application/json), not {media}",
            )
        raw = _decompress(body, content_encoding)
        limit = MAX_MESSAGE_BYTES if kind in SINGLE_TYPES else MAX_BATCH_BYTES
        if len(raw) > limit:
            raise ServiceError(
                413,
                "payload_too_large",
                f"the request body is {len(raw)} bytes; the limit is {limit}",
            )
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServiceError(400, "bad_request", f"the body is not JSON: {exc}") from None
        except RecursionError:
            raise ServiceError(
                400,
                "bad_request",
                f"the body nests objects and arrays too deeply (the limit is {MAX_DEPTH} levels)",
            ) from None
        if not isinstance(payload, dict):
            raise ServiceError(400, "bad_request", "the body must be a JSON object")
        if kind in SINGLE_TYPES and too_deep(payload):  # as an oversize one: 413 whole
            raise ServiceError(
                400,
                "bad_request",
                f"the message nests objects and arrays more than {MAX_DEPTH} levels deep",
            )
        source = self._source(authorization, payload.get("writeKey"))
        messages = self._messages(kind, payload)
        return self.enqueue(source, messages)

    def _messages(self, kind: str, payload: dict[str, Any]) -> list[Any]:
        if kind in SINGLE_TYPES:
            message = {k: v for k, v in payload.items() if k != "writeKey"}
            if message.setdefault("type", kind) != kind:
                raise ServiceError(
                    400, "bad_request", f"a {message['type']!r} message sent to /v1/{kind}"
                )
            return [message]
        batch = payload.get("batch")
        if not isinstance(batch, list) or not batch:
            raise ServiceError(400, "bad_request", 'a batch body is {"batch": [messages]}')
        shared = payload.get("context")
        out: list[Any] = []
        for message in batch:
            if isinstance(message, dict) and isinstance(shared, dict):
                own = message.get("context")
                if own is None or isinstance(own, dict):  # otherwise _check rejects it
                    message = {**message, "context": {**shared, **(own or {})}}
            out.append(message)
        return out

    def enqueue(self, source: Source, messages: list[Any]) -> Accepted:
        """Validate, stamp and queue ``messages`` for the source's destination instances."""
        instances = self._instances(source)
        received = self.clock()
        received_at = received.isoformat()
        stamp = received_at.replace("+00:00", "Z")
        bodies: list[EncodedBody] = []
        rejected: list[dict[str, Any]] = []
        # Each queued body is built around the event's JSON text, which _check encoded
        # (once, before the stamps: the size limit is on what the client sent) to check
        # it: the same text as json.dumps of the whole stamped body.
        heads = [
            f'{{"workspace_id":{_json(i.workspace_id)},"instance_id":{_json(i.id)},'
            f'"received_at":{_json(received_at)},"message_id":'
            for i in instances
        ]
        stamps = f'"receivedAt":{_json(stamp)},"projectId":{_json(source.id)}'
        for index, message in enumerate(messages):
            text, reason = _check(message)
            if isinstance(message, dict):
                restamped = "receivedAt" in message or "projectId" in message
                added = []
                if "messageId" not in message:
                    message["messageId"] = f"fn-{uuid.uuid4()}"
                    added.append(f'"messageId":{_json(message["messageId"])}')
                message["receivedAt"] = stamp
                message["projectId"] = source.id  # the authenticated source, never the client's
                if reason is None:
                    text = _stamped(text, message, restamped, [*added, stamps])
            message_id = str(message.get("messageId")) if isinstance(message, dict) else None
            if reason is not None:
                rejected.append({"index": index, "messageId": message_id, "reason": reason})
                self._record_rejection(
                    instances, message, message_id or f"index-{index}", reason, received
                )
                continue
            tail = f'{_json(message_id)},"event":{text}}}'
            bodies.extend(EncodedBody(head + tail) for head in heads)
        if bodies:
            self.queue.send(bodies)  # durable before we answer
        return Accepted(
            queued=len(bodies), accepted=len(messages) - len(rejected), rejected=rejected
        )

    def _record_rejection(
        self, instances: list[Instance], message: Any, message_id: str, reason: str, at: datetime
    ) -> None:
        event_type = message.get("type") if isinstance(message, dict) else None
        for instance in instances:
            self.deliveries.record(
                Delivery(
                    id=f"{instance.id}:{message_id}:ingest",
                    workspace_id=instance.workspace_id,
                    instance_id=instance.id,
                    version_id=instance.version_id,
                    message_id=message_id,
                    event_type=event_type if isinstance(event_type, str) else None,
                    outcome="rejected",
                    attempt=0,
                    error={"type": "InvalidEventPayload", "message": reason, "line": None},
                    at=at,
                    event=message if _small(message) else None,
                )
            )

    # -- lookups ------------------------------------------------------------------------------

    def _source(self, authorization: str | None, body_key: Any) -> Source:
        key = _basic_user(authorization) or (body_key if isinstance(body_key, str) else None)
        if not key:
            raise ServiceError(
                401,
                "unauthorized",
                "missing write key: send it as the HTTP Basic user name or as writeKey in the body",
            )
        source = self.store.find_source_by_write_key(hash_key(key))
        if source is None:
            raise ServiceError(401, "unauthorized", "unknown write key")
        return source

    def _instances(self, source: Source) -> list[Instance]:
        now = time.monotonic()
        with self._lock:
            cached = self._routes.get(source.id)
            if cached is not None and now - cached[0] < ROUTING_TTL:
                return cached[1]
        instances = [
            i
            for i in self.store.list_instances(source.workspace_id)
            if i.source_id == source.id and i.enabled and self._kind(i) == "destination"
        ]
        with self._lock:
            self._routes[source.id] = (now, instances)
        return instances

    def _kind(self, instance: Instance) -> str:
        function = self.store.get_function(instance.workspace_id, instance.function_id)
        return function.kind if function is not None else "missing"

    def forget_routes(self) -> None:
        """Drop cached routing (after a deploy changes which instances a source feeds)."""
        with self._lock:
            self._routes.clear()


def _check(message: Any) -> tuple[str, str | None]:
    """``(text, None)``: the message as compact JSON; or ``("", why)`` it cannot be
    queued."""
    if not isinstance(message, dict):
        return "", f"a message must be a JSON object, got {type(message).__name__}"
    context = message.get("context")
    if context is not None and not isinstance(context, dict):
        return "", f"context must be a JSON object, got {type(context).__name__}"
    text, trouble = compact_text(message)
    if text is None:
        return "", f"the message {trouble}"
    if len(text) > MAX_MESSAGE_BYTES:  # ASCII-only: characters are bytes
        return "", f"message is {len(text)} bytes; the limit is {MAX_MESSAGE_BYTES}"
    try:
        parse_event(message)
    except EventParseError as exc:
        return "", str(exc)
    return text, None


def _stamped(text: str, message: dict[str, Any], restamped: bool, fields: list[str]) -> str:
    """``text`` (the message as the client sent it) with ingest's stamps: appended, as
    ``json.dumps`` writes keys new to the dict; encoded anew when the client sent stamp
    keys of its own (ours then stand in their places)."""
    if restamped:
        return json.dumps(message, separators=(",", ":"))
    return text[:-1] + ("," if len(text) > 2 else "") + ",".join(fields) + "}"


def _json(value: str | None) -> str:
    return json.dumps(value)


def _small(message: Any) -> bool:
    try:
        return len(json.dumps(message)) <= MAX_MESSAGE_BYTES
    except (TypeError, ValueError):
        return False


def _basic_user(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ServiceError(401, "unauthorized", "malformed Basic authorization") from None
    return decoded.split(":", 1)[0] or None


def _decompress(body: bytes, encoding: str | None) -> bytes:
    enc = (encoding or "").strip().lower()
    if enc in {"", "identity"}:
        return body
    if enc not in {"gzip", "deflate"}:
        raise ServiceError(415, "unsupported_media_type", f"unsupported Content-Encoding {enc}")
    try:
        decompressor = zlib.decompressobj(wbits=47 if enc == "gzip" else 15)
        out = decompressor.decompress(body, MAX_BATCH_BYTES + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise ServiceError(400, "bad_request", f"the body is not valid {enc}: {exc}") from None
    if len(out) > MAX_BATCH_BYTES:
        raise ServiceError(
            413, "payload_too_large", f"the decompressed body is over {MAX_BATCH_BYTES} bytes"
        )
    return out
