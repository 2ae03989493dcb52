"""Tests for ``fetch`` end to end in one process: functions_sdk.http (the worker's half:
argument checks, Response) over a transport that is the host's broker
(functions_runtime/sandbox/host: request checks, NetworkPolicy, kept-alive connections, records).

Every test that opens a socket talks to a server started here on 127.0.0.1; the
address-policy tests use IP literals (or a resolver passed to the broker) and never
connect. The same path through a real worker's pipe is tested in test_broker.py.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest

from functions_runtime.sandbox.host import records
from functions_runtime.sandbox.host.broker import Broker
from functions_runtime.sandbox.host.ssrf import NetworkPolicy
from functions_sdk._context import InvocationContext, activate
from functions_sdk.errors import FetchError, RequestBlocked, RetryError
from functions_sdk.http import DEFAULT_TIMEOUT, MAX_RESPONSE_BYTES, Response, fetch
from tests.http_servers import serving

LOOPBACK = ("127.0.0.1",)


def _refuse_dns(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"unexpected name lookup: {args!r}")


def broker_context(
    allow: tuple[str, ...] = (),
    secrets: tuple[str, ...] = (),
    mocks: list[dict[str, Any]] | None = None,
    broker: Broker | None = None,
) -> Any:
    """An invocation whose fetch is performed by a host broker in this process."""
    session = (broker or Broker()).session("test", allow=allow, secrets=secrets, mocks=mocks)
    return activate(InvocationContext(secrets=secrets, transport=session.fetch))


# --------------------------------------------------------------------------- test server


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Length" not in (headers or {}) and body is not None:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body.decode("utf-8", "replace"),
            }
        )
        path = self.path.split("?", 1)[0]
        if path == "/echo":
            payload = self.server.seen[-1]
            self._answer(
                200,
                json.dumps(payload).encode(),
                {"Content-Type": "application/json", "X-Multi": "a"},
            )
        elif path.startswith("/status/"):
            self._answer(int(path.rsplit("/", 1)[1]), b"status body")
        elif path == "/redirect":
            self._answer(302, b"", {"Location": "/echo"})
        elif path.startswith("/bytes/"):
            self._answer(200, b"x" * int(path.rsplit("/", 1)[1]))
        elif path.startswith("/stream/"):
            # No Content-Length: the body ends when the connection closes.
            self.send_response(200)
            self.end_headers()
            size = int(path.rsplit("/", 1)[1])
            for start in range(0, size, 65536):
                self.wfile.write(b"y" * min(65536, size - start))
            self.close_connection = True
        elif path == "/sleep":
            self.server.release.wait(3)
            self._answer(200, b"late")
        elif path == "/badjson":
            self._answer(200, b"{not json", {"Content-Type": "application/json"})
        else:
            self._answer(404, b"not found")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, Any]] = []
        self.release = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up early (size limit, timeout tests) are expected


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    with serving(_Server()) as srv:
        yield srv


@pytest.fixture
def base(server: _Server) -> str:
    server.seen.clear()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def ctx() -> Iterator[InvocationContext]:
    with broker_context(allow=LOOPBACK, secrets=("s3cr3t-value",)) as active:
        yield active


@pytest.fixture
def no_network() -> Broker:
    """A broker that fails the test if it resolves a name (IP literals need no lookup;
    the refused ones are refused before any connection)."""
    return Broker(resolver=_refuse_dns)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------- round trips


def test_get_json_round_trip(base: str, ctx: InvocationContext) -> None:
    response = fetch(f"{base}/echo?x=1")
    assert response.status == 200
    assert response.ok
    assert response.url == f"{base}/echo?x=1"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-multi"] == "a"
    data = response.json()
    assert data["method"] == "GET"
    assert data["path"] == "/echo?x=1"
    assert data["headers"]["Host"] == base.removeprefix("http://")
    assert data["headers"]["User-Agent"] == "functions-sdk"
    assert json.loads(response.text) == data
    assert repr(response) == f"<Response [200] {base}/echo?x=1>"

    [record] = ctx.requests
    assert record["method"] == "GET"
    assert record["url"] == f"{base}/echo?x=1"
    assert record["status"] == 200
    assert isinstance(record["duration_ms"], float)
    assert record["request_body"] is None
    assert record["error"] is None


def test_post_json_sends_body_and_records_masked(base: str, ctx: InvocationContext) -> None:
    url = f"{base}/echo?api_key=abc&q=s3cr3t-value&plain=1&auth_sig=zz"
    response = fetch(
        url,
        method="post",
        headers={
            "Authorization": "Bearer abc",
            "X-Api-Key": "k",
            "X-Session-Token": "t",
            "X-Custom": "id s3cr3t-value",
        },
        json={"password": "s3cr3t-value", "n": 1},
    )
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["body"] == '{"password":"s3cr3t-value","n":1}'
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["Authorization"] == "Bearer abc"

    [record] = ctx.requests
    assert record["method"] == "POST"
    assert record["url"] == f"{base}/echo?api_key=***&q=***&plain=1&auth_sig=***"
    headers = record["request_headers"]
    assert headers["Authorization"] == "***"
    assert headers["X-Api-Key"] == "***"
    assert headers["X-Session-Token"] == "***"
    assert headers["X-Custom"] == "id ***"
    assert headers["Content-Type"] == "application/json"
    assert record["request_body"] == '{"password":"***","n":1}'
    assert "s3cr3t-value" not in json.dumps(record)


def test_body_str_and_bytes_and_explicit_content_type(base: str, ctx: InvocationContext) -> None:
    seen = fetch(f"{base}/echo", method="PUT", body="héllo").json()
    assert seen["body"] == "héllo"
    seen = fetch(
        f"{base}/echo",
        method="PATCH",
        body=b"a=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).json()
    assert seen["body"] == "a=1"
    assert seen["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    seen = fetch(f"{base}/echo", method="POST", json=[1], headers={"content-type": "text/x"}).json()
    assert seen["headers"]["content-type"] == "text/x"
    assert "Content-Type" not in seen["headers"]
    assert [r["request_body"] for r in ctx.requests] == ["héllo", "a=1", "[1]"]


def test_recorded_body_is_truncated_after_masking(base: str) -> None:
    secret = "0123456789abcdef"
    body = "a" * 2040 + secret + "b" * 5000
    with broker_context(allow=LOOPBACK, secrets=(secret,)) as ctx:
        fetch(f"{base}/echo", method="POST", body=body)
    recorded = ctx.requests[0]["request_body"]
    assert recorded == "a" * 2040 + "***" + "b" * 5 + "…[truncated]"


def test_userinfo_password_masked_and_sent_as_basic_auth(base: str, ctx: InvocationContext) -> None:
    url = base.replace("http://", "http://user:pa%3Ass@") + "/echo"
    seen = fetch(url).json()
    assert seen["headers"]["Authorization"] == "Basic dXNlcjpwYTpzcw=="  # user:pa:ss
    record = ctx.requests[0]
    assert record["url"] == base.replace("http://", "http://user:***@") + "/echo"
    assert record["request_headers"]["Authorization"] == "***"


def test_head_and_options(base: str, ctx: InvocationContext) -> None:
    response = fetch(f"{base}/bytes/10", method="head")
    assert response.status == 200
    assert response.text == ""
    assert response.headers["content-length"] == "10"
    assert fetch(f"{base}/echo", method="OPTIONS").json()["method"] == "OPTIONS"


# --------------------------------------------------------------------------- address policy


def test_loopback_refused_without_allow(server: _Server, base: str) -> None:
    with broker_context() as ctx, pytest.raises(RequestBlocked) as caught:
        fetch(f"{base}/echo")
    message = str(caught.value)
    assert "127.0.0.1" in message
    assert "loopback address" in message
    assert "set FUNCTIONS_HTTP_ALLOW or pass --allow-host to allow it" in message
    assert server.seen == []
    [record] = ctx.requests
    assert record["status"] is None
    assert "loopback address" in record["error"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.1.2.3/", "private address"),
        ("http://192.168.1.10:8080/x", "private address"),
        ("http://172.16.0.1/", "private address"),
        ("http://169.254.169.254/latest/meta-data/", "link-local/metadata address"),
        ("http://[fd00:ec2::254]/", "link-local/metadata address"),
        ("http://100.100.100.200/", "link-local/metadata address"),
        ("http://169.254.1.1/", "link-local/metadata address"),
        ("http://[fe80::1]/", "link-local/metadata address"),
        ("http://[::1]:8080/", "loopback address"),
        ("http://127.0.0.2/", "loopback address"),
        ("http://0.0.0.0/", "unspecified address"),
        ("http://[::]/", "unspecified address"),
        ("http://[::ffff:127.0.0.1]/", "loopback address (IPv4-mapped 127.0.0.1)"),
        ("http://[::ffff:169.254.169.254]/", "link-local/metadata address"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local/metadata address (NAT64"),
        ("http://[2002:7f00:1::]/", "loopback address (6to4"),
        ("http://100.64.0.1/", "shared address space"),
        ("http://224.0.0.1/", "multicast address"),
        ("http://240.0.0.1/", "reserved address"),
        ("http://[fc00::1]/", "private address"),
    ],
)
def test_non_public_addresses_refused(url: str, reason: str, no_network: Broker) -> None:
    with broker_context(broker=no_network) as ctx, pytest.raises(RequestBlocked) as caught:
        fetch(url)
    assert reason in str(caught.value)
    assert "FUNCTIONS_HTTP_ALLOW" in str(caught.value)
    assert reason in ctx.requests[0]["error"]


def test_allow_by_cidr(base: str) -> None:
    with broker_context(allow=("127.0.0.0/8",)):
        assert fetch(f"{base}/echo").status == 200


def test_allow_by_host_name(server: _Server) -> None:
    # localhost may resolve to ::1 first; nothing listens there, so fetch falls back.
    url = f"http://LOCALHOST:{server.server_address[1]}/echo"
    with broker_context(allow=("localhost",)):
        seen = fetch(url).json()
    assert seen["headers"]["Host"] == f"localhost:{server.server_address[1]}"
    with broker_context(allow=("other.example",)), pytest.raises(RequestBlocked):
        fetch(url)


def test_metadata_needs_exact_allow_entry() -> None:
    wide = NetworkPolicy(("169.254.0.0/16", "0.0.0.0/0"))
    with pytest.raises(RequestBlocked, match="link-local/metadata"):
        wide.resolve("169.254.169.254", 80, _refuse_dns)
    assert wide.resolve("169.254.1.1", 80, _refuse_dns) == ["169.254.1.1"]
    exact = NetworkPolicy(("169.254.169.254",))
    assert exact.resolve("169.254.169.254", 80, _refuse_dns) == ["169.254.169.254"]


def test_public_address_allowed() -> None:
    assert NetworkPolicy().resolve("93.184.216.34", 443, _refuse_dns) == ["93.184.216.34"]
    assert NetworkPolicy().resolve("[2606:4700::1]", 443, _refuse_dns) == ["2606:4700::1"]


def test_mapped_address_covered_by_ipv4_entry() -> None:
    policy = NetworkPolicy(("127.0.0.1",))
    [address] = policy.resolve("::ffff:127.0.0.1", 80, _refuse_dns)
    assert ipaddress.ip_address(address) == ipaddress.ip_address("::ffff:127.0.0.1")


def test_dns_answer_is_checked_and_pinned(server: _Server, base: str) -> None:
    lookups: list[str] = []
    answers = {"api.example.test": "127.0.0.1", "evil.example.test": "10.0.0.7"}

    def resolver(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    port = server.server_address[1]
    with broker_context(allow=LOOPBACK, broker=Broker(resolver=resolver)):
        # api.example.test exists in no real DNS: the request can only have gone to
        # the checked address, with the URL's name as Host.
        seen = fetch(f"http://api.example.test:{port}/echo").json()
        assert seen["headers"]["Host"] == f"api.example.test:{port}"
        assert lookups == ["api.example.test"]  # resolved once, then connected by IP

        with pytest.raises(RequestBlocked, match=r"evil\.example\.test \(10\.0\.0\.7\)"):
            fetch(f"http://evil.example.test:{port}/")
        with pytest.raises(RetryError, match=r"could not resolve host nxdomain\.example\.test"):
            fetch("http://nxdomain.example.test/")


def test_https_uses_host_name_for_tls(server: _Server) -> None:
    names: list[str | None] = []

    class Recording(ssl.SSLContext):
        def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> Any:
            names.append(kwargs.get("server_hostname"))
            return super().wrap_socket(sock, *args, **kwargs)

    context = Recording(ssl.PROTOCOL_TLS_CLIENT)
    context.load_default_certs()
    url = f"https://localhost:{server.server_address[1]}/echo"
    broker = Broker(tls_context=context)
    with broker_context(allow=("localhost",), broker=broker), pytest.raises(RetryError) as caught:
        fetch(url, timeout=2)  # the test server speaks plain HTTP: the handshake fails
    assert "TLS" in str(caught.value)
    assert names and set(names) == {"localhost"}


def test_policy_from_string() -> None:
    policy = NetworkPolicy.from_string(" 127.0.0.1, 10.0.0.0/8,, LocalHost ,::1, [::2] ,")
    assert policy.allow == ("127.0.0.1", "10.0.0.0/8", "LocalHost", "::1", "[::2]")
    assert policy.resolve("10.9.8.7", 80) == ["10.9.8.7"]
    assert NetworkPolicy.from_string(None) == NetworkPolicy()
    assert NetworkPolicy.from_string("") == NetworkPolicy()
    for bad in ("10.0.0.0/33", "10.0.0.256", "http://host", "bad host"):
        with pytest.raises(ValueError, match="invalid allow-list entry") as caught:
            NetworkPolicy.from_string(f"127.0.0.1,{bad}")
        assert repr(bad) in str(caught.value)


# --------------------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "127.0.0.1/x",
        "http:///x",
    ],
)
def test_bad_urls_refused(url: str, no_network: Broker) -> None:
    with (
        broker_context(allow=LOOPBACK, broker=no_network) as ctx,
        pytest.raises(FetchError) as caught,
    ):
        fetch(url)
    assert not isinstance(caught.value, RequestBlocked)
    assert "scheme" in str(caught.value) or "no host" in str(caught.value)
    assert ctx.requests[0]["error"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"headers": {"X-A": "v\r\nX-Injected: 1"}},
        {"headers": {"X-A\r\nX-Injected": "1"}},
        {"headers": {"X-A": "v\nX-Injected: 1"}},
        {"headers": {"X A": "1"}},
        {"headers": {"Host": "other"}},
        {"headers": {"Content-Length": "5"}},
        {"method": "GET\r\nX-Injected: 1"},
        {"method": "TRACE"},
        {"method": "CONNECT"},
        {"timeout": 0},
        {"timeout": -1},
    ],
)
def test_bad_arguments_refused_by_the_host(kwargs: dict[str, Any], no_network: Broker) -> None:
    with (
        broker_context(allow=LOOPBACK, broker=no_network) as ctx,
        pytest.raises(FetchError) as caught,
    ):
        fetch("http://127.0.0.1:1/x", **kwargs)
    [record] = ctx.requests  # checked and recorded by the host
    assert record["error"] and record["error"] in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"headers": {"X-A": 1}},
        {"json": {"a": 1}, "body": "x"},
        {"json": {"a": float("nan")}},
        {"json": {"a": object()}},
        {"body": 12},
        {"timeout": "5"},
    ],
)
def test_unsendable_arguments_refused_in_the_worker(kwargs: dict[str, Any]) -> None:
    sent: list[dict[str, Any]] = []

    def transport(request: dict[str, Any]) -> dict[str, Any]:
        sent.append(request)
        return {}

    with activate(InvocationContext(transport=transport)), pytest.raises(FetchError):
        fetch("http://127.0.0.1:1/x", **kwargs)
    assert sent == []  # nothing that cannot be a frame leaves the worker


@pytest.mark.parametrize(
    "message",
    [
        {"op": "fetch", "url": 1, "method": "GET", "headers": []},
        {"op": "fetch", "url": "http://127.0.0.1/", "method": "GET", "headers": {"a": "b"}},
        {"op": "fetch", "url": "http://127.0.0.1/", "method": "GET", "headers": [["a"]]},
        {"op": "fetch", "url": "http://127.0.0.1/", "method": "GET", "headers": [[1, "b"]]},
        {"op": "fetch", "url": "http://127.0.0.1/", "method": "GET", "headers": [], "body": 5},
        {
            "op": "fetch",
            "url": "http://127.0.0.1/",
            "method": "POST",
            "headers": [],
            "body": "%%%",
            "body_b64": True,
        },
        {
            "op": "fetch",
            "url": "http://127.0.0.1/",
            "method": "GET",
            "headers": [],
            "timeout": True,
        },
    ],
)
def test_host_refuses_malformed_requests_from_a_worker(
    message: dict[str, Any], no_network: Broker
) -> None:
    # A worker runs customer code: the host checks the frame itself, not the SDK's checks.
    answer = no_network.session("i", allow=LOOPBACK, secrets=()).fetch(message)
    assert answer["error"]["type"] == "FetchError"
    assert answer["record"]["error"]


def test_fetch_without_a_transport_has_no_network() -> None:
    with activate(InvocationContext()), pytest.raises(FetchError, match="no network"):
        fetch("http://127.0.0.1:1/x")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/a\r\nX: y", "http://127.0.0.1/\n", "http://1\t27.0.0.1/"]
)
def test_control_characters_in_url_refused(url: str, no_network: Broker) -> None:
    with (
        broker_context(allow=LOOPBACK, broker=no_network),
        pytest.raises(FetchError, match="control"),
    ):
        fetch(url)


# --------------------------------------------------------------------------- limits and failures


def test_response_over_limit(base: str, ctx: InvocationContext) -> None:
    limit = MAX_RESPONSE_BYTES
    assert limit == 1048576
    for path in (f"/bytes/{limit + 1}", f"/stream/{limit + 1}"):
        with pytest.raises(FetchError, match=r"response from 127\.0\.0\.1 exceeded 1048576 bytes"):
            fetch(base + path)
    assert len(fetch(f"{base}/stream/{limit}").content) == limit
    assert [r["status"] for r in ctx.requests] == [None, None, 200]
    assert "exceeded" in ctx.requests[0]["error"]


def test_limit_boundary(base: str) -> None:
    with broker_context(allow=LOOPBACK, broker=Broker(max_response_bytes=100)):
        assert fetch(f"{base}/bytes/100").text == "x" * 100
        assert fetch(f"{base}/stream/100").text == "y" * 100
        with pytest.raises(FetchError, match="exceeded 100 bytes"):
            fetch(f"{base}/stream/101")
        with pytest.raises(FetchError, match="exceeded 100 bytes"):
            fetch(f"{base}/bytes/101")


def test_timeout_is_retry(base: str, ctx: InvocationContext) -> None:
    with pytest.raises(RetryError) as caught:
        fetch(f"{base}/sleep", method="POST", json={}, timeout=0.2)
    assert str(caught.value) == f"POST {base}/sleep failed: timed out after 0.2 s"
    assert caught.value.status is None
    assert ctx.requests[0]["error"] == "timed out after 0.2 s"


def test_default_and_capped_timeout() -> None:
    assert DEFAULT_TIMEOUT == 5.0
    assert records._check_timeout(None) == 5.0
    assert records._check_timeout(120) == 30.0
    assert records._check_timeout(0.5) == 0.5


def test_connection_refused_is_retry(ctx: InvocationContext) -> None:
    port = _free_port()
    with pytest.raises(RetryError, match=f"connection refused by 127.0.0.1:{port}"):
        fetch(f"http://127.0.0.1:{port}/")
    assert "refused" in ctx.requests[0]["error"]


# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retry_on_status(base: str, ctx: InvocationContext, status: int) -> None:
    with pytest.raises(RetryError) as caught:
        fetch(f"{base}/status/{status}", retry_on_status=True)
    assert caught.value.status == status
    assert str(caught.value) == f"GET {base}/status/{status} answered {status}"
    assert ctx.requests[0]["status"] == status
    assert ctx.requests[0]["error"] == f"answered {status}"


@pytest.mark.parametrize("status", [501, 505, 404, 200])
def test_no_retry_for_other_statuses(base: str, ctx: InvocationContext, status: int) -> None:
    response = fetch(f"{base}/status/{status}", retry_on_status=True)
    assert response.status == status
    assert ctx.requests[0]["error"] is None


def test_error_status_returned_without_retry_on_status(base: str, ctx: InvocationContext) -> None:
    response = fetch(f"{base}/status/503")
    assert response.status == 503
    assert not response.ok
    assert response.text == "status body"
    with pytest.raises(RetryError) as caught:
        response.raise_for_status()
    assert caught.value.status == 503
    with pytest.raises(FetchError, match="answered 404"):
        fetch(f"{base}/status/404").raise_for_status()
    fetch(f"{base}/status/204").raise_for_status()


def test_redirect_not_followed(server: _Server, base: str, ctx: InvocationContext) -> None:
    response = fetch(f"{base}/redirect")
    assert response.status == 302
    assert response.headers["location"] == "/echo"
    assert [seen["path"] for seen in server.seen] == ["/redirect"]
    response.raise_for_status()


# --------------------------------------------------------------------------- Response


def test_response_json_errors() -> None:
    with pytest.raises(FetchError, match=r"response from https://x\.test/a is not JSON: "):
        Response(200, {}, b"{not json", "https://x.test/a").json()
    with pytest.raises(FetchError, match="not JSON"):
        Response(200, {}, b"\xff\xfe", "https://x.test/a").json()
    with pytest.raises(FetchError, match="nested too deeply"):
        Response(200, {}, b"[" * 100_000, "https://x.test/a").json()


def test_bad_json_from_server(base: str, ctx: InvocationContext) -> None:
    with pytest.raises(FetchError, match="is not JSON"):
        fetch(f"{base}/badjson").json()


def test_response_is_read_only() -> None:
    response = Response(201, [("X-A", "1"), ("x-a", "2")], b"ok", "https://x.test/?token=t")
    assert response.headers == {"x-a": "1, 2"}
    response.headers["x-a"] = "changed"
    assert response.headers == {"x-a": "1, 2"}
    assert repr(response) == "<Response [201] https://x.test/?token=***>"
    other = Response(200, {}, b"", "https://u:p@x.test/?a=1&Signature=s#access_token=abc")
    assert (
        repr(other) == "<Response [200] https://u:***@x.test/?a=1&Signature=***#access_token=***>"
    )
    with pytest.raises(AttributeError):
        response.status = 500  # type: ignore[misc]
    with pytest.raises(AttributeError):
        response.extra = 1  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- mock mode


def test_mock_mode_matching(no_network: Broker) -> None:
    mocks: list[dict[str, Any]] = [
        {"method": "post", "url": "https://api.test/v1/events", "status": 202, "json": {"id": 1}},
        {"method": None, "url": "https://api.test/v1/users/*", "body": "user", "times": 1},
        {"url": "https://api.test/v1/users/*", "status": 404, "headers": {"X-Why": "gone"}},
        {"method": "GET", "url": None, "body": "anything"},
    ]
    with broker_context(mocks=mocks, secrets=("tok",), broker=no_network) as ctx:
        first = fetch("https://api.test/v1/events", method="POST", json={"a": "tok"})
        assert first.status == 202
        assert first.json() == {"id": 1}
        assert first.headers["content-type"] == "application/json"

        assert fetch("https://api.test/v1/users/7", method="DELETE").text == "user"
        assert mocks[1]["times"] == 0
        used_up = fetch("https://api.test/v1/users/7", method="DELETE")
        assert used_up.status == 404
        assert used_up.headers == {"x-why": "gone"}

        assert fetch("https://other.test/?q=1").text == "anything"
        assert fetch("https://api.test/v1/events").text == "anything"  # GET: first mock is POST

        with pytest.raises(FetchError) as caught:
            fetch("https://api.test/v1/events?key=tok", method="PUT")
        assert str(caught.value) == (
            "no mock response for PUT https://api.test/v1/events?key=***; "
            "add one to the test's responses"
        )
    assert [r["status"] for r in ctx.requests] == [202, 200, 404, 200, 200, None]
    assert ctx.requests[0]["request_body"] == '{"a":"***"}'
    assert ctx.requests[-1]["error"] == "no mock response"


def test_mock_mode_applies_retry_and_limit() -> None:
    mocks: list[dict[str, Any]] = [
        {"url": "https://api.test/busy", "status": 503},
        {"url": "https://api.test/big", "body": "z" * 11},
    ]
    broker = Broker(max_response_bytes=10, resolver=_refuse_dns)
    with broker_context(mocks=mocks, broker=broker) as ctx:
        with pytest.raises(RetryError) as caught:
            fetch("https://api.test/busy", retry_on_status=True)
        assert caught.value.status == 503
        assert fetch("https://api.test/busy").status == 503
        with pytest.raises(FetchError, match=r"response from api\.test exceeded 10 bytes"):
            fetch("https://api.test/big")
        with pytest.raises(FetchError, match="scheme"):
            fetch("ftp://api.test/busy")
    assert [r["status"] for r in ctx.requests] == [503, 503, None, None]


def test_mock_mode_default_status_and_empty_body(no_network: Broker) -> None:
    with broker_context(mocks=[{"method": None, "url": None}], broker=no_network):
        response = fetch("http://127.0.0.1/anything")
    assert response.status == 200
    assert response.content == b""


def test_each_invocation_masks_its_own_secrets(base: str) -> None:
    # The secrets' encoded forms are computed once per set of secrets: a second set
    # (another context) must still be masked, and the first one no longer applies.
    for secret, other in (("first secret/1", "second secret/2"), ("second secret/2", "x")):
        with broker_context(allow=LOOPBACK, secrets=(secret,)) as ctx:
            fetch(f"{base}/echo?q={quote(secret)}&r={quote(other)}", method="POST", body=secret)
        record = ctx.requests[0]
        assert secret not in record["request_body"] and quote(secret) not in record["url"]
        assert quote(other) in record["url"]


def test_long_urls_and_headers_cost_the_host_little(no_network: Broker) -> None:
    # A worker may send megabytes: the host refuses long URLs before parsing them and
    # masks only the part of a header value it keeps.
    with broker_context(allow=LOOPBACK, broker=no_network) as ctx:
        with pytest.raises(FetchError, match="URL longer than 32768 characters"):
            fetch("http://127.0.0.1/" + "q" * 40_000)
        with pytest.raises(RetryError, match="connection refused"):
            fetch(f"http://127.0.0.1:{_free_port()}/", headers={"X-Big": "v" * 1_000_000})
    first, second = ctx.requests
    assert len(first["url"]) < 2100 and first["url"].endswith("…[truncated]")
    assert second["request_headers"]["X-Big"] == "v" * 256 + "…[truncated]"
