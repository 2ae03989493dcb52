"""An integration repository from nothing, as a user makes one: the two wheels built from
this tree are installed into a fresh virtualenv, ``functions init`` and ``functions new``
scaffold the repository, and its validate, pytest, mypy and deploy --dry-run pass.

Offline: the wheels are built without build isolation and installed with
``--no-index --no-deps``; their third-party dependencies (pydantic, pytest, mypy…) come
from this project's environment through a ``.pth`` file, which does not make the
editable installs of this tree importable (their own ``.pth`` files are not processed
there). A user's install line resolves those dependencies from their index instead:
``pip install dist/functions_sdk-*.whl dist/functions_runtime-*.whl`` (our two names
come only from the files given).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation")
PIP_WHEEL += ("--no-index",)
PIP_INSTALL = ("-m", "pip", "install", "-q", "--no-index", "--no-deps", "--force-reinstall")


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_no_dependency_names_a_distribution_we_do_not_publish_publicly() -> None:
    sdk = tomllib.loads((ROOT / "sdk" / "pyproject.toml").read_text())["project"]
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in sdk.get("optional-dependencies", {}).values() for r in group]
    assert not [r for r in sdk["dependencies"] + extras if r.startswith("functions-")]
    pins = [r for r in runtime["dependencies"] if r.startswith("functions-")]
    assert pins == [f"functions-sdk=={sdk['version']}"]


@pytest.mark.slow
def test_a_scratch_integration_repo_goes_green(tmp_path: Path) -> None:
    import setuptools

    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("building the wheels offline needs setuptools>=77 (the dev extras)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    wheels = tmp_path / "dist"
    run(
        [*PIP_WHEEL, "--wheel-dir", str(wheels), "./sdk", "."],
        ROOT,
        env,
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        tmp_path,
        env,
    ).strip()
    Path(purelib, "_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        [str(python), *PIP_INSTALL, *map(str, sorted(wheels.glob("*.whl")))],
        tmp_path,
        env,
    )
    where = run(
        [str(python), "-c", "import functions_runtime, functions_sdk as s; print(s.__file__)"],
        tmp_path,
        env,
    )
    assert where.startswith(purelib), where  # the wheel, not this tree

    functions = str(venv / "bin" / "functions")
    repo = tmp_path / "integrations"
    run([functions, "init", str(repo)], tmp_path, env)
    run([functions, "new", "second_hook"], repo, env)
    run([functions, "new", "enrich", "--kind", "insert"], repo, env)
    run([functions, "new", "hook_in", "--kind", "source"], repo, env)
    run([functions, "new", "scrub", "--kind", "insert"], repo, env)
    assert (repo / ".github" / "workflows" / "functions.yml").is_file()
    folders = sorted(str(p) for p in (repo / "functions").iterdir())
    assert "ok" in run([functions, "validate", *folders], repo, env)

    output = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], repo, env)
    assert re.search(r"\b26 passed\b", output), output
    assert "no issues found" in run([str(python), "-m", "mypy"], repo, env)
    plan = run([functions, "deploy", "functions/hello", "--dry-run"], repo, env)
    assert '"dry_run": true' in plan

    # A failing test shows the handler's runs: outcome, error, logs, requests.
    (repo / "tests" / "test_fails.py").write_text(
        "from pathlib import Path\n"
        "from functions_sdk.pytest_plugin import FunctionRunner\n"
        "from functions_sdk.testing import sample_event\n\n"
        "def test_it(function_runner: FunctionRunner) -> None:\n"
        "    fn = Path(__file__).resolve().parents[1] / 'functions' / 'hello'\n"
        "    result = function_runner(fn, sample_event('track'), settings={'url': 'https://x.example/'})\n"
        "    assert result.outcome == 'delivered'\n"
    )
    failed = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_fails.py"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert failed.returncode == 1, failed.stdout
    assert "functions: handler runs" in failed.stdout
    assert "error: FetchError: no mock response for POST https://x.example/" in failed.stdout
    assert "log: INFO track Order Completed" in failed.stdout
    assert "request: POST https://x.example/ -> no answer" in failed.stdout
