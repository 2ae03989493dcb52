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
        "__enter__",
        "__exit__",
        "__getitem__",
        "__setitem__",
        "__delitem__",
        "__reversed__",
        "__call__",
        "__format__",
        "__post_init__",
        "__add__",
        "__radd__",
        "__iadd__",
        "__sub__",
        "__rsub__",
        "__isub__",
        "__mul__",
        "__rmul__",
        "__imul__",
        "__matmul__",
        "__truediv__",
        "__rtruediv__",
        "__floordiv__",
        "__rfloordiv__",
        "__mod__",
        "__rmod__",
        "__divmod__",
        "__pow__",
        "__rpow__",
        "__neg__",
        "__pos__",
        "__abs__",
        "__invert__",
        "__and__",
        "__rand__",
        "__or__",
        "__ror__",
        "__xor__",
        "__rxor__",
        "__lshift__",
        "__rshift__",
        "__int__",
        "__float__",
        "__index__",
        "__round__",
        "__bytes__",
    }
)

# Special names a class body may assign (``__slots__ = ("a", "b")``); checked again
# when the class is made (slot names must be plain names).
CLASS_BODY_NAMES = frozenset({"__slots__"})
# Special names handler code may read: ``if __name__ == "__main__":`` (never true in
# functions; the handler's module is called "handler").
READABLE_NAMES = frozenset({"__name__"})
# Special attributes handler code may read: the name of a class or function (a str).
READABLE_ATTRIBUTES = frozenset({"__name__"})

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
    if name.startswith("_") and name.endswith("_"):
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
    if attr in READABLE_ATTRIBUTES:
        return None
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scopes: list[str] = []  # "class" / "function", innermost last
        self._own_type_checking = False

    # -- names -------------------------------------------------------------------

    def check_name(self, node: Any, name: str | None, allow_magic_methods: bool = False) -> None:
        if name is None:
            return
        if allow_magic_methods and name in ALLOWED_DUNDER_METHODS and node.col_offset != 0:
            return
        if name in READABLE_NAMES and isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            return
        if name in CLASS_BODY_NAMES and self._class_depth and isinstance(node, ast.Name):
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
        if self._scopes and self._scopes[-1] == "class" and isinstance(node.target, ast.Name):
            # A class's fields (dataclasses, NamedTuple): the annotation is kept, and
            # the module is compiled with ``from __future__ import annotations`` (see
            # visit_Module), so it is recorded as its source text, never evaluated.
            node.target = self.visit(node.target)
            if node.value is not None:
                node.value = self.visit(node.value)
            return node
        if node.value is None:
            return _pass(node)  # `x: int` declares nothing at run time
        if not node.simple and not isinstance(node.target, ast.Attribute | ast.Subscript):
            self.error(node, "this annotated assignment form is not supported; drop the annotation")
            return None
        assign = ast.Assign(targets=[node.target], value=node.value)
        copy_locations(assign, node)
        return self.visit(assign)

    # -- scopes: what a class body may assign ---------------------------------------

    def _scoped(self, kind: str, node: Any, visit: Any) -> Any:
        self._scopes.append(kind)
        try:
            return visit(node)
        finally:
            self._scopes.pop()

    @property
    def _class_depth(self) -> bool:
        return bool(self._scopes) and self._scopes[-1] == "class"

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        if any(keyword.arg == "metaclass" for keyword in node.keywords):
            self.error(node, "metaclass= is not available; derive from abc.ABC or enum.Enum")
        node.keywords = [k for k in node.keywords if k.arg != "metaclass"]
        return self._scoped("class", node, super().visit_ClassDef)

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        return self._scoped("function", node, super().visit_Lambda)

    def gen_tmp_name(self) -> str:
        """The transformer's temporaries: ``_rp0_``, ... (names handler code cannot
        write, so ``_tmp0`` stays an ordinary name of the author's)."""
        name = f"_rp{self._tmp_idx}_"
        self._tmp_idx += 1
        return name

    def visit_arg(self, node: ast.arg) -> Any:
        node.annotation = None
        return self.node_contents_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        node.returns = None
        return self._scoped("function", node, super().visit_FunctionDef)

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
        for name in node.names:
            self.check_name(node, name)
        return self.node_contents_visit(node)

    # -- match statements: patterns read attributes natively, so every name in them
    # must be one the guard would let through on any object -----------------------------

    def visit_Match(self, node: ast.Match) -> Any:
        return self.node_contents_visit(node)

    def visit_match_case(self, node: ast.match_case) -> Any:
        return self.node_contents_visit(node)

    def _pattern_path(self, node: ast.AST, expr: ast.expr) -> None:
        """``Color.RED`` / ``shapes.Point`` in a pattern: names and plain attributes."""
        while isinstance(expr, ast.Attribute):
            self._pattern_attribute(node, expr.attr)
            expr = expr.value
        if isinstance(expr, ast.Name):
            self.check_name(node, expr.id)
        elif not isinstance(expr, ast.Constant | ast.UnaryOp | ast.BinOp):
            self.error(node, "this pattern form is not supported; compare with if / elif")

    def _pattern_attribute(self, node: ast.AST, attr: str) -> None:
        problem = attribute_problem(attr)
        if problem is None and (
            attr.startswith("_")
            or attr in _PATTERN_REFUSED
            or attr.startswith(_PATTERN_REFUSED_PREFIXES)
        ):
            problem = (
                f'"{attr}" cannot be matched in a pattern (patterns read attributes '
                "directly); read it in the case body instead"
            )
        if problem is not None:
            self.error(node, problem)

    def visit_MatchValue(self, node: ast.MatchValue) -> Any:
        self._pattern_path(node, node.value)
        return node

    def visit_MatchSingleton(self, node: ast.MatchSingleton) -> Any:
        return node

    def visit_MatchSequence(self, node: ast.MatchSequence) -> Any:
        return self.node_contents_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> Any:
        self.check_name(node, node.name)
        return node

    def visit_MatchMapping(self, node: ast.MatchMapping) -> Any:
        for key in node.keys:
            self._pattern_path(node, key)
        self.check_name(node, node.rest)
        node.patterns = [self.visit(p) for p in node.patterns]
        return node

    def visit_MatchClass(self, node: ast.MatchClass) -> Any:
        self._pattern_path(node, node.cls)
        for attr in node.kwd_attrs:
            self._pattern_attribute(node, attr)
        node.patterns = [self.visit(p) for p in node.patterns]
        node.kwd_patterns = [self.visit(p) for p in node.kwd_patterns]
        return node

    def visit_MatchAs(self, node: ast.MatchAs) -> Any:
        self.check_name(node, node.name)
        if node.pattern is not None:
            node.pattern = self.visit(node.pattern)
        return node

    def visit_MatchOr(self, node: ast.MatchOr) -> Any:
        return self.node_contents_visit(node)

    def visit_TryStar(self, node: ast.AST) -> Any:
        self.error(node, "except* is not supported; use a plain except")

    def visit_Module(self, node: ast.Module) -> Any:
        # An author's own ``TYPE_CHECKING = ...`` is an ordinary variable: its ``if``
        # runs as written. Only typing's (always False at run time) drops the block.
        self._own_type_checking = any(
            isinstance(n, ast.Name) and n.id == "TYPE_CHECKING" and isinstance(n.ctx, ast.Store)
            for n in ast.walk(node)
        )
        module = super().visit_Module(node)
        assert isinstance(module, ast.Module)
        # Annotations are never evaluated: kept ones (class fields) become their source
        # text. Stated here rather than left to the compiler's inherited flags.
        future = ast.parse("from __future__ import annotations").body[0]
        body = module.body
        at = 1 if body and _is_docstring(body[0]) else 0
        body.insert(at, future)
        return module

    def visit_If(self, node: ast.If) -> Any:
        """``if TYPE_CHECKING:`` bodies (typing's) are for the type checker only: they
        are dropped (TYPE_CHECKING is False at run time), so their imports need no facade."""
        test = node.test
        if (
            isinstance(test, ast.Name)
            and test.id == "TYPE_CHECKING"
            and not self._own_type_checking
        ) or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            node.body = [ast.Pass(lineno=node.lineno, col_offset=node.col_offset)]
        return self.node_contents_visit(node)

    def visit_Global(self, node: ast.Global) -> Any:
        for name in node.names:
            self.check_name(node, name)
        return self.node_contents_visit(node)


# Keyword patterns (``case C(name=p)``) read ``name`` with the interpreter's own getattr,
# past the run-time guard: beyond private and special names, the public names through
# which host objects reach further (pydantic's entry points, format, frames and code,
# facades, partials, generators, caches) are refused in patterns.
_PATTERN_REFUSED = frozenset(
    {
        "mro",
        "format",
        "format_map",
        "vformat",
        "register",
        "construct",
        "copy",
        "dict",
        "json",
        "validate",
        "from_orm",
        "update_forward_refs",
        "get_field",
        "get_value",
        "func",
        "args",
        "keywords",
        "send",
        "throw",
        "close",
        "fget",
        "fset",
        "fdel",
    }
)
_PATTERN_REFUSED_PREFIXES = (
    "model_",
    "parse_",
    "schema",
    "f_",
    "tb_",
    "co_",
    "gi_",
    "cr_",
    "ag_",
    "facade_",
    "cache_",
)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _pass(node: ast.stmt) -> ast.Pass:
    new = ast.Pass()
    copy_locations(new, node)
    return new


def _unknown_module(module: str) -> str:
    available = ", ".join(sorted(EXPORTS))
    return f'module "{module}" is not available in functions; available modules: {available}'


def _load(name: str) -> ast.Name:
    return ast.Name(id=name, ctx=ast.Load())


def _call(func: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_load(func), args=list(args), keywords=[])


def _assign(name: str, value: ast.expr) -> ast.Assign:
    return ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())], value=value)
