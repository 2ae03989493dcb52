"""Powertools' tracer for a Lambda handler, imported only when tracing is on.

``Tracer()`` imports the X-Ray SDK and patches botocore even when tracing turns out to
be disabled (about 125 ms of a cold start, docs/PERFORMANCE.md). Tracing is on under
the rule Powertools applies: in a Lambda (``LAMBDA_TASK_ROOT``), not in SAM's or
Chalice's local emulation, and not disabled by ``POWERTOOLS_TRACE_DISABLED``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

__all__ = ["traced", "tracing_enabled"]

F = TypeVar("F", bound=Callable[..., Any])

_TRUE = {"1", "y", "yes", "t", "true", "on"}


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    if env.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUE:
        return False
    if env.get("AWS_SAM_LOCAL") or env.get("AWS_CHALICE_CLI_MODE"):
        return False
    return bool(env.get("LAMBDA_TASK_ROOT"))


def traced(handler: F, env: Mapping[str, str] | None = None) -> F:
    """``handler`` under ``Tracer().capture_lambda_handler`` when tracing is on, else
    ``handler`` itself (no X-Ray SDK imported)."""
    if not tracing_enabled(env):
        return handler
    from aws_lambda_powertools import Tracer

    return cast(F, Tracer().capture_lambda_handler(handler))
