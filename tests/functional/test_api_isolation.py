"""Workspace isolation, route by route: globex's key gets nothing of acme's.

The routes come from the app's own OpenAPI document, so a new route fails
``test_every_route_has_isolation_probes`` until it is added to ``PROBES``. Each probe
is a request with globex's key that names acme's records (by id or by name). It must
be refused (404, or 403 for admin routes), or, for list and create routes, answer
with globex's own records only. No answer may carry acme data the request did not
already hold, and acme's records must not change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tests.functional.conftest import (
    GREETER_HANDLER,
    GREETER_MANIFEST,
    TRACK,
    Api,
    Reply,
    function_files,
)

ACME_HANDLER = GREETER_HANDLER + "# acme-code-marker\n"
GLOBEX_HANDLER = GREETER_HANDLER + "# globex\n"
ACME_SETTINGS = {"greeting": "acme-greeting-value", "token": "acme-token-value"}
GLOBEX_SETTINGS = {"greeting": "globex-greeting", "token": "globex-token"}

DENIED = "denied"  # 404 (or 403): nothing of acme's, and nothing changed
OWN = "own"  # 2xx with globex's own records only
NEUTRAL = "neutral"  # 2xx about no record at all (compiling unsaved code)


@dataclass(frozen=True)
class Probe:
    path: str  # formatted with the ids of the ``world`` fixture
    body: Any = None
    expect: str = DENIED


PROBES: dict[tuple[str, str], list[Probe]] = {
    ("POST", "/v1/workspaces"): [Probe("/v1/workspaces", {"name": "acme-2"})],
    ("GET", "/v1/workspaces"): [Probe("/v1/workspaces")],
    ("POST", "/v1/workspaces/{workspace_id}/keys"): [Probe("/v1/workspaces/{acme}/keys")],
    ("GET", "/v1/functions"): [Probe("/v1/functions", expect=OWN)],
    ("GET", "/v1/functions/{function}"): [
        Probe("/v1/functions/{fn}"),
        Probe("/v1/functions/acme-only-fn"),
    ],
    ("GET", "/v1/functions/{function}/versions"): [
        Probe("/v1/functions/{fn}/versions"),
        Probe("/v1/functions/acme-only-fn/versions"),
    ],
    ("POST", "/v1/functions/{function}/versions"): [
        Probe("/v1/functions/{fn}/versions", {"files": function_files(GLOBEX_HANDLER + "#2")}),
    ],
    ("GET", "/v1/versions/{version_id}"): [Probe("/v1/versions/{v1}")],
    ("GET", "/v1/versions/{version_id}/diff/{other_id}"): [
        Probe("/v1/versions/{v1}/diff/{v2}"),
        Probe("/v1/versions/{gv}/diff/{v1}"),
        Probe("/v1/versions/{v1}/diff/{gv}"),
    ],
    ("POST", "/v1/versions/{version_id}/test"): [
        Probe("/v1/versions/{v1}/test", {"event": TRACK, "settings": GLOBEX_SETTINGS}),
        # acme's instance would hand acme's settings (and secret) to globex's code
        Probe("/v1/versions/{gv}/test", {"event": TRACK, "instance": "{instance}"}),
    ],
    ("POST", "/v1/functions/{function}/deploy"): [
        Probe("/v1/functions/{fn}/deploy", {"settings": GLOBEX_SETTINGS}),
        Probe("/v1/functions/{gfn}/deploy", {"source": "{source}"}),
        Probe("/v1/functions/{gfn}/deploy", {"version": "{v1}"}),
        Probe("/v1/functions/{gfn}/deploy", {"instance": "{instance}"}),
    ],
    ("GET", "/v1/instances"): [
        Probe("/v1/instances", expect=OWN),
        Probe("/v1/instances?function={fn}"),
    ],
    ("GET", "/v1/instances/{instance_id}"): [Probe("/v1/instances/{instance}")],
    ("PATCH", "/v1/instances/{instance_id}"): [
        Probe("/v1/instances/{instance}", {"enabled": False}),
        Probe("/v1/instances/{instance}", {"settings": GLOBEX_SETTINGS}),
    ],
    ("POST", "/v1/instances/{instance_id}/rollback"): [
        Probe("/v1/instances/{instance}/rollback", {"version": "{v1}"}),
        Probe("/v1/instances/{ginstance}/rollback", {"version": "{v1}"}),
    ],
    ("GET", "/v1/instances/{instance_id}/deliveries"): [
        Probe("/v1/instances/{instance}/deliveries"),
        Probe("/v1/instances/{instance}/deliveries?outcome=delivered&limit=10"),
    ],
    ("GET", "/v1/instances/{instance_id}/stats"): [Probe("/v1/instances/{instance}/stats")],
    ("POST", "/v1/instances/{instance_id}/replay"): [
        Probe("/v1/instances/{instance}/replay", {"include": ["failed", "rejected"]}),
        Probe("/v1/instances/{ginstance}/replay", {"version": "{v1}"}),
    ],
    ("GET", "/v1/sources"): [Probe("/v1/sources", expect=OWN)],
    ("GET", "/v1/audit"): [Probe("/v1/audit?limit=1000", expect=OWN)],
    # Creating records with acme's names makes globex's own, separate records.
    ("POST", "/v1/functions"): [
        Probe(
            "/v1/functions",
            {"files": function_files(GLOBEX_HANDLER + "#3"), "name": "acme-only-fn"},
            expect=OWN,
        )
    ],
    ("POST", "/v1/sources"): [Probe("/v1/sources", {"name": "acme-only-src"}, expect=OWN)],
    # Rotating acme's webhook token (by id or by name) would hand globex acme's webhook.
    ("POST", "/v1/sources/{source_id}/webhook-token"): [
        Probe("/v1/sources/{source}/webhook-token"),
        # (by name, "acme-only-src" names globex's own source once the create probe
        # above has made one: names resolve in the caller's workspace)
    ],
    # Deleting or re-keying acme's records (by id or by name) with globex's key.
    ("DELETE", "/v1/functions/{function}"): [Probe("/v1/functions/{fn}")],
    ("DELETE", "/v1/instances/{instance_id}"): [Probe("/v1/instances/{instance}")],
    ("DELETE", "/v1/sources/{source_id}"): [Probe("/v1/sources/{source}")],
    ("POST", "/v1/sources/{source_id}/write-key"): [Probe("/v1/sources/{source}/write-key")],
    # Rotating voids the caller's own key, so it cannot run among the probes above:
    # test_rotating_a_key_touches_only_the_callers_key covers it.
    ("POST", "/v1/keys/rotate"): [],
    # Compiling unsaved code touches no records; running it with acme's instance would
    # hand acme's settings (and secret) to globex's code.
    ("POST", "/v1/validate"): [
        Probe("/v1/validate", {"files": function_files(GLOBEX_HANDLER)}, expect=NEUTRAL)
    ],
    ("POST", "/v1/test"): [
        Probe(
            "/v1/test",
            {"files": function_files(GLOBEX_HANDLER), "event": TRACK, "instance": "{instance}"},
        )
    ],
    # Libraries: acme's are not found; globex's of the same name is its own (made last).
    ("GET", "/v1/libraries/{name}"): [Probe("/v1/libraries/acme_lib")],
    ("GET", "/v1/libraries/{name}/versions/{version_id}"): [
        Probe("/v1/libraries/acme_lib/versions/{lv}"),
        Probe("/v1/libraries/acme_lib/versions/{v1}"),
    ],
    ("POST", "/v1/libraries/{name}/versions"): [
        Probe("/v1/libraries/acme_lib/versions", {"files": {"__init__.py": "X = 2\n"}})
    ],
    ("GET", "/v1/libraries"): [Probe("/v1/libraries", expect=OWN)],
    ("POST", "/v1/libraries"): [
        Probe(
            "/v1/libraries",
            {"name": "acme_lib", "files": {"__init__.py": "X = 3\n"}},
            expect=OWN,
        )
    ],
}
ACME_LIBRARY = {"__init__.py": "MARK = 'acme-lib-marker'\n"}


@pytest.fixture
def world(api: Api) -> dict[str, str]:
    """acme's function (two versions), source and instance; globex's own likewise."""
    acme = api.acme.create_function(function_files(ACME_HANDLER, GREETER_MANIFEST), "acme-only-fn")
    fn = acme["function"]["id"]
    v2 = api.acme.upload(fn, function_files(ACME_HANDLER + "# v2\n", GREETER_MANIFEST))
    source = api.acme.create_source("acme-only-src")["source"]["id"]
    instance = api.acme.deploy(fn, source=source, settings=ACME_SETTINGS)["id"]

    globex = api.globex.create_function(function_files(GLOBEX_HANDLER, GREETER_MANIFEST), "gfn")
    gfn = globex["function"]["id"]
    api.globex.create_source("globex-src")
    ginstance = api.globex.deploy(gfn, settings=GLOBEX_SETTINGS)["id"]
    library = api.acme.ok(
        "POST", "/v1/libraries", {"name": "acme_lib", "files": ACME_LIBRARY}, status=201
    )
    return {
        "lib": library["library"]["id"],
        "lv": library["version"]["id"],
        "acme": api.acme_id,
        "fn": fn,
        "v1": acme["version"]["id"],
        "v2": v2["version"]["id"],
        "source": source,
        "instance": instance,
        "gfn": gfn,
        "gv": globex["version"]["id"],
        "ginstance": ginstance,
    }


def acme_secrets(api: Api, world: dict[str, str]) -> set[str]:
    """Every string that identifies acme's data."""
    entries = api.acme.ok("GET", "/v1/audit")["entries"]
    actors = {e["actor"] for e in entries if e["action"] != "workspace.create"}  # not admin's
    return {
        api.acme_id,
        api.acme_key,
        *actors,
        *(world[k] for k in ("fn", "v1", "v2", "source", "instance", "lib", "lv")),
        "acme-lib-marker",
        "acme-only-fn",
        "acme-only-src",
        "acme-code-marker",
        *ACME_SETTINGS.values(),
    }


def acme_state(api: Api, world: dict[str, str]) -> Any:
    return (
        api.acme.snapshot(),
        api.acme.ok("GET", f"/v1/functions/{world['fn']}/versions"),
        api.acme.ok("GET", f"/v1/instances/{world['instance']}"),
    )


def records(body: Any) -> list[dict[str, Any]]:
    """The records in a list or create answer."""
    found: list[dict[str, Any]] = []
    for value in body.values():
        if isinstance(value, list):
            found.extend(item for item in value if isinstance(item, dict))
        elif isinstance(value, dict):
            found.append(value)
    return found


def check_probe(api: Api, method: str, probe: Probe, world: dict[str, str], secret: set[str]):
    path = probe.path.format(**world)
    body = fill(probe.body, world)
    sent = path + json.dumps(body)
    for workspace in (None, api.acme_id):
        reply: Reply = api.globex.request(method, path, body, workspace=workspace)
        leaked = {s for s in secret if s in json.dumps(reply.body) and s not in sent}
        assert not leaked, (reply, leaked)
        if workspace is not None:  # naming acme's workspace with globex's key
            assert reply.status == 403, reply
        elif probe.expect == DENIED:
            assert reply.status in (403, 404), reply
        elif probe.expect == NEUTRAL:
            assert reply.status == 200, reply
        else:
            assert reply.status in (200, 201), reply
            assert {r["workspace_id"] for r in records(reply.body)} <= {api.globex_id}, reply


def fill(body: Any, world: dict[str, str]) -> Any:
    if body is None:
        return None
    text = json.dumps(body)
    for name, value in world.items():
        text = text.replace("{" + name + "}", value)
    return json.loads(text)


def routes_in_openapi(api: Api) -> set[tuple[str, str]]:
    reply = api.anonymous.get("/openapi.json")
    assert reply.status == 200
    return {(method.upper(), path) for path, ops in reply.body["paths"].items() for method in ops}


def test_every_route_has_isolation_probes(api: Api):
    routes = routes_in_openapi(api)

    assert routes - PROBES.keys() == set(), "add isolation probes for these routes"
    assert PROBES.keys() - routes == set(), "these probed routes are gone"


def test_globex_gets_nothing_of_acmes_on_any_route(
    api: Api, world: dict[str, str], subtests: pytest.Subtests
):
    secret = acme_secrets(api, world)
    before = acme_state(api, world)

    for (method, route), probes in PROBES.items():
        for probe in probes:
            with subtests.test(f"{method} {route} as {probe.path}"):
                check_probe(api, method, probe, world, secret)
                assert acme_state(api, world) == before

    # globex's lists hold only globex's records, and its own records still work.
    names = [f["name"] for f in api.globex.ok("GET", "/v1/functions")["functions"]]
    assert sorted(names) == ["acme-only-fn", "gfn"]
    assert api.acme.ok("GET", "/v1/functions/acme-only-fn")["function"]["id"] == world["fn"]
    tested = api.globex.ok(
        "POST", f"/v1/versions/{world['gv']}/test", {"event": TRACK, "instance": world["ginstance"]}
    )
    assert tested["result"] == {"greeting": "globex-greeting", "user": TRACK["userId"]}


def test_code_identical_to_another_workspaces_is_just_uploaded(
    api: Api, world: dict[str, str], request: pytest.FixtureRequest
):
    reply = api.globex.post(
        "/v1/functions", {"files": function_files(ACME_HANDLER, GREETER_MANIFEST), "name": "copy"}
    )

    assert reply.status == 201, reply
    assert reply.body["version"]["workspace_id"] == api.globex_id


def test_rotating_a_key_touches_only_the_callers_key(api: Api, world: dict[str, str]):
    """globex rotates its key, naming acme's workspace or not: acme's key and records are
    untouched, the new key reaches globex only, and the old one is void."""
    refused = api.globex.request("POST", "/v1/keys/rotate", None, workspace=api.acme_id)
    assert refused.status == 403, refused

    reply = api.globex.request("POST", "/v1/keys/rotate", None)
    assert reply.status in (200, 201), reply
    new_key = reply.body["api_key"]
    assert api.globex.request("GET", "/v1/functions").status == 401  # the old key is void
    assert api.acme.request("GET", f"/v1/functions/{world['fn']}").status == 200
    fresh = api.client(new_key)
    listed = fresh.request("GET", "/v1/functions")
    assert listed.status == 200, listed
    assert {r["workspace_id"] for r in records(listed.body)} <= {api.globex_id}
    assert fresh.request("GET", f"/v1/functions/{world['fn']}").status == 404
