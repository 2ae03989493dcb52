"""Fixtures for the control-plane API tests.

``plane`` is a :class:`ControlPlane` over each backend (embedded SQLite, AWS on moto).
``api`` drives the real Powertools app with real-shaped API Gateway v2 events, built by
the local adapter's ``to_apigw_event``, exactly as ``functions serve`` and API Gateway
call it: every route, the delivery routes included (on an embedded delivery store).
Keys: the admin key, plus one key each for the workspaces "acme" and "globex".
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from functions_runtime.api.app import build_app
from functions_runtime.api.local import to_apigw_event
from functions_runtime.control.auth import authenticate
from functions_runtime.control.backend import Backend
from functions_runtime.control.service import ControlPlane
from functions_runtime.delivery.embedded import open_delivery
from functions_runtime.delivery.ingest import Ingest
from functions_runtime.delivery.ports import DeliveryBackend
from functions_runtime.sandbox.host.pool import WorkerPool
from tests.backends import BACKENDS, make_backend

ROOT = Path(__file__).resolve().parents[2]
USER_FUNCTIONS = ROOT / "user_functions"
EVENTS = ROOT / "samples" / "events"
ADMIN_KEY = "admin-key"
MASK = "***"

TRACK = {"type": "track", "event": "Signed Up", "userId": "user-1", "properties": {"plan": "pro"}}

# A small destination function with a declared schema and no outgoing HTTP.
GREETER_HANDLER = """\
from functions_sdk import logger


def on_track(event, settings):
    logger.info("greeting %s", event.userId)
    return {"greeting": settings.get_str("greeting"), "user": event.userId}


def on_identify(event, settings):
    return {"token_length": len(settings.get_str("token"))}
"""
GREETER_MANIFEST = """\
name = "greeter"
kind = "destination"

[settings.greeting]
type = "string"
required = true

[settings.token]
type = "string"
required = true
secret = true

[settings.retries]
type = "number"
default = 3
"""


def function_files(handler: str, manifest: str | None = None) -> dict[str, str]:
    """An upload's ``files``: handler.py and, if given, function.toml."""
    files = {"handler.py": handler}
    if manifest is not None:
        files["function.toml"] = manifest
    return files


def user_function(name: str) -> dict[str, str]:
    """The files of one of the folders under user_functions/."""
    folder = USER_FUNCTIONS / name
    return {
        "handler.py": (folder / "handler.py").read_text(encoding="utf-8"),
        "function.toml": (folder / "function.toml").read_text(encoding="utf-8"),
    }


def zipped(files: dict[str, str], folder: str = "") -> str:
    """``files`` as a base64 zip (inside ``folder`` when given), as the API takes it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(folder + name, text)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def sample_event(name: str) -> Any:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


# -- the API, in process ---------------------------------------------------------------


class LambdaContext:
    """The Lambda context attributes Powertools may read."""

    function_name = "functions-api-tests"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:functions-api-tests"
    aws_request_id = "tests"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class Reply(NamedTuple):
    status: int
    body: Any


class Client:
    """Calls the API as one key (``None``: without an Authorization header)."""

    def __init__(self, api: Api, key: str | None, workspace: str | None = None) -> None:
        self.api = api
        self.key = key
        self.workspace = workspace

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        workspace: str | None = None,
    ) -> Reply:
        sent = {"User-Agent": "functions-tests", "Accept": "application/json"}
        if self.key is not None:
            sent["Authorization"] = f"Bearer {self.key}"
        chosen = workspace or self.workspace
        if chosen is not None:
            sent["X-Functions-Workspace"] = chosen
        data = raw if raw is not None else b""
        if body is not None:  # None: no body (send JSON null as raw=b"null")
            data = json.dumps(body).encode("utf-8")
        if data:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        return self.api.send(method, path, sent, data)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("PATCH", path, body, **kw)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """The body of a call that must answer ``status``."""
        reply = self.request(method, path, body)
        assert reply.status == status, reply
        return reply.body

    # -- building blocks --------------------------------------------------------------

    def create_function(self, files: dict[str, str], name: str | None = None) -> Any:
        body: dict[str, Any] = {"files": files}
        if name is not None:
            body["name"] = name
        return self.ok("POST", "/v1/functions", body, status=201)

    def upload(self, function: str, files: dict[str, str]) -> Any:
        return self.ok("POST", f"/v1/functions/{function}/versions", {"files": files}, 201)

    def deploy(self, function: str, **body: Any) -> Any:
        return self.ok("POST", f"/v1/functions/{function}/deploy", body)["instance"]

    def create_source(self, name: str) -> Any:
        return self.ok("POST", "/v1/sources", {"name": name}, status=201)

    def snapshot(self) -> dict[str, Any]:
        """Everything this key can list: to show that a refused request stored nothing.

        A new version shows too: it moves its function's ``version_count``.
        """
        return {
            "functions": self.ok("GET", "/v1/functions")["functions"],
            "instances": self.ok("GET", "/v1/instances")["instances"],
            "sources": self.ok("GET", "/v1/sources")["sources"],
            "audit": self.ok("GET", "/v1/audit?limit=1000")["entries"],
        }


@dataclass
class Api:
    """The app over one plane, its keys, and every response body it gave."""

    plane: ControlPlane
    delivery: DeliveryBackend
    admin_key: str
    acme_key: str
    globex_key: str
    acme_id: str
    globex_id: str
    transcript: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        store = self.plane.store
        ingest = Ingest(store, self.delivery.queue, self.delivery.deliveries)
        self.app = build_app(self.plane, ingest, self.delivery)
        self.admin = Client(self, self.admin_key)
        self.acme = Client(self, self.acme_key)
        self.globex = Client(self, self.globex_key)
        self.anonymous = Client(self, None)

    def client(self, key: str | None, workspace: str | None = None) -> Client:
        return Client(self, key, workspace)

    def send(self, method: str, path: str, sent: dict[str, str], data: bytes) -> Reply:
        """One request, as an API Gateway v2 event; every answer must be JSON."""
        event = to_apigw_event(method, path, sent, data, "127.0.0.1")
        result = self.app.resolve(event, LambdaContext())
        text = result.get("body") or ""
        if result.get("isBase64Encoded"):
            text = base64.b64decode(text).decode("utf-8")
        self.transcript.append(text)
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        assert headers.get("content-type", "").startswith("application/json"), result
        return Reply(int(result["statusCode"]), json.loads(text) if text else None)

    def with_allow(self, *hosts: str) -> Api:
        """The same stores and keys, on a plane whose functions may fetch ``hosts``."""
        plane = ControlPlane(self.plane.backend, self.plane.pool, allow=hosts)
        return dataclasses.replace(self, plane=plane)  # the same transcript, too


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with make_backend(request.param, tmp_path / "data") as made:
        yield made


@pytest.fixture
def plane(backend: Backend) -> Iterator[ControlPlane]:
    with WorkerPool(max_workers=4) as pool:
        yield ControlPlane(backend, pool, allow=())


@pytest.fixture
def api(plane: ControlPlane, tmp_path: Path) -> Api:
    plane.bootstrap(ADMIN_KEY)
    admin = authenticate(plane.store, f"Bearer {ADMIN_KEY}")
    acme, acme_key = plane.create_workspace(admin, "acme")
    globex, globex_key = plane.create_workspace(admin, "globex")
    delivery = open_delivery(tmp_path / "delivery")
    return Api(plane, delivery, ADMIN_KEY, acme_key, globex_key, acme.id, globex.id)


# -- a receiver on 127.0.0.1 for functions that fetch -------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Sink(ThreadingHTTPServer):
    """Answers every request with 200 ``{"ok": true}`` and records it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.received: list[Received] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _SinkHandler(BaseHTTPRequestHandler):
    server: Sink
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.received.append(Received(self.command, self.path, headers, body))
        answer = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()
