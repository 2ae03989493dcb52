"""The globals and builtins handler code runs with, built afresh per invocation."""

from __future__ import annotations

import builtins
import sys
from typing import TYPE_CHECKING, Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

import functions_sdk
from functions_sdk._context import current

from .authoring import guarded_type
from .guards import Guards, SandboxAccessError
from .modules import EXPORTS, Facade, build_module

if TYPE_CHECKING:
    from .loader import Importer

__all__ = ["AUTHOR_BASES", "SAFE_BUILTIN_NAMES", "PrintCollector", "build_globals"]

SAFE_BUILTIN_NAMES = (
    "abs all any ascii bin bool bytearray bytes callable chr complex dict divmod enumerate "
    "filter float format frozenset hash hex id int isinstance issubclass iter len list map max "
    "min next object oct ord pow range repr reversed round set slice sorted str sum tuple zip "
    "property staticmethod classmethod super "
    "None False True Ellipsis NotImplemented"
).split()

# Exception classes handler code may raise, catch and subclass. No BaseException,
# SystemExit, KeyboardInterrupt or GeneratorExit: those would escape ``except Exception``.
EXCEPTION_NAMES = (
    "Exception ArithmeticError AssertionError AttributeError IndexError KeyError LookupError "
    "NameError NotImplementedError OverflowError RuntimeError StopIteration TypeError "
    "UnicodeDecodeError UnicodeEncodeError UnicodeError ValueError ZeroDivisionError "
    "RecursionError TimeoutError ConnectionError"
).split()

_SAFE_BUILTINS: dict[str, Any] = {
    name: getattr(builtins, name) for name in SAFE_BUILTIN_NAMES + EXCEPTION_NAMES
}
_SAFE_BUILTINS["__build_class__"] = builtins.__build_class__

AUTHOR_BASES: frozenset[type] = frozenset(
    {object}
    | {getattr(builtins, name) for name in EXCEPTION_NAMES}
    | {
        getattr(functions_sdk, name)
        for name in functions_sdk.__all__
        if isinstance(getattr(functions_sdk, name), type)
        and issubclass(getattr(functions_sdk, name), functions_sdk.FunctionError)
    }
)

MAX_PRINT_LINE = 4096
MAX_PRINTED = 64 * 1024


class PrintCollector:
    """``print`` in handler code: lines go to the invocation's log (masked, capped)."""

    __slots__ = ("_lines", "_size")

    def __init__(self, _getattr_: Any = None) -> None:
        self._lines: list[str] = []
        self._size = 0

    def _call_print(
        self,
        *objects: Any,
        sep: str | None = " ",
        end: str | None = "\n",
        file: Any = None,
        flush: bool = False,
    ) -> None:
        if file is not None:
            raise SandboxAccessError("print(file=...) is not available; print to the log")
        text = (" " if sep is None else str(sep)).join(str(o) for o in objects)
        text = text[:MAX_PRINT_LINE]
        if self._size < MAX_PRINTED:  # what `printed` returns is capped like the log
            self._lines.append(text)
            self._size += len(text) + 1  # with its newline: empty lines are not free
        current().log(text)

    def __call__(self) -> str:
        return "\n".join(self._lines)


def _guarded_import(guards: Guards, local: Importer | None = None) -> Any:
    def __import__(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Facade:
        if type(name) is not str or type(level) is not int:
            raise ImportError("import takes a module name")
        if name == "__future__" and level == 0:
            # the compiler's own ``from __future__ import annotations`` (policy.py)
            return Facade("__future__", {"annotations": None})
        if name == "_strptime" and level == 0 and "_strptime" in sys.modules:
            # datetime.strptime's C code imports it by name (and then takes the real
            # module from sys.modules): it gets an empty stand-in.
            return Facade("_strptime", {})
        # The sandbox's own modules first: a function's module never replaces them.
        if local is not None and (level != 0 or name not in EXPORTS):
            names = tuple(str(item) for item in fromlist or ())
            found = local(name, names, level)
            if found is not None:
                return found
        if level != 0 or name not in EXPORTS:
            raise ImportError(f'module "{name}" is not available in functions')
        if "." in name and not fromlist:
            return build_module(name.split(".", 1)[0], guards)
        return build_module(name, guards)

    return __import__


def build_globals(
    guards: Guards, module_name: str = "handler", importer: Importer | None = None
) -> dict[str, Any]:
    """Fresh globals for one invocation: builtins copy, guards, class hook.
    ``importer`` resolves the function's own modules (``guest/loader.py``)."""
    safe_builtins = dict(_SAFE_BUILTINS)
    safe_builtins["__import__"] = _guarded_import(guards, importer)
    safe_builtins["getattr"] = guards.getattr
    safe_builtins["hasattr"] = guards.hasattr
    safe_builtins["setattr"] = guards.setattr
    safe_builtins["delattr"] = guards.delattr
    safe_builtins["type"] = guarded_type
    return {
        "__builtins__": safe_builtins,
        "__name__": module_name,
        "__metaclass__": guards.class_maker,
        "_getattr_": guards.getattr,
        "_getitem_": guards.getitem,
        "_getiter_": guards.getiter,
        "_write_": guards.write,
        "_inplacevar_": guards.inplacevar,
        "_apply_": guards.apply,
        "_print_": PrintCollector,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
    }
