"""Test runs and validation of code: a stored version or unsaved files run on an
event or a batch in the sandbox, and uploads compiled without being stored.

:class:`TrialsMixin` holds the :class:`~.service.ControlPlane` methods that do this.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..json_limits import problem
from ..manifest import HANDLER_NAME, ManifestError, check_settings
from ..sandbox.folder import imported_names
from ..sandbox.host.pool import InstanceSpec, summarise
from .errors import ServiceError, bad_request, invalid
from .libraries import module_files, module_files_of, pins_for
from .settings import check_values, decrypt_settings_and_names, manifest_of, spec_for
from .uploads import read_upload

if TYPE_CHECKING:
    from .plane import Plane

__all__ = ["MAX_TEST_EVENTS", "TrialsMixin"]

MAX_TEST_EVENTS = 100


class TrialsMixin:
    """The control plane's test and validate methods."""

    def test(
        self: Plane,
        ws: str,
        version_id: str,
        payload: Any,
        *,
        settings: dict[str, Any] | None = None,
        instance_id: str | None = None,
    ) -> dict[str, Any]:
        """Run a version on an event (object) or batch (array); ``functions invoke`` JSON."""
        version, code = self.get_version(ws, version_id)
        manifest = manifest_of(version)
        if instance_id is not None:
            instance = self._instance(ws, instance_id)
            if instance.function_id != version.function_id:
                raise bad_request(f"instance {instance_id} belongs to another function")
            values, was_secret = decrypt_settings_and_names(self.backend.box, instance)
            pins = instance.libraries
        else:
            values, was_secret = settings or {}, frozenset()
            pins = pins_for(self.store, ws, version.imports)
        checked = check_values(version, values)
        modules = module_files(self.backend.blobs, self.store, ws, version, pins)
        key = "test:" + InstanceSpec.key_for(code, checked, version.id, pins, self.allow)
        spec = spec_for(
            key, code, manifest, checked, self.allow, also_secret=was_secret, modules=modules
        )
        return self._run_test(spec, payload)

    def validate(self: Plane, files: dict[str, str], ws: str | None = None) -> dict[str, Any]:
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
        self: Plane,
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

    def _run_test(self: Plane, spec: InstanceSpec, payload: Any) -> dict[str, Any]:
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
