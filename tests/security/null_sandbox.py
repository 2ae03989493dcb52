"""The null sandbox: a case's source run by plain ``exec``, no compile policy, no guards.

Used by ``test_null_sandbox.py`` to prove that every guard-level case depends on the
sandbox: run this way (real builtins, one module namespace for every run, the SDK's
own event and settings objects), each case must FAIL the checks ``test_cases.py``
applies to the real run. A case that passes here tests Python, not the sandbox.

Run as a script (``python null_sandbox.py``): reads a JSON list of
``{"name", "source", "event", "runs", "batch"}`` on stdin and writes one JSON object
``{name: [record, ...] | {"died": reason}}`` on stdout. Each case runs in a forked
child with an alarm and an address-space limit, so nothing it does reaches the
caller; the records have the shape of the pool's (``outcome``, ``result``, ``error``,
``requests``).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import tempfile
from typing import Any

from functions_runtime.sandbox.guest.results import classify
from functions_sdk import Settings
from functions_sdk.events import parse_event

CHILD_SECONDS = 10
CHILD_MEMORY = 1024 * 1024 * 1024


def _record(outcome: str, result: Any, error: BaseException | None) -> dict[str, Any]:
    try:
        json.dumps(result)
    except (TypeError, ValueError, RecursionError):
        result = {"unserializable": type(result).__name__}
    # Not truncated: bounding error records is the sandbox's job.
    err = None if error is None else {"type": type(error).__name__, "message": str(error)}
    return {"outcome": outcome, "result": result, "error": err, "requests": []}


def run_case(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Plain exec: compile with Python's compiler, call the handler, classify errors."""
    namespace: dict[str, Any] = {"__name__": "handler"}
    exec(compile(spec["source"], "handler.py", "exec"), namespace)
    settings_values = {"url": "https://hooks.example.com/in", "api_key": "b-own-key"}
    records: list[dict[str, Any]] = []
    for _ in range(spec["runs"]):
        settings = Settings(dict(settings_values), secret_names=("api_key",))
        raws = [json.loads(json.dumps(spec["event"])) for _ in range(max(spec["batch"], 1))]
        if spec["batch"] and "on_batch" in namespace:
            try:
                values = namespace["on_batch"]([parse_event(raw) for raw in raws], settings)
                records.extend(_record("delivered", value, None) for value in values)
            except Exception as exc:
                records.extend(_record(classify(exc), None, exc) for _ in raws)
            continue
        for raw in raws:
            try:
                event = parse_event(raw)
                value = namespace[f"on_{event.type}"](event, settings)
                records.append(_record("delivered", value, None))
            except Exception as exc:
                records.append(_record(classify(exc), None, exc))
    return records


def _run_in_child(spec: dict[str, Any], out_path: str) -> Any:
    pid = os.fork()
    if pid == 0:  # child: never returns
        status = 0
        try:
            signal.alarm(CHILD_SECONDS)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):  # what the case prints is not the caller's output
                os.dup2(devnull, fd)
            resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
            records = run_case(spec)
            with open(out_path, "w", encoding="utf-8") as fh:
                json.dump(records, fh)
        except BaseException as exc:  # a plain host has nothing else to catch it with
            with open(out_path, "w", encoding="utf-8") as fh:
                json.dump({"died": f"{type(exc).__name__}: {str(exc)[:200]}"}, fh)
            status = 1
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    try:
        with open(out_path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {"died": f"wait status {status}"}


def main() -> None:
    specs = json.load(sys.stdin)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        for index, spec in enumerate(specs):
            out[spec["name"]] = _run_in_child(spec, os.path.join(tmp, f"{index}.json"))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
