"""The store contract runs against both backends: embedded (SQLite) and AWS (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions_runtime.control.backend import Backend
from tests.backends import BACKENDS, make_backend


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with make_backend(request.param, tmp_path / "data") as store:
        yield store
