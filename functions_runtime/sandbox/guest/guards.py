"""Run-time guards: the functions RestrictedPython's byte code calls on every access.

The attribute guard is deny-by-default. An attribute is readable when:

* the object is the author's own (an instance of a class their code defined, or
  such a class): any name without two leading underscores;
* the object is a plain value (str, int, dict, list, datetime, Decimal, ...) or a
  class handed out by a facade: any public name, except the few that reach
  attributes by name on their own (``str.format``, ``str.format_map``, ``type.mro``);
* the object is a facade (module stand-in): its exported names;
* the object is an SDK object: the names its allow-list publishes.

Everything else, and every name with two leading underscores (``super().__init__``
aside), is refused with an error that says so.

:meth:`Guards.allowed` is the rule itself, uncached. :meth:`Guards.getattr` remembers
its answers only where the answer is a function of a key drawn from a fixed set of
host types (see ``_TYPE_KEYED``, ``_EVENT_KEYED``, ``_CLASS_KEYED``); everything that
depends on the object (the author's classes and instances, facades, unknown event
fields, anything else) is decided afresh on every read.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import functools
import hashlib
import hmac
import operator
import re
import string
import time
import urllib.parse
import uuid
import weakref
from collections.abc import Callable
from types import BuiltinFunctionType, FunctionType, GeneratorType, MethodType, ModuleType
from typing import Any

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

import functions_sdk.events
from functions_sdk import BaseEvent, FunctionError, Response, Settings, SourceRequest
from functions_sdk.log import FunctionLogger

from .authoring import (
    AUTHOR_METACLASSES,
    FIELD_ATTRS,
    FORMATTER_ATTRS,
    LOGGER_ATTRS,
    LRU_ATTRS,
    TEMPLATE_ATTRS,
    AuthorLogger,
    ClassMaker,
    GuardedFormatter,
    guarded_format,
)
from .event_access import (
    _WRAPPED_EVENT_METHODS,
    _WRAPPED_NAMES,
    SandboxAccessError,
    _EventWriter,
    _wrapped,
)
from .modules import Facade

__all__ = ["Guards", "SandboxAccessError"]


_HASH_TYPES = {
    type(hashlib.new(name))
    for name in ("md5", "sha1", "sha256", "sha512", "sha3_256", "blake2b", "blake2s")
}

# Instances of these types expose every public attribute.
VALUE_TYPES: frozenset[type] = frozenset(
    {
        str,
        bytes,
        bytearray,
        int,
        float,
        bool,
        complex,
        list,
        dict,
        tuple,
        set,
        frozenset,
        range,
        slice,
        type(None),
        property,
        datetime.date,
        datetime.datetime,
        datetime.time,
        datetime.timedelta,
        datetime.timezone,
        decimal.Decimal,
        uuid.UUID,
        re.Pattern,
        re.Match,
        hmac.HMAC,
        time.struct_time,
        collections.Counter,
        collections.OrderedDict,
        collections.defaultdict,
        collections.deque,
        urllib.parse.ParseResult,
        urllib.parse.SplitResult,
        urllib.parse.ParseResultBytes,
        urllib.parse.SplitResultBytes,
        *_HASH_TYPES,
        type(decimal.Decimal(0).as_tuple()),
        re.RegexFlag,
        type({}.keys()),
        type({}.values()),
        type({}.items()),
        type(functools.lru_cache()(abs).cache_info()),
    }
)

# Classes that handler code may reach as values (builtins and facade exports).
EXPOSED_CLASSES: frozenset[type] = VALUE_TYPES | frozenset({object})

# Item writes (``x[k] = v``) are allowed on these exact types (and the author's own).
WRITABLE_CONTAINERS: frozenset[type] = frozenset(
    {
        dict,
        list,
        bytearray,
        set,
        collections.Counter,
        collections.OrderedDict,
        collections.defaultdict,
        collections.deque,
    }
)

_EVENT_METHODS = frozenset({"model_dump", "model_dump_json", "model_copy", "model_extra"})
# pydantic entry points handed out as the guard's own versions (never remembered):
# ``model_validate`` without ``from_attributes`` (pydantic would read attributes with a
# plain getattr, past this guard) and ``model_copy`` whose ``update`` is validated
# field by field (pydantic writes it into the copy unchecked).
_SDK_ATTRS: dict[type, frozenset[str]] = {
    Settings: frozenset(
        {
            "get",
            "keys",
            "items",
            "values",
            "get_str",
            "get_number",
            "get_bool",
            "get_list",
            "get_map",
            "is_secret",
        }
    ),
    Response: frozenset(
        {"status", "ok", "headers", "content", "text", "url", "json", "raise_for_status"}
    ),
    GeneratorType: frozenset({"send", "close", "throw"}),
    dataclasses.Field: FIELD_ATTRS,
    string.Template: TEMPLATE_ATTRS,
    GuardedFormatter: FORMATTER_ATTRS,
    AuthorLogger: LOGGER_ATTRS,
    type(functools.lru_cache()(abs)): LRU_ATTRS,
    FunctionLogger: frozenset({"debug", "info", "warning", "error"}),
    SourceRequest: frozenset({"method", "headers", "query", "body", "json", "header"}),
}
_EXCEPTION_ATTRS = frozenset({"args"})
_EXTRA_EXCEPTION_ATTRS: dict[type, frozenset[str]] = {
    StopIteration: frozenset({"value"}),
    ValueError: frozenset({"msg", "doc", "pos", "lineno", "colno"}),  # JSONDecodeError
    FunctionError: frozenset({"message", "status"}),
}
_REFUSED_EVERYWHERE = frozenset({"mro"}) | INSPECT_ATTRIBUTES
# ``str.format`` / ``format_map`` read attributes by name: handed out as the guard's own
# versions (authoring.guarded_format), never the real methods.
_FORMAT_NAMES = frozenset({"format", "format_map"})
# The author's enums and abstract classes: their "_sunder_" machinery stays inside.
_READABLE_SUNDER = frozenset({"_value_", "_name_"})
# ``Base.register(X)`` on the author's ABC would make host objects instances of it, and
# match patterns then read the dataclass fields of ``Base`` (``__match_args__``) from
# them natively, past this guard.
_META_REFUSED = frozenset({"register"})
_NAMED_CALLABLES = (type, FunctionType, BuiltinFunctionType, MethodType)


def _is_str_format(obj: Any, name: str) -> bool:
    return name in _FORMAT_NAMES and (
        isinstance(obj, str) or (isinstance(obj, type) and issubclass(obj, str))
    )


# -- remembered decisions --------------------------------------------------------------
#
# ``allowed(obj, name)`` is remembered only where it is a function of a key from a
# fixed, finite set of host types (and of ``name``), never of the object:
#
# * ``_TYPE_KEYED``: an instance whose exact type is a value type or an SDK type with
#   an allow-list. For such a type ``allowed`` walks: the refused names (name only),
#   ``super`` (never such a type), special names (refused: the object is not a class),
#   the author's objects (a host type is never one: ``make_class`` registers only the
#   classes it creates), private names (name only), then the exact type's rule
#   (``VALUE_TYPES``, with ``format`` refused on str and bytes, or ``_SDK_ATTRS``).
# * ``_EVENT_KEYED``: an instance of one of the SDK's event models, for the model's
#   fields and ``_EVENT_METHODS`` only (those names are decided by the model class;
#   any other name may be an unknown field of that one event, so it is not
#   remembered).
# * ``_CLASS_KEYED``: one of these classes itself (keyed by the class object): the
#   exposed classes and the event models, decided by identity and name.
#
# Types and names are immutable keys (names are exact ``str``; the classes' and their
# metaclasses' ``__hash__`` / ``__eq__`` are ``type``'s, checked below), nothing the
# author does changes these types' rules (host classes cannot be written to, the
# author cannot derive from them), and each table is cleared when it reaches
# ``MAX_REMEMBERED`` entries; names longer than ``MAX_REMEMBERED_NAME`` are never kept.

MAX_REMEMBERED = 4096
MAX_REMEMBERED_NAME = 64

_EVENT_KEYED: dict[type, frozenset[str]] = {
    model: (_EVENT_METHODS - _WRAPPED_EVENT_METHODS) | frozenset(model.model_fields)
    for model in (getattr(functions_sdk.events, n) for n in functions_sdk.events.__all__)
    if isinstance(model, type) and issubclass(model, BaseEvent)
}
_TYPE_KEYED: frozenset[type] = VALUE_TYPES | frozenset(_SDK_ATTRS)
_CLASS_KEYED: frozenset[type] = EXPOSED_CLASSES | frozenset(_EVENT_KEYED)
_MODEL_METACLASS: type = type(BaseEvent)
# Instances: exact type -> the names remembered for it (None: every name).
_REMEMBERED_NAMES: dict[type, frozenset[str] | None] = {
    **dict.fromkeys(_TYPE_KEYED),
    **_EVENT_KEYED,
}
_NOT_REMEMBERED: Any = object()


def _check_remembered_types() -> None:
    """Refuse to start if a remembered type could break the argument above."""
    object_dependent = (type, super, Facade, ModuleType, BaseException)
    for cls in _TYPE_KEYED | _CLASS_KEYED:
        meta = type(cls)
        if (
            issubclass(cls, object_dependent)
            or (cls in _TYPE_KEYED and (issubclass(cls, BaseEvent) or cls in _EVENT_KEYED))
            or meta.__hash__ is not type.__hash__
            or meta.__eq__ is not type.__eq__
        ):
            raise RuntimeError(f"{cls!r} cannot have its attribute decisions remembered")
    if type in VALUE_TYPES or _MODEL_METACLASS in VALUE_TYPES:
        raise RuntimeError("metaclasses cannot be value types")
    for meta in AUTHOR_METACLASSES:
        if meta.__hash__ is not type.__hash__ or meta.__eq__ is not type.__eq__:
            raise RuntimeError(f"{meta!r} cannot be the metaclass of author classes")


_check_remembered_types()


def _remember(table: dict[tuple[type, str], bool], key: tuple[type, str], decision: bool) -> None:
    if len(key[1]) > MAX_REMEMBERED_NAME:
        return
    if len(table) >= MAX_REMEMBERED:
        table.clear()
    table[key] = decision


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "^=": operator.ixor,
    "&=": operator.iand,
    "@=": operator.imatmul,
}


def _refuse(obj: Any, name: str) -> SandboxAccessError:
    if isinstance(obj, Facade) and not name.startswith("__"):
        return SandboxAccessError(f'"{name}" is not available from "{obj.facade_name()}"')
    kind = type(obj).__name__ if not isinstance(obj, type) else f"class {obj.__name__}"
    if name.startswith("__"):
        return SandboxAccessError(f'"{name}" is not available in functions (special attribute)')
    return SandboxAccessError(f'"{name}" of {kind} is not available in functions')


class Guards:
    """The guard functions for one worker, bound to its register of author classes."""

    def __init__(self, author_bases: frozenset[type]) -> None:
        self.author_classes: weakref.WeakSet[type] = weakref.WeakSet()
        self.author_bases = author_bases
        # The same classes by id, for an identity test without a WeakSet's Python-level
        # ``__contains__``: each entry is a weak reference that must still point at the
        # very class asked about (an entry goes when its class does).
        self._author_refs: dict[int, weakref.ref[type]] = {}
        # Remembered decisions (see "remembered decisions" above): instances by
        # (exact type, name), classes by (class, name).
        self._by_type: dict[tuple[type, str], bool] = {}
        self._by_class: dict[tuple[type, str], bool] = {}
        self.class_maker = ClassMaker(self, author_bases)

    # -- classification ----------------------------------------------------------------

    def is_author_object(self, obj: Any) -> bool:
        cls = obj if isinstance(obj, type) else type(obj)
        # Author classes are made by the class hook with ``type``, ``EnumType`` or
        # ``ABCMeta``: a class whose metaclass is anything else (and could lie in
        # __eq__ / __hash__) never is. Equality is identity for those metaclasses.
        if type(cls) not in AUTHOR_METACLASSES:
            return False
        ref = self._author_refs.get(id(cls))
        return ref is not None and ref() is cls

    def allowed(self, obj: Any, name: str) -> bool:
        if name in _REFUSED_EVERYWHERE:
            return False
        if isinstance(obj, super):
            # super() inside the author's class: its parents' methods and __init__.
            return getattr(obj, "__thisclass__", None) in self.author_classes and (
                name == "__init__" or not name.startswith("__")
            )
        if name.startswith("__"):
            if name == "__name__":
                return isinstance(obj, _NAMED_CALLABLES)
            return name == "__init__" and isinstance(obj, type) and obj in self.author_classes
        if _is_str_format(obj, name):
            return False
        # The author's own objects: is_author_object(obj), inlined (a hot path).
        own = obj if isinstance(obj, type) else type(obj)
        meta = type(own)
        if meta in AUTHOR_METACLASSES:
            ref = self._author_refs.get(id(own))
            if ref is not None and ref() is own:
                return meta is type or not (_is_sunder(name) or name in _META_REFUSED)
        if name.startswith("_"):
            return False
        cls = type(obj)
        if cls in VALUE_TYPES:
            return True
        if isinstance(obj, Facade):
            return obj.facade_has(name)
        if isinstance(obj, type):
            if issubclass(obj, BaseEvent):
                return name == "model_validate"
            return obj in EXPOSED_CLASSES
        if isinstance(obj, BaseEvent):
            if name in _EVENT_METHODS or name in cls.model_fields:
                return True
            # Unknown fields, unless the name is also a class attribute (a method of
            # the model would be returned instead of the field).
            extra = obj.model_extra
            return extra is not None and name in extra and not hasattr(cls, name)
        if isinstance(obj, BaseException):
            if name in _EXCEPTION_ATTRS:
                return True
            return any(
                isinstance(obj, exc) and name in names
                for exc, names in _EXTRA_EXCEPTION_ATTRS.items()
            )
        names = _SDK_ATTRS.get(cls)
        return names is not None and name in names

    # -- the guard functions ------------------------------------------------------------

    def getattr(self, obj: Any, name: str, *default: Any) -> Any:
        """``_getattr_`` and the ``getattr`` builtin."""
        if type(name) is not str:
            raise TypeError("attribute name must be a string")
        cls = type(obj)
        decision = self._by_type.get((cls, name))
        if decision:
            # Remembered for an instance of a host type (never a class): only the
            # value's module check applies.
            value = getattr(obj, name, *default)
            if isinstance(value, ModuleType):
                self._check_value(obj, name, value)
            return value
        if decision is None:
            decision = self._decide(obj, cls, name)
        if not decision:
            if _is_str_format(obj, name):
                return guarded_format(self, None if isinstance(obj, type) else obj, name)
            if default:
                return default[0]
            raise _refuse(obj, name)
        if name in _WRAPPED_NAMES:
            wrapped = _wrapped(obj, name)
            if wrapped is not None:
                return wrapped
        value = getattr(obj, name, *default)
        if isinstance(value, ModuleType) or (
            isinstance(obj, type) and isinstance(value, FunctionType)
        ):
            self._check_value(obj, name, value)
        return value

    def _check_value(self, obj: Any, name: str, value: Any) -> None:
        """Refuse what an allowed name leads to: a module, or a host class's function."""
        if isinstance(value, ModuleType):
            raise _refuse(obj, name)
        if (
            isinstance(obj, type)
            and isinstance(value, FunctionType)
            and not (obj in self.author_classes and self._compiled_here(value))
        ):
            # A Python function reached through a host class is an unbound method that
            # accepts any ``self`` (``Counter.copy(int)`` runs ``int.__class__(int)``).
            # So is one an author class inherits from a host base (``Mapping.get``) or
            # that dataclasses generated for it (``P.__init__(host_object, ...)`` would
            # set attributes on a host object unguarded): only functions compiled from
            # the author's code (whose globals hold this guard) are handed out unbound.
            raise SandboxAccessError(
                f'"{name}" of class {obj.__name__} is not available unbound in functions; '
                "call it on an instance"
            )

    def _compiled_here(self, func: FunctionType) -> bool:
        return bool(func.__globals__.get("_getattr_") == self.getattr)

    def _decide(self, obj: Any, cls: type, name: str) -> bool:
        """``allowed(obj, name)`` for an ``obj`` of type ``cls``, remembered where the
        answer depends on a host type and the name only."""
        if cls is Facade:
            # allowed()'s walk for a facade: refused and private names, then its exports.
            return (
                name not in _REFUSED_EVERYWHERE
                and not name.startswith("_")
                and obj.facade_has(name)
            )
        if cls is type or cls is _MODEL_METACLASS:
            # A class; identity hashing (checked at import), so no author code runs.
            key = (obj, name)
            remembered = self._by_class.get(key)
            if remembered is not None:
                return remembered
            decision = self.allowed(obj, name)
            if obj in _CLASS_KEYED:
                _remember(self._by_class, key, decision)
            return decision
        if type(cls) is type and not isinstance(obj, type) and not isinstance(obj, super):
            ref = self._author_refs.get(id(cls))
            if ref is not None and ref() is cls:
                # An instance of the author's class (never remembered): allowed()'s walk
                # ends at is_author_object once refused and special names are out.
                return (
                    name not in _REFUSED_EVERYWHERE
                    and not name.startswith("__")
                    and not _is_str_format(obj, name)
                )
        decision = self.allowed(obj, name)
        names = _REMEMBERED_NAMES.get(cls, _NOT_REMEMBERED)
        if names is not _NOT_REMEMBERED and (names is None or name in names):
            _remember(self._by_type, (cls, name), decision)
        return decision

    def hasattr(self, obj: Any, name: str) -> bool:
        """The ``hasattr`` builtin, through the guard."""
        try:
            self.getattr(obj, name)
        except Exception:
            return False
        return True

    def write(self, obj: Any) -> Any:
        """``_write_``: what may be the target of ``x.a = v`` / ``x[k] = v``."""
        cls = type(obj)
        if cls in WRITABLE_CONTAINERS or self.is_author_object(obj):
            return obj
        if isinstance(obj, BaseEvent):
            return _EventWriter(obj)
        raise SandboxAccessError(f"{cls.__name__} objects are read-only in functions")

    def setattr(self, obj: Any, name: str, value: Any) -> None:
        """The ``setattr`` builtin, through the guard."""
        if type(name) is not str or name.startswith("__"):
            raise SandboxAccessError(f'cannot set "{name}"')
        setattr(self.write(obj), name, value)

    def delattr(self, obj: Any, name: str) -> None:
        """The ``delattr`` builtin, through the guard."""
        if type(name) is not str or name.startswith("__"):
            raise SandboxAccessError(f'cannot delete "{name}"')
        delattr(self.write(obj), name)

    @staticmethod
    def getitem(obj: Any, key: Any) -> Any:
        """``_getitem_``: subscription (values are copies; facades have no items)."""
        if isinstance(obj, Facade | ModuleType):
            raise SandboxAccessError("modules cannot be subscripted")
        return obj[key]

    @staticmethod
    def getiter(obj: Any) -> Any:
        """``_getiter_``: iteration is unmetered; time and memory limits bound it."""
        return obj

    @staticmethod
    def inplacevar(op: str, target: Any, value: Any) -> Any:
        """``_inplacevar_``: ``x += y`` and friends."""
        try:
            return _INPLACE[op](target, value)
        except KeyError:
            raise SandboxAccessError(f"operator {op} is not supported") from None

    @staticmethod
    def apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``_apply_``: calls with ``*args`` / ``**kwargs``."""
        return func(*args, **kwargs)

    def make_class(self, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
        """A class as the class hook (``__metaclass__``, authoring.ClassMaker) makes it."""
        made: type = self.class_maker(name, bases, namespace)
        return made

    def register_class(self, cls: type) -> type:
        """Make ``cls`` (made by the class hook, or for the author by dataclass or
        namedtuple) one of the author's classes."""
        if type(cls) not in AUTHOR_METACLASSES:
            raise TypeError(f"{cls!r} cannot be an author class")
        self.author_classes.add(cls)
        key = id(cls)
        refs = self._author_refs

        def forget(ref: weakref.ref[type]) -> None:
            if refs.get(key) is ref:
                del refs[key]

        refs[key] = weakref.ref(cls, forget)
        return cls


def _is_sunder(name: str) -> bool:
    return (
        len(name) > 2
        and name[0] == name[-1] == "_"
        and name[1] != "_"
        and name not in _READABLE_SUNDER
    )
