"""The control plane's operations, shared by the HTTP API and (later) Lambda.

Every operation takes the calling :class:`Principal` and the workspace it acts in;
records of other workspaces are simply not found. Every change is audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..manifest import HANDLER_NAME
from ..sandbox.folder import imported_names
from ..sandbox.host.pool import WorkerPool
from .auth import WRITE_KEY_PREFIX, Principal, hash_key, issue_key, new_secret
from .backend import Backend
from .errors import ServiceError, bad_request, conflict, invalid, not_found
from .libraries import LIBRARY, LibrariesMixin, pins_for
from .models import AuditEntry, Function, Instance, Source, Version, Workspace, new_id, utcnow
from .ports import ConflictError, NotFoundError
from .settings import (
    MASK,
    SettingsMixin,
    check_values,
    decrypt_settings,
    decrypt_settings_and_names,
    manifest_of,
    spec_for,
)
from .trials import MAX_TEST_EVENTS, TrialsMixin
from .uploads import Upload, read_upload
from .versions import VersionsMixin

__all__ = [
    "MASK",
    "MAX_TEST_EVENTS",
    "ControlPlane",
    "decrypt_settings",
    "decrypt_settings_and_names",
    "spec_for",
]


class ControlPlane(LibrariesMixin, VersionsMixin, SettingsMixin, TrialsMixin):
    """Functions, versions, instances and sources of workspaces, over one backend.

    Libraries, version files and diffs, settings (sealing, masking) and test runs are
    methods of its mixins: ``libraries.py``, ``versions.py``, ``settings.py``,
    ``trials.py`` (their ``self`` is a :class:`~.plane.Plane`)."""

    def __init__(
        self,
        backend: Backend,
        pool: WorkerPool,
        *,
        allow: tuple[str, ...] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.backend = backend
        self.store = backend.metadata
        self.pool = pool
        self.allow = allow
        self.clock = clock

    # -- workspaces and keys (admin) ------------------------------------------------------

    def bootstrap(self, admin_key: str | None) -> tuple[str | None, Workspace]:
        """Ensure an admin key and a ``default`` workspace exist.

        Returns the admin key when one was generated now (to print once), else None.
        """
        generated = None
        if admin_key is not None:
            if self.store.find_api_key(hash_key(admin_key)) is None:
                issue_key(self.store, None, key=admin_key)
        elif not self.store.has_admin_key():
            generated = issue_key(self.store, None)
        default = next((w for w in self.store.list_workspaces() if w.name == "default"), None)
        if default is None:
            default = Workspace(id=new_id("ws"), name="default", created_at=self.clock())
            self.store.create_workspace(default)
        return generated, default

    def create_workspace(self, who: Principal, name: str) -> tuple[Workspace, str]:
        self._admin(who)
        if any(w.name == name for w in self.store.list_workspaces()):
            raise conflict(f"a workspace named {name!r} exists")
        workspace = Workspace(id=new_id("ws"), name=name, created_at=self.clock())
        self.store.create_workspace(workspace)
        key = issue_key(self.store, workspace)
        self._audit(who, workspace.id, "workspace.create", workspace.id, {"name": name})
        return workspace, key

    def list_workspaces(self, who: Principal) -> list[Workspace]:
        self._admin(who)
        return self.store.list_workspaces()

    def create_key(self, who: Principal, workspace_id: str) -> str:
        self._admin(who)
        workspace = self.store.get_workspace(workspace_id)
        if workspace is None:
            raise not_found("workspace", workspace_id)
        key = issue_key(self.store, workspace)
        self._audit(who, workspace.id, "key.create", workspace.id, {})
        return key

    def workspace_for(self, who: Principal, requested: str | None) -> str:
        """The workspace a request acts in: the key's own, or (admin) the one asked for."""
        if who.admin:
            if requested is None:
                default = next(
                    (w for w in self.store.list_workspaces() if w.name == "default"), None
                )
                if default is None:
                    raise bad_request("admin keys must name a workspace (X-Functions-Workspace)")
                return default.id
            if self.store.get_workspace(requested) is None:
                raise ServiceError(404, "not_found", f"workspace {requested!r} does not exist")
            return requested
        assert who.workspace_id is not None
        if requested is not None and requested != who.workspace_id:
            raise ServiceError(403, "forbidden", "this API key belongs to another workspace")
        return who.workspace_id

    # -- functions and versions --------------------------------------------------------------

    def create_function(
        self,
        who: Principal,
        ws: str,
        *,
        files: dict[str, str] | None = None,
        zip_data: str | None = None,
        name: str | None = None,
    ) -> tuple[Function, Version]:
        upload = read_upload(files, zip_data, self._library_names(ws))
        fn_name = name or upload.manifest.name
        if self.store.find_function(ws, fn_name) is not None:
            raise conflict(f"a function named {fn_name!r} exists; upload a new version to it")
        now = self.clock()
        function = Function(
            id=new_id("fn"),
            workspace_id=ws,
            name=fn_name,
            kind=upload.manifest.kind,
            created_at=now,
            updated_at=now,
        )
        try:
            self.store.create_function(function)
        except ConflictError:
            raise conflict(f"a function named {fn_name!r} exists") from None
        self._audit(who, ws, "function.create", function.id, {"name": fn_name})
        version = self._store_version(who, function, upload)
        return self._function(ws, function.id), version

    def upload_version(
        self,
        who: Principal,
        ws: str,
        function_id: str,
        *,
        files: dict[str, str] | None = None,
        zip_data: str | None = None,
    ) -> Version:
        function = self._function(ws, function_id)
        upload = read_upload(files, zip_data, self._library_names(ws))
        if upload.manifest.kind != function.kind:
            raise invalid(
                "the function's kind cannot change",
                [f"function.toml:1: kind: {function.kind} expected, got {upload.manifest.kind}"],
            )
        return self._store_version(who, function, upload)

    def _store_version(self, who: Principal, function: Function, upload: Upload) -> Version:
        for existing in self.store.list_versions(function.workspace_id, function.id):
            if existing.content_hash == upload.content_hash:
                return existing  # same content: same version
        code_key = self.backend.blobs.put(upload.code.encode("utf-8"))
        if upload.manifest_text is not None:
            self.backend.blobs.put(upload.manifest_text.encode("utf-8"))
        files = {
            path: self.backend.blobs.put(text.encode("utf-8"))
            for path, text in sorted(upload.modules.items())
        }
        version = Version(
            # Content-derived, per function: the same code in two functions is two versions.
            id="ver_"
            + hashlib.sha256(f"{function.id}:{upload.content_hash}".encode()).hexdigest()[:20],
            function_id=function.id,
            workspace_id=function.workspace_id,
            number=function.version_count + 1,
            code_key=code_key,
            content_hash=upload.content_hash,
            manifest={**upload.manifest.model_dump(mode="json"), "source": upload.manifest_text},
            handlers=list(upload.handlers),
            warnings=list(upload.warnings),
            files=files,
            imports=imported_names({HANDLER_NAME: upload.code, **upload.modules}),
            author=who.key_id,
            created_at=self.clock(),
        )
        try:
            self.store.add_version(version)
        except ConflictError:
            raise conflict("another version was uploaded at the same time; retry") from None
        self._audit(
            who,
            function.workspace_id,
            "version.upload",
            version.id,
            {"function": function.id, "number": version.number},
        )
        return version

    def list_functions(self, ws: str) -> list[Function]:
        return [
            f for f in self.store.list_functions(ws) if f.kind != LIBRARY and f.deleted_at is None
        ]

    def get_function(self, ws: str, ident: str) -> Function:
        return self._function(ws, ident)

    def list_versions(self, ws: str, function_id: str) -> list[Version]:
        function = self._function(ws, function_id)
        return self.store.list_versions(ws, function.id)

    def get_version(self, ws: str, version_id: str) -> tuple[Version, str]:
        version = self._version(ws, version_id)
        return version, self._code(version)

    # -- instances ---------------------------------------------------------------------------

    def deploy(
        self,
        who: Principal,
        ws: str,
        function_id: str,
        *,
        version_id: str | None = None,
        source_id: str | None = None,
        settings: dict[str, Any] | None = None,
        instance_id: str | None = None,
        insert_id: str | None = None,
    ) -> Instance:
        """Deploy a version (default: the latest) to an instance, creating it if needed.

        ``insert_id`` names an insert function's instance to run before this one
        (``""`` detaches it).
        """
        function = self._function(ws, function_id)
        if function.kind == LIBRARY:
            raise bad_request(
                f"{function.name} is a library: functions import it, it is not deployed"
            )
        version = self._version(ws, version_id or function.latest_version or "")
        if version.function_id != function.id:
            raise bad_request(f"version {version.id} belongs to another function")
        if source_id is not None:
            source_id = self._source(ws, source_id).id
        if insert_id:
            self._check_insert(ws, insert_id, function)
        current = self._find_instance(ws, function.id, source_id, instance_id)
        if current is None:
            created = self._create_instance(who, ws, function, version, source_id, settings or {})
            if not insert_id:
                return created
            current = created
        if insert_id is not None and insert_id != (current.insert_id or ""):
            current = self._attach_insert(who, current, insert_id or None)
        return self._update(
            who,
            current,
            version,
            settings,
            source_id=source_id,
            action="instance.deploy",
            repin=True,
        )

    def _check_insert(self, ws: str, insert_id: str, function: Function) -> None:
        insert = self._instance(ws, insert_id)
        insert_fn = self._function(ws, insert.function_id)
        if insert_fn.kind != "insert":
            raise bad_request(f"instance {insert_id} is a {insert_fn.kind} function, not insert")
        if function.kind != "destination":
            raise bad_request("only destination instances take an insert function")

    def _attach_insert(self, who: Principal, instance: Instance, insert_id: str | None) -> Instance:
        updated = instance.model_copy(
            update={
                "insert_id": insert_id,
                "revision": instance.revision + 1,
                "updated_at": self.clock(),
            }
        )
        try:
            self.store.update_instance(updated, expected_revision=instance.revision)
        except ConflictError:
            raise conflict("the instance changed while this request ran; retry") from None
        self._audit(
            who, instance.workspace_id, "instance.insert", instance.id, {"insert": insert_id}
        )
        return updated

    def rollback(self, who: Principal, ws: str, instance_id: str, version_id: str) -> Instance:
        instance = self._instance(ws, instance_id)
        version = self._version(ws, version_id)
        if version.function_id != instance.function_id:
            raise bad_request(f"version {version.id} belongs to another function")
        return self._update(who, instance, version, None, action="instance.rollback", repin=True)

    def update_instance(
        self,
        who: Principal,
        ws: str,
        instance_id: str,
        *,
        settings: dict[str, Any] | None = None,
        enabled: bool | None = None,
        batch_max_count: int | None = None,
        batch_wait_seconds: float | None = None,
    ) -> Instance:
        instance = self._instance(ws, instance_id)
        version = self._version(ws, instance.version_id)
        batching = {
            k: v
            for k, v in (
                ("batch_max_count", batch_max_count),
                ("batch_wait_seconds", batch_wait_seconds),
            )
            if v is not None
        }
        if batching:
            instance = Instance.model_validate({**instance.model_dump(), **batching})
        merged = None if settings is None else self._merge(instance, version, settings)
        return self._update(
            who,
            instance,
            version,
            merged,
            enabled=enabled,
            action="instance.update",
            exact=merged is not None,
        )

    def _merge(
        self, instance: Instance, version: Version, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """PATCH semantics: the given settings replace theirs, ``null`` removes one, the
        rest stay (a secret given as ``***`` stays as it is)."""
        if not isinstance(changes, dict):
            raise bad_request("settings must be a JSON object")
        values, was_secret = decrypt_settings_and_names(self.backend.box, instance)
        secrets = set(manifest_of(version).secret_names()) | was_secret
        for name, value in changes.items():
            if value is None:
                values.pop(name, None)
            elif not (value == MASK and name in secrets):
                values[name] = value
        return values

    def list_instances(self, ws: str, function_id: str | None = None) -> list[Instance]:
        return [i for i in self.store.list_instances(ws, function_id) if i.deleted_at is None]

    def get_instance(self, ws: str, instance_id: str) -> Instance:
        return self._instance(ws, instance_id)

    def _find_instance(
        self, ws: str, function_id: str, source_id: str | None, instance_id: str | None
    ) -> Instance | None:
        if instance_id is not None:
            instance = self._instance(ws, instance_id)
            if instance.function_id != function_id:
                raise bad_request(f"instance {instance_id} belongs to another function")
            return instance
        candidates = self.list_instances(ws, function_id)
        if source_id is not None:
            candidates = [i for i in candidates if i.source_id == source_id]
        if len(candidates) > 1:
            raise bad_request(
                f"the function has {len(candidates)} instances here; name the instance to deploy"
            )
        return candidates[0] if candidates else None

    def _create_instance(
        self,
        who: Principal,
        ws: str,
        function: Function,
        version: Version,
        source_id: str | None,
        values: dict[str, Any],
    ) -> Instance:
        manifest = manifest_of(version)
        checked = check_values(version, values)
        now = self.clock()
        instance_id = new_id("in")
        plain, sealed = self._seal(ws, instance_id, manifest, checked)
        instance = Instance(
            id=instance_id,
            workspace_id=ws,
            function_id=function.id,
            version_id=version.id,
            source_id=source_id,
            settings=plain,
            secrets=sealed,
            libraries=pins_for(self.store, ws, version.imports),
            created_at=now,
            updated_at=now,
        )
        self.store.create_instance(instance)
        self._audit(
            who, ws, "instance.create", instance.id, {"version": version.id, "source": source_id}
        )
        return instance

    def _update(
        self,
        who: Principal,
        instance: Instance,
        version: Version,
        settings: dict[str, Any] | None,
        *,
        action: str,
        enabled: bool | None = None,
        source_id: str | None = None,
        exact: bool = False,
        repin: bool = False,
    ) -> Instance:
        """``repin``: pin the version's libraries at their latest versions (a deploy or
        a rollback); otherwise the instance keeps its pins."""
        manifest = manifest_of(version)
        previous, was_secret = decrypt_settings_and_names(self.backend.box, instance)
        # A setting once secret stays secret, whatever this version's manifest says.
        secret_names = set(manifest.secret_names()) | was_secret
        values = dict(previous)
        dropped: list[str] = []
        if settings is None and version.manifest.get("source") is not None:
            # Settings follow the version: a value the version does not declare (a
            # rollback to before it existed) is dropped, and named in the audit entry.
            dropped = sorted(k for k in values if k not in manifest.settings)
            values = {k: v for k, v in values.items() if k in manifest.settings}
        elif settings is not None and exact:
            values = dict(settings)
        elif settings is not None:
            values = {k: v for k, v in settings.items() if not (v == MASK and k in secret_names)}
            for name in secret_names:  # secrets omitted or masked: keep them
                if name not in values and name in previous:
                    values[name] = previous[name]
        checked = check_values(version, values)
        plain, sealed = self._seal(
            instance.workspace_id, instance.id, manifest, checked, also_secret=was_secret
        )
        updated = instance.model_copy(
            update={
                "version_id": version.id,
                "settings": plain,
                "secrets": sealed,
                "enabled": instance.enabled if enabled is None else enabled,
                "source_id": source_id if source_id is not None else instance.source_id,
                "libraries": (
                    pins_for(self.store, instance.workspace_id, version.imports)
                    if repin
                    else instance.libraries
                ),
                "revision": instance.revision + 1,
                "updated_at": self.clock(),
            }
        )
        try:
            self.store.update_instance(updated, expected_revision=instance.revision)
        except ConflictError:
            raise conflict("the instance changed while this request ran; retry") from None
        except NotFoundError:
            raise not_found("instance", instance.id) from None
        self._audit(
            who,
            instance.workspace_id,
            action,
            instance.id,
            {
                "version": version.id,
                "from_version": instance.version_id,
                "enabled": updated.enabled,
                **({"libraries": updated.libraries} if updated.libraries else {}),
                **({"dropped_settings": dropped} if dropped else {}),
            },
        )
        return updated

    # -- sources -------------------------------------------------------------------------------

    def create_source(self, who: Principal, ws: str, name: str) -> tuple[Source, str]:
        write_key = new_secret(WRITE_KEY_PREFIX)
        source = Source(
            id=new_id("src"),
            workspace_id=ws,
            name=name,
            write_key_hash=hash_key(write_key),
            created_at=self.clock(),
        )
        try:
            self.store.create_source(source)
        except ConflictError:
            raise conflict(f"a source named {name!r} exists") from None
        self._audit(who, ws, "source.create", source.id, {"name": name})
        return source, write_key

    def list_sources(self, ws: str) -> list[Source]:
        return [s for s in self.store.list_sources(ws) if s.deleted_at is None]

    def find_source(self, ws: str, ident: str) -> Source:
        return self._source(ws, ident)

    def audit(self, ws: str, limit: int = 100) -> list[AuditEntry]:
        return self.store.list_audit(ws, max(1, min(limit, 1000)))

    # -- helpers -------------------------------------------------------------------------------

    def _admin(self, who: Principal) -> None:
        if not who.admin:
            raise ServiceError(403, "forbidden", "this needs an admin API key")

    def _audit(
        self, who: Principal, ws: str, action: str, target: str, details: dict[str, Any]
    ) -> None:
        self.store.append_audit(
            AuditEntry(
                id=new_id("au"),
                workspace_id=ws,
                actor=who.key_id,
                action=action,
                target=target,
                at=self.clock(),
                details=details,
            )
        )

    def _function(self, ws: str, ident: str) -> Function:
        function = self.store.get_function(ws, ident) or self.store.find_function(ws, ident)
        if function is None or function.deleted_at is not None:
            raise not_found("function", ident)
        return function

    def _version(self, ws: str, ident: str) -> Version:
        version = self.store.get_version(ws, ident)
        if version is None:
            raise not_found("version", ident)
        return version

    def _instance(self, ws: str, ident: str) -> Instance:
        instance = self.store.get_instance(ws, ident)
        if instance is None or instance.deleted_at is not None:
            raise not_found("instance", ident)
        return instance

    def _source(self, ws: str, ident: str) -> Source:
        source = self.store.get_source(ws, ident) or self.store.find_source(ws, ident)
        if source is None or source.deleted_at is not None:
            raise not_found("source", ident)
        return source

    def _code(self, version: Version) -> str:
        try:
            return self.backend.blobs.get(version.code_key).decode("utf-8")
        except NotFoundError:
            raise ServiceError(500, "internal", f"code of {version.id} is missing") from None
