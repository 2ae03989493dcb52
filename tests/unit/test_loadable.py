"""A function's code compiled once by the host and loaded by its workers
(``sandbox/loadable.py``): the payload is the worker's own compile, byte for byte."""

from __future__ import annotations

import dis

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.folder import compile_modules, local_names
from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from functions_runtime.sandbox.loadable import Loadable, compile_load, pack, unpack
from functions_runtime.sandbox.local_imports import folder_policy

HANDLER = """
from lib.util import shout


def on_track(event, settings):
    return shout(event.event)


def on_identify(event, settings):
    return None
"""
MODULES = {"lib/__init__.py": "", "lib/util.py": "def shout(text):\n    return text.upper()\n"}
EVENT = {"type": "track", "event": "order", "userId": "u1"}


def _listing(code: object) -> list[tuple[str, object]]:
    return [(i.opname, i.argval) for i in dis.get_instructions(code)]  # type: ignore[arg-type]


def test_the_payload_is_what_a_worker_compiles_itself() -> None:
    problems, loadable = compile_load(HANDLER, "handler.py", "destination", MODULES)
    assert problems == [] and loadable is not None
    local = local_names(MODULES) | {"handler"}
    own = compile_function(
        HANDLER, "handler.py", "destination", folder_policy(local, frozenset(), "")
    )
    assert own.code is not None
    back = unpack(pack(loadable))
    assert back.handlers == own.handlers == ("on_track", "on_identify")
    assert back.code.co_code == own.code.co_code
    assert _listing(back.code) == _listing(own.code)
    folder = compile_modules(MODULES, local=local)
    assert list(back.modules) == list(folder.modules) == ["lib", "lib.util"]
    for name, module in back.modules.items():
        assert (module.name, module.filename, module.package) == (
            folder.modules[name].name,
            folder.modules[name].filename,
            folder.modules[name].package,
        )
        assert module.code.co_code == folder.modules[name].code.co_code


def test_a_single_file_needs_no_modules() -> None:
    problems, loadable = compile_load(HANDLER.split("\n", 2)[2], "handler.py", "destination", {})
    assert problems == [] and loadable is not None
    assert isinstance(pack(loadable), str)
    assert unpack(pack(loadable)).modules == {}


def test_problems_of_the_handler_and_of_its_modules() -> None:
    problems, loadable = compile_load("import os\n", "handler.py", "destination", {})
    assert loadable is None
    assert problems and problems[0].startswith('handler.py:1: module "os" is not available')
    bad_module = {"lib/util.py": "import socket\n"}
    problems, loadable = compile_load(HANDLER, "handler.py", "destination", bad_module)
    assert loadable is None
    assert any(p.startswith("lib/util.py:1:") for p in problems), problems


def test_a_worker_runs_the_code_it_is_sent_not_its_source() -> None:
    """The load frame's ``code`` is what runs: the pool sends the compile it holds for
    the spec's code key (here replaced by another code's, to show which one the worker
    ran)."""
    source = "def on_track(event, settings):\n    return 'source'\n"
    spec = InstanceSpec(key="i", source=source, filename="handler.py")
    other = compile_load(
        "def on_track(event, settings):\n    return 'sent'\n", "handler.py", "destination", {}
    )[1]
    assert isinstance(other, Loadable)
    with WorkerPool(spares=0) as pool:
        assert pool.invoke(spec, [EVENT])[0]["result"] == "source"
        pool._compiled[next(iter(pool._compiled))] = pack(other)
        fresh = InstanceSpec(key="j", source=source, filename="handler.py")  # a worker of its own
        assert pool.invoke(fresh, [EVENT])[0]["result"] == "sent"
