"""The retry schedule spans the window it promises, with a known least wait per attempt,
and a function's ``[retry]`` table sets its own; randomness is injected."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from functions_runtime.control.auth import Principal
from functions_runtime.control.embedded import open_embedded
from functions_runtime.control.service import ControlPlane
from functions_runtime.delivery.dispatch import DeliveryPolicy, Dispatcher
from functions_runtime.delivery.embedded import open_delivery
from functions_runtime.delivery.ingest import Ingest
from functions_runtime.delivery.retries import RetrySchedule
from functions_runtime.manifest import ManifestError, parse_manifest
from functions_runtime.sandbox.host.pool import WorkerPool


class Edge(random.Random):
    """A random source that always draws the low (0.0) or the high (1.0) end."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def random(self) -> float:
        return 1.0 if self.high else 0.0


def waits(schedule: RetrySchedule, rng: random.Random) -> list[int]:
    return [schedule.wait(attempt, rng) for attempt in range(1, schedule.attempts)]


@pytest.mark.parametrize(
    ("attempts", "window"), [(8, 14400.0), (9, 43200.0), (5, 600.0), (3, 60.0), (2, 30.0)]
)
def test_the_attempts_span_the_window_whatever_the_draw(attempts: int, window: float) -> None:
    schedule = RetrySchedule(attempts=attempts, window_seconds=window)
    shortest, longest = waits(schedule, Edge(high=False)), waits(schedule, Edge(high=True))

    slack = attempts  # each wait is rounded to whole seconds
    assert 0.75 * window - slack <= sum(shortest) <= sum(longest) <= window + slack
    for attempt, (low, high) in enumerate(zip(shortest, longest, strict=True), start=1):
        least, most = schedule.bounds(attempt)
        assert round(least) <= low <= high <= round(most)
        assert low >= 1


def test_the_default_policy_outlasts_a_twenty_second_outage() -> None:
    """Full jitter from a 1 s base could spend all 8 attempts within 7 seconds."""
    policy = DeliveryPolicy()
    rng = Edge(high=False)
    elapsed = [0]
    for attempt in range(1, policy.max_attempts):
        elapsed.append(elapsed[-1] + policy.backoff(attempt, rng))

    assert sum(1 for t in elapsed if t <= 20) <= 4  # at most 4 of 8 attempts in 20 s
    assert elapsed[-1] >= 0.75 * policy.max_age.total_seconds()  # "8 attempts or 4 hours"
    assert elapsed[1] <= 2  # yet the first retry comes within a couple of seconds


def test_waits_grow_and_spread() -> None:
    schedule = RetrySchedule()
    nominal = schedule.nominal
    assert len(nominal) == 7 and nominal[0] == 1.0
    assert all(b > a for a, b in itertools.pairwise(nominal))
    assert sum(nominal) == pytest.approx(14400.0)
    drawn = {schedule.wait(7, random.Random(seed)) for seed in range(20)}
    assert len(drawn) > 10  # events failing together do not come back together


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("attempts = 0", "retry.attempts: Input should be greater than or equal to 1"),
        ("attempts = 10", "retry.attempts: Input should be less than or equal to 9"),
        ("window_seconds = 0", "retry.window_seconds: Input should be greater than or equal"),
        ("window_seconds = 86400", "retry.window_seconds: Input should be less than or equal"),
        ("attempts = 3\nbackoff = 2", "retry.backoff: Extra inputs are not permitted"),
    ],
)
def test_the_retry_table_is_validated_with_clear_problems(table: str, says: str) -> None:
    with pytest.raises(ManifestError) as raised:
        parse_manifest(f'name = "f"\n[retry]\n{table}\n', "function.toml")
    line = 3 + table.count("\n")  # the line of the offending key (the table's last)
    assert any(
        problem.startswith(f"function.toml:{line}: {says}") for problem in raised.value.problems
    )


HANDLER = """
from functions_sdk import RetryError

def on_track(event, settings):
    raise RetryError("the endpoint is down")
"""


def test_a_function_sets_its_own_attempts_and_window(tmp_path: Path) -> None:
    backend, delivery = open_embedded(tmp_path), open_delivery(tmp_path)
    admin = Principal("key_admin", None, True)
    manifest = 'name = "down"\n[retry]\nattempts = 3\nwindow_seconds = 600\n'
    with WorkerPool(max_workers=1, spares=0) as pool:
        plane = ControlPlane(backend, pool)
        _, workspace = plane.bootstrap("admin")
        source, _ = plane.create_source(admin, workspace.id, "web")
        function, _ = plane.create_function(
            admin, workspace.id, files={"handler.py": HANDLER, "function.toml": manifest}
        )
        plane.deploy(admin, workspace.id, function.id, source_id=source.id)
        Ingest(backend.metadata, delivery.queue, delivery.deliveries).enqueue(
            source, [{"type": "track", "event": "e", "userId": "u"}]
        )
        [job] = delivery.queue.receive(1, visibility_timeout=30)
        now = datetime.now(UTC)
        dispatcher = Dispatcher(
            backend,
            delivery,
            pool,
            policy=DeliveryPolicy(max_attempts=8, max_age=timedelta(hours=4)),
            clock=lambda: now,
            rng=Edge(high=True),
        )

        [first] = dispatcher.process([job])
        [second] = dispatcher.process([replace(job, receive_count=2)])
        [third] = dispatcher.process([replace(job, receive_count=3)])

    schedule = RetrySchedule(attempts=3, window_seconds=600)
    assert (first.action, first.delay) == ("retry", round(schedule.bounds(1)[1]))
    assert (second.action, second.delay) == ("retry", round(schedule.bounds(2)[1]))
    assert first.delay + second.delay == pytest.approx(600, abs=2)
    assert third.action == "dead" and "after 3 attempts" in third.reason


def test_the_deployment_policy_sets_the_first_wait_and_the_jitter() -> None:
    """A deployment's ``base_delay`` and ``jitter`` reach the schedule (a function's
    ``[retry]`` table sets only attempts and window)."""
    policy = DeliveryPolicy(base_delay=5.0, jitter=0.5)
    schedule = policy.schedule(
        parse_manifest('name = "f"\n[retry]\nattempts = 3\n', "function.toml").retry
    )

    assert schedule == RetrySchedule(
        attempts=3, window_seconds=4 * 3600.0, first_wait=5.0, jitter=0.5
    )
    assert policy.schedule().nominal[0] == 5.0
    least, most = policy.schedule().bounds(1)
    assert (least, most) == (2.5, 5.0)
    assert policy.backoff(1, Edge(high=False)) == round(least)
