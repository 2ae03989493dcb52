"""The compiler and our RestrictedPython policy: what is accepted, what is refused, how."""

from __future__ import annotations

import textwrap

import pytest

from functions_runtime.sandbox.compiler import MAX_AST_DEPTH, compile_function


def compile_src(src: str, kind: str = "destination"):
    return compile_function(textwrap.dedent(src), "fn/handler.py", kind)


def messages(src: str) -> list[str]:
    return [str(p) for p in compile_src(src).errors]


ORDINARY = """
from __future__ import annotations
from typing import Any, Optional
import json
from functions_sdk import TrackEvent, Settings, RetryError

LIMIT: int = 3
_cache: dict[str, Any] = {}

class Batch:
    size: int

    def __init__(self, name: str) -> None:
        self._items: list[str] = []
        self.count = 0
        self.name = name

    @property
    def items(self) -> list[str]:
        return list(self._items)

    def add(self, item: str) -> None:
        self._items.append(item)
        self.count += 1

class UpstreamDown(RetryError):
    def __init__(self, status: int) -> None:
        super().__init__(f"upstream {status}")

def _label(event: TrackEvent) -> str:
    return f"{event.event!r}:{len(event.properties)}"

def on_track(event: TrackEvent, settings: Settings) -> Optional[dict[str, Any]]:
    b = Batch("x")
    b.add(_label(event))
    counts = {"a": 0}
    counts["a"] += 1
    squares = [n * n for n in range(LIMIT) if n]
    pairs = {k: v for k, v in event.properties.items()}
    total = 0
    for i, sq in enumerate(squares):
        total += i * sq
    return {"items": b.items, "n": b.count, "sq": squares, "p": pairs, "t": total,
            "j": json.dumps(counts)}
"""


def test_ordinary_python_compiles():
    report = compile_src(ORDINARY)
    assert report.ok, report.errors
    assert report.handlers == ("on_track",)


def test_annotations_are_removed_not_evaluated():
    # An annotation that would raise if evaluated must be harmless.
    report = compile_src(
        """
        def on_track(event: undefined_name[1 / 0], settings: "also.bad") -> explode():
            x: int
            y: missing = 2
            return y
        """
    )
    assert report.ok, report.errors
    assert "undefined_name" not in report.code.co_names  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("x = ().__class__", '".__class__": attributes starting with "__"'),
        ("x = __builtins__", "reserved for the runtime"),
        ("_getattr_ = 1", "reserved for the runtime's guards"),
        ("import os", 'module "os" is not available'),
        ("import subprocess", 'module "subprocess" is not available'),
        ("from json import codecs", '"codecs" is not available from "json"'),
        ("from . import x", "relative imports"),
        ("exec('1')", "Exec calls are not allowed"),
        ("eval('1')", "Eval calls are not allowed"),
        ("async def f(): pass", "async functions are not supported"),
        ("def f():\n    _x_ = 1\n    def g():\n        nonlocal _x_\n", "reserved for the runtime"),
        ("match 1:\n    case object(_p=v): pass", "read it in the case body instead"),
        ("try:\n    pass\nexcept* ValueError:\n    pass", "except* is not supported"),
        ("class A(metaclass=type): pass", "derive from abc.ABC or enum.Enum"),
        ("x = (lambda: 0).__globals__", '".__globals__"'),
        ("def g():\n    yield 1\nx = g().gi_frame", "gi_frame"),
        ("class A:\n    def __del__(self): pass", '"__del__" cannot be defined'),
        ("class A:\n    def __getattr__(self, n): pass", '"__getattr__" cannot be defined'),
        ("def f(_write_=1, /): pass", "reserved for the runtime's guards"),
        ("class A:\n    def m(self):\n        return self.__x", 'attributes starting with "__"'),
        ("print = 1", "reserved name"),
        ("from x import *", "not available"),
    ],
)
def test_refusals_name_the_line_and_say_what_to_do(src: str, expected: str):
    source = src + "\n\ndef on_track(event, settings):\n    return None\n"
    errors = messages(source)
    assert errors, f"expected a refusal for {src!r}"
    assert any(expected in e for e in errors), errors
    assert all(e.startswith("fn/handler.py:") for e in errors)


def test_every_error_is_reported_not_just_the_first():
    errors = messages(
        """
        import os
        import sys
        x = ().__class__
        def on_track(event, settings):
            return None
        """
    )
    assert len(errors) == 3
    assert [e.split(":")[1] for e in errors] == ["2", "3", "4"]


def test_no_handler_is_an_error():
    errors = messages("def helper(x):\n    return x\n")
    assert errors == [
        "fn/handler.py:1: no handler found: a destination function defines at least one of "
        "on_track, on_identify, on_page, on_screen, on_group, on_alias, on_delete, on_batch "
        "at the top level of the module"
    ]


def test_handler_signature_is_checked():
    errors = messages("def on_track(event):\n    return None\n")
    assert errors == ["fn/handler.py:1: on_track must take two arguments (event, settings)"]


def test_source_function_needs_on_request():
    report = compile_src("def on_request(request, settings):\n    return None\n", "source")
    assert report.ok


def test_syntax_error_is_a_problem_with_its_line():
    errors = messages("def on_track(event, settings):\n    return (\n")
    assert len(errors) == 1
    assert errors[0].startswith("fn/handler.py:2: syntax error")


def test_deep_nesting_is_refused_not_a_crash():
    deep = "x = " + "[" * 150 + "1" + "]" * 150 + "\n"
    errors = messages(deep + "def on_track(event, settings):\n    return None\n")
    assert len(errors) == 1
    assert f"the limit is {MAX_AST_DEPTH} levels" in errors[0]


@pytest.mark.parametrize("terms", [400, 5000])
def test_long_operator_chain_is_a_problem_not_a_crash(terms: int):
    # ast.parse accepts 400 chained "+" but RestrictedPython's recursive transformer
    # raised RecursionError on such input; 5000 fails in the parser itself.
    chain = "x = " + " + ".join(["1"] * terms) + "\n"
    errors = messages(chain + "def on_track(event, settings):\n    return None\n")
    assert len(errors) == 1
    assert "nested" in errors[0]


def test_oversize_source_is_refused():
    errors = messages("x = 1\n" * 60_000)
    assert "the limit is" in errors[0]


def test_null_bytes_are_a_problem_not_a_crash():
    errors = messages("x = 1\x00\n")
    assert errors
