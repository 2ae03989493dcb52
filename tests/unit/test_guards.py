"""Run-time guards, exercised in-process (the worker runs exactly this code)."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.guest.guards import Guards, SandboxAccessError
from functions_runtime.sandbox.guest.namespace import AUTHOR_BASES, build_globals
from functions_sdk import Settings
from functions_sdk._context import InvocationContext, activate
from functions_sdk.events import parse_event

TRACK = {
    "type": "track",
    "event": "Order Completed",
    "userId": "u1",
    "properties": {"total": 12.5, "items": ["a", "b"]},
    "extraField": {"k": 1},
}


def call(
    body: str,
    event: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    prelude: str = "",
) -> Any:
    src = (
        textwrap.dedent(prelude)
        + "\ndef on_track(event, settings):\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
    )
    report = compile_function(src, "handler.py")
    assert report.ok, [str(e) for e in report.errors]
    namespace = build_globals(Guards(AUTHOR_BASES))
    exec(report.code, namespace)  # type: ignore[arg-type]
    with activate(InvocationContext()):
        return namespace["on_track"](parse_event(event or TRACK), Settings(settings or {}))


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("event.event.upper()", "ORDER COMPLETED"),
        ("event.properties.get('total')", 12.5),
        ("event.extraField['k']", 1),
        ("sorted(event.properties)", ["items", "total"]),
        ("event.model_dump()['userId']", "u1"),
        ("settings.get('x', 'd')", "d"),
        ("getattr(event, 'missing', 'dflt')", "dflt"),
        ("hasattr(event, 'event')", True),
        ("hasattr(event, '__class__')", False),
        ("json.loads(json.dumps({'a': [1]}))", {"a": [1]}),
        ("hmac.new(b'k', b'm', hashlib.sha256).hexdigest()[:8]", "b60090e3"),
        ("datetime.datetime(2024, 1, 2).isoformat()", "2024-01-02T00:00:00"),
        ("re.sub('[aeiou]', '', event.event)", "Ordr Cmpltd"),
        ("urllib.parse.urlencode({'q': 'a b'})", "q=a+b"),
        ("str(decimal.Decimal('1.10') + decimal.Decimal('2'))", "3.10"),
        ("collections.Counter('aab').most_common(1)", [("a", 2)]),
        ("list(itertools.islice(itertools.count(), 3))", [0, 1, 2]),
        ("base64.b64encode(b'hi').decode()", "aGk="),
        ("f'{event.event!r:>20}'", "   'Order Completed'"),
    ],
)
def test_ordinary_access_works(expr: str, expected: Any):
    prelude = """
    import json, hmac, hashlib, datetime, re, urllib.parse, decimal, collections, itertools
    import base64
    """
    assert call(f"return {expr}", prelude=prelude) == expected


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("getattr(event, '__class__')", '"__class__" is not available'),
        ("getattr(event, '_' + '_dict__')", '"__dict__" is not available'),
        ("getattr(settings, '_values')", '"_values" of Settings'),
        # str.format / format_map read fields through the guard (issue 13)
        ("'{0.__class__}'.format(1)", '"__class__" is not available'),
        ("str.format('{0._values}', 1)", '"_values" of int'),
        ("'{x.__dict__}'.format_map({'x': fetch})", '"__dict__" is not available'),
        ("int.mro()", '"mro" of class int'),
        ("json.codecs", '"codecs" is not available from "json"'),
        ("event.model_config", '"model_config" of TrackEvent'),
        ("event.model_fields", '"model_fields" of TrackEvent'),
        ("TrackEvent.model_json_schema()", '"model_json_schema" of class TrackEvent'),
        ("getattr(fetch, 'func_globals')", '"func_globals" of function'),
        ("logger._emit", '"_emit" of FunctionLogger'),
        ("getattr(super, 'mro')", '"mro"'),
    ],
)
def test_host_internals_are_refused(expr: str, fragment: str):
    prelude = "import json\nfrom functions_sdk import TrackEvent, fetch, logger\n"
    with pytest.raises((SandboxAccessError, AttributeError)) as info:
        call(f"return {expr}", prelude=prelude)
    assert fragment in str(info.value)


def test_writes_reach_only_containers_events_and_own_objects():
    result = call(
        """
        event.properties["added"] = 1
        event.userId = "u2"
        class Box:
            pass
        box = Box()
        box._hidden = 3
        setattr(box, "shown", 4)
        return [event.properties["added"], event.userId, box._hidden, box.shown]
        """
    )
    assert result == [1, "u2", 3, 4]
    for body in (
        "json.dumps = None",
        "setattr(json, 'x', 1)",
        "logger.x = 1",
        "event.model_config = {}",
        "settings.x = 1",
        "TrackEvent.x = 1",
    ):
        with pytest.raises((SandboxAccessError, AttributeError, TypeError)):
            call(body, prelude="import json\nfrom functions_sdk import TrackEvent, logger\n")


def test_super_init_works_for_own_classes_only():
    result = call(
        """
        class Failure(RetryError):
            def __init__(self, status):
                super().__init__(f"upstream {status}")
                self.code = status
        err = Failure(503)
        return [err.message, err.code, isinstance(err, RetryError)]
        """,
        prelude="from functions_sdk import RetryError\n",
    )
    assert result == ["upstream 503", 503, True]
    with pytest.raises(SandboxAccessError):
        call("return getattr(super(int, 1), 'bit_length')")


def test_base_exception_family_is_absent():
    for name in ("BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit"):
        with pytest.raises(NameError):
            call(f"return {name}")


def test_imports_are_fresh_facades():
    assert call("import json as a\nimport json as b\nreturn a is b") is False
