"""Compile handler source under our policy and report every problem at once.

``compile_function`` never raises for bad input: parse errors, policy refusals,
compiler crashes (``RecursionError`` on deeply nested code) and structural problems
(no handler, wrong handler signature) all come back as :class:`Problem` entries,
printed ``path:line: message``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import CodeType

from RestrictedPython.compile import compile_restricted_exec

from .policy import FunctionsPolicy

__all__ = [
    "HANDLER_NAMES",
    "MAX_AST_DEPTH",
    "CompileReport",
    "Problem",
    "compile_function",
]

MAX_SOURCE_CHARS = 256 * 1024
MAX_AST_DEPTH = 100
MAX_AST_NODES = 200_000

EVENT_HANDLERS = tuple(
    f"on_{t}" for t in ("track", "identify", "page", "screen", "group", "alias", "delete")
)
HANDLER_NAMES: dict[str, tuple[str, ...]] = {
    "destination": (*EVENT_HANDLERS, "on_batch"),
    "insert": (*EVENT_HANDLERS, "on_batch"),
    "source": ("on_request",),
}

_RP_LINE = re.compile(r"^Line (\d+|None): (.*)$", re.S)


@dataclass(frozen=True)
class Problem:
    """One validation problem: where, and what to do about it."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class CompileReport:
    """The result of compiling: byte code when there were no errors."""

    code: CodeType | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    handlers: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code is not None and not self.errors


def _depth_and_size(tree: ast.AST) -> tuple[int, int, int]:
    """Max nesting depth, node count, and the line where the depth peaks (iterative)."""
    deepest, count, line = 0, 0, 1
    stack: list[tuple[ast.AST, int, int]] = [(tree, 1, 1)]
    while stack:
        node, depth, parent_line = stack.pop()
        count += 1
        here = getattr(node, "lineno", parent_line)  # nodes without a line take their parent's
        if depth > deepest:
            deepest, line = depth, here
        stack.extend((child, depth + 1, here) for child in ast.iter_child_nodes(node))
    return deepest, count, line


def _structure(tree: ast.Module, path: str, kind: str) -> tuple[list[Problem], tuple[str, ...]]:
    known = HANDLER_NAMES[kind]
    problems: list[Problem] = []
    found: list[str] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name not in known:
            continue
        args = node.args
        positional = len(args.posonlyargs) + len(args.args)
        required = positional - len(args.defaults)
        if args.vararg is None and (positional < 2 or required > 2):
            what = "events, settings" if node.name == "on_batch" else "event, settings"
            if node.name == "on_request":
                what = "request, settings"
            problems.append(
                Problem(path, node.lineno, f"{node.name} must take two arguments ({what})")
            )
        found.append(node.name)
    if not found:
        problems.append(
            Problem(
                path,
                1,
                f"no handler found: a {kind} function defines at least one of "
                + ", ".join(known)
                + " at the top level of the module",
            )
        )
    return problems, tuple(found)


def _rp_problems(messages: Sequence[str], path: str) -> list[Problem]:
    out = []
    for message in messages:
        match = _RP_LINE.match(message)
        if match:
            line = int(match.group(1)) if match.group(1) != "None" else 1
            out.append(Problem(path, line, match.group(2).strip()))
        else:
            out.append(Problem(path, 1, message))
    return out


def compile_function(
    source: str,
    path: str = "handler.py",
    kind: str | None = "destination",
    policy: type[FunctionsPolicy] = FunctionsPolicy,
) -> CompileReport:
    """Compile ``source`` for the sandbox; every problem is in the report.

    ``kind`` None compiles a helper module (a function's second file, a library's
    module): the same policy and bounds, no handler expected. ``policy``: the policy
    of a module in a folder (``local_imports.py``), which may import its neighbours."""
    if len(source) > MAX_SOURCE_CHARS:
        return CompileReport(
            None,
            [
                Problem(
                    path,
                    1,
                    f"source is {len(source)} characters; the limit is "
                    f"{MAX_SOURCE_CHARS}: split data out into settings",
                )
            ],
        )
    try:
        tree = ast.parse(source, filename=path, mode="exec")
    except SyntaxError as exc:
        return CompileReport(None, [Problem(path, exc.lineno or 1, f"syntax error: {exc.msg}")])
    except (RecursionError, MemoryError, ValueError) as exc:
        return CompileReport(
            None,
            [
                Problem(
                    path,
                    1,
                    f"cannot parse: {type(exc).__name__}: "
                    "the code is nested too deeply or is not text",
                )
            ],
        )
    depth, count, line = _depth_and_size(tree)
    if depth > MAX_AST_DEPTH or count > MAX_AST_NODES:
        return CompileReport(
            None,
            [
                Problem(
                    path,
                    line,
                    f"code is nested {depth} levels deep ({count} nodes); "
                    f"the limit is {MAX_AST_DEPTH} levels: flatten the expression",
                )
            ],
        )
    structure, handlers = _structure(tree, path, kind) if kind is not None else ([], ())
    try:
        result = compile_restricted_exec(tree, filename=path, policy=policy)
    except Exception as exc:  # every compiler failure is an upload error, never a crash
        return CompileReport(
            None,
            [
                Problem(
                    path,
                    1,
                    f"the code could not be compiled ({type(exc).__name__}); "
                    "simplify the deepest expression",
                )
            ],
        )
    errors = sorted(_rp_problems(result.errors, path) + structure, key=lambda p: p.line)
    warnings = [w for w in _rp_problems(result.warnings, path) if "printed" not in w.message]
    code = result.code if not errors else None
    return CompileReport(code, errors, warnings, handlers)
