"""Our RestrictedPython policy: ordinary Python in, guarded byte code out.

Plain RestrictedPython refuses much of what real handler code is made of (private
helpers, ``self._items``, annotations, ``self.count += 1``). This transformer
accepts what can be made safe and keeps refusing what cannot:

* names and attributes with one leading underscore are accepted (the run-time
  attribute guard only lets them reach the author's own objects); names with two
  leading underscores and the guard-shaped ``_x_`` names stay refused;
* annotations are removed before compiling, so they are never evaluated;
* ``x.attr += v`` and ``x[k] += v`` become guarded read / in-place op / guarded write;
* imports are checked against the curated module table at upload.

Every refusal is one line that says what to write instead.
"""

from __future__ import annotations

import ast
from typing import Any

from RestrictedPython.transformer import (
    INSPECT_ATTRIBUTES,
    IOPERATOR_TO_STR,
    RestrictingNodeTransformer,
    copy_locations,
)

from .guest.modules import EXPORTS

__all__ = ["ALLOWED_DUNDER_METHODS", "FunctionsPolicy"]

# Special methods an author's class may define. Each runs only inside the sandbox:
# results leave it as JSON built by exact-type checks, so the host never calls them.
ALLOWED_DUNDER_METHODS = frozenset(
    {
        "__init__",
        "__repr__",
        "__str__",
        "__len__",
        "__bool__",
        "__contains__",
        "__iter__",
        "__next__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
    }
)

RESERVED_NAMES = frozenset({"print", "printed", "builtins", "breakpoint"})


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a variable, function or argument name, if it cannot."""
    if name == "_":
        return None
    if name.startswith("__"):
        return (
            f'"{name}": names starting with "__" are reserved for the runtime; '
            'use one leading underscore ("_name") for private helpers'
        )
    if name.startswith("_") and (name.endswith("_") or name.startswith("_tmp")):
        return f'"{name}" is reserved for the runtime\'s guards; choose another name'
    if name == "_print":
        return '"_print" is reserved for the runtime; choose another name'
    if name.endswith("__roles__"):
        return f'"{name}" is reserved; choose another name'
    if name in RESERVED_NAMES:
        return f'"{name}" is a reserved name; choose another name'
    return None


def attribute_problem(attr: str) -> str | None:
    """Why ``.attr`` can never be written in handler code, if it cannot."""
    if attr.startswith("__") and attr != "__init__":  # super().__init__: guarded at run time
        return (
            f'".{attr}": attributes starting with "__" (special attributes) are not '
            "available in functions; use the SDK or plain values instead"
        )
    if attr in INSPECT_ATTRIBUTES or attr.endswith("__roles__"):
        return f'".{attr}" reaches interpreter internals and is not available in functions'
    if attr in {"format", "format_map"}:
        return None  # refused at run time on strings only; other objects may have it
    return None


class FunctionsPolicy(RestrictingNodeTransformer):
    """RestrictedPython transformer with the Functions rules described above."""

    # -- names -------------------------------------------------------------------

    def check_name(self, node: Any, name: str | None, allow_magic_methods: bool = False) -> None:
        if name is None:
            return
        if allow_magic_methods and name in ALLOWED_DUNDER_METHODS and node.col_offset != 0:
            return
        problem = name_problem(name)
        if problem is not None:
            if allow_magic_methods and name.startswith("__") and name.endswith("__"):
                allowed = ", ".join(sorted(ALLOWED_DUNDER_METHODS))
                problem = (
                    f'"{name}" cannot be defined in functions; special methods allowed '
                    f"in classes are: {allowed}"
                )
            self.error(node, problem)

    # -- attributes ----------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        """``a.b`` becomes ``_getattr_(a, "b")``; ``a.b = v`` becomes ``_write_(a).b = v``.

        Unlike the base class, one leading underscore is accepted here: the run-time
        guard lets it reach the author's own objects only.
        """
        problem = attribute_problem(node.attr)
        if problem is not None:
            self.error(node, problem)
            return self.node_contents_visit(node)  # and report what is inside it too
        node = self.node_contents_visit(node)
        if isinstance(node.ctx, ast.Load):
            new_node = _call("_getattr_", node.value, ast.Constant(node.attr))
            copy_locations(new_node, node)
            return new_node
        new_value = _call("_write_", node.value)
        copy_locations(new_value, node.value)
        node.value = new_value
        return node

    # -- annotations are inert -------------------------------------------------------

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Any:
        if node.value is None:
            return None  # `x: int` declares nothing at run time
        if not node.simple and not isinstance(node.target, ast.Attribute | ast.Subscript):
            self.error(node, "this annotated assignment form is not supported; drop the annotation")
            return None
        assign = ast.Assign(targets=[node.target], value=node.value)
        copy_locations(assign, node)
        return self.visit(assign)

    def visit_arg(self, node: ast.arg) -> Any:
        node.annotation = None
        return self.node_contents_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node.returns = None
        return super().visit_FunctionDef(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        if node.module == "__future__":
            return None  # only `annotations` matters, and annotations are removed anyway
        if node.level:
            self.error(node, "relative imports are not available; a function is one module")
            return None
        module = node.module or ""
        exports = EXPORTS.get(module)
        if exports is None:
            self.error(node, _unknown_module(module))
        else:
            for alias in node.names:
                if alias.name != "*" and alias.name not in exports:
                    self.error(
                        node,
                        f'"{alias.name}" is not available from "{module}"; available: '
                        + ", ".join(sorted(exports)),
                    )
        return self.check_import_names(node)

    def visit_Import(self, node: ast.Import) -> Any:
        for alias in node.names:
            if alias.name not in EXPORTS:
                self.error(node, _unknown_module(alias.name))
        return self.check_import_names(node)

    # -- in-place operators on attributes and items ----------------------------------

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        target = node.target
        if isinstance(target, ast.Name):
            return super().visit_AugAssign(node)
        op = IOPERATOR_TO_STR[type(node.op)]
        value = self.visit(node.value)
        obj_name = self.gen_tmp_name()
        if isinstance(target, ast.Attribute):
            problem = attribute_problem(target.attr)
            if problem is not None:
                self.error(node, problem)
                return node
            obj = self.visit(target.value)
            read = _call("_getattr_", _load(obj_name), ast.Constant(target.attr))
            write_target: ast.expr = ast.Attribute(
                value=_call("_write_", _load(obj_name)), attr=target.attr, ctx=ast.Store()
            )
            stmts: list[ast.stmt] = [_assign(obj_name, obj)]
        elif isinstance(target, ast.Subscript):
            if isinstance(target.slice, ast.Slice):
                self.error(node, "in-place operators on slices are not supported; assign the slice")
                return node
            obj = self.visit(target.value)
            key_name = self.gen_tmp_name()
            key = self.visit(target.slice)
            read = _call("_getitem_", _load(obj_name), _load(key_name))
            write_target = ast.Subscript(
                value=_call("_write_", _load(obj_name)), slice=_load(key_name), ctx=ast.Store()
            )
            stmts = [_assign(obj_name, obj), _assign(key_name, key)]
        else:  # pragma: no cover - the grammar allows nothing else
            self.error(node, "unsupported in-place assignment target")
            return node
        stmts.append(
            ast.Assign(
                targets=[write_target],
                value=_call("_inplacevar_", ast.Constant(op), read, value),
            )
        )
        for stmt in stmts:
            copy_locations(stmt, node)
        return stmts

    # -- friendlier refusals ----------------------------------------------------------

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> Any:
        self.error(node, "async functions are not supported; write a plain def (fetch blocks)")

    def visit_Await(self, node: ast.Await) -> Any:
        self.error(node, "await is not supported; call fetch() directly, it blocks")

    def visit_AsyncFor(self, node: ast.AsyncFor) -> Any:
        self.error(node, "async for is not supported; use a plain for loop")

    def visit_AsyncWith(self, node: ast.AsyncWith) -> Any:
        self.error(node, "async with is not supported; use a plain with")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> Any:
        self.error(node, "nonlocal is not supported; keep the state in a dict or an object")

    def visit_Match(self, node: ast.AST) -> Any:
        self.error(node, "match statements are not supported; use if / elif")

    def visit_TryStar(self, node: ast.AST) -> Any:
        self.error(node, "except* is not supported; use a plain except")

    def visit_If(self, node: ast.If) -> Any:
        """``if TYPE_CHECKING:`` bodies are for the type checker only: they are dropped
        (TYPE_CHECKING is False at run time), so their imports need no facade."""
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            node.body = [ast.Pass(lineno=node.lineno, col_offset=node.col_offset)]
        return self.node_contents_visit(node)

    def visit_Global(self, node: ast.Global) -> Any:
        for name in node.names:
            self.check_name(node, name)
        return self.node_contents_visit(node)


def _unknown_module(module: str) -> str:
    available = ", ".join(sorted(EXPORTS))
    return f'module "{module}" is not available in functions; available modules: {available}'


def _load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _call(func: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_load(func), args=list(args), keywords=[])


def _assign(name: str, value: ast.expr) -> ast.Assign:
    return ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value)
