"""The one entry point from ``functions_sdk.testing`` into the runtime: a function folder
on disk, run through the production sandbox.

``functions_sdk.testing`` imports this module and nothing else of ``functions_runtime``;
the CLI's ``invoke`` and the demo use it too, so tests and ``functions invoke`` run the
same path.
"""

from __future__ import annotations

from typing import Any

from ...manifest import ManifestError, check_settings, load_function
from .pool import InstanceSpec, WorkerPool

__all__ = ["ManifestError", "WorkerPool", "build_spec"]


def build_spec(
    path: str, settings: dict[str, Any], *, timeout: float | None, allow: tuple[str, ...]
) -> InstanceSpec:
    """Load a function folder and check settings into a runnable :class:`InstanceSpec`."""
    fn = load_function(path)
    values = check_settings(fn.manifest, settings, declared=fn.declared)
    return InstanceSpec(
        key=InstanceSpec.key_for(
            fn.source, values, fn.filename, timeout, allow, sorted(fn.modules.items())
        ),
        source=fn.source,
        filename=fn.filename,
        kind=fn.manifest.kind,
        timeout=timeout if timeout is not None else fn.manifest.timeout_seconds,
        memory_mb=fn.manifest.memory_mb,
        settings=values,
        secret_names=fn.manifest.secret_names(),
        allow=allow,
        modules=tuple(sorted(fn.modules.items())),
    )
