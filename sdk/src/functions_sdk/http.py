"""Outgoing HTTP for handlers: :func:`fetch` and the :class:`Response` it returns.

``fetch`` is the only way a function reaches the outside world::

    response = fetch("https://api.example.com/v1/events", method="POST",
                     headers={"Authorization": f"Bearer {settings.get_str('api_key')}"},
                     json={"event": event.event}, retry_on_status=True)
    data = response.json()

What to expect:

* Connection failures and timeouts raise :class:`~functions_sdk.errors.RetryError`
  (the event is retried later). HTTP error statuses do not raise by themselves:
  check ``response.ok``, call ``response.raise_for_status()``, or pass
  ``retry_on_status=True`` to retry on 429 and 5xx answers.
* Redirects are **not** followed: a 3xx answer is returned as it is (read its
  ``location`` header and fetch again if you mean to follow it).
* Loopback, private, link-local and cloud metadata addresses are refused with
  :class:`~functions_sdk.errors.RequestBlocked` unless the operator allowed them.
* Responses larger than 1 MiB raise :class:`~functions_sdk.errors.FetchError`.
* Every request is recorded (secrets masked) so tests and the runtime can show
  what a handler sent.
"""

from __future__ import annotations

import base64
import functools
import json as _json
import math
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

from ._context import MASK, InvocationContext, current
from ._network import Target, parse_url
from .errors import FetchError, FunctionError, RetryError

__all__ = ["Response", "fetch"]

DEFAULT_TIMEOUT = 5.0
"""Seconds ``fetch`` waits when no ``timeout`` is given."""
MAX_TIMEOUT = 30.0
"""Longer timeouts are cut down to this."""
MAX_RESPONSE_BYTES = 1024 * 1024
"""Largest response body ``fetch`` accepts (1 MiB)."""
RECORDED_BODY_CHARS = 2048
"""Request bodies are recorded up to this many characters."""
ALLOWED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
USER_AGENT = "functions-sdk"

_READ_CHUNK = 64 * 1024
_TRUNCATED = "…[truncated]"
_SECRET_NAME_PARTS = ("key", "token", "secret", "password", "signature", "auth")
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_NOT_RETRYABLE_5XX = frozenset({501, 505})


def _is_retryable(status: int) -> bool:
    return status == 429 or (500 <= status <= 599 and status not in _NOT_RETRYABLE_5XX)


# --------------------------------------------------------------------------- Response


class Response:
    """The answer to a :func:`fetch` call. Read-only.

    ``status``
        The HTTP status code, e.g. ``200``.
    ``ok``
        ``True`` for a 2xx status.
    ``headers``
        The response headers as a ``dict`` with lower-case names
        (repeated headers are joined with ``", "``).
    ``text``
        The body decoded as UTF-8 (undecodable bytes become ``"\\ufffd"``).
    ``content``
        The body as ``bytes``.
    ``url``
        The URL that was fetched (redirects are not followed, so it is the one
        you passed).
    """

    __slots__ = ("_body", "_headers", "_status", "_url")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
        url: str,
    ) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        merged: dict[str, str] = {}
        for name, value in pairs:
            key = str(name).lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else str(value)
        self._status = int(status)
        self._headers = merged
        self._body = bytes(body)
        self._url = url

    @property
    def status(self) -> int:
        """The HTTP status code."""
        return self._status

    @property
    def ok(self) -> bool:
        """``True`` when the status is 2xx."""
        return 200 <= self._status <= 299

    @property
    def headers(self) -> dict[str, str]:
        """A copy of the response headers, names in lower case."""
        return dict(self._headers)

    @property
    def content(self) -> bytes:
        """The raw response body."""
        return self._body

    @property
    def text(self) -> str:
        """The response body decoded as UTF-8 (invalid bytes replaced)."""
        return self._body.decode("utf-8", errors="replace")

    @property
    def url(self) -> str:
        """The URL that was fetched."""
        return self._url

    def json(self) -> Any:
        """Parse the body as JSON; raise :class:`FetchError` when it is not JSON."""
        try:
            return _json.loads(self._body)
        except RecursionError:
            raise FetchError(
                f"response from {_mask_url(self._url)} is not JSON: nested too deeply"
            ) from None
        except ValueError as exc:
            raise FetchError(f"response from {_mask_url(self._url)} is not JSON: {exc}") from None

    def raise_for_status(self) -> None:
        """Raise for an error status; do nothing for 1xx-3xx.

        429 and 5xx (except 501 and 505, which will not get better) raise
        :class:`RetryError` (the event is retried, ``.status`` is set); any
        other status >= 400 raises :class:`FetchError`.
        """
        if self._status < 400:
            return
        message = f"{_mask_url(self._url)} answered {self._status}"
        if _is_retryable(self._status):
            raise RetryError(message, status=self._status)
        raise FetchError(message)

    def __repr__(self) -> str:
        return f"<Response [{self._status}] {_mask_url(self._url)}>"


# --------------------------------------------------------------------------- redaction


def _looks_secret(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_NAME_PARTS)


def _secret_forms(ctx: InvocationContext) -> tuple[str, ...]:
    """Every secret, plus its percent-encoded forms, longest first."""
    return _forms_of(ctx.secrets)


@functools.lru_cache(maxsize=4)  # a worker serves one instance: one set of secrets
def _forms_of(secrets: tuple[str, ...]) -> tuple[str, ...]:
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms.update({secret, quote(secret, safe=""), quote_plus(secret, safe="")})
    return tuple(sorted(forms, key=len, reverse=True))


def _redact(ctx: InvocationContext | None, text: str) -> str:
    if ctx is None:
        return text
    for form in _secret_forms(ctx):
        text = text.replace(form, MASK)
    return ctx.redact(text)


def _mask_params(text: str, secrets: set[str]) -> str:
    """Mask ``name=value`` pairs whose name looks secret or whose value is a secret."""
    if not text:
        return text
    fields = []
    for field in text.split("&"):
        name, eq, value = field.partition("=")
        if eq and value and (_looks_secret(unquote_plus(name)) or unquote_plus(value) in secrets):
            fields.append(f"{name}={MASK}")
        else:
            fields.append(field)
    return "&".join(fields)


def _mask_url(url: str, ctx: InvocationContext | None = None) -> str:
    """``url`` with its password, secret-looking query values and secrets masked."""
    secrets = {s for s in ctx.secrets if s} if ctx is not None else set()
    try:
        parts = urlsplit(url)
    except ValueError:
        return _redact(ctx, url)
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}"
    query = _mask_params(parts.query, secrets)
    fragment = _mask_params(parts.fragment, secrets)
    masked = parts._replace(netloc=netloc, query=query, fragment=fragment).geturl()
    if not parts.query and url.endswith("?"):
        masked += "?"
    return _redact(ctx, masked)


def _mask_headers(ctx: InvocationContext, headers: Mapping[str, str]) -> dict[str, str]:
    masked: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _SECRET_HEADERS or _looks_secret(lowered):
            masked[name] = MASK
        else:
            masked[name] = _redact(ctx, value)
    return masked


def _record_body(ctx: InvocationContext, body: bytes | None) -> str | None:
    """The request body as recorded: UTF-8 text, secrets masked, cut at 2048 characters.

    Secrets are masked before cutting, so a secret straddling the cut cannot
    leave its first half in the record.
    """
    if body is None:
        return None
    longest = max((len(s) for s in _secret_forms(ctx)), default=0)
    window = RECORDED_BODY_CHARS + longest
    # A UTF-8 character is at most 4 bytes, so this prefix holds ``window`` whole characters.
    raw = body[: window * 4 + 4]
    decoded = raw.decode("utf-8", errors="replace")
    if len(raw) == len(body) and len(decoded) <= RECORDED_BODY_CHARS:
        return _redact(ctx, decoded)
    return _redact(ctx, decoded[:window])[:RECORDED_BODY_CHARS] + _TRUNCATED


# --------------------------------------------------------------------------- fetch


class _Failure(Exception):
    """Internal: a failure with its short cause; ``fetch`` turns it into a public error."""

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


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    json: object = None,
    body: str | bytes | None = None,
    timeout: float | None = None,
    retry_on_status: bool = False,
) -> Response:
    """Send one HTTP request and return the :class:`Response`.

    :param url: an ``http://`` or ``https://`` URL.
    :param method: ``GET``, ``HEAD``, ``POST``, ``PUT``, ``PATCH``, ``DELETE`` or
        ``OPTIONS`` (any case).
    :param headers: request headers; names and values must be ``str``.
        ``Host``, ``Content-Length`` and ``Transfer-Encoding`` are set by ``fetch``.
    :param json: a value to send as JSON (sets ``Content-Type: application/json``
        unless you set it). ``None`` means no JSON body.
    :param body: a raw body (``str`` is sent as UTF-8). Use ``json`` or ``body``, not both.
    :param timeout: seconds allowed for connecting, sending and receiving the whole
        response (default 5, at most 30; the DNS lookup is not counted).
    :param retry_on_status: raise :class:`RetryError` (with ``.status``) for 429
        and 5xx answers except 501 and 505, so the event is retried.

    Redirects are not followed: a 3xx response is returned as it is.

    :raises RetryError: connection refused or reset, timeout, DNS failure, or a
        retryable status with ``retry_on_status=True``.
    :raises RequestBlocked: the destination is a loopback, private, link-local or
        metadata address the operator did not allow.
    :raises FetchError: a bad URL, method, header or body, or a response over 1 MiB.
    """
    ctx = current()
    started = time.perf_counter()
    shown_method = method.strip().upper() if isinstance(method, str) else repr(method)
    shown_url = _mask_url(url, ctx) if isinstance(url, str) else repr(url)
    record: dict[str, Any] = {
        "method": _redact(ctx, shown_method),
        "url": shown_url,
        "status": None,
        "duration_ms": 0.0,
        "request_headers": {},
        "request_body": None,
        "error": None,
    }
    try:
        response = _fetch(ctx, record, url, method, headers, json, body, timeout)
        record["status"] = response.status
        if retry_on_status and _is_retryable(response.status):
            raise _Failure(
                RetryError,
                f"answered {response.status}",
                status=response.status,
                message=f"{shown_method} {shown_url} answered {response.status}",
            )
        return response
    except _Failure as failure:
        record["error"] = _redact(ctx, failure.cause)
        if failure.status is not None:
            record["status"] = failure.status
        message = failure.message or f"{shown_method} {shown_url} failed: {failure.cause}"
        error = (
            RetryError(message, status=failure.status)
            if failure.kind is RetryError
            else failure.kind(message)
        )
        raise error from failure.__cause__
    except BaseException as exc:
        record["error"] = _redact(ctx, str(exc) or type(exc).__name__)
        raise
    finally:
        record["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        ctx.record_request(_clip(record))


RECORDED_URL_CHARS = 2048
RECORDED_HEADER_CHARS = 256
RECORDED_HEADERS = 50


def _clip(record: dict[str, Any]) -> dict[str, Any]:
    """Bound a request record: long URLs, header names / values and errors are cut."""

    def cut(text: Any, limit: int) -> Any:
        return text[:limit] + _TRUNCATED if isinstance(text, str) and len(text) > limit else text

    headers = record.get("request_headers") or {}
    record["url"] = cut(record.get("url"), RECORDED_URL_CHARS)
    record["request_headers"] = {
        cut(k, RECORDED_HEADER_CHARS): cut(v, RECORDED_HEADER_CHARS)
        for k, v in list(headers.items())[:RECORDED_HEADERS]
    }
    record["error"] = cut(record.get("error"), RECORDED_HEADER_CHARS * 2)
    return record


def _fail(kind: type[FunctionError], cause: str, exc: BaseException | None = None) -> NoReturn:
    raise _Failure(kind, cause) from exc


def _fetch(
    ctx: InvocationContext,
    record: dict[str, Any],
    url: str,
    method: str,
    headers: Mapping[str, str] | None,
    json_value: object,
    body: str | bytes | None,
    timeout: float | None,
) -> Response:
    method = _check_method(method)
    try:
        target = parse_url(url)
    except FetchError as exc:
        _fail(FetchError, exc.message)
    seconds = _check_timeout(timeout)
    send_headers = _check_headers(headers)
    payload = _encode_body(json_value, body, send_headers)
    if target.username is not None and "authorization" not in _lower_names(send_headers):
        send_headers["Authorization"] = _basic_auth(target)
    if "user-agent" not in _lower_names(send_headers):
        send_headers["User-Agent"] = USER_AGENT
    record["request_headers"] = _mask_headers(ctx, send_headers)
    record["request_body"] = _record_body(ctx, payload)

    mocks = getattr(ctx, "mocks", None)
    if isinstance(mocks, list):
        return _mock_response(mocks, method, url, _mask_url(url, ctx), target)
    from ._transport import send  # the socket / TLS stack loads on the first real request

    return send(ctx, target, method, url, send_headers, payload, seconds)


def _check_method(method: object) -> str:
    if not isinstance(method, str):
        _fail(FetchError, f"method must be a str, not {type(method).__name__}")
    if "\r" in method or "\n" in method:
        _fail(FetchError, "method contains CR/LF")
    upper = method.strip().upper()
    if upper not in ALLOWED_METHODS:
        allowed = ", ".join(sorted(ALLOWED_METHODS))
        _fail(FetchError, f"unsupported method {method!r}; use one of {allowed}")
    return upper


def _check_timeout(timeout: object) -> float:
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        _fail(FetchError, f"timeout must be a number of seconds, not {type(timeout).__name__}")
    value = float(timeout)
    if math.isnan(value) or value <= 0:
        _fail(FetchError, f"timeout must be a positive number of seconds, not {timeout!r}")
    return min(value, MAX_TIMEOUT)


def _lower_names(headers: Mapping[str, str]) -> set[str]:
    return {name.lower() for name in headers}


def _check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    checked: dict[str, str] = {}
    if headers is None:
        return checked
    if not isinstance(headers, Mapping):
        _fail(FetchError, f"headers must be a dict of str to str, not {type(headers).__name__}")
    seen: set[str] = set()
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            _fail(
                FetchError,
                f"header names and values must be str, got {type(name).__name__}: "
                f"{type(value).__name__} for {name!r}",
            )
        if any(c in name for c in "\r\n\0") or any(c in value for c in "\r\n\0"):
            _fail(FetchError, f"header {name!r} contains CR, LF or NUL")
        if not _TOKEN_RE.match(name):
            _fail(FetchError, f"invalid header name {name!r}")
        lowered = name.lower()
        if lowered in _RESERVED_HEADERS:
            _fail(FetchError, f"header {name!r} is set by fetch and cannot be given")
        if lowered in seen:
            _fail(FetchError, f"header {name!r} is given more than once")
        seen.add(lowered)
        checked[name] = value
    return checked


def _encode_body(
    json_value: object, body: str | bytes | None, headers: dict[str, str]
) -> bytes | None:
    if json_value is not None and body is not None:
        _fail(FetchError, "pass either json= or body=, not both")
    if json_value is not None:
        try:
            text = _json.dumps(json_value, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            _fail(FetchError, f"json= value cannot be sent as JSON: {exc}")
        if "content-type" not in _lower_names(headers):
            headers["Content-Type"] = "application/json"
        return text.encode("utf-8")
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    _fail(FetchError, f"body must be str or bytes, not {type(body).__name__}")


def _basic_auth(target: Target) -> str:
    user = unquote(target.username or "")
    password = unquote(target.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _check_size(target: Target, size: int, limit: int) -> None:
    if size > limit:
        _fail(FetchError, f"response from {target.host} exceeded {limit} bytes")


def _mock_response(
    mocks: list[dict[str, Any]], method: str, url: str, shown_url: str, target: Target
) -> Response:
    """Answer from the first matching canned response (test mode: no network)."""
    for mock in mocks:
        want_method = mock.get("method")
        if want_method is not None and str(want_method).upper() != method:
            continue
        want_url = mock.get("url")
        if want_url is not None:
            pattern = str(want_url)
            if pattern.endswith("*"):
                if not url.startswith(pattern[:-1]):
                    continue
            elif url != pattern:
                continue
        times = mock.get("times")
        if times is not None:
            if times <= 0:
                continue
            mock["times"] = times - 1
        headers: dict[str, str] = {
            str(k).lower(): str(v) for k, v in (mock.get("headers") or {}).items()
        }
        raw = mock.get("body")
        if raw is not None:
            content = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        elif mock.get("json") is not None:
            content = _json.dumps(mock["json"], separators=(",", ":")).encode("utf-8")
            headers.setdefault("content-type", "application/json")
        else:
            content = b""
        _check_size(target, len(content), MAX_RESPONSE_BYTES)
        status = mock.get("status")
        return Response(200 if status is None else int(status), headers, content, url)
    raise _Failure(
        FetchError,
        "no mock response",
        message=f"no mock response for {method} {shown_url}; add one to the test's responses",
    )
