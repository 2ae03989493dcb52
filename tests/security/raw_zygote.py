"""The proof harness's zygote (test tree only): the production zygote and confinement,
with a worker body that runs plain, unrestricted Python.

Started by ``test_os_confinement.py`` as ``python raw_zygote.py LAYER...``: the same
``zygote.main`` (imports, namespaces, forking, pipes) and the same
``confine.confine`` as production, but each forked worker, once confined, executes the
source of every frame it receives with real builtins (``open``, ``os``, ``socket``,
``ctypes``, ``subprocess``) and answers ``{"ok", "value" | "errno", "error"}``. The
language layer is out of the way: whatever fails here fails because of the OS layers.
Nothing outside ``tests/`` can start this body: it is an argument of ``zygote.main``
that only this file passes.
"""

from __future__ import annotations

import ctypes  # noqa: F401  (imported before confinement: attacks use them)
import errno  # noqa: F401
import mmap  # noqa: F401
import os
import signal  # noqa: F401
import socket  # noqa: F401
import subprocess  # noqa: F401
import sys

from functions_runtime.sandbox.guest import confine, worker, zygote
from functions_runtime.sandbox.guest.protocol import read_frame, write_frame


def body(layers: confine.Layers) -> None:
    out = worker.prepare()
    confine.set_parent_death_kill()
    applied = confine.confine(layers)
    write_frame(out, {"confinement": applied.layers, "pid": os.getpid()})
    while True:
        message = read_frame(0)
        scope: dict[str, object] = {"__name__": "attack", "os": os, **message.get("vars", {})}
        try:
            exec(message["source"], scope)
            write_frame(out, {"ok": True, "value": repr(scope.get("result"))})
        except OSError as exc:
            write_frame(out, {"ok": False, "errno": exc.errno, "error": repr(exc)})
        except Exception as exc:
            write_frame(out, {"ok": False, "errno": None, "error": repr(exc)})


if __name__ == "__main__":
    names = [name for name in sys.argv[1:] if name != "none"]
    chosen = confine.Layers() if names == ["all"] else confine.Layers.only(*names)
    zygote.main(body=lambda: body(chosen))
