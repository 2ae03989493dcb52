"""Compiling a function folder or a library: every file under the policy, every problem
named by its path, imports resolved against the folder."""

from __future__ import annotations

import pytest

from functions_runtime.sandbox.folder import (
    MAX_FILES,
    MAX_FOLDER_BYTES,
    compile_folder,
    compile_library,
    compile_on_disk,
    imported_names,
    local_names,
    module_name,
)

HANDLER = "from helpers import shout\n\n\ndef on_track(event, settings):\n    return shout('x')\n"
HELPERS = "def shout(text):\n    return text.upper()\n"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("helpers.py", ("helpers", False)),
        ("lib/__init__.py", ("lib", True)),
        ("lib/util.py", ("lib.util", False)),
        ("a/b/c.py", ("a.b.c", False)),
        ("notes.txt", None),
        ("my-helpers.py", None),
        ("/abs.py", None),
        ("../up.py", None),
        ("lib\\util.py", None),
        ("class.py", None),  # a keyword
        ("_private.py", None),
        ("__init__.py", None),  # the folder itself is not a module
    ],
)
def test_module_names_follow_paths(path: str, expected: tuple[str, bool] | None) -> None:
    assert module_name(path) == expected


def test_local_names_include_every_package_above_a_module() -> None:
    assert local_names(["lib/deep/util.py", "helpers.py", "x.txt"]) == {
        "lib",
        "lib.deep",
        "lib.deep.util",
        "helpers",
    }


def test_a_folder_compiles_with_its_modules() -> None:
    files = {
        "handler.py": HANDLER,
        "helpers.py": HELPERS,
        "lib/__init__.py": "from .util import slug\n",
        "lib/util.py": "from ..helpers import shout\n\n\ndef slug(t):\n    return shout(t)\n",
    }
    report = compile_folder(files)
    assert report.ok, report.errors
    assert report.handlers == ("on_track",)
    assert sorted(report.modules) == ["helpers", "lib", "lib.util"]
    assert report.modules["lib"].package and not report.modules["lib.util"].package
    assert report.modules["lib.util"].filename == "lib/util.py"


def test_every_files_problems_are_reported_with_its_path_handler_first() -> None:
    files = {
        "handler.py": "import nothing_here\n",  # and no handler
        "b.py": "import os\n",
        "a/x.py": "def f():\n    return f.__globals__\n",
    }
    problems = [str(p) for p in compile_folder(files).errors]
    assert problems[0].startswith("handler.py:1: ")
    assert any(p.startswith("handler.py:1: no handler found") for p in problems)
    assert any(p.startswith("a/x.py:2: ") for p in problems)
    assert any(p.startswith("b.py:1: ") and '"os"' in p for p in problems)


def test_a_folder_without_handler_py_is_refused() -> None:
    problems = [str(p) for p in compile_folder({"helpers.py": HELPERS}).errors]
    assert problems == ["handler.py:1: the folder has no handler.py"]


def test_a_folder_is_bounded_in_files_and_bytes() -> None:
    many = {f"m{i}.py": "" for i in range(MAX_FILES)}
    assert "the limit is" in compile_folder({"handler.py": HANDLER, **many}).errors[0].message
    big = {"handler.py": HANDLER, **{f"m{i}.py": "#" * (200 * 1024) for i in range(6)}}
    assert sum(len(t) for t in big.values()) > MAX_FOLDER_BYTES
    assert "bytes; the limit is" in compile_folder(big).errors[0].message


def test_relative_imports_resolve_against_the_folder_and_never_beyond() -> None:
    ok = {"handler.py": "from . import helpers\nfrom .helpers import shout\n" + HANDLER}
    assert compile_folder({**ok, "helpers.py": HELPERS}).ok
    beyond = {"handler.py": HANDLER, "helpers.py": HELPERS, "lib/a.py": "from ... import x\n"}
    assert [str(p) for p in compile_folder(beyond).errors] == [
        "lib/a.py:1: relative import beyond the function's folder"
    ]


def test_a_library_name_is_accepted_only_when_the_workspace_has_it() -> None:
    files = {"handler.py": "import acme_utils.text\n" + HANDLER, "helpers.py": HELPERS}
    assert not compile_folder(files).ok
    assert compile_folder(files, libraries=frozenset({"acme_utils"})).ok


def test_a_library_compiles_under_its_name() -> None:
    report = compile_library("acme_utils", {"__init__.py": "from .text import g\n", "text.py": ""})
    assert report.ok and sorted(report.modules) == ["acme_utils", "acme_utils.text"]
    bad = compile_library("acme_utils", {"__init__.py": "import os\n"})
    assert [p.path for p in bad.errors] == ["acme_utils/__init__.py"]
    for name in ("json", "1abc", "_x", "class"):
        assert not compile_library(name, {"__init__.py": ""}).ok


def test_imported_names_are_the_libraries_a_folder_may_use() -> None:
    files = {
        "handler.py": "import json\nimport helpers\nimport acme_utils.text\nfrom .x import y\n",
        "helpers.py": "from shared_lib import thing\nimport lib.util\n",
        "lib/util.py": "",
        "broken.py": "def (",
    }
    assert imported_names(files) == ["acme_utils", "shared_lib"]


def test_problems_of_a_folder_on_disk_name_their_files_there() -> None:
    report = compile_on_disk(
        "fns/x/handler.py", HANDLER, {"helpers.py": "import os\n"}, "destination"
    )
    assert [p.path for p in report.errors] == ["fns/x/helpers.py"]
    single = compile_on_disk("fns/x/handler.py", "import os\n", {}, "destination")
    assert all(p.path == "fns/x/handler.py" for p in single.errors)
