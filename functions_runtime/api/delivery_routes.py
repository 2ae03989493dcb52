"""Routes for ingest (Segment tracking API) and for looking at deliveries."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field

from ..control.errors import bad_request
from ..control.service import ControlPlane
from ..delivery.dispatch import Dispatcher
from ..delivery.ingest import SINGLE_TYPES, Ingest
from ..delivery.ports import DeliveryBackend
from ..delivery.replay import replay
from ..delivery.webhook import handle_webhook

__all__ = ["add_delivery_routes"]


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None = None
    since: datetime | None = None
    include: list[str] = Field(default_factory=lambda: ["failed"], max_length=3)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"since must be an ISO-8601 time, got {value!r}") from None


def add_delivery_routes(
    app: APIGatewayHttpResolver,
    plane: ControlPlane,
    ingest: Ingest,
    delivery: DeliveryBackend,
    errors: dict[int, Any],
    workspace: Callable[[], str],
    dispatcher: Dispatcher | None = None,
) -> None:
    """Register ingest, deliveries, stats and replay (and, with a dispatcher, source
    function webhooks) on ``app``."""

    def accept(kind: str) -> Response[str]:
        event = app.current_event
        raw = event.body or ""
        body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
        headers = event.headers
        result = ingest.accept(
            kind,
            body,
            authorization=headers.get("authorization"),
            content_type=headers.get("content-type"),
            content_encoding=headers.get("content-encoding"),
        )
        payload: dict[str, Any] = {"success": True, "queued": result.queued}
        if result.rejected:
            payload["rejected"] = result.rejected
        return Response(200, "application/json", json.dumps(payload))

    for kind in (*sorted(SINGLE_TYPES), "batch", "import"):
        # The body is raw bytes that ingest parses and checks itself: Powertools'
        # request and response validation would only cost time on the hottest route.
        app.post(f"/v1/{kind}", responses=errors, include_in_schema=False, enable_validation=False)(
            lambda kind=kind: accept(kind)
        )

    if dispatcher is not None:

        @app.post("/v1/webhooks/<token>", include_in_schema=False)
        def webhook(token: str) -> Response[str]:
            event = app.current_event
            raw = event.body or ""
            body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
            request = {
                "method": event.request_context.http.method,
                "headers": dict(event.headers),
                "query": dict(event.query_string_parameters or {}),
                "body": body.decode("utf-8", "replace"),
            }
            result = handle_webhook(plane.store, ingest, dispatcher, token, request)
            return Response(result.status, "application/json", json.dumps(result.body))

    @app.get("/v1/instances/<instance_id>/deliveries", responses=errors)
    def deliveries(
        instance_id: str,
        outcome: Annotated[str | None, Query()] = None,
        since: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        ws = workspace()
        plane.get_instance(ws, instance_id)
        records = delivery.deliveries.list(
            ws, instance_id, outcome=outcome, since=_since(since), limit=limit
        )
        return {"deliveries": [r.model_dump(mode="json") for r in records]}

    @app.get("/v1/instances/<instance_id>/stats", responses=errors)
    def stats(instance_id: str, since: Annotated[str | None, Query()] = None) -> dict[str, Any]:
        ws = workspace()
        plane.get_instance(ws, instance_id)
        result = delivery.deliveries.stats(ws, instance_id, _since(since))
        return {
            "counts": result.counts,
            "total": result.total,
            "attempts": result.total,
            "events": result.events,
            "p50_ms": result.p50_ms,
            "p95_ms": result.p95_ms,
        }

    @app.post("/v1/instances/<instance_id>/replay", responses=errors)
    def replay_instance(instance_id: str, body: ReplayIn) -> dict[str, Any]:
        ws = workspace()
        return replay(
            plane.store,
            delivery,
            ws,
            instance_id,
            version_id=body.version,
            since=body.since,
            include=frozenset(body.include),
        )
