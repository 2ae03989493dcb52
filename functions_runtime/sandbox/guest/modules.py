"""The modules handler code may import: curated facades, never real modules.

A real module leads back to ``sys``, ``os`` and the real builtins through its
globals, its submodules and the objects it returns. Handler code gets a
:class:`Facade` instead: an object that holds the names listed here and nothing
else, built afresh for every import. The objects behind those names are plain
functions, classes and constants whose attributes the run-time guard filters.
"""

from __future__ import annotations

import _strptime  # type: ignore[import-not-found]  # noqa: F401 - datetime.strptime's C code imports it
import base64
import collections
import datetime
import decimal
import hashlib
import heapq  # noqa: F401 - Counter.most_common imports it lazily (the worker cannot)
import hmac
import itertools
import json
import math
import random
import re
import time
import typing
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import functions_sdk
import functions_sdk.events
import functions_sdk.store

from .authoring import GENERIC_BASE, NAMED_TUPLE_BASE, STDLIB_BUILDERS, TYPED_DICT_BASE, Registrar

__all__ = ["EXPORTS", "Facade", "build_module"]

MAX_JSON_INPUT = 8 * 1024 * 1024


class Facade:
    """A stand-in for a module: exactly the exported names, nothing else."""

    __slots__ = ("_facade_exports", "_facade_name")

    def __init__(self, name: str, exports: dict[str, Any]) -> None:
        object.__setattr__(self, "_facade_name", name)
        object.__setattr__(self, "_facade_exports", exports)

    def __getattr__(self, name: str) -> Any:
        exports: dict[str, Any] = object.__getattribute__(self, "_facade_exports")
        try:
            return exports[name]
        except KeyError:
            module = object.__getattribute__(self, "_facade_name")
            raise AttributeError(f'"{name}" is not available from "{module}"') from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("modules are read-only in functions")

    def __repr__(self) -> str:
        return f"<module {object.__getattribute__(self, '_facade_name')!r} (functions)>"

    def facade_name(self) -> str:
        name: str = object.__getattribute__(self, "_facade_name")
        return name

    def facade_has(self, name: str) -> bool:
        return name in object.__getattribute__(self, "_facade_exports")


# -- json: fixed keyword arguments, no custom encoder / decoder classes ---------------


def _json_dumps(
    obj: Any,
    *,
    indent: int | str | None = None,
    sort_keys: bool = False,
    separators: tuple[str, str] | None = None,
    default: Callable[[Any], Any] | None = None,
    ensure_ascii: bool = True,
) -> str:
    """Serialise ``obj`` to a JSON string (like ``json.dumps``)."""
    return json.dumps(
        obj,
        indent=indent,
        sort_keys=sort_keys,
        separators=separators,
        default=default,
        ensure_ascii=ensure_ascii,
    )


def _json_loads(text: str | bytes) -> Any:
    """Parse a JSON document (like ``json.loads``)."""
    if len(text) > MAX_JSON_INPUT:
        raise ValueError(f"JSON input over {MAX_JSON_INPUT} bytes")
    return json.loads(text)


# -- typing: inert placeholders, so annotated code imports cleanly --------------------


class _Inert:
    """What ``typing`` names are in functions: placeholders that do nothing."""

    __slots__ = ("_inert_name",)

    def __init__(self, name: str) -> None:
        self._inert_name = name

    def __getitem__(self, item: Any) -> _Inert:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return self

    def __repr__(self) -> str:
        return f"typing.{self._inert_name}"

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        """As a base: Generic and Protocol add nothing at run time; NamedTuple and
        TypedDict make a namedtuple and a dict (see authoring.ClassMaker)."""
        name = self._inert_name
        if name in {"Generic", "Protocol"}:
            return (GENERIC_BASE,)
        if name == "NamedTuple":
            return (NAMED_TUPLE_BASE,)
        if name == "TypedDict":
            return (TYPED_DICT_BASE,)
        raise TypeError(f"typing.{name} cannot be a base class")


def _cast(typ: Any, value: Any) -> Any:
    """``typing.cast``: returns ``value`` unchanged."""
    return value


_TYPING_NAMES = (
    "Any Optional Union List Dict Tuple Set FrozenSet Iterable Iterator Mapping "
    "MutableMapping Sequence Callable Literal Final ClassVar TypeVar Generic Protocol "
    "TypedDict NamedTuple Type NoReturn Never Self TypeAlias Annotated"
).split()
# typing's aliases of collection classes are real: isinstance(x, typing.Mapping) works,
# and subscripting them (Mapping[str, Any]) makes inert aliases. Their attributes are
# refused by the guard (their types are not exposed).
_REAL_TYPING = (
    "List Dict Set FrozenSet Tuple Iterable Iterator Mapping MutableMapping Sequence "
    "MutableSequence Callable Collection Container Hashable Sized Generator Deque DefaultDict"
).split()


def _typing() -> dict[str, Any]:
    names: dict[str, Any] = {name: _Inert(name) for name in _TYPING_NAMES}
    names.update({name: getattr(typing, name) for name in _REAL_TYPING})
    names["TYPE_CHECKING"] = False
    names["cast"] = _cast
    return names


def _public(module: Any, names: str) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names.split()}


def _store() -> dict[str, Any]:
    return _public(functions_sdk.store, " ".join(functions_sdk.store.__all__))


def _random() -> dict[str, Any]:
    rng = random.Random()  # one generator per import: no state shared across invocations
    return {
        name: getattr(rng, name)
        for name in "random randint randrange choice choices sample shuffle uniform".split()
    }


_SDK_NAMES = {name: getattr(functions_sdk, name) for name in functions_sdk.__all__}

_BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "json": lambda: {
        "dumps": _json_dumps,
        "loads": _json_loads,
        "JSONDecodeError": json.JSONDecodeError,
    },
    "datetime": lambda: {
        **_public(datetime, "date datetime time timedelta timezone MINYEAR MAXYEAR"),
        "UTC": datetime.UTC,
    },
    "time": lambda: _public(
        time,
        "time time_ns monotonic monotonic_ns perf_counter sleep gmtime localtime mktime "
        "strftime strptime",
    ),
    "math": lambda: {name: getattr(math, name) for name in dir(math) if not name.startswith("_")},
    "re": lambda: _public(
        re,
        "compile match search fullmatch findall finditer sub subn split escape error "
        "IGNORECASE MULTILINE DOTALL VERBOSE ASCII UNICODE I M S X A U",
    ),
    "base64": lambda: _public(
        base64,
        "b64encode b64decode urlsafe_b64encode urlsafe_b64decode standard_b64encode "
        "standard_b64decode b32encode b32decode b16encode b16decode",
    ),
    "hashlib": lambda: _public(
        hashlib, "md5 sha1 sha224 sha256 sha384 sha512 sha3_256 sha3_512 blake2b blake2s new"
    ),
    "hmac": lambda: _public(hmac, "new compare_digest digest"),
    "uuid": lambda: _public(
        uuid, "UUID uuid3 uuid4 uuid5 NAMESPACE_DNS NAMESPACE_URL NAMESPACE_OID NAMESPACE_X500"
    ),
    "decimal": lambda: _public(
        decimal,
        "Decimal InvalidOperation DivisionByZero ROUND_HALF_UP ROUND_HALF_EVEN ROUND_DOWN "
        "ROUND_UP ROUND_FLOOR ROUND_CEILING",
    ),
    "urllib.parse": lambda: _public(
        urllib.parse,
        "urlencode quote quote_plus unquote unquote_plus urlparse urlsplit urlunparse "
        "urlunsplit urljoin parse_qs parse_qsl",
    ),
    "collections": lambda: _public(collections, "Counter OrderedDict defaultdict deque"),
    "itertools": lambda: _public(
        itertools,
        "chain islice count repeat groupby product permutations combinations accumulate "
        "zip_longest starmap takewhile dropwhile compress pairwise",
    ),
    "random": _random,
    "typing": _typing,
    "functions_sdk": lambda: {
        **_SDK_NAMES,
        "store": Facade("functions_sdk.store", _exports("functions_sdk.store")),
    },
    "functions_sdk.store": _store,
    "functions_sdk.events": lambda: {
        name: getattr(functions_sdk.events, name) for name in functions_sdk.events.__all__
    },
}

# Builders that make new objects for every import (a random generator of its own, the
# typing placeholders, the SDK's nested store facade). Every other builder returns the
# same module-level functions, classes and constants each time, so its names are
# computed once and each facade gets a copy of that dict (``_exports``).
_PER_IMPORT = frozenset({"random", "typing", "functions_sdk"})
_FIXED: dict[str, dict[str, Any]] = {
    name: builder() for name, builder in _BUILDERS.items() if name not in _PER_IMPORT
}


def _exports(name: str) -> dict[str, Any]:
    """A new dict of the names a facade of ``name`` holds (``KeyError``: not offered)."""
    fixed = _FIXED.get(name)
    return _BUILDERS[name]() if fixed is None else dict(fixed)


EXPORTS: dict[str, frozenset[str]] = {name: frozenset(_exports(name)) for name in _BUILDERS}
EXPORTS["urllib"] = frozenset({"parse"})
EXPORTS["collections"] = EXPORTS["collections"] | {"abc", "namedtuple"}


class _NoGuards:
    """Stands in for the guard while the export lists are computed."""

    def getattr(self, obj: Any, name: str, *default: Any) -> Any:
        raise AttributeError(name)

    def getitem(self, obj: Any, key: Any) -> Any:
        raise KeyError(key)

    def is_author_object(self, obj: Any) -> bool:
        return False

    def register_class(self, cls: type) -> type:
        return cls


EXPORTS.update({name: frozenset(builder(_NoGuards())) for name, builder in STDLIB_BUILDERS.items()})


def build_module(name: str, guards: Registrar | None = None) -> Facade:
    """A fresh facade for ``name`` (``KeyError`` when the module is not offered)."""
    registrar: Registrar = guards if guards is not None else _NoGuards()
    if name == "urllib":
        return Facade("urllib", {"parse": build_module("urllib.parse")})
    if name == "collections":
        from .authoring import _collections

        exports = _collections(registrar, _exports("collections"))
        exports["abc"] = build_module("collections.abc", registrar)
        return Facade(name, exports)
    if name in STDLIB_BUILDERS:
        return Facade(name, STDLIB_BUILDERS[name](registrar))
    return Facade(name, _exports(name))
