"""The CLI's progress line shows on a terminal only; names and numbers on the command line."""

from __future__ import annotations

import io

import pytest

from functions_runtime.cli.client import ApiError
from functions_runtime.cli.operate import parse_assignment
from functions_runtime.cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_and_clears_one_line_on_a_terminal():
    stream = Terminal()
    status = Progress(stream)
    status.update("1/3 settled")
    status.update("2/3 settled")
    status.clear()
    assert stream.getvalue() == "\r\x1b[2K1/3 settled\r\x1b[2K2/3 settled\r\x1b[2K"


def test_progress_says_nothing_on_a_pipe():
    stream = io.StringIO()
    status = Progress(stream)
    status.update("1/3 settled")
    status.clear()
    assert stream.getvalue() == ""


def test_settings_assignments():
    assert parse_assignment("url=https://x/?a=b") == ("url", "https://x/?a=b")
    assert parse_assignment("n:=5") == ("n", 5)
    assert parse_assignment("flags:=[true, null]") == ("flags", [True, None])
    assert parse_assignment("empty=") == ("empty", "")
    for bad in ("novalue", "=x", ":=1", "n:=nope"):
        with pytest.raises(ApiError):
            parse_assignment(bad)
