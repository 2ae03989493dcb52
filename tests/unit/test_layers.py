"""The import rules that each package's ``__init__`` docstring states, enforced.

Every ``import`` and ``from … import`` in ``functions_runtime`` and the SDK (also those
inside functions) is resolved to an absolute module name and checked against the rules
below. A rule names a part of the tree (a package prefix) and the prefixes it must never
import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RT = "functions_runtime"

DEV_TOOLS = ("pytest", "moto", "schemathesis", "mypy", "ruff")
UPPER = (f"{RT}.api", f"{RT}.server", f"{RT}.lambdas", f"{RT}.cli", f"{RT}.demo")
BACKENDS = (
    f"{RT}.control.aws",
    f"{RT}.control.embedded",
    f"{RT}.delivery.aws",
    f"{RT}.delivery.embedded",
)
AWS_LIBS = ("boto3", "botocore")

# part of the tree -> prefixes it must never import (the most specific part applies)
RULES: dict[str, tuple[str, ...]] = {
    RT: DEV_TOOLS,
    f"{RT}.manifest": (*UPPER, f"{RT}.control", f"{RT}.delivery", *AWS_LIBS),
    f"{RT}.sandbox": (
        *UPPER,
        f"{RT}.control",
        f"{RT}.delivery",
        f"{RT}.sandbox.host",
        *AWS_LIBS,
        "aws_lambda_powertools",
    ),
    f"{RT}.sandbox.guest": (
        *UPPER,
        f"{RT}.control",
        f"{RT}.delivery",
        f"{RT}.sandbox.host",
        f"{RT}.manifest",
        *AWS_LIBS,
        "aws_lambda_powertools",
    ),
    f"{RT}.sandbox.host": (*UPPER, f"{RT}.control", f"{RT}.delivery", *AWS_LIBS),
    f"{RT}.control": (*UPPER, f"{RT}.delivery", *BACKENDS, *AWS_LIBS),
    f"{RT}.control.embedded": (*UPPER, f"{RT}.delivery", f"{RT}.control.aws", *AWS_LIBS),
    f"{RT}.control.aws": (*UPPER, f"{RT}.delivery", f"{RT}.control.embedded"),
    f"{RT}.delivery": (*UPPER, *BACKENDS, *AWS_LIBS),
    f"{RT}.delivery.embedded": (
        *UPPER,
        f"{RT}.delivery.aws",
        f"{RT}.control.aws",
        *AWS_LIBS,
    ),
    f"{RT}.delivery.aws": (*UPPER, f"{RT}.delivery.embedded", f"{RT}.control.embedded"),
    f"{RT}.api": (
        f"{RT}.server",
        f"{RT}.lambdas",
        f"{RT}.cli",
        f"{RT}.demo",
        *BACKENDS,
        *AWS_LIBS,
    ),
    f"{RT}.server": (f"{RT}.lambdas", f"{RT}.cli", f"{RT}.demo", *AWS_LIBS),
    f"{RT}.lambdas": (
        f"{RT}.server",
        f"{RT}.cli",
        f"{RT}.demo",
        f"{RT}.control.embedded",
        f"{RT}.delivery.embedded",
    ),
    f"{RT}.cli": (f"{RT}.demo",),
    # Static assets and their lookup: nothing of the runtime, no AWS, no Powertools.
    f"{RT}.console": (
        *UPPER,
        f"{RT}.control",
        f"{RT}.delivery",
        f"{RT}.sandbox",
        f"{RT}.manifest",
        *AWS_LIBS,
        "aws_lambda_powertools",
    ),
    "functions_sdk": (RT, *AWS_LIBS, "aws_lambda_powertools", *DEV_TOOLS),
    # The pytest plugin is loaded by pytest itself: pytest is its one dev tool.
    "functions_sdk.pytest_plugin": (
        RT,
        *AWS_LIBS,
        "aws_lambda_powertools",
        *(tool for tool in DEV_TOOLS if tool != "pytest"),
    ),
}
# The SDK's test helpers reach the runtime through exactly one module.
SDK_TESTING_ENTRY = f"{RT}.sandbox.host.local"


def _module_name(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[:2] == ["sdk", "src"]:
        parts = parts[2:]
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _imports(module: str, is_package: bool, text: str) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from pkg import module`
                yield node.lineno, f"{target}.{alias.name}"


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _rule_for(module: str) -> tuple[str, ...]:
    parts = [part for part in RULES if _under(module, part)]
    return RULES[max(parts, key=len)] if parts else ()


def _sources() -> list[Path]:
    files = sorted((ROOT / RT).rglob("*.py"))
    files += sorted((ROOT / "sdk" / "src" / "functions_sdk").rglob("*.py"))
    return files


def _violations(path: Path) -> list[str]:
    module, is_package = _module_name(path)
    label = str(path.relative_to(ROOT))
    return _check(module, is_package, path.read_text(encoding="utf-8"), label)


def _check(module: str, is_package: bool, text: str, label: str) -> list[str]:
    forbidden = _rule_for(module)
    found = []
    for line, target in _imports(module, is_package, text):
        if module == "functions_sdk.testing" and _under(target, SDK_TESTING_ENTRY):
            continue
        for prefix in forbidden:
            if _under(target, prefix) and not _under(module, prefix):
                found.append(f"{label}:{line}: {module} imports {target}")
    return found


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layer_rules(path: Path) -> None:
    assert _violations(path) == []


def test_every_package_states_its_rules() -> None:
    for init in sorted((ROOT / RT).rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init.relative_to(ROOT)} has no docstring"


def test_the_rules_catch_a_violation() -> None:
    """The checker itself: a guest module importing the control plane is reported."""
    probe = f"{RT}.sandbox.guest.probe"
    found = _check(probe, False, "from ...control import service\n", "probe.py")
    assert f"probe.py:1: {probe} imports {RT}.control.service" in found
    assert _check(probe, False, "import boto3\n", "probe.py") == [
        f"probe.py:1: {probe} imports boto3"
    ]
    sdk = _check("functions_sdk.http", False, f"from {RT}.cli import main\n", "http.py")
    assert sdk and all("imports functions_runtime" in line for line in sdk)
