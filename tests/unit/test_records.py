"""The broker's request checks and masked records (``sandbox/host/records.py``), called
directly: the exact cause a handler sees for each refused request message from a worker
(a worker runs customer code: every field is checked again on the host), what a checked
request carries, and what a record keeps (masked, then cut).

test_http.py covers the same code through ``fetch``; these pin the edges the round-3
mutation run (docs/TESTING.md) found unpinned. Nothing here opens a socket.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from functions_runtime.sandbox.host.records import (
    MAX_HEADERS,
    MAX_REQUEST_BYTES,
    MAX_URL_CHARS,
    RECORDED_BODY_CHARS,
    RECORDED_HEADER_CHARS,
    RECORDED_HEADERS,
    RECORDED_RESPONSE_BYTES,
    RECORDED_URL_CHARS,
    TRUNCATED,
    CheckedRequest,
    Failure,
    check_request,
    clip,
    masked_headers,
    masked_text,
    new_record,
    record_request,
    record_response,
)
from functions_runtime.sandbox.host.ssrf import Target
from functions_sdk._masking import Masker
from functions_sdk.errors import FetchError

URL = "http://api.test/x"


def _message(**fields: Any) -> dict[str, Any]:
    return {"op": "fetch", "url": URL, "method": "GET", "headers": [], **fields}


def _refusal(message: dict[str, Any]) -> str:
    with pytest.raises(Failure) as caught:
        check_request(message)
    failure = caught.value
    assert failure.kind is FetchError
    assert failure.status is None and failure.message is None
    assert str(failure) == failure.cause
    return failure.cause


# --------------------------------------------------------------------------- check_request


@pytest.mark.parametrize(
    ("fields", "cause"),
    [
        ({"url": None}, "malformed request: url and method must be text"),
        ({"method": 1}, "malformed request: url and method must be text"),
        ({"url": "x" * (MAX_URL_CHARS + 1)}, "URL longer than 32768 characters"),
        ({"method": "GET\r"}, "method contains CR/LF"),
        ({"method": "GET\nX: y"}, "method contains CR/LF"),
        (
            {"method": "TRACE"},
            "unsupported method 'TRACE'; use one of DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
        ),
        (
            {"url": "ftp://h/"},
            "unsupported URL scheme 'ftp': only http:// and https:// URLs can be fetched",
        ),
        ({"url": "http://h:0/"}, "URL port 0 is not valid"),
    ],
)
def test_refused_request_fields_say_why(fields: dict[str, Any], cause: str) -> None:
    assert _refusal(_message(**fields)) == cause


def test_a_url_of_exactly_the_limit_is_checked_further() -> None:
    url = "http://h/" + "q" * (MAX_URL_CHARS - len("http://h/"))
    assert len(url) == MAX_URL_CHARS
    assert check_request(_message(url=url)).url == url


@pytest.mark.parametrize(
    ("headers", "cause"),
    [
        (None, "malformed request: headers must be a list of at most 100 pairs"),
        ({"a": "b"}, "malformed request: headers must be a list of at most 100 pairs"),
        (
            [["x-h", "v"]] * (MAX_HEADERS + 1),
            "malformed request: headers must be a list of at most 100 pairs",
        ),
        ([["a"]], "malformed request: each header is a [name, value] pair of text"),
        ([["a", "b", "c"]], "malformed request: each header is a [name, value] pair of text"),
        ([("a", "b")], "malformed request: each header is a [name, value] pair of text"),
        ([["a", 1]], "malformed request: each header is a [name, value] pair of text"),
        ([[1, "b"]], "malformed request: each header is a [name, value] pair of text"),
        ([["X-A", "v\r\nX-B: 1"]], "header 'X-A' contains CR, LF or NUL"),
        ([["X-A", "v\0"]], "header 'X-A' contains CR, LF or NUL"),
        ([["X-A\n", "v"]], "header 'X-A\\n' contains CR, LF or NUL"),
        ([["X A", "v"]], "invalid header name 'X A'"),
        ([["", "v"]], "invalid header name ''"),
        ([["Host", "evil"]], "header 'Host' is set by fetch and cannot be given"),
        ([["content-length", "1"]], "header 'content-length' is set by fetch and cannot be given"),
        (
            [["Transfer-Encoding", "chunked"]],
            "header 'Transfer-Encoding' is set by fetch and cannot be given",
        ),
        ([["X-A", "1"], ["x-a", "2"]], "header 'x-a' is given more than once"),
    ],
)
def test_refused_headers_say_why(headers: Any, cause: str) -> None:
    assert _refusal(_message(headers=headers)) == cause


def test_the_most_headers_a_request_may_have() -> None:
    headers = [[f"X-H{i}", str(i)] for i in range(MAX_HEADERS)]
    checked = check_request(_message(headers=headers))
    assert len(checked.headers) == MAX_HEADERS + 1  # and the User-Agent
    assert checked.headers["X-H99"] == "99"


@pytest.mark.parametrize(
    ("fields", "cause"),
    [
        (
            {"body": 5},
            "malformed request: the body must be text of at most 8388608 bytes",
        ),
        (
            {"body": "x" * (MAX_REQUEST_BYTES * 2 + 1)},
            "malformed request: the body must be text of at most 8388608 bytes",
        ),
        ({"body": "%%%", "body_b64": True}, "malformed request: the body cannot be decoded"),
        ({"body": "\ud800"}, "malformed request: the body cannot be decoded"),
        ({"body": "x" * (MAX_REQUEST_BYTES + 1)}, "request body over 8388608 bytes"),
        ({"body": "x" * (MAX_REQUEST_BYTES * 2)}, "request body over 8388608 bytes"),
        (
            {"body": base64.b64encode(b"x" * (MAX_REQUEST_BYTES + 1)).decode(), "body_b64": True},
            "request body over 8388608 bytes",
        ),
    ],
)
def test_refused_bodies_say_why(fields: dict[str, Any], cause: str) -> None:
    assert _refusal(_message(method="POST", **fields)) == cause


def test_bodies_are_text_or_base64_exactly_when_flagged() -> None:
    assert check_request(_message(body=None)).body is None
    assert check_request(_message(body="héllo")).body == "héllo".encode()
    assert check_request(_message(body="aGk=", body_b64=True)).body == b"hi"
    assert check_request(_message(body="aGk=", body_b64=1)).body == b"aGk="
    assert check_request(_message(body="", body_b64=True)).body == b""
    full = "x" * MAX_REQUEST_BYTES
    assert check_request(_message(body=full)).body == full.encode()


@pytest.mark.parametrize(
    ("timeout", "cause"),
    [
        ("5", "timeout must be a number of seconds, not str"),
        (True, "timeout must be a number of seconds, not bool"),
        ([1], "timeout must be a number of seconds, not list"),
        (0, "timeout must be a positive number of seconds, not 0"),
        (-0.5, "timeout must be a positive number of seconds, not -0.5"),
        (float("nan"), "timeout must be a positive number of seconds, not nan"),
    ],
)
def test_refused_timeouts_say_why(timeout: Any, cause: str) -> None:
    assert _refusal(_message(timeout=timeout)) == cause


@pytest.mark.parametrize(
    ("timeout", "checked"), [(None, 5.0), (1, 1.0), (0.001, 0.001), (30, 30.0), (31, 30.0)]
)
def test_timeouts_are_capped(timeout: Any, checked: float) -> None:
    assert check_request(_message(timeout=timeout)).timeout == checked


def test_a_checked_request_carries_what_may_be_sent() -> None:
    checked = check_request(
        _message(
            url="HTTP://user%20a:p%3Aw@API.test:8080/a b?q=1#frag",
            method=" post ",
            headers=[["X-A", "1"]],
            body="{}",
            timeout=2,
            retry_on_status=True,
        )
    )
    token = base64.b64encode(b"user a:p:w").decode()
    assert checked == CheckedRequest(
        method="POST",
        url="HTTP://user%20a:p%3Aw@API.test:8080/a b?q=1#frag",
        target=Target("http", "api.test", 8080, "/a%20b?q=1", "user%20a", "p%3Aw"),
        headers={"X-A": "1", "Authorization": f"Basic {token}", "User-Agent": "functions-sdk"},
        body=b"{}",
        timeout=2.0,
        retry_on_status=True,
    )


def test_given_authorization_and_user_agent_headers_are_kept() -> None:
    checked = check_request(
        _message(
            url="http://u:p@api.test/",
            headers=[["authorization", "Bearer t"], ["USER-AGENT", "mine"]],
        )
    )
    assert checked.headers == {"authorization": "Bearer t", "USER-AGENT": "mine"}


def test_a_user_without_a_password_is_sent_as_basic_auth() -> None:
    checked = check_request(_message(url="http://u@api.test/"))
    assert checked.headers["Authorization"] == "Basic " + base64.b64encode(b"u:").decode()
    assert "Authorization" not in check_request(_message()).headers
    empty_user = check_request(_message(url="http://:pw@api.test/"))
    assert empty_user.headers["Authorization"] == "Basic " + base64.b64encode(b":pw").decode()


@pytest.mark.parametrize("flag", [1, "true", None, False])
def test_retry_on_status_only_when_exactly_true(flag: Any) -> None:
    assert check_request(_message(retry_on_status=flag)).retry_on_status is False


# --------------------------------------------------------------------------- records

SECRET = "s3cr3t-value"
MASKER = Masker((SECRET,))


def test_a_new_record_shows_the_message_masked() -> None:
    record = new_record({"method": " post\n", "url": f"http://u:pw@h/?token=t&q={SECRET}"}, MASKER)
    assert record == {
        "method": "POST",
        "url": "http://u:***@h/?token=***&q=***",
        "status": None,
        "duration_ms": 0.0,
        "request_headers": {},
        "request_body": None,
        "error": None,
        "response": None,
    }
    assert new_record({"method": 1, "url": None}, MASKER)["method"] is None
    assert new_record({"method": 1, "url": None}, MASKER)["url"] is None
    assert new_record({"method": "GET", "url": 2}, MASKER)["url"] is None
    # a secret sent as the method is masked as written, not upper-cased first
    assert new_record({"method": f" {SECRET}", "url": URL}, MASKER)["method"] == "***"
    # a short secret is masked in a URL only as a whole query value
    short = Masker(("abc",))
    url = new_record({"method": "GET", "url": "http://h/abc?q=abc&r=abcd"}, short)["url"]
    assert url == "http://h/abc?q=***&r=abcd"


def test_a_new_record_cuts_a_long_url_after_masking() -> None:
    window = RECORDED_URL_CHARS + MASKER.longest()
    url = "http://h/" + "a" * (RECORDED_URL_CHARS - 13) + SECRET + "b" * window
    recorded = new_record({"method": "GET", "url": url}, MASKER)["url"]
    assert recorded == url[:window].replace(SECRET, "***") + TRUNCATED
    assert SECRET[:4] not in recorded
    exact = "http://h/" + "a" * (window - 9)
    assert new_record({"method": "GET", "url": exact}, MASKER)["url"] == exact
    method = "M" * (RECORDED_HEADER_CHARS + 10)
    assert (
        new_record({"method": method, "url": URL}, MASKER)["method"]
        == method[:RECORDED_HEADER_CHARS]
    )


def test_recorded_headers_mask_secret_names_and_secret_values() -> None:
    headers = {
        "Authorization": "Bearer x",
        "Proxy-Authorization": "x",
        "Cookie": "c=1",
        "Set-Cookie": "c=1",
        "X-Api-Key": "k",
        "X-Session-Token": "t",
        "X-Client-Secret": "s",
        "X-DB-Password": "p",
        "X-Signature": "s",
        "X-Auth": "a",
        "X-Custom": f"id {SECRET}",
        "X-Whole": SECRET,
        "Content-Type": "application/json",
    }
    recorded = masked_headers(headers, MASKER)
    shown = {name: value for name, value in recorded.items() if value != "***"}
    assert shown == {"X-Custom": "id ***", "Content-Type": "application/json"}
    assert list(recorded) == list(headers)


def test_recorded_headers_are_bounded() -> None:
    window = RECORDED_HEADER_CHARS + MASKER.longest()
    headers = {f"X-H{i:03}": "v" for i in range(RECORDED_HEADERS + 5)}
    headers["X-H000"] = "v" * window
    headers["X-H001"] = "v" * (window + 1)
    headers["X-H002"] = "v" * 250 + SECRET + "w" * window
    recorded = masked_headers(headers, MASKER)
    assert len(recorded) == RECORDED_HEADERS
    assert recorded["X-H000"] == "v" * window
    assert recorded["X-H001"] == "v" * window + TRUNCATED
    assert recorded["X-H002"] == "v" * 250 + "***" + "w" * (window - 262) + TRUNCATED
    # masked before the record is cut to RECORDED_HEADER_CHARS: no part of the secret left
    kept = clip({"request_headers": recorded})["request_headers"]["X-H002"]
    assert kept == "v" * 250 + "***" + "www" + TRUNCATED
    long_name = "X-" + "n" * (window + 5)
    assert list(masked_headers({long_name: "v"}, MASKER)) == [long_name[:window]]


def test_recorded_text_is_masked_then_cut() -> None:
    assert masked_text(b"", 10, MASKER) == ""
    assert masked_text(f"a {SECRET}".encode(), 14, MASKER) == "a ***"
    assert masked_text(f"a {SECRET}".encode(), 13, MASKER) == "a ***" + TRUNCATED
    assert masked_text(b"x" * 10, 10, MASKER) == "x" * 10
    assert masked_text(b"x" * 11, 10, MASKER) == "x" * 10 + TRUNCATED
    assert masked_text(b"\xff\xfeok", 10, MASKER) == "\ufffd\ufffdok"
    # 5 characters of 4 bytes each: 20 bytes, all kept
    assert masked_text("😀".encode() * 5, 5, MASKER) == "😀" * 5
    assert masked_text("😀".encode() * 6, 5, MASKER) == "😀" * 5 + TRUNCATED
    nothing = Masker(())  # no look-ahead: the window is the limit
    assert masked_text("😀".encode() * 5, 5, nothing) == "😀" * 5
    assert masked_text("😀".encode() * 6, 5, nothing) == "😀" * 5 + TRUNCATED
    cut = masked_text(b"x" * 8 + SECRET.encode() + b"y" * 50, 10, MASKER)
    assert cut == "x" * 8 + "**" + TRUNCATED


def test_request_and_response_records() -> None:
    record = new_record({"method": "POST", "url": URL}, MASKER)
    request = check_request(_message(method="POST", headers=[["X-Api-Key", "k"]], body="b"))
    record_request(record, request, MASKER)
    assert record["request_headers"] == {"X-Api-Key": "***", "User-Agent": "functions-sdk"}
    assert record["request_body"] == "b"
    body = b"r" * (RECORDED_RESPONSE_BYTES + 1)
    record_response(record, 201, [("Set-Cookie", "c"), ("X-Id", SECRET)], body, MASKER)
    assert record["status"] == 201
    assert record["response"] == {
        "status": 201,
        "headers": {"Set-Cookie": "***", "X-Id": "***"},
        "body": "r" * RECORDED_RESPONSE_BYTES + TRUNCATED,
    }
    empty = new_record({"method": "GET", "url": URL}, MASKER)
    record_request(empty, check_request(_message()), MASKER)
    assert empty["request_body"] is None
    big = check_request(_message(method="POST", body="z" * (RECORDED_BODY_CHARS + 1)))
    record_request(empty, big, MASKER)
    assert empty["request_body"] == "z" * RECORDED_BODY_CHARS + TRUNCATED


def test_clip_bounds_every_field_a_worker_could_make_long() -> None:
    long = "L" * 5000
    record: dict[str, Any] = {
        "url": long,
        "method": long,
        "request_headers": {long: long, **{f"h{i}": "v" for i in range(60)}},
        "error": long,
        "response": {"status": 200, "headers": {long: long}, "body": "b"},
    }
    clipped = clip(record)
    assert clipped is record
    assert clipped["url"] == "L" * RECORDED_URL_CHARS + TRUNCATED
    assert clipped["method"] == "L" * RECORDED_HEADER_CHARS + TRUNCATED
    short = "L" * RECORDED_HEADER_CHARS + TRUNCATED
    assert next(iter(clipped["request_headers"].items())) == (short, short)
    assert len(clipped["request_headers"]) == RECORDED_HEADERS
    assert clipped["error"] == "L" * (RECORDED_HEADER_CHARS * 2) + TRUNCATED
    assert clipped["response"] == {"status": 200, "headers": {short: short}, "body": "b"}
    exact = {"url": "u" * RECORDED_URL_CHARS, "method": None, "error": None, "response": None}
    assert clip(dict(exact)) == {**exact, "request_headers": {}}
