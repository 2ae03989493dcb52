"""Everyday Python behind the guard (``sandbox/guest/authoring.py``), pinned one by one.

The class hook (bases, metaclasses, ``__slots__``, ``NamedTuple``), ``str.format`` and
``string.Formatter`` through the guard, ``type()``, the ``logging`` stand-in and the
facades of ``dataclasses``, ``functools``, ``abc``, ``string`` and ``collections``.
Written against the mutants of authoring.py that the rest of the in-process suite let
pass (docs/TESTING.md, "Round 4"): each expectation is the exact value, or the error's
type and message. In-process, as the worker runs this code.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from test_guard_rules import refused, run

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.guest.authoring import AuthorLogger
from functions_runtime.sandbox.guest.guards import Guards
from functions_runtime.sandbox.guest.namespace import AUTHOR_BASES, build_globals
from functions_sdk import Settings
from functions_sdk._context import InvocationContext, activate
from functions_sdk.events import parse_event

BASES = (
    "classes in functions may derive from your own classes, object, Exception types, SDK "
    "errors, enum.Enum, abc.ABC, collections.abc classes, typing.NamedTuple / TypedDict / "
    "Protocol / Generic"
)
SLOTS = "__slots__ must be a tuple of plain attribute names"
PRELUDE = """
import typing
from typing import Generic, NamedTuple, Protocol, TypeVar
from abc import ABC
from enum import Enum
T = TypeVar("T")
class Own:
    def a(self):
        return "a"
class Two:
    def b(self):
        return "b"
"""


def run_logged(prelude: str, body: str) -> tuple[Any, list[str]]:
    """The handler's return value (or its error's type and message) and its log lines."""
    source = (
        textwrap.dedent(prelude)
        + "\ndef on_track(event, settings):\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
    )
    report = compile_function(source, "handler.py")
    assert report.ok and report.code is not None, [str(e) for e in report.errors]
    context = InvocationContext()
    with activate(context):
        namespace = build_globals(Guards(AUTHOR_BASES))
        exec(report.code, namespace)
        event = parse_event({"type": "track", "event": "E", "userId": "u"})
        try:
            result = namespace["on_track"](event, Settings({}))
        except Exception as exc:
            result = (type(exc).__name__, str(exc))
    return result, context.logs


# -- the class hook ------------------------------------------------------------------------

CLASS_CASES: list[tuple[str, str, Any]] = [
    ("slots_tuple", "class S:\n    __slots__ = ('x', 'y')\ns = S()\ns.y = 2\nreturn s.y", 2),
    ("slots_list", "class S:\n    __slots__ = ['x']\ns = S()\ns.x = 1\nreturn s.x", 1),
    ("slots_str", "class S:\n    __slots__ = 'x'\ns = S()\ns.x = 3\nreturn s.x", 3),
    ("slots_dunder", "class S:\n    __slots__ = ('__dict__',)", ("TypeError", f"class S: {SLOTS}")),
    (
        "slots_dunder_str",
        "class S:\n    __slots__ = '__dict__'",
        ("TypeError", f"class S: {SLOTS}"),
    ),
    ("slots_not_name", "class S:\n    __slots__ = ('a b',)", ("TypeError", f"class S: {SLOTS}")),
    ("slots_not_str", "class S:\n    __slots__ = (1,)", ("TypeError", f"class S: {SLOTS}")),
    ("slots_dict", "class S:\n    __slots__ = {'a': 1}", ("TypeError", f"class S: {SLOTS}")),
    (
        "host_base",
        "class X(dict):\n    pass",
        ("TypeError", f"class X cannot derive from dict; {BASES}"),
    ),
    (
        "str_without_enum",
        "class X(str):\n    pass",
        ("TypeError", f"class X cannot derive from str; {BASES}"),
    ),
    (
        "instance_base",
        "o = Own()\nclass X(o):\n    pass",
        ("TypeError", f"class X cannot derive from Own; {BASES}"),
    ),
    (
        "str_enum",
        "class C(str, Enum):\n    RED = 'r'\nreturn [C('r').name, C.RED == 'r', C.RED.upper()]",
        ["RED", True, "R"],
    ),
    (
        "enum_private_name",
        "class C(Enum):\n    _C__hidden = 2\n    A = 1\nreturn [m.name for m in C]",
        ["A"],
    ),
    ("two_bases", "class C(Own, Two):\n    pass\nreturn C().a() + C().b()", "ab"),
    ("generic", "class B(Generic[T], Own):\n    pass\nreturn B().a()", "a"),
    (
        "generic_twice",
        "class B(Protocol, Generic[T], Own):\n    pass\nreturn B[int]().a()",
        "a",
    ),
    (
        "typing_alias_base",
        "class M(typing.Mapping[str, int]):\n    def __getitem__(self, k):\n        return 1\n"
        "    def __iter__(self):\n        return iter(['k'])\n"
        "    def __len__(self):\n        return 1\n"
        "return [len(M()), dict(M())]",
        [1, {"k": 1}],
    ),
    ("abc_then_plain", "class X(ABC, Own):\n    pass\nreturn X().a()", "a"),
    (
        "meta_conflict",
        "class E(Enum):\n    pass\nclass A(ABC):\n    pass\nclass X(E, A):\n    pass",
        ("TypeError", "metaclass conflict between the bases"),
    ),
    (
        "named_tuple",
        "class P(NamedTuple):\n    x: int\n    y: int = 2\n    def total(self):\n"
        "        return self.x + self.y\n"
        "return [P(1).total(), P(1, 5).y, P(1, 5).total(), repr(P(4)), repr(P)]",
        [3, 5, 6, "P(x=4, y=2)", "<class 'handler.P'>"],
    ),
    ("named_tuple_empty", "class P(NamedTuple):\n    pass\nreturn len(P())", 0),
    ("own_repr", "return repr(Own()).split(' at ')[0]", "<handler.Own object"),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in CLASS_CASES], ids=[c[0] for c in CLASS_CASES]
)
def test_the_class_hook(body: str, expected: Any) -> None:
    assert run(PRELUDE, body) == expected


# -- str.format, string.Formatter, type() -----------------------------------------------------

FORMAT_CASES: list[tuple[str, str, Any]] = [
    ("item", "return '{0[a]}-{0[b]}'.format({'a': 1, 'b': 2})", "1-2"),
    ("keyword", "return '{a}'.format(a=1)", "1"),
    ("unbound_keyword", "return str.format('{a}{0}', 2, a=1)", "12"),
    ("format_map", "return '{a}'.format_map({'a': 1})", "1"),
    ("unbound_format_map", "return str.format_map('{a[k]}', {'a': {'k': 5}})", "5"),
    (
        "unbound_map_positional",
        "return str.format_map('{0}', {})",
        ("IndexError", "tuple index out of range"),
    ),
    (
        "format_map_positional",
        "return '{0}'.format_map({})",
        ("IndexError", "tuple index out of range"),
    ),
    (
        "unbound_not_str",
        "return str.format(1)",
        ("TypeError", "descriptor 'format' requires a 'str' object"),
    ),
    (
        "unbound_map_not_str",
        "return str.format_map(1, {})",
        ("TypeError", "descriptor 'format_map' requires a 'str' object"),
    ),
    (
        "map_refused",
        "return '{a.__class__}'.format_map({'a': 1})",
        refused('"__class__" is not available in functions (special attribute)'),
    ),
    (
        "formatter",
        "import string\nreturn string.Formatter().format('{0[a]}{x}', {'a': 1}, x=2)",
        "12",
    ),
    (
        "formatter_refused",
        "import string\nreturn string.Formatter().format('{0.__class__}', 1)",
        refused('"__class__" is not available in functions (special attribute)'),
    ),
    (
        "type_three",
        "return type('X', (), {})",
        (
            "TypeError",
            "type() with three arguments is not available in functions; write a class statement",
        ),
    ),
    (
        "type_of_class",
        "return type(Own)",
        ("TypeError", "type() of a class is not available in functions; compare classes directly"),
    ),
    (
        "type_checks",
        "return [issubclass(Own, type), isinstance(Own, type), isinstance(1, type), repr(type)]",
        [False, True, False, "<class 'type'>"],
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in FORMAT_CASES], ids=[c[0] for c in FORMAT_CASES]
)
def test_format_and_type(body: str, expected: Any) -> None:
    assert run(PRELUDE, body) == expected


# -- logging ----------------------------------------------------------------------


def logged(body: str) -> list[str]:
    def call() -> None:
        exec(textwrap.dedent(body), {"log": AuthorLogger("app"), "AuthorLogger": AuthorLogger})

    context = InvocationContext()
    with activate(context):
        call()
    return context.logs


def test_each_logger_method_logs_its_level_with_args_and_exc_info() -> None:
    body = """
    error = ValueError("v")
    log.debug("d %s", 1, exc_info=error)
    log.info("i %s", 2, exc_info=error)
    log.warning("w %s", 3, exc_info=error)
    log.warn("w %s", 4)
    log.error("e %s", 5, exc_info=error)
    log.critical("c %s", 6, exc_info=error)
    log.log(25, "l %s", 7)
    try:
        raise KeyError("k")
    except KeyError:
        log.exception("x %s", 8)
    log.info(42)
    log.info("%(a)s and %(b)s", {"a": 1, "b": 2})
    log.info("no placeholder", 9, 10)
    log.info("%d", "not a number")
    log.info("%s-%s", 1, 2)
    log.info("%s", (1, 2))
    """
    assert logged(body) == [
        "DEBUG d 1\nValueError: v",
        "INFO i 2\nValueError: v",
        "WARNING w 3\nValueError: v",
        "WARNING w 4",
        "ERROR e 5\nValueError: v",
        "CRITICAL c 6\nValueError: v",
        "LEVEL l 7",
        "ERROR x 8\nKeyError: 'k'",
        "INFO 42",
        "INFO 1 and 2",
        "INFO no placeholder 9 10",
        "INFO %d not a number",
        "INFO 1-2",
        "INFO (1, 2)",
    ]


def test_a_logger_s_levels() -> None:
    body = """
    assert log.name == "app" and log.level == 0 and log.isEnabledFor(0)
    assert AuthorLogger().name == "root"
    assert log.getChild("db").name == "app.db"
    log.setLevel("WARNING")
    assert log.level == 30 and log.isEnabledFor(30) and not log.isEnabledFor(29)
    log.info("hidden")
    log.warning("at the level")
    log.setLevel("NO SUCH LEVEL")
    assert log.level == 0
    log.setLevel(40.0)
    assert log.level == 40 and type(log.level) is int
    log.error("shown")
    log.exception("without the error", exc_info=False)
    """
    assert logged(body) == ["WARNING at the level", "ERROR shown", "ERROR without the error"]


def test_the_logging_module_of_functions() -> None:
    body = """
    root = logging.getLogger()
    app = logging.getLogger("app")
    assert logging.getLogger("app") is app and app is not root
    assert logging.getLogger(7).name == "7" and logging.getLogger(7) is logging.getLogger("7")
    assert [root.name, app.name] == ["root", "app"]
    levels = [logging.NOTSET, logging.DEBUG, logging.INFO, logging.WARNING, logging.WARN,
              logging.ERROR, logging.CRITICAL, logging.FATAL]
    logging.basicConfig(format="%(message)s")
    logging.debug("d")
    logging.basicConfig(level="INFO")
    logging.debug("hidden")
    logging.info("i")
    logging.warning("w")
    logging.error("e")
    logging.critical("c")
    logging.log(20, "l")
    try:
        1 / 0
    except ZeroDivisionError:
        logging.exception("x")
    app.debug("the root's level is not the app's")
    return levels
    """
    result, logs = run_logged("import logging", body)
    assert result == [0, 10, 20, 30, 30, 40, 50, 50]
    assert logs == [
        "DEBUG d",
        "INFO i",
        "WARNING w",
        "ERROR e",
        "CRITICAL c",
        "INFO l",
        "ERROR x\nZeroDivisionError: division by zero",
        "DEBUG the root's level is not the app's",
    ]


# -- dataclasses, string, collections, functools, abc ------------------------------

DC = (
    "from dataclasses import dataclass, field, fields, asdict, astuple, replace\n"
    "import dataclasses\n"
)
OWN_DC = "@dataclass\nclass D:\n    x: int\n    y: list = field(default_factory=list)\n"


def only(what: str) -> tuple[str, str]:
    return ("TypeError", f"dataclasses.{what}() takes an instance of your own dataclass")


FACADE_CASES: list[tuple[str, str, Any]] = [
    (
        "dataclass_functions",
        OWN_DC + "d = D(1)\nreturn [[f.name for f in fields(d)], asdict(d), astuple(d), "
        "replace(d, x=2).x, dataclasses.is_dataclass(d)]",
        [["x", "y"], {"x": 1, "y": []}, (1, []), 2, True],
    ),
    ("fields_host", "return fields(ValueError())", only("fields")),
    ("asdict_host", "return asdict(ValueError())", only("asdict")),
    ("astuple_host", "return astuple(ValueError())", only("astuple")),
    ("replace_host", "return replace(ValueError())", only("replace")),
    (
        "dataclass_host_class",
        "return dataclass(dict)",
        ("TypeError", "@dataclass applies to your own classes"),
    ),
    (
        "dataclass_not_class",
        "return dataclass(Own())",
        ("TypeError", "@dataclass applies to your own classes"),
    ),
    (
        "dataclass_options",
        "@dataclass(frozen=True, repr=False)\nclass F:\n    x: int\nf = F(1)\n"
        "try:\n    f.x = 2\nexcept dataclasses.FrozenInstanceError:\n"
        "    return [f.x, repr(f).split(' at ')[0]]",
        [1, "<handler.on_track.<locals>.F object"],
    ),
    (
        "dataclass_slots",
        "@dataclass(slots=True)\nclass F:\n    x: int\nreturn repr(F(1)) + repr(type(F(1)))",
        "on_track.<locals>.F(x=1)<class 'handler.on_track.<locals>.F'>",
    ),
    (
        "dataclass_names",
        "@dataclass\nclass K:\n    a: int\n    _: dataclasses.KW_ONLY\n    b: int = 0\n"
        "    c: dataclasses.InitVar[int] = 0\n"
        "return [K(1, b=2).b, dataclasses.MISSING is not None, "
        "issubclass(dataclasses.FrozenInstanceError, AttributeError), "
        "dataclasses.KW_ONLY is not None, dataclasses.InitVar[int] is not None]",
        [2, True, True, True, True],
    ),
    (
        "string_names",
        "import string\nreturn [string.ascii_letters, string.ascii_lowercase, "
        "string.ascii_uppercase, "
        "string.digits, string.hexdigits, string.octdigits, string.punctuation[:3], "
        "len(string.printable), string.whitespace, string.capwords('a b'), "
        "string.Template('$x').substitute(x=1)]",
        [
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "abcdefghijklmnopqrstuvwxyz",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "0123456789",
            "0123456789abcdefABCDEF",
            "01234567",
            '!"#',
            100,
            " \t\n\r\x0b\x0c",
            "A B",
            "1",
        ],
    ),
    (
        "namedtuple",
        "import collections\nNT = collections.namedtuple('NT', 'a b', defaults=[2])\n"
        "class Sub(NT):\n    def total(self):\n        return self.a + self.b\n"
        "return [repr(NT(1)), repr(NT), Sub(1).total()]",
        ["NT(a=1, b=2)", "<class 'handler.NT'>", 3],
    ),
    (
        "functools_names",
        "import functools\n"
        "return [functools.partial(max, 1)(2), functools.reduce(max, [1, 3]), "
        "functools.lru_cache(maxsize=2)(abs)(-1), functools.cache(abs)(-2), "
        "sorted([2, 1], key=functools.cmp_to_key(lambda a, b: a - b)), "
        "functools.cached_property.__name__]",
        [2, 3, 1, 2, [1, 2], "cached_property"],
    ),
    (
        "wraps_own",
        "import functools\ndef inner():\n    'the doc'\n    return 1\n"
        "@functools.wraps(inner)\ndef outer():\n    return inner()\n"
        "def other():\n    return 2\n"
        "return [outer.__name__, outer(), functools.update_wrapper(other, inner).__name__]",
        ["inner", 1, "inner"],
    ),
    (
        "wraps_host",
        "import functools\nreturn functools.update_wrapper(len, abs)",
        ("TypeError", "update_wrapper() / wraps() write to your own functions only"),
    ),
    (
        "wraps_host_decorator",
        "import functools\nreturn functools.wraps(abs)(len)",
        ("TypeError", "update_wrapper() / wraps() write to your own functions only"),
    ),
    (
        "total_ordering_own",
        "import functools\n@functools.total_ordering\nclass V:\n"
        "    def __init__(self, v):\n        self.v = v\n"
        "    def __eq__(self, o):\n        return self.v == o.v\n"
        "    def __lt__(self, o):\n        return self.v < o.v\n"
        "return [V(2) >= V(1), V(1) > V(2)]",
        [True, False],
    ),
    (
        "total_ordering_host",
        "import functools\nreturn functools.total_ordering(ValueError)",
        ("TypeError", "total_ordering() applies to your own functions and classes"),
    ),
    (
        "abstractmethod_host",
        "import abc\nreturn abc.abstractmethod(len)",
        ("TypeError", "abstractmethod() applies to your own functions and classes"),
    ),
    (
        "abstractmethod_own",
        "import abc\nclass A(abc.ABC):\n    @abc.abstractmethod\n    def m(self):\n        pass\n"
        "try:\n    A()\nexcept TypeError as e:\n    return str(e)",
        "Can't instantiate abstract class A with abstract method m",
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in FACADE_CASES], ids=[c[0] for c in FACADE_CASES]
)
def test_the_facades(body: str, expected: Any) -> None:
    assert run(PRELUDE + DC, body) == expected


def test_a_named_tuple_belongs_to_the_module_that_defines_it() -> None:
    """A class statement in a function's own module ``helpers`` (``guest/loader.py``
    runs it in globals named so): its NamedTuple is ``helpers.P``, not ``handler.P``."""
    source = (
        "from typing import NamedTuple\nclass P(NamedTuple):\n    x: int\nNAME = repr(P)\n"
        "def on_track(event, settings):\n    return NAME\n"
    )
    report = compile_function(source, "helpers.py")
    assert report.ok and report.code is not None, [str(e) for e in report.errors]
    namespace = build_globals(Guards(AUTHOR_BASES), "helpers")
    exec(report.code, namespace)
    assert namespace["NAME"] == "<class 'helpers.P'>"
