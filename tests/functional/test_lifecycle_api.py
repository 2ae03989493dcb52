"""Soft deletes and replaced keys through the API, on both backends: scoped to the
workspace, refused while something depends on the record, audited; what is deleted is
found no more and stops working, and its name is free again."""

from __future__ import annotations

from functions_runtime.control.auth import hash_key
from functions_runtime.control.webhooks import source_for_webhook
from tests.functional.conftest import Api

HANDLER = "def on_track(event, settings):\n    return None\n"
INSERT = "def on_track(event, settings):\n    return event\n"


def files(name: str, kind: str = "destination", handler: str = HANDLER) -> dict[str, str]:
    return {"handler.py": handler, "function.toml": f'name = "{name}"\nkind = "{kind}"\n'}


def test_another_workspace_cannot_delete_or_rotate(api: Api) -> None:
    function = api.acme.create_function(files("hook"))["function"]
    source = api.acme.create_source("web")["source"]
    instance = api.acme.deploy(function["id"], source=source["id"])
    for path in (
        f"/v1/functions/{function['id']}",
        f"/v1/instances/{instance['id']}",
        f"/v1/sources/{source['id']}",
    ):
        api.globex.ok("DELETE", path, status=404)
    api.globex.ok("POST", f"/v1/sources/{source['id']}/write-key", status=404)
    api.anonymous.ok("DELETE", f"/v1/functions/{function['id']}", status=401)
    assert api.acme.ok("GET", f"/v1/functions/{function['id']}")["instances"]


def test_a_deleted_function_takes_its_instances_and_frees_its_name(api: Api) -> None:
    function = api.acme.create_function(files("hook"))["function"]
    instance = api.acme.deploy(function["id"])
    deleted = api.acme.ok("DELETE", "/v1/functions/hook")["function"]
    assert deleted["id"] == function["id"] and deleted["deleted_at"]
    api.acme.ok("GET", "/v1/functions/hook", status=404)
    api.acme.ok("GET", f"/v1/instances/{instance['id']}", status=404)
    api.acme.ok("DELETE", "/v1/functions/hook", status=404)
    assert api.acme.ok("GET", "/v1/instances")["instances"] == []
    stored = api.plane.store.get_instance(api.acme_id, instance["id"])
    assert stored is not None and stored.enabled is False and stored.deleted_at is not None
    again = api.acme.create_function(files("hook"))["function"]
    assert again["id"] != function["id"]
    assert [f["id"] for f in api.acme.ok("GET", "/v1/functions")["functions"]] == [again["id"]]
    actions = [e["action"] for e in api.acme.ok("GET", "/v1/audit")["entries"]]
    assert {"function.delete", "instance.delete"} <= set(actions)


def test_an_insert_instance_in_use_is_not_deleted(api: Api) -> None:
    scrub = api.acme.create_function(files("scrub", "insert", INSERT))["function"]
    insert = api.acme.deploy(scrub["id"])
    hook = api.acme.create_function(files("hook"))["function"]
    destination = api.acme.deploy(hook["id"], insert=insert["id"])
    api.acme.ok("DELETE", f"/v1/instances/{insert['id']}", status=409)
    api.acme.ok("DELETE", "/v1/functions/scrub", status=409)
    api.acme.deploy(hook["id"], instance=destination["id"], insert="")
    api.acme.ok("DELETE", f"/v1/instances/{insert['id']}")


def test_a_deleted_source_loses_its_write_key_and_webhook(api: Api) -> None:
    created = api.acme.create_source("web")
    source, write_key = created["source"], created["write_key"]
    token = api.acme.ok("POST", "/v1/sources/web/webhook-token", status=201)["webhook_token"]
    assert source_for_webhook(api.plane.store, token) is not None
    function = api.acme.create_function(files("hook"))["function"]
    instance = api.acme.deploy(function["id"], source="web")
    api.acme.ok("DELETE", "/v1/sources/web", status=409)  # an instance is attached
    api.acme.ok("DELETE", f"/v1/instances/{instance['id']}")
    assert api.plane.store.find_source_by_write_key(hash_key(write_key)) is not None
    deleted = api.acme.ok("DELETE", "/v1/sources/web")["source"]
    assert deleted["deleted_at"] and "write_key_hash" not in deleted
    assert api.plane.store.find_source_by_write_key(hash_key(write_key)) is None
    assert source_for_webhook(api.plane.store, token) is None
    api.acme.ok("POST", "/v1/sources/web/write-key", status=404)
    assert api.acme.create_source("web")["source"]["id"] != source["id"]


def test_a_rotated_key_stops_working(api: Api) -> None:
    old_write = api.acme.create_source("web")["write_key"]
    new_write = api.acme.ok("POST", "/v1/sources/web/write-key")["write_key"]
    assert api.plane.store.find_source_by_write_key(hash_key(old_write)) is None
    assert api.plane.store.find_source_by_write_key(hash_key(new_write)) is not None
    new_key = api.acme.ok("POST", "/v1/keys/rotate")["api_key"]
    api.acme.ok("GET", "/v1/functions", status=401)  # the old key
    fresh = api.client(new_key)
    assert fresh.ok("GET", "/v1/functions") == {"functions": []}
    actions = [e["action"] for e in fresh.ok("GET", "/v1/audit")["entries"]]
    assert actions[:2] == ["key.rotate", "source.write_key_rotate"]
