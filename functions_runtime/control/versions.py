"""The files of a version and the diff between two versions of a function.

:class:`VersionsMixin` holds the :class:`~.service.ControlPlane` methods that do this.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from ..manifest import HANDLER_NAME
from .errors import bad_request
from .libraries import LIBRARY, read_files
from .models import Version

if TYPE_CHECKING:
    from .plane import Plane

__all__ = ["VersionsMixin"]


class VersionsMixin:
    """The control plane's version methods (files of a version, diffs)."""

    def version_files(self: Plane, version: Version) -> dict[str, str]:
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

    def diff_versions(self: Plane, ws: str, a: str, b: str) -> str:
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
