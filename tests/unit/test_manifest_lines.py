"""function.toml problems name the line they are on; defaults are checked against types."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions_runtime.manifest import ManifestError, line_of, parse_manifest

TEXT = """# a comment
name = "hook"
kind = "destination"
timeout_seconds = 500

[settings.url]
type = "string"
required = true

[settings."count"]
type = "number"
default = "three"

[retry]
attempts = 99
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "function.toml")
    return caught.value.problems


def test_each_problem_names_its_own_line():
    found = problems(TEXT)
    assert [p.split(":", 2)[1] for p in found] == ["4", "15"]
    assert found[0].startswith("function.toml:4: timeout_seconds:")
    assert found[1].startswith("function.toml:15: retry.attempts:")


def test_an_unknown_key_is_found_in_its_table():
    text = '[settings.url]\ntype = "string"\nrequird = true\n'
    [problem] = problems(text)
    assert problem.startswith("function.toml:3: settings.url.requird:")


def test_a_bad_value_in_an_inline_or_dotted_key():
    text = 'name = "x"\nsettings.url.type = "colour"\n'
    [problem] = problems(text)
    assert problem.startswith("function.toml:2: settings.url.type:")


def test_a_default_of_the_wrong_type_is_refused_on_its_line():
    text = TEXT.replace("timeout_seconds = 500", "timeout_seconds = 5").replace("99", "3")
    assert problems(text) == ["function.toml:12: settings.count.default: must be a number, got str"]
    for kind, default in (("boolean", "1"), ("string", "true"), ("array", "{}"), ("map", "[]")):
        bad = f'[settings.x]\ntype = "{kind}"\ndefault = {default}\n'
        [problem] = problems(bad)
        assert problem.startswith("function.toml:3: settings.x.default: must be")
    good = '[settings.x]\ntype = "number"\ndefault = 2.5\n'
    assert parse_manifest(good, "function.toml").settings["x"].default == 2.5


def test_toml_syntax_errors_name_their_line():
    [problem] = problems('name = "x"\n\nkind = \n')
    assert problem.startswith("function.toml:3: ")


def test_line_of_falls_back_to_the_nearest_parent_then_to_one():
    assert line_of(TEXT, ("settings", "url", "secret")) == 6
    assert line_of(TEXT, ("nothing",)) == 1
    assert line_of("", ("name",)) == 1


def test_validate_prints_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from functions_runtime.cli.main import main

    (tmp_path / "handler.py").write_text("def on_track(event, settings):\n    return None\n")
    (tmp_path / "function.toml").write_text(
        'name = "x"\n\n[settings.n]\ntype = "number"\ndefault = "no"\n'
    )
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'function.toml'}:5: settings.n.default: must be a number, got str" in err
