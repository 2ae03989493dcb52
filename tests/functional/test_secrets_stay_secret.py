"""A setting once secret stays secret (issue 12).

A later version whose ``function.toml`` drops ``secret = true`` for a setting, deployed
or rolled back to, must neither show the stored secret through the API nor store it
unencrypted, nor leave it unmasked in what the sandbox records.
"""

from __future__ import annotations

import json

from tests.functional.conftest import (
    GREETER_MANIFEST,
    MASK,
    Api,
    function_files,
    sample_event,
)

SECRET = "whsec_stays-secret-0123456789"
HANDLER = """\
from functions_sdk import logger


def on_track(event, settings):
    return {"greeting": settings.get_str("greeting")}


def on_identify(event, settings):
    logger.info("token is %s", settings.get_str("token"))
    return {"token_length": len(settings.get_str("token"))}
"""
PLAIN_MANIFEST = GREETER_MANIFEST.replace("required = true\nsecret = true\n", "required = true\n")


def _stored(api: Api, instance_id: str) -> tuple[dict[str, object], str | None]:
    instance = api.plane.store.get_instance(api.acme_id, instance_id)
    assert instance is not None
    return instance.settings, instance.secrets


def test_a_version_that_drops_secret_keeps_the_setting_secret(api: Api) -> None:
    assert PLAIN_MANIFEST != GREETER_MANIFEST
    acme = api.acme
    created = acme.create_function(function_files(HANDLER, GREETER_MANIFEST))
    function_id, v1 = created["function"]["id"], created["version"]["id"]
    instance = acme.deploy(function_id, settings={"greeting": "hi", "token": SECRET})
    v2 = acme.upload(function_id, function_files(HANDLER, PLAIN_MANIFEST))["version"]["id"]

    # Deployed to the version without `secret = true`, then rolled back and forth.
    deployed = acme.deploy(function_id, version=v2)
    views = [deployed, acme.ok("GET", f"/v1/instances/{instance['id']}")["instance"]]
    acme.ok("POST", f"/v1/instances/{instance['id']}/rollback", {"version": v1})
    rolled = acme.ok("POST", f"/v1/instances/{instance['id']}/rollback", {"version": v2})
    views += [rolled["instance"], acme.ok("GET", f"/v1/instances/{instance['id']}")["instance"]]
    for view in views:
        assert view["version_id"] == v2
        assert view["settings"] == {"greeting": "hi", "token": MASK, "retries": 3}, view
    plain, sealed = _stored(api, instance["id"])
    assert "token" not in plain and sealed is not None

    # A new value set under v2 is secret too; the mask sent back keeps the value.
    acme.ok("PATCH", f"/v1/instances/{instance['id']}", {"settings": {"greeting": "yo"}})
    patched = acme.ok(
        "PATCH",
        f"/v1/instances/{instance['id']}",
        {"settings": {"greeting": "yo", "token": MASK}},
    )["instance"]
    assert patched["settings"]["token"] == MASK
    plain, sealed = _stored(api, instance["id"])
    assert "token" not in plain and sealed is not None

    # The handler still gets the real value; what the sandbox records masks it.
    tested = acme.ok(
        "POST",
        f"/v1/versions/{v2}/test",
        {"event": sample_event("identify"), "instance": instance["id"]},
    )
    assert tested["result"] == {"token_length": len(SECRET)}, tested
    assert tested["logs"] == ["INFO token is ***"], tested

    assert not [body for body in api.transcript if SECRET in body]
    assert SECRET not in json.dumps(acme.ok("GET", "/v1/instances"))
