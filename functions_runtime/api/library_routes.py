"""Routes for a workspace's shared libraries (``control/libraries.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from pydantic import BaseModel, ConfigDict, Field

from ..control.auth import Principal
from ..control.errors import not_found
from ..control.models import Version
from ..control.service import ControlPlane

__all__ = ["add_library_routes"]

NAME = r"^[A-Za-z][A-Za-z0-9_]*$"


class LibraryFilesIn(BaseModel):
    """A library's files, path in its folder -> text (``__init__.py`` at least)."""

    model_config = ConfigDict(extra="forbid")

    files: dict[str, str]


class LibraryIn(LibraryFilesIn):
    name: str = Field(min_length=1, max_length=120, pattern=NAME)


def _version_json(version: Version) -> dict[str, Any]:
    data = version.model_dump(mode="json", exclude={"manifest", "handlers", "code_key"})
    data["files"] = sorted(version.files)
    return data


def add_library_routes(
    app: APIGatewayHttpResolver,
    plane: ControlPlane,
    errors: dict[int, Any],
    caller: Callable[[], tuple[Principal, str]],
) -> None:
    """Register the library routes on ``app``; ``caller`` authenticates the request and
    names its workspace."""

    def push(name: str, files: dict[str, str], *, create: bool) -> Response[str]:
        who, ws = caller()
        library, version = plane.push_library(who, ws, name, files, create=create)
        body = {"library": library.model_dump(mode="json"), "version": _version_json(version)}
        return Response(201, "application/json", json.dumps(body))

    @app.post("/v1/libraries", responses=errors)
    def create_library(body: LibraryIn) -> Response[str]:
        return push(body.name, body.files, create=True)

    @app.post("/v1/libraries/<name>/versions", responses=errors)
    def push_library_version(name: str, body: LibraryFilesIn) -> Response[str]:
        return push(name, body.files, create=False)

    @app.get("/v1/libraries", responses=errors)
    def list_libraries() -> dict[str, Any]:
        _, ws = caller()
        return {"libraries": [f.model_dump(mode="json") for f in plane.list_libraries(ws)]}

    @app.get("/v1/libraries/<name>", responses=errors)
    def get_library(name: str) -> dict[str, Any]:
        _, ws = caller()
        library = plane.get_library(ws, name)
        versions = plane.list_versions(ws, library.id)
        return {
            "library": library.model_dump(mode="json"),
            "versions": [_version_json(v) for v in versions],
        }

    @app.get("/v1/libraries/<name>/versions/<version_id>", responses=errors)
    def get_library_version(name: str, version_id: str) -> dict[str, Any]:
        _, ws = caller()
        library = plane.get_library(ws, name)
        version, _ = plane.get_version(ws, version_id)
        if version.function_id != library.id:
            raise not_found("version", version_id)
        return {"version": _version_json(version), "files": plane.version_files(version)}
