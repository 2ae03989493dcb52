"""The attribute guard's remembered decisions answer exactly what the rule answers.

``Guards.getattr`` remembers ``allowed(obj, name)`` for instances of a fixed set of
host types (by exact type and name) and for a fixed set of host classes (by class and
name); :func:`uncached_getattr` (here, the test's reference) decides every read with
``allowed`` alone. For a
broad matrix of objects (every value type, the classes and objects the facades hand
out, SDK objects, events with crafted unknown fields, the author's classes and
instances compiled by the real compiler, subclasses of exposed classes, super
objects, facades) times names (public, private, special, ``format`` / ``format_map``
/ ``mro``, every ``INSPECT_ATTRIBUTES`` name, names that exist on one type and not
another), both must give the same value or the same refusal, in any order of asking
(a name first asked on another type), and after the author's classes were changed at
run time.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import functools
import gc
import hashlib
import hmac
import json
import random
import re
import textwrap
import time
import types
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

import functions_sdk
from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.guest import guards as guards_module
from functions_runtime.sandbox.guest.authoring import guarded_format
from functions_runtime.sandbox.guest.event_access import _wrapped
from functions_runtime.sandbox.guest.guards import (
    EXPOSED_CLASSES,
    MAX_REMEMBERED,
    MAX_REMEMBERED_NAME,
    VALUE_TYPES,
    Guards,
    SandboxAccessError,
    _is_str_format,
    _refuse,
)
from functions_runtime.sandbox.guest.modules import EXPORTS, Facade, build_module
from functions_runtime.sandbox.guest.namespace import AUTHOR_BASES, build_globals
from functions_sdk import Response, Settings, SourceRequest
from functions_sdk._context import InvocationContext, activate
from functions_sdk.events import BaseEvent, parse_event

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "events"

AUTHOR_SOURCE = textwrap.dedent(
    '''
    import json
    from functions_sdk import RetryError, ValidationError


    class Plain:
        """Shares names with host types: get, upper, status, event, format."""

        kind = "plain"
        get = "author get"
        upper = "author upper"
        status = 200
        event = "author event"

        def __init__(self):
            self._secret = "own private"
            self.public = "own public"

        def method(self):
            return self._helper()

        def _helper(self):
            return "helper"


    class Child(Plain):
        def __init__(self):
            super().__init__()
            self.child_only = True

        def sup(self):
            return super()


    class dict:  # the name of a host type, a different class
        get = "not dict.get"
        keys = "not dict.keys"


    class TrackEvent:  # the name of an SDK event model, a different class
        event = "not a field"
        properties = "not a field"


    class Failure(RetryError):
        def __init__(self, status):
            super().__init__(f"upstream {status}", status=status)
            self.code = status


    class Invalid(ValidationError):
        pass


    class BadValue(ValueError):
        def __init__(self, text):
            super().__init__(text)
            self.detail = text


    def numbers():
        yield 1


    def mutate(cls):
        """Change a class at run time, the way author code may."""
        cls.format = "now has format"
        cls.get = "rebound get"
        cls.kind = None
        cls.fresh = "added later"
        cls._added_private = "added private"
        setattr(cls, "append", "added by setattr")
        return cls


    def derive(base):
        class Derived(base):
            pass

        return Derived


    def on_track(event, settings):
        child = Child()
        return {
            "Plain": Plain,
            "plain": Plain(),
            "Child": Child,
            "child": child,
            "super": child.sup(),
            "AuthorDict": dict,
            "author_dict": dict(),
            "AuthorTrackEvent": TrackEvent,
            "author_track_event": TrackEvent(),
            "Failure": Failure,
            "failure": Failure(503),
            "Invalid": Invalid,
            "invalid": Invalid("bad"),
            "BadValue": BadValue,
            "bad_value": BadValue("oops"),
            "generator": numbers(),
            "function": numbers,
            "lambda": lambda x: x,
            "json_facade": json,
        }
    '''
)


class World:
    """One Guards, the author's module run under it, and the objects to ask about."""

    def __init__(self) -> None:
        self.guards = Guards(AUTHOR_BASES)
        report = compile_function(AUTHOR_SOURCE, "handler.py")
        assert report.ok, [str(e) for e in report.errors]
        self.namespace = build_globals(self.guards)
        exec(report.code, self.namespace)  # type: ignore[arg-type]
        event = parse_event(json.loads((SAMPLES / "track.json").read_text()))
        with activate(InvocationContext()):
            self.author: dict[str, Any] = self.namespace["on_track"](event, Settings({}))
        self.objects = author_objects(self.author) + host_objects()

    def mutate(self, cls: type) -> None:
        self.namespace["mutate"](cls)


def author_objects(author: dict[str, Any]) -> list[Any]:
    return list(author.values())


def value_instances() -> list[Any]:
    items: list[Any] = [
        "text",
        "",
        b"bytes",
        bytearray(b"ba"),
        7,
        -1,
        2.5,
        True,
        False,
        3j,
        [1, "a"],
        [],
        {"k": 1},
        {},
        (1, 2),
        {1},
        frozenset({2}),
        range(3),
        slice(1, 2),
        None,
        property(lambda self: 1),
        datetime.date(2024, 1, 2),
        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        datetime.time(1, 2),
        datetime.timedelta(seconds=5),
        datetime.UTC,
        decimal.Decimal("1.10"),
        uuid.UUID(int=5),
        re.compile("a(b)"),
        re.match("a(b)", "ab"),
        hmac.new(b"k", b"m", hashlib.sha256),
        time.gmtime(0),
        collections.Counter("aab"),
        collections.OrderedDict(a=1),
        collections.defaultdict(list),
        collections.deque([1]),
        urllib.parse.urlparse("https://a.example/p?q=1"),
        urllib.parse.urlsplit("https://a.example/p?q=1"),
        urllib.parse.urlparse(b"https://a.example/p"),
        urllib.parse.urlsplit(b"https://a.example/p"),
    ]
    holder = collections.Counter()  # a value type whose instance holds a real module:
    holder.json = json  # type: ignore[attr-defined]  # the read is refused all the same
    items.append(holder)
    items += [hashlib.new(n) for n in ("md5", "sha1", "sha256", "sha512", "sha3_256")]
    items += [hashlib.new(n) for n in ("blake2b", "blake2s")]
    return items


def events() -> list[BaseEvent]:
    found = []
    for path in sorted(SAMPLES.glob("*.json")):
        if path.name.startswith("invalid") or path.name == "batch.json":
            continue
        found.append(parse_event(json.loads(path.read_text())))
    crafted: list[dict[str, Any]] = [
        # unknown fields named like model methods, other models' fields, refused names
        {
            "type": "track",
            "event": "E",
            "userId": "u",
            "parse_raw": 1,
            "copy": 2,
            "json": 3,
            "dict": 4,
            "traits": {"t": 1},
            "extraField": {"k": 1},
            "format": 5,
            "mro": 6,
            "get": 7,
            "status": 8,
            "model_fields": 9,
            "model_extra": 10,
        },
        {"type": "identify", "userId": "u", "event": "not a field here", "properties": {}},
        {"type": "page", "userId": "u", "traits": {}, "groupId": "g"},
        {"type": "group", "userId": "u", "groupId": "g", "previousId": "p"},
    ]
    found += [parse_event(data) for data in crafted]
    return found


def host_objects() -> list[Any]:
    facades = [build_module(name) for name in sorted(EXPORTS)]
    exported: list[Any] = []
    per_type: collections.Counter[type] = collections.Counter()
    for facade in facades:
        for value in object.__getattribute__(facade, "_facade_exports").values():
            # every exported class; three of each other kind (math's 60 functions, ...)
            per_type[type(value)] += 1
            if isinstance(value, type) or per_type[type(value)] <= 3:
                exported.append(value)
    objects: list[Any] = [
        *value_instances(),
        *sorted(EXPOSED_CLASSES, key=repr),
        *facades,
        # a facade exporting names the rule refuses anyway
        Facade("odd", {"mro": 1, "format_map": 2, "f_globals": 3, "_p": 4, "__x__": 5, "ok": 6}),
        *exported,
        *events(),
        Settings({"url": "https://x.example", "token": "s3cr3t"}, secret_names=("token",)),
        Response(200, {"Content-Type": "application/json"}, b'{"a": 1}', "https://x.example"),
        functions_sdk.logger,
        SourceRequest(method="POST", headers={"h": "v"}, body='{"a": 1}'),
        ValueError("v"),
        json.JSONDecodeError("bad", "doc", 1),
        StopIteration(3),
        KeyError("k"),
        functions_sdk.RetryError("r", status=503),
        functions_sdk.DropEvent("d"),
        super(int, 1),
        object(),
        functions_sdk.fetch,
        Guards,  # a host class that is neither exposed nor an event model
    ]
    return objects


def names(objects: list[Any]) -> list[str]:
    found = {
        "get",
        "keys",
        "items",
        "values",
        "upper",
        "encode",
        "append",
        "real",
        "imag",
        "year",
        "isoformat",
        "fromisoformat",
        "now",
        "utcnow",
        "hexdigest",
        "copy",
        "status",
        "ok",
        "json",
        "text",
        "url",
        "headers",
        "content",
        "raise_for_status",
        "get_str",
        "is_secret",
        "info",
        "method",
        "body",
        "header",
        "event",
        "properties",
        "traits",
        "userId",
        "groupId",
        "previousId",
        "model_dump",
        "model_dump_json",
        "model_copy",
        "model_validate",
        "model_extra",
        "model_fields",
        "model_config",
        "model_json_schema",
        "parse_raw",
        "parse_file",
        "dict",
        "extraField",
        "dumps",
        "loads",
        "args",
        "message",
        "value",
        "msg",
        "doc",
        "pos",
        "with_traceback",
        "kind",
        "public",
        "child_only",
        "code",
        "detail",
        "fresh",
        "sup",
        "nonexistent",
        "format",
        "format_map",
        "mro",
        "Format",
        "FORMAT",
        "",
        "__init__",
        "__class__",
        "__dict__",
        "__subclasses__",
        "__globals__",
        "__thisclass__",
        "__self__",
        "__func__",
        "__bases__",
        "__mro__",
        "__module__",
        "__name__",
        "_secret",
        "_helper",
        "_added_private",
        "_values",
        "_status",
        "_body",
        "_facade_exports",
        "_facade_name",
        "_emit",
        "_private",
        "_",
        "a" * (MAX_REMEMBERED_NAME + 1),
        *INSPECT_ATTRIBUTES,
    }
    for module_names in EXPORTS.values():
        found |= module_names
    for allowed in guards_module._SDK_ATTRS.values():
        found |= allowed
    for obj in objects:
        if isinstance(obj, BaseEvent):
            found |= set(type(obj).model_fields) | set(obj.model_extra or {})
    return sorted(found)


Outcome = tuple[Any, ...]


def uncached_getattr(guards: Guards, obj: Any, name: str, *default: Any) -> Any:
    """``guards.getattr`` decided by ``guards.allowed`` alone, nothing remembered: the
    reference that the remembered decisions are checked against (the same steps as
    ``Guards.getattr`` takes on a miss)."""
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if not guards.allowed(obj, name):
        if _is_str_format(obj, name):
            return guarded_format(guards, None if isinstance(obj, type) else obj, name)
        if default:
            return default[0]
        raise _refuse(obj, name)
    wrapped = _wrapped(obj, name)
    if wrapped is not None:
        return wrapped
    value = getattr(obj, name, *default)
    guards._check_value(obj, name, value)
    return value


def outcome(read: Callable[..., Any], obj: Any, name: str, *default: Any) -> Outcome:
    try:
        value = read(obj, name, *default)
    except SandboxAccessError as exc:
        return ("refused", str(exc))
    except Exception as exc:  # what the real attribute read raised, e.g. AttributeError
        return ("raised", type(exc), str(exc))
    return ("value", value)


def same(a: Outcome, b: Outcome) -> bool:
    if a[0] != "value" or b[0] != "value":
        return a == b
    x, y = a[1], b[1]
    if x is y:
        return True
    qualname = getattr(x, "__qualname__", "")
    if qualname.startswith("guarded_format.") and qualname == getattr(y, "__qualname__", None):
        return True  # str.format / format_map: a fresh guarded wrapper on every read
    try:
        return type(x) is type(y) and bool(x == y)
    except Exception:
        return False


MISSING = object()


def check(world: World, obj: Any, name: str) -> None:
    guards = world.guards
    reference = outcome(functools.partial(uncached_getattr, guards), obj, name)
    for _ in range(2):  # the first read may remember, the second may be remembered
        got = outcome(guards.getattr, obj, name)
        assert same(got, reference), (obj, name, got, reference)
    with_default = outcome(guards.getattr, obj, name, MISSING)
    uncached = functools.partial(uncached_getattr, guards)
    assert same(with_default, outcome(uncached, obj, name, MISSING)), (obj, name)
    assert guards.hasattr(obj, name) == (reference[0] == "value"), (obj, name)


def pairs(world: World, order: str) -> Iterator[tuple[Any, str]]:
    objects = world.objects
    all_names = names(objects)
    if order == "by-object":
        return ((o, n) for o in objects for n in all_names)
    if order == "by-name":
        return ((o, n) for n in all_names for o in objects)
    if order == "reversed":
        return ((o, n) for n in reversed(all_names) for o in reversed(objects))
    shuffled = [(o, n) for o in objects for n in all_names]
    random.Random(order).shuffle(shuffled)
    return iter(shuffled)


def check_remembered(world: World) -> None:
    """Every remembered decision is the rule's answer for every object it stands for."""
    guards = world.guards
    by_type: dict[tuple[type, str], bool] = guards._by_type
    by_class: dict[tuple[type, str], bool] = guards._by_class
    assert by_type, "nothing was remembered: the fast path was not exercised"
    assert by_class, "no class decision was remembered"
    for (cls, name), decision in by_type.items():
        assert cls in guards_module._REMEMBERED_NAMES, cls
        instances = [o for o in world.objects if type(o) is cls]
        assert instances, cls
        for obj in instances:
            assert guards.allowed(obj, name) is decision, (obj, name, decision)
    for (cls, name), decision in by_class.items():
        assert cls in guards_module._CLASS_KEYED, cls
        assert guards.allowed(cls, name) is decision, (cls, name, decision)


@pytest.mark.parametrize("order", ["by-object", "by-name", "reversed", "shuffle-1", "shuffle-2"])
def test_remembered_decisions_match_the_rule_in_any_order(order: str) -> None:
    world = World()
    for obj, name in pairs(world, order):
        check(world, obj, name)
    check_remembered(world)


def test_after_author_classes_change_at_run_time() -> None:
    world = World()
    for obj, name in pairs(world, "by-name"):
        check(world, obj, name)
    for key in ("Plain", "Child", "AuthorDict", "AuthorTrackEvent", "Failure", "BadValue"):
        world.mutate(world.author[key])
    for obj, name in pairs(world, "shuffle-3"):
        check(world, obj, name)
    check_remembered(world)
    plain = world.author["plain"]
    assert world.guards.getattr(plain, "get") == "rebound get"
    assert world.guards.getattr(plain, "format") == "now has format"
    assert world.guards.getattr(plain, "_added_private") == "added private"
    # the author's classes and instances are never remembered
    author_types = {type(o) for o in author_objects(world.author)} | {
        o for o in author_objects(world.author) if isinstance(o, type)
    }
    remembered = {cls for cls, _ in world.guards._by_type} | {
        cls for cls, _ in world.guards._by_class
    }
    # A generator is made by author code but its type is the host's, with a fixed
    # allow-list (send, close, throw): decided by type and name like any value type.
    author_types.discard(types.GeneratorType)
    assert not remembered & author_types


def _is_guarded_format(method: Any) -> bool:
    """The guard's own ``format`` (authoring.guarded_format's closure), not ``str.format``;
    by module and a qualified name that mutmut's renamed copies keep as well."""
    return (
        getattr(method, "__module__", None) == "functions_runtime.sandbox.guest.authoring"
        and "guarded_format" in method.__qualname__.split(".")[0]
    )


def test_a_name_first_asked_on_another_type() -> None:
    world = World()
    g = world.guards
    track = parse_event({"type": "track", "event": "E", "userId": "u"})
    identify = parse_event({"type": "identify", "userId": "u"})
    identify_extra = parse_event({"type": "identify", "userId": "u", "event": "x"})
    author_event = world.author["author_track_event"]
    author_dict = world.author["author_dict"]
    assert g.getattr(track, "event") == "E"  # remembered for TrackEvent
    with pytest.raises(SandboxAccessError):
        g.getattr(identify, "event")  # IdentifyEvent has no such field
    assert g.getattr(identify_extra, "event") == "x"  # this one event's unknown field
    assert g.getattr(author_event, "event") == "not a field"
    assert g.getattr({"a": 1}, "get")("a") == 1  # remembered for dict
    assert g.getattr(author_dict, "get") == "not dict.get"
    assert g.getattr(author_dict, "_private", None) is None
    with pytest.raises(SandboxAccessError):
        g.getattr({}, "_private")
    assert g.getattr(world.author["plain"], "_secret") == "own private"
    # str.format: a remembered refusal of the real method for str, answered with the
    # guard's own version (issue 13) ...
    assert _is_guarded_format(g.getattr("s", "format"))
    assert g._by_type[(str, "format")] is False
    assert g.getattr(world.author["plain"], "format", None) is None  # ... not for authors
    assert callable(g.getattr(decimal.Decimal("1"), "to_integral"))
    # the class, not an instance: its own table
    assert _is_guarded_format(g.getattr(str, "format"))
    assert g._by_class[(str, "format")] is False
    assert callable(g.getattr(str, "upper"))


@pytest.mark.parametrize(
    "base",
    sorted(
        (
            VALUE_TYPES
            | EXPOSED_CLASSES
            | set(guards_module._SDK_ATTRS)
            | set(guards_module._EVENT_KEYED)
            | {type, super, Facade}
        )
        - {object},
        key=repr,
    ),
    ids=repr,
)
def test_author_code_cannot_derive_from_remembered_types(base: type) -> None:
    """The remembered tables rest on this: no author class is ever one of these types."""
    world = World()
    with pytest.raises(TypeError, match="cannot derive from"):
        world.namespace["derive"](base)


def test_tables_are_bounded() -> None:
    g = Guards(AUTHOR_BASES)
    for i in range(3 * MAX_REMEMBERED):
        with pytest.raises(AttributeError):
            g.getattr(7, f"name{i}")
        with pytest.raises(SandboxAccessError):
            g.getattr(int, f"_name{i}")
    assert 0 < len(g._by_type) <= MAX_REMEMBERED
    assert 0 < len(g._by_class) <= MAX_REMEMBERED
    long_name = "x" * (MAX_REMEMBERED_NAME + 1)
    with pytest.raises(AttributeError):
        g.getattr(7, long_name)
    assert (int, long_name) not in g._by_type


def test_author_register_follows_the_classes() -> None:
    g = Guards(AUTHOR_BASES)
    made = [g.make_class(f"C{i}", (object,), {}) for i in range(50)]
    assert all(g.is_author_object(cls) and g.is_author_object(cls()) for cls in made)
    assert len(g._author_refs) == 50
    del made
    gc.collect()
    assert len(g._author_refs) == 0
    for _ in range(200):  # new objects, possibly at the addresses of the dead classes
        fresh = type("Fresh", (object,), {})
        assert not g.is_author_object(fresh)
        assert not g.is_author_object(fresh())
        assert g.is_author_object(fresh) == (fresh in g.author_classes)
