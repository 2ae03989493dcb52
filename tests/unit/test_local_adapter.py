"""The local adapter's translation, called as WSGI with no server: the API Gateway v2
event a request becomes, and the WSGI answer a resolver's result becomes.

``tests/functional/test_http_server.py`` drives the same code through real sockets;
here each field is pinned, since a route reads only a few of them and a wrong one would
otherwise pass unseen (the event must parse as Powertools' own v2 model).
"""

from __future__ import annotations

import base64
import http
import io
import json
import re
import threading
import time
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from functions_runtime.api.local import LocalContext, to_apigw_event, wsgi_app

MB = 1024 * 1024


def test_a_request_becomes_the_whole_v2_event() -> None:
    before = time.time()
    event = to_apigw_event(
        "POST",
        "/v1/track?b=2&a=1&a=3&empty=",
        {"Content-Type": "application/json", "User-Agent": "curl/8", "X-Mixed": "v"},
        b'{"x": 1}',
        "10.0.0.7",
    )
    after = time.time()
    context = event.pop("requestContext")
    assert event == {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/v1/track",
        "rawQueryString": "b=2&a=1&a=3&empty=",
        "headers": {"content-type": "application/json", "user-agent": "curl/8", "x-mixed": "v"},
        "queryStringParameters": {"b": "2", "a": "1,3", "empty": ""},
        "body": '{"x": 1}',
        "isBase64Encoded": False,
    }
    stamp = float(context.pop("requestId").removeprefix("local-"))
    assert before <= stamp <= after
    assert context.pop("timeEpoch") == int(stamp * 1000)
    assert context.pop("time") == time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(stamp))
    assert context == {
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": "localhost",
        "domainPrefix": "localhost",
        "routeKey": "$default",
        "stage": "$default",
        "http": {
            "method": "POST",
            "path": "/v1/track",
            "protocol": "HTTP/1.1",
            "sourceIp": "10.0.0.7",
            "userAgent": "curl/8",
        },
    }


def test_the_event_parses_as_powertools_v2_model() -> None:
    event = to_apigw_event("GET", "/ping", {}, b"", "127.0.0.1")
    model = APIGatewayProxyEventV2Model.model_validate(event)
    assert model.requestContext.http.method == "GET"
    assert str(model.requestContext.http.sourceIp) == "127.0.0.1/32"


def test_the_request_id_has_six_decimals() -> None:
    event = to_apigw_event("GET", "/", {}, b"", "")
    assert re.fullmatch(r"local-\d+\.\d{6}", event["requestContext"]["requestId"])


def test_no_query_no_body_and_an_empty_path() -> None:
    event = to_apigw_event("GET", "", {}, b"", "")
    assert event["rawPath"] == "/"
    assert event["requestContext"]["http"]["path"] == "/"
    assert event["rawQueryString"] == ""
    assert event["queryStringParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["userAgent"] == ""


def test_a_body_that_is_not_utf8_goes_base64() -> None:
    raw = b"\xff\xfe\x00binary"
    event = to_apigw_event("PUT", "/x", {}, raw, "")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


class Echo:
    """A resolver factory whose routes show what the adapter handed them."""

    def __init__(self) -> None:
        self.built = 0
        self.lock = threading.Lock()

    def __call__(self) -> APIGatewayHttpResolver:
        with self.lock:
            self.built += 1
        app = APIGatewayHttpResolver()

        @app.route("/echo", method=["GET", "POST"])
        def echo() -> dict[str, Any]:
            return {**app.current_event.raw_event, "lambda": app.lambda_context.function_name}

        @app.get("/")
        def root() -> dict[str, Any]:
            return {"rawPath": app.current_event.raw_event["rawPath"]}

        @app.get("/binary")
        def binary() -> Response[bytes]:
            return Response(200, "application/octet-stream", b"\x00\xffbytes")

        @app.get("/odd")
        def odd() -> Response[str]:
            headers = {
                "Connection": "close",
                "Transfer-Encoding": "chunked",
                "Content-Length": "999",
                "X-Kept": "yes",
            }
            return Response(299, "text/plain", "odd", headers=headers)

        return app


class Answer:
    def __init__(self) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self.status, self.headers = status, headers
        return None


def call(
    app: Any, path: str, *, method: str = "GET", body: bytes = b"", **environ: Any
) -> tuple[Answer, bytes]:
    answer = Answer()
    base = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "wsgi.input": io.BytesIO(body + b"TRAILING BYTES NOT OF THIS REQUEST"),
        "CONTENT_LENGTH": str(len(body)) if body else "",
    }
    data = b"".join(app({**base, **environ}, answer))
    return answer, data


def test_the_resolver_sees_the_request_as_api_gateway_would_send_it() -> None:
    app = wsgi_app(Echo())
    answer, data = call(
        app,
        "/echo",
        method="POST",
        body=b'{"a": 1}',
        CONTENT_TYPE="application/json",
        HTTP_X_API_KEY="k",
        HTTP_USER_AGENT="agent",
        HTTPS="on",
        SERVER_NAME="ignored",
        QUERY_STRING="q=1",
        REMOTE_ADDR="192.0.2.9",
    )
    assert answer.status == "200 OK"
    event = json.loads(data)
    assert event["body"] == '{"a": 1}'  # exactly CONTENT_LENGTH bytes
    assert event["headers"] == {
        "x-api-key": "k",
        "user-agent": "agent",
        "content-type": "application/json",
        "content-length": "8",
    }
    assert event["rawPath"] == "/echo"
    assert event["rawQueryString"] == "q=1"
    assert event["requestContext"]["http"]["sourceIp"] == "192.0.2.9"
    assert ("Content-Length", str(len(data))) in answer.headers


def test_the_raw_request_uri_wins_and_its_query_is_not_doubled() -> None:
    app = wsgi_app(Echo())
    _, data = call(app, "/ignored", REQUEST_URI="/echo?a=%20b", QUERY_STRING="a=%20b")
    event = json.loads(data)
    assert event["rawQueryString"] == "a=%20b"
    assert event["queryStringParameters"] == {"a": " b"}
    _, data = call(app, "/ignored", REQUEST_URI="/echo", QUERY_STRING="z=9")
    assert json.loads(data)["rawQueryString"] == "z=9"


def test_without_a_request_uri_the_path_is_quoted() -> None:
    app = wsgi_app(Echo())
    answer, data = call(app, "/echo", REMOTE_ADDR=None)
    assert answer.status == "200 OK"
    event = json.loads(data)
    assert event["requestContext"]["http"]["sourceIp"] == ""
    assert event["body"] is None
    assert event["lambda"] == "functions-serve"  # the resolver is given the local context
    environ = {"REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO(b"")}
    assert json.loads(b"".join(app(environ, Answer()))) == {"rawPath": "/"}
    answer, _ = call(app, "/ech o")
    assert answer.status == "404 Not Found"


def test_an_oversize_body_is_refused_unread_with_json() -> None:
    app = wsgi_app(Echo(), max_body=2 * MB)
    stream = io.BytesIO(b"x" * 10)
    answer = Answer()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/echo",
        "CONTENT_LENGTH": str(2 * MB + 1),
        "wsgi.input": stream,
    }
    data = b"".join(app(environ, answer))
    assert answer.status == f"413 {http.HTTPStatus(413).phrase}"
    assert json.loads(data) == {"error": {"code": "payload_too_large", "message": "body over 2 MB"}}
    assert answer.headers == [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
    ]
    assert stream.tell() == 0
    answer, _ = call(app, "/echo", method="POST", body=b"y" * (2 * MB))
    assert answer.status == "200 OK"


def test_a_binary_answer_is_decoded_and_hop_headers_are_dropped() -> None:
    app = wsgi_app(Echo())
    answer, data = call(app, "/binary")
    assert data == b"\x00\xffbytes"
    assert ("Content-Length", "7") in answer.headers
    answer, data = call(app, "/odd")
    assert answer.status == "299 Unknown"
    assert data == b"odd"
    names = [name.lower() for name, _ in answer.headers]
    assert "connection" not in names and "transfer-encoding" not in names
    assert ("X-Kept", "yes") in answer.headers
    assert names.count("content-length") == 1
    assert answer.headers[-1] == ("Content-Length", "3")


def test_each_thread_builds_one_resolver_and_keeps_it() -> None:
    factory = Echo()
    app = wsgi_app(factory)
    call(app, "/echo")
    call(app, "/echo")
    assert factory.built == 1
    thread = threading.Thread(target=call, args=(app, "/echo"))
    thread.start()
    thread.join()
    assert factory.built == 2


@pytest.mark.parametrize("code", [200, 404, 413])
def test_known_codes_carry_their_phrase(code: int) -> None:
    def factory() -> APIGatewayHttpResolver:
        app = APIGatewayHttpResolver()

        @app.get("/x")
        def x() -> Response[str]:
            return Response(code, "text/plain", "")

        return app

    answer, data = call(wsgi_app(factory), "/x")
    assert answer.status == f"{code} {http.HTTPStatus(code).phrase}"
    assert data == b""


def test_the_context_is_what_powertools_reads() -> None:
    context = LocalContext()
    assert context.get_remaining_time_in_millis() == 30_000
    assert context.function_name == "functions-serve"
