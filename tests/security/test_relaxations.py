"""What an attacker reaches through each language relaxation of issue 13.

Issue 13 widened the language layer (modules dataclasses, enum, functools, abc, copy,
string, logging, collections.abc; typing bases; str.format; type(), id(), __name__;
nonlocal, match, class-level annotations, more author dunders, __slots__; generator
methods, dict views, Decimal tuples, RegexFlag, localtime, model_extra,
Response.content). For each, the classic escape through the new surface is tried
against the production sandbox (real workers, the OS layer as configured by default,
instance A warm beside it) and must be refused or harmless:

* ``invalid``: refused at upload, with an error on ``line``;
* ``(outcome, error type)``: the run ends that way (the attack raised);
* ``harmless``: delivered with ``{"escaped": False, ...}``: the case's own verdict
  that it reached nothing (each says what it got).

Nothing from another instance or the host may appear in any output.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from sandbox_harness import DEFAULT_EVENT, Sandbox, leaks_in

from functions_runtime.sandbox.compiler import compile_function

Expect = str | tuple[str, str]
HARMLESS = "harmless"
REFUSED = ("rejected", "SandboxAccessError")
TYPE_ERROR = ("rejected", "TypeError")

# (id, relaxation, expectation, source[, line for invalid])
CASES: list[tuple[str, str, Expect, str]] = [
    (
        "format-attribute-walk",
        "str.format",
        REFUSED,
        """
        def on_track(event, settings):
            return {"escaped": True, "v": "{0.__class__.__mro__}".format(event)}
        """,
    ),
    (
        "format-map-globals",
        "str.format_map",
        REFUSED,
        """
        def on_track(event, settings):
            return {"escaped": True, "v": "{f.__globals__}".format_map({"f": on_track})}
        """,
    ),
    (
        "format-item-then-attribute",
        "str.format",
        REFUSED,
        """
        def on_track(event, settings):
            return {"escaped": True, "v": "{0[a]._values}".format({"a": settings})}
        """,
    ),
    (
        "format-nested-spec-walk",
        "str.format",
        REFUSED,
        """
        def on_track(event, settings):
            return {"escaped": True, "v": "{0:{1.__class__}}".format(1, event)}
        """,
    ),
    (
        "format-unbound-via-class",
        "str.format",
        REFUSED,
        """
        from functions_sdk import fetch

        def on_track(event, settings):
            fmt = str.format
            return {"escaped": True, "v": fmt("{0.__globals__[socket]}", fetch)}
        """,
    ),
    (
        "format-on-str-enum-member",
        "enum + str.format",
        REFUSED,
        """
        from enum import Enum

        class Fmt(str, Enum):
            X = "{0.__class__.__init__.__globals__}"

        def on_track(event, settings):
            return {"escaped": True, "v": Fmt.X.format(event)}
        """,
    ),
    (
        "formatter-get-field",
        "string.Formatter",
        REFUSED,
        """
        import string

        def on_track(event, settings):
            obj, _ = string.Formatter().get_field("0.__class__", [event], {})
            return {"escaped": True, "v": repr(obj)}
        """,
    ),
    (
        "formatter-private-field",
        "string.Formatter",
        REFUSED,
        """
        import string

        def on_track(event, settings):
            return {"escaped": True, "v": string.Formatter().format("{0._values}", settings)}
        """,
    ),
    (
        "template-no-attribute-walk",
        "string.Template",
        HARMLESS,
        """
        import string

        def on_track(event, settings):
            text = string.Template("$x ${y}").safe_substitute({"x": event})
            hits = [n for n in ("pattern", "delimiter", "idpattern", "flags")
                    if getattr(string.Template("a"), n, None) is not None]
            return {"escaped": "__" in text or bool(hits), "hits": hits}
        """,
    ),
    (
        "type-subclasses",
        "type(x)",
        REFUSED,
        """
        def on_track(event, settings):
            walk = getattr(type(1), "__subclasses__")
            return {"escaped": True, "v": repr(walk())}
        """,
    ),
    (
        "type-of-a-class-is-no-metaclass",
        "type(x)",
        TYPE_ERROR,
        """
        class A:
            pass

        def on_track(event, settings):
            meta = type(A)
            return {"escaped": True, "v": repr(meta("X", (), {"__getattr__": len}))}
        """,
    ),
    (
        "type-three-arguments",
        "type(x)",
        TYPE_ERROR,
        """
        def on_track(event, settings):
            cls = type("X", (object,), {"__del__": lambda self: None})
            return {"escaped": True, "v": repr(cls)}
        """,
    ),
    (
        "type-host-class-exposes-nothing",
        "type(x)",
        HARMLESS,
        """
        import json
        from functions_sdk import fetch, logger

        NAMES = ["mro", "_facade_exports", "__dict__", "__globals__", "_emit", "model_config",
                 "__subclasses__", "__bases__", "register", "__init__", "__code__", "__self__"]

        def on_track(event, settings):
            hits = []
            for value in (json, fetch, logger, settings, event, on_track, iter([]), {}.keys()):
                cls = type(value)
                for name in NAMES:
                    if getattr(cls, name, None) is not None and cls not in (dict, list):
                        hits.append(f"{cls.__name__}.{name}")
            fake = type(json)("os", {"system": "own value"})  # a facade of the author's values
            try:
                type(on_track)(getattr(on_track, "__code__", None), {})
                hits.append("function from code")
            except TypeError:
                pass
            return {"escaped": bool(hits), "hits": hits, "fake": fake.system}
        """,
    ),
    (
        "id-is-a-number",
        "id()",
        HARMLESS,
        """
        from functions_sdk import fetch

        def on_track(event, settings):
            ids = [id(x) for x in (fetch, settings, event, getattr)]
            return {"escaped": not all(type(i) is int for i in ids)}
        """,
    ),
    (
        "name-attribute-only",
        "__name__",
        REFUSED,
        """
        from functions_sdk import fetch

        def on_track(event, settings):
            assert type(fetch.__name__) is str and type(type(event).__name__) is str
            return {"escaped": True, "v": getattr(fetch, "__module__")}
        """,
    ),
    (
        "name-global-is-read-only",
        "__name__",
        "invalid",
        """
        __name__ = "__main__"

        def on_track(event, settings):
            return {"escaped": True}
        """,
    ),
    (
        "functools-reduce-getattr",
        "functools",
        REFUSED,
        """
        import functools

        def on_track(event, settings):
            return {"escaped": True,
                    "v": repr(functools.reduce(getattr, ["__class__", "__mro__"], event))}
        """,
    ),
    (
        "functools-partial-internals",
        "functools",
        REFUSED,
        """
        import functools
        from functions_sdk import fetch

        def on_track(event, settings):
            p = functools.partial(fetch, "http://127.0.0.1/")
            return {"escaped": True, "v": repr(p.func)}
        """,
    ),
    (
        "functools-wraps-wrapped",
        "functools",
        REFUSED,
        """
        import functools
        from functions_sdk import fetch

        def on_track(event, settings):
            w = functools.wraps(fetch)(lambda: 0)
            inner = getattr(w, "__wrapped__")
            return {"escaped": True, "v": repr(getattr(inner, "__globals__"))}
        """,
    ),
    (
        "functools-update-wrapper-writes-host-class",
        "functools",
        TYPE_ERROR,
        """
        import functools
        from functions_sdk import TrackEvent

        class Evil:
            model_validate = staticmethod(lambda data: data)

        def on_track(event, settings):
            functools.update_wrapper(TrackEvent, Evil())
            return {"escaped": True}
        """,
    ),
    (
        "functools-wraps-onto-host-function",
        "functools",
        TYPE_ERROR,
        """
        import functools
        from functions_sdk import fetch

        def on_track(event, settings):
            functools.wraps(on_track)(fetch)
            return {"escaped": getattr(fetch, "__name__") == "on_track"}
        """,
    ),
    (
        "total-ordering-on-host-class",
        "functools",
        TYPE_ERROR,
        """
        import functools
        import uuid

        def on_track(event, settings):
            functools.total_ordering(uuid.UUID)
            return {"escaped": True}
        """,
    ),
    (
        "abstractmethod-flags-host-function",
        "abc",
        TYPE_ERROR,
        """
        from abc import abstractmethod
        from functions_sdk import fetch

        def on_track(event, settings):
            abstractmethod(fetch)
            return {"escaped": True}
        """,
    ),
    (
        "functools-lru-cache-internals",
        "functools",
        REFUSED,
        """
        import functools
        from functions_sdk import fetch

        def on_track(event, settings):
            cached = functools.lru_cache(fetch)
            cached.cache_clear()
            return {"escaped": True, "v": repr(getattr(cached, "__wrapped__"))}
        """,
    ),
    (
        "dataclasses-fields-of-host-object",
        "dataclasses",
        TYPE_ERROR,
        """
        import dataclasses

        def on_track(event, settings):
            return {"escaped": True, "v": repr(dataclasses.asdict(settings))}
        """,
    ),
    (
        "dataclass-on-host-class",
        "dataclasses",
        TYPE_ERROR,
        """
        import dataclasses
        from functions_sdk import TrackEvent

        def on_track(event, settings):
            return {"escaped": True, "v": repr(dataclasses.dataclass(TrackEvent))}
        """,
    ),
    (
        "dataclass-fields-dunder",
        "dataclasses",
        REFUSED,
        """
        from dataclasses import dataclass

        @dataclass
        class P:
            x: int = 1

        def on_track(event, settings):
            return {"escaped": True, "v": repr(getattr(P, "__dataclass_fields__"))}
        """,
    ),
    (
        "dataclass-generated-init-globals",
        "dataclasses",
        REFUSED,
        """
        from dataclasses import dataclass

        @dataclass
        class P:
            x: int = 1

        def on_track(event, settings):
            init = getattr(P, "__init__")
            return {"escaped": True, "v": repr(getattr(init, "__globals__"))}
        """,
    ),
    (
        "dataclass-generated-init-unbound-on-host-object",
        "dataclasses",
        REFUSED,
        """
        from dataclasses import dataclass

        @dataclass(frozen=True)
        class P:
            _values: dict

        def on_track(event, settings):
            P.__init__(settings, {"api_key": "planted"})  # object.__setattr__ on a host object
            return {"escaped": settings.get("api_key") == "planted"}
        """,
    ),
    (
        "host-mixin-unbound-on-host-object",
        "abc / collections.abc",
        REFUSED,
        """
        from collections.abc import MutableMapping

        class Store(MutableMapping):
            pass

        def on_track(event, settings):
            Store.update(settings, {"api_key": "planted"})
            return {"escaped": settings.get("api_key") == "planted"}
        """,
    ),
    (
        "dataclass-field-default-factory",
        "dataclasses",
        HARMLESS,
        """
        from dataclasses import dataclass, field, fields

        @dataclass
        class P:
            x: list = field(default_factory=list)

        def on_track(event, settings):
            f = fields(P())[0]
            hits = [n for n in ("_field_type", "__set_name__", "__class__")
                    if getattr(f, n, None) is not None]
            return {"escaped": bool(hits), "hits": hits, "type": f.type}
        """,
    ),
    (
        "enum-sunder-machinery",
        "enum",
        HARMLESS,
        """
        from enum import Enum

        class Color(Enum):
            RED = 1

        NAMES = ["_new_member_", "_member_map_", "_value2member_map_", "_generate_next_value_",
                 "_missing_", "_member_type_", "_use_args_", "__members__", "__class__"]

        def on_track(event, settings):
            hits = [n for n in NAMES
                    if getattr(Color, n, None) is not None
                    or getattr(Color.RED, n, None) is not None]
            return {"escaped": bool(hits), "hits": hits, "value": Color.RED._value_}
        """,
    ),
    (
        "enum-metaclass",
        "enum",
        TYPE_ERROR,
        """
        from enum import Enum

        class Color(Enum):
            RED = 1

        def on_track(event, settings):
            meta = type(Color)
            return {"escaped": True, "v": repr(meta)}
        """,
    ),
    (
        "enum-functional-api-is-no-author-class",
        "enum",
        REFUSED,
        """
        from enum import Enum

        def on_track(event, settings):
            Evil = Enum("Evil", {"A": 1})
            return {"escaped": True, "v": repr(Evil.A)}
        """,
    ),
    (
        "enum-functional-api-special-methods",
        "enum",
        REFUSED,
        """
        from enum import Enum

        def on_track(event, settings):
            # the functional API accepts special names the class statement refuses; the
            # class is not the author's, so the guard refuses before any of them runs
            Evil = Enum("Evil", {"__getattr__": lambda self, name: name, "A": 1})
            members = list(Evil)
            probe = members[0] if members else Evil
            return {"escaped": True, "v": getattr(probe, "anything")}
        """,
    ),
    (
        "abc-register-on-host-abc",
        "abc / collections.abc",
        REFUSED,
        """
        from collections.abc import Mapping

        class Mine:
            pass

        def on_track(event, settings):
            Mapping.register(Mine)
            return {"escaped": True}
        """,
    ),
    (
        "abc-own-register-then-match-reads-host-attributes",
        "abc",
        REFUSED,
        """
        from abc import ABC
        from dataclasses import dataclass

        @dataclass
        class Frame(ABC):
            gi_frame: object

        def gen():
            yield 1

        def on_track(event, settings):
            g = gen()
            next(g)
            Frame.register(type(g))  # isinstance(generator, Frame) would be True
            match g:
                case Frame(frame):  # __match_args__ = ("gi_frame",), read natively
                    return {"escaped": True, "v": repr(frame)}
            return {"escaped": False}
        """,
    ),
    (
        "abc-internals",
        "abc",
        HARMLESS,
        """
        from abc import ABC

        class Base(ABC):
            pass

        def on_track(event, settings):
            impl = Base._abc_impl
            hits = [n for n in ("_abc_registry", "_abc_cache", "__class__")
                    if getattr(impl, n, None) is not None]
            return {"escaped": bool(hits), "hits": hits, "virtual": isinstance({}, Base)}
        """,
    ),
    (
        "abc-metaclass-not-offered",
        "abc",
        "invalid",
        """
        from abc import ABCMeta

        def on_track(event, settings):
            return {"escaped": True}
        """,
    ),
    (
        "metaclass-keyword",
        "class bases",
        "invalid",
        """
        from abc import ABC

        class X(ABC, metaclass=type):
            pass

        def on_track(event, settings):
            return {"escaped": True}
        """,
    ),
    (
        "copy-of-host-objects",
        "copy",
        HARMLESS,
        """
        import copy
        import json
        from functions_sdk import fetch, logger

        def on_track(event, settings):
            hits = []
            try:
                copy.copy(json)
                hits.append("copied a module")
            except AttributeError:  # a facade cannot be rebuilt: it refuses writes
                pass
            for value in (settings, event, logger, fetch):
                for dup in (copy.copy(value), copy.deepcopy(value)):
                    for name in ("_values", "_secret_names", "_facade_exports", "__class__",
                                 "__dict__", "model_config", "_emit"):
                        if getattr(dup, name, None) is not None:
                            hits.append(name)
            return {"escaped": bool(hits), "hits": hits}
        """,
    ),
    (
        "logging-handlers-and-records",
        "logging",
        HARMLESS,
        """
        import logging

        NAMES = ["handlers", "root", "manager", "Logger", "LogRecord", "Handler", "_lock",
                 "makeRecord", "callHandlers", "parent", "disabled", "addHandler", "__class__"]

        def on_track(event, settings):
            log = logging.getLogger("x")
            hits = [n for n in NAMES
                    if getattr(log, n, None) is not None or getattr(logging, n, None) is not None]
            log.info("{0.__class__}", event)  # not a format string: no attribute walk
            log.info("%(x)s", {"x": settings.get("api_key")})  # masked like any log line
            return {"escaped": bool(hits), "hits": hits}
        """,
    ),
    (
        "match-keyword-dunder",
        "match",
        "invalid",
        """
        def on_track(event, settings):
            match event:
                case object(__class__=cls):
                    return {"escaped": True, "v": repr(cls)}
        """,
    ),
    (
        "match-keyword-private",
        "match",
        "invalid",
        """
        from functions_sdk import Settings

        def on_track(event, settings):
            match settings:
                case Settings(_values=v):
                    return {"escaped": True, "v": v}
        """,
    ),
    (
        "match-keyword-pydantic-entry-point",
        "match",
        "invalid",
        """
        from functions_sdk import TrackEvent

        def on_track(event, settings):
            match TrackEvent:
                case object(model_validate=validate):
                    return {"escaped": True, "v": repr(validate)}
        """,
    ),
    (
        "match-args-defined-by-author",
        "match",
        "invalid",
        """
        class P:
            __match_args__ = ("__class__",)

        def on_track(event, settings):
            return {"escaped": True}
        """,
    ),
    (
        "match-positional-on-host-class",
        "match",
        TYPE_ERROR,
        """
        from functions_sdk import Settings

        def on_track(event, settings):
            match settings:
                case Settings(values):
                    return {"escaped": True, "v": repr(values)}
        """,
    ),
    (
        "slots-special-names",
        "__slots__",
        TYPE_ERROR,
        """
        class P:
            __slots__ = ("__dict__", "__class__")

        def on_track(event, settings):
            return {"escaped": True}
        """,
    ),
    (
        "slots-descriptor",
        "__slots__",
        REFUSED,
        """
        class P:
            __slots__ = ("a",)

        def on_track(event, settings):
            return {"escaped": True, "v": repr(getattr(P.a, "__objclass__"))}
        """,
    ),
    (
        "init-subclass",
        "author dunders",
        "invalid",
        """
        class Base:
            def __init_subclass__(cls, **kw):
                pass

        def on_track(event, settings):
            return {"escaped": True}
        """,
    ),
    (
        "getattr-dunder-stays-refused",
        "author dunders",
        "invalid",
        """
        class P:
            def __getattr__(self, name):
                return name

        def on_track(event, settings):
            return {"escaped": True}
        """,
    ),
    (
        "exit-receives-a-traceback",
        "__enter__ / __exit__",
        HARMLESS,
        """
        class Catch:
            def __enter__(self):
                return self

            def __exit__(self, exc_type, exc, tb):
                self.hits = [n for n in ("tb_frame", "tb_next", "tb_lineno", "__traceback__")
                             if getattr(tb, n, None) is not None
                             or getattr(exc, n, None) is not None]
                self.hits += [n for n in ("__subclasses__", "__mro__")
                              if getattr(exc_type, n, None) is not None]
                return True

        def on_track(event, settings):
            with Catch() as c:
                raise ValueError("x")
            return {"escaped": bool(c.hits), "hits": c.hits}
        """,
    ),
    (
        "generator-frame",
        "generator .send / .close",
        REFUSED,
        """
        def gen():
            yield 1

        def on_track(event, settings):
            g = gen()
            g.send(None)
            frame = getattr(g, "gi_frame")
            return {"escaped": True, "v": repr(frame)}
        """,
    ),
    (
        "dict-view-mapping",
        "dict views",
        HARMLESS,
        """
        def on_track(event, settings):
            own = {"a": 1}.keys().mapping  # a read-only view of the author's own dict
            hits = [n for n in ("_mapping", "mapping") if getattr(settings.keys(), n, None)]
            hits += [n for n in ("copy", "__class__") if getattr(own, n, None) is not None]
            return {"escaped": bool(hits), "hits": hits, "own": own["a"]}
        """,
    ),
    (
        "typing-alias-internals",
        "typing bases / isinstance",
        REFUSED,
        """
        import typing

        def on_track(event, settings):
            assert isinstance({}, typing.Mapping)
            return {"escaped": True, "v": repr(getattr(typing.Mapping, "__origin__"))}
        """,
    ),
    (
        "namedtuple-new-globals",
        "typing.NamedTuple / namedtuple",
        REFUSED,
        """
        from typing import NamedTuple

        class P(NamedTuple):
            x: int

        def on_track(event, settings):
            return {"escaped": True, "v": repr(getattr(P, "__new__"))}
        """,
    ),
    (
        "regexflag-class",
        "re.RegexFlag.value",
        HARMLESS,
        """
        import re

        def on_track(event, settings):
            flag = re.I | re.M
            hits = [n for n in ("_value_", "_member_map_", "__class__", "_missing_")
                    if getattr(flag, n, None) is not None
                    or getattr(type(flag), n, None) is not None]
            return {"escaped": bool(hits), "hits": hits, "value": flag.value}
        """,
    ),
    (
        "decimal-tuple",
        "Decimal.as_tuple()",
        HARMLESS,
        """
        from decimal import Decimal

        def on_track(event, settings):
            t = Decimal("1.5").as_tuple()
            hits = [n for n in ("_make", "_replace", "__class__") if getattr(t, n, None)]
            return {"escaped": bool(hits), "hits": hits, "exp": t.exponent}
        """,
    ),
    (
        "strptime-import-hook",
        "datetime.strptime",
        "invalid",
        """
        import _strptime

        def on_track(event, settings):
            return {"escaped": True}
        """,
    ),
    (
        "temporaries-renamed",
        "_tmp names",
        "invalid",
        """
        def on_track(event, settings):
            _rp0_ = {"n": 1}
            _rp0_["n"] += 1
            return {"escaped": True}
        """,
    ),
    (
        "own-type-checking-still-compiled",
        "TYPE_CHECKING",
        "invalid",
        """
        TYPE_CHECKING = True

        if TYPE_CHECKING:
            import os

        def on_track(event, settings):
            return {"escaped": True}
        """,
    ),
    (
        "class-annotations-never-evaluated",
        "class-level annotations",
        HARMLESS,
        """
        from dataclasses import dataclass

        calls = []

        def probe():
            calls.append(1)
            return int

        @dataclass
        class P:
            x: probe() = 1

        def on_track(event, settings):
            return {"escaped": bool(calls), "x": P().x}
        """,
    ),
]

LINES = {
    "name-global-is-read-only": 1,
    "abc-metaclass-not-offered": 1,
    "metaclass-keyword": 3,
    "match-keyword-dunder": 3,
    "match-keyword-private": 5,
    "match-args-defined-by-author": 2,
    "match-keyword-pydantic-entry-point": 5,
    "init-subclass": 2,
    "getattr-dunder-stays-refused": 2,
    "strptime-import-hook": 1,
    "temporaries-renamed": 2,
    "own-type-checking-still-compiled": 4,
}


@pytest.mark.parametrize(
    ("name", "relaxation", "expect", "source"), CASES, ids=[c[0] for c in CASES]
)
def test_relaxation(
    sandbox: Sandbox, name: str, relaxation: str, expect: Expect, source: str
) -> None:
    source = textwrap.dedent(source).lstrip("\n")
    report = compile_function(source)
    [result] = sandbox.run_b(f"relaxation-{name}", source, dict(DEFAULT_EVENT))
    assert not leaks_in(json.dumps(result)), result
    if expect == "invalid":
        assert not report.ok
        assert LINES[name] in [p.line for p in report.errors], [str(p) for p in report.errors]
        assert result["outcome"] == "invalid", result
        return
    assert report.ok, [str(p) for p in report.errors]
    if expect == HARMLESS:
        assert result["outcome"] == "delivered", result
        assert result["result"]["escaped"] is False, result
        return
    outcome, error = expect
    assert (result["outcome"], (result["error"] or {}).get("type")) == (outcome, error), result


def test_every_relaxation_has_a_case() -> None:
    covered = {c[1] for c in CASES}
    for relaxation in (
        "str.format",
        "str.format_map",
        "string.Formatter",
        "type(x)",
        "id()",
        "__name__",
        "functools",
        "dataclasses",
        "enum",
        "abc",
        "copy",
        "logging",
        "match",
        "__slots__",
        "author dunders",
        "generator .send / .close",
        "dict views",
        "typing bases / isinstance",
        "datetime.strptime",
        "_tmp names",
        "TYPE_CHECKING",
        "class-level annotations",
    ):
        assert relaxation in covered, relaxation
