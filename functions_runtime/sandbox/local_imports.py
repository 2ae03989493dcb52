"""The compile policy of a module in a function folder: its own modules importable.

:class:`FunctionsPolicy` accepts imports of the sandbox's modules only. A function of
several files (``sandbox/folder.py``) also imports its own modules, absolutely
(``import helpers``, ``from lib import util``) or relatively (``from .helpers import
x``; the folder is the root package), and its workspace's libraries by name. This
subclass accepts exactly those; everything else is decided by the base policy, and a
module the sandbox provides is always the sandbox's.
"""

from __future__ import annotations

import ast
from typing import Any

from .guest.modules import EXPORTS
from .policy import FunctionsPolicy

__all__ = ["folder_policy", "resolve_relative"]


def resolve_relative(package: str, module: str | None, level: int) -> str | None:
    """The absolute name of ``from {'.' * level}{module} import ...`` in ``package``
    ("" for the folder's top level); None when it climbs out of the folder."""
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


class _FolderPolicy(FunctionsPolicy):
    local: frozenset[str] = frozenset()  # dotted names of the folder's modules
    libraries: frozenset[str] = frozenset()  # top-level names of the workspace's libraries
    package: str = ""

    def _is_local(self, name: str) -> bool:
        return name in self.local or name.split(".", 1)[0] in self.libraries

    def visit_ImportFrom(self, node: ast.ImportFrom) -> Any:
        if node.level:
            full = resolve_relative(self.package, node.module, node.level)
            if full is None:
                self.error(node, "relative import beyond the function's folder")
                return None
            wanted = [full] if full else [alias.name for alias in node.names]
            missing = [name for name in wanted if not self._is_local(name)]
            if missing:
                self.error(node, f'no module "{missing[0]}" in this function\'s folder')
                return None
            return self.check_import_names(node)
        module = node.module or ""
        if module not in EXPORTS and self._is_local(module):
            return self.check_import_names(node)
        return super().visit_ImportFrom(node)

    def visit_Import(self, node: ast.Import) -> Any:
        if all(alias.name not in EXPORTS and self._is_local(alias.name) for alias in node.names):
            return self.check_import_names(node)
        return super().visit_Import(node)


def folder_policy(
    local: frozenset[str], libraries: frozenset[str], package: str
) -> type[FunctionsPolicy]:
    """The policy of a module in ``package`` of a folder holding ``local`` modules."""
    return type(
        "FolderPolicy",
        (_FolderPolicy,),
        {"local": local, "libraries": libraries, "package": package},
    )
