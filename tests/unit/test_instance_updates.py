"""Deploy, update and rollback of an instance, field by field: settings and secrets on a
redeploy and a PATCH, the instance's source, enabled flag, batching, pinned libraries,
the revision guard, and the audit entry each writes.

A real control plane on the embedded backend, driven in process (no worker is started).
Written against mutation round 4's survivors of ``control/service.py`` (``deploy``,
``update_instance``, ``_update``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.control.errors import ServiceError
from functions_runtime.control.models import Instance
from functions_runtime.control.ports import ConflictError, NotFoundError
from functions_runtime.control.settings import MASK, decrypt_settings_and_names
from tests.control_planes import ADMIN, GREETER, GREETER_MANIFEST, EmbeddedPlane

HANDLER = GREETER
MANIFEST = GREETER_MANIFEST + '[settings.other]\ntype = "string"\n'
LIBRARY = {"__init__.py": "def greet(n):\n    return 'hi ' + n\n"}
USES_LIBRARY = "import acme_utils\n\ndef on_track(event, settings):\n    return 1\n"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class World(EmbeddedPlane):
    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock()
        super().__init__(tmp_path, clock=self.clock)
        self.function, _ = self.plane.create_function(
            ADMIN, self.ws, files={"handler.py": HANDLER, "function.toml": MANIFEST}, name="fn"
        )

    def deploy(self, **kw: Any) -> Instance:
        return self.plane.deploy(ADMIN, self.ws, self.function.id, **kw)

    def values(self, instance: Instance) -> dict[str, Any]:
        stored = self.plane.get_instance(self.ws, instance.id)
        return decrypt_settings_and_names(self.backend.box, stored)[0]

    def last_audit(self) -> Any:
        return self.plane.audit(self.ws, limit=1)[0]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.close()


FIRST = {"greeting": "hi", "token": "tok-1", "other": "o-1"}


def refusal(call: Any) -> tuple[int, str]:
    with pytest.raises(ServiceError) as caught:
        call()
    return caught.value.status, caught.value.message


# -- settings and secrets on a redeploy --------------------------------------------------


def test_a_redeploy_stores_the_new_settings(world: World) -> None:
    instance = world.deploy(settings=FIRST)
    world.deploy(settings={"greeting": "hello", "token": "tok-2", "other": "o-2"})
    assert world.values(instance) == {"greeting": "hello", "token": "tok-2", "other": "o-2"}


def test_a_redeploy_keeps_a_secret_it_omits_or_masks_and_drops_a_plain_one(world: World) -> None:
    instance = world.deploy(settings=FIRST)
    world.deploy(settings={"greeting": "hello"})
    # The secret omitted: kept; the plain setting omitted: gone.
    assert world.values(instance) == {"greeting": "hello", "token": "tok-1"}
    world.deploy(settings={"greeting": "hey", "token": MASK, "other": MASK})
    # The secret given as the mask: kept; a plain setting equal to the mask is a value.
    assert world.values(instance) == {"greeting": "hey", "token": "tok-1", "other": MASK}


def test_a_redeploy_without_the_secret_never_invents_it(world: World) -> None:
    instance = world.deploy(settings={"greeting": "hi"})
    world.deploy(settings={"greeting": "hello", "token": MASK})
    assert world.values(instance) == {"greeting": "hello"}


def test_a_patch_merges_and_a_redeploy_replaces(world: World) -> None:
    instance = world.deploy(settings=FIRST)
    world.plane.update_instance(ADMIN, world.ws, instance.id, settings={"other": None})
    assert world.values(instance) == {"greeting": "hi", "token": "tok-1"}
    world.plane.update_instance(ADMIN, world.ws, instance.id, settings={"token": MASK})
    assert world.values(instance) == {"greeting": "hi", "token": "tok-1"}


# -- what a deploy refuses ---------------------------------------------------------------


def test_a_library_is_not_deployed(world: World) -> None:
    library, _ = world.plane.push_library(ADMIN, world.ws, "acme_utils", LIBRARY)
    status, message = refusal(lambda: world.plane.deploy(ADMIN, world.ws, library.id))
    assert (status, message) == (
        400,
        "acme_utils is a library: functions import it, it is not deployed",
    )


def test_a_version_of_another_function_is_refused_by_name(world: World) -> None:
    _, other = world.plane.create_function(
        ADMIN, world.ws, files={"handler.py": HANDLER, "function.toml": MANIFEST}, name="fn2"
    )
    status, message = refusal(lambda: world.deploy(version_id=other.id, settings=FIRST))
    assert (status, message) == (400, f"version {other.id} belongs to another function")


# -- which instance, which source ----------------------------------------------------------


def test_a_deploy_naming_an_instance_updates_that_one(world: World) -> None:
    one, _ = world.plane.create_source(ADMIN, world.ws, "one")
    two, _ = world.plane.create_source(ADMIN, world.ws, "two")
    first = world.deploy(source_id=one.id, settings=FIRST)
    second = world.deploy(source_id=two.id, settings={**FIRST, "greeting": "second"})
    world.deploy(instance_id=first.id, settings={**FIRST, "greeting": "first again"})
    assert world.values(first)["greeting"] == "first again"
    assert world.values(second)["greeting"] == "second"


def test_a_redeploy_to_another_source_moves_the_instance_and_an_update_keeps_it(
    world: World,
) -> None:
    one, _ = world.plane.create_source(ADMIN, world.ws, "one")
    two, _ = world.plane.create_source(ADMIN, world.ws, "two")
    instance = world.deploy(source_id=one.id, settings=FIRST)
    moved = world.deploy(instance_id=instance.id, source_id=two.id, settings=FIRST)
    assert moved.source_id == two.id
    assert world.plane.get_instance(world.ws, instance.id).source_id == two.id
    updated = world.plane.update_instance(ADMIN, world.ws, instance.id, enabled=False)
    assert updated.source_id == two.id


# -- enabled, batching, clock -------------------------------------------------------------


def test_enabled_is_changed_only_when_given(world: World) -> None:
    instance = world.deploy(settings=FIRST)
    off = world.plane.update_instance(ADMIN, world.ws, instance.id, enabled=False)
    assert off.enabled is False
    assert world.last_audit().details["enabled"] is False
    kept = world.plane.update_instance(ADMIN, world.ws, instance.id, settings={"other": "x"})
    assert kept.enabled is False  # not given: unchanged
    redeployed = world.deploy(settings=FIRST)
    assert redeployed.enabled is False  # a deploy does not re-enable
    on = world.plane.update_instance(ADMIN, world.ws, instance.id, enabled=True)
    assert on.enabled is True


def test_batching_is_stored_checked_and_kept(world: World) -> None:
    instance = world.deploy(settings=FIRST)
    updated = world.plane.update_instance(
        ADMIN, world.ws, instance.id, batch_max_count=7, batch_wait_seconds=2.5
    )
    assert (updated.batch_max_count, updated.batch_wait_seconds) == (7, 2.5)
    stored = world.plane.get_instance(world.ws, instance.id)
    assert (stored.batch_max_count, stored.batch_wait_seconds) == (7, 2.5)
    only_count = world.plane.update_instance(ADMIN, world.ws, instance.id, batch_max_count=3)
    assert (only_count.batch_max_count, only_count.batch_wait_seconds) == (3, 2.5)
    assert world.values(instance) == FIRST  # batching leaves settings as they were
    with pytest.raises(ValueError, match="batch_max_count"):
        world.plane.update_instance(ADMIN, world.ws, instance.id, batch_max_count=0)


def test_each_change_is_dated_by_the_clock_and_counted(world: World) -> None:
    instance = world.deploy(settings=FIRST)
    before = world.clock.now
    updated = world.plane.update_instance(ADMIN, world.ws, instance.id, enabled=False)
    assert before < updated.updated_at <= world.clock.now  # a time taken for this change
    assert updated.revision == instance.revision + 1
    assert world.plane.get_instance(world.ws, instance.id).updated_at == updated.updated_at


# -- libraries -----------------------------------------------------------------------------


def test_a_deploy_pins_libraries_anew_and_an_update_keeps_the_pins(world: World) -> None:
    _, v1 = world.plane.push_library(ADMIN, world.ws, "acme_utils", LIBRARY)
    fn, _ = world.plane.create_function(ADMIN, world.ws, files={"handler.py": USES_LIBRARY})
    instance = world.plane.deploy(ADMIN, world.ws, fn.id)
    assert instance.libraries == {"acme_utils": v1.id}
    _, v2 = world.plane.push_library(
        ADMIN, world.ws, "acme_utils", {"__init__.py": "def greet(n):\n    return n\n"}
    )
    updated = world.plane.update_instance(ADMIN, world.ws, instance.id, enabled=False)
    assert updated.libraries == {"acme_utils": v1.id}  # an update keeps the pins
    assert world.last_audit().details["libraries"] == {"acme_utils": v1.id}
    redeployed = world.plane.deploy(ADMIN, world.ws, fn.id)
    assert redeployed.libraries == {"acme_utils": v2.id}  # a deploy pins the latest
    assert world.last_audit().details["libraries"] == {"acme_utils": v2.id}


# -- the audit entry -----------------------------------------------------------------------


def test_the_audit_entry_of_a_deploy_and_of_an_update(world: World) -> None:
    instance = world.deploy(settings=FIRST)
    latest = world.plane.upload_version(
        ADMIN,
        world.ws,
        world.function.id,
        files={"handler.py": HANDLER + "\n# v2\n", "function.toml": MANIFEST},
    ).id
    world.deploy(settings=FIRST)
    entry = world.last_audit()
    assert (entry.action, entry.target) == ("instance.deploy", instance.id)
    assert entry.details == {
        "version": latest,
        "from_version": instance.version_id,
        "enabled": True,
    }
    world.plane.update_instance(ADMIN, world.ws, instance.id, enabled=False)
    entry = world.last_audit()
    assert (entry.action, entry.target) == ("instance.update", instance.id)
    assert entry.details == {"version": latest, "from_version": latest, "enabled": False}


# -- the revision guard ------------------------------------------------------------------


class FailingUpdates:
    """The plane's store, whose next instance update fails as ``error`` says."""

    def __init__(self, store: Any, error: Exception) -> None:
        self._store, self._error = store, error

    def update_instance(self, instance: Instance, expected_revision: int) -> None:
        raise self._error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (ConflictError("moved"), 409, "the instance changed while this request ran; retry"),
        (NotFoundError("gone"), 404, "instance {id!r} does not exist in this workspace"),
    ],
)
def test_an_update_that_loses_its_race_says_why(
    world: World, error: Exception, status: int, message: str
) -> None:
    instance = world.deploy(settings=FIRST)
    world.plane.store = FailingUpdates(world.plane.store, error)
    got = refusal(lambda: world.plane.update_instance(ADMIN, world.ws, instance.id, enabled=False))
    assert got == (status, message.format(id=instance.id))


@pytest.mark.parametrize("insert_id", [None, ""])
def test_a_redeploy_that_changes_no_insert_writes_one_change(
    world: World, insert_id: str | None
) -> None:
    """No insert named (``None``), or detaching (``""``) where none is attached: one
    revision and one audit entry, the deploy's; no insert change."""
    instance = world.deploy(settings=FIRST)
    redeployed = world.deploy(settings=FIRST, insert_id=insert_id)
    assert redeployed.revision == instance.revision + 1 and redeployed.insert_id is None
    assert [e.action for e in world.plane.audit(world.ws, limit=2)] == [
        "instance.deploy",
        "instance.create",
    ]
