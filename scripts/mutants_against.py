"""Run mutmut's mutants against a few chosen test files, one forked pytest per mutant.

``mutmut run`` runs every test of its selection that reaches the mutated function; on a
busy machine that is 30-60 s per surviving delivery mutant. This runs the mutants of
``mutants/`` (made by a previous ``mutmut run``) against the test files you name, in a
forked child per mutant with ``MUTANT_UNDER_TEST`` set, as mutmut does. A narrower
selection can only miss kills, never invent them: a mutant it reports killed is killed.

    python scripts/mutants_against.py 'functions_runtime.delivery.dispatch.*_settle__mutmut_*' \\
        -- tests/functional/test_delivery_failures.py tests/unit/test_retries.py

Results go to stdout and are appended to ``--out`` (one ``name killed|survived|rcN
seconds`` line each); names already in ``--out`` are skipped, so a stopped run resumes.
Run it under ``nice -n 19`` on a shared machine.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import sys
import time
from pathlib import Path

_DEF = re.compile(r"^\s*def (x[^\s(]*__mutmut_\d+)\(", re.MULTILINE)


def mutant_names(root: Path) -> list[str]:
    """Every mutant in the mutated copies under ``root`` (``mutants/``), in file order."""
    names: list[str] = []
    for path in sorted(root.joinpath("functions_runtime").rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        names += [f"{module}.{name}" for name in _DEF.findall(path.read_text("utf-8"))]
    return names


def run_one(name: str, pytest_args: list[str]) -> int:
    """Exit code of pytest on ``pytest_args`` with ``name`` active, in a forked child."""
    import pytest

    pid = os.fork()
    if pid == 0:  # the child: quiet, the mutant active, then pytest
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.environ["MUTANT_UNDER_TEST"] = name
        code = pytest.main(["--rootdir=.", "-x", "-q", "-p", "no:cacheprovider", *pytest_args])
        os._exit(int(code))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("patterns", nargs="+", help="mutant name globs")
    parser.add_argument("--mutants", default="mutants", help="mutmut's mutated copy")
    parser.add_argument("--out", default="mutants/against.txt", help="results file")
    options = parser.parse_args(argv[:split])
    pytest_args = argv[split + 1 :]
    if not pytest_args:
        parser.error("name the tests to run after --")
    out = Path(options.out).resolve()
    done = {line.split()[0] for line in out.read_text().splitlines()} if out.exists() else set()
    os.chdir(options.mutants)
    sys.path.insert(0, os.getcwd())
    import pytest

    # Import and collect once here: every forked child then starts warm.
    pytest.main(["--rootdir=.", "--collect-only", "-qqq", "-p", "no:cacheprovider", *pytest_args])
    wanted = [
        name
        for name in mutant_names(Path("."))
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in options.patterns)
        and name not in done
    ]
    with out.open("a") as results:
        for name in wanted:
            started = time.monotonic()
            code = run_one(name, pytest_args)
            verdict = {0: "survived", 1: "killed"}.get(code, f"rc{code}")
            line = f"{name} {verdict} {time.monotonic() - started:.1f}s"
            print(line, flush=True)
            results.write(line + "\n")
            results.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
