"""Replay: send an instance's dead-lettered (or filtered / rejected) events again,
optionally through another version of its function. No peer offers this."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..control.errors import bad_request, not_found
from ..control.models import new_id
from ..control.ports import MetadataStore
from .ports import DeliveryBackend

__all__ = ["REPLAYABLE", "replay"]

REPLAYABLE = frozenset({"failed", "filtered", "rejected"})
MAX_REPLAY = 10_000


def replay(
    store: MetadataStore,
    delivery: DeliveryBackend,
    workspace_id: str,
    instance_id: str,
    *,
    version_id: str | None = None,
    since: datetime | None = None,
    include: frozenset[str] = frozenset({"failed"}),
) -> dict[str, Any]:
    """Queue the events again; returns ``{"replay_id", "queued", "message_ids"}``."""
    instance = store.get_instance(workspace_id, instance_id)
    if instance is None:
        raise not_found("instance", instance_id)
    unknown = include - REPLAYABLE
    if unknown:
        raise bad_request(f"cannot replay {sorted(unknown)}; choose from {sorted(REPLAYABLE)}")
    if version_id is not None:
        version = store.get_version(workspace_id, version_id)
        if version is None:
            raise not_found("version", version_id)
        if version.function_id != instance.function_id:
            raise bad_request(f"version {version_id} belongs to another function")
    replay_id = new_id("rp")
    bodies: dict[str, dict[str, Any]] = {}

    def mine(body: dict[str, Any]) -> bool:
        if body.get("instance_id") != instance_id or body.get("workspace_id") != workspace_id:
            return False
        received = body.get("received_at")
        return since is None or (isinstance(received, str) and received >= since.isoformat())

    for outcome in sorted(include - {"failed"}):
        for record in delivery.deliveries.list(
            workspace_id, instance_id, outcome=outcome, since=since, limit=MAX_REPLAY
        ):
            if record.event is not None and record.message_id not in bodies:
                bodies[record.message_id] = {
                    "workspace_id": workspace_id,
                    "instance_id": instance_id,
                    "message_id": record.message_id,
                    "event": record.event,
                    "received_at": record.at.isoformat(),
                }
    taken = delivery.queue.take_dead(mine, limit=MAX_REPLAY) if "failed" in include else []
    for dead in taken:
        bodies[str(dead.body.get("message_id"))] = dict(dead.body)
    out = [{**body, "replay_id": replay_id, "version_id": version_id} for body in bodies.values()]
    if out:
        delivery.queue.send(out)
    return {"replay_id": replay_id, "queued": len(out), "message_ids": sorted(bodies)}
