"""json_limits.compact_text: one encoder pass that answers exactly what problem() answers."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from functions_runtime.json_limits import (
    MAX_DEPTH,
    _safe,
    compact_text,
    loads_plain,
    make_safe,
    problem,
)

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


def test_make_safe_returns_scalars_ascii_text_and_empty_containers_as_they_are() -> None:
    big = 10**40
    for value in (None, True, 0, big, "ascii text", [], {}):
        assert make_safe(value) is value
    assert make_safe("Zoë") == "Zoë"
    assert make_safe("\ud800") == "\\ud800"  # not ASCII: checked, and mended


def test_make_safe_keeps_a_value_with_many_brackets_that_is_not_deep() -> None:
    """More opening brackets than the limit, but no deeper than it: a walk tells, and
    the value comes back as it is (no copy)."""
    wide = {"products": [{"sku": str(n), "tags": []} for n in range(MAX_DEPTH)]}
    assert make_safe(wide) is wide
    deep = _nested(MAX_DEPTH + 1)
    assert make_safe(deep) != deep


@settings(max_examples=400, deadline=None)
@given(_RECORDS, st.integers(min_value=1, max_value=6), st.booleans())
def test_a_value_loads_plain_calls_plain_needs_nothing_from_make_safe(
    value: Any, limit: int, ascii_only: bool
) -> None:
    """What the queue's parse calls plain, make_safe would have returned as it is, a
    level below the top: so a record may skip make_safe for it. The parse itself is
    json.loads's."""
    text = json.dumps({"event": value}, ensure_ascii=ascii_only)
    parsed, plain = loads_plain(text, limit)
    assert json.dumps(parsed, ensure_ascii=ascii_only) == text
    if plain:
        event = parsed["event"]
        assert make_safe(event, limit) is event


def test_loads_plain_names_what_make_safe_would_mend() -> None:
    assert loads_plain('{"event": {"n": [1, 2.5, "x"]}}') == ({"event": {"n": [1, 2.5, "x"]}}, True)
    for text in (
        '{"event": NaN}',
        '{"event": -Infinity}',
        '{"event": 1e400}',
        '{"event": "\\ud800"}',  # a lone surrogate
        '{"event": "\\ud83d\\ude00"}',  # a pair: plain, but told apart only by a walk
        '{"event": "Zo\u00eb"}',  # raw non-ASCII text
    ):
        value, plain = loads_plain(text)
        assert not plain, text
        assert json.dumps(value) == json.dumps(json.loads(text))
    at_limit = json.dumps({"event": _nested(MAX_DEPTH)})
    assert loads_plain(at_limit)[1]
    assert not loads_plain(json.dumps({"event": _nested(MAX_DEPTH + 1)}))[1]
