"""Shared libraries and the files a version runs with.

A library is a workspace's shared helper code (``acme_utils``), uploaded and versioned
like a function: it is stored as a :class:`Function` of kind ``library`` whose versions
hold its modules (``acme_utils/__init__.py``, ``acme_utils/http.py``), so both stores
keep it with the code they already have, and its name is unique among the workspace's
functions and libraries. Functions of that workspace import it by name; which version
they get is pinned on the instance when it is deployed (:func:`pins_for`): pushing a
library never changes a deployed instance until it is deployed again. A library of
another workspace is never found (every lookup is by workspace).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal

from ..manifest import Manifest
from .auth import Principal
from .errors import ServiceError, bad_request, conflict, invalid, not_found
from .models import Function, Version, new_id
from .ports import BlobStore, ConflictError, MetadataStore, NotFoundError

if TYPE_CHECKING:
    from .plane import Plane

__all__ = [
    "LIBRARY",
    "LibrariesMixin",
    "check_library",
    "module_files",
    "module_files_of",
    "pins_for",
    "read_files",
]

LIBRARY: Final[Literal["library"]] = "library"


def check_library(name: str, files: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Validate a library upload (path in its folder -> source): returns its files under
    ``name/`` and the compiler's warnings; every problem raises one 422."""
    if not isinstance(files, Mapping) or not files:
        raise bad_request('send the library\'s files: {"files": {"__init__.py": "..."}}')
    for path, text in files.items():
        if not isinstance(path, str) or not isinstance(text, str):
            raise bad_request("files maps each path to its text")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(
                "the library failed validation; nothing was stored",
                [f"{name}/{path}:1: not valid UTF-8 text (a lone surrogate)"],
            ) from None
    # The compiler (RestrictedPython, the sandbox's module table, the SDK's event models)
    # only when a library is uploaded: the worker Lambda imports this module for
    # module_files and pins_for (docs/PERFORMANCE.md, "Lambda cold start").
    from ..sandbox.folder import compile_library

    report = compile_library(name, files)
    if report.errors:
        raise invalid(
            "the library failed validation; nothing was stored", [str(p) for p in report.errors]
        )
    if f"{name}/__init__.py" not in {f"{name}/{path}" for path in files}:
        raise invalid(
            "the library failed validation; nothing was stored",
            [f"{name}/__init__.py:1: a library needs an __init__.py (what `import {name}` gives)"],
        )
    return {f"{name}/{path}": text for path, text in files.items()}, [
        str(w) for w in report.warnings
    ]


def pins_for(store: MetadataStore, ws: str, imports: list[str]) -> dict[str, str]:
    """The workspace's libraries among ``imports`` (a version's), each at its latest
    version."""
    pins: dict[str, str] = {}
    for name in imports:
        library = store.find_function(ws, name)
        if library is not None and library.kind == LIBRARY and library.latest_version:
            pins[name] = library.latest_version
    return pins


def read_files(blobs: BlobStore, version: Version) -> dict[str, str]:
    """A version's files other than ``handler.py`` (path -> text)."""
    try:
        return {path: blobs.get(key).decode("utf-8") for path, key in version.files.items()}
    except NotFoundError:
        raise ServiceError(500, "internal", f"a file of {version.id} is missing") from None


def module_files(
    blobs: BlobStore,
    store: MetadataStore,
    ws: str,
    version: Version,
    pins: Mapping[str, str],
) -> tuple[tuple[str, str], ...]:
    """What the worker gets beside the handler: the version's own modules and the
    pinned libraries' modules."""
    return module_files_of(blobs, store, ws, read_files(blobs, version), pins)


def module_files_of(
    blobs: BlobStore,
    store: MetadataStore,
    ws: str,
    own: Mapping[str, str],
    pins: Mapping[str, str],
) -> tuple[tuple[str, str], ...]:
    """``own`` modules (path -> text), then the pinned libraries' modules; a library
    whose name the function's own files take is left out (its own module wins, as a
    script's folder does in Python)."""
    files = dict(own)
    taken = {path.split("/", 1)[0].removesuffix(".py") for path in own}
    for name, version_id in sorted(pins.items()):
        if name in taken:
            continue
        library_version = store.get_version(ws, version_id)
        if library_version is None:  # never deleted today; fail closed if it were
            raise ServiceError(500, "internal", f"library version {version_id} is missing")
        files.update(read_files(blobs, library_version))
    return tuple(sorted(files.items()))


class LibrariesMixin:
    """The control plane's library methods (push, list, get)."""

    def push_library(
        self: Plane,
        who: Principal,
        ws: str,
        name: str,
        files: dict[str, str],
        *,
        create: bool = True,
    ) -> tuple[Function, Version]:
        """Upload a version of library ``name`` (created on its first push unless
        ``create`` is false: then a missing library is not found); the same files twice
        give the same version."""
        library = self.store.find_function(ws, name)
        if library is None and not create:
            raise not_found("library", name)
        from .uploads import Upload  # with the compiler: see check_library

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

    def list_libraries(self: Plane, ws: str) -> list[Function]:
        return [f for f in self.store.list_functions(ws) if f.kind == LIBRARY]

    def _library_names(self: Plane, ws: str) -> frozenset[str]:
        return frozenset(f.name for f in self.list_libraries(ws))

    def get_library(self: Plane, ws: str, name: str) -> Function:
        library = self.store.find_function(ws, name) or self.store.get_function(ws, name)
        if library is None or library.kind != LIBRARY:
            raise not_found("library", name)
        return library
