"""Scenario 2, cold start: a new version's first event, and cold imports of entry points.

* **new worker**: a new ``InstanceSpec`` (a new version: the source gets a nonce) in a
  new pool with no pre-started worker whose zygote has started (``pool.prestart()``,
  untimed: a long-lived pool has one); the clock runs from ``invoke`` to its result, so
  it covers forking a worker from the zygote, compiling the code in the worker and the
  first event (parse, handler, ``fetch`` to the sink). The worker's RSS and PSS are
  read right after, while it sits idle (the worker only, not the zygote).
* **new pool**: the same with the zygote not started yet, so the clock also covers
  starting ``python -I -B`` and its imports (SDK, pydantic, RestrictedPython): what the
  first new version after a process start costs (the only cost before the zygote).
* **spare ready**: the same in a long-lived pool whose pre-started spare worker has
  finished importing: what a new version costs once the pool is warm.
* **imports**: each entry point imported in a fresh ``python -c`` (as a Lambda cold
  start imports its handler module): wall time, the RSS right after, the same with a
  warm bytecode cache (``PYTHONPYCACHEPREFIX``: workers run with ``-B`` and a checkout
  may have no ``.pyc``), and the packages whose import costs most (``-X importtime``
  self times summed per top-level package).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from functions_runtime.sandbox.compiler import compile_function
from functions_runtime.sandbox.host.pool import WorkerPool

from . import workload
from .paths import BenchError
from .procstat import MiB, cpu_seconds, pss_bytes, rss_bytes
from .stats import summary

__all__ = [
    "ENTRY_POINTS",
    "entry_points",
    "import_breakdown",
    "lambda_entry_points",
    "lambda_environment",
    "run_cold",
    "time_import",
]

ENTRY_POINTS: tuple[str, ...] = (
    "functions_sdk",
    "functions_runtime.sandbox.guest.worker",
    "functions_runtime.sandbox.host.pool",
    "functions_runtime.cli",
    "functions_runtime.api.app",
    "functions_runtime.delivery.dispatch",
)
"""Modules whose cold import is timed, each in a fresh interpreter; the Lambda handlers
named in ``template.yaml`` are added to these (:func:`entry_points`). A module that
fails to import is reported with its error (``missing`` when it does not exist yet),
not fatal."""

_HANDLER = re.compile(r"^\s*Handler:\s*([A-Za-z_][\w.]*)\.\w+\s*$", re.MULTILINE)
_ENV_VAR = re.compile(r"^\s+([A-Z][A-Z0-9_]+):\s*(\S.*?)\s*$", re.MULTILINE)
_BLOCK = re.compile(r"^  ([A-Za-z][A-Za-z0-9]*):[ \t]*\n((?:    .*\n)+)", re.MULTILINE)
_DEFAULT = re.compile(r"^    Default:\s*(.*?)\s*$", re.MULTILINE)


ROOT = Path(__file__).resolve().parent.parent


def lambda_entry_points(template: Path | None = None) -> list[str]:
    """The modules of the Lambda handlers in ``template.yaml`` (``Handler: module.func``)."""
    path = template or ROOT / "template.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    return list(dict.fromkeys(_HANDLER.findall(text)))


def lambda_environment(template: Path | None = None) -> dict[str, str]:
    """This environment plus what the template gives every function, as on Lambda:
    literal values as they are, ``!Ref`` to a parameter as its default, other ``!Ref`` /
    ``!GetAtt`` as placeholders (building AWS clients at import needs names and a
    region, not real resources)."""
    path = template or ROOT / "template.yaml"
    env = dict(os.environ)
    env.setdefault("AWS_REGION", "us-east-1")
    env.setdefault("AWS_DEFAULT_REGION", env["AWS_REGION"])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return env
    defaults = {}
    for name, body in _BLOCK.findall(text):
        found = _DEFAULT.search(body)
        if found:
            defaults[name] = found.group(1).strip("\"'")
    for name, value in _ENV_VAR.findall(text):
        if not value.startswith("!"):
            env.setdefault(name, value.strip("\"'"))
        elif value.startswith("!Ref ") and value[5:].strip() in defaults:
            env.setdefault(name, defaults[value[5:].strip()])  # a parameter's default
        else:
            env.setdefault(name, f"bench-{name.lower()}")  # a resource's name or ARN
    return env


def entry_points() -> list[str]:
    """:data:`ENTRY_POINTS` and the Lambda handlers' modules, each once."""
    return list(dict.fromkeys([*ENTRY_POINTS, *lambda_entry_points()]))


def _python(
    args: Sequence[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False, env=env
    )


_REPORT_RSS = "\nprint(int(open('/proc/self/statm').read().split()[1]) * {page})"


def time_import(module: str | None, env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds of a fresh ``python -c "import MODULE"`` (``None``: ``python -c pass``),
    and the RSS in bytes the interpreter holds right after the import."""
    code = f"import {module}" if module else "pass"
    started = time.perf_counter()
    done = _python(["-c", code + _REPORT_RSS.format(page=os.sysconf("SC_PAGE_SIZE"))], env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"python -c {code!r} failed: {done.stderr.strip()[-500:]}")
    return elapsed, int(done.stdout.split()[-1])


def _bytecode_env(cache: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which imports read (and write) bytecode under ``cache``."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def _import_figures(
    module: str | None, repeat: int, cache: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    plain = [time_import(module, env) for _ in range(repeat)]
    cached_env = _bytecode_env(cache, env)
    time_import(module, cached_env)  # writes the bytecode cache
    cached = [time_import(module, cached_env)[0] * 1000 for _ in range(repeat)]
    return {
        "wall_ms": summary([wall * 1000 for wall, _ in plain], digits=1),
        "wall_with_bytecode_ms": summary(cached, digits=1),
        "rss_mb": round(statistics.median(rss for _, rss in plain) / MiB, 1),
    }


def import_breakdown(
    module: str, top: int = 5, env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The packages that cost most to import with ``module``: ``-X importtime`` self times
    summed by top-level package, largest first."""
    done = _python(["-X", "importtime", "-c", f"import {module}"], env)
    by_package: dict[str, int] = defaultdict(int)
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        by_package[parts[2].strip().split(".")[0]] += int(parts[0])
    ranked = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:top]
    return [{"package": name, "self_ms": round(us / 1000, 1)} for name, us in ranked]


def _pool(spares: int | None) -> WorkerPool:
    """A pool for one instance; ``spares=0`` asks for no pre-started worker."""
    if spares is None:
        return WorkerPool(max_workers=2)
    try:
        return WorkerPool(max_workers=2, spares=spares)  # type: ignore[call-arg, unused-ignore]
    except TypeError:  # a pool without spare workers
        return WorkerPool(max_workers=2)


def _first_event(pool: WorkerPool, sink_url: str, nonce: str) -> float:
    """Seconds from a new version's first ``invoke`` to its delivered result."""
    spec = workload.instance_spec(sink_url, nonce=nonce)
    started = time.perf_counter()
    [result] = pool.invoke(spec, [workload.track_event(0)])
    elapsed = time.perf_counter() - started
    if result["outcome"] != "delivered":
        raise BenchError(f"cold start: {result['outcome']}: {result['error']}")
    return elapsed


def _worker_children() -> list[int]:
    """This process's sandbox workers (bound or spare) and zygotes: exec'ed workers and
    zygotes are its children, forked workers the zygotes' children."""
    parents: dict[str, list[str]] = defaultdict(list)
    cmdlines: dict[str, bytes] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = fh.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdlines[entry] = fh.read()
        except (OSError, IndexError):
            continue
        parents[ppid].append(entry)
    pids = []
    for child in parents[str(os.getpid())]:
        cmdline = cmdlines.get(child, b"")
        if b"functions_runtime.sandbox.guest.worker" in cmdline:
            pids.append(int(child))
        elif b"functions_runtime.sandbox.guest.zygote" in cmdline:
            pids.append(int(child))
            pids.extend(int(grandchild) for grandchild in parents[child])
    return pids


def _wait_until_workers_idle(timeout: float = 10.0) -> None:
    """Let pre-started workers finish importing: their CPU time stops moving."""
    deadline = time.monotonic() + timeout
    last = -1.0
    while time.monotonic() < deadline:
        used = cpu_seconds(_worker_children())
        if used == last:
            return
        last = used
        time.sleep(0.2)


def _rss_split(pid: int) -> tuple[int, int]:
    """``(anonymous, file-backed)`` resident bytes of ``pid`` (``RssAnon`` and ``RssFile``
    in ``/proc/<pid>/status``; file-backed pages are mostly shared libraries' code)."""
    found = {"RssAnon": 0, "RssFile": 0}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name in found:
                    found[name] = int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return found["RssAnon"], found["RssFile"]


def _new_worker_figures(sink_url: str, run_id: str, repeat: int) -> dict[str, Any]:
    """A new version in a new pool with no spare, its zygote started: fork, compile, first
    event. Then the same in a pool whose zygote has not started (its imports timed too)."""
    firsts: list[float] = []
    rss: list[float] = []
    pss: list[float] = []
    anon: list[float] = []
    files: list[float] = []
    new_pool: list[float] = []
    for i in range(repeat):
        with _pool(spares=0) as pool:
            new_pool.append(_first_event(pool, sink_url, f"{run_id}-pool-{i}") * 1000)
    for i in range(repeat):
        with _pool(spares=0) as pool:
            prestart = getattr(pool, "prestart", None)
            if prestart is not None:
                prestart()
            firsts.append(_first_event(pool, sink_url, f"{run_id}-new-{i}") * 1000)
            pids = pool.worker_pids()
            rss.append(sum(rss_bytes(pid) for pid in pids) / MiB)
            pss.append(sum(pss_bytes(pid) for pid in pids) / MiB)
            splits = [_rss_split(pid) for pid in pids]
            anon.append(sum(a for a, _ in splits) / MiB)
            files.append(sum(f for _, f in splits) / MiB)
    return {
        "first_event_ms": summary(firsts, digits=1),
        "first_event_new_pool_ms": summary(new_pool, digits=1),
        "idle_worker_rss_mb": summary(rss, digits=1),
        "idle_worker_pss_mb": summary(pss, digits=1),
        # The RSS in two parts: anonymous memory (the interpreter's and the libraries'
        # heaps) and file-backed pages (shared libraries' code and data, shared with
        # every other process mapping them).
        "idle_worker_rss_anon_mb": summary(anon, digits=1),
        "idle_worker_rss_file_mb": summary(files, digits=1),
    }


def _spare_figures(sink_url: str, run_id: str, repeat: int) -> dict[str, Any]:
    """A new version in a long-lived pool whose pre-started spare worker is ready."""
    firsts: list[float] = []
    with _pool(spares=None) as pool:
        _first_event(pool, sink_url, f"{run_id}-prime")  # a pool starts spares once in use
        for i in range(repeat):
            _wait_until_workers_idle()
            firsts.append(_first_event(pool, sink_url, f"{run_id}-spare-{i}") * 1000)
        hits = getattr(pool, "spare_hits", None)
    return {"first_event_ms": summary(firsts, digits=1), "spare_hits": hits}


def run_cold(repeat: int, sink_url: str, modules: Sequence[str] | None = None) -> dict[str, Any]:
    """``modules``: the entry points to import (default :func:`entry_points`)."""
    run_id = uuid.uuid4().hex[:8]
    new_worker = _new_worker_figures(sink_url, run_id, repeat)
    spare = _spare_figures(sink_url, run_id, repeat)
    source = workload.handler_source()
    compiles = []
    for _ in range(repeat):
        started = time.perf_counter()
        compile_function(source, "handler.py")
        compiles.append((time.perf_counter() - started) * 1000)
    imports: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-pyc-") as cache:
        baseline = _import_figures(None, repeat, cache)
        lambdas = set(lambda_entry_points())
        for module in entry_points() if modules is None else modules:
            env = lambda_environment() if module in lambdas else None
            try:
                figures = _import_figures(module, repeat, cache, env)
            except BenchError as exc:
                parts = module.split(".")
                missing = any(
                    f"No module named '{'.'.join(parts[:n])}'" in str(exc)
                    for n in range(1, len(parts) + 1)
                )
                imports.append(
                    {
                        "module": module,
                        "lambda_handler": module in lambdas,
                        "missing": missing,
                        "error": str(exc),
                    }
                )
                continue
            figures["over_bare_python_ms"] = round(
                figures["wall_ms"]["median"] - baseline["wall_ms"]["median"], 1
            )
            imports.append(
                {
                    "module": module,
                    "lambda_handler": module in lambdas,
                    **figures,
                    "heaviest_packages": import_breakdown(module, env=env),
                }
            )
    return {
        "repeat": repeat,
        **new_worker,
        "first_event_spare_ready_ms": spare["first_event_ms"],
        "spare_hits": spare["spare_hits"],
        "compile_ms": summary(compiles, digits=2),
        "bare_python": baseline,
        "imports": imports,
    }
