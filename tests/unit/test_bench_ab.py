"""``python -m bench.ab``: which figures it pairs, how it compares them, and one real run
of both trees (this commit against itself, tiny inputs). No timing is asserted."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.ab import ROOT, compare, figures, main, run_order
from bench.paths import BenchError


def _results(
    overhead: float | None = 100.0,
    accepted: float = 5000.0,
    p95: float = 80.0,
    ratio: float = 0.8,
) -> dict[str, Any]:
    return {
        "targets": [
            {"name": "warm ratio, batch-20", "unit": "x", "value": ratio},
            {"name": "overhead", "unit": "us", "value": overhead},
            {"name": "steady", "unit": "events/s", "value": accepted / 10},
            {"name": "ingest accepted, batch-20", "unit": "events/s", "value": accepted},
        ],
        "scenarios": {
            "warm": {"ratios": [{"mode": "batch-20", "sandbox_vs_plain": ratio}]},
            "ingest": {
                "rows": [
                    {
                        "mode": "batch-20",
                        "saturation": {"events_per_s": accepted},
                        "paced": {"latency_ms": {"p95": p95}},
                    }
                ]
            },
        },
    }


def test_figures_are_the_targets_the_warm_ratios_and_ingest_each_with_its_direction():
    found = figures(_results())
    assert found == {
        "overhead": (100.0, False),
        "steady": (500.0, True),
        "warm sandbox/plain, batch-20": (0.8, True),
        "ingest accepted events/s, batch-20": (5000.0, True),
        "ingest p95 ms at the target rate, batch-20": (80.0, False),
    }
    assert "warm ratio, batch-20" not in found  # the same figure as the warm ratio
    assert "ingest accepted, batch-20" not in found  # the same as ingest's own
    assert "overhead" not in figures(_results(overhead=None))  # not measured


def test_compare_pairs_runs_in_order_and_counts_the_pairs_each_way():
    base = [_results(accepted=5000, p95=100), _results(accepted=6000, p95=50)]
    new = [_results(accepted=5500, p95=90), _results(accepted=5400, p95=40)]
    rows = {row["figure"]: row for row in compare(base, new)}
    accepted = rows["ingest accepted events/s, batch-20"]
    assert accepted["base"] == [5000, 6000] and accepted["new"] == [5500, 5400]
    assert accepted["ratios"] == [1.1, 0.9] and accepted["median_ratio"] == 1.0
    assert accepted["better_pairs"] == 1 and accepted["pairs"] == 2
    p95 = rows["ingest p95 ms at the target rate, batch-20"]
    assert p95["better_pairs"] == 2  # lower is better: 90 < 100, 40 < 50
    assert p95["ratios"] == [0.9, 0.8]


def test_compare_leaves_out_a_figure_a_run_lacks_and_ratios_of_non_positive_values():
    base = [_results(overhead=-2.0), _results()]
    new = [_results(overhead=3.0), _results(overhead=None)]
    rows = {row["figure"]: row for row in compare(base, new)}
    assert "overhead" not in rows  # the second new run did not measure it
    base, new = [_results(overhead=-2.0)], [_results(overhead=3.0)]
    [overhead] = [row for row in compare(base, new) if row["figure"] == "overhead"]
    assert overhead["ratios"] == [] and overhead["median_ratio"] is None
    assert overhead["better_pairs"] == 0  # 3 is not lower than -2


def test_the_trees_take_turns_going_first():
    assert run_order(3) == [
        (1, "base"),
        (1, "new"),
        (2, "new"),
        (2, "base"),
        (3, "base"),
        (3, "new"),
    ]


def _worktrees() -> list[str]:
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in listed.splitlines() if line.startswith("worktree ")]


def test_a_run_of_this_commit_against_itself_pairs_both_trees_and_removes_its_checkout(
    tmp_path: Path,
):
    before = _worktrees()
    printed = io.StringIO()
    output = tmp_path / "ab.json"
    keep = tmp_path / "runs"
    argv = ["HEAD", "--quick", "--only", "warm", "--pairs", "1", "--keep", str(keep)]
    assert main([*argv, "--output", str(output)], out=printed) == 0
    assert sorted(p.name for p in keep.iterdir()) == ["base-1.json", "new-1.json"]
    base = json.loads((keep / "base-1.json").read_text())
    assert (
        base["machine"]["git_commit"]
        == json.loads((keep / "new-1.json").read_text())["machine"]["git_commit"]
    )
    rows = {row["figure"]: row for row in json.loads(output.read_text())["rows"]}
    assert {"warm sandbox/plain, batch-20", "warm sandbox/plain, single"} <= set(rows)
    assert all(row["pairs"] == 1 and len(row["base"]) == 1 for row in rows.values())
    text = printed.getvalue()
    assert "pair 1, base" in text and "warm sandbox/plain, batch-20" in text
    assert _worktrees() == before  # the base's checkout is gone


def test_the_bench_options_pass_through_to_both_trees(tmp_path: Path):
    printed = io.StringIO()
    argv = ["HEAD", "--quick", "--only", "many", "--counts", "3", "--max-workers", "2"]
    assert main([*argv, "--pairs", "1", "--keep", str(tmp_path)], out=printed) == 0
    for side in ("base", "new"):
        options = json.loads((tmp_path / f"{side}-1.json").read_text())["options"]
        assert options["counts"] == [3] and options["max_workers"] == 2, side
    assert "--counts 3 --max-workers 2" in printed.getvalue()


def test_a_base_arg_goes_to_the_base_s_runs_only(tmp_path: Path):
    printed = io.StringIO()
    argv = ["HEAD", "--quick", "--only", "many", "--counts", "3", "--max-workers", "2"]
    argv += ["--base-arg=--max-workers=3", "--pairs", "1", "--keep", str(tmp_path)]
    assert main(argv, out=printed) == 0
    workers = {
        side: json.loads((tmp_path / f"{side}-1.json").read_text())["options"]["max_workers"]
        for side in ("base", "new")
    }
    assert workers == {"base": 3, "new": 2}
    with pytest.raises(SystemExit):  # a base option python -m bench does not take
        main(["HEAD", "--quick", "--base-arg=--max-workers=0"], out=io.StringIO())


def test_an_unknown_revision_is_refused_with_gits_words():
    with pytest.raises(BenchError, match="git rev-parse"):
        main(["no-such-revision-anywhere", "--quick", "--only", "warm"], out=io.StringIO())
