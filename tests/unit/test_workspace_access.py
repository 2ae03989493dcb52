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


INSERT_FILES = {
    "handler.py": "def on_track(event, settings):\n    return event\n",
    "function.toml": 'name = "scrub"\nkind = "insert"\n',
}
DESTINATION_FILES = {
    "handler.py": "def on_track(event, settings):\n    return None\n",
    "function.toml": 'name = "sink"\n',
}


def test_an_insert_is_attached_only_from_the_callers_own_workspace(world: World) -> None:
    """A destination takes an insert function's instance of its own workspace; another
    workspace's insert, whoever asks, is not found, and nothing is attached."""
    plane = world.plane
    theirs_fn, their_version = plane.create_function(ADMIN, world.globex.id, files=INSERT_FILES)
    assert plane.list_versions(world.globex.id, theirs_fn.id) == [their_version]
    assert refusal(lambda: plane.list_versions(world.acme.id, theirs_fn.id))[0] == 404
    theirs = plane.deploy(ADMIN, world.globex.id, theirs_fn.id)
    ours_fn, _ = plane.create_function(ADMIN, world.acme.id, files=INSERT_FILES)
    ours = plane.deploy(ADMIN, world.acme.id, ours_fn.id)
    sink, _ = plane.create_function(world.acme_key, world.acme.id, files=DESTINATION_FILES)
    for who in (world.acme_key, ADMIN):
        assert refusal(
            lambda who=who: plane.deploy(who, world.acme.id, sink.id, insert_id=theirs.id)
        ) == (404, "not_found", f"instance {theirs.id!r} does not exist in this workspace")
    # refused before the destination's instance was created: acme has only its insert
    assert [i.function_id for i in plane.list_instances(world.acme.id)] == [ours_fn.id]
    attached = plane.deploy(world.acme_key, world.acme.id, sink.id, insert_id=ours.id)
    assert attached.insert_id == ours.id
    assert plane.get_instance(world.acme.id, attached.id).insert_id == ours.id


def test_bootstrap_keeps_one_admin_key_and_one_default_workspace(tmp_path: Path) -> None:
    backend = open_embedded(tmp_path / "data")
    with WorkerPool(max_workers=1, spares=0) as pool:
        plane = ControlPlane(backend, pool)
        generated, default = plane.bootstrap(None)  # no key given: one is made, once
        assert generated is not None and generated.startswith("fk_")
        assert authenticate(plane.store, f"Bearer {generated}").admin
        assert default.name == "default" and default.id.startswith("ws_")
        assert plane.bootstrap(None) == (None, default)  # an admin key exists: none made
        given = "a-key-the-operator-chose"
        assert plane.bootstrap(given) == (None, default)  # stored, never echoed
        assert authenticate(plane.store, f"Bearer {given}").admin
        assert plane.bootstrap(given) == (None, default)  # stored once
        assert [w.name for w in plane.list_workspaces(ADMIN)] == ["default"]


def test_a_workspace_name_is_taken_once_and_its_creation_audited(world: World) -> None:
    made, key = world.plane.create_workspace(ADMIN, "initech")
    assert made.id.startswith("ws_") and made.name == "initech"
    assert authenticate(world.plane.store, f"Bearer {key}").workspace_id == made.id
    entry = world.plane.audit(made.id, limit=1)[0]
    assert (entry.action, entry.target, entry.details) == (
        "workspace.create",
        made.id,
        {"name": "initech"},
    )
    assert refusal(lambda: world.plane.create_workspace(ADMIN, "initech")) == (
        409,
        "conflict",
        "a workspace named 'initech' exists",
    )


def test_attaching_an_insert_is_one_revision_audited_and_guarded(world: World) -> None:
    plane, ws = world.plane, world.acme.id
    insert_fn, _ = plane.create_function(ADMIN, ws, files=INSERT_FILES)
    insert = plane.deploy(ADMIN, ws, insert_fn.id)
    sink, _ = plane.create_function(ADMIN, ws, files=DESTINATION_FILES)
    before = plane.deploy(ADMIN, ws, sink.id)
    after = plane.deploy(ADMIN, ws, sink.id, insert_id=insert.id)
    # one revision for the insert, one for the redeploy; both audited, in order
    assert after.revision == before.revision + 2
    assert after.updated_at > before.updated_at
    deployed, inserted = plane.audit(ws, limit=2)  # newest first
    assert (inserted.action, inserted.target, inserted.details) == (
        "instance.insert",
        before.id,
        {"insert": insert.id},
    )
    assert deployed.action == "instance.deploy"
    # an insert attached to a stale copy of the instance is refused, not written
    stale = before
    assert refusal(lambda: plane._attach_insert(ADMIN, stale, None)) == (
        409,
        "conflict",
        "the instance changed while this request ran; retry",
    )
    assert plane.get_instance(ws, before.id).insert_id == insert.id
    # only a destination takes an insert
    assert refusal(lambda: plane.deploy(ADMIN, ws, insert_fn.id, insert_id=insert.id)) == (
        400,
        "bad_request",
        "only destination instances take an insert function",
    )


def test_a_rollback_takes_only_a_version_of_the_instances_own_function(world: World) -> None:
    plane, ws = world.plane, world.acme.id
    sink, first = plane.create_function(ADMIN, ws, files=DESTINATION_FILES)
    changed = {**DESTINATION_FILES, "handler.py": "def on_track(event, settings):\n    return 1\n"}
    second = plane.upload_version(ADMIN, ws, sink.id, files=changed)
    instance = plane.deploy(ADMIN, ws, sink.id)
    assert instance.version_id == second.id
    _, other = plane.create_function(ADMIN, ws, files=INSERT_FILES)
    _, theirs = plane.create_function(ADMIN, world.globex.id, files=DESTINATION_FILES)
    assert refusal(lambda: plane.rollback(world.acme_key, ws, instance.id, other.id)) == (
        400,
        "bad_request",
        f"version {other.id} belongs to another function",
    )
    assert refusal(lambda: plane.rollback(world.acme_key, ws, instance.id, theirs.id))[:2] == (
        404,
        "not_found",
    )
    assert refusal(lambda: plane.rollback(world.acme_key, world.globex.id, instance.id, first.id))[
        :2
    ] == (404, "not_found")
    rolled = plane.rollback(world.acme_key, ws, instance.id, first.id)
    assert (rolled.version_id, plane.get_instance(ws, instance.id).version_id) == (first.id,) * 2
    entry = plane.audit(ws, limit=1)[0]
    assert (entry.action, entry.target, entry.actor) == (
        "instance.rollback",
        instance.id,
        world.acme_key.key_id,
    )


def test_sources_and_instances_are_named_and_refused_plainly(world: World) -> None:
    plane, ws, key = world.plane, world.acme.id, world.acme_key
    assert refusal(lambda: plane.create_workspace(key, "mine")) == (
        403,
        "forbidden",
        "this needs an admin API key",
    )
    web, write_key = plane.create_source(key, ws, "web")
    assert web.id.startswith("src_") and write_key.startswith("wk_")
    entry = plane.audit(ws, limit=1)[0]
    assert (entry.action, entry.target, entry.details) == ("source.create", web.id, {"name": "web"})
    assert refusal(lambda: plane.create_source(key, ws, "web")) == (
        409,
        "conflict",
        "a source named 'web' exists",
    )
    app, _ = plane.create_source(key, ws, "app")
    sink, _ = plane.create_function(key, ws, files=DESTINATION_FILES)
    other, _ = plane.create_function(key, ws, files=INSERT_FILES)
    first = plane.deploy(key, ws, sink.id, source_id=web.id)
    plane.deploy(key, ws, sink.id, source_id=app.id)  # a second instance of the function
    assert refusal(lambda: plane.deploy(key, ws, sink.id)) == (
        400,
        "bad_request",
        "the function has 2 instances here; name the instance to deploy",
    )
    assert refusal(lambda: plane.deploy(key, ws, other.id, instance_id=first.id)) == (
        400,
        "bad_request",
        f"instance {first.id} belongs to another function",
    )


@pytest.mark.parametrize("kind", ["function", "version", "source", "instance"])
def test_a_missing_record_is_named_by_its_kind(world: World, kind: str) -> None:
    lookups = {
        "function": world.plane.get_function,
        "version": world.plane.get_version,
        "source": world.plane.find_source,
        "instance": world.plane.get_instance,
    }
    assert refusal(lambda: lookups[kind](world.acme.id, "nothing")) == (
        404,
        "not_found",
        f"{kind} 'nothing' does not exist in this workspace",
    )
