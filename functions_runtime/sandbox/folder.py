"""Compile a whole function folder (``handler.py`` and its helper modules) or a library.

A function's files are named by their path in the folder (``helpers.py``,
``lib/__init__.py``, ``lib/util.py``); each ``.py`` file is a module whose dotted name
follows its path (``lib.util``; ``lib/__init__.py`` is the package ``lib``). A library's
files are named the same way under the library's name (``acme_utils/__init__.py``).
Every file is compiled under the same policy as the handler, and every problem of every
file is reported as ``path:line: message``.

A module may not take the name of a module the sandbox provides (``json.py`` would
shadow the curated ``json``): that is refused here, and the run-time import hook looks
curated modules up first in any case (``guest/loader.py``).
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import CodeType

from .compiler import CompileReport, Problem, compile_function
from .guest.modules import EXPORTS
from .local_imports import folder_policy

__all__ = [
    "MAX_FILES",
    "MAX_FOLDER_BYTES",
    "FolderReport",
    "ModuleCode",
    "compile_folder",
    "compile_library",
    "compile_modules",
    "compile_on_disk",
    "imported_names",
    "library_problem",
    "local_names",
    "module_name",
    "reserved_name",
]

MAX_FILES = 64  # .py files in a function folder or a library
MAX_FOLDER_BYTES = 1024 * 1024  # all of them together, in UTF-8
HANDLER = "handler.py"
# Top-level module names no function file or library may take.
RESERVED = frozenset({name.split(".", 1)[0] for name in EXPORTS} | {"functions_sdk", "handler"})


@dataclass(frozen=True)
class ModuleCode:
    """One compiled helper module: its dotted name, its file, whether it is a package."""

    name: str
    filename: str
    code: CodeType
    package: bool


@dataclass
class FolderReport:
    """Compiling a folder: the handler's report plus the helper modules' code."""

    handler: CompileReport | None
    modules: dict[str, ModuleCode] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def handlers(self) -> tuple[str, ...]:
        return self.handler.handlers if self.handler is not None else ()


def module_name(path: str) -> tuple[str, bool] | None:
    """``lib/util.py`` -> (``lib.util``, False); ``lib/__init__.py`` -> (``lib``, True);
    None when the path cannot name a module (not ``.py``, not identifiers, absolute,
    ``..``)."""
    if not path.endswith(".py") or path.startswith("/") or "\\" in path:
        return None
    parts = path[: -len(".py")].split("/")
    package = parts[-1] == "__init__"
    if package:
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() and not keyword.iskeyword(p) for p in parts):
        return None
    if any(p.startswith("_") for p in parts):
        return None  # private names are unreachable in the sandbox anyway
    return ".".join(parts), package


def reserved_name(name: str) -> bool:
    """Whether ``name`` (a module's top-level name) belongs to the sandbox."""
    return name.split(".", 1)[0] in RESERVED


def library_problem(name: str) -> str | None:
    """Why ``name`` cannot name a library, or None."""
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        return f'"{name}" is not a library name: use a Python identifier (acme_utils)'
    if reserved_name(name):
        return f'"{name}" is a module the sandbox provides: choose another library name'
    return None


def _bounds(files: Mapping[str, str]) -> Problem | None:
    if len(files) > MAX_FILES:
        return Problem("(folder)", 1, f"{len(files)} files; the limit is {MAX_FILES}")
    size = sum(len(text.encode("utf-8", "surrogatepass")) for text in files.values())
    if size > MAX_FOLDER_BYTES:
        return Problem(
            "(folder)", 1, f"the files are {size} bytes; the limit is {MAX_FOLDER_BYTES}"
        )
    return None


def local_names(paths: Iterable[str]) -> frozenset[str]:
    """The dotted names ``paths`` make importable: each module and every package above
    it (a folder without ``__init__.py`` is a package too)."""
    names: set[str] = set()
    for path in paths:
        named = module_name(path)
        if named is not None:
            parts = named[0].split(".")
            names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(names)


def compile_modules(
    files: Mapping[str, str],
    *,
    local: frozenset[str] | None = None,
    libraries: frozenset[str] = frozenset(),
) -> FolderReport:
    """Compile helper modules (path -> source, no handler); every problem is reported.
    They may import each other (and ``local``, by default their own names) and the
    ``libraries`` by name."""
    report = FolderReport(None)
    if local is None:
        local = local_names(files)
    too_big = _bounds(files)
    if too_big is not None:
        report.errors.append(too_big)
        return report
    for path in sorted(files):
        named = module_name(path)
        if named is None:
            report.errors.append(
                Problem(
                    path,
                    1,
                    "not a module name: use .py files whose folder and file names are "
                    "Python identifiers (lib/util.py)",
                )
            )
            continue
        name, package = named
        if reserved_name(name):
            top = name.split(".", 1)[0]
            report.errors.append(
                Problem(
                    path,
                    1,
                    f'"{top}" is a module the sandbox provides; rename this file '
                    "(a function's own module cannot replace it)",
                )
            )
            continue
        policy = folder_policy(local, libraries, name if package else name.rpartition(".")[0])
        compiled = compile_function(files[path], path, None, policy)
        report.errors.extend(compiled.errors)
        report.warnings.extend(compiled.warnings)
        if compiled.code is not None and not compiled.errors:
            report.modules[name] = ModuleCode(name, path, compiled.code, package)
    return report


def compile_folder(
    files: Mapping[str, str],
    kind: str = "destination",
    libraries: frozenset[str] = frozenset(),
) -> FolderReport:
    """Compile a function's files (path -> source): ``handler.py`` as the handler of a
    ``kind`` function, the others as its modules; any of them may import the
    workspace's ``libraries``. Nothing raises."""
    too_big = _bounds(files)
    if too_big is not None:
        return FolderReport(None, errors=[too_big])
    modules = {path: text for path, text in files.items() if path != HANDLER}
    local = local_names(modules) | {"handler"}
    report = compile_modules(modules, local=local, libraries=libraries)
    if HANDLER in files:
        policy = folder_policy(local, libraries, "")
        report.handler = compile_function(files[HANDLER], HANDLER, kind, policy)
        report.errors[:0] = report.handler.errors
        report.warnings[:0] = report.handler.warnings
    else:
        report.errors.insert(0, Problem(HANDLER, 1, "the folder has no handler.py"))
    return report


def compile_library(name: str, files: Mapping[str, str]) -> FolderReport:
    """Compile library ``name``'s files (path in its folder -> source), reported under
    ``name/``: ``__init__.py`` is the package ``name`` that functions import."""
    problem = library_problem(name)
    if problem is not None:
        return FolderReport(None, errors=[Problem(f"{name}/__init__.py", 1, problem)])
    return compile_modules({f"{name}/{path}": text for path, text in files.items()})


def imported_names(files: Mapping[str, str]) -> list[str]:
    """Top-level names that ``files`` import absolutely and do not hold themselves (nor
    the sandbox provides): the libraries the code may use. Files that do not parse
    import nothing (compiling reports them)."""
    own = {named[0].split(".", 1)[0] for path in files if (named := module_name(path))}
    found: set[str] = set()
    for source in files.values():
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".", 1)[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".", 1)[0])
    return sorted(name for name in found - own if not reserved_name(name))


def compile_on_disk(
    filename: str, source: str, modules: Mapping[str, str], kind: str
) -> FolderReport:
    """Compile a function loaded from disk (``manifest.load_function``): its problems
    name the files where they are (``functions/crm/lib/util.py:3: ...``)."""
    if not modules:
        compiled = compile_function(source, filename, kind)
        return FolderReport(compiled, {}, list(compiled.errors), list(compiled.warnings))
    report = compile_folder({HANDLER: source, **modules}, kind)
    folder = filename[: -len(HANDLER)] if filename.endswith(HANDLER) else ""

    def moved(problems: list[Problem]) -> list[Problem]:
        return [Problem(folder + p.path, p.line, p.message) for p in problems]

    report.errors, report.warnings = moved(report.errors), moved(report.warnings)
    return report
