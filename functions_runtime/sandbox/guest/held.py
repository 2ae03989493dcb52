"""The records a worker holds back: those of events that called nothing on the host.

An event's record goes out before the next event runs when the event called the host
(a ``fetch`` or ``store`` frame), so the host always knows which event made which
request. The records of events that called nothing on the host are held and go out
together (:class:`HeldRecords`), one write and one wake-up of the host for many events
instead of one each: with the next record that must go, before the next frame to the
host, at the end of the invocation, or once they are ``HOLD_SECONDS`` old or
``HOLD_MAX`` many. An event that runs longer than that finds them waiting: a timer
(``SIGALRM``) sends them then, with ``{"running": i}``, which tells the host that every
record before event ``i`` is out and event ``i`` is running. If the worker dies while
records are held, they are lost with it; those events called nothing outside, so the
host runs them again (``host/pool.py``), telling the worker ``"hold": false``: one
record per frame, as before. When the host knows which event was running (it got the
records and the ``running`` frame before the loss), that event is charged at once.

Why: on a VM, each write that wakes the host costs both processes tens of microseconds
of CPU, as much as a small handler's event; a batch of such events now costs one.
"""

from __future__ import annotations

import contextlib
import signal
import time
from typing import Any

from .protocol import encode, write_frames

__all__ = ["HOLD_BYTES", "HOLD_MAX", "HOLD_SECONDS", "HeldRecords"]

HOLD_SECONDS = 0.005
"""How long the records of events that called nothing on the host may wait to go out."""
HOLD_MAX = 64
"""How many such records may wait."""
HOLD_BYTES = 1024 * 1024
"""How large they may be together (as frames)."""


class HeldRecords:
    """Records waiting to go out to the host, and whether the running event has called
    the host (see the module docstring)."""

    def __init__(self, out: int) -> None:
        self.out = out
        self.frames: list[bytes] = []  # encoded
        self.size = 0
        self.since = 0.0  # when the oldest waiting record was made
        self.called = False  # the running event sent the host a frame
        self.running = 0  # the event running (its index in the invocation)
        self._busy = False  # in add or send: the timer must not write meanwhile
        self._armed = False  # the timer is set

    def start(self, index: int) -> None:
        """Event ``index`` is about to run."""
        self.running, self.called = index, False

    def add(self, frame: dict[str, Any], *, hold: bool) -> None:
        """One event's record: kept when that event called nothing on the host and the
        records kept are few, small and recent (and ``hold``), else sent with them."""
        self._busy = True
        try:
            now = time.monotonic()
            first = not self.frames
            if first:
                self.since = now
            data = encode(frame)
            self.frames.append(data)
            self.size += len(data)
            if (
                not hold
                or self.called
                or len(self.frames) >= HOLD_MAX
                or self.size >= HOLD_BYTES
                or now - self.since >= HOLD_SECONDS
            ):
                self._send()
            elif first:
                signal.setitimer(signal.ITIMER_REAL, HOLD_SECONDS)
                self._armed = True
        finally:
            self._busy = False

    def send(self, *after: dict[str, Any]) -> None:
        """Every waiting record, then ``after``, in one write."""
        self._busy = True
        try:
            self._send(*after)
        finally:
            self._busy = False

    def _send(self, *after: dict[str, Any]) -> None:
        frames, self.frames, self.size = tuple(self.frames), [], 0
        if self._armed:
            signal.setitimer(signal.ITIMER_REAL, 0)  # nothing left waiting
            self._armed = False
        if frames or after:
            write_frames(self.out, *after, encoded=frames)

    def on_timer(self, signum: int, frame: object) -> None:
        """``SIGALRM``: records have waited ``HOLD_SECONDS`` and the running event is
        still running. Send them, and say which event runs; if the timer went off while
        a frame was being written, try again in a moment."""
        if self._busy:
            signal.setitimer(signal.ITIMER_REAL, 0.001)
        elif self.frames:
            # Never an exception into the handler's code: a pipe that fails here fails
            # the worker's next write too, where it ends the worker.
            with contextlib.suppress(OSError):
                self._send({"running": self.running})
