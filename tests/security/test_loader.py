"""A function's own modules in the worker (``sandbox/guest/loader.py``), pinned.

Relative and absolute imports at every depth, packages with and without
``__init__.py``, a module imported twice or importing the handler, and the exports a
module's facade shows. Written against the mutants of loader.py that the rest of the
in-process suite let pass (docs/TESTING.md, "Round 4"). In-process, through the worker's
``Runner``, as the worker runs this code.
"""

from __future__ import annotations

from typing import Any

import pytest

from functions_runtime.sandbox.folder import compile_folder
from functions_runtime.sandbox.guest.loader import EventModules, ModuleExports
from functions_runtime.sandbox.guest.worker import Runner

HANDLER = "def on_track(event, settings):\n    return RESULT\n"


def run(files: dict[str, str]) -> Any:
    """What the handler returns, or ``(error type, message)``."""
    compiled = compile_folder(files)
    assert not compiled.errors, [str(e) for e in compiled.errors]
    assert compiled.handler is not None and compiled.handler.code is not None
    runner = Runner(
        compiled.handler.code, "handler.py", "destination", modules=dict(compiled.modules)
    )
    out = runner.run_one(
        {"type": "track", "event": "E", "userId": "u"}, {"settings": {}, "secret_names": []}
    )
    if out["outcome"] == "delivered":
        return out["result"]
    return (out["error"]["type"], out["error"]["message"])


CASES: list[tuple[str, dict[str, str], Any]] = [
    (
        "namespace_subpackage",
        {"handler.py": "from lib.sub import util\nRESULT = util.X\n", "lib/sub/util.py": "X = 1\n"},
        1,
    ),
    (
        "dotted_import_binds_the_top",
        {
            "handler.py": "import lib.util\nRESULT = [lib.util.X, repr(lib), repr(lib.util)]\n",
            "lib/__init__.py": "",
            "lib/util.py": "X = 1\n",
        },
        [1, "<module 'lib' (functions)>", "<module 'lib.util' (functions)>"],
    ),
    (
        "dotted_import_three_levels",
        {"handler.py": "import a.b.c\nRESULT = [a.b.c.X, repr(a)]\n", "a/b/c.py": "X = 3\n"},
        [3, "<module 'a' (functions)>"],
    ),
    (
        "relative_in_package_init",
        {
            "handler.py": "from lib import slug\nRESULT = slug\n",
            "lib/__init__.py": "from .util import X as slug\n",
            "lib/util.py": "X = 'in util'\n",
        },
        "in util",
    ),
    (
        "relative_in_submodule",
        {
            "handler.py": "from lib.util import Y\nRESULT = Y\n",
            "lib/__init__.py": "",
            "lib/util.py": "from .other import X\nfrom . import other\nY = [X, other.X]\n",
            "lib/other.py": "X = 'other'\n",
        },
        ["other", "other"],
    ),
    (
        "relative_two_levels_up",
        {
            "handler.py": "from lib.sub.mod import Y\nRESULT = Y\n",
            "lib/__init__.py": "",
            "lib/sub/__init__.py": "",
            "lib/sub/mod.py": "from ..other import X\nfrom ...top import T\nY = [X, T]\n",
            "lib/other.py": "X = 'lib.other'\n",
            "top.py": "T = 'top'\n",
        },
        ["lib.other", "top"],
    ),
    (
        "relative_in_three_level_module",
        {
            "handler.py": "from a.b.c import Y\nRESULT = Y\n",
            "a/b/c.py": "from .d import X\nY = X\n",
            "a/b/d.py": "X = 'a.b.d'\n",
        },
        "a.b.d",
    ),
    (
        "from_dot_at_top",
        {"handler.py": "from . import helpers\nRESULT = helpers.X\n", "helpers.py": "X = 1\n"},
        1,
    ),
    (
        "package_attribute_wins",
        {
            "handler.py": "from lib import util\nRESULT = util\n",
            "lib/__init__.py": "from . import util\nutil = 'shadowed'\n",
            "lib/util.py": "X = 1\n",
        },
        "shadowed",
    ),
    (
        "imported_twice",
        {
            "handler.py": (
                "import helpers\nimport other\nRESULT = [helpers.X, other.V, repr(helpers)]\n"
            ),
            "other.py": "import helpers\nV = helpers.X + 1\n",
            "helpers.py": "X = 1\n",
        },
        [1, 2, "<module 'helpers' (functions)>"],
    ),
    (
        "module_imports_the_handler",
        {
            "handler.py": "NAME = 'h'\nfrom helpers import get\nRESULT = get()\n",
            "helpers.py": "import handler\ndef get():\n    return [handler.NAME, repr(handler)]\n",
        },
        ["h", "<module 'handler' (functions)>"],
    ),
    (
        "module_classes_are_named_after_it",
        {
            "handler.py": (
                "import helpers\nRESULT = [repr(helpers.Own), repr(helpers.Own())[:20]]\n"
            ),
            "helpers.py": "class Own:\n    pass\n",
        },
        ["<class 'helpers.Own'>", "<helpers.Own object "],
    ),
]


@pytest.mark.parametrize(("files", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_imports(files: dict[str, str], expected: Any) -> None:
    files = {**files, "handler.py": files["handler.py"] + HANDLER}
    assert run(files) == expected


def test_a_namespace_package_two_levels_up_is_importable() -> None:
    """``a/b/c.py`` alone: ``a`` and ``a.b`` are packages (the compiler accepts
    ``from a import b``; the loader raised ImportError for ``a`` before this was fixed)."""
    handler = "from a import b\nimport a.b.c\nRESULT = [repr(b), b.c.X]\n"
    files = {"handler.py": handler + HANDLER, "a/b/c.py": "X = 1\n"}
    assert run(files) == ["<module 'a.b' (functions)>", 1]


def test_a_module_s_exports_are_what_its_code_defined() -> None:
    namespace: dict[str, Any] = {"__name__": "helpers", "_getattr_": getattr}
    exports = ModuleExports(namespace)
    namespace.update({"VALUE": 1, "_own": 2, "__doc__": "text", "__annotations__": {}})
    assert list(exports) == ["VALUE", "_own"]
    assert len(exports) == 2
    assert exports["VALUE"] == 1
    assert "VALUE" in exports and "_own" in exports
    for hidden in ("__doc__", "_getattr_", "__name__", "missing", 1):
        assert hidden not in exports
    with pytest.raises(KeyError) as missing:
        exports["__doc__"]
    assert missing.value.args == ("__doc__",)


def test_the_loader_s_own_refusals() -> None:
    importer = EventModules({}, lambda name, importer: {}).importer_for("")
    with pytest.raises(ImportError) as beyond:
        importer("x", (), 2)
    assert str(beyond.value) == "attempted relative import beyond the function's folder"
    with pytest.raises(ImportError) as missing:
        importer("", ("nothing",), 1)
    assert str(missing.value) == 'no module "nothing" in this function'
