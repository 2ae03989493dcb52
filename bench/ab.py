"""``python -m bench.ab REV``: this tree against ``REV``, the two run by turns.

This machine's speed drifts by half within minutes without the load average showing it
(docs/PERFORMANCE.md, ``bench/calibration.py``), so a figure read from one tree now and
from another later compares nothing: before/after figures must be paired. This checks
``REV`` out beside this tree (``git worktree``, removed afterwards), compiles both, and
runs ``python -m bench`` in each by turns, ``--pairs`` times, with the same interpreter
and options, the order swapped every pair (base first, then this tree first, ...). Each
run's results file is kept under ``--keep`` if given.

It then reports every figure both runs of a pair have (the targets, the warm ratios per
mode, ingest's accepted events/s and paced p95 per batch size): the base's and this
tree's value in each pair, this tree's over the base's, their median, and in how many
pairs this tree did better (higher for ratios and rates, lower for times, sizes and
CPU). Nothing is asserted; read a figure as moved only when most pairs agree. Options
other than ``--pairs``, ``--keep``, ``--output`` and ``--base-arg`` are ``python -m
bench``'s. ``--base-arg FLAG`` (repeatable) is given to the base's runs only, after the
others, so that two settings of one tree pair the same way (``HEAD`` against this tree
with nothing changed compares the settings alone).

    python -m bench.ab HEAD~3 --only ingest --pairs 4
    python -m bench.ab main --only warm --repeat 3 --keep /tmp/ab
    python -m bench.ab HEAD~1 --only many --counts 3000 --max-workers 256
    python -m bench.ab HEAD --only ingest --cpu-latency-qos on --base-arg=--cpu-latency-qos=off
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from .cli import parse_args
from .paths import BenchError

__all__ = ["compare", "figures", "main", "render", "run_order"]

ROOT = Path(__file__).resolve().parent.parent
HIGHER_IS_BETTER = frozenset({"x", "events/s"})
"""Units where more is better; for the rest (ms, us, MB) less is."""


def figures(results: dict[str, Any]) -> dict[str, tuple[float, bool]]:
    """The figures of one results file worth pairing: name -> (value, higher is better)."""
    found: dict[str, tuple[float, bool]] = {}
    for target in results.get("targets") or []:
        # The warm ratios and ingest's figures come below, for every mode and batch size
        # (some of them are targets too).
        repeated = target["unit"] == "x" or target["name"].startswith("ingest")
        if isinstance(target.get("value"), int | float) and not repeated:
            found[target["name"]] = (float(target["value"]), target["unit"] in HIGHER_IS_BETTER)
    scenarios = results.get("scenarios") or {}
    for ratio in (scenarios.get("warm") or {}).get("ratios") or []:
        if isinstance(ratio.get("sandbox_vs_plain"), int | float):
            found[f"warm sandbox/plain, {ratio['mode']}"] = (ratio["sandbox_vs_plain"], True)
    for row in (scenarios.get("ingest") or {}).get("rows") or []:
        accepted = (row.get("saturation") or {}).get("events_per_s")
        if isinstance(accepted, int | float):
            found[f"ingest accepted events/s, {row['mode']}"] = (float(accepted), True)
        p95 = ((row.get("paced") or {}).get("latency_ms") or {}).get("p95")
        if isinstance(p95, int | float):
            found[f"ingest p95 ms at the target rate, {row['mode']}"] = (float(p95), False)
    return found


def compare(base: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per figure that every run of both sides has, pair by pair."""
    base_figures = [figures(results) for results in base]
    new_figures = [figures(results) for results in new]
    every = [*base_figures, *new_figures]
    names = [name for name in every[0] if all(name in run for run in every)] if every else []
    rows = []
    for name in names:
        higher = base_figures[0][name][1]
        pairs = [(b[name][0], n[name][0]) for b, n in zip(base_figures, new_figures, strict=True)]
        ratios = [n / b for b, n in pairs if b > 0 and n > 0]  # else a ratio says nothing
        better = sum(1 for b, n in pairs if (n > b if higher else n < b))
        rows.append(
            {
                "figure": name,
                "higher_is_better": higher,
                "base": [b for b, _ in pairs],
                "new": [n for _, n in pairs],
                "ratios": [round(r, 3) for r in ratios],
                "median_ratio": round(statistics.median(ratios), 3) if ratios else None,
                "better_pairs": better,
                "pairs": len(pairs),
            }
        )
    return rows


def run_order(pairs: int) -> list[tuple[int, str]]:
    """(pair, side) in the order they run: base first in odd pairs, this tree first in
    even ones, so that neither side always runs on the machine the other just warmed."""
    order = []
    for pair in range(1, pairs + 1):
        sides = ("base", "new") if pair % 2 else ("new", "base")
        order += [(pair, side) for side in sides]
    return order


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def render(rows: Sequence[dict[str, Any]], speeds: Sequence[str]) -> str:
    lines = ["Machine speed per run (pure-Python reference µs, start / end):", *speeds, ""]
    lines.append("figure: base / this tree per pair; this tree over base (median); pairs better")
    for row in rows:
        pairs = "  ".join(
            f"{_num(b)} / {_num(n)}" for b, n in zip(row["base"], row["new"], strict=True)
        )
        way = "higher" if row["higher_is_better"] else "lower"
        median = "-" if row["median_ratio"] is None else f"{row['median_ratio']:.3f}"
        lines.append(
            f"  {row['figure']} ({way} is better)\n"
            f"      {pairs}   x{median}   better in {row['better_pairs']} of {row['pairs']}"
        )
    return "\n".join(lines) + "\n"


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


@contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """``rev`` checked out in a temporary worktree of this repository."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    where = Path(tempfile.mkdtemp(prefix="bench-ab-")) / commit[:12]
    _git("worktree", "add", "--detach", str(where), commit)
    try:
        yield where
    finally:
        _git("worktree", "remove", "--force", str(where))
        shutil.rmtree(where.parent, ignore_errors=True)


def _compile(tree: Path) -> None:
    """Bytecode for both trees, as ``make bench`` makes it before a run."""
    dirs = [str(tree / d) for d in ("functions_runtime", "sdk/src/functions_sdk", "bench")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=True)


def _run(tree: Path, bench_args: Sequence[str], output: Path, say: TextIO) -> dict[str, Any]:
    """``python -m bench`` from ``tree`` (its code first on the path, its workers' too)."""
    command = [sys.executable, "-m", "bench", *bench_args, "--output", str(output)]
    # The SDK is installed as a path entry to this tree's sdk/src: the tree's own first.
    env = {**os.environ, "PYTHONPATH": str(tree / "sdk" / "src")}
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"python -m bench failed in {tree}:\n{done.stderr[-2000:]}")
    print(f"  ran python -m bench {' '.join(bench_args)} in {tree}", file=say, flush=True)
    results: dict[str, Any] = json.loads(output.read_text())
    return results


def _speed(results: dict[str, Any]) -> str:
    calibration = results.get("calibration") or {}
    start = (calibration.get("start") or {}).get("python_us")
    end = (calibration.get("end") or {}).get("python_us")
    return f"{start} / {end}"


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    say = out if out is not None else sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m bench.ab",
        description=__doc__,
        epilog="Any other option is python -m bench's (--only, --repeat, --quick, --counts, "
        "...), given to both trees' runs; --repeat is 1 unless given.",
        allow_abbrev=False,  # an abbreviation of a bench option is the bench's
    )
    parser.add_argument("rev", help="the base: a commit, branch or tag of this repository")
    parser.add_argument("--pairs", type=int, default=3, help="runs of each tree (default 3)")
    parser.add_argument("--keep", type=Path, help="keep every run's results file here")
    parser.add_argument("--output", type=Path, help="write the comparison here (JSON)")
    parser.add_argument(
        "--base-arg",
        dest="base_args",
        action="append",
        default=[],
        metavar="FLAG",
        help="a python -m bench option for the base's runs only, after the others "
        "(repeatable), e.g. --base-arg=--cpu-latency-qos=off",
    )
    args, rest = parser.parse_known_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    bench_args = ["--repeat", "1", *rest]  # a --repeat in rest comes later and wins
    sides_args = {"base": [*bench_args, *args.base_args], "new": bench_args}
    for checked in sides_args.values():
        parse_args(checked)  # python -m bench's own checks, before anything runs
    keep = args.keep or Path(tempfile.mkdtemp(prefix="bench-ab-runs-"))
    keep.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "new": []}
    speeds: list[str] = []
    with checkout(args.rev) as base_tree:
        print(f"base: {args.rev} ({base_tree.name}) in {base_tree}; this tree: {ROOT}", file=say)
        trees = {"base": base_tree, "new": ROOT}
        for tree in trees.values():
            _compile(tree)
        for pair, side in run_order(args.pairs):
            results = _run(trees[side], sides_args[side], keep / f"{side}-{pair}.json", say)
            runs[side].append(results)
            speeds.append(f"  pair {pair}, {side}: {_speed(results)}")
    rows = compare(runs["base"], runs["new"])
    print(file=say)
    print(render(rows, speeds), file=say, end="")
    if args.output is not None:
        args.output.write_text(json.dumps({"rev": args.rev, "rows": rows}, indent=2) + "\n")
    if args.keep is None:
        shutil.rmtree(keep, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
