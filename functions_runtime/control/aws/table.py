"""Requests to the one DynamoDB table of the AWS backend, and what their failures mean.

A lost conditional write becomes ``ConflictError`` (or ``NotFoundError`` where the
condition also required the item to exist); other botocore errors propagate, to be
translated by the caller's ``translate_errors``.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from ..ports import ConflictError, NotFoundError
from . import items
from .errors import ClientError, cancellation_reasons, error_code, lost_race
from .items import Item

__all__ = ["NEW", "Table"]

NEW = "attribute_not_exists(pk)"  # the condition of every create


class Table:
    """The metadata table, through one low-level DynamoDB client.

    With ``serialize`` (the default) one ``Table`` sends one request at a time. DynamoDB
    needs no help: its conditional writes are atomic. moto, which the tests and local
    runs use, is not: it checks a condition and writes without a lock, so threads racing
    through one store could all win. On Lambda (one request per execution environment)
    this costs nothing; a threaded server on real DynamoDB may pass ``serialize=False``.
    """

    def __init__(self, dynamodb: Any, name: str, *, serialize: bool = True) -> None:
        self._db = dynamodb
        self.name = name
        self._serial: AbstractContextManager[object] = (
            threading.Lock() if serialize else nullcontext()
        )

    def get(self, pk: str, sk: str) -> Item | None:
        with self._serial:
            response = self._db.get_item(
                TableName=self.name, Key=items.key(pk, sk), ConsistentRead=True
            )
        found: Item | None = response.get("Item")
        return found

    def new(self, item: Item) -> Item:
        """A transaction action that creates ``item`` if its key is free."""
        return {"Put": {"TableName": self.name, "Item": item, "ConditionExpression": NEW}}

    def put(
        self,
        item: Item,
        conflict: str,
        *,
        condition: str = NEW,
        values: Item | None = None,
        missing: str | None = None,
    ) -> None:
        """PutItem under ``condition``; ``ConflictError(conflict)`` when it fails, or
        ``NotFoundError(missing)`` when it failed because the item is absent."""
        params: Item = {"TableName": self.name, "Item": item, "ConditionExpression": condition}
        if values:
            params["ExpressionAttributeValues"] = values
        if missing is not None:
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            with self._serial:
                self._db.put_item(**params)
        except ClientError as exc:
            if not lost_race(exc):
                raise
            failed = error_code(exc) == "ConditionalCheckFailedException"
            if missing is not None and failed and not exc.response.get("Item"):
                raise NotFoundError(missing) from exc
            raise ConflictError(conflict) from exc

    def transact(
        self, actions: list[Item], conflicts: list[str], *, missing: dict[int, str] | None = None
    ) -> None:
        """TransactWriteItems. When it is cancelled by failed conditions: ``NotFoundError``
        if action ``i`` in ``missing`` (which must return ALL_OLD) found no item, otherwise
        ``ConflictError`` with the message of the first action whose condition failed."""
        try:
            with self._serial:
                self._db.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if not lost_race(exc):
                raise
            reasons = cancellation_reasons(exc)
            failed = [i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"]
            for i, message in (missing or {}).items():
                if i in failed and not reasons[i].get("Item"):
                    raise NotFoundError(message) from exc
            if failed:
                raise ConflictError(conflicts[failed[0]]) from exc
            raise ConflictError("a concurrent write to the same records won; retry") from exc

    def children(
        self,
        workspace_id: str,
        prefix: str,
        *,
        where: tuple[str, str] | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Item]:
        """The items of one type under a workspace, in sort-key order."""
        values = {":pk": {"S": items.ws_pk(workspace_id)}, ":prefix": {"S": prefix}}
        params: Item = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
        }
        if where is not None:
            params["FilterExpression"] = "#field = :value"
            params["ExpressionAttributeNames"] = {"#field": where[0]}
            values[":value"] = {"S": where[1]}
        return self.query({**params, "ExpressionAttributeValues": values}, limit=limit)

    def query_index(self, gsi1pk: str) -> list[Item]:
        """Every item under one GSI1 partition, in GSI1 sort-key order."""
        return self.query(
            {
                "IndexName": items.GSI1,
                "KeyConditionExpression": "gsi1pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": gsi1pk}},
            }
        )

    def query(self, params: Item, *, limit: int | None = None) -> list[Item]:
        """Query, following pages until they run out or ``limit`` items are found."""
        params = {"TableName": self.name, **params}
        found: list[Item] = []
        while True:
            if limit is not None:
                params["Limit"] = limit - len(found)
            with self._serial:
                page = self._db.query(**params)
            found.extend(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start or (limit is not None and len(found) >= limit):
                return found
            params["ExclusiveStartKey"] = start
