"""json_limits.compact_text: one encoder pass that answers exactly what problem() answers."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from functions_runtime.json_limits import MAX_DEPTH, _safe, compact_text, make_safe, problem

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=40,
)


def _nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels - 1):
        value = [value]
    return [value] if levels else value


def test_a_value_within_the_limits_comes_back_as_compact_ascii_json() -> None:
    value = {"name": "Zoë", "n": [1, 2.5, None, True], "s": "\ud800"}
    text, why = compact_text(value)
    assert why is None
    assert text == json.dumps(value, separators=(",", ":"))
    assert text.isascii() and json.loads(text) == value


def test_depth_is_refused_past_the_limit_and_reported_before_numbers() -> None:
    deep = _nested(MAX_DEPTH + 1, math.nan)
    assert compact_text(deep) == (None, problem(deep))
    assert "nested more than" in str(problem(deep))
    assert compact_text(_nested(MAX_DEPTH))[1] is None


def test_numbers_json_cannot_carry_are_refused() -> None:
    for number in (math.nan, math.inf, -math.inf, float("1e400")):
        text, why = compact_text({"x": [number]})
        assert text is None and "number JSON cannot carry" in str(why)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    value = {"s": "{[" * 500}
    assert compact_text(value) == (json.dumps(value, separators=(",", ":")), None)


def test_a_value_that_is_not_json_is_refused_with_a_reason() -> None:
    text, why = compact_text({"when": object()})
    assert text is None and "JSON cannot carry" in str(why)
    loop: list[Any] = []
    loop.append(loop)
    assert compact_text(loop)[0] is None


@settings(max_examples=300, deadline=None)
@given(_VALUES, st.integers(min_value=1, max_value=6))
def test_compact_text_agrees_with_problem_and_the_encoder(value: Any, limit: int) -> None:
    trouble = problem(value, limit)
    if trouble is not None:
        assert compact_text(value, limit) == (None, trouble)
    else:
        assert compact_text(value, limit) == (json.dumps(value, separators=(",", ":")), None)


_ANY_TEXT = st.text(alphabet=st.characters(), max_size=6)  # surrogates and emoji included
_RECORDS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ANY_TEXT, inner, max_size=3),
    max_leaves=40,
)


class _Record(BaseModel):
    value: Any = None


@settings(max_examples=400, deadline=None)
@given(_RECORDS, st.integers(min_value=1, max_value=6))
def test_make_safe_writes_what_the_full_walk_writes(value: Any, limit: int) -> None:
    """The shortcut (the value itself when it needs nothing) and the full walk give a
    record the same JSON, and it always encodes as UTF-8."""
    text = _Record(value=make_safe(value, limit)).model_dump_json()
    assert text == _Record(value=_safe(value, limit, 1)).model_dump_json()
    text.encode("utf-8")


def test_make_safe_returns_a_value_that_needs_nothing_as_it_is() -> None:
    event = {"type": "track", "properties": {"n": [1, 2.5, None], "name": "Zoë"}}
    assert make_safe(event) is event


def test_make_safe_still_mends_what_a_writer_would_refuse() -> None:
    assert make_safe(["\ud800"]) == ["\\ud800"]
    assert make_safe(["\ud83d\ude00"]) == ["\\ud83d\\ude00"]  # two lone halves, not a pair
    assert make_safe({"x": math.nan}) == {"x": "nan"}
    assert make_safe(_nested(MAX_DEPTH + 1)) != _nested(MAX_DEPTH + 1)
    assert make_safe({"when": object()})["when"].startswith("<object object")
