"""Masking secret values in what the platform records and shows.

Masking is for records only: logs, recorded requests and responses, error messages and
delivery records. It never touches data (an insert function's event, emitted events,
``on_batch`` results, bytes sent): those are the customer's and must arrive unchanged.

A :class:`Masker` is built from the secret settings' values (strings, numbers, and the
values nested in secret maps and arrays). It masks every encoded form the platform or
ordinary code writes a value in: as it is, JSON-escaped (``ensure_ascii`` on and off:
quotes, backslashes, non-ASCII), percent-encoded (``quote`` with and without ``/`` safe,
``quote_plus``) and ``repr``-escaped. Every occurrence of every form is found, the
overlapping and adjacent ones are merged, and each merged stretch becomes one ``***``:
so overlapping secrets (``"abcdef"`` and ``"abc"``) never leave a tail visible, and the
result does not depend on set order or the hash seed.

Short values: a value shorter than :data:`MIN_FREE_TEXT` characters (``"ab"``, ``7``)
is not masked inside free text, where it would corrupt unrelated words (``"abigail"``)
and hide nothing (a two-letter secret can be guessed). It is masked where it stands as
a whole value instead: a JSON string equal to it (``"ab"``), a header value, a URL
query value (see the host's record code), and the settings API never shows it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "MIN_FREE_TEXT", "Masker", "masker_for", "secret_strings"]

MASK = "***"
MIN_FREE_TEXT = 6
"""Shorter secret values are masked only as whole values, never inside other text."""
_MAX_DEPTH = 32


def secret_strings(value: object, _depth: int = 0) -> list[str]:
    """The text forms of a secret setting's value: strings and numbers, also nested in
    maps and arrays (booleans and null are not secrets)."""
    if _depth > _MAX_DEPTH:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int | float):
        return [json.dumps(value)] if isinstance(value, int) or value == value else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in secret_strings(v, _depth + 1)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in secret_strings(v, _depth + 1)]
    return []


def _encoded(secret: str) -> set[str]:
    """``secret`` as the platform and ordinary code may write it."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        quote_plus(secret, safe=""),
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
    }
    # repr() picks the quote character; code may write either one escaped.
    forms.add(secret.replace("\\", "\\\\").replace("'", "\\'"))
    forms.add(secret.replace("\\", "\\\\").replace('"', '\\"'))
    return {form for form in forms if form}


class Masker:
    """Masks a fixed set of secret values in text. Immutable, deterministic."""

    __slots__ = ("_long", "_longest", "_short_quoted", "_values")

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if s})
        long_forms: set[str] = set()
        quoted: set[str] = set()
        for secret in values:
            forms = _encoded(secret)
            if len(secret) >= MIN_FREE_TEXT:
                long_forms |= forms
            else:
                quoted |= {f'"{form}"' for form in forms} | {f"'{form}'" for form in forms}
        # Longest first, then alphabetical: a fixed order, whatever the hash seed.
        self._long = tuple(sorted(long_forms, key=lambda f: (-len(f), f)))
        self._short_quoted = tuple(sorted(quoted, key=lambda f: (-len(f), f)))
        self._values = frozenset(values)
        self._longest = max((len(f) for f in self._long + self._short_quoted), default=0)

    def __bool__(self) -> bool:
        return bool(self._values)

    def longest(self) -> int:
        """The length of the longest form masked (how far a cut must look ahead)."""
        return self._longest

    def is_secret(self, value: str) -> bool:
        """``value`` is, as a whole, one of the secret values (any length)."""
        return value in self._values

    def mask(self, text: str) -> str:
        """``text`` with every occurrence of a secret's forms replaced by ``***``."""
        if not self._values or not text:
            return text
        spans: list[tuple[int, int]] = []
        for form in self._long:
            _find(text, form, 0, spans)
        for form in self._short_quoted:
            _find(text, form, 1, spans)  # keep the quotes: '"***"'
        if not spans:
            return text
        spans.sort()
        out: list[str] = []
        position = 0
        start, end = spans[0]
        for s, e in spans[1:]:
            if s <= end:  # overlapping or adjacent: one mask
                end = max(end, e)
                continue
            out.append(text[position:start])
            out.append(MASK)
            position, (start, end) = end, (s, e)
        out.append(text[position:start])
        out.append(MASK)
        out.append(text[end:])
        return "".join(out)

    def mask_value(self, value: str) -> str:
        """A whole value (a header, a query parameter): masked when it is a secret,
        whatever its length; otherwise masked as free text."""
        return MASK if value in self._values else self.mask(value)


def _find(text: str, form: str, trim: int, spans: list[tuple[int, int]]) -> None:
    start = text.find(form)
    while start != -1:
        spans.append((start + trim, start + len(form) - trim))
        start = text.find(form, start + 1)


@functools.lru_cache(maxsize=8)
def masker_for(secrets: tuple[str, ...]) -> Masker:
    """A cached :class:`Masker` (a worker serves one instance: one set of secrets)."""
    return Masker(secrets)
