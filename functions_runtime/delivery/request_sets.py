"""Naming a delivery record's outgoing requests, so that a store keeps them once.

Every record of an ``on_batch`` call carries the call's requests (for a signed batch
POST, 2.7 KB of a 3.9 KB record). Both delivery stores keep a list apart, once per
workspace and distinct list, under the name :meth:`RequestSets.name` gives it: a hash
of the workspace and the list's JSON, so nothing is shared across workspaces and lists
that Python finds equal but JSON does not (``1``, ``1.0``, ``True``) stay apart.
"""

from __future__ import annotations

import hashlib
from operator import is_
from typing import Any

from pydantic import TypeAdapter

from .ports import Delivery

__all__ = ["RequestSets", "with_requests", "without_requests"]

Requests = list[dict[str, Any]]

_REQUEST_LIST: TypeAdapter[Requests] = TypeAdapter(Requests)
_REQUESTS = {"requests"}


class RequestSets:
    """Names request lists; the records of one call are named from the first one's
    work (their lists hold the very same values: see :func:`_same`)."""

    def __init__(self) -> None:
        # The last list named: (workspace, list, name, JSON). Replaced whole, so threads
        # sharing a store read one list's name or another's, never a mix.
        self._last: tuple[str, Requests, str, bytes] | None = None

    def name(self, workspace_id: str, requests: Requests) -> tuple[str, bytes]:
        """``(name, JSON)`` of ``requests`` in ``workspace_id``."""
        last = self._last
        if last is not None and last[0] == workspace_id and _same(last[1], requests):
            return last[2], last[3]
        text = _REQUEST_LIST.dump_json(requests)
        digest = hashlib.sha256(workspace_id.encode())
        digest.update(b"\0" + text)
        name = digest.hexdigest()[:32]
        self._last = (workspace_id, requests, name, text)
        return name, text


def _same(kept: Requests, requests: Requests) -> bool:
    """Whether the two lists hold the same keys, in order, with the very same values
    (``is``): as the records of one call do, whose lists were copied from one list.
    Equal values that are other objects count as different (``1 == 1.0 == True``)."""
    if len(kept) != len(requests):
        return False
    for old, new in zip(kept, requests, strict=True):
        if type(old) is not dict or type(new) is not dict or list(old) != list(new):
            return False
        if not all(map(is_, old.values(), new.values())):
            return False
    return True


def without_requests(delivery: Delivery) -> str:
    """The record's JSON without its requests (a store keeps them apart)."""
    return delivery.model_dump_json(exclude=_REQUESTS)


def with_requests(data: str, requests: str) -> str:
    """:func:`without_requests`'s JSON with the requests' JSON put back in."""
    return f'{data[:-1]},"requests":{requests}}}'
