"""The guards' import-time self-check (``guards._check_remembered_types``).

The attribute guard remembers its decisions per (type, name). That is only sound for
types whose answers cannot depend on the object (no metaclass, exception, module or
facade), whose metaclass hashes and compares as ``type`` does, and for event models
only by the names their own table lists. The check runs once at import and refuses to
start otherwise; each case here gives it one type that breaks one of those rules and
expects the refusal that names it.
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from functions_runtime.sandbox.guest import guards
from functions_runtime.sandbox.guest.modules import Facade
from functions_sdk import TrackEvent


class _Meta(type):
    pass


class _HashMeta(type):
    def __hash__(cls) -> int:
        return 1


class _EqMeta(type):
    def __eq__(cls, other: object) -> bool:
        return cls is other

    __hash__ = type.__hash__


class _Plain:
    pass


class _Hashed(metaclass=_HashMeta):
    pass


class _Compared(metaclass=_EqMeta):
    pass


class _Facade(Facade):
    pass


def _refusal(cls: type) -> str:
    return f"{cls!r} cannot have its attribute decisions remembered"


def test_the_shipped_tables_pass() -> None:
    guards._check_remembered_types()


@pytest.mark.parametrize(
    "cls",
    [_Meta, super, _Facade, types.ModuleType, ValueError, _Hashed, _Compared],
    ids=["metaclass", "super", "facade", "module", "exception", "meta-hash", "meta-eq"],
)
@pytest.mark.parametrize("table", ["_TYPE_KEYED", "_CLASS_KEYED"])
def test_an_object_dependent_type_is_refused_in_either_table(
    monkeypatch: pytest.MonkeyPatch, cls: type, table: str
) -> None:
    monkeypatch.setattr(guards, table, getattr(guards, table) | {cls})
    with pytest.raises(RuntimeError) as caught:
        guards._check_remembered_types()
    assert str(caught.value) == _refusal(cls)


def test_an_event_model_is_refused_as_a_type_keyed_value(monkeypatch: pytest.MonkeyPatch) -> None:
    # Class-keyed (as shipped) is fine; type-keyed would remember every name of it.
    assert TrackEvent in guards._CLASS_KEYED
    monkeypatch.setattr(guards, "_TYPE_KEYED", guards._TYPE_KEYED | {TrackEvent})
    with pytest.raises(RuntimeError) as caught:
        guards._check_remembered_types()
    assert str(caught.value) == _refusal(TrackEvent)


def test_a_type_with_a_name_table_is_refused_as_type_keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    events: dict[type, Any] = {**guards._EVENT_KEYED, _Plain: frozenset({"x"})}
    monkeypatch.setattr(guards, "_EVENT_KEYED", events)
    guards._check_remembered_types()  # class-keyed or not keyed at all: fine
    monkeypatch.setattr(guards, "_TYPE_KEYED", guards._TYPE_KEYED | {_Plain})
    with pytest.raises(RuntimeError) as caught:
        guards._check_remembered_types()
    assert str(caught.value) == _refusal(_Plain)


def test_a_plain_class_may_be_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guards, "_TYPE_KEYED", guards._TYPE_KEYED | {_Plain})
    monkeypatch.setattr(guards, "_CLASS_KEYED", guards._CLASS_KEYED | {_Plain})
    guards._check_remembered_types()


@pytest.mark.parametrize("meta", [type, type(TrackEvent)], ids=["type", "model metaclass"])
def test_a_metaclass_is_never_a_value_type(monkeypatch: pytest.MonkeyPatch, meta: type) -> None:
    monkeypatch.setattr(guards, "VALUE_TYPES", guards.VALUE_TYPES | {meta})
    with pytest.raises(RuntimeError) as caught:
        guards._check_remembered_types()
    assert str(caught.value) == "metaclasses cannot be value types"


@pytest.mark.parametrize("meta", [_HashMeta, _EqMeta], ids=["hash", "eq"])
def test_an_author_metaclass_must_hash_and_compare_as_type(
    monkeypatch: pytest.MonkeyPatch, meta: type
) -> None:
    monkeypatch.setattr(guards, "AUTHOR_METACLASSES", (*guards.AUTHOR_METACLASSES, meta))
    with pytest.raises(RuntimeError) as caught:
        guards._check_remembered_types()
    assert str(caught.value) == f"{meta!r} cannot be the metaclass of author classes"


def test_the_shipped_author_metaclasses_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    assert guards.AUTHOR_METACLASSES  # the loop below is not vacuous
    monkeypatch.setattr(guards, "AUTHOR_METACLASSES", (*guards.AUTHOR_METACLASSES, _Meta))
    guards._check_remembered_types()
