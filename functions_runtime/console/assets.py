"""The console's built files, looked up by URL path, with the headers they are served with.

``make console`` builds ``console/`` (Vite) into ``static/`` beside this module: an
``index.html`` and content-hashed files under ``assets/``. Nothing else is served: a
path is looked up in the set of files that exist, never joined onto a directory.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["CONTENT_SECURITY_POLICY", "Asset", "find", "index"]

STATIC = Path(__file__).resolve().parent / "static"

# Everything comes from this origin; no inline script, no plugins, no framing. The one
# inline thing allowed is the <style> element CodeMirror writes its theme into, by a
# nonce that is new for every page load (the page hands it to CodeMirror's cspNonce).
NONCE_PLACEHOLDER = "__CSP_NONCE__"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'nonce-" + NONCE_PLACEHOLDER + "'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
NOT_BUILT = (
    "<!doctype html><title>Functions console</title>"
    "<p>The console is not built: run <code>make console</code>, then reload.</p>"
)


@dataclass(frozen=True)
class Asset:
    """One file to answer with: its text, content type and response headers."""

    body: str
    content_type: str
    headers: dict[str, str]


@cache
def _files() -> dict[str, Path]:
    if not STATIC.is_dir():
        return {}
    return {
        path.relative_to(STATIC).as_posix(): path
        for path in STATIC.rglob("*")
        if path.is_file() and path.suffix in TYPES
    }


def _headers(cache_control: str, nonce: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY.replace(NONCE_PLACEHOLDER, nonce),
        **SECURITY_HEADERS,
        "Cache-Control": cache_control,
    }


def index() -> Asset:
    """The console's page (or a page saying how to build it), with a fresh style nonce
    in its Content-Security-Policy and in its ``csp-nonce`` meta element."""
    nonce = secrets.token_urlsafe(18)
    path = _files().get("index.html")
    if path is None:
        return Asset(NOT_BUILT, TYPES[".html"], _headers("no-store", nonce))
    body = path.read_text(encoding="utf-8").replace(NONCE_PLACEHOLDER, nonce)
    return Asset(body, TYPES[".html"], _headers("no-store", nonce))


def find(name: str) -> Asset | None:
    """A built file under ``assets/`` (its name carries a content hash), or None."""
    path = _files().get(f"assets/{name}")
    if path is None:
        return None
    # Scripts and styles need no nonce of their own: they are loaded from 'self'.
    headers = _headers("public, max-age=31536000, immutable", secrets.token_urlsafe(18))
    return Asset(path.read_text(encoding="utf-8"), TYPES[path.suffix], headers)
