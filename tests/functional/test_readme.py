"""Every code block in the README runs: the handler, its manifest, the test helper, the demo."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from functions_runtime.manifest import load_function
from functions_runtime.sandbox.compiler import compile_function
from functions_sdk.testing import MockResponse, run_function

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def block(lang: str, first_line: str) -> str:
    for match in re.finditer(rf"```{lang}\n(.*?)```", README, re.S):
        if match.group(1).startswith(first_line):
            return match.group(1)
    raise AssertionError(f"no {lang} block starting with {first_line!r} in README.md")


@pytest.fixture
def readme_function(tmp_path: Path) -> Path:
    (tmp_path / "handler.py").write_text(block("python", "# handler.py"))
    (tmp_path / "function.toml").write_text(block("toml", "# function.toml"))
    return tmp_path


def test_readme_handler_and_manifest_validate(readme_function: Path):
    fn = load_function(readme_function)
    assert fn.declared and fn.manifest.settings["api_key"].secret
    report = compile_function(fn.source, fn.filename, fn.manifest.kind)
    assert report.ok, report.errors


@pytest.mark.parametrize(
    ("status", "outcome"), [(200, "delivered"), (503, "retry"), (429, "retry"), (400, "rejected")]
)
def test_readme_handler_runs_with_the_documented_outcomes(
    readme_function: Path, status: int, outcome: str
):
    result = run_function(
        str(readme_function),
        {"type": "track", "event": "Signed Up", "userId": "u1", "properties": {"plan": "pro"}},
        settings={"url": "https://api.example.com/events", "api_key": "sk-123"},
        responses=[
            MockResponse(
                method="POST",
                url="https://api.example.com/events",
                status=status,
                json={"ok": status == 200},
            )
        ],
    )
    assert result.outcome == outcome
    [request] = result.requests
    assert request.headers["Authorization"] == "***"
    assert request.body == ('{"name":"Signed Up","user":"u1","props":{"plan":"pro"}}')
    if outcome == "delivered":
        assert result.result == {"status": 200}
        assert result.logs == ["INFO sent Signed Up"]


def test_readme_testing_snippet_runs(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    exec(compile(block("python", "from functions_sdk.testing"), "README.md", "exec"), {})


def test_make_demo_prints_the_outcomes():
    proc = subprocess.run(
        [sys.executable, "-m", "functions_runtime.demo", "--root", str(ROOT)],
        stdin=subprocess.DEVNULL,  # not a terminal: the demo ends instead of serving on
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = proc.stdout
    assert re.search(r"track\.json\s+delivered", out)
    assert re.search(r"invalid_missing_ids\.json\s+rejected", out)
    assert re.search(r"samples/functions/looping\s+retry .* TimeoutError", out)
    assert re.search(r"samples/functions/hostile\s+invalid", out)
    sent = re.search(r"The sink received (\d+) requests; (\d+) carried a valid signature", out)
    assert sent and sent.group(1) == sent.group(2) != "0"
    console = re.search(r"The web console: (http://127\.0\.0\.1:\d+/)\n", out)
    assert console and re.search(r"Sign in with the API key fk_demo_\S+", out)


def test_readme_three_paths_name_commands_that_exist():
    from functions_runtime.cli.main import parser

    section = README.split("## Three ways to use it", 1)[1].split("\n## ", 1)[0]
    commands = set(parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    used = set(re.findall(r"^functions ([a-z-]+)", section, re.M))
    used |= set(re.findall(r"&& functions ([a-z-]+)", section))
    assert {"init", "new", "deploy", "lambda-invoke"} <= used <= commands
    assert "make dist" in section and "--pipeline" in section


def test_readme_operating_commands_parse():
    """Every ``functions`` command in the operating path is one the CLI takes, as written."""
    import shlex

    from functions_runtime.cli.main import parser

    section = README.split("**Operating deployed functions**", 1)[1].split("\n## ", 1)[0]
    commands = [
        part.strip()
        for line in block("sh", "functions deploy user_functions/signed_webhook").splitlines()
        for part in line.split("#", 1)[0].split("&&")
        if part.strip()
    ]
    assert len(commands) >= 15 and "functions deploy user_functions/signed_webhook" in section
    used = set()
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "functions", command
        args = parser().parse_args(words[1:])  # SystemExit on a command it does not take
        used.add(args.run.__name__)
    assert {"cmd_diff", "cmd_settings_set", "cmd_keys_rotate", "cmd_functions_delete"} <= used


def test_readme_serve_flags_are_flags_of_serve():
    """Every ``--flag`` the service section's prose names is one ``functions serve`` takes."""
    from functions_runtime.cli.main import parser

    section = README.split("## Run it as a service", 1)[1].split("```", 1)[0]
    named = set(re.findall(r"`(--[a-z-]+)", section))
    serve = parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    takes = {option for action in serve._actions for option in action.option_strings}
    assert {"--cpu-affinity", "--cpu-latency-qos", "--warm-workers"} <= named <= takes
