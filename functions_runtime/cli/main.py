"""The ``functions`` command line.

``functions validate PATH`` and ``functions invoke PATH --event FILE`` are a
contract other tools rely on: add to them, do not change them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

from ..lambdas.local_command import add_lambda_invoke
from ..manifest import ManifestError, load_function
from ..sandbox.folder import compile_on_disk
from ..sandbox.host.local import build_spec
from ..sandbox.host.pool import summarise
from ..server import cpus, latency
from .client import ApiError
from .libraries import add_library_commands
from .remote import add_commands
from .scaffold import add_scaffold_commands

__all__ = ["main"]

HTTP_ALLOW_ENV = "FUNCTIONS_HTTP_ALLOW"


class UsageError(Exception):
    """A problem with how the command was called (exit status 2)."""


def _read_json(path: str, what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{what} file not found: {path}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what} file {path} is not JSON: {exc}") from None
    except RecursionError:
        raise UsageError(f"{what} file {path} nests objects and arrays too deeply") from None


def allow_list(flags: Sequence[str] | None) -> tuple[str, ...]:
    """Hosts / CIDRs the operator allows: ``FUNCTIONS_HTTP_ALLOW`` plus ``--allow-host``."""
    entries = [e.strip() for e in os.environ.get(HTTP_ALLOW_ENV, "").split(",")]
    for flag in flags or ():
        entries.extend(e.strip() for e in flag.split(","))
    return tuple(e for e in entries if e)


def _validate_one(path: str) -> int:
    try:
        fn = load_function(path)
    except ManifestError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    report = compile_on_disk(fn.filename, fn.source, fn.modules, fn.manifest.kind)
    for error in report.errors:
        print(error, file=sys.stderr)
    if not report.ok:
        return 1
    handlers = ", ".join(report.handlers)
    also = f"; {len(fn.modules)} more files" if fn.modules else ""
    print(f"{fn.filename}: ok ({fn.manifest.kind} function; handlers: {handlers}{also})")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Every path is checked; exit 1 when any has problems."""
    return max(_validate_one(path) for path in args.path)


def cmd_invoke(args: argparse.Namespace) -> int:
    payload = _read_json(args.event, "event")
    settings: Any = _read_json(args.settings, "settings") if args.settings else {}
    if not isinstance(settings, dict):
        raise UsageError(f"settings file {args.settings} must hold a JSON object")
    if args.timeout is not None and not 0 < args.timeout <= 300:
        raise UsageError("--timeout must be between 0 and 300 seconds")
    if not Path(args.path).exists():
        raise UsageError(f"function not found: {args.path}")
    try:
        spec = build_spec(args.path, settings, timeout=args.timeout, allow=allow_list(args.allow))
    except ManifestError as exc:
        raise UsageError("; ".join(exc.problems)) from None
    from ..sandbox.host import isolation

    try:
        pool = isolation.pool(isolation.mode_from(), _quiet, max_workers=1, spares=0)
    except (isolation.IsolationError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    with pool:
        if isinstance(payload, list):
            results = pool.invoke(spec, payload, batch=True)
            output: dict[str, Any] = {
                "outcome": summarise(results),
                "results": results,
                "duration_ms": round(sum(r["duration_ms"] for r in results), 3),
            }
        else:
            output = pool.invoke(spec, [payload])[0]
    json.dump(output, sys.stdout, indent=2 if args.pretty else None)
    sys.stdout.write("\n")
    return 0


def _quiet(line: str) -> None:
    """``invoke`` prints only its JSON; the isolation line goes nowhere."""


def cmd_doctor(args: argparse.Namespace) -> int:
    """Each isolation layer, active or missing with the reason; exit 1 when the chosen
    mode would refuse to run customer code."""
    from ..sandbox.host import isolation

    try:
        mode = isolation.mode_from(args.isolation)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    isolation.set_non_dumpable()
    layers = isolation.probe()
    width = max(len(layer.name) for layer in layers)
    for layer in layers:
        state = "active " if layer.active else "MISSING"
        print(f"{layer.name:<{width}}  {state}  {layer.reason}")
    print(isolation.describe(layers) + f" (mode {mode})")
    try:
        problems = isolation.check(layers, mode)
    except isolation.IsolationError as exc:
        print(f"functions doctor: {exc}", file=sys.stderr)
        return 1
    if problems:
        print("best-effort: customer code would run without: " + "; ".join(problems))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="functions",
        description="Write, check and run sandboxed Python destination functions.",
    )
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser("validate", help="check a function folder; exit 1 with problems")
    validate.add_argument(
        "path", nargs="+", help="function folders, their handler.py, or .py files"
    )
    validate.set_defaults(run=cmd_validate)

    invoke = sub.add_parser(
        "invoke",
        help="run a function on an event or a batch, print JSON",
        description="Run a function on an event or a batch and print JSON. "
        "functions_sdk.store is in memory here: it starts empty and is gone when "
        "the command ends (deployed instances keep theirs).",
    )
    invoke.add_argument("path", help="function folder, its handler.py, or a .py file")
    invoke.add_argument(
        "--event",
        required=True,
        metavar="FILE",
        help="JSON file: one event (object) or a batch (array)",
    )
    invoke.add_argument("--settings", metavar="FILE", help="JSON file with settings values")
    invoke.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="wall-clock limit per event (default: the manifest's, or 5)",
    )
    invoke.add_argument(
        "--allow-host",
        dest="allow",
        action="append",
        metavar="HOST",
        help="let fetch reach this host/IP/CIDR (e.g. 127.0.0.1); repeatable",
    )
    invoke.add_argument("--pretty", action="store_true", help="indent the JSON output")
    invoke.set_defaults(run=cmd_invoke)

    serve = sub.add_parser("serve", help="run the API, ingest and delivery workers (embedded)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787)
    serve.add_argument("--data-dir", default=".functions", help="default: ./.functions")
    serve.add_argument(
        "--allow-host",
        dest="allow",
        action="append",
        metavar="HOST",
        help="let fetch reach this host/IP/CIDR; repeatable",
    )
    serve.add_argument(
        "--delivery-processes",
        type=int,
        default=2,
        metavar="N",
        help="delivery processes beside the API's (default 2)",
    )
    serve.add_argument(
        "--workers", type=int, default=2, help="delivery loops per delivery process (default 2)"
    )
    serve.add_argument(
        "--cpu-affinity",
        choices=cpus.CHOICES,
        default="on",
        help="on: serve runs on one CPU, the delivery processes on the others (their "
        "threads and sandbox workers with them: fewer cross-CPU wake-ups); off: the "
        "kernel places them (default on)",
    )
    serve.add_argument(
        "--cpu-latency-qos",
        choices=latency.CHOICES,
        default="off",
        help="on: idle CPUs poll instead of halting while serve runs, so a process "
        "woken on another CPU starts at once (cheaper hand-offs between serve, delivery "
        "and sandbox processes; idle CPUs stay busy, so only for a host that runs little "
        "else; needs root); off: the kernel's idle states (default off)",
    )
    serve.add_argument(
        "--warm-workers",
        type=int,
        default=None,
        metavar="N",
        help="sandbox workers each delivery process keeps warm (default 64; about 5 MB "
        "of memory each): raise it when many functions in many workspaces are busy",
    )
    serve.add_argument(
        "--delivery-nice",
        type=int,
        default=None,
        metavar="N",
        help="run delivery processes N steps below serve's CPU priority, so a burst of "
        "ingest is answered first (0-19, default 10)",
    )
    serve.add_argument(
        "--max-attempts",
        type=int,
        default=8,
        help="attempts before an event is dead-lettered (default 8)",
    )
    serve.add_argument(
        "--retry-base",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="the first wait between attempts (default 1); the waits grow to fill the window",
    )
    serve.add_argument(
        "--retry-window",
        type=float,
        default=4 * 3600.0,
        metavar="SECONDS",
        help="the attempts of an event spread over this long (default 14400: 4 hours; "
        "at most 43200); a function's [retry] table in function.toml sets its own",
    )
    serve.add_argument(
        "--isolation",
        choices=("strict", "best-effort"),
        help="strict (default, or FUNCTIONS_ISOLATION): refuse to run code when an OS "
        "isolation layer this machine could have is missing; best-effort: warn",
    )
    serve.set_defaults(run=cmd_serve)
    doctor = sub.add_parser("doctor", help="show which sandbox isolation layers are active")
    doctor.add_argument("--isolation", choices=("strict", "best-effort"))
    doctor.set_defaults(run=cmd_doctor)
    add_commands(sub)
    add_library_commands(sub)
    add_lambda_invoke(sub)
    add_scaffold_commands(sub)
    return root


def cmd_serve(args: argparse.Namespace) -> int:
    from ..control.ports import StoreError
    from ..delivery.dispatch import DeliveryPolicy
    from ..server.deliverer import DELIVERY_NICENESS, WARM_WORKERS
    from ..server.serve import serve

    niceness = DELIVERY_NICENESS if args.delivery_nice is None else args.delivery_nice
    if not 0 <= niceness <= 19:
        raise UsageError(f"--delivery-nice must be 0 to 19, got {niceness}")
    warm = WARM_WORKERS if args.warm_workers is None else args.warm_workers
    if min(args.max_attempts, args.workers, args.delivery_processes, warm) < 1:
        raise UsageError(
            "--max-attempts, --workers, --delivery-processes and --warm-workers must be >= 1"
        )
    if args.retry_base <= 0:
        raise UsageError("--retry-base must be > 0")
    from ..sandbox.host import isolation

    try:
        # The delivery processes read it from their environment.
        os.environ[isolation.ENV] = isolation.mode_from(args.isolation)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    policy = DeliveryPolicy(
        max_attempts=args.max_attempts,
        max_age=timedelta(seconds=args.retry_window),
        base_delay=args.retry_base,
    )
    try:
        policy.schedule()
    except ValueError as exc:
        raise UsageError(f"--max-attempts / --retry-window: {exc}") from None
    try:
        serve(
            args.host,
            args.port,
            Path(args.data_dir),
            allow_list(args.allow),
            workers=args.workers,
            policy=policy,
            processes=args.delivery_processes,
            delivery_niceness=niceness,
            warm_workers=warm,
            cpu_affinity=args.cpu_affinity,
            cpu_latency_qos=args.cpu_latency_qos,
        )
    except StoreError as exc:  # a database that cannot be used: refuse to start
        raise UsageError(str(exc)) from None
    return 0


def _fail(message: str) -> NoReturn:
    print(f"functions: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    from ..sandbox.host.isolation import set_non_dumpable

    set_non_dumpable()  # the CLI holds API keys and settings: not readable via /proc
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:  # `functions logs ... | head`: the reader left; end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UsageError as exc:
        _fail(str(exc))
    except ApiError as exc:
        print(f"functions: error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
