"""Deleting functions, instances and sources, and replacing keys.

Deletes are soft: the record stays (versions, deliveries and the audit log refer to
it), the API finds it no more, its name is free again, and an instance stops
receiving events at once (it is disabled). A deleted source's write key stops working.
Keys are replaced, never shown again: the new one is returned once and the old one
stops working at once. Every operation is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .auth import WRITE_KEY_PREFIX, Principal, hash_key, issue_key, new_secret
from .errors import conflict, not_found
from .models import AuditEntry, Function, Instance, Source, Workspace, new_id
from .ports import ConflictError, NotFoundError
from .service import ControlPlane

__all__ = [
    "delete_function",
    "delete_instance",
    "delete_source",
    "rotate_api_key",
    "rotate_write_key",
]


def delete_instance(plane: ControlPlane, who: Principal, ws: str, ident: str) -> Instance:
    """Disable and delete an instance; refused while a destination runs it as insert."""
    instance = plane.get_instance(ws, ident)
    users = [i.id for i in plane.list_instances(ws) if i.insert_id == instance.id]
    if users:
        raise conflict(
            f"instance {instance.id} runs before {', '.join(users)} as their insert function; "
            "detach it first (functions deploy ... --insert '')"
        )
    return _retire(plane, who, instance)


def delete_function(plane: ControlPlane, who: Principal, ws: str, ident: str) -> Function:
    """Delete a function and its instances (each audited); its name is free again."""
    function = plane.get_function(ws, ident)
    instances = plane.list_instances(ws, function.id)
    mine = {i.id for i in instances}
    users = [i.id for i in plane.list_instances(ws) if i.insert_id in mine and i.id not in mine]
    if users:
        raise conflict(
            f"instances {', '.join(users)} run this function first (insert); detach them first"
        )
    for instance in instances:
        _retire(plane, who, instance)
    at = _soft_delete(plane, who, ws, "function", ident, function, plane.store.delete_function)
    return function.model_copy(update={"deleted_at": at})


def delete_source(plane: ControlPlane, who: Principal, ws: str, ident: str) -> Source:
    """Delete a source: its write key and webhook stop working, its name is free.
    Refused while instances are attached to it (delete or move them first)."""
    source = plane.find_source(ws, ident)
    attached = [i.id for i in plane.list_instances(ws) if i.source_id == source.id]
    if attached:
        raise conflict(
            f"instances {', '.join(attached)} are attached to source {source.name}; "
            "delete them (or deploy them to another source) first"
        )
    at = _soft_delete(plane, who, ws, "source", ident, source, plane.store.delete_source)
    return source.model_copy(update={"deleted_at": at})


def _soft_delete(
    plane: ControlPlane,
    who: Principal,
    ws: str,
    kind: str,
    ident: str,
    item: Function | Source,
    delete: Callable[[str, str, datetime], None],
) -> datetime:
    """Mark ``item`` deleted now with the store's ``delete`` and audit it; when."""
    at = plane.clock()
    try:
        delete(ws, item.id, at)
    except NotFoundError:
        raise not_found(kind, ident) from None
    except ConflictError:
        raise conflict(f"the {kind} changed while it was deleted; retry") from None
    _audit(plane, who, ws, f"{kind}.delete", item.id, {"name": item.name})
    return at


def rotate_write_key(
    plane: ControlPlane, who: Principal, ws: str, ident: str
) -> tuple[Source, str]:
    """A new write key for the source, returned once; the old one stops working."""
    source = plane.find_source(ws, ident)
    write_key = new_secret(WRITE_KEY_PREFIX)
    try:
        updated = plane.store.replace_write_key(ws, source.id, hash_key(write_key))
    except NotFoundError:
        raise not_found("source", ident) from None
    except ConflictError:
        raise conflict("the source changed while its key was replaced; retry") from None
    _audit(plane, who, ws, "source.write_key_rotate", source.id, {"name": source.name})
    return updated, write_key


def rotate_api_key(plane: ControlPlane, who: Principal, ws: str, key: str) -> str:
    """Replace the calling API key (``key``, as sent): a new key of the same scope is
    returned once and the old one stops working."""
    workspace: Workspace | None = None
    if not who.admin:
        workspace = plane.store.get_workspace(ws)
        if workspace is None:
            raise not_found("workspace", ws)
    new_key = issue_key(plane.store, workspace)
    plane.store.delete_api_key(hash_key(key))
    _audit(plane, who, ws, "key.rotate", who.key_id, {"admin": who.admin})
    return new_key


def _audit(
    plane: ControlPlane, who: Principal, ws: str, action: str, target: str, details: dict[str, Any]
) -> None:
    entry = AuditEntry(
        id=new_id("au"),
        workspace_id=ws,
        actor=who.key_id,
        action=action,
        target=target,
        at=plane.clock(),
        details=details,
    )
    plane.store.append_audit(entry)


def _retire(plane: ControlPlane, who: Principal, instance: Instance) -> Instance:
    if instance.deleted_at is not None:
        return instance
    at = plane.clock()
    retired = instance.model_copy(
        update={
            "enabled": False,
            "deleted_at": at,
            "revision": instance.revision + 1,
            "updated_at": at,
        }
    )
    try:
        plane.store.update_instance(retired, expected_revision=instance.revision)
    except ConflictError:
        raise conflict("the instance changed while it was deleted; retry") from None
    except NotFoundError:
        raise not_found("instance", instance.id) from None
    _audit(
        plane,
        who,
        instance.workspace_id,
        "instance.delete",
        instance.id,
        {"function": instance.function_id, "version": instance.version_id},
    )
    return retired
