"""A command piped into a reader that leaves early (``| head``) ends quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_closed_stdout_ends_the_command_quietly() -> None:
    functions = [str(p) for p in sorted((ROOT / "user_functions").iterdir())]
    child = subprocess.Popen(
        [sys.executable, "-m", "functions_runtime.cli", "validate", *functions],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # before the interpreter has started: every write fails
    stderr = child.stderr.read().decode()
    child.stderr.close()
    assert child.wait(timeout=60) == 0, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
