"""``MetadataStore`` on one DynamoDB table (the layout and IAM actions are in ``aws.py``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from pydantic import TypeAdapter

from ..models import ApiKey, AuditEntry, Function, Instance, Source, Version, Workspace
from ..ports import NotFoundError
from . import items
from .errors import translate_errors
from .table import Table

__all__ = ["DynamoMetadataStore"]

P = ParamSpec("P")
R = TypeVar("R")


def _operation(method: Callable[P, R]) -> Callable[P, R]:
    """Run ``method`` with botocore errors turned into ``StoreError``s named after it."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translate_errors(method.__name__):
            return method(*args, **kwargs)

    return wrapper


class DynamoMetadataStore:
    """Workspaces, keys, functions, versions, instances, sources and audit in DynamoDB.

    Uniqueness and concurrency rest on conditional writes; ``serialize``: see ``Table``.
    """

    def __init__(self, dynamodb: Any, table: str, *, serialize: bool = True) -> None:
        self._table = Table(dynamodb, table, serialize=serialize)

    # workspaces and API keys

    @_operation
    def create_workspace(self, workspace: Workspace) -> None:
        self._table.put(items.workspace_item(workspace), f"workspace {workspace.id} already exists")

    @_operation
    def get_workspace(self, workspace_id: str) -> Workspace | None:
        item = self._table.get(items.ws_pk(workspace_id), items.WORKSPACE_SK)
        return None if item is None else items.read(Workspace, item)

    @_operation
    def list_workspaces(self) -> list[Workspace]:
        found = self._table.query_index(items.WORKSPACES_GSI1PK)  # oldest first
        return [items.read(Workspace, item) for item in found]

    @_operation
    def put_api_key(self, key: ApiKey) -> None:
        taken = "an API key with this hash already exists; generate a new key"
        if not key.admin:
            self._table.put(items.api_key_item(key), taken)
            return
        marker = {"Put": {"TableName": self._table.name, "Item": items.admin_key_marker(key)}}
        self._table.transact([self._table.new(items.api_key_item(key)), marker], [taken, taken])

    @_operation
    def find_api_key(self, key_hash: str) -> ApiKey | None:
        item = self._table.get(items.api_key_pk(key_hash), "APIKEY")
        return None if item is None else items.read(ApiKey, item)

    @_operation
    def has_admin_key(self) -> bool:
        condition = {"KeyConditionExpression": "pk = :pk", "ConsistentRead": True}
        values = {":pk": {"S": items.ADMIN_KEYS_PK}}
        return bool(self._table.query({**condition, "ExpressionAttributeValues": values}, limit=1))

    @_operation
    def delete_api_key(self, key_hash: str) -> None:
        self._table.transact(
            [
                {"Delete": {"TableName": self._table.name, "Key": items.key(pk, sk)}}
                for pk, sk in (
                    (items.api_key_pk(key_hash), "APIKEY"),
                    (items.ADMIN_KEYS_PK, items.api_key_pk(key_hash)),
                )
            ],
            ["the API key changed while it was deleted; retry"] * 2,
        )

    # functions and versions

    @_operation
    def create_function(self, function: Function) -> None:
        self._table.transact(
            [
                self._table.new(items.function_item(function)),
                self._table.new(items.function_name_claim(function)),
            ],
            [
                f"function {function.id} already exists",
                f"a function named {function.name!r} already exists in workspace "
                f"{function.workspace_id}; choose another name",
            ],
        )

    @_operation
    def get_function(self, workspace_id: str, function_id: str) -> Function | None:
        item = self._table.get(items.ws_pk(workspace_id), items.FN + function_id)
        return None if item is None else items.read_function(item)

    @_operation
    def find_function(self, workspace_id: str, name: str) -> Function | None:
        claim = self._table.get(items.ws_pk(workspace_id), items.FN_NAME + name)
        return None if claim is None else self.get_function(workspace_id, claim["function_id"]["S"])

    @_operation
    def list_functions(self, workspace_id: str) -> list[Function]:
        found = [items.read_function(i) for i in self._table.children(workspace_id, items.FN)]
        return sorted(found, key=lambda f: (items.sortable_time(f.created_at), f.id))

    @_operation
    def delete_function(self, workspace_id: str, function_id: str, at: datetime) -> None:
        function = self.get_function(workspace_id, function_id)
        if function is None:
            raise NotFoundError(
                f"function {function_id} does not exist in workspace {workspace_id}"
            )
        if function.deleted_at is not None:
            return  # deleted before: its name may belong to a new function by now
        mark = {
            "TableName": self._table.name,
            "Key": items.key(items.ws_pk(workspace_id), items.FN + function_id),
            "UpdateExpression": "SET deleted_at = if_not_exists(deleted_at, :at)",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":at": {"S": _iso(at)}},
        }
        self._table.transact(
            [{"Update": mark}, self._release(items.function_name_claim(function), "function_id")],
            [f"function {function_id} cannot be deleted", "the function's name moved; retry"],
        )

    @_operation
    def add_version(self, version: Version) -> None:
        ws, fn, number = version.workspace_id, version.function_id, version.number
        advance = {
            "TableName": self._table.name,
            "Key": items.key(items.ws_pk(ws), items.FN + fn),
            "UpdateExpression": "SET latest_version = :id, version_count = :n, updated_at = :at",
            "ConditionExpression": "version_count = :previous",
            "ExpressionAttributeValues": {
                ":id": {"S": version.id},
                ":n": {"N": str(number)},
                ":at": {"S": items.json_value(version, "created_at")},
                ":previous": {"N": str(number - 1)},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",  # tells "changed" from "absent"
        }
        self._table.transact(
            [self._table.new(items.version_item(version)), {"Update": advance}],
            [
                f"version {version.id} already exists: this code and manifest were uploaded before",
                f"version {number} is not next for function {fn}: another upload won; "
                "read the function again and retry",
            ],
            missing={1: f"function {fn} does not exist in workspace {ws}"},
        )

    @_operation
    def get_version(self, workspace_id: str, version_id: str) -> Version | None:
        item = self._table.get(items.ws_pk(workspace_id), items.VER + version_id)
        return None if item is None else items.read(Version, item)

    @_operation
    def list_versions(self, workspace_id: str, function_id: str) -> list[Version]:
        found = self._table.query_index(f"{items.ws_pk(workspace_id)}#{items.FN}{function_id}")
        return [items.read(Version, item) for item in found]  # by number

    # instances

    @_operation
    def create_instance(self, instance: Instance) -> None:
        self._table.put(items.instance_item(instance), f"instance {instance.id} already exists")

    @_operation
    def get_instance(self, workspace_id: str, instance_id: str) -> Instance | None:
        item = self._table.get(items.ws_pk(workspace_id), items.INST + instance_id)
        return None if item is None else items.read(Instance, item)

    @_operation
    def list_instances(self, workspace_id: str, function_id: str | None = None) -> list[Instance]:
        where = None if function_id is None else ("function_id", function_id)
        found = self._table.children(workspace_id, items.INST, where=where)
        instances = [items.read(Instance, item) for item in found]
        return sorted(instances, key=lambda i: (items.sortable_time(i.created_at), i.id))

    @_operation
    def update_instance(self, instance: Instance, expected_revision: int) -> None:
        self._table.put(
            items.instance_item(instance),
            f"instance {instance.id} changed since revision {expected_revision} was read; "
            "read it again and retry",
            condition="attribute_exists(pk) AND revision = :expected",
            values={":expected": {"N": str(expected_revision)}},
            missing=f"instance {instance.id} does not exist in workspace {instance.workspace_id}",
        )

    # sources

    @_operation
    def create_source(self, source: Source) -> None:
        self._table.transact(
            [
                self._table.new(items.source_item(source)),
                self._table.new(items.source_name_claim(source)),
                self._table.new(items.write_key_claim(source)),
            ],
            [
                f"source {source.id} already exists",
                f"a source named {source.name!r} already exists in workspace "
                f"{source.workspace_id}; choose another name",
                "a source with this write key hash already exists; generate a new write key",
            ],
        )

    @_operation
    def get_source(self, workspace_id: str, source_id: str) -> Source | None:
        item = self._table.get(items.ws_pk(workspace_id), items.SRC + source_id)
        return None if item is None else items.read(Source, item)

    @_operation
    def find_source(self, workspace_id: str, name: str) -> Source | None:
        claim = self._table.get(items.ws_pk(workspace_id), items.SRC_NAME + name)
        return None if claim is None else self.get_source(workspace_id, claim["source_id"]["S"])

    @_operation
    def find_source_by_write_key(self, write_key_hash: str) -> Source | None:
        claim = self._table.get(items.write_key_pk(write_key_hash), "WRITEKEY")
        if claim is None:
            return None
        return self.get_source(claim["workspace_id"]["S"], claim["source_id"]["S"])

    @_operation
    def update_source(self, source: Source) -> None:
        self._table.put(
            items.source_item(source),
            f"source {source.id} cannot be updated",
            condition="attribute_exists(pk)",
            missing=f"no source {source.id} in workspace {source.workspace_id}",
        )

    @_operation
    def replace_write_key(self, workspace_id: str, source_id: str, write_key_hash: str) -> Source:
        source = self._existing_source(workspace_id, source_id)
        changed = source.model_copy(update={"write_key_hash": write_key_hash})
        self._table.transact(
            [
                self._replace(items.source_item(changed)),
                self._release(items.write_key_claim(source), "source_id"),
                self._table.new(items.write_key_claim(changed)),
            ],
            [
                f"source {source_id} cannot be updated",
                "the write key changed meanwhile; retry",
                "a source with this write key hash already exists; generate a new write key",
            ],
        )
        return changed

    @_operation
    def delete_source(self, workspace_id: str, source_id: str, at: datetime) -> None:
        source = self._existing_source(workspace_id, source_id)
        deleted = source.model_copy(update={"deleted_at": source.deleted_at or at})
        actions = [self._replace(items.source_item(deleted))]
        if source.deleted_at is None:
            actions.append(self._release(items.source_name_claim(source), "source_id"))
            actions.append(self._release(items.write_key_claim(source), "source_id"))
        self._table.transact(actions, [f"source {source_id} changed meanwhile; retry"] * 3)

    def _existing_source(self, workspace_id: str, source_id: str) -> Source:
        source = self.get_source(workspace_id, source_id)
        if source is None:
            raise NotFoundError(f"no source {source_id} in workspace {workspace_id}")
        return source

    def _replace(self, item: items.Item) -> items.Item:
        """A transaction action that overwrites ``item`` if it exists."""
        condition = "attribute_exists(pk)"
        return {
            "Put": {"TableName": self._table.name, "Item": item, "ConditionExpression": condition}
        }

    def _release(self, claim: items.Item, owner: str) -> items.Item:
        """A transaction action that deletes a claim item if it still names its owner."""
        return {
            "Delete": {
                "TableName": self._table.name,
                "Key": items.key(claim["pk"]["S"], claim["sk"]["S"]),
                "ConditionExpression": f"attribute_not_exists(pk) OR {owner} = :owner",
                "ExpressionAttributeValues": {":owner": claim[owner]},
            }
        }

    @_operation
    def list_sources(self, workspace_id: str) -> list[Source]:
        found = [items.read(Source, item) for item in self._table.children(workspace_id, items.SRC)]
        return sorted(found, key=lambda s: (items.sortable_time(s.created_at), s.id))

    # audit log

    @_operation
    def append_audit(self, entry: AuditEntry) -> None:
        self._table.put(items.audit_item(entry), f"audit entry {entry.id} already exists")

    @_operation
    def list_audit(self, workspace_id: str, limit: int = 100) -> list[AuditEntry]:
        if limit < 1:
            return []
        found = self._table.children(workspace_id, items.AUDIT, limit=limit, newest_first=True)
        return [items.read(AuditEntry, item) for item in found]


def _iso(moment: datetime) -> str:
    """A datetime as the records' JSON writes it."""
    return str(TypeAdapter(datetime).dump_python(moment, mode="json"))
