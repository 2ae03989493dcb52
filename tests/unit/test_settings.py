"""Instance settings: secret ones sealed for their instance, decrypted only for the
sandbox, masked in answers, checked against the manifest's schema.

A real control plane on the embedded backend (SQLite and the local secret box).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions_runtime.control.errors import ServiceError
from functions_runtime.control.models import Instance, Version
from functions_runtime.control.ports import StoreError
from functions_runtime.control.settings import (
    MASK,
    decrypt_settings,
    decrypt_settings_and_names,
    manifest_of,
    spec_for,
)
from functions_runtime.manifest import Manifest
from tests.control_planes import ADMIN, GREETER, GREETER_MANIFEST, EmbeddedPlane

HANDLER = GREETER
SECRET_TOKEN = GREETER_MANIFEST
PLAIN_TOKEN = SECRET_TOKEN.replace("secret = true", "secret = false")


class Plane(EmbeddedPlane):
    def deploy(self, manifest: str, settings: dict[str, object]) -> tuple[str, Instance]:
        function, _ = self.plane.create_function(
            ADMIN, self.ws, files={"handler.py": HANDLER, "function.toml": manifest}, name="fn"
        )
        return function.id, self.plane.deploy(ADMIN, self.ws, function.id, settings=settings)


@pytest.fixture
def p(tmp_path: Path) -> Iterator[Plane]:
    plane = Plane(tmp_path)
    yield plane
    plane.close()


def test_a_secret_setting_is_sealed_for_its_instance_and_masked_in_answers(p: Plane) -> None:
    _, instance = p.deploy(SECRET_TOKEN, {"greeting": "hi", "token": "s3cret"})
    assert instance.settings == {"greeting": "hi"}  # stored plain: only the plain ones
    assert instance.secrets is not None and "s3cret" not in instance.secrets
    context = {"workspace": p.ws, "instance": instance.id}
    assert json.loads(p.backend.box.decrypt(instance.secrets, context)) == {"token": "s3cret"}
    assert p.plane.settings_of(instance) == {"greeting": "hi", "token": "s3cret"}
    assert decrypt_settings(p.backend.box, instance) == {"greeting": "hi", "token": "s3cret"}
    assert decrypt_settings_and_names(p.backend.box, instance) == (
        {"greeting": "hi", "token": "s3cret"},
        frozenset({"token"}),
    )
    assert p.plane.masked_settings(instance) == {"greeting": "hi", "token": MASK}


def test_sealed_secrets_open_for_no_other_instance_or_workspace(p: Plane) -> None:
    _, instance = p.deploy(SECRET_TOKEN, {"greeting": "hi", "token": "s3cret"})
    for moved in (
        instance.model_copy(update={"id": "ins_someoneelses0000"}),
        instance.model_copy(update={"workspace_id": "ws_someoneelses0000"}),
    ):
        with pytest.raises(StoreError):
            decrypt_settings(p.backend.box, moved)


def test_settings_without_secrets_have_no_sealed_part(p: Plane) -> None:
    _, instance = p.deploy(SECRET_TOKEN, {"greeting": "hi"})
    assert (instance.settings, instance.secrets) == ({"greeting": "hi"}, None)
    assert decrypt_settings_and_names(p.backend.box, instance) == ({"greeting": "hi"}, frozenset())
    assert p.plane.masked_settings(instance) == {"greeting": "hi"}


def _secret_then_plain(p: Plane) -> tuple[Instance, Version]:
    """An instance whose ``token`` was deployed secret, moved to a version whose manifest
    no longer calls it secret; and that version."""
    function_id, _ = p.deploy(SECRET_TOKEN, {"greeting": "hi", "token": "s3cret"})
    version = p.plane.upload_version(
        ADMIN, p.ws, function_id, files={"handler.py": HANDLER, "function.toml": PLAIN_TOKEN}
    )
    return p.plane.deploy(ADMIN, p.ws, function_id, version_id=version.id), version


def test_a_setting_once_secret_stays_sealed_under_a_manifest_that_drops_secret(
    p: Plane,
) -> None:
    moved, version = _secret_then_plain(p)
    assert moved.version_id == version.id
    assert moved.settings == {"greeting": "hi"}
    assert moved.secrets is not None and "s3cret" not in moved.secrets
    assert p.plane.settings_of(moved) == {"greeting": "hi", "token": "s3cret"}
    assert p.plane.masked_settings(moved) == {"greeting": "hi", "token": MASK}


def test_settings_are_checked_against_the_declared_schema(p: Plane) -> None:
    function_id, instance = p.deploy(SECRET_TOKEN, {"greeting": "hi"})
    other, _ = p.plane.create_source(ADMIN, p.ws, "web")
    with pytest.raises(ServiceError) as caught:  # a new instance: checked the same way
        p.plane.deploy(ADMIN, p.ws, function_id, source_id=other.id, settings=["greeting"])  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400,
        "bad_request",
        "settings must be a JSON object",
    )
    with pytest.raises(ServiceError) as caught:
        p.plane.update_instance(ADMIN, p.ws, instance.id, settings=["greeting"])  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400,
        "bad_request",
        "settings must be a JSON object",
    )
    with pytest.raises(ServiceError) as caught:
        p.plane.update_instance(ADMIN, p.ws, instance.id, settings={"greeting": 5, "extra": "x"})
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        422,
        "validation_failed",
        "the settings do not match the function's schema",
    )
    assert sorted(caught.value.problems) == [
        "settings.extra: not declared in the manifest",
        "settings.greeting: must be a string, got int",
    ]


def test_a_function_without_a_manifest_takes_any_settings(p: Plane) -> None:
    function, _ = p.plane.create_function(ADMIN, p.ws, files={"handler.py": HANDLER}, name="bare")
    instance = p.plane.deploy(ADMIN, p.ws, function.id, settings={"anything": [1, 2]})
    assert p.plane.settings_of(instance) == {"anything": [1, 2]}
    assert p.plane.masked_settings(instance) == {"anything": [1, 2]}


def test_manifest_of_a_version_ignores_its_source_and_defaults_without_one(p: Plane) -> None:
    assert manifest_of(None) == Manifest()
    _, instance = p.deploy(SECRET_TOKEN, {"greeting": "hi"})
    version = p.backend.metadata.get_version(p.ws, instance.version_id)
    assert version is not None and "source" in version.manifest
    manifest = manifest_of(version)
    assert (manifest.name, manifest.secret_names()) == ("greeter", ("token",))


def test_the_sandbox_spec_masks_manifest_and_once_secret_names() -> None:
    manifest = Manifest.model_validate(
        {
            "name": "x",
            "kind": "insert",
            "timeout_seconds": 7,
            "memory_mb": 96,
            "settings": {"b": {"type": "string", "secret": True}},
        }
    )
    spec = spec_for(
        "ins:ver:3",
        "CODE",
        manifest,
        {"a": "1", "b": "2"},
        ("127.0.0.1",),
        also_secret=frozenset({"z", "b", "c"}),
        modules=(("lib.py", "X = 1"),),
    )
    assert (spec.key, spec.source, spec.filename, spec.kind) == (
        "ins:ver:3",
        "CODE",
        "handler.py",
        "insert",
    )
    assert (spec.timeout, spec.memory_mb, spec.settings, spec.allow, spec.modules) == (
        7,
        96,
        {"a": "1", "b": "2"},
        ("127.0.0.1",),
        (("lib.py", "X = 1"),),
    )
    assert spec.secret_names == ("b", "c", "z")


def test_a_value_the_manifest_calls_secret_is_masked_even_if_stored_plain(p: Plane) -> None:
    """Masking does not rely on sealing alone: a setting the instance's manifest marks
    secret is masked in answers even when its value sits with the plain ones (data
    written before the setting became secret, or by another writer)."""
    _, instance = p.deploy(SECRET_TOKEN, {"greeting": "hi"})
    legacy = instance.model_copy(update={"settings": {"greeting": "hi", "token": "plain!"}})
    assert p.plane.masked_settings(legacy) == {"greeting": "hi", "token": MASK}


def test_an_update_keeps_a_masked_secret_removes_a_null_and_stores_other_values(
    p: Plane,
) -> None:
    """PATCH semantics of ``update_instance(settings=...)``: a secret given back as the
    mask the API shows stays as it is (never overwritten by the mask), ``null`` removes
    a setting, a plain setting given as the mask's text is that text."""
    _, instance = p.deploy(SECRET_TOKEN, {"greeting": "hi", "token": "s3cret"})
    updated = p.plane.update_instance(
        ADMIN, p.ws, instance.id, settings={"token": MASK, "greeting": MASK}
    )
    assert p.plane.settings_of(updated) == {"greeting": MASK, "token": "s3cret"}
    updated = p.plane.update_instance(ADMIN, p.ws, instance.id, settings={"token": None})
    assert p.plane.settings_of(updated) == {"greeting": MASK}
    updated = p.plane.update_instance(ADMIN, p.ws, instance.id, settings={"token": None})
    assert p.plane.settings_of(updated) == {"greeting": MASK}  # removing it again: fine
    # A secret never set, given as the mask: still not set (not stored as the mask).
    updated = p.plane.update_instance(ADMIN, p.ws, instance.id, settings={"token": MASK})
    assert p.plane.settings_of(updated) == {"greeting": MASK}


def test_a_setting_once_secret_given_as_the_mask_stays_under_a_plain_manifest(
    p: Plane,
) -> None:
    moved, _ = _secret_then_plain(p)
    updated = p.plane.update_instance(
        ADMIN, p.ws, moved.id, settings={"token": MASK, "greeting": "hello"}
    )
    assert p.plane.settings_of(updated) == {"greeting": "hello", "token": "s3cret"}
