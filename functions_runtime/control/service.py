"""The control plane's operations, shared by the HTTP API and (later) Lambda.

Every operation takes the calling :class:`Principal` and the workspace it acts in;
records of other workspaces are simply not found. Every change is audited.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..json_limits import problem
from ..manifest import HANDLER_NAME, Manifest, ManifestError, check_settings
from ..sandbox.folder import imported_names
from ..sandbox.host.pool import InstanceSpec, WorkerPool, summarise
from .auth import WRITE_KEY_PREFIX, Principal, hash_key, issue_key, new_secret
from .backend import Backend
from .errors import ServiceError, bad_request, conflict, invalid, not_found
from .libraries import (
    LIBRARY,
    check_library,
    module_files,
    module_files_of,
    pins_for,
    read_files,
)
from .models import AuditEntry, Function, Instance, Source, Version, Workspace, new_id, utcnow
from .ports import ConflictError, NotFoundError, SecretBox
from .uploads import Upload, read_upload

__all__ = ["ControlPlane"]

MASK = "***"
MAX_TEST_EVENTS = 100


class ControlPlane:
    """Functions, versions, instances and sources of workspaces, over one backend."""

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

    # -- libraries (control/libraries.py) ---------------------------------------------------

    def push_library(
        self, who: Principal, ws: str, name: str, files: dict[str, str], *, create: bool = True
    ) -> tuple[Function, Version]:
        """Upload a version of library ``name`` (created on its first push unless
        ``create`` is false: then a missing library is not found); the same files twice
        give the same version."""
        library = self.store.find_function(ws, name)
        if library is None and not create:
            raise not_found("library", name)
        modules, warnings = check_library(name, files)
        upload = Upload("", None, Manifest(name=name), (), tuple(warnings), modules)
        if library is None:
            now = self.clock()
            library = Function(
                id=new_id("fn"),
                workspace_id=ws,
                name=name,
                kind=LIBRARY,
                created_at=now,
                updated_at=now,
            )
            try:
                self.store.create_function(library)
            except ConflictError:
                raise conflict(f"a library or function named {name!r} exists; retry") from None
            self._audit(who, ws, "library.create", library.id, {"name": name})
        elif library.kind != LIBRARY:
            raise conflict(f"{name!r} is a function of this workspace; name the library otherwise")
        version = self._store_version(who, library, upload)
        return self._function(ws, library.id), version

    def list_libraries(self, ws: str) -> list[Function]:
        return [f for f in self.store.list_functions(ws) if f.kind == LIBRARY]

    def _library_names(self, ws: str) -> frozenset[str]:
        return frozenset(f.name for f in self.list_libraries(ws))

    def get_library(self, ws: str, name: str) -> Function:
        library = self.store.find_function(ws, name) or self.store.get_function(ws, name)
        if library is None or library.kind != LIBRARY:
            raise not_found("library", name)
        return library

    def get_function(self, ws: str, ident: str) -> Function:
        return self._function(ws, ident)

    def list_versions(self, ws: str, function_id: str) -> list[Version]:
        function = self._function(ws, function_id)
        return self.store.list_versions(ws, function.id)

    def get_version(self, ws: str, version_id: str) -> tuple[Version, str]:
        version = self._version(ws, version_id)
        return version, self._code(version)

    def version_files(self, version: Version) -> dict[str, str]:
        """Every file of a version: handler.py (not for a library), its other modules,
        function.toml when it had one."""
        files = read_files(self.backend.blobs, version)
        if (
            version.code_key
            and self._function(version.workspace_id, version.function_id).kind != LIBRARY
        ):
            files[HANDLER_NAME] = self._code(version)
        manifest = version.manifest.get("source")
        if isinstance(manifest, str):
            files["function.toml"] = manifest
        return dict(sorted(files.items()))

    def diff_versions(self, ws: str, a: str, b: str) -> str:
        """A unified diff of every file (code, modules, manifest) between two versions;
        handler.py first, then the others by path, function.toml last."""
        va, vb = self._version(ws, a), self._version(ws, b)
        if va.function_id != vb.function_id:
            raise bad_request("both versions must belong to the same function")
        fa, fb = self.version_files(va), self.version_files(vb)
        order = sorted(
            set(fa) | set(fb),
            key=lambda p: (p != HANDLER_NAME, p == "function.toml", p),
        )
        out: list[str] = []
        for path in order:
            out.extend(
                difflib.unified_diff(
                    fa.get(path, "").splitlines(keepends=True),
                    fb.get(path, "").splitlines(keepends=True),
                    f"v{va.number}/{path}" if path in fa else "/dev/null",
                    f"v{vb.number}/{path}" if path in fb else "/dev/null",
                )
            )
        return "".join(out)

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
        secrets = set(_manifest(version).secret_names()) | was_secret
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
        manifest = _manifest(version)
        checked = _check(version, values)
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
        manifest = _manifest(version)
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
        checked = _check(version, values)
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

    def _seal(
        self,
        ws: str,
        instance_id: str,
        manifest: Manifest,
        values: dict[str, Any],
        also_secret: frozenset[str] = frozenset(),
    ) -> tuple[dict[str, Any], str | None]:
        """Split ``values`` into plain settings and the encrypted blob of secret ones:
        the manifest's secret names and ``also_secret`` (names that were secret in the
        instance before: a later manifest that drops ``secret = true`` does not make a
        stored secret plain)."""
        secret_names = set(manifest.secret_names()) | also_secret
        plain = {k: v for k, v in values.items() if k not in secret_names}
        secret = {k: v for k, v in values.items() if k in secret_names}
        if not secret:
            return plain, None
        blob = self.backend.box.encrypt(
            json.dumps(secret).encode(), {"workspace": ws, "instance": instance_id}
        )
        return plain, blob

    def settings_of(self, instance: Instance) -> dict[str, Any]:
        """Decrypted settings: only on the way into the sandbox, never returned by the API."""
        return decrypt_settings(self.backend.box, instance)

    def masked_settings(self, instance: Instance) -> dict[str, Any]:
        version = self.store.get_version(instance.workspace_id, instance.version_id)
        names = set(_manifest(version).secret_names()) if version else set()
        values, sealed = decrypt_settings_and_names(self.backend.box, instance)
        secret = (names & set(values)) | sealed
        shown = {k: v for k, v in instance.settings.items() if k not in secret}
        return {**shown, **{n: MASK for n in sorted(secret)}}

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

    # -- test ----------------------------------------------------------------------------------

    def test(
        self,
        ws: str,
        version_id: str,
        payload: Any,
        *,
        settings: dict[str, Any] | None = None,
        instance_id: str | None = None,
    ) -> dict[str, Any]:
        """Run a version on an event (object) or batch (array); ``functions invoke`` JSON."""
        version, code = self.get_version(ws, version_id)
        manifest = _manifest(version)
        if instance_id is not None:
            instance = self._instance(ws, instance_id)
            if instance.function_id != version.function_id:
                raise bad_request(f"instance {instance_id} belongs to another function")
            values, was_secret = decrypt_settings_and_names(self.backend.box, instance)
            pins = instance.libraries
        else:
            values, was_secret = settings or {}, frozenset()
            pins = pins_for(self.store, ws, version.imports)
        checked = _check(version, values)
        modules = module_files(self.backend.blobs, self.store, ws, version, pins)
        key = "test:" + InstanceSpec.key_for(code, checked, version.id, pins, self.allow)
        spec = spec_for(
            key, code, manifest, checked, self.allow, also_secret=was_secret, modules=modules
        )
        return self._run_test(spec, payload)

    def validate(self, files: dict[str, str], ws: str | None = None) -> dict[str, Any]:
        """Compile an upload without storing it: every problem, as text and by line.

        Problems are ``{"file", "line", "message", "text"}`` (``line`` is 0 when the
        problem has no line); ``ok`` is true when the upload would be accepted, and then
        ``manifest`` is what ``function.toml`` declares (the settings schema included).
        """
        try:
            libraries = self._library_names(ws) if ws is not None else frozenset()
            upload = read_upload(files, None, libraries)
        except ServiceError as exc:
            if exc.code != "validation_failed":
                raise
            return {
                "ok": False,
                "problems": [_problem(text) for text in exc.problems],
                "handlers": [],
                "warnings": [],
                "manifest": None,
            }
        return {
            "ok": True,
            "problems": [],
            "handlers": list(upload.handlers),
            "warnings": [_problem(text) for text in upload.warnings],
            "manifest": upload.manifest.model_dump(mode="json"),
        }

    def test_files(
        self,
        ws: str,
        files: dict[str, str],
        payload: Any,
        *,
        settings: dict[str, Any] | None = None,
        instance_id: str | None = None,
    ) -> dict[str, Any]:
        """Run unsaved code (an upload's ``files``) on an event or batch; nothing is
        stored. With ``instance_id`` the instance's settings are used (its secrets
        decrypted into the sandbox only)."""
        upload = read_upload(files, None, self._library_names(ws))
        was_secret: frozenset[str] = frozenset()
        if instance_id is not None:
            instance = self._instance(ws, instance_id)
            values, was_secret = decrypt_settings_and_names(self.backend.box, instance)
        else:
            values = settings or {}
        if not isinstance(values, dict):
            raise bad_request("settings must be a JSON object")
        try:
            checked = check_settings(
                upload.manifest, values, declared=upload.manifest_text is not None
            )
        except ManifestError as exc:
            raise invalid("the settings do not match the function's schema", exc.problems) from None
        own = {HANDLER_NAME: upload.code, **upload.modules}
        pins = pins_for(self.store, ws, imported_names(own))
        modules = module_files_of(self.backend.blobs, self.store, ws, upload.modules, pins)
        key = "test:" + InstanceSpec.key_for(
            upload.code, checked, upload.content_hash, pins, self.allow
        )
        spec = spec_for(
            key,
            upload.code,
            upload.manifest,
            checked,
            self.allow,
            also_secret=was_secret,
            modules=modules,
        )
        return self._run_test(spec, payload)

    def _run_test(self, spec: InstanceSpec, payload: Any) -> dict[str, Any]:
        batch = isinstance(payload, list)
        events = payload if isinstance(payload, list) else [payload]
        if not events or len(events) > MAX_TEST_EVENTS:
            raise bad_request(f"send one event or a batch of 1 to {MAX_TEST_EVENTS} events")
        # An event JSON cannot carry (NaN, too deep) is rejected alone, as at ingest.
        refused = [_unfit(event) for event in events]
        runnable = [event for event, no in zip(events, refused, strict=True) if no is None]
        ran = iter(self.pool.invoke(spec, runnable, batch=batch) if runnable else [])
        results = [next(ran) if no is None else no for no in refused]
        if not batch:
            return results[0]
        return {
            "outcome": summarise(results),
            "results": results,
            "duration_ms": round(sum(r["duration_ms"] for r in results), 3),
        }

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


def _problem(text: str) -> dict[str, Any]:
    """``"handler.py:3: message"`` as ``{"file", "line", "message", "text"}``."""
    match = _PROBLEM.match(text)
    if match is None:
        return {"file": None, "line": 0, "message": text, "text": text}
    return {
        "file": match["file"],
        "line": int(match["line"] or 0),
        "message": match["message"],
        "text": text,
    }


_PROBLEM = re.compile(
    r"^(?P<file>[\w.-]+\.(?:py|toml)):(?:(?P<line>\d+):)?\s*(?P<message>.*)$", re.S
)


def _manifest(version: Version | None) -> Manifest:
    if version is None:
        return Manifest()
    data = {k: v for k, v in version.manifest.items() if k != "source"}
    return Manifest.model_validate(data)


def _check(version: Version, values: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise bad_request("settings must be a JSON object")
    declared = version.manifest.get("source") is not None
    try:
        return check_settings(_manifest(version), values, declared=declared)
    except ManifestError as exc:
        raise invalid("the settings do not match the function's schema", exc.problems) from None


def decrypt_settings(box: SecretBox, instance: Instance) -> dict[str, Any]:
    """An instance's settings with its secrets decrypted (for the sandbox only)."""
    return decrypt_settings_and_names(box, instance)[0]


def decrypt_settings_and_names(
    box: SecretBox, instance: Instance
) -> tuple[dict[str, Any], frozenset[str]]:
    """:func:`decrypt_settings`, and the names of the settings stored encrypted: secret
    once, secret for good (they stay encrypted and masked even when a later version's
    manifest no longer marks them ``secret``; there is no operation that un-secrets a
    setting: set a new, non-secret setting instead)."""
    values = dict(instance.settings)
    sealed: dict[str, Any] = {}
    if instance.secrets:
        context = {"workspace": instance.workspace_id, "instance": instance.id}
        sealed = json.loads(box.decrypt(instance.secrets, context))
        values.update(sealed)
    return values, frozenset(sealed)


def spec_for(
    key: str,
    code: str,
    manifest: Manifest,
    settings: dict[str, Any],
    allow: tuple[str, ...],
    *,
    also_secret: frozenset[str] = frozenset(),
    modules: tuple[tuple[str, str], ...] = (),
) -> InstanceSpec:
    """What the worker pool needs to run a version's code with these settings
    (``also_secret``: names stored encrypted, masked whatever the manifest says)."""
    return InstanceSpec(
        key=key,
        source=code,
        filename=HANDLER_NAME,
        kind=manifest.kind,
        timeout=manifest.timeout_seconds,
        memory_mb=manifest.memory_mb,
        settings=settings,
        secret_names=tuple(dict.fromkeys((*manifest.secret_names(), *sorted(also_secret)))),
        allow=allow,
        modules=modules,
    )


def _unfit(event: Any) -> dict[str, Any] | None:
    """The ``rejected`` result of an event the sandbox cannot be handed, or None."""
    trouble = problem(event)
    if trouble is None:
        return None
    return {
        "outcome": "rejected",
        "result": None,
        "logs": [],
        "requests": [],
        "duration_ms": 0.0,
        "error": {"type": "InvalidEventPayload", "line": None, "message": f"the event {trouble}"},
    }
