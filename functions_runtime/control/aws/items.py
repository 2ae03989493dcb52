"""The DynamoDB items of the AWS metadata store: keys, and records to and from items.

The layout is documented in ``aws.py``; this module is its single implementation.
Records travel as their model JSON in ``data``, so reads round-trip exactly; the few
attributes beside it are keys, GSI keys, claim pointers and the fields that conditional
writes test (``revision``, ``version_count``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..models import ApiKey, AuditEntry, Function, Instance, Source, Version, Workspace
from ..ports import StoreError

Item = dict[str, Any]
M = TypeVar("M", bound=BaseModel)

GSI1 = "GSI1"
WORKSPACE_SK = "WORKSPACE"
WORKSPACES_GSI1PK = "WORKSPACE"
ADMIN_KEYS_PK = "ADMINKEY"
# Sort-key prefixes under WS#<workspace>. None is a prefix of another, so a
# begins_with query on one never returns items of another type.
FN, FN_NAME, VER, INST = "FN#", "FNNAME#", "VER#", "INST#"
SRC, SRC_NAME, AUDIT = "SRC#", "SRCNAME#", "AUDIT#"

# Function fields that add_version changes: attributes of their own, not in ``data``.
FUNCTION_COUNTERS = frozenset({"latest_version", "version_count", "updated_at", "deleted_at"})


def ws_pk(workspace_id: str) -> str:
    return f"WS#{workspace_id}"


def api_key_pk(key_hash: str) -> str:
    return f"APIKEY#{key_hash}"


def write_key_pk(write_key_hash: str) -> str:
    return f"WRITEKEY#{write_key_hash}"


def key(pk: str, sk: str) -> Item:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def sortable_time(moment: datetime) -> str:
    """Fixed-width UTC time, so that string order is time order (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_value(record: BaseModel, field: str) -> str:
    """One field as it appears in the record's JSON (e.g. a datetime as ISO text)."""
    return str(record.model_dump(mode="json", include={field})[field])


def _record(pk: str, sk: str, kind: str, data: str, **extra: str | int) -> Item:
    item = key(pk, sk) | {"type": {"S": kind}, "data": {"S": data}}
    for name, value in extra.items():
        item[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    return item


def workspace_item(ws: Workspace) -> Item:
    return _record(
        ws_pk(ws.id),
        WORKSPACE_SK,
        "workspace",
        ws.model_dump_json(),
        gsi1pk=WORKSPACES_GSI1PK,
        gsi1sk=f"{sortable_time(ws.created_at)}#{ws.id}",
    )


def api_key_item(api_key: ApiKey) -> Item:
    return _record(api_key_pk(api_key.key_hash), "APIKEY", "api-key", api_key.model_dump_json())


def admin_key_marker(api_key: ApiKey) -> Item:
    item = key(ADMIN_KEYS_PK, api_key_pk(api_key.key_hash))
    return item | {"type": {"S": "admin-key"}, "key_id": {"S": api_key.id}}


def function_item(fn: Function) -> Item:
    item = _record(
        ws_pk(fn.workspace_id),
        FN + fn.id,
        "function",
        fn.model_dump_json(exclude=set(FUNCTION_COUNTERS)),
        version_count=fn.version_count,
        updated_at=json_value(fn, "updated_at"),
    )
    if fn.latest_version is not None:
        item["latest_version"] = {"S": fn.latest_version}
    if fn.deleted_at is not None:
        item["deleted_at"] = {"S": json_value(fn, "deleted_at")}
    return item


def function_name_claim(fn: Function) -> Item:
    item = key(ws_pk(fn.workspace_id), FN_NAME + fn.name)
    return item | {"type": {"S": "function-name"}, "function_id": {"S": fn.id}}


def version_item(ver: Version) -> Item:
    return _record(
        ws_pk(ver.workspace_id),
        VER + ver.id,
        "version",
        ver.model_dump_json(),
        gsi1pk=f"{ws_pk(ver.workspace_id)}#{FN}{ver.function_id}",
        gsi1sk=f"{VER}{ver.number:010d}",
    )


def instance_item(inst: Instance) -> Item:
    return _record(
        ws_pk(inst.workspace_id),
        INST + inst.id,
        "instance",
        inst.model_dump_json(),
        revision=inst.revision,
        function_id=inst.function_id,
    )


def source_item(src: Source) -> Item:
    return _record(ws_pk(src.workspace_id), SRC + src.id, "source", src.model_dump_json())


def source_name_claim(src: Source) -> Item:
    item = key(ws_pk(src.workspace_id), SRC_NAME + src.name)
    return item | {"type": {"S": "source-name"}, "source_id": {"S": src.id}}


def write_key_claim(src: Source) -> Item:
    item = key(write_key_pk(src.write_key_hash), "WRITEKEY")
    return item | {
        "type": {"S": "write-key"},
        "workspace_id": {"S": src.workspace_id},
        "source_id": {"S": src.id},
    }


def audit_item(entry: AuditEntry) -> Item:
    sk = f"{AUDIT}{sortable_time(entry.at)}#{entry.id}"
    return _record(ws_pk(entry.workspace_id), sk, "audit", entry.model_dump_json())


def read(model: type[M], item: Item) -> M:
    """The record stored in ``item``; ``StoreError`` if it no longer parses."""
    try:
        return model.model_validate_json(item["data"]["S"])
    except (KeyError, TypeError, ValidationError) as exc:
        raise StoreError(f"a stored {model.__name__} record is unreadable: {exc}") from exc


def read_function(item: Item) -> Function:
    """A function record: ``data`` plus the counters that add_version maintains."""
    try:
        fields = json.loads(item["data"]["S"])
        fields["version_count"] = int(item["version_count"]["N"])
        fields["updated_at"] = item["updated_at"]["S"]
        fields["latest_version"] = item.get("latest_version", {}).get("S")
        fields["deleted_at"] = item.get("deleted_at", {}).get("S")
        return Function.model_validate(fields)
    except (KeyError, TypeError, ValueError) as exc:  # ValidationError is a ValueError
        raise StoreError(f"a stored Function record is unreadable: {exc}") from exc
