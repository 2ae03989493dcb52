"""Each rule of the run-time guards (``sandbox/guest/guards.py``), pinned one by one.

Written against the mutants of guards.py that the rest of the suite let pass
(docs/TESTING.md, "Round 3: sandbox guest"): every expectation is exact (the value, or
the error's type and message), so a guard that refuses with another error, lets a
refused name through, or refuses an ordinary one fails here. In-process, as the worker
runs this code (``tests/unit/test_guards.py`` does the same for ordinary use).
"""

from __future__ import annotations

import collections
import json
import textwrap
from typing import Any

import pytest

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.guest.guards import (
    MAX_REMEMBERED,
    MAX_REMEMBERED_NAME,
    Guards,
    SandboxAccessError,
)
from functions_runtime.sandbox.guest.namespace import AUTHOR_BASES, build_globals
from functions_sdk import Settings, TrackEvent
from functions_sdk._context import InvocationContext, activate
from functions_sdk.events import parse_event

OWN = "class Own:\n    def m(self):\n        return 7\n"
MAPPING = (
    "from collections.abc import Mapping\n"
    "class M(Mapping):\n"
    "    def __getitem__(self, k):\n        return 1\n"
    "    def __iter__(self):\n        return iter([])\n"
    "    def __len__(self):\n        return 0\n"
)
ABC = "from abc import ABC\nclass A(ABC):\n    pass\n"
ENUM = "from enum import Enum\nclass C(Enum):\n    RED = 1\n"


EVENT: dict[str, Any] = {"type": "track", "event": "E", "userId": "u"}


def run(prelude: str, body: str, data: dict[str, Any] | None = None) -> Any:
    """The handler's return value, or ``(error type, message)`` for what it raised."""
    source = (
        textwrap.dedent(prelude)
        + "\ndef on_track(event, settings):\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
    )
    report = compile_function(source, "handler.py")
    assert report.ok and report.code is not None, [str(e) for e in report.errors]
    namespace = build_globals(Guards(AUTHOR_BASES))
    exec(report.code, namespace)
    event = parse_event(data or EVENT)
    try:
        with activate(InvocationContext()):
            return namespace["on_track"](event, Settings({}))
    except Exception as exc:
        return (type(exc).__name__, str(exc))


def refused(message: str) -> tuple[str, str]:
    return ("SandboxAccessError", message)


UNBOUND = "is not available unbound in functions; call it on an instance"

CASES: list[tuple[str, str, str, Any]] = [
    # unbound functions of classes: the author's own only (``_check_value``)
    ("own_method_unbound", OWN, "return Own.m(Own())", 7),
    ("host_base_function", MAPPING, "return M.get", refused(f'"get" of class M {UNBOUND}')),
    (
        "host_class_function",
        "from collections import Counter",
        "return Counter.copy",
        refused(f'"copy" of class Counter {UNBOUND}'),
    ),
    # special names of the author's instances and classes
    ("own_instance_dict", OWN, "return getattr(Own(), '__dict__', 'refused')", "refused"),
    ("own_instance_class", OWN, "return getattr(Own(), '__class__', 'refused')", "refused"),
    ("own_class_dict", OWN, "return getattr(Own, '__dict__', 'refused')", "refused"),
    ("own_class_init", OWN, "return getattr(Own, '__init__', 'r') != 'r'", True),
    ("host_class_init", "", "return getattr(int, '__init__', 'refused')", "refused"),
    (
        "own_method_via_super",
        OWN + "class Sub(Own):\n    def n(self):\n        return super().m()\n",
        "return Sub().n()",
        7,
    ),
    (
        "super_special_name",
        "class Own:\n    def m(self):\n        return getattr(super(), '__class__', 'refused')\n",
        "return Own().m()",
        "refused",
    ),
    # ABC.register and the enum machinery stay inside the author's ABCs and enums
    ("abc_register_instance", ABC, "return getattr(A(), 'register', 'refused')", "refused"),
    ("abc_register_class", ABC, "return getattr(A, 'register', 'refused')", "refused"),
    (
        "enum_sunder",
        ENUM,
        "return [getattr(C.RED, '_missing_', 'r1'), getattr(C, '_missing_', 'r2'), "
        "getattr(C, '_generate_next_value_', 'r3'), C.RED._value_, C.RED._name_, C.RED.value]",
        ["r1", "r2", "r3", 1, "RED", 1],
    ),
    # __name__ of callables only
    (
        "dunder_name",
        "",
        "return [getattr(abs, '__name__', 'r'), getattr(1, '__name__', 'r')]",
        ["abs", "r"],
    ),
    # super() of a host class, after the same name was read on the author's super()
    (
        "super_of_host_class",
        "class Base:\n    def real(self):\n        return 1\n"
        "class Sub(Base):\n    def real(self):\n        return super().real()\n",
        "host = super(bool, True)\n"
        "return [Sub().real(), getattr(host, 'real', 'r'), getattr(host, 'real', 'r')]",
        [1, "r", "r"],
    ),
    # facades: exports only, never their slots
    (
        "facade_special",
        "import json",
        "return getattr(json, '__dict__')",
        refused('"__dict__" is not available in functions (special attribute)'),
    ),
    ("facade_slot", "import json", "return getattr(json, '_facade_exports', 'r')", "r"),
    ("facade_item", "import json", "return json['x']", refused("modules cannot be subscripted")),
    # exceptions: args, and the extra names of their own classes only
    (
        "exception_names",
        "",
        "return [getattr(ValueError('x'), 'args'), getattr(KeyError('x'), 'msg', 'r'), "
        "getattr(ValueError('x'), 'with_traceback', 'r')]",
        [("x",), "r", "r"],
    ),
    # event classes: model_validate (the guard's own) and nothing else
    (
        "event_class",
        "from functions_sdk import TrackEvent",
        "return [getattr(TrackEvent, 'model_validate', 'r') != 'r', "
        "getattr(TrackEvent, 'model_fields', 'r')]",
        [True, "r"],
    ),
    (
        "model_validate_from_attributes",
        "from functions_sdk import TrackEvent",
        "return TrackEvent.model_validate(event, from_attributes=True)",
        refused(
            "model_validate(from_attributes=...) is not available in functions; "
            "pass the event data as a dict"
        ),
    ),
    (
        "model_copy_private",
        "",
        "return event.model_copy(update={'_x': 1})",
        refused('cannot set "_x" on an event'),
    ),
    (
        "model_validate_two_refused",
        "from functions_sdk import TrackEvent",
        "return TrackEvent.model_validate({}, from_attributes=True, context={})",
        refused(
            "model_validate(context, from_attributes=...) is not available in functions; "
            "pass the event data as a dict"
        ),
    ),
    (
        "model_validate_data",
        "from functions_sdk import TrackEvent",
        "data = {'type': 'track', 'event': 'X', 'userId': 'u', 'channel': b'c'}\n"
        "e = TrackEvent.model_validate(data)\nreturn [e.event, e.channel]",
        ["X", "c"],
    ),
    (
        "model_validate_strict",
        "from functions_sdk import TrackEvent",
        "data = {'type': 'track', 'event': 'X', 'userId': 'u', 'channel': b'c'}\n"
        "try:\n    TrackEvent.model_validate(data, strict=True)\n"
        "except ValueError:\n    return 'refused'",
        "refused",
    ),
    (
        "model_copy_not_a_dict",
        "",
        "return event.model_copy(update=[('event', 'x')])",
        refused("model_copy(update=...) takes a dict of field values"),
    ),
    (
        "model_copy_shallow",
        "",
        "c = event.model_copy(update={'event': 'F'})\nc.properties['x'] = 1\n"
        "return [c.event, event.event, event.properties]",
        ["F", "E", {"x": 1}],
    ),
    (
        "event_field_delete",
        "",
        "delattr(event, 'userId')",
        refused("event fields cannot be deleted; set them to None"),
    ),
    # exposed classes: their public names
    ("class_method_of_exposed", "import datetime", "return callable(datetime.datetime.now)", True),
    ("dict_fromkeys", "", "return dict.fromkeys(['a'], 1)", {"a": 1}),
    # getattr's own contract
    (
        "name_not_str",
        "",
        "return getattr(event, 1)",
        ("TypeError", "attribute name must be a string"),
    ),
    ("default_twice", "", "return [getattr('s', 'nope', 5), getattr('s', 'nope', 6)]", [5, 6]),
    # writes, setattr, delattr
    ("write_str", "", "x = 's'\nx.a = 1", refused("str objects are read-only in functions")),
    ("setattr_special", OWN, "setattr(Own(), '__class__', Own)", refused('cannot set "__class__"')),
    ("setattr_not_str", OWN, "setattr(Own(), 1, 2)", refused('cannot set "1"')),
    ("delattr_special", OWN, "delattr(Own(), '__x')", refused('cannot delete "__x"')),
    ("delattr_not_str", OWN, "delattr(Own(), 1)", refused('cannot delete "1"')),
    ("delattr_own", OWN, "o = Own()\no.a = 1\ndelattr(o, 'a')\nreturn hasattr(o, 'a')", False),
    (
        "delattr_settings",
        "",
        "delattr(settings, 'x')",
        refused("Settings objects are read-only in functions"),
    ),
    # in-place operators and calls with */**
    ("inplace", "", "t = 10\nt -= 2\nl = [1]\nl += [2]\nreturn [t, l]", [8, [1, 2]]),
    ("apply", "def f(a, b=0):\n    return a - b\n", "return f(*[5], **{'b': 2})", 3),
]


def test_an_unknown_event_field_named_like_a_model_method_is_refused() -> None:
    """``event.copy`` would be pydantic's ``BaseModel.copy`` (its ``update`` unchecked),
    not the field: an unknown field is readable only if no class attribute has its name."""
    data = {**EVENT, "copy": 1, "json": 2, "note": 3}
    body = "return [getattr(event, 'copy', 'r'), getattr(event, 'json', 'r'), event.note]"
    assert run("", body, data) == ["r", "r", 3]


def test_the_remembered_tables_hold_at_most_their_bound() -> None:
    """At exactly ``MAX_REMEMBERED`` entries a table is cleared before the next one;
    a name of exactly ``MAX_REMEMBERED_NAME`` characters is still remembered."""
    guards = Guards(AUTHOR_BASES)
    for i in range(MAX_REMEMBERED + 1):
        with pytest.raises(AttributeError):
            guards.getattr(7, f"name{i}")
    assert len(guards._by_type) == 1
    longest = "x" * MAX_REMEMBERED_NAME
    with pytest.raises(AttributeError):
        guards.getattr(7, longest)
    assert guards._by_type[(int, longest)] is True


@pytest.mark.parametrize(
    ("prelude", "body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_guard_rule(prelude: str, body: str, expected: Any) -> None:
    assert run(prelude, body) == expected


def test_remembered_and_fresh_decisions_agree_across_events() -> None:
    """One guard (one worker) across events: a name read on one event's unknown field
    and refused on another's, in both orders (the remembered table is keyed by type)."""
    with_note = {"type": "track", "event": "E", "userId": "u", "note": "x"}
    without = {"type": "track", "event": "E", "userId": "u"}
    for order in ((with_note, without), (without, with_note)):
        guards = Guards(AUTHOR_BASES)
        for data in order:
            event = parse_event(data)
            if "note" in data:
                assert guards.getattr(event, "note") == "x"
                continue
            with pytest.raises(SandboxAccessError) as info:
                guards.getattr(event, "note")
            assert str(info.value) == '"note" of TrackEvent is not available in functions'


def test_a_module_is_refused_wherever_it_is_found() -> None:
    """Defence in depth: no handler can hold a module, but a module reached through an
    allowed name (a value type's attribute, remembered or not; an author class's
    attribute) is refused with the name and the object it was read from."""
    guards = Guards(AUTHOR_BASES)
    holder: collections.OrderedDict[str, Any] = (
        collections.OrderedDict()
    )  # a value type whose instances take attributes
    holder.mod = json  # type: ignore[attr-defined]
    for _ in range(2):  # decided, then remembered
        with pytest.raises(SandboxAccessError) as info:
            guards.getattr(holder, "mod")
        assert str(info.value) == '"mod" of OrderedDict is not available in functions'
    namespace = build_globals(guards)
    report = compile_function(OWN + "def on_track(event, settings):\n    pass\n", "h.py")
    assert report.code is not None
    exec(report.code, namespace)
    own = namespace["Own"]
    own.mod = json
    with pytest.raises(SandboxAccessError) as info:
        guards.getattr(own, "mod")
    assert str(info.value) == '"mod" of class Own is not available in functions'


def test_the_guard_functions_own_errors() -> None:
    guards = Guards(AUTHOR_BASES)
    with pytest.raises(SandboxAccessError) as info:
        guards.inplacevar("<>=", 1, 2)
    assert str(info.value) == "operator <>= is not supported"
    with pytest.raises(TypeError) as type_info:
        guards.register_class(TrackEvent)
    assert str(type_info.value) == f"{TrackEvent!r} cannot be an author class"
    assert guards.is_author_object(TrackEvent) is False
