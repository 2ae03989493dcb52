"""A function's code as a worker loads it: compiled once by the host, sent marshalled.

A worker used to compile its instance's source itself (RestrictedPython's transform
and CPython's compiler: about 5 ms for the bench's handler), and every worker of the
same code compiled it again, so each miss of the long tail paid a compile
(docs/PERFORMANCE.md). Now the host's pool compiles each code once
(:func:`compile_load`, the very steps the worker ran, with the same policies), keeps
the marshalled result by code digest, and sends it in the load frame; the worker
only unmarshals it (:func:`unpack`, about 0.1 ms).

What this does not change: the code is compiled from the same source under the same
policy, so its byte code is the same as a worker's own compile made; the host already
compiled untrusted sources (the control plane does at every deploy, under the same
bounds); the worker trusts only its own pipe from the host, as it trusts the settings
and events that come through it; and a code of one source compiles to one payload, so
two instances that share a payload share nothing but identical source.
"""

from __future__ import annotations

import base64
import marshal
from collections.abc import Mapping
from dataclasses import dataclass
from types import CodeType

from .compiler import compile_function
from .folder import ModuleCode, compile_modules, local_names
from .local_imports import folder_policy
from .policy import FunctionsPolicy

__all__ = ["Loadable", "compile_load", "pack", "unpack"]


@dataclass(frozen=True)
class Loadable:
    """A function's compiled code: the handler, its handler names, its own modules."""

    code: CodeType
    handlers: tuple[str, ...]
    modules: dict[str, ModuleCode]


def compile_load(
    source: str, filename: str, kind: str, modules: Mapping[str, str]
) -> tuple[list[str], Loadable | None]:
    """Compile a load frame's code: its problems (``path:line: message``; empty when it
    compiled) and the code when there are none."""
    local = local_names(modules) | {"handler"}
    policy = folder_policy(local, frozenset(), "") if modules else FunctionsPolicy
    report = compile_function(source, filename, kind, policy)
    folder = compile_modules(modules, local=local) if report.ok else None
    errors = [*report.errors, *(folder.errors if folder is not None else [])]
    if errors or report.code is None or folder is None:
        return [str(problem) for problem in errors], None
    return [], Loadable(report.code, report.handlers, folder.modules)


def pack(loadable: Loadable) -> str:
    """``loadable`` as text for a JSON frame (marshal, then base64)."""
    modules = tuple(
        (module.name, module.filename, module.code, module.package)
        for module in loadable.modules.values()
    )
    data = marshal.dumps((loadable.code, loadable.handlers, modules))
    return base64.b64encode(data).decode("ascii")


def unpack(text: str) -> Loadable:
    """What :func:`pack` made (from the host: the worker trusts its own pipe)."""
    code, handlers, modules = marshal.loads(base64.b64decode(text))
    own = {name: ModuleCode(name, path, body, package) for name, path, body, package in modules}
    return Loadable(code, tuple(handlers), own)
