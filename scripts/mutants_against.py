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

Sandbox guest mutants: workers start with ``python -I`` and an allow-listed environment
(``sandbox/host/zygote_client.py``), so ``MUTANT_UNDER_TEST`` never reaches them, though
they import the mutated copy (the host's import path, ``mutants/`` first, is passed to
them). So this script adds :data:`GUEST_HOOK` to the *generated* copy
``mutants/functions_runtime/sandbox/guest/__init__.py`` (never to the source tree) and
writes each mutant's name to ``mutants/.mutant_under_test`` before running it: a zygote
or exec'ed worker reads that file once, when it imports ``sandbox.guest``, before any
confinement, and activates the same mutant as the host. Production has no such file
and no such hook; nothing in configuration, the CLI, the API or the environment reaches
it, and no isolation layer changes (the worker's environment stays the allow-list).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import resource
import signal
import sys
import time
from pathlib import Path

MARKER = ".mutant_under_test"
GUEST_INIT = Path("functions_runtime", "sandbox", "guest", "__init__.py")
GUEST_HOOK = f"""

# -- added by scripts/mutants_against.py to this generated copy only ----------------
def _mutmut_mutant_from_file() -> None:
    import os
    import pathlib

    from mutmut.mutation import trampoline

    marker = pathlib.Path(__file__).resolve().parents[3] / {MARKER!r}
    if "MUTANT_UNDER_TEST" not in os.environ and marker.is_file():
        trampoline._mutant_under_test = marker.read_text().strip()


_mutmut_mutant_from_file()
"""

_DEF = re.compile(r"^\s*def (x[^\s(]*__mutmut_\d+)\(", re.MULTILINE)


def mutant_names(root: Path) -> list[str]:
    """Every mutant in the mutated copies under ``root`` (``mutants/``), in file order."""
    names: list[str] = []
    for path in sorted(root.joinpath("functions_runtime").rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        names += [f"{module}.{name}" for name in _DEF.findall(path.read_text("utf-8"))]
    return names


def hook_guest(root: Path) -> None:
    """Add :data:`GUEST_HOOK` to the mutated copy's ``sandbox/guest/__init__.py`` once."""
    init = root / GUEST_INIT
    if init.exists() and "_mutmut_mutant_from_file" not in init.read_text("utf-8"):
        with init.open("a", encoding="utf-8") as handle:
            handle.write(GUEST_HOOK)


def run_one(name: str, pytest_args: list[str], *, memory_mb: int = 3072, seconds: int = 300) -> int:
    """Exit code of pytest on ``pytest_args`` with ``name`` active, in a forked child
    that may use ``memory_mb`` of address space and ``seconds`` of wall time (a mutant
    that loops forever, or allocates forever, must not take the shared machine down:
    one grew a test child to 24 GB before the kernel's OOM killer stopped it)."""
    import pytest

    Path(MARKER).write_text(name)  # for workers: see the module's docstring
    pid = os.fork()
    if pid == 0:  # the child: quiet, bounded, the mutant active, then pytest
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        signal.alarm(seconds)  # SIGALRM's default action ends the child
        os.environ["MUTANT_UNDER_TEST"] = name
        code = pytest.main(["--rootdir=.", "-x", "-q", "-p", "no:cacheprovider", *pytest_args])
        os._exit(int(code))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def verdict(code: int) -> str:
    """``killed`` (a test failed), ``survived``, ``timeout`` (counted as killed, as
    mutmut counts it) or ``rcN`` (pytest could not run: look at that mutant by hand)."""
    if code == -signal.SIGALRM:
        return "timeout"
    return {0: "survived", 1: "killed"}.get(code, f"rc{code}")


PRIVATE_MOUNTS = "MUTANTS_PRIVATE_MOUNTS"


def private_mounts(argv: list[str]) -> None:
    """As root, run again in a mount namespace of our own (``unshare --mount
    --propagation private``): a mutant of the sandbox's namespace code that skips its
    ``unshare`` mounts the worker's empty ``/tmp`` and ``/proc`` over the *machine's*
    (it did, in round 4, and filled every program's ``/tmp``). In a private namespace
    such a mount stays in this run. Not root: a mutant cannot mount anything."""
    if os.geteuid() != 0 or os.environ.get(PRIVATE_MOUNTS):
        return
    os.environ[PRIVATE_MOUNTS] = "1"
    command = ["unshare", "--mount", "--propagation", "private"]
    os.execvp("unshare", [*command, sys.executable, os.path.abspath(__file__), *argv])


def main(argv: list[str]) -> int:
    private_mounts(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("patterns", nargs="+", help="mutant name globs")
    parser.add_argument("--mutants", default="mutants", help="mutmut's mutated copy")
    parser.add_argument("--out", default="mutants/against.txt", help="results file")
    parser.add_argument("--memory-mb", type=int, default=3072, help="per mutant's run")
    parser.add_argument("--seconds", type=int, default=300, help="per mutant's run")
    options = parser.parse_args(argv[:split])
    pytest_args = argv[split + 1 :]
    if not pytest_args:
        parser.error("name the tests to run after --")
    out = Path(options.out).resolve()
    done = {line.split()[0] for line in out.read_text().splitlines()} if out.exists() else set()
    os.chdir(options.mutants)
    sys.path.insert(0, os.getcwd())
    hook_guest(Path("."))
    Path(MARKER).unlink(missing_ok=True)
    import pytest

    # Import and collect once here: every forked child then starts warm.
    pytest.main(["--rootdir=.", "--collect-only", "-qqq", "-p", "no:cacheprovider", *pytest_args])
    wanted = [
        name
        for name in mutant_names(Path("."))
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in options.patterns)
        and name not in done
    ]
    try:
        with out.open("a") as results:
            for name in wanted:
                started = time.monotonic()
                code = run_one(
                    name, pytest_args, memory_mb=options.memory_mb, seconds=options.seconds
                )
                line = f"{name} {verdict(code)} {time.monotonic() - started:.1f}s"
                print(line, flush=True)
                results.write(line + "\n")
                results.flush()
    finally:
        Path(MARKER).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
