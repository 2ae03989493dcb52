"""Source functions' webhooks: ``POST /v1/webhooks/{token}``.

The token (:mod:`functions_runtime.control.webhooks`) names the source; the source id
alone does not open it.

The source's enabled source-function instances run ``on_request(request, settings)``
in the sandbox; the events they emit enter ingest like any other event. The answer
tells the sender what to do: 200 delivered / filtered, 400 rejected, 503 retry later.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..control.errors import ServiceError
from ..control.ports import MetadataStore
from ..control.webhooks import source_for_webhook
from .dispatch import Dispatcher
from .ingest import MAX_BATCH_BYTES, Ingest
from .ports import Delivery

__all__ = ["WebhookResult", "handle_webhook"]

STATUS = {"delivered": 200, "filtered": 200, "rejected": 400, "retry": 503, "invalid": 500}


@dataclass(frozen=True)
class WebhookResult:
    status: int
    body: dict[str, Any]


def handle_webhook(
    store: MetadataStore,
    ingest: Ingest,
    dispatcher: Dispatcher,
    token: str,
    request: dict[str, Any],
) -> WebhookResult:
    """Run the source's source functions on one webhook request."""
    if len(str(request.get("body") or "")) > MAX_BATCH_BYTES:
        raise ServiceError(413, "payload_too_large", f"webhook body over {MAX_BATCH_BYTES} bytes")
    source = source_for_webhook(store, token)
    if source is None:
        raise ServiceError(404, "not_found", "no webhook at this address")
    instances = [
        i
        for i in store.list_instances(source.workspace_id)
        if i.source_id == source.id
        and i.enabled
        and (fn := store.get_function(i.workspace_id, i.function_id)) is not None
        and fn.kind == "source"
    ]
    if not instances:
        raise ServiceError(404, "not_found", "this source has no enabled source function")
    request_id = f"wh-{uuid.uuid4()}"
    status, runs, queued = 200, [], 0
    for instance in instances:
        spec = dispatcher.spec_for(instance.workspace_id, instance.id)
        if spec is None:
            continue
        [result] = dispatcher.pool.invoke(spec, [request])
        emitted = result.get("emitted") or []
        if result["outcome"] == "delivered" and emitted:
            queued += ingest.enqueue(source, [dict(e) for e in emitted]).queued
        dispatcher.delivery.deliveries.record(
            Delivery(
                id=f"{instance.id}:{request_id}:1",
                workspace_id=instance.workspace_id,
                instance_id=instance.id,
                version_id=instance.version_id,
                message_id=request_id,
                event_type="webhook",
                outcome=result["outcome"],
                attempt=1,
                error=result["error"],
                logs=result["logs"],
                requests=result["requests"],
                duration_ms=float(result["duration_ms"]),
                at=datetime.now(UTC),
                event=None,
            )
        )
        status = max(status, STATUS.get(str(result["outcome"]), 500))
        runs.append(
            {
                "instance": instance.id,
                "outcome": result["outcome"],
                "emitted": len(emitted),
                "error": result["error"],
            }
        )
    return WebhookResult(status, {"request_id": request_id, "queued": queued, "runs": runs})
