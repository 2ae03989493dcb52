"""Every control-plane route, through the real app, on both backends.

The story the routes tell: create a function (files or zip), upload versions (content
addressed), deploy it to an instance with settings (secrets masked, kept on redeploy),
roll back, disable, create sources, test a version, and read the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.functional.conftest import (
    GREETER_HANDLER,
    GREETER_MANIFEST,
    MASK,
    ROOT,
    TRACK,
    Api,
    Sink,
    function_files,
    sample_event,
    user_function,
    zipped,
)

INVOKE_KEYS = {"outcome", "result", "error", "logs", "requests", "duration_ms"}
SECRET = "whsec_do-not-leak-0123456789"
GREETER_SETTINGS = {"greeting": "hello", "token": SECRET}


def greeter(api: Api) -> tuple[str, str]:
    """Create the greeter in acme; its function id and first version id."""
    created = api.acme.create_function(function_files(GREETER_HANDLER, GREETER_MANIFEST))
    return created["function"]["id"], created["version"]["id"]


def entries(api: Api) -> list[dict[str, Any]]:
    return api.acme.ok("GET", "/v1/audit")["entries"]


# -- functions and versions -------------------------------------------------------------


def test_create_function_from_files_then_list_and_get_it(api: Api):
    files = user_function("crm_upsert")
    reply = api.acme.post("/v1/functions", {"files": files})

    assert reply.status == 201
    function, version = reply.body["function"], reply.body["version"]
    assert function["name"] == "crm-upsert"  # the manifest's name
    assert function["kind"] == "destination"
    assert function["workspace_id"] == api.acme_id
    assert function["latest_version"] == version["id"]
    assert function["version_count"] == version["number"] == 1
    assert version["id"].startswith("ver_")
    assert set(version["handlers"]) == {"on_identify", "on_track", "on_group", "on_delete"}
    assert version["manifest"]["settings"]["api_key"]["secret"] is True
    assert "source" not in version["manifest"]

    listed = api.acme.ok("GET", "/v1/functions")["functions"]
    assert listed == [function]
    by_id = api.acme.ok("GET", f"/v1/functions/{function['id']}")
    by_name = api.acme.ok("GET", "/v1/functions/crm-upsert")
    assert by_id == by_name == {"function": function, "instances": []}

    stored = api.acme.ok("GET", f"/v1/versions/{version['id']}")
    assert stored["version"] == version
    assert stored["code"] == files["handler.py"]
    assert stored["manifest"] == files["function.toml"]


def test_create_function_from_a_zip_of_the_folder(api: Api):
    files = user_function("slack_notifier")
    reply = api.acme.post(
        "/v1/functions", {"zip": zipped(files, folder="slack_notifier/"), "name": "slack"}
    )

    assert reply.status == 201
    assert reply.body["function"]["name"] == "slack"
    version = reply.body["version"]
    stored = api.acme.ok("GET", f"/v1/versions/{version['id']}")
    assert stored["code"] == files["handler.py"]
    assert stored["manifest"] == files["function.toml"]
    assert set(version["handlers"]) == {"on_track", "on_identify"}

    # The same content as files is the same version: content addressed, no new number.
    again = api.acme.upload("slack", files)["version"]
    assert (again["id"], again["number"]) == (version["id"], 1)


def test_uploading_the_same_content_twice_gives_the_same_version(api: Api):
    function_id, v1 = greeter(api)
    changed = GREETER_HANDLER.replace("greeting %s", "hello %s")
    first = api.acme.upload(function_id, function_files(changed, GREETER_MANIFEST))["version"]
    second = api.acme.upload(function_id, function_files(changed, GREETER_MANIFEST))["version"]

    assert first == second
    assert first["number"] == 2
    versions = api.acme.ok("GET", f"/v1/functions/{function_id}/versions")["versions"]
    assert [(v["id"], v["number"]) for v in versions] == [(v1, 1), (first["id"], 2)]
    function = api.acme.ok("GET", f"/v1/functions/{function_id}")["function"]
    assert (function["latest_version"], function["version_count"]) == (first["id"], 2)
    uploads = [e for e in entries(api) if e["action"] == "version.upload"]
    assert [e["target"] for e in uploads] == [first["id"], v1]


def test_the_same_code_can_be_uploaded_to_two_functions(api: Api):
    files = function_files(GREETER_HANDLER, GREETER_MANIFEST)
    first = api.acme.create_function(files, name="greeter-eu")
    reply = api.acme.post("/v1/functions", {"files": files, "name": "greeter-us"})

    assert reply.status == 201, reply
    assert reply.body["version"]["function_id"] != first["function"]["id"]


def test_a_function_is_found_by_the_name_it_was_created_with(api: Api):
    files = function_files(GREETER_HANDLER, GREETER_MANIFEST)
    created = api.acme.post("/v1/functions", {"files": files, "name": "my hook"})

    if created.status != 422:
        assert created.status == 201
        found = api.acme.get("/v1/functions/my%20hook")
        assert found.status == 200, found
        assert found.body["function"]["id"] == created.body["function"]["id"]


def test_diff_between_two_versions_shows_code_and_manifest_changes(api: Api):
    function_id, v1 = greeter(api)
    handler = GREETER_HANDLER.replace('"greeting %s"', '"welcome %s"')
    manifest = GREETER_MANIFEST.replace("default = 3", "default = 5")
    v2 = api.acme.upload(function_id, function_files(handler, manifest))["version"]["id"]

    diff = api.acme.ok("GET", f"/v1/versions/{v1}/diff/{v2}")["diff"]

    assert "--- v1/handler.py\n+++ v2/handler.py\n" in diff
    assert '-    logger.info("greeting %s", event.userId)\n' in diff
    assert '+    logger.info("welcome %s", event.userId)\n' in diff
    assert "--- v1/function.toml\n+++ v2/function.toml\n" in diff
    assert "-default = 3\n+default = 5\n" in diff
    assert api.acme.ok("GET", f"/v1/versions/{v1}/diff/{v1}") == {"diff": ""}


# -- instances ----------------------------------------------------------------------------


def test_deploy_creates_the_instance_then_updates_it(api: Api):
    function_id, v1 = greeter(api)
    source = api.acme.create_source("web")["source"]

    created = api.acme.deploy(function_id, source="web", settings=GREETER_SETTINGS)
    assert created["function_id"] == function_id
    assert created["version_id"] == v1  # the latest, when none is named
    assert created["source_id"] == source["id"]
    assert created["settings"] == {"greeting": "hello", "token": MASK, "retries": 3}
    assert (created["enabled"], created["revision"]) == (True, 1)
    assert "secrets" not in created

    handler = GREETER_HANDLER.replace("greeting %s", "hi %s")
    v2 = api.acme.upload(function_id, function_files(handler, GREETER_MANIFEST))["version"]["id"]
    updated = api.acme.deploy(function_id, version=v2, settings={"greeting": "hi"})
    assert updated["id"] == created["id"]
    assert (updated["version_id"], updated["revision"]) == (v2, 2)
    assert updated["settings"] == {"greeting": "hi", "token": MASK, "retries": 3}

    assert api.acme.ok("GET", f"/v1/instances/{created['id']}") == {"instance": updated}
    assert api.acme.ok("GET", "/v1/instances") == {"instances": [updated]}
    assert api.acme.ok("GET", f"/v1/instances?function={function_id}") == {"instances": [updated]}
    assert api.acme.ok("GET", "/v1/functions/greeter")["instances"] == [updated]
    actions = [e["action"] for e in entries(api)]
    assert actions[:2] == ["instance.deploy", "version.upload"]
    assert "instance.create" in actions


def test_a_new_instance_has_no_deliveries_zero_stats_and_nothing_to_replay(api: Api):
    function_id, _ = greeter(api)
    api.acme.create_source("web")
    instance = api.acme.deploy(function_id, source="web", settings=GREETER_SETTINGS)["id"]

    assert api.acme.ok("GET", f"/v1/instances/{instance}/deliveries") == {"deliveries": []}
    assert api.acme.ok("GET", f"/v1/instances/{instance}/stats") == {
        "counts": {},
        "total": 0,
        "attempts": 0,
        "events": 0,
        "p50_ms": None,
        "p95_ms": None,
    }
    replayed = api.acme.ok("POST", f"/v1/instances/{instance}/replay", {})
    assert (replayed["queued"], replayed["message_ids"]) == (0, [])


def test_deploy_names_every_settings_violation_and_stores_nothing(api: Api):
    function_id, _ = greeter(api)
    before = api.acme.snapshot()

    reply = api.acme.post(
        f"/v1/functions/{function_id}/deploy",
        {"settings": {"greeting": 42, "retries": "three", "colour": "blue"}},
    )

    assert reply.status == 422
    assert reply.body["error"]["code"] == "validation_failed"
    assert sorted(reply.body["error"]["problems"]) == [
        "settings.colour: not declared in the manifest",
        "settings.greeting: must be a string, got int",
        "settings.retries: must be a number, got str",
        "settings.token: required (string)",
    ]
    assert api.acme.snapshot() == before


def test_secrets_are_masked_everywhere_and_kept_when_a_redeploy_omits_them(
    api: Api, sink: Sink, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    loopback = api.with_allow("127.0.0.1")
    acme = loopback.acme
    created = acme.create_function(user_function("signed_webhook"), name="hook")
    function_id, version_id = created["function"]["id"], created["version"]["id"]
    settings = {"url": sink.url, "signing_secret": SECRET}

    instance = acme.deploy(function_id, settings=settings)
    assert instance["settings"] == {"url": sink.url, "signing_secret": MASK}

    # Redeploy without the secret, then with the mask sent back: the secret stays.
    other_url = sink.url + "?v=2"
    redeployed = acme.deploy(function_id, settings={"url": other_url})
    assert redeployed["settings"] == {"url": other_url, "signing_secret": MASK}
    patched = acme.ok(
        "PATCH",
        f"/v1/instances/{instance['id']}",
        {"settings": {"url": sink.url, "signing_secret": MASK}},
    )["instance"]
    assert patched["settings"] == {"url": sink.url, "signing_secret": MASK}

    # The instance still signs with the original secret: the receiver can verify it.
    event = sample_event("identify")
    result = acme.ok(
        "POST", f"/v1/versions/{version_id}/test", {"event": event, "instance": instance["id"]}
    )
    assert result["outcome"] == "delivered", result
    [received] = sink.received
    expected = "sha256=" + hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
    assert received.headers["x-signature"] == expected
    assert received.headers["x-event-type"] == "identify"
    assert json.loads(received.body)["userId"] == event["userId"]
    [request] = result["requests"]
    assert request["url"] == sink.url

    for path in (
        f"/v1/instances/{instance['id']}",
        "/v1/instances",
        f"/v1/functions/{function_id}",
    ):
        acme.ok("GET", path)
    assert any(MASK in body for body in loopback.transcript)
    assert not [body for body in loopback.transcript if SECRET in body]
    assert SECRET not in json.dumps(acme.ok("GET", "/v1/audit?limit=1000"))
    assert SECRET not in caplog.text


def test_an_optional_secret_that_was_never_set_is_not_shown_as_set(api: Api):
    manifest = GREETER_MANIFEST + '\n[settings.backup_token]\ntype = "string"\nsecret = true\n'
    created = api.acme.create_function(function_files(GREETER_HANDLER, manifest))

    instance = api.acme.deploy(created["function"]["id"], settings=GREETER_SETTINGS)

    assert instance["settings"]["token"] == MASK
    assert "backup_token" not in instance["settings"]


def test_secret_settings_stay_out_of_debug_logs(api: Api, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    function_id, _ = greeter(api)

    api.acme.deploy(function_id, settings=GREETER_SETTINGS)

    assert SECRET not in caplog.text


def test_rollback_points_the_instance_at_an_earlier_version(api: Api):
    function_id, v1 = greeter(api)
    instance = api.acme.deploy(function_id, settings=GREETER_SETTINGS)
    handler = GREETER_HANDLER.replace("greeting %s", "hi %s")
    v2 = api.acme.upload(function_id, function_files(handler, GREETER_MANIFEST))["version"]["id"]
    api.acme.deploy(function_id, version=v2)

    reply = api.acme.post(f"/v1/instances/{instance['id']}/rollback", {"version": v1})

    assert reply.status == 200
    rolled = reply.body["instance"]
    assert (rolled["id"], rolled["version_id"], rolled["revision"]) == (instance["id"], v1, 3)
    assert rolled["settings"] == instance["settings"]
    [latest, *_] = entries(api)
    assert latest["action"] == "instance.rollback"
    assert latest["target"] == instance["id"]
    assert latest["details"]["version"] == v1
    assert latest["details"]["from_version"] == v2
    # The secret survived the rollback: the identify handler sees the whole token.
    tested = api.acme.ok(
        "POST",
        f"/v1/versions/{v1}/test",
        {"event": sample_event("identify"), "instance": instance["id"]},
    )
    assert tested["result"] == {"token_length": len(SECRET)}


def test_patch_disables_and_enables_an_instance_keeping_its_settings(api: Api):
    function_id, _ = greeter(api)
    instance = api.acme.deploy(function_id, settings=GREETER_SETTINGS)

    disabled = api.acme.ok("PATCH", f"/v1/instances/{instance['id']}", {"enabled": False})
    assert disabled["instance"]["enabled"] is False
    assert disabled["instance"]["settings"] == instance["settings"]
    assert api.acme.ok("GET", f"/v1/instances/{instance['id']}") == disabled
    [latest, *_] = entries(api)
    assert (latest["action"], latest["details"]["enabled"]) == ("instance.update", False)

    enabled = api.acme.ok("PATCH", f"/v1/instances/{instance['id']}", {"enabled": True})
    assert enabled["instance"]["enabled"] is True
    assert enabled["instance"]["revision"] == 3


# -- sources ---------------------------------------------------------------------------------


def test_a_source_write_key_is_returned_once_and_never_listed(api: Api):
    created = api.acme.post("/v1/sources", {"name": "web"})

    assert created.status == 201
    source, write_key = created.body["source"], created.body["write_key"]
    assert write_key.startswith("wk_")
    assert (source["name"], source["workspace_id"]) == ("web", api.acme_id)
    assert "write_key_hash" not in source

    listed = api.acme.get("/v1/sources")
    assert listed.body == {"sources": [source]}
    assert write_key not in api.transcript[-1]
    assert hashlib.sha256(write_key.encode()).hexdigest() not in api.transcript[-1]
    assert api.acme.post("/v1/sources", {"name": "web"}).status == 409
    assert api.acme.ok("GET", "/v1/sources") == {"sources": [source]}


# -- test -------------------------------------------------------------------------------------


def functions_invoke(tmp_path: Path, payload: Any, settings: dict[str, Any]) -> Any:
    """What ``functions invoke`` prints for the greeter on ``payload``."""
    folder = tmp_path / "greeter"
    folder.mkdir(exist_ok=True)
    for name, text in function_files(GREETER_HANDLER, GREETER_MANIFEST).items():
        (folder / name).write_text(text)
    event, settings_file = tmp_path / "event.json", tmp_path / "settings.json"
    event.write_text(json.dumps(payload))
    settings_file.write_text(json.dumps(settings))
    command = ["invoke", str(folder), "--event", str(event), "--settings", str(settings_file)]
    done = subprocess.run(
        [sys.executable, "-m", "functions_runtime.cli", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def without_durations(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: without_durations(v) for k, v in data.items() if k != "duration_ms"}
    if isinstance(data, list):
        return [without_durations(v) for v in data]
    return data


def test_testing_a_version_answers_what_functions_invoke_prints(api: Api, tmp_path: Path):
    _, version_id = greeter(api)
    settings = {"greeting": "hello", "token": "t0k"}
    batch = [TRACK, sample_event("identify"), sample_event("page")]

    path = f"/v1/versions/{version_id}/test"
    one = api.acme.ok("POST", path, {"event": TRACK, "settings": settings})
    many = api.acme.ok("POST", path, {"events": batch, "settings": settings})

    assert set(one) >= INVOKE_KEYS
    assert one["outcome"] == "delivered"
    assert one["result"] == {"greeting": "hello", "user": "user-1"}
    assert one["logs"] == ["INFO greeting user-1"]
    assert (one["error"], one["requests"]) == (None, [])
    assert isinstance(one["duration_ms"], float)

    assert set(many) == {"outcome", "results", "duration_ms"}
    assert [r["outcome"] for r in many["results"]] == ["delivered", "delivered", "filtered"]
    assert all(set(r) >= INVOKE_KEYS for r in many["results"])
    assert many["outcome"] == "filtered"  # the most severe of the batch

    assert without_durations(one) == without_durations(functions_invoke(tmp_path, TRACK, settings))
    assert without_durations(many) == without_durations(functions_invoke(tmp_path, batch, settings))


def test_testing_with_an_instance_uses_its_settings(api: Api):
    function_id, version_id = greeter(api)
    instance = api.acme.deploy(function_id, settings={"greeting": "howdy", "token": SECRET})

    result = api.acme.ok(
        "POST", f"/v1/versions/{version_id}/test", {"event": TRACK, "instance": instance["id"]}
    )

    assert result["result"] == {"greeting": "howdy", "user": "user-1"}
    assert not [body for body in api.transcript if SECRET in body]


# -- audit, workspaces and keys ------------------------------------------------------------


def test_the_audit_log_tells_the_story_newest_first(api: Api):
    function_id, v1 = greeter(api)
    source = api.acme.create_source("web")["source"]
    instance = api.acme.deploy(function_id, source=source["id"], settings=GREETER_SETTINGS)
    handler = GREETER_HANDLER.replace("greeting %s", "hi %s")
    v2 = api.acme.upload(function_id, function_files(handler, GREETER_MANIFEST))["version"]["id"]
    api.acme.deploy(function_id, version=v2)
    api.acme.ok("POST", f"/v1/instances/{instance['id']}/rollback", {"version": v1})

    log = entries(api)

    assert [(e["action"], e["target"]) for e in log] == [
        ("instance.rollback", instance["id"]),
        ("instance.deploy", instance["id"]),
        ("version.upload", v2),
        ("instance.create", instance["id"]),
        ("source.create", source["id"]),
        ("version.upload", v1),
        ("function.create", function_id),
        ("workspace.create", api.acme_id),
    ]
    assert [e["at"] for e in log] == sorted((e["at"] for e in log), reverse=True)
    assert {e["workspace_id"] for e in log} == {api.acme_id}
    assert [e["details"]["number"] for e in log if e["action"] == "version.upload"] == [2, 1]
    assert api.acme.ok("GET", "/v1/audit?limit=2")["entries"] == log[:2]


def test_admin_creates_workspaces_and_keys_and_acts_in_any_workspace(api: Api):
    created = api.admin.post("/v1/workspaces", {"name": "initech"})
    assert created.status == 201
    workspace, key = created.body["workspace"], created.body["api_key"]
    assert workspace["name"] == "initech"
    assert key.startswith("fk_")

    names = [w["name"] for w in api.admin.ok("GET", "/v1/workspaces")["workspaces"]]
    assert names == ["default", "acme", "globex", "initech"]
    assert api.client(key).ok("GET", "/v1/functions") == {"functions": []}

    second = api.admin.post(f"/v1/workspaces/{workspace['id']}/keys")
    assert second.status == 201
    assert second.body["api_key"] not in (key, api.admin_key)
    api.client(second.body["api_key"]).create_source("from-the-second-key")

    # The admin key acts in the workspace X-Functions-Workspace names ("default" without).
    greeter(api)
    in_acme = api.client(api.admin_key, workspace=api.acme_id)
    assert [f["name"] for f in in_acme.ok("GET", "/v1/functions")["functions"]] == ["greeter"]
    assert api.admin.ok("GET", "/v1/functions") == {"functions": []}
    in_initech = api.client(api.admin_key, workspace=workspace["id"])
    assert [s["name"] for s in in_initech.ok("GET", "/v1/sources")["sources"]] == [
        "from-the-second-key"
    ]
    # A workspace key may name its own workspace.
    assert api.client(api.acme_key, workspace=api.acme_id).get("/v1/functions").status == 200
    assert api.admin.post("/v1/workspaces", {"name": "acme"}).status == 409


def test_the_openapi_document_names_the_api_and_its_bearer_auth(api: Api):
    document = api.anonymous.ok("GET", "/openapi.json")
    assert document["info"] == {"title": "Functions control plane", "version": "0.1.0"}
    assert document["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer", "description": "an API key"}
    }
    assert document["security"] == [{"bearer": []}]  # every operation, unless it says


def test_a_version_lists_its_python_files_sorted_and_hides_the_manifest_text(api: Api):
    files = {
        **function_files(GREETER_HANDLER, GREETER_MANIFEST),
        "zeta.py": "Z = 1\n",
        "alpha.py": "A = 1\n",
    }
    created = api.acme.create_function(files)
    function, version = created["function"]["id"], created["version"]
    expected = ["alpha.py", "handler.py", "zeta.py"]
    assert version["files"] == expected
    assert "source" not in version["manifest"]
    listed = api.acme.ok("GET", f"/v1/functions/{function}/versions")["versions"]
    assert [v["files"] for v in listed] == [expected]
    shown = api.acme.ok("GET", f"/v1/versions/{version['id']}")
    assert shown["version"]["files"] == expected
