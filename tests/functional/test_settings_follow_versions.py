"""How settings follow versions (issue 14): PATCH merges, ``null`` removes, a rollback to
a version whose schema lacks a setting drops that value (named in the audit entry)."""

from __future__ import annotations

from typing import Any

from tests.control_planes import GREETER_MANIFEST
from tests.functional.conftest import Api

HANDLER = (
    "from functions_sdk import Settings, TrackEvent\n\n"
    "def on_track(event: TrackEvent, settings: Settings) -> str:\n"
    "    return settings.get_str('greeting')\n"
)
V1 = GREETER_MANIFEST  # a required plain setting and a secret one
V2 = (
    V1
    + """
[settings.lifecycle_stage]
type = "string"
"""
)


def versions(api: Api) -> tuple[str, str, str, str]:
    created = api.acme.create_function({"handler.py": HANDLER, "function.toml": V1})
    function_id, v1 = created["function"]["id"], created["version"]["id"]
    v2 = api.acme.upload(function_id, {"handler.py": HANDLER, "function.toml": V2})["version"]
    instance = api.acme.deploy(
        function_id,
        version=v2["id"],
        settings={"greeting": "hi", "token": "s3cret", "lifecycle_stage": "beta"},
    )
    return function_id, v1, v2["id"], instance["id"]


def patch(api: Api, instance: str, settings: dict[str, Any]) -> Any:
    return api.acme.ok("PATCH", f"/v1/instances/{instance}", {"settings": settings})["instance"]


def test_patch_merges_settings_and_null_removes_one(api: Api) -> None:
    _, _, _, instance = versions(api)
    changed = patch(api, instance, {"greeting": "hello"})
    assert changed["settings"] == {"greeting": "hello", "lifecycle_stage": "beta", "token": "***"}
    removed = patch(api, instance, {"lifecycle_stage": None, "token": "***"})
    assert removed["settings"] == {"greeting": "hello", "token": "***"}
    # greeting is required: removing it is refused
    api.acme.ok("PATCH", f"/v1/instances/{instance}", {"settings": {"greeting": None}}, 422)


def test_rollback_to_a_version_without_a_setting_drops_its_value(api: Api) -> None:
    _, v1, v2, instance = versions(api)
    back = api.acme.ok("POST", f"/v1/instances/{instance}/rollback", {"version": v1})
    assert back["instance"]["version_id"] == v1
    assert back["instance"]["settings"] == {"greeting": "hi", "token": "***"}
    [entry] = [
        e for e in api.acme.ok("GET", "/v1/audit")["entries"] if e["action"] == "instance.rollback"
    ]
    assert entry["details"]["dropped_settings"] == ["lifecycle_stage"]
    forward = api.acme.ok("POST", f"/v1/instances/{instance}/rollback", {"version": v2})
    assert forward["instance"]["settings"] == {"greeting": "hi", "token": "***"}
