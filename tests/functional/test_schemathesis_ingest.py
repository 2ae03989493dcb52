"""Property-based requests to ingest and the control plane that must never answer 5xx.

Ingest is not in the OpenAPI document (it is the Segment tracking API), so it is
described here (``INGEST``) and schemathesis generates valid and invalid requests from
that. Generated JSON never holds what broke the server before (``NaN``, ``Infinity``,
``1e400``, nesting past the parsers, a ``context`` that is not an object), so
``hostile_json`` writes such bodies as raw text, for ingest and for every control-plane
route that takes a body. Bounded and derandomized; the server is the one of
``test_schemathesis`` (the app on the local adapter, over a seeded embedded plane).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.functional.test_schemathesis import Live, live  # noqa: F401 (the fixture)

EXAMPLES = 30
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

_ANY: dict[str, Any] = {}
_MESSAGE = {
    "type": "object",
    "properties": {
        "type": {"enum": ["track", "identify", "page", "screen", "group", "alias"]},
        "event": {"type": "string"},
        "userId": {"type": "string"},
        "anonymousId": {"type": "string"},
        "messageId": {"type": "string"},
        "properties": {"type": "object"},
        "traits": {"type": "object"},
        "context": _ANY,
        "timestamp": _ANY,
    },
}
_BODY = {"required": True, "content": {"application/json": {"schema": _MESSAGE}}}
_BATCH = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["batch"],
                "properties": {"batch": {"type": "array", "items": _MESSAGE}, "context": _ANY},
            }
        }
    },
}
INGEST = {
    "openapi": "3.0.3",
    "info": {"title": "ingest", "version": "1"},
    "paths": {
        "/v1/track": {"post": {"requestBody": _BODY, "responses": {"200": {"description": "ok"}}}},
        "/v1/identify": {
            "post": {"requestBody": _BODY, "responses": {"200": {"description": "ok"}}}
        },
        "/v1/batch": {"post": {"requestBody": _BATCH, "responses": {"200": {"description": "ok"}}}},
    },
}


def write_key(live: Live) -> str:  # noqa: F811
    """A source of the seeded workspace with the seeded function deployed to it."""
    source = call(live, "POST", "/v1/sources", {"name": "fuzzed-ingest"})
    call(
        live,
        "POST",
        f"/v1/functions/{live.ids['function']}/deploy",
        {"source": source["source"]["id"]},
    )
    return str(source["write_key"])


def call(live: Live, method: str, path: str, body: Any) -> Any:  # noqa: F811
    request = urllib.request.Request(
        live.url + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={
            "Authorization": f"Bearer {live.keys['workspace']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def send(live: Live, method: str, path: str, raw: bytes, headers: dict[str, str]) -> int:  # noqa: F811
    request = urllib.request.Request(live.url + path, data=raw, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


@pytest.fixture(scope="module")
def key(live: Live) -> str:  # noqa: F811
    return write_key(live)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.mark.parametrize("path", sorted(INGEST["paths"]))
def test_ingest_never_answers_5xx(live: Live, key: str, path: str) -> None:  # noqa: F811
    operation = schemathesis.openapi.from_dict(INGEST)[path]["POST"]
    strategy = st.one_of(
        [operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    )

    @given(case=strategy)
    @SETTINGS
    def run(case: Any) -> None:
        case.call_and_validate(base_url=live.url, headers=basic(key), checks=[not_a_server_error])

    run()


# -- JSON text no generator writes -----------------------------------------------------------

ODD_NUMBERS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "1"])
LEAVES = st.one_of(
    ODD_NUMBERS, st.sampled_from(['"x"', '"\\ud800"', "null", "true", "{}", "[]", '"s"'])
)


@st.composite
def nested(draw: st.DrawFn) -> str:
    """A JSON value as text, sometimes nested far past every limit."""
    levels = draw(st.sampled_from([1, 3, 63, 65, 300, 1200, 5000]))
    leaf = draw(LEAVES)
    kind = draw(st.sampled_from(["[", '{"a":']))
    close = "]" if kind == "[" else "}"
    return kind * levels + leaf + close * levels


def json_text(value: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(value, ODD_NUMBERS, LEAVES)


@st.composite
def message(draw: st.DrawFn) -> str:
    fields = [
        '"type": "track"',
        '"event": "e"',
        '"userId": "u"',
        f'"properties": {{"v": {draw(json_text(nested()))}}}',
    ]
    if draw(st.booleans()):
        fields.append(f'"context": {draw(json_text(nested()))}')
    return "{" + ", ".join(fields) + "}"


@st.composite
def batch(draw: st.DrawFn) -> str:
    messages = draw(st.lists(message(), min_size=1, max_size=4))
    shared = draw(st.sampled_from(['{"library": {"name": "x"}}', '"ctx"', "[1]", "null"]))
    return f'{{"batch": [{", ".join(messages)}], "context": {shared}}}'


@given(body=st.one_of(message(), batch()), single=st.booleans())
@SETTINGS
def test_ingest_never_answers_5xx_to_hostile_json(
    live: Live,  # noqa: F811
    key: str,
    body: str,
    single: bool,
) -> None:
    path = "/v1/track" if single and not body.startswith('{"batch"') else "/v1/batch"
    headers = {**basic(key), "Content-Type": "application/json"}

    status = send(live, "POST", path, body.encode(), headers)

    assert status < 500, (path, body[:300])


CONTROL_BODIES = [
    ("POST", "/v1/functions/{function}/deploy", '{{"settings": {{"x": {value}}}}}'),
    ("PATCH", "/v1/instances/{instance_id}", '{{"settings": {{"x": {value}}}}}'),
    ("POST", "/v1/versions/{version_id}/test", '{{"event": {value}}}'),
    ("POST", "/v1/versions/{version_id}/test", '{{"events": [{{"type": "track"}}, {value}]}}'),
    ("POST", "/v1/instances/{instance_id}/replay", '{{"include": {value}}}'),
    ("POST", "/v1/sources", '{{"name": {value}}}'),
]


@given(
    route=st.sampled_from(CONTROL_BODIES),
    value=json_text(nested()),
    media=st.sampled_from(
        [
            "application/json",
            "multipart/form-data",
            "multipart/form-data; boundary=b",
            "application/x-www-form-urlencoded",
        ]
    ),
)
@SETTINGS
def test_control_plane_never_answers_5xx_to_hostile_json(
    live: Live,  # noqa: F811
    route: tuple[str, str, str],
    value: str,
    media: str,
) -> None:
    method, path, template = route
    target = path.format(
        function=live.ids["function"],
        instance_id=live.ids["instance_id"],
        version_id=live.ids["version_id"],
    )
    headers = {"Authorization": f"Bearer {live.keys['workspace']}", "Content-Type": media}

    status = send(live, method, target, template.format(value=value).encode(), headers)

    assert status < 500, (method, target, media, value[:300])
