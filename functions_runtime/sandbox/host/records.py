"""The broker's request checks and its records of requests and responses (host side).

A ``fetch`` request arrives from the worker as a plain message (see
``functions_sdk.http``). The worker runs customer code, so nothing in it is trusted:
:func:`check_request` checks every field again and turns it into a
:class:`CheckedRequest`, or raises :class:`Failure` with the cause the handler sees.

:func:`new_record` and :func:`record_response` build what the platform records about
one request: method, URL, headers and body sent, then the status, headers and the first
:data:`RECORDED_RESPONSE_BYTES` of the body answered. Everything recorded is masked with
the instance's :class:`~functions_sdk._masking.Masker`: header values that are secrets
or whose names look secret, URL passwords and secret query values, and every encoded
form of a secret in the text. Masking happens before cutting, so a secret that straddles
the cut cannot leave its first half in the record. Only records are masked: the bytes
sent and the answer handed to the handler are not touched.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from functions_sdk._masking import MASK, Masker
from functions_sdk.errors import FetchError, FunctionError
from functions_sdk.http import DEFAULT_TIMEOUT, MAX_TIMEOUT, mask_url

from .ssrf import Target, parse_url

__all__ = [
    "CheckedRequest",
    "Failure",
    "check_request",
    "clip",
    "masked_headers",
    "masked_text",
    "masked_url",
    "new_record",
    "note_record",
    "record_request",
    "record_response",
]

ALLOWED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
USER_AGENT = "functions-sdk"
RECORDED_BODY_CHARS = 2048
RECORDED_RESPONSE_BYTES = 4096
RECORDED_URL_CHARS = 2048
RECORDED_HEADER_CHARS = 256
RECORDED_HEADERS = 50
MAX_HEADERS = 100
MAX_URL_CHARS = 32 * 1024
MAX_REQUEST_BYTES = 8 * 1024 * 1024
TRUNCATED = "…[truncated]"

_SECRET_NAME_PARTS = ("key", "token", "secret", "password", "signature", "auth")
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BREAK_RE = re.compile("[\r\n\0]")
_SECRET_NAME_RE = re.compile("|".join(_SECRET_NAME_PARTS))


class Failure(Exception):
    """A request that failed: ``kind`` is the SDK error the handler gets, ``cause`` the
    short reason (recorded), ``message`` the full text when it is not the default."""

    def __init__(
        self,
        kind: type[FunctionError],
        cause: str,
        *,
        status: int | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(cause)
        self.kind = kind
        self.cause = cause
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CheckedRequest:
    """A request that may be sent (the address policy is applied when connecting)."""

    method: str
    url: str
    target: Target
    headers: dict[str, str]
    body: bytes | None
    timeout: float
    retry_on_status: bool


def _fail(cause: str) -> Failure:
    return Failure(FetchError, cause)


def check_request(message: Mapping[str, Any]) -> CheckedRequest:
    """Check a fetch message from a worker; raise :class:`Failure` when it cannot go."""
    url, method = message.get("url"), message.get("method")
    if not isinstance(url, str) or not isinstance(method, str):
        raise _fail("malformed request: url and method must be text")
    if len(url) > MAX_URL_CHARS:  # refused before any parsing: the host's CPU is not free
        raise _fail(f"URL longer than {MAX_URL_CHARS} characters")
    if "\r" in method or "\n" in method:
        raise _fail("method contains CR/LF")
    upper = method.strip().upper()
    if upper not in ALLOWED_METHODS:
        raise _fail(
            f"unsupported method {method!r}; use one of {', '.join(sorted(ALLOWED_METHODS))}"
        )
    try:
        target = parse_url(url)
    except FetchError as exc:
        raise _fail(exc.message) from None
    headers = _check_headers(message.get("headers"))
    body = _body(message)
    if target.username is not None and "authorization" not in _names(headers):
        user, password = unquote(target.username or ""), unquote(target.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    if "user-agent" not in _names(headers):
        headers["User-Agent"] = USER_AGENT
    return CheckedRequest(
        method=upper,
        url=url,
        target=target,
        headers=headers,
        body=body,
        timeout=_check_timeout(message.get("timeout")),
        retry_on_status=message.get("retry_on_status") is True,
    )


def _names(headers: Mapping[str, str]) -> set[str]:
    return {name.lower() for name in headers}


def _check_headers(pairs: object) -> dict[str, str]:
    if not isinstance(pairs, list) or len(pairs) > MAX_HEADERS:
        raise _fail(f"malformed request: headers must be a list of at most {MAX_HEADERS} pairs")
    checked: dict[str, str] = {}
    seen: set[str] = set()  # the names given, lower-cased
    for pair in pairs:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(p, str) for p in pair)
        ):
            raise _fail("malformed request: each header is a [name, value] pair of text")
        name, value = pair
        if _BREAK_RE.search(name) or _BREAK_RE.search(value):
            raise _fail(f"header {name!r} contains CR, LF or NUL")
        if not _TOKEN_RE.match(name):
            raise _fail(f"invalid header name {name!r}")
        lowered = name.lower()
        if lowered in _RESERVED_HEADERS:
            raise _fail(f"header {name!r} is set by fetch and cannot be given")
        if lowered in seen:
            raise _fail(f"header {name!r} is given more than once")
        seen.add(lowered)
        checked[name] = value
    return checked


def _body(message: Mapping[str, Any]) -> bytes | None:
    body = message.get("body")
    if body is None:
        return None
    if not isinstance(body, str) or len(body) > MAX_REQUEST_BYTES * 2:
        raise _fail(
            f"malformed request: the body must be text of at most {MAX_REQUEST_BYTES} bytes"
        )
    try:
        data = (
            base64.b64decode(body, validate=True)
            if message.get("body_b64") is True
            else body.encode("utf-8")
        )
    except (ValueError, UnicodeEncodeError):
        raise _fail("malformed request: the body cannot be decoded") from None
    if len(data) > MAX_REQUEST_BYTES:
        raise _fail(f"request body over {MAX_REQUEST_BYTES} bytes")
    return data


def _check_timeout(timeout: object) -> float:
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise _fail(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    value = float(timeout)
    if math.isnan(value) or value <= 0:
        raise _fail(f"timeout must be a positive number of seconds, not {timeout!r}")
    return min(value, MAX_TIMEOUT)


# --------------------------------------------------------------------------- records


def _looks_secret(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_HEADERS or _SECRET_NAME_RE.search(lowered) is not None


def masked_url(url: str, masker: Masker) -> str:
    return mask_url(url, masker.mask, masker.is_secret)


def masked_headers(headers: Mapping[str, str], masker: Masker) -> dict[str, str]:
    """Header values masked (the part that will be kept: :func:`clip` cuts the rest)."""
    window = RECORDED_HEADER_CHARS + masker.longest()
    return {
        name[:window]: MASK
        if _looks_secret(name)
        else _cut(masker.mask_value(value[:window]), value, window)
        for name, value in list(headers.items())[:RECORDED_HEADERS]
    }


def _cut(masked: str, original: str, window: int) -> str:
    return masked if len(original) <= window else masked + TRUNCATED


def masked_text(data: bytes, limit: int, masker: Masker) -> str:
    """``data`` as UTF-8 text, masked, then cut at ``limit`` characters."""
    window = limit + masker.longest()
    # A UTF-8 character is at most 4 bytes, so this prefix holds ``window`` whole characters.
    raw = data[: window * 4 + 4]
    decoded = raw.decode("utf-8", errors="replace")
    if len(raw) == len(data) and len(decoded) <= limit:
        return masker.mask(decoded)
    return masker.mask(decoded[:window])[:limit] + TRUNCATED


def new_record(message: Mapping[str, Any], masker: Masker) -> dict[str, Any]:
    """The record of a request as far as the (unchecked) message tells."""
    method, url = message.get("method"), message.get("url")
    window = RECORDED_URL_CHARS + masker.longest()
    if isinstance(url, str):
        url = _cut(masked_url(url[:window], masker), url, window)
    if isinstance(method, str):
        # masked before upper-casing: a secret sent as the method is found as written
        method = masker.mask(method[:RECORDED_HEADER_CHARS].strip()).upper()
    return {
        **note_record(None),
        "method": method if isinstance(method, str) else None,
        "url": url if isinstance(url, str) else None,
    }


def note_record(error: str | None) -> dict[str, Any]:
    """A request record that holds nothing but ``error`` (a note, such as how many
    requests were left unrecorded)."""
    return {
        "method": None,
        "url": None,
        "status": None,
        "duration_ms": 0.0,
        "request_headers": {},
        "request_body": None,
        "error": error,
        "response": None,
    }


def record_request(record: dict[str, Any], request: CheckedRequest, masker: Masker) -> None:
    record["request_headers"] = masked_headers(request.headers, masker)
    if request.body is not None:
        record["request_body"] = masked_text(request.body, RECORDED_BODY_CHARS, masker)


def record_response(
    record: dict[str, Any],
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    masker: Masker,
) -> None:
    """What the endpoint answered: status, headers, the first 4 KiB of the body."""
    record["status"] = status
    record["response"] = {
        "status": status,
        "headers": masked_headers(dict(headers), masker),
        "body": masked_text(body, RECORDED_RESPONSE_BYTES, masker),
    }


def clip(record: dict[str, Any]) -> dict[str, Any]:
    """Bound a request record: long URLs, header names / values and errors are cut."""

    def cut(text: Any, limit: int) -> Any:
        return text[:limit] + TRUNCATED if isinstance(text, str) and len(text) > limit else text

    def cut_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
        return {
            cut(k, RECORDED_HEADER_CHARS): cut(v, RECORDED_HEADER_CHARS)
            for k, v in list(headers.items())[:RECORDED_HEADERS]
        }

    record["url"] = cut(record.get("url"), RECORDED_URL_CHARS)
    record["method"] = cut(record.get("method"), RECORDED_HEADER_CHARS)
    record["request_headers"] = cut_headers(record.get("request_headers") or {})
    record["error"] = cut(record.get("error"), RECORDED_HEADER_CHARS * 2)
    response = record.get("response")
    if isinstance(response, dict):
        response["headers"] = cut_headers(response.get("headers") or {})
    return record
