"""Importing a function's own modules (and its workspace's libraries) in the worker.

The modules arrive compiled from the load frame (``sandbox/folder.py``); nothing is
read from a filesystem (the worker has none). :class:`EventModules` holds the modules
of one event: each runs at most once per event, in fresh globals, and the next event
gets new ones (module state does not survive an event, like the handler's). A module
is handed out as a :class:`Facade` over its globals, so the guards treat it like any
other module: no private names, no writes, no subscription; and what the runtime put
in its globals (``__builtins__``, the guards ``_getattr_``...) is not among its names
even for ``from helpers import ...``, which the compiler refuses for those names first.

The function folder is the root package: ``handler.py`` and the folder's top-level
modules may import each other relatively (``from .helpers import x``) or absolutely
(``import helpers``). A module the sandbox provides (``json``) is looked up before any
local one, whatever the folder holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from ..folder import ModuleCode
from .modules import Facade

__all__ = ["EventModules", "Importer", "MakeGlobals", "ModuleExports"]

# (name, fromlist, level) -> a module, or None when ``name`` is not a local module.
Importer = Callable[[str, tuple[str, ...], int], Facade | None]
# (module name, that module's importer) -> fresh globals for it.
MakeGlobals = Callable[[str, Importer], dict[str, Any]]


class ModuleExports(Mapping[str, Any]):
    """A module's names: its live globals minus what the runtime put there."""

    __slots__ = ("_hidden", "_namespace")

    def __init__(self, namespace: dict[str, Any]) -> None:
        self._namespace = namespace
        self._hidden = frozenset(namespace)  # taken before the module's code runs

    def _visible(self, name: object) -> bool:
        return isinstance(name, str) and name not in self._hidden and not name.startswith("__")

    def __getitem__(self, name: str) -> Any:
        if not self._visible(name):
            raise KeyError(name)
        return self._namespace[name]

    def __contains__(self, name: object) -> bool:
        return self._visible(name) and name in self._namespace

    def __iter__(self) -> Iterator[str]:
        return (name for name in list(self._namespace) if self._visible(name))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _facade(name: str, namespace: dict[str, Any]) -> Facade:
    # Facade reads its exports with ``[]`` and ``in`` only: a mapping serves.
    return Facade(name, cast("dict[str, Any]", ModuleExports(namespace)))


class EventModules:
    """The local modules of one event (see the module docstring)."""

    def __init__(self, table: Mapping[str, ModuleCode], make_globals: MakeGlobals) -> None:
        self._table = table
        self._make_globals = make_globals
        self._loaded: dict[str, tuple[Facade, dict[str, Any]]] = {}
        # Every package above a module, with or without its __init__.py (``a`` and
        # ``a.b`` for ``a/b/c.py``), as ``folder.local_names`` counts them.
        self._packages = {
            name.rsplit(".", i)[0] for name in table for i in range(1, name.count(".") + 1)
        }

    def importer_for(self, package: str) -> Importer:
        """The import hook of a module in ``package`` ("" for the folder's top level)."""

        def resolve(name: str, fromlist: tuple[str, ...], level: int) -> Facade | None:
            return self._resolve(name, fromlist, level, package)

        return resolve

    def register(self, name: str, namespace: dict[str, Any]) -> None:
        """Make an already running module (the handler) importable by ``name``."""
        self._loaded[name] = (_facade(name, namespace), namespace)

    def _known(self, name: str) -> bool:
        """A module or package of the folder, or the handler (:meth:`register`)."""
        return name in self._table or name in self._packages or name in self._loaded

    def _resolve(
        self, name: str, fromlist: tuple[str, ...], level: int, package: str
    ) -> Facade | None:
        if level > 0:
            parts = package.split(".") if package else []
            if level - 1 > len(parts):
                raise ImportError("attempted relative import beyond the function's folder")
            base = parts[: len(parts) - (level - 1)]
            full = ".".join([*base, name] if name else base)
            if not full:  # ``from . import helpers`` at the folder's top level
                return Facade("", {item: self._require(item) for item in fromlist})
            if not self._known(full):
                raise ImportError(f'no module "{full}" in this function')
        else:
            full = name
            if not self._known(full):
                return None
        module = self._load_chain(full)
        if fromlist:
            namespace = self._loaded[full][1]
            for item in fromlist:
                if item not in namespace and self._known(f"{full}.{item}"):
                    self._load_chain(f"{full}.{item}")
            return module
        return module if level > 0 else self._loaded[full.split(".", 1)[0]][0]

    def _require(self, name: str) -> Facade:
        if not self._known(name):
            raise ImportError(f'no module "{name}" in this function')
        return self._load_chain(name)

    def _load_chain(self, full: str) -> Facade:
        """Load ``a``, ``a.b``, ``a.b.c`` in turn; each child is bound in its parent."""
        parts = full.split(".")
        facade: Facade | None = None
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            facade = self._load(name)
            if i > 1:
                self._loaded[".".join(parts[: i - 1])][1][parts[i - 1]] = facade
        assert facade is not None
        return facade

    def _load(self, name: str) -> Facade:
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded[0]
        module = self._table.get(name)
        is_package = module is None or module.package  # a folder without __init__.py
        package = name if is_package else name.rpartition(".")[0]
        namespace = self._make_globals(name, self.importer_for(package))
        facade = _facade(name, namespace)
        self._loaded[name] = (facade, namespace)  # before it runs: circular imports see it
        if module is not None:
            try:
                exec(module.code, namespace)
            except BaseException:
                del self._loaded[name]
                raise
        return facade
