"""Exec'ed workers replaced by ``hostile_worker.py``: a stand-in that speaks the worker
protocol and misbehaves on purpose, in the mode the handler's first line names."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

HOSTILE_WORKER = Path(__file__).with_name("hostile_worker.py")


def use_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on in this test, a worker exec'ed as ``sys.executable`` runs the stand-in
    (a ``python`` script in ``tmp_path`` that execs it)."""
    script = tmp_path / "python"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HOSTILE_WORKER}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(script))
