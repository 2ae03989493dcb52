"""CLI commands that talk to a running ``functions serve`` (or the API on AWS).

They read ``FUNCTIONS_API_URL`` (default ``http://127.0.0.1:8787``) and
``FUNCTIONS_API_KEY``. Errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..manifest import HANDLER_NAME, MANIFEST_NAME, ManifestError, folder_files

__all__ = ["ApiClient", "ApiError", "read_function_files"]

DEFAULT_URL = "http://127.0.0.1:8787"


class ApiError(Exception):
    """The API answered with an error (or could not be reached)."""


class ApiClient:
    """A small JSON client for the control-plane API."""

    def __init__(
        self, url: str | None = None, key: str | None = None, timeout: float = 60.0
    ) -> None:
        self.url = (url or os.environ.get("FUNCTIONS_API_URL") or DEFAULT_URL).rstrip("/")
        self.key = key if key is not None else os.environ.get("FUNCTIONS_API_KEY")
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        if not self.key:
            raise ApiError(
                "FUNCTIONS_API_KEY is not set; `functions serve` prints an admin key on first start"
            )
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ApiError(_describe(exc.code, exc.read())) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(
                f"cannot reach {self.url}: {reason} (is `functions serve` "
                "running? set FUNCTIONS_API_URL)"
            ) from None


def _describe(status: int, raw: bytes) -> str:
    try:
        error = json.loads(raw)["error"]
        text = f"{status} {error['code']}: {error['message']}"
        problems = error.get("problems") or []
        return text + "".join(f"\n  {p}" for p in problems)
    except (ValueError, KeyError, TypeError):
        return f"{status}: {raw[:200].decode('utf-8', 'replace')}"


def read_function_files(path: str) -> dict[str, str]:
    """The files of a function folder (or a lone handler file) for upload: handler.py,
    the folder's other .py files (``manifest.folder_files``) and function.toml."""
    p = Path(path)
    folder, handler = (p, p / HANDLER_NAME) if p.is_dir() else (p.parent, p)
    if not handler.is_file():
        raise ApiError(f"no {HANDLER_NAME} at {path}")
    files = {HANDLER_NAME: handler.read_text(encoding="utf-8")}
    manifest = folder / MANIFEST_NAME
    if handler.name == HANDLER_NAME:
        try:
            files.update(folder_files(folder))
        except ManifestError as exc:
            raise ApiError("; ".join(exc.problems)) from None
        if manifest.is_file():
            files[MANIFEST_NAME] = manifest.read_text(encoding="utf-8")
    return files


def quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
