"""``validate`` (compile_function) and the runtime agree on the idioms of issue 13.

Accepted idioms run (test_corpus.py). Refused code is refused at upload, on the line
that holds the problem, with the allowed alternative where one exists.
"""

from __future__ import annotations

import textwrap

import pytest

from functions_runtime.sandbox.compiler import compile_function

REFUSALS = [
    (
        """
        from abc import ABCMeta

        class Base(metaclass=ABCMeta):
            pass
        """,
        1,
        '"ABCMeta" is not available from "abc"',
    ),
    (
        """
        import abc

        class Base(metaclass=abc.ABCMeta):
            pass
        """,
        3,
        "derive from abc.ABC or enum.Enum",
    ),
    (
        """
        import operator
        """,
        1,
        "available modules: abc, base64, collections",
    ),
    (
        """
        def f(value):
            match value:
                case {"a": 1}:
                    return 1
                case object(_secret=s):
                    return s
        """,
        5,
        "read it in the case body instead",
    ),
    (
        """
        class Money:
            def __add__(self, other):
                return Money()

            def __getattr__(self, name):
                return name
        """,
        5,
        "special methods allowed in classes are: __abs__, __add__",
    ),
    (
        """
        class Money:
            def plus(self, other):
                return self.__add__(other)
        """,
        3,
        'attributes starting with "__"',
    ),
    (
        """
        async def send():
            pass
        """,
        1,
        "write a plain def",
    ),
    (
        """
        def f():
            __slots__ = ("a",)
        """,
        2,
        'use one leading underscore ("_name")',
    ),
]


@pytest.mark.parametrize(("source", "line", "hint"), REFUSALS)
def test_refusals_name_the_line_and_the_alternative(source: str, line: int, hint: str) -> None:
    source = textwrap.dedent(source).lstrip("\n") + "\n\ndef on_track(event, settings):\n    pass\n"
    report = compile_function(source)
    assert not report.ok
    assert any(p.line == line and hint in p.message for p in report.errors), [
        str(p) for p in report.errors
    ]


def test_a_class_of_annotated_fields_compiles() -> None:
    source = "class Row:\n    id: str\n    qty: int\n\ndef on_track(event, settings):\n    pass\n"
    assert compile_function(source).ok
