"""Bad requests: each gets a clear JSON error with the right status, and stores NOTHING.

Every case runs against a workspace that already holds a function, an instance and a
source, and compares everything the key can list (functions with their version counts,
instances, sources, audit log) before and after.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from functions_runtime.json_limits import MAX_DEPTH
from tests.functional.conftest import (
    GREETER_HANDLER,
    GREETER_MANIFEST,
    TRACK,
    Api,
    Reply,
    function_files,
    zipped,
)

KIB = 1024
GOOD = function_files(GREETER_HANDLER, GREETER_MANIFEST)
SETTINGS = {"greeting": "hello", "token": "t0k"}
UNSAFE_HANDLER = """\
def on_track(event, settings):
    total = 0
    import os
    total += 1
    return event.__class__
"""


@pytest.fixture
def ids(api: Api) -> dict[str, str]:
    """acme's greeter (v1, v2), its instance on source "web", a source "mobile" and a
    function "other"; globex's own function."""
    created = api.acme.create_function(GOOD)
    function = created["function"]["id"]
    v2 = api.acme.upload(function, function_files(GREETER_HANDLER + "# v2\n", GREETER_MANIFEST))
    source = api.acme.create_source("web")["source"]["id"]
    api.acme.create_source("mobile")
    instance = api.acme.deploy(function, source=source, settings=SETTINGS)["id"]
    other = api.acme.create_function(function_files(GREETER_HANDLER + "# other\n"), "other")
    theirs = api.globex.create_function(function_files(GREETER_HANDLER + "# globex\n"))
    return {
        "function": function,
        "version": created["version"]["id"],
        "v2": v2["version"]["id"],
        "instance": instance,
        "source": source,
        "other_function_version": other["version"]["id"],
        "globex_function": theirs["function"]["id"],
        "globex_version": theirs["version"]["id"],
    }


@dataclass(frozen=True)
class Bad:
    """A bad request and what the answer must say (in its message or problems)."""

    method: str
    path: str  # formatted with the ``ids`` fixture
    body: Any = None
    raw: bytes | None = None
    status: int = 400
    code: str = "bad_request"
    says: tuple[str, ...] = ()


def upload(files: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
    return {"files": files, **body} if files is not None else body


def zip_bytes(files: dict[str, str]) -> bytes:
    return base64.b64decode(zipped(files))


def corrupt_deflate_zip() -> str:
    """A zip whose handler.py entry holds a damaged deflate stream."""
    data = bytearray(zip_bytes({"handler.py": GREETER_HANDLER * 20}))
    start = 30 + len("handler.py")  # the local header, then the compressed data
    data[start : start + 16] = b"\xff" * 16
    return base64.b64encode(bytes(data)).decode()


def check(reply: Reply, case: Bad) -> None:
    assert reply.status == case.status, reply
    error = reply.body["error"]
    assert error["code"] == case.code, reply
    text = "\n".join([error["message"], *error.get("problems", [])])
    for phrase in case.says:
        assert phrase in text, (phrase, reply)


BAD_BODIES = {
    # The body is not JSON, or not the JSON the route takes.
    "malformed JSON": Bad(
        "POST",
        "/v1/functions",
        raw=b'{"files": {"handler.py": ',
        code="invalid_request",
        says=("not valid JSON",),
    ),
    "malformed JSON to deploy": Bad(
        "POST",
        "/v1/functions/{function}/deploy",
        raw=b'{"settings": }',
        code="invalid_request",
        says=("not valid JSON",),
    ),
    "files not an object": Bad(
        "POST",
        "/v1/functions",
        {"files": ["handler.py"]},
        status=422,
        code="invalid_request",
        says=("files: ",),
    ),
    "unknown field": Bad(
        "POST",
        "/v1/functions",
        {"filez": GOOD},
        status=422,
        code="invalid_request",
        says=("filez: Extra inputs are not permitted",),
    ),
    "string body": Bad(
        "POST",
        "/v1/functions",
        raw=b'"handler.py"',
        status=422,
        code="invalid_request",
        says=("body: Input should be a valid dictionary",),
    ),
    "empty body": Bad(
        "POST",
        "/v1/sources",
        raw=b"",
        status=422,
        code="invalid_request",
        says=("body: Field required",),
    ),
    "settings not an object": Bad(
        "POST",
        "/v1/functions/{function}/deploy",
        {"settings": "greeting=hi"},
        status=422,
        code="invalid_request",
        says=("settings: ",),
    ),
    "enabled not a boolean": Bad(
        "PATCH",
        "/v1/instances/{instance}",
        {"enabled": "maybe"},
        status=422,
        code="invalid_request",
        says=("enabled: ",),
    ),
    "rollback without a version": Bad(
        "POST",
        "/v1/instances/{instance}/rollback",
        {},
        status=422,
        code="invalid_request",
        says=("version: Field required",),
    ),
    "source name with spaces": Bad(
        "POST",
        "/v1/sources",
        {"name": "my source"},
        status=422,
        code="invalid_request",
        says=("name: String should match pattern",),
    ),
    "function name empty": Bad(
        "POST",
        "/v1/functions",
        upload(GOOD, name=""),
        status=422,
        code="invalid_request",
        says=("name: ",),
    ),
    "events not a list": Bad(
        "POST",
        "/v1/versions/{version}/test",
        {"events": TRACK},
        status=422,
        code="invalid_request",
        says=("events: ",),
    ),
    "batch over 100 events": Bad(
        "POST",
        "/v1/versions/{version}/test",
        {"events": [TRACK] * 101},
        status=422,
        code="invalid_request",
        says=("events: List should have at most 100 items",),
    ),
    "audit limit not a number": Bad(
        "GET", "/v1/audit?limit=many", status=422, code="invalid_request", says=("query.limit",)
    ),
    "audit limit zero": Bad(
        "GET", "/v1/audit?limit=0", status=422, code="invalid_request", says=("query.limit",)
    ),
    "test with neither event nor events": Bad(
        "POST", "/v1/versions/{version}/test", {}, says=("either 'event' or 'events'",)
    ),
    "test with both event and events": Bad(
        "POST",
        "/v1/versions/{version}/test",
        {"event": TRACK, "events": [TRACK]},
        says=("either 'event' or 'events'",),
    ),
    "test with an empty batch": Bad(
        "POST",
        "/v1/versions/{version}/test",
        {"events": [], "settings": SETTINGS},
        says=("a batch of 1 to 100",),
    ),
    # Uploads: size, encoding, files.
    "handler over 256 KiB": Bad(
        "POST",
        "/v1/functions",
        upload({"handler.py": GREETER_HANDLER + "#" * (256 * KIB)}),
        status=413,
        code="payload_too_large",
        says=("handler.py is over the 262144-byte limit",),
    ),
    "handler over 256 KiB in a zip": Bad(
        "POST",
        "/v1/functions",
        {"zip": zipped({"handler.py": GREETER_HANDLER + "#" * (256 * KIB)})},
        status=413,
        code="payload_too_large",
        says=("handler.py is over",),
    ),
    "manifest over 64 KiB": Bad(
        "POST",
        "/v1/functions/{function}/versions",
        upload({**GOOD, "function.toml": GREETER_MANIFEST + "#" * (64 * KIB)}),
        status=413,
        code="payload_too_large",
        says=("function.toml is over",),
    ),
    "zip not base64": Bad("POST", "/v1/functions", {"zip": "PK&not base64!"}, says=("base64",)),
    "zip not a zip": Bad(
        "POST",
        "/v1/functions",
        {"zip": base64.b64encode(b"handler.py, honest").decode()},
        says=("zip could not be read",),
    ),
    "files and zip": Bad(
        "POST", "/v1/functions", {"files": GOOD, "zip": zipped(GOOD)}, says=("either 'files'",)
    ),
    "neither files nor zip": Bad(
        "POST", "/v1/functions/{function}/versions", {}, says=("either 'files'",)
    ),
    "unexpected file": Bad(
        "POST",
        "/v1/functions",
        upload({**GOOD, "notes.txt": "hi"}),
        says=("unexpected files ['notes.txt']",),
    ),
    "no handler.py": Bad(
        "POST",
        "/v1/functions",
        upload({"function.toml": GREETER_MANIFEST}),
        says=("no handler.py",),
    ),
    # Code and manifests that fail validation: every problem, as path:line: message.
    "code the sandbox refuses": Bad(
        "POST",
        "/v1/functions",
        upload({"handler.py": UNSAFE_HANDLER}),
        status=422,
        code="validation_failed",
        says=('handler.py:3: module "os" is not available', 'handler.py:5: ".__class__"'),
    ),
    "syntax error": Bad(
        "POST",
        "/v1/functions/{function}/versions",
        upload({"handler.py": "def on_track(event, settings):\n    return (\n"}),
        status=422,
        code="validation_failed",
        says=("handler.py:2: syntax error",),
    ),
    "no handler function": Bad(
        "POST",
        "/v1/functions",
        upload({"handler.py": "GREETING = 'hi'\n"}),
        status=422,
        code="validation_failed",
        says=("handler.py:1: no handler found",),
    ),
    "manifest with a bad kind and setting type": Bad(
        "POST",
        "/v1/functions",
        upload(
            {
                "handler.py": GREETER_HANDLER,
                "function.toml": 'kind = "sink"\n[settings.url]\ntype = "url"\n',
            }
        ),
        status=422,
        code="validation_failed",
        says=("function.toml:1: kind: ", "settings.url.type: "),
    ),
    "manifest that is not TOML": Bad(
        "POST",
        "/v1/functions",
        upload({"handler.py": GREETER_HANDLER, "function.toml": "name = \n"}),
        status=422,
        code="validation_failed",
        says=("function.toml:1: Invalid value",),
    ),
    "a new version of another kind": Bad(
        "POST",
        "/v1/functions/{function}/versions",
        upload(
            {
                "handler.py": "def on_request(request, settings):\n    return None\n",
                "function.toml": 'kind = "source"\n',
            }
        ),
        status=422,
        code="validation_failed",
        says=("kind: destination expected, got source",),
    ),
    "a function name taken": Bad(
        "POST",
        "/v1/functions",
        upload({"handler.py": GREETER_HANDLER + "# other\n"}, name="greeter"),
        status=409,
        code="conflict",
        says=("'greeter' exists",),
    ),
    # Settings against the manifest.
    "setting of the wrong type": Bad(
        "POST",
        "/v1/functions/{function}/deploy",
        {"instance": "{instance}", "settings": {**SETTINGS, "retries": "three"}},
        status=422,
        code="validation_failed",
        says=("settings.retries: must be a number, got str",),
    ),
    "required setting missing": Bad(
        "POST",
        "/v1/functions/{function}/deploy",
        {"source": "mobile", "settings": {"greeting": "hi"}},
        status=422,
        code="validation_failed",
        says=("settings.token: required (string)",),
    ),
    "undeclared setting": Bad(
        "PATCH",
        "/v1/instances/{instance}",
        {"settings": {**SETTINGS, "colour": "blue"}},
        status=422,
        code="validation_failed",
        says=("settings.colour: not declared in the manifest",),
    ),
    "test with settings that do not fit": Bad(
        "POST",
        "/v1/versions/{version}/test",
        {"event": TRACK, "settings": {"greeting": True}},
        status=422,
        code="validation_failed",
        says=("settings.greeting: must be a string, got bool", "settings.token: required"),
    ),
    "rollback to another function's version": Bad(
        "POST",
        "/v1/instances/{instance}/rollback",
        {"version": "{other_function_version}"},
        says=("belongs to another function",),
    ),
}


def test_bad_input_is_refused_and_stores_nothing(
    api: Api, ids: dict[str, str], subtests: pytest.Subtests
):
    before = api.acme.snapshot()
    for name, case in BAD_BODIES.items():
        with subtests.test(name):
            check(send(api, case, ids), case)
            assert api.acme.snapshot() == before


def check_refused(api: Api, case: Bad, ids: dict[str, str]) -> None:
    before = api.acme.snapshot()
    check(send(api, case, ids), case)
    assert api.acme.snapshot() == before


def send(api: Api, case: Bad, ids: dict[str, str]) -> Reply:
    """``case`` as acme, its path and body filled with ``ids``."""
    path = case.path.format(**ids)
    if case.raw is not None:
        return api.acme.request(case.method, path, raw=case.raw)
    return api.acme.request(case.method, path, fill(case.body, ids))


def fill(body: Any, ids: dict[str, str]) -> Any:
    """``body`` with ``"{name}"`` strings replaced by ids."""
    if isinstance(body, dict):
        return {k: fill(v, ids) for k, v in body.items()}
    if isinstance(body, str) and re.fullmatch(r"\{\w+\}", body):
        return ids[body[1:-1]]
    return body


# -- unknown ids, and other workspaces' ids --------------------------------------------------

# route -> (method, path, body, the kind of id {x} is)
NOT_FOUND = {
    "function": ("GET", "/v1/functions/{x}", None, "function"),
    "function's versions": ("GET", "/v1/functions/{x}/versions", None, "function"),
    "upload to function": ("POST", "/v1/functions/{x}/versions", {"files": GOOD}, "function"),
    "deploy function": ("POST", "/v1/functions/{x}/deploy", {"settings": SETTINGS}, "function"),
    "instances of function": ("GET", "/v1/instances?function={x}", None, "function"),
    "version": ("GET", "/v1/versions/{x}", None, "version"),
    "diff from version": ("GET", "/v1/versions/{x}/diff/{version}", None, "version"),
    "diff to version": ("GET", "/v1/versions/{version}/diff/{x}", None, "version"),
    "test version": ("POST", "/v1/versions/{x}/test", {"event": TRACK}, "version"),
    "deploy version": ("POST", "/v1/functions/{function}/deploy", {"version": "{x}"}, "version"),
    "rollback to version": (
        "POST",
        "/v1/instances/{instance}/rollback",
        {"version": "{x}"},
        "version",
    ),
    "deploy to source": ("POST", "/v1/functions/{function}/deploy", {"source": "{x}"}, "source"),
    "deploy to instance": (
        "POST",
        "/v1/functions/{function}/deploy",
        {"instance": "{x}"},
        "instance",
    ),
    "test with instance": (
        "POST",
        "/v1/versions/{version}/test",
        {"event": TRACK, "instance": "{x}"},
        "instance",
    ),
    "instance": ("GET", "/v1/instances/{x}", None, "instance"),
    "patch instance": ("PATCH", "/v1/instances/{x}", {"enabled": False}, "instance"),
    "rollback instance": (
        "POST",
        "/v1/instances/{x}/rollback",
        {"version": "{version}"},
        "instance",
    ),
}
UNKNOWN_IDS = {
    "function": "fn_0000000000000000",
    "version": "ver_00000000000000000000",
    "instance": "in_0000000000000000",
    "source": "src_0000000000000000",
}


@pytest.mark.parametrize("whose", ["unknown", "globex's"])
def test_ids_that_are_unknown_or_another_workspaces_are_not_found(
    api: Api, ids: dict[str, str], whose: str, subtests: pytest.Subtests
):
    if whose == "unknown":
        xs = UNKNOWN_IDS
    else:
        xs = {
            "function": ids["globex_function"],
            "version": ids["globex_version"],
            "instance": api.globex.deploy(ids["globex_function"])["id"],
            "source": api.globex.create_source("web")["source"]["id"],
        }
    before = api.acme.snapshot()
    for route, (method, path, body, kind) in NOT_FOUND.items():
        with subtests.test(route):
            reply = send(api, Bad(method, path, body), {**ids, "x": xs[kind]})

            assert reply.status == 404, reply
            assert reply.body["error"]["code"] == "not_found"
            assert xs[kind] in reply.body["error"]["message"]
            assert api.acme.snapshot() == before


# -- keys and workspaces ------------------------------------------------------------------------

CREATE_SOURCE = Bad("POST", "/v1/sources", {"name": "sneaky"})
LIST_FUNCTIONS = Bad("GET", "/v1/functions")
UNAUTHORIZED = {
    "no Authorization header": ({}, "missing Authorization: Bearer <api key> header"),
    "an unknown key": ({"Authorization": "Bearer fk_not-a-key"}, "unknown API key"),
    "another scheme": ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "must be 'Bearer <key>'"),
    "Bearer without a key": ({"Authorization": "Bearer "}, "must be 'Bearer <key>'"),
    "a bare key": ({"Authorization": "admin-key"}, "must be 'Bearer <key>'"),
}


def test_requests_without_a_valid_key_are_401(api: Api, subtests: pytest.Subtests):
    before = api.acme.snapshot()
    for name, (headers, says) in UNAUTHORIZED.items():
        for route in (CREATE_SOURCE, LIST_FUNCTIONS):
            with subtests.test(f"{name}, {route.method}"):
                reply = api.anonymous.request(route.method, route.path, route.body, headers=headers)

                check(reply, Bad("", "", status=401, code="unauthorized", says=(says,)))
                assert api.acme.snapshot() == before
    assert api.admin.ok("GET", "/v1/sources") == {"sources": []}


ADMIN_ONLY = {
    "create a workspace": Bad("POST", "/v1/workspaces", {"name": "initech"}),
    "list workspaces": Bad("GET", "/v1/workspaces"),
    "create a key": Bad("POST", "/v1/workspaces/{workspace}/keys"),
}


def test_admin_routes_refuse_workspace_keys(api: Api, subtests: pytest.Subtests):
    forbidden = Bad("", "", status=403, code="forbidden", says=("admin API key",))
    workspaces, before = api.admin.ok("GET", "/v1/workspaces"), api.acme.snapshot()
    for name, case in ADMIN_ONLY.items():
        with subtests.test(name):
            check(send(api, case, {"workspace": api.acme_id}), forbidden)

            assert api.admin.ok("GET", "/v1/workspaces") == workspaces
            assert api.acme.snapshot() == before


def test_a_workspace_key_cannot_name_another_workspace(api: Api, subtests: pytest.Subtests):
    as_globex_in_acme = api.client(api.globex_key, workspace=api.acme_id)
    forbidden = Bad("", "", status=403, code="forbidden", says=("another workspace",))
    before = api.acme.snapshot()
    for route in (CREATE_SOURCE, LIST_FUNCTIONS):
        with subtests.test(route.method):
            reply = as_globex_in_acme.request(route.method, route.path, route.body)

            check(reply, forbidden)
            assert api.acme.snapshot() == before
    assert api.globex.ok("GET", "/v1/sources") == {"sources": []}


def test_the_admin_key_in_an_unknown_workspace_is_404(api: Api):
    in_nowhere = api.client(api.admin_key, workspace="ws_0000000000000000")

    reply = in_nowhere.post("/v1/sources", {"name": "web"})

    check(reply, Bad("", "", status=404, code="not_found", says=("ws_0000000000000000",)))


def test_unknown_routes_are_404_json(api: Api):
    for method, path in [
        ("GET", "/v1/nothing"),
        ("DELETE", "/v1/functions"),
        ("GET", "/nothing-here"),
        ("GET", "/v1/functions/"),
    ]:
        reply = api.acme.request(method, path)

        assert reply == (404, {"error": {"code": "not_found", "message": "no such route"}})


# -- bodies that once answered 500 -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/functions"), ("POST", "/v1/sources"), ("PATCH", "/v1/instances/{instance}")],
)
def test_a_body_that_is_not_utf8_is_400(api: Api, ids: dict[str, str], method: str, path: str):
    check_refused(api, Bad(method, path, raw=b"\xff\xfe{}", code="invalid_request"), ids)


def test_an_array_body_is_422(api: Api, ids: dict[str, str]):
    body = [{"name": "web2"}, {"name": "web3"}]
    case = Bad("POST", "/v1/sources", status=422, code="invalid_request", says=("body: ",))
    before = api.acme.snapshot()

    reply = api.acme.post("/v1/sources", body)

    check(reply, case)
    assert reply.body["error"]["message"] == "the body must be a JSON object"
    assert reply.body["error"]["problems"] == ["body: must be a JSON object, got list"]
    assert api.acme.snapshot() == before


def test_a_json_body_without_a_content_type_is_taken_as_json(api: Api):
    sent = {"Authorization": f"Bearer {api.acme_key}"}  # no Content-Type at all
    reply = api.send("POST", "/v1/sources", sent, b'{"name": "untyped"}')
    assert reply.status == 201, reply
    assert reply.body["source"]["name"] == "untyped"


def test_a_deep_event_to_test_a_version_with_is_400_before_it_runs(api: Api, ids: dict[str, str]):
    # The event field takes any JSON object, so the body passes validation; the
    # caller's depth check must still refuse it before the sandbox sees it.
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    raw = b'{"event": {"type": "track", "event": "e", "userId": "u", "properties": {"x": '
    reply = api.acme.request("POST", f"/v1/versions/{ids['version']}/test", raw=raw + deep + b"}}}")
    assert reply.status == 400, reply
    assert reply.body["error"]["message"] == (
        f"the body nests objects and arrays more than {MAX_DEPTH} levels deep"
    )


def nested_settings(levels: int) -> bytes:
    """A PATCH body whose settings hold ``levels`` nested arrays: the body is
    ``levels + 2`` levels deep, the settings ``levels + 1``."""
    return b'{"settings": {"x": ' + b"[" * levels + b"]" * levels + b"}}"


def test_the_depth_limits_of_a_body_and_of_its_settings_meet_exactly(api: Api, ids: dict[str, str]):
    path = f"/v1/instances/{ids['instance']}"
    fits = api.acme.request("PATCH", path, raw=nested_settings(MAX_DEPTH - 1))
    # settings of exactly MAX_DEPTH levels pass both depth checks and reach the schema's
    assert fits.status == 422, fits
    assert fits.body["error"]["problems"] == ["settings.x: not declared in the manifest"]
    before = api.acme.snapshot()
    deep_settings = api.acme.request("PATCH", path, raw=nested_settings(MAX_DEPTH))
    assert deep_settings.status == 422, deep_settings  # the body still fits; the settings not
    assert deep_settings.body["error"]["message"] == "the request is invalid"
    deep_body = api.acme.request("PATCH", path, raw=nested_settings(MAX_DEPTH + 1))
    assert deep_body.status == 400, deep_body
    assert deep_body.body["error"]["message"] == (
        f"the body nests objects and arrays more than {MAX_DEPTH} levels deep"
    )
    assert api.acme.snapshot() == before


def test_testing_with_an_instance_of_another_function_is_refused(api: Api, ids: dict[str, str]):
    case = Bad(
        "POST",
        "/v1/versions/{other_function_version}/test",
        {"event": TRACK, "instance": "{instance}"},
        says=("belongs to another function",),
    )
    check_refused(api, case, ids)


def test_authentication_comes_before_body_validation(api: Api):
    for raw in (b'{"name": ', b'{"nom": "web"}'):
        reply = api.anonymous.request("POST", "/v1/sources", raw=raw)

        assert reply.status == 401, reply


def test_a_damaged_zip_is_400(api: Api, ids: dict[str, str]):
    case = Bad("POST", "/v1/functions", {"zip": corrupt_deflate_zip()}, says=("zip",))
    check_refused(api, case, ids)


def test_a_handler_that_is_not_valid_unicode_is_refused(api: Api, ids: dict[str, str]):
    raw = (
        b'{"files": {"handler.py": "def on_track(event, settings):\\n    return \\"\\ud800\\"\\n"}}'
    )
    case = Bad("POST", "/v1/functions", raw=raw, status=422, code="validation_failed")
    check_refused(api, case, ids)


def test_a_body_that_is_not_json_content_is_415(api: Api, ids: dict[str, str]):
    before = api.acme.snapshot()

    reply = api.acme.post("/v1/sources", {"name": "web2"}, headers={"Content-Type": "text/plain"})

    assert reply.status == 415, reply
    assert api.acme.snapshot() == before


# -- JSON the platform cannot carry, bodies it does not take (issue 12) -----------------------

BODY_ROUTES = [
    ("POST", "/v1/functions"),
    ("POST", "/v1/functions/{function}/versions"),
    ("POST", "/v1/functions/{function}/deploy"),
    ("PATCH", "/v1/instances/{instance}"),
    ("POST", "/v1/instances/{instance}/rollback"),
    ("POST", "/v1/instances/{instance}/replay"),
    ("POST", "/v1/versions/{version}/test"),
    ("POST", "/v1/sources"),
]


def nested_raw(levels: int) -> bytes:
    return b'{"settings": {"x": ' + b"[" * levels + b"]" * levels + b"}}"


@pytest.mark.parametrize("levels", [100, 5000])
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_body_nested_too_deeply_is_400(
    api: Api, ids: dict[str, str], method: str, path: str, levels: int
):
    case = Bad(method, path, raw=nested_raw(levels), code="invalid_request", says=("64 levels",))
    check_refused(api, case, ids)


NAN_SETTINGS = b'{"greeting": NaN, "token": "t0k"}'


@pytest.mark.parametrize(
    ("method", "path", "raw"),
    [
        ("POST", "/v1/functions/{function}/deploy", b'{"settings": ' + NAN_SETTINGS + b"}"),
        ("PATCH", "/v1/instances/{instance}", b'{"settings": ' + NAN_SETTINGS + b"}"),
        (
            "POST",
            "/v1/versions/{version}/test",
            b'{"event": {"type": "track", "event": "e", "userId": "u"}, "settings": {"greeting":'
            b' "hi", "token": "t", "n": 1e400}}',
        ),
    ],
)
def test_settings_json_cannot_carry_are_refused_not_stored_as_null(
    api: Api, ids: dict[str, str], method: str, path: str, raw: bytes
):
    case = Bad(method, path, raw=raw, status=422, code="invalid_request", says=("JSON cannot",))
    check_refused(api, case, ids)


def test_a_test_event_json_cannot_carry_is_rejected_alone(api: Api, ids: dict[str, str]):
    good = json.dumps(TRACK).encode()
    settings = json.dumps(SETTINGS).encode()
    raw = (
        b'{"settings": '
        + settings
        + b', "events": ['
        + good
        + b', {"type": "track", "event": "e", "userId": "u", "properties": {"v": NaN}}, '
        + b'{"type": "track", "event": "e", "userId": "u", "properties": {"v": -1e400}}, '
        + good
        + b"]}"
    )
    path = f"/v1/versions/{ids['version']}/test"

    reply = api.acme.request("POST", path, raw=raw)

    assert reply.status == 200, reply
    outcomes = [r["outcome"] for r in reply.body["results"]]
    assert outcomes == ["delivered", "rejected", "rejected", "delivered"]
    assert "JSON cannot carry" in reply.body["results"][1]["error"]["message"]
    single = b'{"settings": ' + settings + b', "event": {"type": "track", "event": "e",'
    single += b' "userId": "u", "properties": {"v": Infinity}}}'
    alone = api.acme.request("POST", path, raw=single)
    assert (alone.status, alone.body["outcome"]) == (200, "rejected"), alone


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("multipart/form-data", b'{"enabled": false}'),
        ("multipart/form-data; boundary=xyz", b'{"enabled": false}'),
        ("application/x-www-form-urlencoded", b"enabled=false"),
    ],
)
def test_a_body_that_is_not_json_by_its_type_is_415_and_changes_nothing(
    api: Api, ids: dict[str, str], content_type: str, raw: bytes
):
    before = api.acme.snapshot()

    reply = api.acme.request(
        "PATCH", f"/v1/instances/{ids['instance']}", raw=raw, headers={"Content-Type": content_type}
    )

    assert reply.status == 415, reply
    assert reply.body["error"] == {
        "code": "unsupported_media_type",
        "message": "send JSON (Content-Type: application/json)",
    }
    assert api.acme.snapshot() == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/json;charset=UTF-8", "application/json"],
)
def test_json_with_parameters_is_json(api: Api, content_type: str):
    reply = api.acme.request(
        "POST", "/v1/sources", raw=b'{"name": "typed"}', headers={"Content-Type": content_type}
    )

    assert reply.status == 201, reply
    assert reply.body["source"]["name"] == "typed"


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "BREW"])
def test_a_method_no_route_takes_is_a_json_405(api: Api, method: str):
    reply = api.acme.request(method, "/v1/functions")

    assert reply.status == 405, reply
    assert reply.body["error"]["code"] == "method_not_allowed"
