"""The function manifest (``function.toml``) and loading a function folder.

A function is a folder with ``handler.py`` and, optionally, ``function.toml``::

    name = "signed-webhook"
    kind = "destination"          # destination | insert | source
    timeout_seconds = 5
    memory_mb = 256

    [settings.url]
    type = "string"               # string | text | number | boolean | array | map
    required = true
    description = "Where events are POSTed"

    [settings.signing_secret]
    type = "string"
    secret = true

    [retry]                       # optional; the deployment's defaults otherwise
    attempts = 8                  # 1 to 9 attempts per event before it is dead-lettered
    window_seconds = 14400        # spread over this long after the first (at most 12 h)

Values (setting defaults included) may nest at most ``json_limits.MAX_DEPTH`` levels.

Without a manifest the folder (or a lone ``.py`` file) is a destination function
with default limits and no declared settings.

The folder's other ``.py`` files are the function's own modules (``helpers.py``,
``lib/__init__.py``, ``lib/util.py``), loaded and uploaded with it (:func:`folder_files`);
hidden folders, ``__pycache__`` and tests (``tests/``, ``test_*.py``, ``*_test.py``,
``conftest.py``) are left out. A lone ``.py`` file other than ``handler.py`` is one
module.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .json_limits import MAX_DEPTH, too_deep

# The bounds of [retry] (kept here so that the manifest imports nothing of the delivery
# side; ``delivery.retries`` checks that they match).
MAX_ATTEMPTS = 9  # the AWS queue's redrive dead-letters after 10 receives
MAX_WINDOW_SECONDS = 12 * 3600  # SQS holds a message back at most 12 hours at a time

__all__ = [
    "MAX_MANIFEST_BYTES",
    "MAX_SOURCE_BYTES",
    "FunctionSource",
    "Manifest",
    "ManifestError",
    "RetrySpec",
    "SettingSpec",
    "check_settings",
    "folder_files",
    "load_function",
]

MAX_SOURCE_BYTES = 256 * 1024
MAX_MANIFEST_BYTES = 64 * 1024
MANIFEST_NAME = "function.toml"
HANDLER_NAME = "handler.py"

SettingType = Literal["string", "text", "number", "boolean", "array", "map"]


class ManifestError(Exception):
    """The function folder or its manifest is unusable; ``problems`` are ``path:line: msg``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class SettingSpec(BaseModel):
    """One declared setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: SettingType = "string"
    required: bool = False
    default: Any = None
    description: str = ""
    secret: bool = False


class RetrySpec(BaseModel):
    """``[retry]``: how many attempts an event gets, spread over how long (see
    ``delivery.retries``). Unset fields take the deployment's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int | None = Field(default=None, ge=1, le=MAX_ATTEMPTS)
    window_seconds: float | None = Field(default=None, ge=1, le=MAX_WINDOW_SECONDS)


class Manifest(BaseModel):
    """What ``function.toml`` declares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        default="function", min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.-]+$"
    )
    kind: Literal["destination", "insert", "source"] = "destination"
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    memory_mb: int = Field(default=256, ge=64, le=4096)
    settings: dict[str, SettingSpec] = Field(default_factory=dict)
    retry: RetrySpec | None = None

    def secret_names(self) -> tuple[str, ...]:
        return tuple(name for name, spec in self.settings.items() if spec.secret)


@dataclass(frozen=True)
class FunctionSource:
    """A function's code and manifest as loaded from disk."""

    source: str
    filename: str
    manifest: Manifest
    declared: bool  # whether a manifest was present
    modules: dict[str, str] = field(default_factory=dict)  # the folder's other .py files


def _read_text(path: Path, limit: int) -> str:
    data = path.read_bytes()
    if len(data) > limit:
        raise ManifestError([f"{path}:1: file is {len(data)} bytes; the limit is {limit}"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError([f"{path}:1: not UTF-8 text ({exc.reason})"]) from None


def parse_manifest(text: str, filename: str) -> Manifest:
    """Parse and validate manifest text; every problem is reported with its location."""
    too_nested = ManifestError(
        [f"{filename}:1: tables or arrays nested more than {MAX_DEPTH} levels deep"]
    )
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError([f"{filename}:{_decode_line(exc)}: {exc}"]) from None
    except RecursionError:  # the parser is recursive: it gives up near 1,000 levels
        raise too_nested from None
    if too_deep(raw, MAX_DEPTH):
        raise too_nested
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(part) for part in err["loc"]) or "manifest"
            line = line_of(text, err["loc"])
            problems.append(f"{filename}:{line}: {loc}: {err['msg']}")
        raise ManifestError(problems) from None
    problems = []
    for name, spec in manifest.settings.items():
        trouble = _type_problem(spec.type, spec.default)
        if trouble is not None:
            line = line_of(text, ("settings", name, "default"))
            problems.append(f"{filename}:{line}: settings.{name}.default: {trouble}")
    if problems:
        raise ManifestError(problems)
    return manifest


_TABLE = re.compile(r"^\s*\[\[?\s*(?P<path>[^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*(?P<path>[A-Za-z0-9_\-\"'][A-Za-z0-9_\-\"'. \t]*?)\s*=")


def _dotted(path: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in path.split("."))


def line_of(text: str, loc: tuple[int | str, ...]) -> int:
    """The line of ``text`` (TOML) that declares the value at ``loc`` (a validation
    error's location, e.g. ``("settings", "url", "type")``), or of its nearest
    declared parent; 1 when nothing matches."""
    want = tuple(str(part) for part in loc)
    best, best_line = 0, 1
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _TABLE.match(line)
        if header is not None:
            table = _dotted(header["path"])
            path = table
        else:
            key = _KEY.match(line)
            if key is None:
                continue
            path = table + _dotted(key["path"])
        if path and want[: len(path)] == path and len(path) > best:
            best, best_line = len(path), number
    return best_line


def _decode_line(exc: tomllib.TOMLDecodeError) -> int:
    found = re.search(r"at line (\d+)", str(exc))
    return int(found[1]) if found else int(getattr(exc, "lineno", 1) or 1)


def load_function(path: str | Path) -> FunctionSource:
    """Load a function folder, its ``handler.py``, or a lone ``.py`` file."""
    p = Path(path)
    if p.is_dir():
        folder, handler = p, p / HANDLER_NAME
    elif p.suffix == ".py":
        folder, handler = p.parent, p
    else:
        raise ManifestError([f"{p}:1: not a function folder or a .py file"])
    if not handler.is_file():
        raise ManifestError([f"{handler}:1: no handler.py here"])
    source = _read_text(handler, MAX_SOURCE_BYTES)
    manifest_path = folder / MANIFEST_NAME
    modules = folder_files(folder) if handler.name == HANDLER_NAME else {}
    if handler.name == HANDLER_NAME and manifest_path.is_file():
        text = _read_text(manifest_path, MAX_MANIFEST_BYTES)
        manifest = parse_manifest(text, str(manifest_path))
        return FunctionSource(source, str(handler), manifest, True, modules)
    name = folder.name or "function"
    return FunctionSource(source, str(handler), Manifest(name=name), False, modules)


MAX_FOLDER_FILES = 64  # the sandbox's bound (sandbox/folder.py), checked before reading


def _skipped(relative: Path) -> bool:
    name = relative.name
    if any(part.startswith(".") or part in ("__pycache__", "tests") for part in relative.parts):
        return True
    return name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py")


def folder_files(folder: Path) -> dict[str, str]:
    """The ``.py`` files of a function (or library) folder other than ``handler.py``,
    by their ``/``-separated path in it (see the module docstring for what is left
    out). Symbolic links are not followed out of the folder."""
    root = folder.resolve()
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        relative = path.relative_to(folder)
        if relative.as_posix() == HANDLER_NAME or _skipped(relative) or not path.is_file():
            continue
        if not path.resolve().is_relative_to(root):
            raise ManifestError([f"{path}:1: links outside the function's folder"])
        if len(found) >= MAX_FOLDER_FILES:
            raise ManifestError(
                [f"{folder}:1: more than {MAX_FOLDER_FILES} .py files; move tests or data out"]
            )
        found[relative.as_posix()] = _read_text(path, MAX_SOURCE_BYTES)
    return found


_SETTING_CHECKS: dict[str, tuple[tuple[type, ...], str]] = {
    "string": ((str,), "a string"),
    "text": ((str,), "a string"),
    "number": ((int, float), "a number"),
    "boolean": ((bool,), "a boolean"),
    "array": ((list,), "an array"),
    "map": ((dict,), "a map (JSON object)"),
}


def _type_problem(kind: str, value: Any) -> str | None:
    """Why ``value`` is not of the setting type ``kind`` (None: it is, or it is unset)."""
    if value is None:
        return None
    kinds, label = _SETTING_CHECKS[kind]
    if (isinstance(value, bool) and kind != "boolean") or not isinstance(value, kinds):
        return f"must be {label}, got {type(value).__name__}"
    return None


def check_settings(manifest: Manifest, values: dict[str, Any], *, declared: bool) -> dict[str, Any]:
    """Validate settings values against the manifest; returns them with defaults filled.

    Raises ``ManifestError`` naming every violation. Without a declared manifest the
    values pass through as given.
    """
    if not declared:
        return dict(values)
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name in values:
        if name not in manifest.settings:
            problems.append(f"settings.{name}: not declared in the manifest")
    for name, spec in manifest.settings.items():
        value = values.get(name, spec.default)
        if value is None:
            if spec.required:
                problems.append(f"settings.{name}: required ({spec.type})")
            continue
        trouble = _type_problem(spec.type, value)
        if trouble is not None:
            problems.append(f"settings.{name}: {trouble}")
            continue
        out[name] = value
    if problems:
        raise ManifestError(problems)
    return out
