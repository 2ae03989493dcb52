"""Settings: the values an instance was deployed with, typed by the manifest.

Handlers receive a :class:`Settings` mapping. Secret values are real inside the
handler (it needs them to authenticate) but are masked as ``***`` wherever the
runtime records text: logs, recorded requests, errors and ``repr(settings)``.

A :class:`Settings` holds its own deep copy of the values it was given, and hands out
copies of nested lists and maps: nothing a handler does to what it reads changes the
settings (of this event or of any other).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ._masking import secret_strings
from .errors import ValidationError

__all__ = ["Settings"]

_MISSING: Any = object()


class Settings(Mapping[str, Any]):
    """A read-only mapping of setting name to value.

    ``settings["url"]`` raises :class:`ValidationError` when the setting is not set;
    ``settings.get("url", default)`` does not. The typed getters (``get_str``,
    ``get_number``, ``get_bool``, ``get_list``, ``get_map``) return the declared type
    so that mypy can check the handler.
    """

    __slots__ = ("_secret_names", "_values")

    def __init__(
        self, values: Mapping[str, Any] | None = None, *, secret_names: Iterable[str] = ()
    ) -> None:
        self._values: dict[str, Any] = {k: _copy(v) for k, v in dict(values or {}).items()}
        self._secret_names: frozenset[str] = frozenset(secret_names)

    def __getitem__(self, name: str) -> Any:
        try:
            return _copy(self._values[name])
        except KeyError:
            known = ", ".join(sorted(self._values)) or "none"
            raise ValidationError(
                f"setting {name!r} is not set (settings present: {known})"
            ) from None

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name`` (a copy of a list or map), or ``default`` when it is not set."""
        if name in self._values:
            return _copy(self._values[name])
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __repr__(self) -> str:
        shown = {k: ("***" if k in self._secret_names else v) for k, v in self._values.items()}
        return f"Settings({shown!r})"

    __str__ = __repr__

    def is_secret(self, name: str) -> bool:
        """Whether the manifest marks ``name`` as secret."""
        return name in self._secret_names

    def _typed(self, name: str, default: Any, kinds: tuple[type, ...], label: str) -> Any:
        value = self._values.get(name, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise ValidationError(f"setting {name!r} is not set")
            return default
        if isinstance(value, bool) and bool not in kinds:
            raise ValidationError(f"setting {name!r} must be {label}, got boolean")
        if not isinstance(value, kinds):
            raise ValidationError(f"setting {name!r} must be {label}, got {type(value).__name__}")
        return value

    def get_str(self, name: str, default: str = _MISSING) -> str:
        """The string setting ``name`` (``default`` when unset, else ValidationError)."""
        result: str = self._typed(name, default, (str,), "a string")
        return result

    def get_number(self, name: str, default: float = _MISSING) -> float:
        """The number setting ``name``."""
        result: float = self._typed(name, default, (int, float), "a number")
        return result

    def get_bool(self, name: str, default: bool = _MISSING) -> bool:
        """The boolean setting ``name``."""
        result: bool = self._typed(name, default, (bool,), "a boolean")
        return result

    def get_list(self, name: str, default: list[Any] = _MISSING) -> list[Any]:
        """The array setting ``name`` (a copy)."""
        result: list[Any] = self._typed(name, default, (list,), "an array")
        return list(_copy(result))

    def get_map(self, name: str, default: dict[str, Any] = _MISSING) -> dict[str, Any]:
        """The map setting ``name`` (a copy)."""
        result: dict[str, Any] = self._typed(name, default, (dict,), "a map")
        return dict(_copy(result))

    def secret_values(self) -> tuple[str, ...]:
        """The text forms of the secret settings' values, for masking (used by the
        runtime): strings and numbers, also those nested in maps and arrays."""
        out: list[str] = []
        for name in self._secret_names:
            out.extend(secret_strings(self._values.get(name)))
        return tuple(out)


def _copy(value: Any) -> Any:
    """A deep copy of the lists and maps in a JSON value (other values are immutable)."""
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value
