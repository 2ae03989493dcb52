"""A real control plane on the embedded backend (SQLite and the local secret box), in
process, for the tests that drive ``ControlPlane`` directly. Its pool is only a
dependency: nothing here starts a worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from functions_runtime.control.auth import Principal
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.models import utcnow
from functions_runtime.control.service import ControlPlane
from functions_runtime.sandbox.host.pool import WorkerPool

ADMIN = Principal("key_admin", None, True)
# A handler and a manifest with a required plain setting and a secret one.
GREETER = "def on_track(event, settings):\n    return settings.get_str('greeting')\n"
GREETER_MANIFEST = """
name = "greeter"
[settings.greeting]
type = "string"
required = true
[settings.token]
type = "string"
secret = true
"""


class EmbeddedPlane:
    """The plane, its backend and pool, and the bootstrapped ``default`` workspace (``ws``)."""

    def __init__(self, tmp_path: Path, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.backend = open_embedded(tmp_path / "data")
        self.pool = WorkerPool(max_workers=1, spares=0)
        self.plane = ControlPlane(self.backend, self.pool, clock=clock)
        _, self.default = self.plane.bootstrap("admin")
        self.ws = self.default.id

    def close(self) -> None:
        self.pool.close()
