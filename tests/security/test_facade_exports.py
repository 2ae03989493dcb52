"""Facades whose names are computed once (``guest/modules.py``, ``_FIXED``).

Most curated modules export the same module-level functions, classes and constants on
every import, so their name lists are built once per process and each import gets a
copy. These tests pin what that must not change: every import is a facade of its own
with a dict of its own, the cached lists are never handed out, what one event does to
its facades is not seen by the next, and the builders that make new objects per
import (``random``'s generator, ``typing``'s placeholders, the SDK's nested ``store``
facade) still do.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.guest import modules
from functions_runtime.sandbox.guest.modules import EXPORTS, Facade, build_module
from functions_runtime.sandbox.guest.worker import Runner
from functions_sdk.events import parse_event

EVENT = {"type": "track", "event": "Order Completed", "userId": "u1", "properties": {}}


def _exports(facade: Facade) -> dict[str, Any]:
    exports: dict[str, Any] = object.__getattribute__(facade, "_facade_exports")
    return exports


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_each_import_is_a_facade_with_a_dict_of_its_own(name: str) -> None:
    first, second = build_module(name), build_module(name)
    assert first is not second
    assert _exports(first) is not _exports(second)
    assert set(_exports(first)) == set(_exports(second)) == set(EXPORTS[name])
    assert all(_exports(first) is not fixed for fixed in modules._FIXED.values())


def test_a_changed_facade_dict_changes_neither_the_cache_nor_the_next_import() -> None:
    facade = build_module("json")
    _exports(facade)["dumps"] = "replaced"
    del _exports(facade)["loads"]
    again = build_module("json")
    assert _exports(again)["dumps"] is modules._json_dumps
    assert _exports(again)["loads"] is modules._json_loads
    assert modules._FIXED["json"]["dumps"] is modules._json_dumps


def test_builders_that_make_objects_per_import_still_do() -> None:
    first, second = build_module("random"), build_module("random")
    assert _exports(first)["random"].__self__ is not _exports(second)["random"].__self__
    assert _exports(build_module("typing"))["Any"] is not _exports(build_module("typing"))["Any"]
    sdk_one, sdk_two = build_module("functions_sdk"), build_module("functions_sdk")
    assert _exports(sdk_one)["store"] is not _exports(sdk_two)["store"]
    assert _exports(_exports(sdk_one)["store"]) is not _exports(_exports(sdk_two)["store"])
    assert {"random", "typing", "functions_sdk"} == modules._PER_IMPORT
    assert modules._PER_IMPORT.isdisjoint(modules._FIXED)


def test_the_cache_holds_the_builders_answers() -> None:
    for name, fixed in modules._FIXED.items():
        assert fixed == modules._BUILDERS[name]()


def test_what_one_event_does_to_its_modules_is_not_seen_by_the_next() -> None:
    """Through the worker's Runner: each event tries to replace names on its facades
    (refused: modules are read-only) and finds the real ones again."""
    source = textwrap.dedent(
        """
        import json
        import hashlib
        from functions_sdk import store

        def on_track(event, settings):
            refused = []
            for target, name in ((json, "dumps"), (hashlib, "sha256"), (store, "get")):
                try:
                    setattr(target, name, None)
                except Exception as exc:
                    refused.append(type(exc).__name__)
            dumps = json.dumps({"a": 1})
            return {"refused": refused, "dumps": dumps, "sha": hasattr(hashlib, "sha256")}
        """
    )
    report = compile_function(source, "handler.py")
    assert report.code is not None, report.errors
    runner = Runner(report.code, "handler.py", "destination", None)
    message = {"op": "invoke", "events": [EVENT], "settings": {}, "secret_names": []}
    results = [runner.run_one(dict(EVENT), message) for _ in range(3)]
    for result in results:
        assert result["outcome"] == "delivered", result
        assert result["result"]["dumps"] == '{"a": 1}'
        assert result["result"]["refused"] == ["SandboxAccessError"] * 3
        assert result["result"]["sha"] is True
    assert parse_event(EVENT).event == "Order Completed"
