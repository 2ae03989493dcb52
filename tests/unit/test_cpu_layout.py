"""Where ``functions serve`` puts its processes (``server/cpus.py``)."""

from __future__ import annotations

import os
import threading

import pytest

from functions_runtime.server import cpus
from functions_runtime.server.cpus import Layout, layout


def on(*cpus: int) -> frozenset[int]:
    return frozenset(cpus)


def test_two_cpus_serve_on_the_first_the_deliveries_round_the_list():
    assert layout("on", 2, {0, 1}) == Layout(on(0), (on(1), on(0)))
    assert layout("on", 3, {0, 1}) == Layout(on(0), (on(1), on(0), on(1)))
    assert layout("on", 3, {0, 1, 2}) == Layout(on(0), (on(1), on(2), on(0)))


def test_more_cpus_split_the_others_among_the_deliveries():
    assert layout("on", 2, {0, 1, 2}) == Layout(on(0), (on(1), on(2)))
    assert layout("on", 2, range(8)) == Layout(on(0), (on(1, 2, 3, 4), on(5, 6, 7)))
    assert layout("on", 1, range(4)) == Layout(on(0), (on(1, 2, 3),))


def test_a_narrower_set_is_laid_out_within_itself():
    assert layout("on", 2, {5, 2}) == Layout(on(2), (on(5), on(2)))
    assert layout("on", 2, {9, 4, 7}) == Layout(on(4), (on(7), on(9)))


def test_the_flag_value_round_trips():
    assert cpus.parse(cpus.spelled({3, 1, 2})) == on(1, 2, 3)
    assert cpus.spelled(on(7)) == "7"


@pytest.mark.parametrize(("choice", "available"), [("off", {0, 1, 2}), ("on", {3}), ("on", ())])
def test_off_or_one_cpu_pins_nothing(choice, available):
    assert layout(choice, 2, available) == Layout(None, (None, None))


def test_an_unknown_choice_is_named():
    with pytest.raises(ValueError, match="--cpu-affinity must be one of on, off, got 'maybe'"):
        layout("maybe", 2, {0, 1})


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_pin_to_binds_the_calling_thread_and_the_threads_it_starts():
    target = max(os.sched_getaffinity(0))
    seen: dict[str, set[int]] = {}

    def pinned() -> None:
        cpus.pin_to({target})
        seen["self"] = os.sched_getaffinity(0)
        child = threading.Thread(target=lambda: seen.update(child=os.sched_getaffinity(0)))
        child.start()
        child.join()

    def unpinned() -> None:
        cpus.pin_to(None)
        seen["none"] = os.sched_getaffinity(0)

    for work in (pinned, unpinned):  # each in a thread of its own
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert seen == {"self": {target}, "child": {target}, "none": os.sched_getaffinity(0)}


def test_a_cpu_refused_is_said_and_nothing_is_pinned():
    def work() -> tuple[str | None, set[int]]:
        return cpus.pin_to({100_000}), os.sched_getaffinity(0)

    out: list[tuple[str | None, set[int]]] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    thread.join()
    said, mask = out[0]
    assert said is not None and said.startswith("could not run on CPU 100000 (")
    assert said.endswith("); the kernel places it")
    assert mask == os.sched_getaffinity(0)
