"""``functions lambda-invoke`` and ``functions local-aws``: the template's Lambda handlers
on this machine, with no AWS account and no Docker.

``lambda-invoke LOGICAL_ID -e FILE`` runs one handler as Lambda would
(:mod:`.local_invoke`). With no ``AWS_ENDPOINT_URL`` in the environment (and no
``--aws``) it first starts local AWS (:mod:`.local_aws`: moto, the template's resources,
the sample credentials), so the sample events work on a fresh clone. Without a built
code directory (``build/lambda``) it builds one from this tree into a temporary folder.
``--pipeline`` runs API -> queue -> worker -> a local HTTP sink and prints each hop.

Exit status: 0 when the handler returned (and, for the API, answered below 500), 1 when
it raised, timed out or answered 5xx, with the cause on one line on stderr; 2 for usage
errors. ``local-aws`` keeps local AWS running for ``sam local invoke`` / ``start-api``
and writes the ``--env-vars`` file that points the functions at it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .local_invoke import (
    LambdaFunction,
    LambdaInvokeError,
    find_function,
    invoke,
    load_template,
    resolve_environment,
)

__all__ = ["add_lambda_invoke", "one_line_error", "run_command"]


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LambdaInvokeError(f"cannot read {what} {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise LambdaInvokeError(f"{what} {path} is not JSON: {exc}") from None


def _check_abi(code_dir: Path) -> None:
    """Refuse a code directory whose compiled modules are for another Python (a
    ``sam build`` output for 3.12, run by 3.11, fails later on a pydantic_core import)."""
    tag = sys.implementation.cache_tag  # e.g. cpython-311
    for found in code_dir.glob("*/*.cpython-*.so"):
        if f".{tag}-" not in found.name:
            raise LambdaInvokeError(
                f"{code_dir} holds {found.relative_to(code_dir)}, built for another Python "
                f"than this one ({tag}): run with that Python, or leave out --code-dir to "
                "use the source tree"
            )


@contextlib.contextmanager
def _code_dir(function: LambdaFunction, template_dir: Path, given: str | None) -> Iterator[None]:
    """The function's code directory: ``--code-dir``, the built ``CodeUri``, or a
    temporary build of this tree (scripts/build_lambda.sh) when there is none."""
    if given:
        function.properties["CodeUri"] = str(Path(given).resolve())
    if given or function.code_dir.is_dir():
        _check_abi(function.code_dir)
        yield
        return
    script = template_dir / "scripts" / "build_lambda.sh"
    if not script.is_file():
        yield  # invoke() names the missing directory
        return
    with tempfile.TemporaryDirectory(prefix="functions-lambda-") as tmp:
        out = Path(tmp) / "code"
        subprocess.run(
            ["bash", str(script), str(out)],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHON": sys.executable},
        )
        function.properties["CodeUri"] = str(out)
        yield


def one_line_error(logical_id: str, ok: bool, result: Any, logs: str) -> str | None:
    """The failure, on one line, or None: a raised error, or an API answer of 5xx (its
    message and the exception the API logged)."""
    if not ok:
        kind = result.get("errorType", "Error") if isinstance(result, dict) else "Error"
        message = result.get("errorMessage", "") if isinstance(result, dict) else str(result)
        return f"{logical_id} failed: {kind}: {' '.join(str(message).split())}"
    status = result.get("statusCode") if isinstance(result, dict) else None
    if not isinstance(status, int) or status < 500:
        return None
    try:
        said = json.loads(result.get("body") or "{}")["error"]["message"]
    except (ValueError, KeyError, TypeError):
        said = ""
    cause = ""
    for line in logs.splitlines():
        with contextlib.suppress(ValueError, AttributeError):
            record = json.loads(line)
            if record.get("exception"):
                cause = str(record["exception"]).strip().splitlines()[-1]
    text = f"{logical_id} answered {status}: {said or 'error'}"
    return f"{text} (cause: {cause})" if cause else text


class _Session:
    """One command's setting: the template, the region, local AWS if started."""

    def __init__(self, args: argparse.Namespace, aws: Any) -> None:
        self.args = args
        self.aws = aws
        self.result: Any = None
        self.template = load_template(args.template)
        self.template_dir = Path(args.template).resolve().parent
        self.region = _region(args)
        self.overrides: dict[str, Any] = (
            _read_json(args.env_file, "env file") if args.env_file else {}
        )
        if aws is not None:
            given = self.overrides.get("Parameters") or {}
            self.overrides["Parameters"] = {**aws.variables, **given}

    def call(self, logical_id: str, event: Any, extra: dict[str, str] | None = None) -> int:
        function = find_function(self.template, logical_id, self.template_dir)
        overrides = dict(self.overrides)
        if extra:
            overrides["Parameters"] = {**(overrides.get("Parameters") or {}), **extra}
        variables = resolve_environment(self.template, function, overrides, region=self.region)
        environ = self.aws.environ() if self.aws is not None else None
        with (
            tempfile.TemporaryFile("w+") as logs,
            _code_dir(function, self.template_dir, self.args.code_dir),
        ):
            ok, result = invoke(
                function,
                event,
                variables,
                timeout=self.args.timeout,
                region=self.region,
                stderr=logs,
                extra_env=environ,
            )
            logs.seek(0)
            text = logs.read()
        sys.stderr.write(text)
        self.result = result
        problem = one_line_error(logical_id, ok, result, text)
        if problem:
            print(f"functions: error: {problem}", file=sys.stderr)
        return 1 if problem else 0


def _region(args: argparse.Namespace) -> str:
    return str(
        args.region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )


def _local(args: argparse.Namespace) -> contextlib.AbstractContextManager[Any]:
    if args.aws or os.environ.get("AWS_ENDPOINT_URL"):
        return contextlib.nullcontext(None)
    from .local_aws import local_aws

    print("functions: starting local AWS (moto) with template.yaml's resources", file=sys.stderr)
    return local_aws(region=_region(args))


def run_command(args: argparse.Namespace) -> int:
    try:
        if args.timeout is not None and not 0 < args.timeout <= 900:
            raise LambdaInvokeError("--timeout must be between 0 and 900 seconds")
        if not args.pipeline and not args.logical_id:
            raise LambdaInvokeError("give LOGICAL_ID (e.g. ApiFunction), or --pipeline")
        event = _read_json(args.event, "event")
        with _local(args) as aws:
            session = _Session(args, aws)
            if args.pipeline:
                from .local_pipeline import run_pipeline

                return run_pipeline(session, event)
            code = session.call(args.logical_id, event)
    except LambdaInvokeError as exc:
        print(f"functions: error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"functions: error: {exc}", file=sys.stderr)
        return 2
    json.dump(session.result, sys.stdout, indent=2 if args.pretty else None)
    sys.stdout.write("\n")
    return code


def run_local_aws(args: argparse.Namespace) -> int:
    """Keep local AWS running until interrupted; write the ``--env-vars`` file."""
    from .local_aws import local_aws

    try:
        with local_aws(args.host, args.port) as aws:
            seen = args.container_endpoint or aws.endpoint
            aws.write_env_vars(Path(args.env_vars), seen)
            print(f"local AWS at {aws.endpoint}; env vars in {args.env_vars}", flush=True)
            print(f"export {' '.join(f'{k}={v}' for k, v in aws.environ().items())}", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                sys.stdin.read() if args.until_stdin_closes else _wait_forever()
    except RuntimeError as exc:
        print(f"functions: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _wait_forever() -> None:
    import threading

    threading.Event().wait()


def add_lambda_invoke(sub: Any) -> None:
    """Register ``lambda-invoke`` and ``local-aws`` on the ``functions`` subcommands."""
    cmd = sub.add_parser(
        "lambda-invoke",
        help="call a template.yaml function's handler as Lambda would (no AWS, no Docker)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    cmd.add_argument(
        "logical_id", nargs="?", metavar="LOGICAL_ID", help="ApiFunction or WorkerFunction"
    )
    cmd.add_argument("-e", "--event", required=True, metavar="FILE", help="JSON event file")
    cmd.add_argument(
        "-t", "--template", default="template.yaml", metavar="FILE", help="default: template.yaml"
    )
    cmd.add_argument(
        "--env-file",
        "-n",
        metavar="FILE",
        help='variable values: {"Parameters": {VAR: value}, "<LogicalId>": {VAR: value}}',
    )
    cmd.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="deadline (default: the Timeout)"
    )
    cmd.add_argument("--code-dir", metavar="DIR", help="code directory (default: the CodeUri)")
    cmd.add_argument("--region", help="default: AWS_REGION, AWS_DEFAULT_REGION or us-east-1")
    cmd.add_argument("--pretty", action="store_true", help="indent the JSON output")
    cmd.add_argument(
        "--aws",
        action="store_true",
        help="use the AWS your shell is configured for, not local AWS",
    )
    cmd.add_argument(
        "--pipeline",
        action="store_true",
        help="the event through ApiFunction, the queue and WorkerFunction to a local sink",
    )
    cmd.set_defaults(run=run_command)

    local = sub.add_parser(
        "local-aws",
        help="run local AWS (moto) with template.yaml's resources for sam local",
    )
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=int, default=4566)
    local.add_argument("--env-vars", default="local-env.json", metavar="FILE")
    local.add_argument(
        "--container-endpoint",
        metavar="URL",
        help="the endpoint as sam's container sees it, e.g. http://host.docker.internal:4566",
    )
    local.add_argument("--until-stdin-closes", action="store_true", help=argparse.SUPPRESS)
    local.set_defaults(run=run_local_aws)
