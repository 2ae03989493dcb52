"""What the web console needs from the public API, and how its page is served.

``POST /v1/validate`` compiles without storing; ``POST /v1/test`` runs unsaved files;
``/`` and ``/assets/...`` serve the built console with a strict Content-Security-Policy
(a fresh style nonce per page load) and serve nothing else.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from functions_runtime.api.local import to_apigw_event
from functions_runtime.console import assets
from tests.functional.conftest import (
    GREETER_HANDLER,
    GREETER_MANIFEST,
    TRACK,
    Api,
    LambdaContext,
    function_files,
)

SECRET = "whsec_console-secret-0123456789"


def test_validate_reports_each_problem_on_its_line_and_stores_nothing(api: Api) -> None:
    before = api.acme.snapshot()
    handler = "def on_track(event, settings):\n    return 1\n\nimport os\n"
    body = api.acme.ok(
        "POST",
        "/v1/validate",
        {"files": {"handler.py": handler, "function.toml": 'name = "x"\nkind = 3\n'}},
    )
    assert body["ok"] is False and body["manifest"] is None
    by_file = {p["file"]: p for p in body["problems"]}
    assert by_file["handler.py"]["line"] == 4
    assert 'module "os" is not available' in by_file["handler.py"]["message"]
    assert by_file["function.toml"]["message"].startswith("kind: ")
    assert by_file["handler.py"]["text"].startswith("handler.py:4: ")
    assert api.acme.snapshot() == before


def test_validate_returns_the_schema_of_valid_files(api: Api) -> None:
    body = api.acme.ok(
        "POST", "/v1/validate", {"files": function_files(GREETER_HANDLER, GREETER_MANIFEST)}
    )
    assert body["ok"] is True and body["problems"] == []
    assert sorted(body["handlers"]) == ["on_identify", "on_track"]
    assert body["manifest"]["settings"]["token"]["secret"] is True


def test_validate_and_test_need_a_key(api: Api) -> None:
    files = {"handler.py": "def on_track(e, s):\n    return 1\n"}
    assert api.anonymous.post("/v1/validate", {"files": files}).status == 401
    assert api.anonymous.post("/v1/test", {"files": files, "event": TRACK}).status == 401
    assert api.anonymous.post("/v1/validate", {"nope": 1}).status == 401


def test_unsaved_files_run_with_form_settings_or_an_instances(api: Api) -> None:
    files = function_files(GREETER_HANDLER, GREETER_MANIFEST)
    before = api.acme.snapshot()
    out = api.acme.ok(
        "POST",
        "/v1/test",
        {"files": files, "event": TRACK, "settings": {"greeting": "hi", "token": SECRET}},
    )
    assert out["outcome"] == "delivered"
    assert out["result"] == {"greeting": "hi", "user": "user-1"}
    assert out["logs"] == ["INFO greeting user-1"]
    assert api.acme.snapshot() == before

    made = api.acme.create_function(files)
    source = api.acme.create_source("web")["source"]["id"]
    instance = api.acme.deploy(
        made["function"]["id"], source=source, settings={"greeting": "yo", "token": SECRET}
    )
    changed = files | {"handler.py": files["handler.py"].replace('"user"', '"who"')}
    out = api.acme.ok(
        "POST", "/v1/test", {"files": changed, "event": TRACK, "instance": instance["id"]}
    )
    assert out["result"] == {"greeting": "yo", "who": "user-1"}
    # another workspace's key cannot use the instance's settings
    other = api.globex.post(
        "/v1/test", {"files": changed, "event": TRACK, "instance": instance["id"]}
    )
    assert other.status == 404


def test_unsaved_files_report_the_error_line_and_refuse_invalid_code(api: Api) -> None:
    handler = "def on_track(event, settings):\n    x = 1\n    raise ValueError('no')\n"
    out = api.acme.ok("POST", "/v1/test", {"files": {"handler.py": handler}, "event": TRACK})
    assert out["outcome"] == "rejected"
    assert out["error"]["line"] == 3
    bad = api.acme.post("/v1/test", {"files": {"handler.py": "import os\n"}, "event": TRACK})
    assert bad.status == 422 and bad.body["error"]["problems"][0].startswith("handler.py:1:")
    both = api.acme.post(
        "/v1/test", {"files": {"handler.py": handler}, "event": TRACK, "events": [TRACK]}
    )
    assert both.status == 400


def test_the_openapi_document_lists_the_new_routes_not_the_console(api: Api) -> None:
    paths = api.acme.ok("GET", "/openapi.json")["paths"]
    assert "/v1/validate" in paths and "/v1/test" in paths
    assert "/" not in paths and not any(p.startswith("/assets") for p in paths)


def _get(api: Api, path: str) -> tuple[int, dict[str, str], str]:
    event = to_apigw_event("GET", path, {"User-Agent": "browser"}, b"", "127.0.0.1")
    result: dict[str, Any] = api.app.resolve(event, LambdaContext())
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    return int(result["statusCode"]), headers, result.get("body") or ""


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_the_console_page_has_a_strict_policy_and_a_fresh_nonce(api: Api) -> None:
    status, headers, body = _get(api, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "connect-src 'self'" in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    nonce = re.search(r"'nonce-([\w-]+)'", policy)
    assert nonce and len(nonce.group(1)) >= 16
    if assets.STATIC.is_dir():  # built (make console): the page carries the same nonce
        assert f'<meta name="csp-nonce" content="{nonce.group(1)}"' in body
        assert "<script>" not in body and assets.NONCE_PLACEHOLDER not in body
    second = _get(api, "/")[1]["content-security-policy"]
    assert second != policy


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_only_built_assets_are_served(api: Api) -> None:
    for path in (
        "/assets/..%2F..%2Fassets.py",
        "/assets/../__init__.py",
        "/assets/index.html",
        "/assets/nope.js",
    ):
        status, headers, body = _get(api, path)
        assert status == 404, path
        assert json.loads(body)["error"]["code"] == "not_found"
    built = sorted(assets.STATIC.glob("assets/*.js")) if assets.STATIC.is_dir() else []
    if built:
        status, headers, body = _get(api, f"/assets/{built[0].name}")
        assert status == 200 and headers["content-type"].startswith("text/javascript")
        assert "immutable" in headers["cache-control"]
        assert "content-security-policy" in headers
