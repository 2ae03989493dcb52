"""Property-based requests from the OpenAPI document, against a running server.

The app (every route, as ``functions serve`` runs it) is served by the local adapter on
127.0.0.1 in a thread, over an embedded plane seeded with a function (two versions),
a source and an instance. For every operation, schemathesis generates valid and invalid
requests, half of them aimed at the seeded records, and checks that the server never
answers 5xx and that every answer matches its documented schema. It runs once with a
workspace key and once with the admin key; each operation is a test of its own, bounded
and derandomized. The 5xx it found (bodies that are not UTF-8) is pinned, one exact
request per operation, by ``test_a_body_that_is_not_utf8_is_not_a_server_error``.

(``schemathesis.pytest.from_fixture`` fails on pytest 9 — it sets ``node._nodeid`` —
so the operations are driven with ``operation.as_strategy()`` and hypothesis directly.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from functions_runtime.api.app import build_app
from functions_runtime.api.local import LocalApiServer
from functions_runtime.control.auth import authenticate
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.service import ControlPlane
from functions_runtime.delivery.embedded import open_delivery
from functions_runtime.delivery.ingest import SINGLE_TYPES, Ingest
from functions_runtime.sandbox.host.pool import WorkerPool
from tests.functional.conftest import ADMIN_KEY

HANDLER = "def on_track(event, settings):\n    return {'seen': event.type}\n"
MANIFEST = 'name = "fuzzed"\n'  # declares no settings: every test shares one warm worker
EXAMPLES = 25

OPERATIONS = [
    "POST /v1/workspaces",
    "GET /v1/workspaces",
    "POST /v1/workspaces/{workspace_id}/keys",
    "POST /v1/functions",
    "GET /v1/functions",
    "GET /v1/functions/{function}",
    "POST /v1/functions/{function}/versions",
    "GET /v1/functions/{function}/versions",
    "GET /v1/versions/{version_id}",
    "GET /v1/versions/{version_id}/diff/{other_id}",
    "POST /v1/versions/{version_id}/test",
    "POST /v1/functions/{function}/deploy",
    "GET /v1/instances",
    "GET /v1/instances/{instance_id}",
    "PATCH /v1/instances/{instance_id}",
    "POST /v1/instances/{instance_id}/rollback",
    "GET /v1/instances/{instance_id}/deliveries",
    "GET /v1/instances/{instance_id}/stats",
    "POST /v1/instances/{instance_id}/replay",
    "POST /v1/sources",
    "GET /v1/sources",
    "POST /v1/sources/{source_id}/webhook-token",
    "GET /v1/audit",
    "POST /v1/validate",
    "POST /v1/test",
    "POST /v1/libraries",
    "GET /v1/libraries",
    "GET /v1/libraries/{name}",
    "POST /v1/libraries/{name}/versions",
    "GET /v1/libraries/{name}/versions/{version_id}",
]
# In the document, not fuzzed here: they delete the seeded records or replace the keys
# the other operations are fuzzed with (test_cli_operate.py and the contract tests
# cover them).
UNFUZZED = [
    "DELETE /v1/functions/{function}",
    "DELETE /v1/instances/{instance_id}",
    "DELETE /v1/sources/{source_id}",
    "POST /v1/sources/{source_id}/write-key",
    "POST /v1/keys/rotate",
]
WITH_BODY = [
    label
    for label in OPERATIONS
    if label.split()[0] != "GET" and not label.endswith(("/keys", "/webhook-token"))
]
NON_UTF8_BODY = b"\xff\xfe{}"


INGEST_PATHS = {f"/v1/{kind}" for kind in (*SINGLE_TYPES, "batch", "import")}


@dataclass(frozen=True)
class Live:
    url: str
    keys: dict[str, str]  # "workspace" / "admin" -> key
    workspace: str  # the seeded workspace
    ids: dict[str, str]  # path parameter -> a seeded record's id


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data: Path = tmp_path_factory.mktemp("fuzzed")
    backend, delivery = open_embedded(data), open_delivery(data)
    with WorkerPool(max_workers=4) as pool:
        plane = ControlPlane(backend, pool, allow=())
        plane.bootstrap(ADMIN_KEY)
        admin = authenticate(plane.store, f"Bearer {ADMIN_KEY}")
        workspace, key = plane.create_workspace(admin, "acme")
        ws = workspace.id
        files = {"handler.py": HANDLER, "function.toml": MANIFEST}
        function, v1 = plane.create_function(admin, ws, files=files)
        v2 = plane.upload_version(
            admin, ws, function.id, files={**files, "handler.py": HANDLER + "#"}
        )
        source, _ = plane.create_source(admin, ws, "web")
        instance = plane.deploy(admin, ws, function.id, version_id=v1.id, source_id=source.id)
        plane.push_library(admin, ws, "acme_utils", {"__init__.py": "X = 1\n"})

        ingest = Ingest(plane.store, delivery.queue, delivery.deliveries)
        server = LocalApiServer(("127.0.0.1", 0), lambda: build_app(plane, ingest, delivery))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield Live(
                url=f"http://127.0.0.1:{server.server_address[1]}",
                keys={"workspace": key, "admin": ADMIN_KEY},
                workspace=ws,
                ids={
                    "function": function.id,
                    "version_id": v1.id,
                    "other_id": v2.id,
                    "instance_id": instance.id,
                    "workspace_id": ws,
                    "source_id": source.id,
                    "name": "acme_utils",
                },
            )
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


@pytest.fixture(scope="module")
def schema(live: Live) -> Any:
    return schemathesis.openapi.from_url(live.url + "/openapi.json")


def test_every_operation_is_fuzzed(schema: Any):
    operations = [result.ok() for result in schema.get_all_operations()]

    assert {op.label for op in operations} == set(OPERATIONS) | set(UNFUZZED)
    assert {op.label for op in operations if op.body} == set(WITH_BODY)


def cases(operation: Any, ids: dict[str, str]) -> st.SearchStrategy[Any]:
    """Valid and invalid requests, to made-up ids and to the seeded records."""
    seeded = {p.name: ids[p.name] for p in operation.path_parameters}
    return st.one_of(
        [
            operation.as_strategy(mode, path_parameters=params)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            for params in (None, seeded)
        ]
    )


def sends_utf8(case: Any, url: str) -> bool:
    data = case.as_transport_kwargs(base_url=url).get("data")
    if not isinstance(data, bytes):
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def headers_for(live: Live, who: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {live.keys[who]}"}
    if who == "admin":
        headers["X-Functions-Workspace"] = live.workspace
    return headers


CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.mark.parametrize("label", OPERATIONS)
@pytest.mark.parametrize("who", ["workspace", "admin"])
def test_operation_answers_by_its_schema_and_never_5xx(
    live: Live, schema: Any, who: str, label: str
):
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    headers = headers_for(live, who)

    @given(case=cases(operation, live.ids))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS)

    run()


@pytest.mark.parametrize("label", WITH_BODY)
def test_a_body_that_is_not_utf8_is_not_a_server_error(live: Live, schema: Any, label: str):
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    seeded = {p.name: live.ids[p.name] for p in operation.path_parameters}
    case = operation.Case(path_parameters=seeded, body=NON_UTF8_BODY, media_type="application/json")

    case.call_and_validate(base_url=live.url, headers=headers_for(live, "admin"), checks=CHECKS)


def test_every_operation_documents_its_success_refusals_and_auth(live: Live, schema: Any):
    document = schema.raw_schema
    missing = [
        f"{method.upper()} {path}: no 2xx response"
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if not any(code.startswith("2") for code in op.get("responses", {}))
    ]
    missing += [  # what a client must expect of every operation: refusals, with their shape
        f"{method.upper()} {path}: no {code} response"
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        for code in ("400", "401", "404")
        if code not in op.get("responses", {})
    ]
    # ingest (write key, raw Segment bodies) is not the control plane's to document
    missing += [f"{path}: an ingest route" for path in document["paths"] if path in INGEST_PATHS]
    if not document.get("components", {}).get("securitySchemes"):
        missing.append("no securitySchemes (Authorization: Bearer <api key>)")

    assert missing == []


@pytest.mark.parametrize("label", [label for label in UNFUZZED if "{" in label])
def test_deleting_or_rotating_made_up_records_never_5xx(live: Live, schema: Any, label: str):
    """The destructive operations, aimed at made-up ids only (the seeded records stay)."""
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    headers = headers_for(live, "admin")
    strategy = st.one_of(
        [operation.as_strategy(m) for m in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        assert set(case.path_parameters.values()).isdisjoint(live.ids.values())
        case.call_and_validate(base_url=live.url, headers=headers, checks=CHECKS)

    run()
