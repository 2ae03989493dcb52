"""``functions libraries push PATH`` / ``list`` / ``show NAME``: a workspace's shared
libraries (``control/libraries.py``), through the API like ``deploy``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..manifest import MAX_SOURCE_BYTES, ManifestError, folder_files
from .client import ApiClient, ApiError, progress, quote

__all__ = ["add_library_commands", "read_library_files"]


def read_library_files(path: str) -> tuple[str, dict[str, str]]:
    """A library's name and files: a folder (``acme_utils/`` with ``__init__.py``) or a
    lone module (``acme_utils.py``, sent as the package's ``__init__.py``)."""
    p = Path(path)
    if p.is_file() and p.suffix == ".py":
        data = p.read_bytes()
        if len(data) > MAX_SOURCE_BYTES:
            raise ApiError(f"{p} is over {MAX_SOURCE_BYTES} bytes")
        return p.stem, {"__init__.py": data.decode("utf-8")}
    if not (p / "__init__.py").is_file():
        raise ApiError(f"{path}: a library is a folder with __init__.py, or one .py file")
    try:
        files = folder_files(p)
    except ManifestError as exc:
        raise ApiError("; ".join(exc.problems)) from None
    return p.resolve().name, files


def cmd_push(args: argparse.Namespace) -> int:
    name, files = read_library_files(args.path)
    name = args.name or name
    api = ApiClient()
    progress(f"pushing library {name} ({len(files)} files) ...")
    try:
        answer = api.call("POST", f"/v1/libraries/{quote(name)}/versions", {"files": files})
    except ApiError as exc:
        if not str(exc).startswith("404"):
            raise
        answer = api.call("POST", "/v1/libraries", {"name": name, "files": files})
    version = answer["version"]
    _print(
        {
            "library": name,
            "version": version["id"],
            "number": version["number"],
            "files": version["files"],
        }
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    libraries = ApiClient().call("GET", "/v1/libraries")["libraries"]
    if args.json:
        _print(libraries)
        return 0
    print(f"{'name':<30} {'versions':>8}  latest")
    for lib in libraries:
        print(f"{lib['name']:<30} {lib['version_count']:>8}  {lib['latest_version'] or ''}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    _print(ApiClient().call("GET", f"/v1/libraries/{quote(args.name)}"))
    return 0


def _print(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def add_library_commands(sub: Any) -> None:
    libraries = sub.add_parser("libraries", help="a workspace's shared libraries")
    lib_sub = libraries.add_subparsers(dest="libraries_command", required=True, metavar="ACTION")
    push = lib_sub.add_parser(
        "push", help="upload a library folder (with __init__.py) or .py file as a new version"
    )
    push.add_argument("path")
    push.add_argument("--name", help="the library's name (default: the folder or file name)")
    push.set_defaults(run=cmd_push)
    listing = lib_sub.add_parser("list", help="list the workspace's libraries")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=cmd_list)
    show = lib_sub.add_parser("show", help="a library and its versions, as JSON")
    show.add_argument("name")
    show.set_defaults(run=cmd_show)
