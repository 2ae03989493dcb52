"""``functions init DIR`` and ``functions new NAME``: an integration repository and the
functions in it, from the templates shipped in ``functions_runtime/cli/templates``.

``init`` writes ``pyproject.toml`` (pytest, mypy --strict with ``explicit_package_bases``
so that several ``handler.py`` files type-check together, ruff), a README with the
install lines, ``.gitignore``, a CI workflow (validate, lint, type-check, test, deploy
--dry-run) and a first function; ``new`` adds ``functions/NAME/`` (``handler.py``,
``function.toml``) and ``tests/test_NAME.py``. Nothing is overwritten.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.resources import files
from pathlib import Path

__all__ = ["KINDS", "ScaffoldError", "add_scaffold_commands", "init_repo", "new_function"]

KINDS = ("destination", "insert", "source")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class ScaffoldError(Exception):
    """The scaffold cannot be written (exit status 2)."""


def _template(name: str) -> str:
    return files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def _write(path: Path, text: str) -> None:
    if path.exists():
        raise ScaffoldError(f"{path} already exists; nothing was overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"created {path}", file=sys.stderr)


def new_function(root: Path, name: str, kind: str = "destination") -> Path:
    """Add ``functions/NAME`` and ``tests/test_NAME.py`` under ``root``."""
    if not NAME.match(name):
        raise ScaffoldError(
            f"function name {name!r}: use lower case letters, digits and _ (a Python "
            "identifier, so mypy can name its module functions.<name>.handler)"
        )
    if kind not in KINDS:
        raise ScaffoldError(f"--kind must be one of {', '.join(KINDS)}")
    folder = root / "functions" / name
    targets = {
        folder / "handler.py": f"{kind}/handler.py.tmpl",
        folder / "function.toml": f"{kind}/function.toml.tmpl",
        root / "tests" / f"test_{name}.py": f"{kind}/test.py.tmpl",
    }
    for path in targets:
        if path.exists():
            raise ScaffoldError(f"{path} already exists; nothing was written")
    for path, template in targets.items():
        _write(path, _template(template).replace("__NAME__", name))
    return folder


def init_repo(root: Path, *, function: str = "hello", kind: str = "destination") -> Path:
    """Scaffold an integration repository in ``root`` (new or empty) with one function."""
    if root.exists() and any(root.iterdir()):
        raise ScaffoldError(f"{root} is not empty")
    project = re.sub(r"[^a-z0-9]+", "-", root.resolve().name.lower()).strip("-") or "functions"
    for path, template in {
        root / "pyproject.toml": "pyproject.toml.tmpl",
        root / "README.md": "README.md.tmpl",
        root / ".gitignore": "gitignore.tmpl",
        root / ".github" / "workflows" / "functions.yml": "ci.yml.tmpl",
    }.items():
        _write(path, _template(template).replace("__PROJECT__", project))
    new_function(root, function, kind)
    return root


def _cmd_init(args: argparse.Namespace) -> int:
    try:
        init_repo(Path(args.dir), function=args.function, kind=args.kind)
    except ScaffoldError as exc:
        print(f"functions: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.dir}: ready; next: see {Path(args.dir) / 'README.md'}")
    return 0


def _cmd_new(args: argparse.Namespace) -> int:
    try:
        folder = new_function(Path(args.root), args.name, args.kind)
    except ScaffoldError as exc:
        print(f"functions: error: {exc}", file=sys.stderr)
        return 2
    print(folder)
    return 0


def add_scaffold_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = sub.add_parser("init", help="scaffold an integration repository (tests, CI, config)")
    init.add_argument("dir", help="new or empty directory")
    init.add_argument("--function", default="hello", help="its first function (default hello)")
    init.add_argument("--kind", choices=KINDS, default="destination")
    init.set_defaults(run=_cmd_init)
    new = sub.add_parser("new", help="add a function (and its tests) to an integration repo")
    new.add_argument("name", help="lower case, digits and _")
    new.add_argument("--kind", choices=KINDS, default="destination")
    new.add_argument("--root", default=".", help="the repository (default: here)")
    new.set_defaults(run=_cmd_new)
