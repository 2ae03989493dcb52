"""What handler code gets (``sandbox/guest/namespace.py``, ``modules.py``,
``event_access.py``): ``print``, the module facades, ``json``, ``typing``, ``collections``,
the pydantic entry points, pinned to the exact value or error.

Written against the mutants these modules' other tests let pass (docs/TESTING.md,
"Round 3: sandbox guest"). In-process, as the worker runs this code.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from test_guard_rules import refused, run

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.folder import compile_folder
from functions_runtime.sandbox.guest.guards import Guards
from functions_runtime.sandbox.guest.modules import MAX_JSON_INPUT
from functions_runtime.sandbox.guest.namespace import (
    AUTHOR_BASES,
    MAX_PRINT_LINE,
    MAX_PRINTED,
    build_globals,
)
from functions_runtime.sandbox.guest.worker import Runner
from functions_sdk import Settings
from functions_sdk._context import InvocationContext, activate
from functions_sdk.events import parse_event


def run_logged(body: str) -> tuple[Any, list[str]]:
    """The handler's return value and its log lines."""
    source = "def on_track(event, settings):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    report = compile_function(source, "handler.py")
    assert report.ok and report.code is not None, [str(e) for e in report.errors]
    namespace = build_globals(Guards(AUTHOR_BASES))
    exec(report.code, namespace)
    context = InvocationContext(log_limit_bytes=10 * MAX_PRINTED)
    event = parse_event({"type": "track", "event": "E", "userId": "u"})
    with activate(context):
        result = namespace["on_track"](event, Settings({}))
    return result, context.logs


def test_print_goes_to_the_log_and_to_printed() -> None:
    body = (
        "print('a', 1)\nprint('x', 'y', sep='-', end='!')\nprint('z', 2, sep=None)\nreturn printed"
    )
    assert run_logged(body) == ("a 1\nx-y\nz 2", ["a 1", "x-y", "z 2"])


def test_print_to_a_file_is_refused() -> None:
    message = "print(file=...) is not available; print to the log"
    assert run("", "print('x', file=None)\nprint('y', file=1)") == refused(message)


def test_a_printed_line_is_cut() -> None:
    body = f"print('x' * {MAX_PRINT_LINE + 10})\nreturn printed"
    assert run_logged(body) == ("x" * MAX_PRINT_LINE, ["x" * MAX_PRINT_LINE])


def test_printed_text_is_capped_at_exactly_its_limit() -> None:
    """``printed`` keeps lines while the text so far, each line with its newline, is
    under MAX_PRINTED: with lines of MAX_PRINT_LINE - 1 characters the kept ones make
    exactly MAX_PRINTED; the log takes every line (its own cap is higher here)."""
    assert MAX_PRINTED % MAX_PRINT_LINE == 0
    kept = MAX_PRINTED // MAX_PRINT_LINE
    line = "x" * (MAX_PRINT_LINE - 1)
    body = f"for i in range({kept + 4}):\n    print('x' * {len(line)})\nreturn printed"
    assert run_logged(body) == ("\n".join([line] * kept), [line] * (kept + 4))


def test_printed_keeps_the_line_after_one_character_under_its_limit() -> None:
    """Lines worth MAX_PRINTED - 1 (newlines counted from an empty start): the next line
    is still kept, the one after is not."""
    full = MAX_PRINTED // MAX_PRINT_LINE - 1
    body = (
        f"for i in range({full}):\n    print('x' * {MAX_PRINT_LINE - 1})\n"
        f"print('x' * {MAX_PRINT_LINE - 2})\nprint('y')\nprint('z')\nreturn printed"
    )
    printed, _ = run_logged(body)
    assert printed.split("\n")[-2:] == ["x" * (MAX_PRINT_LINE - 2), "y"]


BUILTIN_CASES: list[tuple[str, str, str, Any]] = [
    (
        "type",
        "class Own:\n    pass\n",
        "return [type('s') is str, type(Own()) is Own]",
        [True, True],
    ),
    ("for_loop", "", "t = 0\nfor x in [1, 2]:\n    t = t + x\nreturn t", 3),
    ("unpack_in_loop", "", "return [a + b for a, b in [(1, 2), (3, 4)]]", [3, 7]),
    ("unpack", "", "a, (b, c) = 1, (2, 3)\nreturn [a, b, c]", [1, 2, 3]),
    ("module_name", "class Own:\n    pass\n", "return repr(Own()).split(' ')[0]", "<handler.Own"),
]


@pytest.mark.parametrize(
    ("prelude", "body", "expected"),
    [c[1:] for c in BUILTIN_CASES],
    ids=[c[0] for c in BUILTIN_CASES],
)
def test_builtins_and_the_compiler_hooks(prelude: str, body: str, expected: Any) -> None:
    assert run(prelude, body) == expected


JSON_CASES: list[tuple[str, Any]] = [
    ("json.dumps({'b': 1, 'a': 'é'})", '{"b": 1, "a": "\\u00e9"}'),
    ("json.dumps({'b': 1, 'a': 2}, sort_keys=True)", '{"a": 2, "b": 1}'),
    ("json.dumps('é', ensure_ascii=False)", '"é"'),
    ("json.dumps([1, 2], indent=1)", "[\n 1,\n 2\n]"),
    ("json.dumps({'a': [1, 2]}, separators=(',', ':'))", '{"a":[1,2]}'),
    ("json.dumps({'d': datetime.date(2024, 1, 2)}, default=str)", '{"d": "2024-01-02"}'),
    ("json.loads('[1, \"a\"]')", [1, "a"]),
]


@pytest.mark.parametrize(("expr", "expected"), JSON_CASES, ids=[c[0] for c in JSON_CASES])
def test_json(expr: str, expected: Any) -> None:
    assert run("import json\nimport datetime", f"return {expr}") == expected


def test_json_input_is_bounded_at_exactly_its_limit() -> None:
    at_limit = f"json.loads('1' + ' ' * {MAX_JSON_INPUT - 1})"
    assert run("import json", f"return {at_limit}") == 1
    over = f"json.loads('1' + ' ' * {MAX_JSON_INPUT})"
    assert run("import json", f"return {over}") == (
        "ValueError",
        f"JSON input over {MAX_JSON_INPUT} bytes",
    )


TYPING = "from typing import Generic, TypeVar, Protocol, NamedTuple, TypedDict, Optional, cast\n"
TYPING_CASES: list[tuple[str, str, str, Any]] = [
    (
        "generic",
        "T = TypeVar('T')\nclass Box(Generic[T]):\n    pass\n",
        "return Box[int] is Box",
        True,
    ),
    ("protocol", "class P(Protocol):\n    def f(self):\n        return 2\n", "return P().f()", 2),
    (
        "named_tuple",
        "class Pt(NamedTuple):\n    x: int\n    y: int = 5\n",
        "p = Pt(1)\nreturn [p.x, p.y, list(p)]",
        [1, 5, [1, 5]],
    ),
    ("typed_dict", "class TD(TypedDict):\n    a: int\n", "return TD(a=1)", {"a": 1}),
    (
        "other_base",
        "",
        "class X(Optional):\n    pass",
        ("TypeError", "typing.Optional cannot be a base class"),
    ),
    ("repr", "", "return [repr(Optional), repr(Optional[int])]", ["typing.Optional"] * 2),
    ("type_checking", "import typing\n", "return typing.TYPE_CHECKING is False", True),
    ("cast", "", "return cast(int, 'x')", "x"),
]


@pytest.mark.parametrize(
    ("prelude", "body", "expected"), [c[1:] for c in TYPING_CASES], ids=[c[0] for c in TYPING_CASES]
)
def test_typing(prelude: str, body: str, expected: Any) -> None:
    assert run(TYPING + prelude, body) == expected


MODULE_CASES: list[tuple[str, str, str, Any]] = [
    ("repr", "import json", "return repr(json)", "<module 'json' (functions)>"),
    (
        "urllib_name",
        "import urllib",
        "return getattr(urllib, 'nope')",
        refused('"nope" is not available from "urllib"'),
    ),
    ("urllib_parse", "import urllib", "return urllib.parse.quote('a b')", "a%20b"),
    (
        "collections_name",
        "import collections",
        "return getattr(collections, 'nope')",
        refused('"nope" is not available from "collections"'),
    ),
    (
        "stdlib_builder_name",
        "import dataclasses",
        "return getattr(dataclasses, 'nope')",
        refused('"nope" is not available from "dataclasses"'),
    ),
    (
        "collections_namedtuple",
        "import collections\nP = collections.namedtuple('P', 'x y')\n",
        "p = P(1, 2)\nreturn [p.x, p.y]",
        [1, 2],
    ),
    (
        "collections_abc_base",
        "import collections\n"
        "class M(collections.abc.Mapping):\n"
        "    def __getitem__(self, k):\n        return 1\n"
        "    def __iter__(self):\n        return iter(['a'])\n"
        "    def __len__(self):\n        return 1\n"
        "    def own(self):\n        return 3\n",
        "m = M()\nreturn [m.get('a'), dict(m), m.own(), len(m)]",
        [1, {"a": 1}, 3, 1],
    ),
    (
        "dataclass",
        "from dataclasses import dataclass, field\n"
        "@dataclass\nclass P:\n    x: int\n    y: list = field(default_factory=list)\n",
        "p = P(1)\np.y.append(2)\nreturn [p.x, p.y, p == P(1, [2])]",
        [1, [2], True],
    ),
    # the pydantic entry points: the guard's versions for events, nothing for the rest
    (
        "model_copy_deep",
        "",
        "c = event.model_copy(deep=True)\nc.properties['x'] = 1\nreturn event.properties",
        {},
    ),
    (
        "model_copy_key",
        "",
        "return event.model_copy(update={1: 'x'})",
        refused("model_copy(update=...) keys must be field names"),
    ),
    ("model_copy_of_dict", "", "return getattr({}, 'model_copy', 'r')", "r"),
    ("model_validate_of_dict", "", "return getattr(dict, 'model_validate', 'r')", "r"),
]


@pytest.mark.parametrize(
    ("prelude", "body", "expected"), [c[1:] for c in MODULE_CASES], ids=[c[0] for c in MODULE_CASES]
)
def test_modules_and_event_methods(prelude: str, body: str, expected: Any) -> None:
    assert run(prelude, body) == expected


def test_strptime_works_behind_the_import_hook() -> None:
    """``datetime.strptime``'s C code imports ``_strptime`` through the handler's
    ``__import__``: it gets a stand-in (and takes the real module from sys.modules)."""
    body = (
        "return [datetime.datetime.strptime('2024-01-02', '%Y-%m-%d').day, "
        "time.strptime('2024', '%Y').tm_year]"
    )
    assert run("import datetime\nimport time", body) == [2, 2024]


def test_the_import_hook_refuses_what_the_sandbox_does_not_offer() -> None:
    """Defence in depth: the compiler refuses such imports first."""
    hook = build_globals(Guards(AUTHOR_BASES))["__builtins__"]["__import__"]
    for args in (("os",), ("os", None, None, ("path",), 0), ("json", None, None, (), 1)):
        with pytest.raises(ImportError) as info:
            hook(*args)
        assert str(info.value) == f'module "{args[0]}" is not available in functions'
    assert hook("urllib.parse").facade_name() == "urllib"
    assert hook("urllib.parse", None, None, ("quote",), 0).facade_name() == "urllib.parse"


def _folder_runner(files: dict[str, str]) -> Runner:
    compiled = compile_folder(files)
    assert not compiled.errors, compiled.errors
    assert compiled.handler is not None and compiled.handler.code is not None
    return Runner(
        compiled.handler.code, "handler.py", "destination", modules=dict(compiled.modules)
    )


def test_the_import_hook_hands_the_names_imported_from_a_package_to_the_loader() -> None:
    """``from acme_utils import x`` loads the package's submodule ``x`` (the hook passes
    the names to the function's own loader); ``import collections.abc`` is the
    ``collections`` facade with this worker's guard (its namedtuples are the author's)."""
    handler = (
        "import collections.abc\n"
        "from acme_utils import x\n\n"
        "def on_track(event, settings):\n"
        "    P = collections.namedtuple('P', 'a')\n"
        "    return [x.VALUE, P(2).a]\n"
    )
    files = {"handler.py": handler, "acme_utils/__init__.py": "", "acme_utils/x.py": "VALUE = 1\n"}
    runner = _folder_runner(files)
    out = runner.run_one(
        {"type": "track", "event": "E", "userId": "u"}, {"settings": {}, "secret_names": []}
    )
    assert (out["outcome"], out["result"], out["error"]) == ("delivered", [1, 2], None)
