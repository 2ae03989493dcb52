"""A function's own modules and its workspace's libraries are confined like handler.py.

A module of the folder (``helpers.py``) or of a library (``acme_utils/x.py``) is
compiled under the same policy and runs under the same guards, in the same worker, as
the handler: every hostile case the handler cannot run, a module cannot run either. A
module cannot replace a module the sandbox provides (``json.py``): refused at upload,
refused by the worker's own compile (a host that skipped the upload check), and the
import hook looks the sandbox's modules up first in any case. A module object is a
read-only facade over its globals: no private names, no writes.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from sandbox_harness import DEFAULT_EVENT, MEMORY_MB, TIMEOUT, Sandbox
from test_cases import CASES, Case

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.folder import (
    ModuleCode,
    compile_folder,
    compile_library,
)
from functions_runtime.sandbox.guest.loader import EventModules
from functions_runtime.sandbox.guest.modules import Facade
from functions_runtime.sandbox.guest.worker import Runner
from functions_runtime.sandbox.host.pool import InstanceSpec

CALL_EVIL = "from acme_utils import evil\n\n\ndef on_track(event, settings):\n" + (
    "    return evil.on_track(event, settings)\n"
)


def _spec(key: str, handler: str, modules: dict[str, str]) -> InstanceSpec:
    return InstanceSpec(
        key=key,
        source=textwrap.dedent(handler),
        filename="handler.py",
        timeout=TIMEOUT,
        memory_mb=MEMORY_MB,
        modules=tuple(sorted(modules.items())),
    )


# -- the compile policy is the handler's --------------------------------------------------

REFUSED_ANYWHERE = [c for c in CASES if c.expect == "invalid"]


@pytest.mark.parametrize("case", REFUSED_ANYWHERE, ids=lambda c: c.name)
def test_an_invalid_case_is_refused_as_a_helper_and_as_a_library_module(case: Case) -> None:
    # A case may be invalid for its handler's shape only (no handler, bad signature):
    # that does not apply to a module, whatever else is refused must be.
    if compile_function(case.source, "x.py", None).ok:
        pytest.skip("invalid as a handler only (its shape)")
    helper = compile_folder({"handler.py": CALL_EVIL, "helpers.py": case.source})
    assert any(str(p).startswith("helpers.py:") for p in helper.errors), helper.errors
    library = compile_library("acme_utils", {"__init__.py": "", "evil.py": case.source})
    assert any(str(p).startswith("acme_utils/evil.py:") for p in library.errors)


def _contained_sample() -> list[Case]:
    eligible = [
        c
        for c in CASES
        if c.expect == "contained"
        and c.runs == 1
        and not c.batch
        and c.event is None
        and "def on_track(" in c.source
        and "on_batch" not in c.source
        and c.error not in {"MemoryError", "MemoryLimitExceeded", "Timeout", "WorkerCrashed"}
    ]
    return eligible[::4]  # a spread of the guard-level cases; test_cases.py runs them all


@pytest.mark.parametrize("case", _contained_sample(), ids=lambda c: c.name)
def test_a_contained_case_in_a_library_module_ends_as_in_the_handler(
    case: Case, sandbox: Sandbox
) -> None:
    """The attack sits in ``acme_utils/evil.py``; the handler only calls it."""
    modules = {"acme_utils/__init__.py": "", "acme_utils/evil.py": sandbox.source_of(case.source)}
    [result] = sandbox.pool.invoke(_spec(f"lib-{case.name}", CALL_EVIL, modules), [DEFAULT_EVENT])
    error = (result.get("error") or {}).get("type")
    assert result["outcome"] == case.outcome, (case.attack, result)
    assert error in {case.error, case.also}, (case.attack, result)
    if result["outcome"] == "delivered":
        assert result["result"]["escaped"] is False, result


# -- no shadowing of the sandbox's modules -----------------------------------------------


@pytest.mark.parametrize("path", ["json.py", "functions_sdk/__init__.py", "re.py", "json/x.py"])
def test_a_module_named_like_a_sandbox_module_is_refused_at_upload(path: str) -> None:
    report = compile_folder({"handler.py": CALL_EVIL, path: "X = 1\n"})
    assert any(
        str(p).startswith(f"{path}:1: ") and "module the sandbox provides" in p.message
        for p in report.errors
    ), report.errors


def test_the_worker_refuses_a_shadowing_module_a_host_sent_anyway(sandbox: Sandbox) -> None:
    handler = "import json\n\ndef on_track(event, settings):\n    return json.dumps({'a': 1})\n"
    modules = {"json.py": "def dumps(value):\n    return 'shadowed'\n"}
    [result] = sandbox.pool.invoke(_spec("shadow-json", handler, modules), [DEFAULT_EVENT])
    assert result["outcome"] == "invalid"
    assert "json.py:1:" in result["error"]["message"]


def _runner(handler: str, modules: dict[str, str]) -> Runner:
    own = {p: s for p, s in modules.items() if not p.startswith("json")}
    compiled = compile_folder({"handler.py": handler, **own})
    assert not compiled.errors, compiled.errors
    assert compiled.handler is not None and compiled.handler.code is not None
    code = compiled.handler.code
    table = dict(compiled.modules)
    for path, source in modules.items():  # past the compile check, as a broken host might
        if path.startswith("json"):
            named = compile_function(source, path, None).code
            assert named is not None
            table["json"] = ModuleCode("json", path, named, False)
    return Runner(code, "handler.py", "destination", modules=table)


def test_the_import_hook_gives_the_sandbox_module_first() -> None:
    """Even with a ``json`` module in its table, the handler gets the sandbox's json."""
    handler = "import json\n\ndef on_track(event, settings):\n    return json.dumps({'a': 1})\n"
    runner = _runner(handler, {"json.py": "def dumps(value):\n    return 'shadowed'\n"})
    namespace = runner.fresh_module()
    assert namespace["json"].facade_name() == "json"
    assert namespace["json"].dumps({"a": 1}) == '{"a": 1}'


# -- module objects -----------------------------------------------------------------------


def _outcome(handler: str, modules: dict[str, str], sandbox: Sandbox, key: str) -> Any:
    [result] = sandbox.pool.invoke(_spec(key, handler, modules), [DEFAULT_EVENT])
    return result


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("return getattr(helpers, '_getattr_')", "SandboxAccessError"),
        ("return getattr(helpers, '__builtins__')", "SandboxAccessError"),
        ("helpers.VALUE = 2", "SandboxAccessError"),
        ("setattr(helpers, 'VALUE', 2)", "SandboxAccessError"),
        ("return helpers['VALUE']", "SandboxAccessError"),
    ],
)
def test_a_module_is_a_read_only_facade(body: str, error: str, sandbox: Sandbox) -> None:
    handler = f"import helpers\n\ndef on_track(event, settings):\n    {body}\n"
    result = _outcome(handler, {"helpers.py": "VALUE = 1\n"}, sandbox, f"facade-{hash(body)}")
    assert result["outcome"] == "rejected", result
    assert result["error"]["type"] in {error, "AttributeError", "TypeError"}, result


@pytest.mark.parametrize(
    "source",
    [
        "from helpers import _getattr_\n",
        "from helpers import _write_ as w\n",
        "from helpers import __builtins__\n",
        "import helpers\nx = helpers.__dict__\n",
        "from ... import helpers\n",
        "from .. import nothing_here\n",
        "from .nowhere import x\n",
    ],
)
def test_private_names_and_climbing_out_of_the_folder_are_refused(source: str) -> None:
    report = compile_folder({"handler.py": CALL_EVIL, "helpers.py": "X = 1\n", "lib/a.py": source})
    assert any(str(p).startswith("lib/a.py:") for p in report.errors), report.errors


def test_the_runtime_names_of_a_module_are_not_its_names_even_past_the_compiler() -> None:
    """``from helpers import _getattr_`` is refused at compile; the module object would
    not give it either (nor ``__builtins__``), while the author's own ``_private``
    imports as in Python."""
    handler = "import helpers\n\ndef on_track(event, settings):\n    return 1\n"
    runner = _runner(handler, {"helpers.py": "_private = 1\nVALUE = 2\n"})
    helpers = runner.fresh_module()["helpers"]
    for name in ("_getattr_", "_write_", "__builtins__", "__name__", "_print_"):
        with pytest.raises(AttributeError):
            getattr(helpers, name)  # what IMPORT_FROM does, past every guard
    assert (helpers._private, helpers.VALUE) == (1, 2)


def test_the_loader_itself_refuses_to_climb_out_of_the_folder() -> None:
    modules = EventModules({}, lambda name, importer: {})
    importer = modules.importer_for("")
    with pytest.raises(ImportError, match="beyond"):
        importer("x", (), 2)
    with pytest.raises(ImportError, match="no module"):
        importer("x", (), 1)
    assert importer("os", (), 0) is None  # not local: the sandbox's hook decides (refuses)
    assert isinstance(EventModules({}, lambda n, i: {}).importer_for("a"), type(importer))
    assert Facade  # the type the loader hands out
