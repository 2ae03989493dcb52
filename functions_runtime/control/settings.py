"""Settings of instances: checking them against a manifest, sealing the secret ones,
decrypting them on the way into the sandbox (only), and masking them in answers.

:class:`SettingsMixin` holds the :class:`~.service.ControlPlane` methods that do this.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..manifest import HANDLER_NAME, Manifest, ManifestError, check_settings
from ..sandbox.host.pool import InstanceSpec
from .errors import bad_request, invalid
from .models import Instance, Version
from .ports import SecretBox

if TYPE_CHECKING:
    from .plane import Plane

__all__ = [
    "MASK",
    "SettingsMixin",
    "check_values",
    "decrypt_settings",
    "decrypt_settings_and_names",
    "manifest_of",
    "spec_for",
]

MASK = "***"


class SettingsMixin:
    """The control plane's settings methods (sealing, decrypting, masking)."""

    def _seal(
        self: Plane,
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

    def settings_of(self: Plane, instance: Instance) -> dict[str, Any]:
        """Decrypted settings: only on the way into the sandbox, never returned by the API."""
        return decrypt_settings(self.backend.box, instance)

    def masked_settings(self: Plane, instance: Instance) -> dict[str, Any]:
        version = self.store.get_version(instance.workspace_id, instance.version_id)
        names = set(manifest_of(version).secret_names()) if version else set()
        values, sealed = decrypt_settings_and_names(self.backend.box, instance)
        secret = (names & set(values)) | sealed
        shown = {k: v for k, v in instance.settings.items() if k not in secret}
        return {**shown, **{n: MASK for n in sorted(secret)}}


def manifest_of(version: Version | None) -> Manifest:
    if version is None:
        return Manifest()
    data = {k: v for k, v in version.manifest.items() if k != "source"}
    return Manifest.model_validate(data)


def check_values(version: Version, values: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise bad_request("settings must be a JSON object")
    declared = version.manifest.get("source") is not None
    try:
        return check_settings(manifest_of(version), values, declared=declared)
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
