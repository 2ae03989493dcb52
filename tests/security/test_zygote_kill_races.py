"""Kill races between the host, the zygote and a worker just forked: a worker must never
outlive a kill, or the zygote's end, by arriving at the wrong moment.

The protocol's and the client's other tests are in ``tests/unit/test_zygote_protocol.py``
and ``tests/unit/test_zygote_client.py``; these two reuse their fixtures (a socket pair
in the test process; a scripted stand-in zygote and a process for it to name).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time

from functions_runtime.sandbox.guest import zygote
from functions_runtime.sandbox.host.zygote_client import Zygote
from tests.unit.test_zygote_client import Fake, _close, fake, sleeper
from tests.unit.test_zygote_protocol import MESSAGE, _reaped, pair

__all__ = ["fake", "pair", "sleeper"]  # fixtures, used by name


def test_a_kill_request_kills_a_worker_that_has_no_session_yet(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """A kill can arrive between the fork and the child's ``setsid()``: there is no
    process group named after the child yet, so ``killpg`` alone would miss it."""
    host, control = pair
    child = os.fork()  # stands for a forked worker caught before its setsid()
    if child == 0:  # pragma: no cover (the child)
        time.sleep(60)
        os._exit(0)
    try:
        assert os.getpgid(child) != child
        host.send(MESSAGE.pack(b"K", child, 0))
        assert zygote._spawn(control, {child}, lambda: None, False) is True
        status = _reaped(host, control, {child}, child)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)


class _AnswerThenEnd(Zygote):
    """A zygote client whose first read after a spawn request takes in the answer and
    then the zygote's end, as one read does when both arrive before it looks."""

    def _pump(self, timeout: float) -> None:
        super()._pump(timeout)
        if self._replies:
            self.proc.wait()
            super()._pump(timeout)


def test_a_worker_announced_just_before_the_zygote_ended_is_killed_and_reported(
    fake: Fake, sleeper: subprocess.Popen[bytes]
) -> None:
    pid = sleeper.pid
    command, _ = fake(hello=[["R", 0, 0]], on_spawn=[[["P", pid, 0]]], exit_after_spawn=True)
    zygote = _AnswerThenEnd(command)
    try:
        launched = zygote.spawn()
        assert zygote.dead
        assert launched.proc.poll() == -signal.SIGKILL  # not "still running"
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
        _close(launched)
    finally:
        zygote.close()
