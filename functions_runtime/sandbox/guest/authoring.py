"""Everyday Python for handler code, kept behind the attribute guard.

What lives here: the class hook (``class X(Enum)``, ``class X(ABC)``, ``NamedTuple`` and
``TypedDict`` bases), ``str.format`` / ``format_map`` / ``string.Formatter`` whose
fields are read through the guard, ``type(x)``, the ``logging`` stand-in, and the
facades of ``dataclasses``, ``enum``, ``functools``, ``abc``, ``copy``, ``string``,
``logging`` and ``collections.abc``. Each takes the worker's guard (``Registrar``) so
that classes made on the author's behalf are the author's, and nothing else is.
"""

from __future__ import annotations

import abc
import collections
import collections.abc as cabc
import copy
import dataclasses
import enum
import functools
import string
import sys
import types
import typing
from _string import formatter_field_name_split  # type: ignore[import-not-found]
from collections.abc import Callable
from typing import Any, Protocol

from functions_sdk._context import current

__all__ = [
    "ABC_BASES",
    "AUTHOR_METACLASSES",
    "GENERIC_BASE",
    "NAMED_TUPLE_BASE",
    "STDLIB_BUILDERS",
    "TYPED_DICT_BASE",
    "AuthorLogger",
    "GuardedFormatter",
    "GuardedType",
    "Registrar",
    "guarded_format",
    "guarded_type",
]


class Registrar(Protocol):
    """What these helpers need from the worker's guard."""

    def getattr(self, obj: Any, name: str, *default: Any) -> Any: ...

    def getitem(self, obj: Any, key: Any) -> Any: ...

    def is_author_object(self, obj: Any) -> bool: ...

    def register_class(self, cls: type) -> type: ...


# Metaclasses of the author's classes: plain classes, enums and abstract base classes.
# Their ``__eq__`` / ``__hash__`` are ``type``'s (checked in guards at import).
AUTHOR_METACLASSES: frozenset[type] = frozenset({type, enum.EnumType, abc.ABCMeta})


class NAMED_TUPLE_BASE:
    """``typing.NamedTuple`` as a base: the class becomes a namedtuple."""


class GENERIC_BASE:
    """``typing.Generic[T]`` / ``Protocol`` as a base: ``Box[int]`` is ``Box``."""

    __slots__ = ()

    def __class_getitem__(cls, item: Any) -> Any:
        return cls


class TYPED_DICT_BASE:
    """``typing.TypedDict`` as a base: the "class" is ``dict`` (as at run time)."""


_ENUM_BASES = (enum.Enum, enum.IntEnum, enum.StrEnum, enum.Flag, enum.IntFlag)
_ENUM_MIXINS = (str, int)
_CABC_NAMES = (
    "Mapping MutableMapping Sequence MutableSequence Set MutableSet Iterable Iterator "
    "Generator Callable Hashable Sized Container Collection Reversible MappingView "
    "KeysView ItemsView ValuesView"
).split()
ABC_BASES: frozenset[type] = frozenset(
    {abc.ABC, GENERIC_BASE, *_ENUM_BASES, *(getattr(cabc, n) for n in _CABC_NAMES)}
)
_DROPPED_BASES = (typing.Generic,)  # from typing.Mapping[...] and friends as bases

# dataclasses look names in the class's module up (ClassVar, InitVar): a module of
# their own, so the functions they generate never see the handler's globals.
_FIELDS_MODULE = "functions_runtime.sandbox.guest._author_fields"
_fields_ns = types.ModuleType(_FIELDS_MODULE)
_fields_ns.__file__ = __file__  # made here (tools that map modules to files find this one)
_fields_ns.__dict__.update(
    {"ClassVar": typing.ClassVar, "InitVar": dataclasses.InitVar, "typing": typing}
)
_fields_ns.__dict__["dataclasses"] = dataclasses
sys.modules[_FIELDS_MODULE] = _fields_ns


def _check_slots(name: str, namespace: Any) -> None:
    slots = namespace.get("__slots__") if hasattr(namespace, "get") else None
    if slots is None:
        return
    names = (slots,) if type(slots) is str else slots
    if type(names) not in (tuple, list) or not all(
        type(s) is str and s.isidentifier() and not s.startswith("__") for s in names
    ):
        raise TypeError(f"class {name}: __slots__ must be a tuple of plain attribute names")


class ClassMaker:
    """``__metaclass__`` of handler code: checks the bases, picks the metaclass."""

    def __init__(self, guards: Registrar, author_bases: frozenset[type]) -> None:
        self._guards = guards
        self._bases = author_bases | ABC_BASES

    def _check(self, name: str, bases: tuple[Any, ...]) -> tuple[type, ...]:
        kept: list[type] = []
        # ``class Endpoint(str, Enum)``: a str / int mixin, for enums only.
        mixins = _ENUM_MIXINS if any(isinstance(b, enum.EnumType) for b in bases) else ()
        for base in bases:
            if base in _DROPPED_BASES:
                base = GENERIC_BASE
            if base in kept:
                continue
            if (
                base in (NAMED_TUPLE_BASE, TYPED_DICT_BASE)
                or base in mixins
                or (
                    isinstance(base, type)
                    and (base in self._bases or self._guards.is_author_object(base))
                )
            ):
                kept.append(base)
                continue
            shown = getattr(base, "__name__", type(base).__name__)
            raise TypeError(
                f"class {name} cannot derive from {shown}; classes in functions may derive "
                "from your own classes, object, Exception types, SDK errors, enum.Enum, "
                "abc.ABC, collections.abc classes, typing.NamedTuple / TypedDict / Protocol "
                "/ Generic"
            )
        return tuple(kept)

    def __prepare__(self, name: str, bases: tuple[Any, ...], **kwargs: Any) -> Any:
        kept = self._check(name, bases)
        if NAMED_TUPLE_BASE in kept or TYPED_DICT_BASE in kept:
            return {}
        meta = _metaclass(kept)
        return meta.__prepare__(name, kept)

    def __call__(self, name: str, bases: tuple[Any, ...], namespace: Any, **kwargs: Any) -> Any:
        kept = self._check(name, bases)
        _check_slots(name, namespace)
        if TYPED_DICT_BASE in kept:
            return dict
        if NAMED_TUPLE_BASE in kept:
            return self._guards.register_class(_named_tuple(name, namespace))
        meta = _metaclass(kept)
        cls = meta(name, kept, namespace)
        return self._guards.register_class(cls)


def _metaclass(bases: tuple[type, ...]) -> type:
    winner: type = type
    for base in bases:
        meta = type(base)
        if meta not in AUTHOR_METACLASSES:
            raise TypeError(f"classes in functions cannot have the metaclass {meta.__name__}")
        if issubclass(meta, winner):
            winner = meta
        elif not issubclass(winner, meta):
            raise TypeError("metaclass conflict between the bases")
    return winner


_SKIPPED = frozenset({"__module__", "__qualname__", "__annotations__", "__doc__", "__slots__"})


def _named_tuple(name: str, namespace: dict[str, Any]) -> type:
    fields = list(namespace.get("__annotations__", {}))
    defaults = [namespace[f] for f in fields if f in namespace]
    cls = collections.namedtuple(name, fields, defaults=defaults or None)  # type: ignore[misc]
    for key, value in namespace.items():
        if key not in _SKIPPED and key not in fields:
            setattr(cls, key, value)
    cls.__module__ = str(namespace.get("__module__", "handler"))
    return cls


# -- str.format, format_map and string.Formatter through the guard --------------------


class GuardedFormatter(string.Formatter):
    """``string.Formatter`` whose ``{0.attr}`` / ``{0[key]}`` go through the guard."""

    def __init__(self, guards: Registrar) -> None:
        self._guards = guards

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        first, rest = formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            obj = self._guards.getattr(obj, key) if is_attr else self._guards.getitem(obj, key)
        return obj, first


def guarded_format(guards: Registrar, text: Any, name: str) -> Callable[..., str]:
    """``text.format`` / ``text.format_map`` (``text`` None: ``str.format`` unbound)."""
    formatter = GuardedFormatter(guards)

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"descriptor '{name}' requires a 'str' object")
        return str.__str__(value)

    if name == "format_map":
        if text is None:
            return lambda s, mapping: formatter.vformat(check(s), (), mapping)
        return lambda mapping: formatter.vformat(check(text), (), mapping)
    if text is None:
        return lambda s, *a, **k: formatter.vformat(check(s), a, k)
    return lambda *a, **k: formatter.vformat(check(text), a, k)


class GuardedType:
    """``type`` in functions: ``type(x)`` is the class of a value, and
    ``isinstance(c, type)`` / ``issubclass(m, type)`` answer as usual. Not the class of
    a class (its metaclass would make new classes past the class hook), and not the
    three-argument form."""

    __slots__ = ()

    def __call__(self, *args: Any) -> type:
        if len(args) != 1:
            raise TypeError(
                "type() with three arguments is not available in functions; write a class statement"
            )
        cls = type(args[0])
        if issubclass(cls, type):
            raise TypeError(
                "type() of a class is not available in functions; compare classes directly"
            )
        return cls

    def __instancecheck__(self, obj: Any) -> bool:
        return isinstance(obj, type)

    def __subclasscheck__(self, cls: Any) -> bool:
        return issubclass(cls, type)

    def __repr__(self) -> str:
        return "<class 'type'>"


guarded_type = GuardedType()


# -- logging, routed to the delivery's log -----------------------------------------------

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_LEVEL_NAMES = {v: k for k, v in _LEVELS.items()}


class AuthorLogger:
    """``logging.getLogger(name)`` in functions: lines go to the delivery's log."""

    __slots__ = ("level", "name")

    def __init__(self, name: str = "root") -> None:
        self.name = str(name)
        self.level = 0

    def setLevel(self, level: int | str) -> None:
        self.level = _LEVELS.get(level, 0) if isinstance(level, str) else int(level)

    def isEnabledFor(self, level: int) -> bool:
        return int(level) >= self.level

    def getChild(self, suffix: str) -> AuthorLogger:
        return AuthorLogger(f"{self.name}.{suffix}")

    def log(self, level: int, msg: object, *args: object, exc_info: Any = None, **_: Any) -> None:
        if int(level) < self.level:
            return
        text = str(msg)
        if args:
            try:
                text = text % (args[0] if len(args) == 1 and type(args[0]) is dict else args)
            except (TypeError, ValueError, KeyError):
                text = " ".join([text, *map(str, args)])
        if exc_info:
            exc = sys.exc_info()[1] if exc_info is True else exc_info
            if isinstance(exc, BaseException):
                text = f"{text}\n{type(exc).__name__}: {exc}"
        current().log(f"{_LEVEL_NAMES.get(int(level), 'LEVEL')} {text}")

    def debug(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(10, msg, *args, **kw)

    def info(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(20, msg, *args, **kw)

    def warning(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(30, msg, *args, **kw)

    warn = warning

    def error(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(40, msg, *args, **kw)

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kw: Any) -> None:
        self.log(40, msg, *args, exc_info=exc_info, **kw)

    def critical(self, msg: object, *args: object, **kw: Any) -> None:
        self.log(50, msg, *args, **kw)


LOGGER_ATTRS = frozenset(
    "name level setLevel isEnabledFor getChild log debug info warning warn error "
    "exception critical".split()
)


def _logging(guards: Registrar) -> dict[str, Any]:
    root = AuthorLogger()
    loggers: dict[str, AuthorLogger] = {}

    def get_logger(name: str | None = None) -> AuthorLogger:
        if name is None:
            return root
        return loggers.setdefault(str(name), AuthorLogger(str(name)))

    def basic_config(**kwargs: Any) -> None:
        """Accepted and ignored: log lines always go to the delivery's log."""
        if "level" in kwargs:
            root.setLevel(kwargs["level"])

    names: dict[str, Any] = {
        "getLogger": get_logger,
        "basicConfig": basic_config,
        "NOTSET": 0,
        **_LEVELS,
        "WARN": 30,
        "FATAL": 50,
    }
    for method in "debug info warning error exception critical log".split():
        names[method] = getattr(root, method)
    return names


# -- the other facades ---------------------------------------------------------------------


def _only_author(guards: Registrar, func: Callable[..., Any], what: str) -> Callable[..., Any]:
    @functools.wraps(func)
    def call(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if not guards.is_author_object(obj):
            raise TypeError(f"dataclasses.{what}() takes an instance of your own dataclass")
        return func(obj, *args, **kwargs)

    return call


def _dataclasses(guards: Registrar) -> dict[str, Any]:
    def dataclass(cls: Any = None, /, **options: Any) -> Any:
        def wrap(target: Any) -> Any:
            if not isinstance(target, type) or not guards.is_author_object(target):
                raise TypeError("@dataclass applies to your own classes")
            module = target.__module__
            target.__module__ = _FIELDS_MODULE
            try:
                made: type = dataclasses.dataclass(target, **options)
            finally:
                target.__module__ = module
            made.__module__ = module
            return guards.register_class(made)

        return wrap if cls is None else wrap(cls)

    names: dict[str, Any] = {
        "dataclass": dataclass,
        "field": dataclasses.field,
        "fields": _only_author(guards, dataclasses.fields, "fields"),
        "asdict": _only_author(guards, dataclasses.asdict, "asdict"),
        "astuple": _only_author(guards, dataclasses.astuple, "astuple"),
        "replace": _only_author(guards, dataclasses.replace, "replace"),
        "is_dataclass": dataclasses.is_dataclass,
        "FrozenInstanceError": dataclasses.FrozenInstanceError,
        "InitVar": dataclasses.InitVar,
        "KW_ONLY": dataclasses.KW_ONLY,
        "MISSING": dataclasses.MISSING,
    }
    return names


FIELD_ATTRS = frozenset(
    "name type default default_factory init repr compare hash metadata kw_only".split()
)
TEMPLATE_ATTRS = frozenset("template substitute safe_substitute get_identifiers is_valid".split())
FORMATTER_ATTRS = frozenset({"format", "vformat"})
LRU_ATTRS = frozenset({"cache_info", "cache_clear", "cache_parameters"})


def _string(guards: Registrar) -> dict[str, Any]:
    names: dict[str, Any] = {
        name: getattr(string, name)
        for name in (
            "ascii_letters ascii_lowercase ascii_uppercase digits hexdigits octdigits "
            "punctuation printable whitespace capwords Template"
        ).split()
    }
    names["Formatter"] = lambda: GuardedFormatter(guards)
    return names


def _collections(guards: Registrar, base: dict[str, Any]) -> dict[str, Any]:
    def namedtuple(typename: str, field_names: Any, **options: Any) -> type:
        made: type = collections.namedtuple(typename, field_names, **options)  # type: ignore[misc]
        made.__module__ = "handler"
        return guards.register_class(made)

    return {**base, "namedtuple": namedtuple}


def _is_own(guards: Registrar, obj: Any) -> bool:
    """The author's class or object, or a function compiled from the author's code."""
    if isinstance(obj, types.FunctionType):
        return bool(obj.__globals__.get("_getattr_") == guards.getattr)
    return guards.is_author_object(obj)


def _own_only(guards: Registrar, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func(target)`` for decorators that write to their target (setattr): only on
    the author's own functions and classes, never on a host object."""

    @functools.wraps(func)
    def decorate(target: Any) -> Any:
        if not _is_own(guards, target):
            raise TypeError(f"{func.__name__}() applies to your own functions and classes")
        return func(target)

    return decorate


def _functools(guards: Registrar) -> dict[str, Any]:
    names: dict[str, Any] = {
        name: getattr(functools, name)
        for name in "partial reduce lru_cache cache cached_property cmp_to_key".split()
    }

    def update_wrapper(wrapper: Any, wrapped: Any) -> Any:
        """``functools.update_wrapper`` with its default attributes, onto the author's
        own function or object only (it writes ``wrapper``'s attributes)."""
        if not _is_own(guards, wrapper):
            raise TypeError("update_wrapper() / wraps() write to your own functions only")
        return functools.update_wrapper(wrapper, wrapped)

    def wraps(wrapped: Any) -> Callable[[Any], Any]:
        return lambda wrapper: update_wrapper(wrapper, wrapped)

    names["update_wrapper"] = update_wrapper
    names["wraps"] = wraps
    names["total_ordering"] = _own_only(guards, functools.total_ordering)
    return names


STDLIB_BUILDERS: dict[str, Callable[[Registrar], dict[str, Any]]] = {
    "dataclasses": _dataclasses,
    "enum": lambda g: {
        **{cls.__name__: cls for cls in _ENUM_BASES},
        "auto": enum.auto,
        "unique": enum.unique,
    },
    "functools": _functools,
    "abc": lambda g: {"ABC": abc.ABC, "abstractmethod": _own_only(g, abc.abstractmethod)},
    "copy": lambda g: {"copy": copy.copy, "deepcopy": copy.deepcopy},
    "string": _string,
    "logging": _logging,
    "collections.abc": lambda g: {name: getattr(cabc, name) for name in _CABC_NAMES},
}
