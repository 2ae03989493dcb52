"""Masking: records are masked in every encoded form; data never is (issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from functions_sdk._context import InvocationContext
from functions_sdk._masking import MIN_FREE_TEXT, Masker
from functions_sdk.settings import Settings


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(max_workers=4) as p:
        yield p


def _spec(src: str, settings: dict[str, Any], **kw: Any) -> InstanceSpec:
    return InstanceSpec(
        key=InstanceSpec.key_for(src, settings, kw.get("kind")),
        source=textwrap.dedent(src),
        filename="handler.py",
        settings=settings,
        secret_names=tuple(kw.pop("secret_names", ("key",))),
        **kw,
    )


# --------------------------------------------------------------------------- data


def test_insert_function_forwards_data_unmasked(pool: WorkerPool) -> None:
    src = """
    def on_track(event, settings):
        return event
    """
    event = {"type": "track", "event": "Cab Booked", "userId": "abigail"}
    [result] = pool.invoke(_spec(src, {"key": "ab"}, kind="insert"), [event])
    assert result["outcome"] == "delivered"
    assert result["result"]["userId"] == "abigail"
    assert result["result"]["event"] == "Cab Booked"


def test_result_is_data_and_unmasked(pool: WorkerPool) -> None:
    src = """
    def on_track(event, settings):
        return {"id": "la-ab-1"}
    """
    [result] = pool.invoke(
        _spec(src, {"key": "ab"}), [{"type": "track", "event": "e", "userId": "u"}]
    )
    assert result["result"] == {"id": "la-ab-1"}


def test_batch_results_unmasked(pool: WorkerPool) -> None:
    src = """
    def on_track(event, settings):
        return event

    def on_batch(events, settings):
        return [{"user": e.userId, "key": settings["key"]} for e in events]
    """
    events = [{"type": "track", "event": "e", "userId": "long-secret-value-1"}]
    results = pool.invoke(_spec(src, {"key": "long-secret-value-1"}), events, batch=True)
    assert results[0]["result"] == {"user": "long-secret-value-1", "key": "long-secret-value-1"}


# --------------------------------------------------------------------------- records


SECRET = 'pa"ss\\wörd-42'  # a quote, a backslash, non-ASCII


def test_recorded_request_masks_escaped_and_quoted_forms(pool: WorkerPool) -> None:
    src = """
    import urllib.parse
    from functions_sdk import fetch

    def on_track(event, settings):
        key = settings["key"]
        query = "q=" + urllib.parse.quote(key) + "&p=" + urllib.parse.quote_plus(key)
        fetch("https://api.test/x?" + query, method="POST", json={"k": key, "again": [key]})
        fetch("https://api.test/y", method="POST", body=repr(key))
        raise ValueError("bad key " + repr(key))
    """
    mocks = [{"url": "https://api.test/*", "body": "ok"}]
    spec = _spec(src, {"key": SECRET})
    [result] = pool.invoke(spec, [{"type": "track", "event": "e", "userId": "u"}], mocks=mocks)
    shown = json.dumps(result["requests"]) + json.dumps(result["error"])
    for form in (
        SECRET,
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        quote(SECRET),
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        repr(SECRET)[1:-1],
    ):
        assert form not in shown and json.dumps(form)[1:-1] not in shown, form
    assert result["requests"][0]["request_body"] == '{"k":"***","again":["***"]}'
    assert result["error"]["message"] == "bad key '***'"


def test_numbers_and_nested_secret_values_are_masked() -> None:
    settings = Settings(
        {
            "pin": 12345678,
            "creds": {"user": "svc", "inner": {"pw": "nested-pw-1"}},
            "list": ["array-secret"],
        },
        secret_names=("pin", "creds", "list"),
    )
    ctx = InvocationContext(secrets=settings.secret_values())
    assert ctx.redact("pin 12345678, pw nested-pw-1, a array-secret") == "pin ***, pw ***, a ***"


def test_short_secret_masked_only_as_a_whole_value() -> None:
    assert MIN_FREE_TEXT == 6
    masker = Masker(("ab",))
    assert masker.mask("abigail booked a Cab") == "abigail booked a Cab"
    assert masker.mask('{"key":"ab","user":"abigail"}') == '{"key":"***","user":"abigail"}'
    assert masker.mask_value("ab") == "***"


_OVERLAP = """
from functions_sdk._context import InvocationContext
ctx = InvocationContext(secrets=("abc", "abcdef", "cdefgh"))
print(ctx.redact("1 abcdef 2 abcdefgh 3 xabcdefx 4 abc"))
"""


def test_overlapping_secrets_fully_masked_whatever_the_hash_seed() -> None:
    outputs = set()
    for seed in ("0", "1", "2", "3", "4", "5"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _OVERLAP], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(done.stdout.strip())
    assert outputs == {"1 *** 2 *** 3 x***x 4 abc"}
