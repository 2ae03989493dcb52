"""The control-plane HTTP API, written once with Powertools' event handler.

The same resolver runs behind API Gateway (HTTP API, payload v2) on AWS and behind
the small local adapter in ``functions serve``. JSON in and out; errors are
``{"error": {"code", "message", "problems"?}}`` with the matching status; the OpenAPI
document is served at ``/openapi.json``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..console import assets
from ..control.auth import Principal, authenticate
from ..control.errors import ServiceError
from ..control.models import Instance, Version
from ..control.service import ControlPlane
from ..control.webhooks import rotate_webhook_token
from ..delivery.dispatch import Dispatcher
from ..delivery.ingest import Ingest
from ..delivery.ports import DeliveryBackend
from ..json_limits import MAX_DEPTH, problem, too_deep
from ..manifest import HANDLER_NAME
from .delivery_routes import add_delivery_routes
from .library_routes import add_library_routes
from .manage_routes import add_manage_routes

__all__ = ["OpenApiDocument", "build_app"]

logger = logging.getLogger("functions.api")
WORKSPACE_HEADER = "x-functions-workspace"
ROUTED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

_ERROR = {
    "description": "error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "problems": {"type": "array", "items": {"type": "string"}},
                        },
                    }
                },
            }
        }
    },
}
_OK = {"content": {"application/json": {"schema": {"type": "object"}}}}
ERRORS: dict[int, Any] = {
    200: {"description": "OK", **_OK},
    201: {"description": "Created", **_OK},
    **{status: _ERROR for status in (400, 401, 403, 404, 409, 413, 415, 422)},
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _json_value(value: dict[str, Any]) -> dict[str, Any]:
    """Settings are stored and handed to the sandbox: no NaN (JSON has none; it would be
    stored as null), no nesting past ``json_limits.MAX_DEPTH``."""
    trouble = problem(value)
    if trouble is not None:
        raise ValueError(trouble)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_json_value)]


class WorkspaceIn(_Body):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")


class UploadIn(_Body):
    """A function's files as JSON (``files``) or a base64 zip (``zip``)."""

    files: dict[str, str] | None = None
    zip: str | None = Field(default=None, max_length=2 * 1024 * 1024)


class FunctionIn(UploadIn):
    name: str | None = Field(
        default=None, min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.-]+$"
    )


class DeployIn(_Body):
    version: str | None = None
    source: str | None = None
    instance: str | None = None
    settings: JsonObject | None = None
    insert: str | None = None


class InstancePatch(_Body):
    settings: JsonObject | None = None
    enabled: bool | None = None
    batch_max_count: int | None = Field(default=None, ge=1, le=400)
    batch_wait_seconds: float | None = Field(default=None, ge=0, le=30)


class RollbackIn(_Body):
    version: str


class SourceIn(_Body):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")


class TestIn(_Body):
    """One ``event`` (object) or a batch (``events``), with settings or an instance's."""

    event: dict[str, Any] | None = None
    events: list[Any] | None = Field(default=None, max_length=100)
    settings: JsonObject | None = None
    instance: str | None = None


def openapi_json(app: APIGatewayHttpResolver) -> str:
    """The OpenAPI document of ``app``'s routes (slow: it walks every model)."""
    # Powertools' OpenAPI models take tens of ms to import: only when the document is.
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    text: str = app.get_openapi_json_schema(
        title="Functions control plane",
        version="0.1.0",
        security_schemes={"bearer": HTTPBearer(description="an API key")},
        security=[{"bearer": []}],
    )
    return text


class OpenApiDocument:
    """The OpenAPI document, built once (by the first request that asks) and shared.

    Every resolver built with the same routes serves the same document, so one
    instance is shared by all of a process's resolvers; concurrent first requests wait
    for the one build.
    """

    def __init__(self, build: Callable[[APIGatewayHttpResolver], str] = openapi_json) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._text: str | None = None

    def get(self, app: APIGatewayHttpResolver) -> str:
        with self._lock:
            if self._text is None:
                self._text = self._build(app)
            return self._text


class FilesIn(_Body):
    """A function's files (``handler.py`` and an optional ``function.toml``), unsaved."""

    files: dict[str, str]


class TestFilesIn(FilesIn):
    """Unsaved ``files`` run on one ``event`` or a batch (``events``), with ``settings``
    or an instance's settings."""

    event: dict[str, Any] | None = None
    events: list[Any] | None = Field(default=None, max_length=100)
    settings: dict[str, Any] | None = None
    instance: str | None = None


def _version_json(version: Version) -> dict[str, Any]:
    data = version.model_dump(mode="json")
    data["manifest"] = {k: v for k, v in data["manifest"].items() if k != "source"}
    data["files"] = sorted({HANDLER_NAME, *version.files})  # every .py file of the version
    return data


def build_app(
    plane: ControlPlane,
    ingest: Ingest | None = None,
    delivery: DeliveryBackend | None = None,
    dispatcher: Dispatcher | None = None,
    openapi: OpenApiDocument | None = None,
) -> APIGatewayHttpResolver:
    """A resolver with every route; one per thread (it keeps request state).

    With ``ingest`` and ``delivery`` it also serves the tracking API and the
    deliveries, stats and replay routes. ``openapi`` caches the OpenAPI document;
    resolvers built alike should share one (by default each builds its own, once).
    """
    document = openapi or OpenApiDocument()
    app = APIGatewayHttpResolver(enable_validation=True)
    # Powertools logs request bodies (secret settings included) at DEBUG: never here.
    logging.getLogger("aws_lambda_powertools.event_handler").setLevel(logging.INFO)

    def who() -> Principal:
        principal = authenticate(plane.store, app.current_event.headers.get("authorization"))
        _require_object_body(app)
        return principal

    def refused(error: ServiceError) -> Response[str]:
        """An error answer, unless the caller is not authenticated: then 401 first."""
        try:
            authenticate(plane.store, app.current_event.headers.get("authorization"))
        except ServiceError as auth_error:
            error = auth_error
        return Response(error.status, "application/json", json.dumps(error.body()))

    def ws(principal: Principal) -> str:
        return plane.workspace_for(principal, app.current_event.headers.get(WORKSPACE_HEADER))

    if ingest is not None and delivery is not None:
        add_delivery_routes(app, plane, ingest, delivery, ERRORS, lambda: ws(who()), dispatcher)

    def caller() -> tuple[Principal, str]:
        principal = who()
        return principal, ws(principal)

    add_library_routes(app, plane, ERRORS, caller)

    def instance_json(instance: Instance) -> dict[str, Any]:
        data = instance.model_dump(mode="json", exclude={"secrets"})
        data["settings"] = plane.masked_settings(instance)
        return data

    @app.exception_handler(ServiceError)  # type: ignore[untyped-decorator]
    def service_error(exc: ServiceError) -> Response[str]:
        return Response(exc.status, "application/json", json.dumps(exc.body()))

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def request_invalid(exc: RequestValidationError) -> Response[str]:
        unacceptable = _body_refusal(app)  # nesting and media type before the fields
        if unacceptable is not None:
            return refused(unacceptable)
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
        bad_json = any(e.get("type") == "json_invalid" for e in exc.errors())
        message = "the body is not valid JSON" if bad_json else "the request is invalid"
        return refused(
            ServiceError(422 if not bad_json else 400, "invalid_request", message, problems)
        )

    @app.exception_handler(UnicodeDecodeError)  # type: ignore[untyped-decorator]
    def body_not_utf8(exc: UnicodeDecodeError) -> Response[str]:
        return refused(ServiceError(400, "invalid_request", "the body is not UTF-8 text"))

    @app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
    def unsupported_type(exc: Exception) -> Response[str]:
        return refused(
            ServiceError(
                415, "unsupported_media_type", "send JSON (Content-Type: application/json)"
            )
        )

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def internal_error(exc: Exception) -> Response[str]:
        # Parsing a body we do not take can fail anywhere (Powertools parses forms and
        # multipart before any route runs): the request's fault, not ours.
        unacceptable = _body_refusal(app)
        if unacceptable is not None:
            return refused(unacceptable)
        logger.exception("unhandled error in %s", app.current_event.raw_path)
        error = ServiceError(500, "internal", "internal error; the server log has the details")
        return Response(500, "application/json", json.dumps(error.body()))

    @app.not_found
    def route_not_found(exc: Exception) -> Response[str]:
        method = app.current_event.request_context.http.method.upper()
        if method not in ROUTED_METHODS:  # TRACE, CONNECT and made-up methods
            error = ServiceError(405, "method_not_allowed", f"method {method} is not allowed")
            return Response(
                405,
                "application/json",
                json.dumps(error.body()),
                headers={"Allow": ", ".join(sorted(ROUTED_METHODS))},
            )
        error = ServiceError(404, "not_found", "no such route")
        return Response(404, "application/json", json.dumps(error.body()))

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document() -> Response[str]:
        return Response(200, "application/json", document.get(app))

    # -- the console (static, public: it holds no data; the API key stays in the browser)

    @app.get("/", include_in_schema=False)
    def console_page() -> Response[str]:
        page = assets.index()
        return Response(200, page.content_type, page.body, headers=page.headers)

    @app.get("/assets/<name>", include_in_schema=False)
    def console_asset(name: str) -> Response[str]:
        asset = assets.find(name)
        if asset is None:
            error = ServiceError(404, "not_found", "no such console file")
            return Response(404, "application/json", json.dumps(error.body()))
        return Response(200, asset.content_type, asset.body, headers=asset.headers)

    # -- workspaces (admin) ------------------------------------------------------------

    @app.post("/v1/workspaces", responses=ERRORS)
    def create_workspace(body: WorkspaceIn) -> Response[str]:
        workspace, key = plane.create_workspace(who(), body.name)
        return _created({"workspace": workspace.model_dump(mode="json"), "api_key": key})

    @app.get("/v1/workspaces", responses=ERRORS)
    def list_workspaces() -> dict[str, Any]:
        return {"workspaces": [w.model_dump(mode="json") for w in plane.list_workspaces(who())]}

    @app.post("/v1/workspaces/<workspace_id>/keys", responses=ERRORS)
    def create_key(workspace_id: str) -> Response[str]:
        return _created({"api_key": plane.create_key(who(), workspace_id)})

    # -- functions and versions ----------------------------------------------------------

    @app.post("/v1/functions", responses=ERRORS)
    def create_function(body: FunctionIn) -> Response[str]:
        p = who()
        function, version = plane.create_function(
            p, ws(p), files=body.files, zip_data=body.zip, name=body.name
        )
        return _created(
            {"function": function.model_dump(mode="json"), "version": _version_json(version)}
        )

    @app.get("/v1/functions", responses=ERRORS)
    def list_functions() -> dict[str, Any]:
        p = who()
        return {"functions": [f.model_dump(mode="json") for f in plane.list_functions(ws(p))]}

    @app.get("/v1/functions/<function>", responses=ERRORS)
    def get_function(function: str) -> dict[str, Any]:
        p = who()
        space = ws(p)
        fn = plane.get_function(space, function)
        return {
            "function": fn.model_dump(mode="json"),
            "instances": [instance_json(i) for i in plane.list_instances(space, fn.id)],
        }

    @app.post("/v1/functions/<function>/versions", responses=ERRORS)
    def upload_version(function: str, body: UploadIn) -> Response[str]:
        p = who()
        version = plane.upload_version(p, ws(p), function, files=body.files, zip_data=body.zip)
        return _created({"version": _version_json(version)})

    @app.get("/v1/functions/<function>/versions", responses=ERRORS)
    def list_versions(function: str) -> dict[str, Any]:
        p = who()
        return {"versions": [_version_json(v) for v in plane.list_versions(ws(p), function)]}

    @app.get("/v1/versions/<version_id>", responses=ERRORS)
    def get_version(version_id: str) -> dict[str, Any]:
        p = who()
        version, code = plane.get_version(ws(p), version_id)
        return {
            "version": _version_json(version),
            "code": code,
            "manifest": version.manifest.get("source"),
            "files": plane.version_files(version),
        }

    @app.get("/v1/versions/<version_id>/diff/<other_id>", responses=ERRORS)
    def diff_versions(version_id: str, other_id: str) -> dict[str, Any]:
        p = who()
        return {"diff": plane.diff_versions(ws(p), version_id, other_id)}

    @app.post("/v1/versions/<version_id>/test", responses=ERRORS)
    def test_version(version_id: str, body: TestIn) -> dict[str, Any]:
        p = who()
        if (body.event is None) == (body.events is None):
            raise ServiceError(400, "bad_request", "send either 'event' or 'events'")
        payload: Any = body.event if body.event is not None else body.events
        return plane.test(
            ws(p), version_id, payload, settings=body.settings, instance_id=body.instance
        )

    @app.post(
        "/v1/validate",
        responses=ERRORS,
        summary="Compile a function's files without saving them",
        description="Every problem the upload check would report, with its file and line "
        "(`line` 0 when it has none); `ok` is true when an upload would be accepted.",
    )
    def validate(body: FilesIn) -> dict[str, Any]:
        p = who()  # a key that names another workspace is refused here too
        return plane.validate(body.files, ws(p))

    @app.post(
        "/v1/test",
        responses=ERRORS,
        summary="Run unsaved function files on an event or a batch",
        description="As `POST /v1/versions/{id}/test`, for code that is not uploaded: "
        "nothing is stored. Settings come from `settings` or from `instance`.",
    )
    def test_files(body: TestFilesIn) -> dict[str, Any]:
        p = who()
        if (body.event is None) == (body.events is None):
            raise ServiceError(400, "bad_request", "send either 'event' or 'events'")
        payload: Any = body.event if body.event is not None else body.events
        return plane.test_files(
            ws(p), body.files, payload, settings=body.settings, instance_id=body.instance
        )

    # -- instances -------------------------------------------------------------------------

    @app.post("/v1/functions/<function>/deploy", responses=ERRORS)
    def deploy(function: str, body: DeployIn) -> dict[str, Any]:
        p = who()
        instance = plane.deploy(
            p,
            ws(p),
            function,
            version_id=body.version,
            source_id=body.source,
            settings=body.settings,
            instance_id=body.instance,
            insert_id=body.insert,
        )
        return {"instance": instance_json(instance)}

    @app.get("/v1/instances", responses=ERRORS)
    def list_instances(function: Annotated[str | None, Query()] = None) -> dict[str, Any]:
        p = who()
        space = ws(p)
        fn_id = plane.get_function(space, function).id if function else None
        return {"instances": [instance_json(i) for i in plane.list_instances(space, fn_id)]}

    @app.get("/v1/instances/<instance_id>", responses=ERRORS)
    def get_instance(instance_id: str) -> dict[str, Any]:
        p = who()
        return {"instance": instance_json(plane.get_instance(ws(p), instance_id))}

    @app.patch("/v1/instances/<instance_id>", responses=ERRORS)
    def patch_instance(instance_id: str, body: InstancePatch) -> dict[str, Any]:
        p = who()
        instance = plane.update_instance(
            p,
            ws(p),
            instance_id,
            settings=body.settings,
            enabled=body.enabled,
            batch_max_count=body.batch_max_count,
            batch_wait_seconds=body.batch_wait_seconds,
        )
        return {"instance": instance_json(instance)}

    @app.post("/v1/instances/<instance_id>/rollback", responses=ERRORS)
    def rollback(instance_id: str, body: RollbackIn) -> dict[str, Any]:
        p = who()
        return {"instance": instance_json(plane.rollback(p, ws(p), instance_id, body.version))}

    # -- sources and audit -------------------------------------------------------------------

    @app.post("/v1/sources", responses=ERRORS)
    def create_source(body: SourceIn) -> Response[str]:
        p = who()
        source, write_key = plane.create_source(p, ws(p), body.name)
        data = source.model_dump(mode="json", exclude={"write_key_hash", "webhook_token_hash"})
        return _created({"source": data, "write_key": write_key})

    @app.get("/v1/sources", responses=ERRORS)
    def list_sources() -> dict[str, Any]:
        p = who()
        return {
            "sources": [
                s.model_dump(mode="json", exclude={"write_key_hash", "webhook_token_hash"})
                for s in plane.list_sources(ws(p))
            ]
        }

    @app.post("/v1/sources/<source_id>/webhook-token", responses=ERRORS)
    def rotate_webhook(source_id: str) -> Response[str]:
        """A new webhook token for the source's source functions; the old one stops
        working. The token is shown once."""
        p = who()
        source, token = rotate_webhook_token(plane, p, ws(p), source_id)
        return _created(
            {"source": source.id, "webhook_token": token, "webhook_path": f"/v1/webhooks/{token}"}
        )

    add_manage_routes(app, plane, ERRORS, who, ws, instance_json)

    @app.get("/v1/audit", responses=ERRORS)
    def audit(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        p = who()
        return {"entries": [e.model_dump(mode="json") for e in plane.audit(ws(p), limit)]}

    return app


def _body_refusal(app: APIGatewayHttpResolver) -> ServiceError | None:
    """Why the request's body is not one the control plane takes, or None: a body
    that is not JSON by its content type (415), or nested past ``MAX_DEPTH`` levels
    (400; the parser itself gives up near 1,000)."""
    event = app.current_event
    if not event.body:
        return None
    media = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in {"", "application/json"}:
        return ServiceError(
            415, "unsupported_media_type", "send JSON (Content-Type: application/json)"
        )
    if event.is_base64_encoded:
        return None  # not UTF-8: reported as such
    try:
        deep = too_deep(json.loads(event.body), MAX_DEPTH + 2)  # + body and field levels
    except RecursionError:
        deep = True
    except ValueError:
        return None  # the validation step reports it
    if deep:
        return ServiceError(
            400,
            "invalid_request",
            f"the body nests objects and arrays more than {MAX_DEPTH} levels deep",
        )
    return None


def _require_object_body(app: APIGatewayHttpResolver) -> None:
    """JSON bodies must be objects (Powertools would take the first item of an array)."""
    unacceptable = _body_refusal(app)
    if unacceptable is not None:
        raise unacceptable
    event = app.current_event
    if not event.body or event.is_base64_encoded:
        return
    try:
        body = json.loads(event.body)
    except ValueError:
        return  # the validation step reports it
    if not isinstance(body, dict):
        raise ServiceError(
            422,
            "invalid_request",
            "the body must be a JSON object",
            [f"body: must be a JSON object, got {type(body).__name__}"],
        )


def _created(body: dict[str, Any]) -> Response[str]:
    return Response(201, "application/json", json.dumps(body))
