"""The retry schedule: how long a delivery that ended in ``retry`` waits before the next.

An event has ``attempts`` attempts, spread over ``window_seconds`` after its first one
(by default 8 attempts over 4 hours; a function sets its own in ``function.toml``'s
``[retry]`` table). The ``attempts - 1`` waits grow geometrically from ``first_wait``
(1 s): wait *k* (after attempt *k*) is nominally ``first_wait * growth**(k - 1)``, with
``growth`` chosen so that the nominal waits add up to the window exactly. Each wait is
drawn uniformly from ``[(1 - jitter) * nominal, nominal]`` (jitter 0.25): events that
failed together spread out, yet every wait has a known minimum, so attempt *k + 1*
comes no sooner than ``(1 - jitter)`` times the sum of the first *k* nominal waits, and
the last attempt lands between 75 % and 100 % of the window after the first. (Full
jitter, which this replaces, drew each wait from ``[0, nominal]``: the 8 attempts could
all be spent within 7 seconds, and a 20-second outage dead-lettered events.)

With the defaults the nominal waits are about 1 s, 5 s, 22 s, 1.8 min, 8.4 min, 40 min
and 3.1 h. With two attempts, or a window too short for growing waits (less than
``first_wait`` per wait), the waits are equal.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cached_property

__all__ = ["MAX_ATTEMPTS", "MAX_WAIT_SECONDS", "MAX_WINDOW_SECONDS", "RetrySchedule"]

from ..manifest import MAX_ATTEMPTS, MAX_WINDOW_SECONDS

# MAX_ATTEMPTS: on AWS the queue's redrive moves a message to the dead-letter queue after
# 10 receives (template.yaml); 9 attempts leave one receive for a crashed batch.
MAX_WAIT_SECONDS = 12 * 3600  # SQS: a message's visibility timeout is at most 12 hours


@dataclass(frozen=True)
class RetrySchedule:
    """``attempts`` attempts within ``window_seconds``; see the module docstring."""

    attempts: int = 8
    window_seconds: float = 4 * 3600.0
    first_wait: float = 1.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if not 1 <= self.attempts <= MAX_ATTEMPTS:
            raise ValueError(f"attempts must be 1 to {MAX_ATTEMPTS}, got {self.attempts}")
        if not 0 < self.window_seconds <= MAX_WINDOW_SECONDS:
            raise ValueError(
                f"window_seconds must be over 0 and at most {MAX_WINDOW_SECONDS}, "
                f"got {self.window_seconds}"
            )
        if not self.first_wait > 0 or not 0 <= self.jitter < 1:
            raise ValueError("first_wait must be over 0 and jitter in [0, 1)")

    @cached_property
    def nominal(self) -> tuple[float, ...]:
        """The nominal wait after each attempt but the last (seconds); they sum to the
        window."""
        count = self.attempts - 1
        if count == 0:
            return ()
        if count == 1 or self.first_wait * count >= self.window_seconds:
            return (self.window_seconds / count,) * count
        growth = _growth(self.first_wait, count, self.window_seconds)
        return tuple(self.first_wait * growth**k for k in range(count))

    @property
    def deadline_seconds(self) -> float:
        """The age past which a failed attempt is the last, whatever its number: the
        window plus a grace for queue delays (a tenth of the window, at least a minute)."""
        return self.window_seconds + max(60.0, self.window_seconds / 10)

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The least and the most the wait after failed ``attempt`` (1-based) can be."""
        waits = self.nominal
        if not waits:
            return (0.0, 0.0)
        top = min(waits[min(max(attempt, 1), len(waits)) - 1], MAX_WAIT_SECONDS)
        return ((1 - self.jitter) * top, top)

    def wait(self, attempt: int, rng: random.Random) -> int:
        """Whole seconds to wait after failed ``attempt`` (at least 1)."""
        low, high = self.bounds(attempt)
        return max(1, round(rng.uniform(low, high)))


def _growth(first: float, count: int, window: float) -> float:
    """The ratio r > 1 with ``first * (1 + r + ... + r**(count - 1)) == window``."""

    def total(r: float) -> float:
        return first * count if r == 1 else first * (r**count - 1) / (r - 1)

    low, high = 1.0, 2.0
    while total(high) < window:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if total(middle) < window:
            low = middle
        else:
            high = middle
        if math.isclose(low, high, rel_tol=1e-12):
            break
    return high
