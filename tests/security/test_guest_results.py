"""What leaves the sandbox (``sandbox/guest/results.py``): the result as plain JSON built
with exact-type checks, the outcome each exception leads to, and the error record
(type, masked and bounded message, line), pinned to the exact record.

Written against the mutants of results.py that the rest of the suite let pass
(docs/TESTING.md, "Round 3: sandbox guest"). In-process through the worker's
``Runner``, as the worker runs it.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.guest.results import MAX_MESSAGE, MAX_RESULT_DEPTH, error_info
from functions_runtime.sandbox.guest.worker import Runner

MAX_RESULT_ITEMS = 100_000
EVENT = {"type": "track", "event": "E", "userId": "u", "messageId": "m1"}
SECRET = "TOPSECRET123"
PLAIN = "return plain JSON values (dict, list, str, int, float, bool, None) or an event"


def record(prelude: str, body: str) -> tuple[str, Any, Any]:
    """``(outcome, result, error)`` of one event through a fresh Runner."""
    source = (
        prelude
        + "\ndef on_track(event, settings):\n"
        + textwrap.indent(textwrap.dedent(body), "    ")
    )
    report = compile_function(source, "handler.py")
    assert report.ok and report.code is not None, report.errors
    runner = Runner(report.code, "handler.py", "destination")
    message = {"settings": {"k": SECRET}, "secret_names": ["k"]}
    out = runner.run_one(dict(EVENT), message)
    return out["outcome"], out["result"], out["error"]


def error(kind: str, message: str, line: int | None) -> dict[str, Any]:
    return {"type": kind, "message": message, "line": line}


def result_error(message: str) -> tuple[str, None, dict[str, Any]]:
    return ("rejected", None, error("ResultError", message, None))


NEST = "x = 1\nfor i in range({n}):\n    x = [x]\nreturn x"
NEST_DICT = "x = 1\nfor i in range({n}):\n    x = {{'a': x}}\nreturn x"


def nested(n: int, in_dicts: bool = False) -> Any:
    value: Any = 1
    for _ in range(n):
        value = {"a": value} if in_dicts else [value]
    return value


CASES: list[tuple[str, str, str, Any]] = [
    (
        "plain_values",
        "",
        "return {'a': [1, 2.5, True, None, 'x'], 'b': (1, (2,))}",
        ("delivered", {"a": [1, 2.5, True, None, "x"], "b": [1, [2]]}, None),
    ),
    (
        "stamps_and_numbers",
        "import datetime\nimport decimal\nimport uuid\n",
        "return [datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.date(2024, 1, 2), "
        "decimal.Decimal('1.50'), uuid.UUID('12345678-1234-5678-1234-567812345678')]",
        (
            "delivered",
            ["2024-01-02T03:04:05", "2024-01-02", "1.50", "12345678-1234-5678-1234-567812345678"],
            None,
        ),
    ),
    ("event", "", "return event", ("delivered", EVENT, None)),
    ("event_in_a_dict", "", "return {'e': event}", ("delivered", {"e": EVENT}, None)),
    (
        "nan",
        "",
        "return [1.0, float('nan')]",
        result_error("result contains NaN or infinity, which JSON cannot carry"),
    ),
    (
        "infinity",
        "",
        "return {'a': float('-inf')}",
        result_error("result contains NaN or infinity, which JSON cannot carry"),
    ),
    (
        "dict_key",
        "",
        "return {'a': {1: 2}}",
        result_error("result has a dict key of type int; JSON keys are strings"),
    ),
    ("depth_at_limit", "", NEST.format(n=MAX_RESULT_DEPTH), ("delivered", nested(32), None)),
    (
        "depth_over_limit",
        "",
        NEST.format(n=MAX_RESULT_DEPTH + 1),
        result_error(f"result is nested deeper than {MAX_RESULT_DEPTH} levels"),
    ),
    (
        "dict_depth_at_limit",
        "",
        NEST_DICT.format(n=MAX_RESULT_DEPTH),
        ("delivered", nested(32, in_dicts=True), None),
    ),
    (
        "dict_depth_over_limit",
        "",
        NEST_DICT.format(n=MAX_RESULT_DEPTH + 1),
        result_error(f"result is nested deeper than {MAX_RESULT_DEPTH} levels"),
    ),
    (
        "items_at_limit",
        "",
        f"return [0] * {MAX_RESULT_ITEMS - 1}",
        ("delivered", [0] * (MAX_RESULT_ITEMS - 1), None),
    ),
    (
        "items_over_limit",
        "",
        f"return [0] * {MAX_RESULT_ITEMS}",
        result_error(f"result has more than {MAX_RESULT_ITEMS} values"),
    ),
    (
        "own_object",
        "class Own:\n    pass\n",
        "return [Own()]",
        result_error(f"handler returned a Own; {PLAIN}"),
    ),
    ("set", "", "return {1}", result_error(f"handler returned a set; {PLAIN}")),
    (
        "not_an_event_from_the_events_module",
        "from functions_sdk.events import EventParseError",
        "return EventParseError('x')",
        result_error(f"handler returned a EventParseError; {PLAIN}"),
    ),
    # outcomes, by SDK class
    (
        "drop",
        "from functions_sdk import DropEvent",
        "raise DropEvent('no')",
        ("filtered", None, error("DropEvent", "no", 3)),
    ),
    (
        "not_supported",
        "from functions_sdk import EventNotSupported",
        "raise EventNotSupported('no')",
        ("filtered", None, error("EventNotSupported", "no", 3)),
    ),
    (
        "retry",
        "from functions_sdk import RetryError",
        "raise RetryError('later')",
        ("retry", None, error("RetryError", "later", 3)),
    ),
    (
        "recursion",
        "",
        "def f():\n    return f()\nreturn f()",
        (
            "retry",
            None,
            error("RecursionError", "maximum recursion depth exceeded (resource limit)", 4),
        ),
    ),
    # the error's message: from args, never from the author's code
    (
        "function_error",
        "from functions_sdk import FunctionError",
        "raise FunctionError('msg')",
        ("rejected", None, error("FunctionError", "msg", 3)),
    ),
    (
        "function_error_empty",
        "from functions_sdk import FunctionError",
        "raise FunctionError()",
        ("rejected", None, error("FunctionError", "", 3)),
    ),
    (
        "function_error_not_text",
        "from functions_sdk import FunctionError",
        "raise FunctionError(5)",
        ("rejected", None, error("FunctionError", "<non-text message>", 3)),
    ),
    (
        "function_error_without_args",
        "from functions_sdk import FunctionError\n"
        "class E(FunctionError):\n    def __init__(self):\n        pass\n",
        "raise E()",
        ("rejected", None, error("E", "", 7)),
    ),
    ("no_args", "", "raise ValueError()", ("rejected", None, error("ValueError", "", 3))),
    (
        "plain_args",
        "",
        "raise ValueError('bad', 1)",
        ("rejected", None, error("ValueError", "('bad', 1)", 3)),
    ),
    (
        "other_args",
        "",
        "raise ValueError('a', [1], Exception())",
        ("rejected", None, error("ValueError", "a, <list>, <Exception>", 3)),
    ),
    (
        "unreadable_message",
        "",
        "raise ValueError(10 ** 5000)",  # str() of the exception raises (int digits limit)
        ("rejected", None, error("ValueError", "<the exception's message could not be read>", 3)),
    ),
    (
        "innermost_line_of_the_handler_file",
        "def helper():\n    raise KeyError('k')\n",
        "return helper()",
        ("rejected", None, error("KeyError", "'k'", 2)),
    ),
    (
        "secret_masked",
        "",
        "raise ValueError('key ' + settings.get('k'))",
        ("rejected", None, error("ValueError", "key ***", 3)),
    ),
    (
        "message_bounded",
        "",
        f"raise ValueError('x' * {MAX_MESSAGE + 50})",
        ("rejected", None, error("ValueError", "x" * MAX_MESSAGE, 3)),
    ),
]


@pytest.mark.parametrize(
    ("prelude", "body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_result_or_an_error_leaves_the_sandbox_as_json(
    prelude: str, body: str, expected: Any
) -> None:
    assert record(prelude, body) == expected


def test_a_memory_error_says_it_hit_the_limit() -> None:
    """Handler code cannot raise MemoryError itself (not a builtin there); the worker's
    memory limit does (tests/unit/test_backup_layers.py runs that in a worker)."""
    info = error_info(MemoryError("x" * 10), "handler.py", "[{}]".format)
    assert info == {
        "type": "MemoryError",
        "message": "[memory limit exceeded (resource limit)]",
        "line": None,
    }
