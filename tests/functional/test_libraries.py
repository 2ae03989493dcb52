"""Shared libraries through the API (both backends) and the CLI against ``functions serve``.

The README's story: a workspace pushes ``acme_utils``; any of its functions imports it
by name; deploying pins the library's version on the instance, so a later push changes
nothing deployed until the instance is deployed again; another workspace never sees it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from functions_runtime.delivery.dispatch import Dispatcher
from tests.functional.conftest import TRACK, Api
from tests.functional.test_serve import ADMIN_KEY, base_env, functions, ok_json, serving

V1 = {
    "__init__.py": "from .text import greet\n",
    "text.py": "def greet(n):\n    return 'hi ' + n\n",
}
V2 = {**V1, "text.py": "def greet(n):\n    return 'hello ' + n\n"}
HANDLER = """\
import acme_utils
from acme_utils.text import greet


def on_track(event, settings):
    return {"a": acme_utils.greet(event.userId), "b": greet("b")}
"""


def push(api: Api, files: dict[str, str], name: str = "acme_utils") -> dict[str, Any]:
    reply = api.acme.post(f"/v1/libraries/{name}/versions", {"files": files})
    if reply.status == 404:
        reply = api.acme.post("/v1/libraries", {"name": name, "files": files})
    assert reply.status == 201, reply
    return dict(reply.body)


def result(api: Api, instance: dict[str, Any]) -> Any:
    body = {"event": TRACK, "instance": instance["id"]}
    reply = api.acme.ok("POST", f"/v1/versions/{instance['version_id']}/test", body)
    assert reply["outcome"] == "delivered", reply
    return reply["result"]


def test_a_deployed_instance_keeps_its_library_version_until_redeployed(api: Api):
    v1 = push(api, V1)["version"]
    assert v1["files"] == ["acme_utils/__init__.py", "acme_utils/text.py"]
    fn = api.acme.create_function({"handler.py": HANDLER}, name="greeter")["function"]["id"]
    instance = api.acme.deploy(fn)
    assert instance["libraries"] == {"acme_utils": v1["id"]}
    assert result(api, instance) == {"a": "hi user-1", "b": "hi b"}

    v2 = push(api, V2)["version"]
    assert v2["number"] == 2
    # Pushed, not deployed: the instance (and its deliveries) still run version 1.
    assert result(api, instance) == {"a": "hi user-1", "b": "hi b"}
    plane = api.plane
    spec = Dispatcher(plane.backend, api.delivery, plane.pool).spec_for(api.acme_id, instance["id"])
    assert spec is not None
    assert dict(spec.modules)["acme_utils/text.py"] == V1["text.py"]

    redeployed = api.acme.deploy(fn)
    assert redeployed["libraries"] == {"acme_utils": v2["id"]}
    assert result(api, redeployed) == {"a": "hello user-1", "b": "hello b"}
    audit = api.acme.ok("GET", "/v1/audit")["entries"]
    assert audit[0]["details"]["libraries"] == {"acme_utils": v2["id"]}


def test_a_version_of_a_library_that_does_not_exist_is_not_found_and_creates_nothing(api: Api):
    reply = api.acme.post(
        "/v1/libraries/ghost_utils/versions", {"files": {"__init__.py": "X = 1\n"}}
    )
    assert reply.status == 404, reply
    assert api.acme.ok("GET", "/v1/libraries") == {"libraries": []}


def test_libraries_are_listed_apart_from_functions_and_versioned_by_content(api: Api):
    first = push(api, V1)
    assert push(api, V1)["version"]["id"] == first["version"]["id"]  # same files
    assert [f["name"] for f in api.acme.ok("GET", "/v1/libraries")["libraries"]] == ["acme_utils"]
    assert api.acme.ok("GET", "/v1/functions")["functions"] == []
    shown = api.acme.ok("GET", "/v1/libraries/acme_utils")
    assert [v["number"] for v in shown["versions"]] == [1]
    # A library is not deployed.
    reply = api.acme.post(f"/v1/functions/{first['library']['id']}/deploy", {})
    assert reply.status == 400


def test_a_library_is_never_visible_from_another_workspace(api: Api):
    push(api, V1)
    assert api.globex.ok("GET", "/v1/libraries")["libraries"] == []
    assert api.globex.get("/v1/libraries/acme_utils").status == 404
    reply = api.globex.post("/v1/functions", {"files": {"handler.py": HANDLER}, "name": "g"})
    assert reply.status == 422
    assert 'module "acme_utils" is not available' in reply.body["error"]["problems"][0]
    # globex's own acme_utils is its own: acme's instances never see it.
    api.globex.ok("POST", "/v1/libraries", {"name": "acme_utils", "files": V2}, status=201)
    fn = api.acme.create_function({"handler.py": HANDLER}, name="greeter")["function"]["id"]
    assert result(api, api.acme.deploy(fn)) == {"a": "hi user-1", "b": "hi b"}


def test_library_code_is_checked_like_a_function_and_named_by_path(api: Api):
    bad = {"__init__.py": "", "net.py": "import socket\n", "deep/x.py": "y = ().__class__\n"}
    reply = api.acme.post("/v1/libraries", {"name": "acme_utils", "files": bad})
    assert reply.status == 422
    problems = reply.body["error"]["problems"]
    assert any(p.startswith("acme_utils/net.py:1: ") for p in problems), problems
    assert any(p.startswith("acme_utils/deep/x.py:1: ") for p in problems), problems
    for name in ("json", "functions_sdk"):
        reply = api.acme.post("/v1/libraries", {"name": name, "files": V1})
        assert reply.status == 422, reply
        assert "module the sandbox provides" in reply.body["error"]["problems"][0]
    assert api.acme.post("/v1/libraries", {"name": "x", "files": {"a.py": ""}}).status == 422
    # A function's name cannot be a library's too.
    plain = {"handler.py": "def on_track(event, settings):\n    return 1\n"}
    api.acme.create_function(plain, name="taken")
    assert api.acme.post("/v1/libraries", {"name": "taken", "files": V1}).status == 409


def test_the_cli_pushes_and_lists_libraries_and_deploys_against_them(tmp_path: Path):
    library = tmp_path / "acme_utils"
    library.mkdir()
    for path, text in V1.items():
        (library / path).write_text(text)
    function = tmp_path / "greeter"
    function.mkdir()
    (function / "handler.py").write_text(HANDLER)
    with serving(tmp_path / "data", base_env(FUNCTIONS_API_KEY=ADMIN_KEY)) as server:
        env = base_env(FUNCTIONS_API_URL=server.url, FUNCTIONS_API_KEY=ADMIN_KEY)
        pushed = ok_json(functions("libraries", "push", str(library), env=env))
        assert (pushed["library"], pushed["number"]) == ("acme_utils", 1)
        listed = functions("libraries", "list", env=env)
        assert listed.returncode == 0 and "acme_utils" in listed.stdout
        deployed = ok_json(functions("deploy", str(function), env=env))
        event = tmp_path / "track.json"
        event.write_text(json.dumps(TRACK))
        (library / "text.py").write_text(V2["text.py"])
        assert ok_json(functions("libraries", "push", str(library), env=env))["number"] == 2
        # The one instance is tested with its pins: the push changed nothing deployed.
        tested = ok_json(functions("test", "greeter", "--event", str(event), env=env))
        assert tested["result"] == {"a": "hi user-1", "b": "hi b"}
        assert deployed["instance"].startswith("in_")
