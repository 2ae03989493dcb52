"""Delivery stats count events and attempts apart, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from functions_runtime.delivery.ports import DeliveryBackend
from tests.backends import BACKENDS, make_delivery
from tests.contract.test_queue_contract import delivery_record


@pytest.fixture(params=BACKENDS)
def delivery(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeliveryBackend]:
    with make_delivery(request.param, tmp_path / "data") as backend:
        yield backend


def test_stats_count_events_and_attempts_apart(delivery: DeliveryBackend):
    store = delivery.deliveries
    for n in range(3):  # three events; the first two retried twice before settling
        attempts = 3 if n < 2 else 1
        for attempt in range(1, attempts + 1):
            outcome = "delivered" if attempt == attempts else "retry"
            record = delivery_record(n, outcome, ms=1.0, minutes=attempt * 10)
            store.record(
                record.model_copy(update={"id": f"in_1:m{n}:{attempt}", "attempt": attempt})
            )
    stats = store.stats("ws_1", "in_1")
    assert (stats.events, stats.total) == (3, 7)
    assert stats.counts == {"delivered": 3, "retry": 4}
    assert store.stats("ws_1", "in_none").events == 0
