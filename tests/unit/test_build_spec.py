"""``sandbox/host/local.build_spec``: a function folder into the spec the pool runs.

Every field is checked (mutation round 4, docs/TESTING.md): the key that names the
instance's warm worker and connections changes with anything that changes what runs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from functions_runtime.sandbox.host.local import ManifestError, build_spec
from functions_runtime.sandbox.host.pool import InstanceSpec

MANIFEST = """
name = "spec_test"
kind = "insert"
timeout_seconds = 7
memory_mb = 128

[settings.url]
type = "string"
required = true

[settings.token]
type = "string"
secret = true

[settings.retries]
type = "number"
default = 3
"""

HANDLER = "from helper import VALUE\n\ndef on_track(event, settings):\n    return VALUE\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "function.toml").write_text(MANIFEST)
    (tmp_path / "handler.py").write_text(HANDLER)
    (tmp_path / "helper.py").write_text("VALUE = 1\n")
    return tmp_path


def test_every_field_comes_from_the_folder_and_the_call(folder: Path) -> None:
    spec = build_spec(
        str(folder),
        {"url": "https://a.example", "token": "t0k"},
        timeout=None,
        allow=("a.example",),
    )
    values = {"url": "https://a.example", "token": "t0k", "retries": 3}
    modules = (("helper.py", "VALUE = 1\n"),)
    filename = str(folder / "handler.py")
    assert spec == InstanceSpec(
        key=InstanceSpec.key_for(HANDLER, values, filename, None, ("a.example",), list(modules)),
        source=HANDLER,
        filename=filename,
        kind="insert",
        timeout=7.0,
        memory_mb=128,
        settings=values,
        secret_names=("token",),
        allow=("a.example",),
        modules=modules,
    )
    assert spec.settings == values  # not compared by ==: the defaults are filled in


def test_the_timeout_given_wins_and_changes_the_key(folder: Path) -> None:
    settings = {"url": "https://a.example"}
    default = build_spec(str(folder), settings, timeout=None, allow=())
    given = build_spec(str(folder), settings, timeout=2.5, allow=())
    assert (default.timeout, given.timeout) == (7.0, 2.5)
    assert given == replace(default, key=given.key, timeout=2.5)
    keys = {default.key, given.key}
    keys.add(build_spec(str(folder), settings, timeout=None, allow=("b.example",)).key)
    keys.add(build_spec(str(folder), {**settings, "retries": 4}, timeout=None, allow=()).key)
    (folder / "helper.py").write_text("VALUE = 2\n")
    keys.add(build_spec(str(folder), settings, timeout=None, allow=()).key)
    assert len(keys) == 5, "a key shared by specs that run differently"
    assert build_spec(str(folder), settings, timeout=2.5, allow=()).key != given.key


def test_settings_are_checked_against_the_manifest(folder: Path) -> None:
    with pytest.raises(ManifestError):
        build_spec(str(folder), {}, timeout=None, allow=())  # url is required


def test_the_key_ignores_the_order_of_settings_and_takes_any_value() -> None:
    """The same settings in another order name the same instance (the key is sorted
    JSON); a value JSON has no type for is taken by its text, not refused."""
    source = "def on_track(event, settings):\n    return 1\n"
    first = InstanceSpec.key_for(source, {"a": 1, "b": {"y": 2, "x": 1}}, "handler.py")
    again = InstanceSpec.key_for(source, {"b": {"x": 1, "y": 2}, "a": 1}, "handler.py")
    assert first == again and len(first) == 16
    assert InstanceSpec.key_for(source, {"a": 2, "b": {"y": 2, "x": 1}}, "handler.py") != first
    assert InstanceSpec.key_for(source, {"a": 1, "b": {"y": 2, "x": 1}}, "other.py") != first
    dated = InstanceSpec.key_for(source, {"when": Path("/x")})
    assert dated == InstanceSpec.key_for(source, {"when": "/x"})
