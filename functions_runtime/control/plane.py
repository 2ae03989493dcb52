"""What the control plane's mixins (libraries, settings, trials, versions) use of it.

:class:`Plane` is the structural type their methods annotate ``self`` with;
:class:`~.service.ControlPlane` is the one class that implements it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from ..sandbox.host.pool import InstanceSpec, WorkerPool
from .auth import Principal
from .backend import Backend
from .models import Function, Instance, Version
from .ports import MetadataStore
from .uploads import Upload

__all__ = ["Plane"]


class Plane(Protocol):
    """The attributes and methods of :class:`~.service.ControlPlane` its mixins call."""

    backend: Backend
    store: MetadataStore
    pool: WorkerPool
    allow: tuple[str, ...]
    clock: Callable[[], datetime]

    def get_version(self, ws: str, version_id: str) -> tuple[Version, str]: ...
    def list_libraries(self, ws: str) -> list[Function]: ...
    def version_files(self, version: Version) -> dict[str, str]: ...
    def _library_names(self, ws: str) -> frozenset[str]: ...
    def _run_test(self, spec: InstanceSpec, payload: Any) -> dict[str, Any]: ...
    def _store_version(self, who: Principal, function: Function, upload: Upload) -> Version: ...
    def _audit(
        self, who: Principal, ws: str, action: str, target: str, details: dict[str, Any]
    ) -> None: ...
    def _function(self, ws: str, ident: str) -> Function: ...
    def _version(self, ws: str, ident: str) -> Version: ...
    def _instance(self, ws: str, ident: str) -> Instance: ...
    def _code(self, version: Version) -> str: ...
