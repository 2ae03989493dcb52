"""Routes that delete (soft) functions, instances and sources and replace keys.

``DELETE`` answers with the deleted record (``deleted_at`` set); replacing a key
answers with the new key, shown once. See ``control/lifecycle.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from ..control import lifecycle
from ..control.auth import Principal
from ..control.models import Instance
from ..control.service import ControlPlane

__all__ = ["add_manage_routes"]

SOURCE_HIDDEN = {"write_key_hash", "webhook_token_hash"}


def add_manage_routes(
    app: APIGatewayHttpResolver,
    plane: ControlPlane,
    errors: dict[int, Any],
    who: Callable[[], Principal],
    ws: Callable[[Principal], str],
    instance_json: Callable[[Instance], dict[str, Any]],
) -> None:
    """Register the delete and key-replacing routes on ``app``."""

    @app.delete("/v1/functions/<function>", responses=errors)
    def delete_function(function: str) -> dict[str, Any]:
        """Delete a function (by id or name) and its instances; its name is free again."""
        p = who()
        deleted = lifecycle.delete_function(plane, p, ws(p), function)
        return {"function": deleted.model_dump(mode="json")}

    @app.delete("/v1/instances/<instance_id>", responses=errors)
    def delete_instance(instance_id: str) -> dict[str, Any]:
        """Delete an instance: it receives no more events."""
        p = who()
        return {"instance": instance_json(lifecycle.delete_instance(plane, p, ws(p), instance_id))}

    @app.delete("/v1/sources/<source_id>", responses=errors)
    def delete_source(source_id: str) -> dict[str, Any]:
        """Delete a source with no instances: its write key and webhook stop working."""
        p = who()
        deleted = lifecycle.delete_source(plane, p, ws(p), source_id)
        return {"source": deleted.model_dump(mode="json", exclude=SOURCE_HIDDEN)}

    @app.post("/v1/sources/<source_id>/write-key", responses=errors)
    def rotate_write_key(source_id: str) -> dict[str, Any]:
        """A new write key for the source, shown once; the old one stops working."""
        p = who()
        source, write_key = lifecycle.rotate_write_key(plane, p, ws(p), source_id)
        return {"source": source.id, "name": source.name, "write_key": write_key}

    @app.post("/v1/keys/rotate", responses=errors)
    def rotate_api_key() -> dict[str, Any]:
        """Replace the calling API key: the new one is shown once, this one stops working."""
        p = who()
        header = app.current_event.headers.get("authorization") or ""
        key = header.partition(" ")[2].strip()
        return {"api_key": lifecycle.rotate_api_key(plane, p, ws(p), key)}
