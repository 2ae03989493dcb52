"""Which workspace a key acts in (``ControlPlane.workspace_for``) and the keys an admin
issues (``create_key``): a workspace key never acts in another workspace, an admin key
names the workspace (or takes ``default``), and each refusal says why.

A real control plane on the embedded backend, in process (no worker is started).
Written against mutation round 4's survivors of ``control/service.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.control.auth import authenticate
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.errors import ServiceError
from functions_runtime.control.service import ControlPlane
from functions_runtime.sandbox.host.pool import WorkerPool
from tests.control_planes import ADMIN, EmbeddedPlane


class World(EmbeddedPlane):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.acme, acme_key = self.plane.create_workspace(ADMIN, "acme")
        self.globex, _ = self.plane.create_workspace(ADMIN, "globex")
        self.acme_key = authenticate(self.plane.store, f"Bearer {acme_key}")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.close()


def refusal(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ServiceError) as caught:
        call()
    return caught.value.status, caught.value.code, caught.value.message


def test_a_workspace_key_acts_in_its_own_workspace_only(world: World) -> None:
    key = world.acme_key
    assert key.workspace_id == world.acme.id and not key.admin
    assert world.plane.workspace_for(key, None) == world.acme.id
    assert world.plane.workspace_for(key, world.acme.id) == world.acme.id
    for other in (world.globex.id, world.default.id, "ws_nothing"):
        assert refusal(lambda other=other: world.plane.workspace_for(key, other)) == (
            403,
            "forbidden",
            "this API key belongs to another workspace",
        )


def test_an_admin_key_names_the_workspace_or_takes_default(world: World) -> None:
    assert world.plane.workspace_for(ADMIN, None) == world.default.id
    assert world.plane.workspace_for(ADMIN, world.globex.id) == world.globex.id
    assert refusal(lambda: world.plane.workspace_for(ADMIN, "ws_nothing")) == (
        404,
        "not_found",
        "workspace 'ws_nothing' does not exist",
    )


def test_an_admin_key_without_a_default_workspace_must_name_one(tmp_path: Path) -> None:
    backend = open_embedded(tmp_path / "data")
    with WorkerPool(max_workers=1, spares=0) as pool:
        plane = ControlPlane(backend, pool)  # no bootstrap: no "default" workspace
        assert refusal(lambda: plane.workspace_for(ADMIN, None)) == (
            400,
            "bad_request",
            "admin keys must name a workspace (X-Functions-Workspace)",
        )


def test_an_issued_key_authenticates_for_its_workspace_and_is_audited(world: World) -> None:
    key = world.plane.create_key(ADMIN, world.globex.id)
    principal = authenticate(world.plane.store, f"Bearer {key}")
    assert (principal.workspace_id, principal.admin) == (world.globex.id, False)
    assert world.plane.workspace_for(principal, None) == world.globex.id
    [entry] = world.plane.audit(world.globex.id, limit=1)
    assert (entry.action, entry.target, entry.actor, entry.details) == (
        "key.create",
        world.globex.id,
        ADMIN.key_id,
        {},
    )


def test_a_key_for_a_missing_workspace_is_refused_and_only_admins_issue_keys(
    world: World,
) -> None:
    assert refusal(lambda: world.plane.create_key(ADMIN, "ws_nothing")) == (
        404,
        "not_found",
        "workspace 'ws_nothing' does not exist in this workspace",
    )
    status, code, _ = refusal(lambda: world.plane.create_key(world.acme_key, world.acme.id))
    assert (status, code) == (403, "forbidden")
