"""Client errors as the handler sees them (``sandbox/host/failures.py``) and canned
answers (``sandbox/host/mocks.py``), called directly.

A connection problem must reach the handler as a :class:`RetryError` (the event is
retried) with a short cause that names the host, never as an unexplained crash; a URL the
client cannot use is a :class:`FetchError`. The exceptions are built here the way
``http.client``, ``socket`` and ``ssl`` raise them (alone and chained).
test_http.py covers the common ones over real sockets.
"""

from __future__ import annotations

import http.client
import ssl
from typing import Any

import pytest

from functions_runtime.sandbox.host.failures import failure_for
from functions_runtime.sandbox.host.mocks import mock_answer
from functions_runtime.sandbox.host.records import CheckedRequest, Failure, check_request
from functions_runtime.sandbox.host.ssrf import Target
from functions_sdk.errors import FetchError, FunctionError, RetryError

TARGET = Target("https", "api.test", 8443, "/")


def _cause(exc: BaseException, timeout: float = 2.5) -> tuple[type[FunctionError], str]:
    failure = failure_for(exc, TARGET, timeout)
    assert failure.status is None and failure.message is None
    return failure.kind, failure.cause


def _chained(outer: BaseException, inner: BaseException, *, cause: bool = True) -> BaseException:
    if cause:
        outer.__cause__ = inner
    else:
        outer.__context__ = inner
    return outer


def _cert_error() -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate"
    return error


def _refused() -> ConnectionRefusedError:
    return ConnectionRefusedError(111, "Connection refused")


@pytest.mark.parametrize(
    ("exc", "kind", "cause"),
    [
        (TimeoutError(), RetryError, "timed out after 2.5 s"),
        (
            _chained(OSError("connect failed"), _refused()),
            RetryError,
            "connection refused by api.test:8443",
        ),
        (
            _chained(OSError("connect failed"), _refused(), cause=False),
            RetryError,
            "connection refused by api.test:8443",
        ),
        (_refused(), RetryError, "connection refused by api.test:8443"),
        (ConnectionResetError(104, "reset"), RetryError, "connection reset by api.test"),
        (
            _chained(ssl.SSLError(1, "handshake"), _cert_error()),
            RetryError,
            "TLS certificate check failed: self-signed certificate",
        ),
        (
            # RemoteDisconnected is a ConnectionResetError, named for what it says
            http.client.RemoteDisconnected("closed"),
            RetryError,
            "api.test closed the connection without answering",
        ),
        (
            _chained(ValueError("wrapped"), http.client.RemoteDisconnected("closed")),
            RetryError,
            "api.test closed the connection without answering",
        ),
        (
            http.client.IncompleteRead(b"ab", 10),
            RetryError,
            "incomplete response from api.test",
        ),
        (
            ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
            RetryError,
            "TLS error: [SSL: WRONG_VERSION_NUMBER] wrong version number",
        ),
        (
            http.client.InvalidURL("URL can't contain control characters"),
            FetchError,
            "invalid URL: URL can't contain control characters",
        ),
        (
            http.client.BadStatusLine("HTTP/9 ok"),
            RetryError,
            "invalid HTTP response from api.test: BadStatusLine",
        ),
        (
            http.client.LineTooLong("header line"),
            RetryError,
            "invalid HTTP response from api.test: LineTooLong",
        ),
        (OSError(113, "No route to host"), RetryError, "No route to host"),
        (OSError("no strerror"), RetryError, "no strerror"),
        (OSError(), RetryError, "OSError"),
        (ValueError("x"), RetryError, "request to api.test failed: ValueError"),
    ],
)
def test_each_client_error_has_its_cause(
    exc: BaseException, kind: type[FunctionError], cause: str
) -> None:
    assert _cause(exc) == (kind, cause)


def test_a_tls_error_without_a_reason_shows_itself() -> None:
    error = ssl.SSLError(1, "plain")
    assert _cause(error) == (RetryError, "TLS error: plain")
    error.reason = "UNEXPECTED_EOF"
    assert _cause(error) == (RetryError, "TLS error: UNEXPECTED_EOF")


def test_the_timeout_is_shown_in_seconds() -> None:
    assert _cause(TimeoutError(), 5.0) == (RetryError, "timed out after 5 s")
    assert _cause(TimeoutError(), 0.25) == (RetryError, "timed out after 0.25 s")


def test_a_failure_already_made_is_passed_on() -> None:
    made = Failure(FetchError, "response from api.test exceeded 10 bytes")
    assert failure_for(made, TARGET, 1.0) is made
    assert failure_for(_chained(OSError("wrapped"), made), TARGET, 1.0) is made


def test_the_specific_cause_wins_over_the_wrapper() -> None:
    # A read timeout wrapped in another error is still a timeout, and a refusal found
    # deep in a chain is named rather than the outer type.
    wrapped = _chained(http.client.HTTPException("broken"), TimeoutError("read"), cause=False)
    assert _cause(wrapped) == (RetryError, "timed out after 2.5 s")
    deep = _chained(
        ValueError("outer"), _chained(KeyError("middle"), ConnectionResetError(104, "x"))
    )
    assert _cause(deep) == (RetryError, "connection reset by api.test")
    tls = _chained(
        http.client.HTTPException("broken"), ssl.SSLError(1, "bad record mac"), cause=False
    )
    assert _cause(tls) == (RetryError, "TLS error: bad record mac")


def test_a_cyclic_chain_ends() -> None:
    first, second = ValueError("a"), KeyError("b")
    first.__context__ = second
    second.__context__ = first
    assert _cause(first) == (RetryError, "request to api.test failed: ValueError")


def test_the_chain_is_followed_eight_deep() -> None:
    # The eighth exception of a chain is still looked at; a ninth is not.
    def chain(depth: int, last: BaseException) -> BaseException:
        exc = last
        for i in range(depth - 1):
            exc = _chained(ValueError(str(i)), exc)
        return exc

    assert _cause(chain(8, _refused())) == (RetryError, "connection refused by api.test:8443")
    assert _cause(chain(9, _refused())) == (RetryError, "request to api.test failed: ValueError")


# --------------------------------------------------------------------------- mocks


def _request(method: str = "GET", url: str = "https://api.test/v1/x") -> CheckedRequest:
    return check_request({"url": url, "method": method, "headers": []})


def _answer(mocks: list[Any], request: CheckedRequest | None = None, limit: int = 100) -> Any:
    request = request or _request()
    return mock_answer(mocks, request, "https://api.test/v1/x", limit)


def test_a_mock_matches_method_and_url_or_a_url_prefix() -> None:
    mocks: list[Any] = [
        "not a mock",
        {"method": "post", "url": "https://api.test/v1/x", "body": "post"},
        {"method": "GET", "url": "https://api.test/v1/x/more", "body": "longer"},
        {"method": "GET", "url": "https://api.test/v1/y*", "body": "other prefix"},
        {"url": "https://api.test/v1/*", "body": "prefix"},
    ]
    assert _answer(mocks) == (200, [], b"prefix")
    assert _answer(mocks, _request("POST")) == (200, [], b"post")
    exact: list[Any] = [{"url": "https://api.test/v1/x", "body": "exact"}]
    assert _answer(exact) == (200, [], b"exact")
    assert _answer([{"method": None, "url": None}]) == (200, [], b"")
    with pytest.raises(Failure):
        _answer([{"url": "https://api.test/v1/x?"}])
    with pytest.raises(Failure):
        _answer([{"url": "https://api.test/v1/x*y"}])


def test_a_mock_answers_with_its_status_headers_and_body() -> None:
    answer = _answer(
        [{"url": None, "status": "201", "headers": {"X-Id": 7, "Content-Type": "text/x"}}]
    )
    assert answer == (201, [("x-id", "7"), ("content-type", "text/x")], b"")
    assert _answer([{"status": 0, "body": b"raw"}]) == (0, [], b"raw")
    assert _answer([{"body": "é"}]) == (200, [], "é".encode())
    assert _answer([{"body": bytearray(b"ba")}]) == (200, [], b"ba")
    assert _answer([{"body": "", "json": {"a": 1}}]) == (200, [], b"")
    assert _answer([{"json": {"a": [1, "é"]}}]) == (
        200,
        [("content-type", "application/json")],
        b'{"a":[1,"\\u00e9"]}',
    )
    assert _answer([{"json": [], "headers": {"Content-Type": "text/plain"}}]) == (
        200,
        [("content-type", "text/plain")],
        b"[]",
    )
    assert _answer([{"json": None, "body": None}]) == (200, [], b"")
    assert _answer([{"json": 0}]) == (200, [("content-type", "application/json")], b"0")


def test_a_mock_with_times_is_used_up() -> None:
    mocks: list[Any] = [{"body": "once", "times": 1}, {"body": "never", "times": 0}, {"body": "x"}]
    assert _answer(mocks)[2] == b"once"
    assert mocks[0]["times"] == 0
    assert _answer(mocks)[2] == b"x"
    assert mocks[1]["times"] == 0
    twice: list[Any] = [{"body": "t", "times": 2}]
    assert _answer(twice)[2] == b"t"
    assert twice == [{"body": "t", "times": 1}]
    negative: list[Any] = [{"body": "n", "times": -1}, {"body": "after"}]
    assert _answer(negative)[2] == b"after"


def test_a_mock_body_over_the_limit_fails_like_a_real_one() -> None:
    assert _answer([{"body": "z" * 10}], limit=10)[2] == b"z" * 10
    with pytest.raises(Failure) as caught:
        _answer([{"body": "z" * 11}], limit=10)
    assert caught.value.kind is FetchError
    assert caught.value.cause == "response from api.test exceeded 10 bytes"


def test_no_matching_mock_says_which_request() -> None:
    with pytest.raises(Failure) as caught:
        mock_answer([], _request("DELETE"), "https://api.test/v1/x?key=***", 100)
    assert caught.value.kind is FetchError
    assert caught.value.cause == "no mock response"
    assert caught.value.message == (
        "no mock response for DELETE https://api.test/v1/x?key=***; add one to the test's responses"
    )
