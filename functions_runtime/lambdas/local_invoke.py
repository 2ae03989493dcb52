"""``functions lambda-invoke LOGICAL_ID -e FILE``: call a template's Lambda handler as Lambda would.

For machines without Docker (``sam local invoke`` needs Docker or Finch). It reads
``template.yaml``, finds the function (``Globals.Function`` merged in), and runs its
``Handler`` in a fresh Python process (a cold start) whose working directory and first
``sys.path`` entry are the function's code directory (``CodeUri``, e.g. ``build/lambda``),
with:

- the function's ``Environment.Variables`` from the template: ``!Ref`` to a parameter
  gives its default; ``!If`` follows the template's conditions, and a variable that
  comes out as ``AWS::NoValue`` is not set; ``!Ref`` / ``!GetAtt`` / ``!Sub`` on
  resources give placeholders (the logical id, ``Id.Attribute``) unless ``--env-file``
  gives the value. The env file has ``sam local invoke --env-vars``'s shape,
  ``{"Parameters": {VAR: value}, "<LogicalId>": {VAR: value}}``, so one file
  serves both tools; as there, only variables the template declares are set;
- Lambda's own variables (``AWS_LAMBDA_FUNCTION_NAME``, ``LAMBDA_TASK_ROOT``,
  ``AWS_REGION``…) and ``AWS_SAM_LOCAL=true`` (Powertools then skips X-Ray, as under
  ``sam local``); from this shell only ``PATH``, ``HOME``, ``LANG``, ``TMPDIR`` and
  ``AWS_*`` (credentials, profile, region, ``AWS_ENDPOINT_URL``) are passed on;
- a context object (``aws_request_id``, ``function_name``, ``function_version``,
  ``memory_limit_in_mb``, ``invoked_function_arn``, ``log_group_name``,
  ``log_stream_name`` and ``get_remaining_time_in_millis()`` counting down to the
  deadline: the function's ``Timeout``, or ``--timeout``).

The deadline is enforced from outside: past it the process group is killed and the
result is Lambda's ``{"errorType": "Sandbox.Timedout", "errorMessage": "<time>
<request id> Task timed out after N.00 seconds"}``. The handler's own output (logs, EMF
metrics) goes to stderr; the result goes to stdout as one JSON document: what the
handler returned, or Lambda's ``{"errorMessage", "errorType", "requestId",
"stackTrace"}`` when it raised. Exit status 0 when the handler returned, 1 when it
raised or timed out, 2 for usage errors (unknown function, missing code directory…).

This file is also the child's bootstrap: run by path, it imports nothing from the
``functions_runtime`` package before the code directory is first on ``sys.path``, so
the handler and everything it imports come from the code directory, as on Lambda.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "LambdaFunction",
    "LambdaInvokeError",
    "find_function",
    "invoke",
    "load_template",
    "resolve_environment",
]

DEFAULT_TIMEOUT = 3  # Lambda's default, as in SAM
DEFAULT_MEMORY = 128
INIT_LIMIT = 10.0  # seconds Lambda allows the init phase before counting it in the invoke
ACCOUNT_ID = "123456789012"
PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


class LambdaInvokeError(Exception):
    """The template or the command line does not allow the invocation (exit status 2)."""


# -- the template ------------------------------------------------------------------------


def load_template(path: str | Path) -> dict[str, Any]:
    """The template as plain data; short-form tags become their long form
    (``!Ref X`` -> ``{"Ref": "X"}``, ``!GetAtt A.B`` -> ``{"Fn::GetAtt": ["A", "B"]}``)."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - PyYAML comes with the dev extras
        raise LambdaInvokeError("reading template.yaml needs PyYAML: pip install pyyaml") from None

    class _Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    def construct(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
        name = suffix if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if suffix == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    _Loader.add_multi_constructor("!", construct)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LambdaInvokeError(f"cannot read template {path}: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise LambdaInvokeError(f"template {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise LambdaInvokeError(f"template {path} has no Resources")
    return data


class LambdaFunction:
    """One function of a template, with ``Globals.Function`` merged in."""

    def __init__(self, logical_id: str, properties: dict[str, Any], template_dir: Path) -> None:
        self.logical_id = logical_id
        self.properties = properties
        self.template_dir = template_dir

    @property
    def handler(self) -> str:
        handler = self.properties.get("Handler")
        if not isinstance(handler, str) or "." not in handler:
            raise LambdaInvokeError(f"{self.logical_id} has no Handler of the form module.func")
        return handler

    @property
    def timeout(self) -> float:
        return float(self.properties.get("Timeout", DEFAULT_TIMEOUT))

    @property
    def memory_mb(self) -> int:
        return int(self.properties.get("MemorySize", DEFAULT_MEMORY))

    @property
    def code_dir(self) -> Path:
        uri = self.properties.get("CodeUri", ".")
        if not isinstance(uri, str) or uri.startswith("s3://"):
            raise LambdaInvokeError(f"{self.logical_id}: CodeUri {uri!r} is not a local directory")
        return (self.template_dir / uri).resolve()

    @property
    def variables(self) -> dict[str, Any]:
        env = self.properties.get("Environment") or {}
        found = env.get("Variables") or {}
        return dict(found) if isinstance(found, dict) else {}


def find_function(template: dict[str, Any], logical_id: str, template_dir: Path) -> LambdaFunction:
    """The function ``logical_id`` with its globals; ``LambdaInvokeError`` naming the
    functions there are when it is not one of them."""
    resources: dict[str, Any] = template["Resources"]
    functions = sorted(k for k, v in resources.items() if v.get("Type") in FUNCTION_TYPES)
    resource = resources.get(logical_id)
    if resource is None or resource.get("Type") not in FUNCTION_TYPES:
        raise LambdaInvokeError(
            f"no function {logical_id!r} in the template; its functions: {', '.join(functions)}"
        )
    properties = dict(resource.get("Properties") or {})
    if resource["Type"] == "AWS::Serverless::Function":
        defaults = ((template.get("Globals") or {}).get("Function")) or {}
        merged = {**defaults, **properties}
        variables = {
            **((defaults.get("Environment") or {}).get("Variables") or {}),
            **((properties.get("Environment") or {}).get("Variables") or {}),
        }
        merged["Environment"] = {"Variables": variables}
        properties = merged
    else:  # a plain Lambda function: Code is not a local directory
        properties.setdefault("CodeUri", properties.get("Code"))
    return LambdaFunction(logical_id, properties, template_dir)


# -- intrinsic functions ------------------------------------------------------------------


def _pseudo(region: str) -> dict[str, str]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::StackName": "local",
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/local/local",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NoValue": "",
    }


class _NoValue(Exception):
    """``!Ref AWS::NoValue`` where a value was expected: the property is left out."""


class _Resolver:
    """Values for intrinsics: parameters by default value (or as given), pseudo
    parameters, conditions (``Fn::If``, ``Fn::Equals``, ``Fn::Not``, ``Fn::And``,
    ``Fn::Or``), and placeholders for resources (which exist only in a deployed stack)."""

    def __init__(
        self, template: dict[str, Any], region: str, given: Mapping[str, Any] | None = None
    ) -> None:
        self.parameters = template.get("Parameters") or {}
        self.resources = template.get("Resources") or {}
        self.conditions = template.get("Conditions") or {}
        self.pseudo = _pseudo(region)
        self.given = dict(given or {})

    def ref(self, name: str) -> str:
        if name == "AWS::NoValue":
            raise _NoValue(name)
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters and name in self.given:
            return str(self.given[name])
        if name in self.parameters:
            default = self.parameters[name].get("Default")
            if default is None:
                raise LambdaInvokeError(
                    f"parameter {name} has no Default: give the variables that use it "
                    "with --env-file"
                )
            return ",".join(map(str, default)) if isinstance(default, list) else str(default)
        if name in self.resources:
            return name  # what `sam local invoke` gives for a resource it cannot know
        raise LambdaInvokeError(f"!Ref {name}: no such parameter or resource")

    def get_att(self, name: str, attribute: str) -> str:
        if name not in self.resources:
            raise LambdaInvokeError(f"!GetAtt {name}.{attribute}: no such resource")
        return f"{name}.{attribute}"

    def resolve(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, dict) and len(value) == 1:
            fn, arg = next(iter(value.items()))
            if fn == "Ref":
                return self.ref(str(arg))
            if fn == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
                return self.get_att(str(parts[0]), str(parts[1]))
            if fn == "Fn::Sub":
                return self.sub(arg)
            if fn == "Fn::Join":
                separator, items = arg
                return str(separator).join(self.resolve(item) for item in items)
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(items[int(index)])
            if fn == "Fn::ImportValue":
                return f"ImportValue:{self.resolve(arg)}"
            if fn == "Fn::If":
                name, if_true, if_false = arg
                return self.resolve(if_true if self.condition(str(name)) else if_false)
        raise LambdaInvokeError(f"cannot resolve {value!r}: give the variable with --env-file")

    def condition(self, name: str) -> bool:
        """The value of the template's condition ``name``."""
        if name not in self.conditions:
            raise LambdaInvokeError(f"Fn::If {name}: no such condition")
        return self.truth(self.conditions[name])

    def truth(self, value: Any) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            fn, arg = next(iter(value.items()))
            if fn == "Condition":
                return self.condition(str(arg))
            if fn == "Fn::Equals":
                left, right = arg
                return self.resolve(left) == self.resolve(right)
            if fn == "Fn::Not":
                return not self.truth(arg[0])
            if fn == "Fn::And":
                return all(self.truth(item) for item in arg)
            if fn == "Fn::Or":
                return any(self.truth(item) for item in arg)
        raise LambdaInvokeError(f"cannot evaluate the condition {value!r}")

    def sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        out: list[str] = []
        rest = str(text)
        while "${" in rest:
            before, _, after = rest.partition("${")
            name, _, rest = after.partition("}")
            out.append(before)
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
            elif name in extra:
                out.append(self.resolve(extra[name]))
            elif "." in name and name.split(".", 1)[0] in self.resources:
                out.append(self.get_att(*name.split(".", 1)))
            else:
                out.append(self.ref(name))
        out.append(rest)
        return "".join(out)


def _read_env_file(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LambdaInvokeError(f"cannot read env file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise LambdaInvokeError(f"env file {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise LambdaInvokeError(
            f'env file {path}: expected {{"Parameters": {{VAR: value}}, '
            '"<LogicalId>": {VAR: value}} (sam local invoke --env-vars)'
        )
    return data


def resolve_environment(
    template: dict[str, Any],
    function: LambdaFunction,
    overrides: Mapping[str, Any] | None = None,
    *,
    region: str = "us-east-1",
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The function's variables from the template, with ``overrides`` (the env file's
    shape) applied to the variables the template declares. ``parameters`` are template
    parameter values (``sam --parameter-overrides``); a variable whose value is
    ``!Ref AWS::NoValue`` (through ``!If``) is not set."""
    overrides = overrides or {}
    given = {
        **(overrides.get("Parameters") or {}),
        **(overrides.get(function.logical_id) or {}),
    }
    resolver = _Resolver(template, region, parameters)
    env: dict[str, str] = {}
    for name, value in function.variables.items():
        if name in given:
            env[name] = str(given[name])
            continue
        with contextlib.suppress(_NoValue):  # AWS::NoValue: the variable is not set
            env[name] = resolver.resolve(value)
    return env


# -- invoking -------------------------------------------------------------------------------


def _process_environment(
    function: LambdaFunction,
    variables: Mapping[str, str],
    region: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in PASSTHROUGH or k.startswith("AWS_")}
    env.update(extra or {})
    name = function.logical_id
    env.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(function.timeout)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "$LATEST",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.properties.get('Runtime', 'python')}",
            "AWS_SAM_LOCAL": "true",
            "LAMBDA_TASK_ROOT": str(function.code_dir),
            "TZ": ":UTC",
        }
    )
    env.setdefault("LANG", "en_US.UTF-8")
    env.update(variables)
    return env


def _timed_out(request_id: str, seconds: float) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"{now} {request_id} Task timed out after {seconds:.2f} seconds",
    }


def invoke(
    function: LambdaFunction,
    event: Any,
    variables: Mapping[str, str],
    *,
    timeout: float | None = None,
    region: str = "us-east-1",
    stderr: Any = None,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[bool, Any]:
    """Run the handler once in a fresh process; ``(ok, result)``. ``ok`` is False when
    the handler raised or timed out (``result`` is then Lambda's error object).
    ``extra_env`` (e.g. a local AWS endpoint and credentials) is set before the
    function's variables."""
    code_dir = function.code_dir
    if not code_dir.is_dir():
        raise LambdaInvokeError(
            f"{function.logical_id}: code directory {code_dir} does not exist "
            "(run `make build-lambda`, or pass --code-dir)"
        )
    seconds = function.timeout if timeout is None else timeout
    request_id = str(uuid.uuid4())
    read_fd, write_fd = os.pipe()
    arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function.logical_id}"
    command = [
        sys.executable,
        "-B",
        str(Path(__file__).resolve()),
        str(code_dir),
        function.handler,
        str(write_fd),
        str(seconds),
        request_id,
        arn,
    ]
    try:
        child = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=stderr if stderr is not None else sys.stderr,
            stderr=stderr if stderr is not None else sys.stderr,
            cwd=code_dir,
            env=_process_environment(function, variables, region, extra_env),
            pass_fds=(write_fd,),
            start_new_session=True,
        )
    finally:
        os.close(write_fd)
    try:
        assert child.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # the child may exit without reading
            child.stdin.write(json.dumps(event).encode())
        with contextlib.suppress(BrokenPipeError):
            child.stdin.close()
        return _await(child, read_fd, seconds, request_id)
    finally:
        os.close(read_fd)
        if child.poll() is None:
            _kill(child)


def _await(
    child: subprocess.Popen[bytes], fd: int, seconds: float, request_id: str
) -> tuple[bool, Any]:
    """Read ``ready`` (init done) then the result; kill the child at the deadline."""
    import selectors

    buffer = bytearray()
    deadline = time.monotonic() + INIT_LIMIT + seconds  # until init reports ready
    ready = False
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill(child)
                return False, _timed_out(request_id, seconds)
            if not selector.select(timeout=left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buffer.extend(chunk)
            if not ready and b"\n" in buffer:
                line, _, rest = bytes(buffer).partition(b"\n")
                if line == b"ready":
                    ready = True
                    deadline = min(deadline, time.monotonic() + seconds)
                    buffer = bytearray(rest)
    status = child.wait()
    text = bytes(buffer).decode("utf-8", "replace")
    if not ready or not text.strip():
        return False, {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with status {status}",
        }
    reply = json.loads(text)
    return bool(reply["ok"]), reply["result"]


def _kill(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


# The command line (``add_lambda_invoke``, local AWS, ``--pipeline``): local_command.py.


# -- the child: Lambda's side of one invocation ------------------------------------------


class _Context:
    """The Lambda context object (the attributes awslambdaric gives handlers)."""

    def __init__(self, request_id: str, arn: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(exc: BaseException, request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _child(argv: list[str]) -> int:
    code_dir, handler_name, fd_text, seconds, request_id, arn = argv
    sys.path[:] = [code_dir, *[p for p in sys.path[1:] if p != code_dir]]
    out = os.fdopen(int(fd_text), "w", encoding="utf-8")
    event = json.loads(sys.stdin.read() or "null")

    def reply(ok: bool, result: Any) -> int:
        try:
            text = json.dumps({"ok": ok, "result": result})
        except (TypeError, ValueError) as exc:
            text = json.dumps(
                {
                    "ok": False,
                    "result": {
                        "errorMessage": f"Unable to marshal response: {exc}",
                        "errorType": "Runtime.MarshalError",
                        "requestId": request_id,
                        "stackTrace": [],
                    },
                }
            )
        out.write(text)
        out.flush()
        return 0

    import importlib

    module_name, _, function_name = handler_name.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # an init error is the invocation's result, as on Lambda
        out.write("ready\n")
        error = _error(exc, request_id)
        error["errorType"] = f"Runtime.ImportModuleError: {error['errorType']}"
        return reply(False, error)
    context = _Context(request_id, arn, time.monotonic() + float(seconds))
    out.write("ready\n")
    out.flush()
    try:
        result = handler(event, context)
    except Exception as exc:
        return reply(False, _error(exc, request_id))
    return reply(True, result)


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
