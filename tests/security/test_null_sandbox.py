"""Every guard-level case must FAIL without the sandbox: it tests the sandbox, not Python.

Each contained case whose attack the language layers (compile policy, guards, facades,
fresh namespaces, result building) stop is run by the null sandbox
(``null_sandbox.py``: plain ``exec`` with real builtins, one namespace for every run)
and checked with the very checks ``test_cases.py`` applies to the real run. Each must
fail there. A case that holds under plain ``exec`` would pass with the sandbox gone,
so it could never catch a regression.

Cases stopped by other layers are listed in ``OTHER_LAYERS`` with the layer: the
host's network policy, the worker's limits, the outcome contract. Their layers have
tests of their own (``test_controls.py``, ``tests/unit/test_invoker.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sandbox_harness import DEFAULT_EVENT
from test_cases import CASES, Case, contained_problems

NULL_SANDBOX = Path(__file__).with_name("null_sandbox.py")

NETWORK = "network: the host's SSRF policy on fetch (the SDK enforces it even in plain exec)"
LIMITS = "process: the worker's wall-clock, memory, recursion and output limits"
OTHER_LAYERS: dict[str, str] = {
    **{f"{n:03d}": NETWORK for n in range(180, 200)},
    **{f"{n:03d}": LIMITS for n in range(200, 238)},
    "124": LIMITS,  # a bare except cannot swallow the external timeout
    "135": LIMITS,  # an error whose str() never ends: the timeout stops it
    "298": "outcome contract: an error's class decides its outcome, not its attributes",
    # The SDK's own error classes (used by plain exec too) never read ``message`` through
    # a property: str() and the worker take the text from ``args``.
    "137": "SDK errors: the message is read from args, never through an author property",
    "302": "SDK errors: the message is read from args, never through an author property",
    # fetch runs in the host (the broker): a failure reaches the worker as a plain
    # FetchError/RetryError with no OSError inside, sandbox or not.
    "295": "network: the host broker performs requests; errors carry no OSError",
}


def _guard_level() -> list[Case]:
    return [c for c in CASES if c.expect == "contained" and c.name[:3] not in OTHER_LAYERS]


def test_other_layers_name_existing_contained_cases() -> None:
    """The exemptions are a short, explicit list, not a way to hide a case."""
    contained = {c.name[:3] for c in CASES if c.expect == "contained"}
    named = {"124", "135", "137", "295", "298", "302"}
    assert named <= contained
    assert len(_guard_level()) >= 100


def test_every_guard_level_case_fails_under_plain_exec() -> None:
    cases = _guard_level()
    specs = [
        {
            "name": case.name,
            "source": case.source,
            "event": case.event if case.event is not None else DEFAULT_EVENT,
            "runs": case.runs,
            "batch": case.batch,
        }
        for case in cases
    ]
    proc = subprocess.run(
        [sys.executable, str(NULL_SANDBOX)],
        input=json.dumps(specs),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    outcomes = json.loads(proc.stdout)
    holding = []
    for case in cases:
        records = outcomes[case.name]
        if isinstance(records, dict):  # the plain host died: the case broke it
            continue
        if not contained_problems(case, records):
            holding.append(case.name)
    assert not holding, (
        f"these cases pass without the sandbox, so they cannot catch its loss: {holding}"
    )
