"""The guard's own versions of pydantic entry points and of writes to SDK events.

``model_validate`` without ``from_attributes`` (pydantic would read attributes with a
plain getattr, past the guard), ``model_copy`` whose ``update`` is validated field by
field (pydantic writes it into the copy unchecked), and ``_write_`` on an event (field
assignment only). Also home of :class:`SandboxAccessError` (re-exported by guards).
"""

from __future__ import annotations

from types import MethodType
from typing import Any

from functions_sdk import BaseEvent

__all__ = ["SandboxAccessError"]


class SandboxAccessError(AttributeError):
    """Raised when handler code reaches for something the sandbox does not offer."""


_WRAPPED_EVENT_METHODS = frozenset({"model_copy"})
_WRAPPED_CLASS_METHODS = frozenset({"model_validate"})
_WRAPPED_NAMES = _WRAPPED_EVENT_METHODS | _WRAPPED_CLASS_METHODS


class _EventWriter:
    """What ``_write_`` hands out for SDK events: field assignment only."""

    __slots__ = ("_target",)

    def __init__(self, target: BaseEvent) -> None:
        object.__setattr__(self, "_target", target)

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name.startswith("model_"):
            raise SandboxAccessError(f'cannot set "{name}" on an event')
        setattr(object.__getattribute__(self, "_target"), name, value)

    def __delattr__(self, name: str) -> None:
        raise SandboxAccessError("event fields cannot be deleted; set them to None")


def _model_validate(
    cls: type[BaseEvent], obj: Any, *, strict: bool | None = None, **refused: Any
) -> Any:
    """``Model.model_validate(data)`` for a dict of event data."""
    if refused:
        names = ", ".join(sorted(refused))
        raise SandboxAccessError(
            f"model_validate({names}=...) is not available in functions; "
            "pass the event data as a dict"
        )
    return cls.model_validate(obj, strict=strict)


def _model_copy(event: BaseEvent, *, update: Any = None, deep: bool = False) -> Any:
    """A copy of the event; ``update`` sets fields as assignment does (validated)."""
    if update is not None and type(update) is not dict:
        raise SandboxAccessError("model_copy(update=...) takes a dict of field values")
    copy = event.model_copy(deep=bool(deep))
    if update:
        writer = _EventWriter(copy)
        for name, value in dict.items(update):
            if type(name) is not str:
                raise SandboxAccessError("model_copy(update=...) keys must be field names")
            setattr(writer, name, value)
    return copy


def _wrapped(obj: Any, name: str) -> Any:
    """The guard's own version of a pydantic entry point (bound to ``obj``), or ``None``."""
    if isinstance(obj, type):
        if name in _WRAPPED_CLASS_METHODS and issubclass(obj, BaseEvent):
            return MethodType(_model_validate, obj)
    elif name in _WRAPPED_EVENT_METHODS and isinstance(obj, BaseEvent):
        return MethodType(_model_copy, obj)
    return None
