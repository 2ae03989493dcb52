"""Canned answers for ``fetch`` in tests (``functions_sdk.testing.MockResponse``).

The host answers from them on the broker's path, after the same request checks and
with the same records, instead of opening a connection: the worker cannot tell.
"""

from __future__ import annotations

import json
from typing import Any

from functions_sdk.errors import FetchError

from .records import CheckedRequest, Failure

__all__ = ["mock_answer"]


def _matches(mock: dict[str, Any], method: str, url: str) -> bool:
    want_method = mock.get("method")
    if want_method is not None and str(want_method).upper() != method:
        return False
    want_url = mock.get("url")
    if want_url is None:
        return True
    pattern = str(want_url)
    if pattern.endswith("*"):
        return url.startswith(pattern[:-1])
    return url == pattern


def mock_answer(
    mocks: list[dict[str, Any]], request: CheckedRequest, shown_url: str, limit: int
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The first matching canned answer (a ``times`` count is used up in ``mocks``)."""
    for mock in mocks:
        if not isinstance(mock, dict) or not _matches(mock, request.method, request.url):
            continue
        times = mock.get("times")
        if times is not None:
            if times <= 0:
                continue
            mock["times"] = times - 1
        headers = [(str(k).lower(), str(v)) for k, v in (mock.get("headers") or {}).items()]
        raw = mock.get("body")
        if raw is not None:
            content = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        elif mock.get("json") is not None:
            content = json.dumps(mock["json"], separators=(",", ":")).encode("utf-8")
            if not any(name == "content-type" for name, _ in headers):
                headers.append(("content-type", "application/json"))
        else:
            content = b""
        if len(content) > limit:
            raise Failure(FetchError, f"response from {request.target.host} exceeded {limit} bytes")
        status = mock.get("status")
        return (200 if status is None else int(status)), headers, content
    raise Failure(
        FetchError,
        "no mock response",
        message=f"no mock response for {request.method} {shown_url}; "
        "add one to the test's responses",
    )
