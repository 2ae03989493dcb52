"""``functions validate`` / ``invoke`` on input nested past the parsers: a problem line,
never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions_runtime.cli.main import main

HANDLER = "def on_track(event, settings):\n    return 1\n"


@pytest.mark.parametrize("levels", [100, 3000])
def test_validate_reports_a_function_toml_nested_too_deeply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], levels: int
) -> None:
    (tmp_path / "handler.py").write_text(HANDLER)
    (tmp_path / "function.toml").write_text("x = " + "[" * levels + "]" * levels + "\n")

    assert main(["validate", str(tmp_path)]) == 1

    err = capsys.readouterr().err
    assert "function.toml:1: tables or arrays nested more than 64 levels deep" in err
    assert "Traceback" not in err


def test_invoke_refuses_a_function_toml_nested_too_deeply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "handler.py").write_text(HANDLER)
    (tmp_path / "function.toml").write_text("x = " + "[" * 3000 + "]" * 3000 + "\n")
    event = tmp_path / "event.json"
    event.write_text('{"type": "track", "event": "e", "userId": "u"}')

    with pytest.raises(SystemExit) as exited:
        main(["invoke", str(tmp_path), "--event", str(event)])

    assert exited.value.code == 2
    assert "nested more than 64 levels deep" in capsys.readouterr().err


def test_invoke_refuses_an_event_file_nested_too_deeply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "handler.py").write_text(HANDLER)
    event = tmp_path / "event.json"
    event.write_text("[" * 5000 + "]" * 5000)

    with pytest.raises(SystemExit) as exited:
        main(["invoke", str(tmp_path), "--event", str(event)])

    assert exited.value.code == 2
    assert "nests objects and arrays too deeply" in capsys.readouterr().err
