"""``LocalApiServer``'s settings reach waitress, and its own checks, without traffic.

The behaviour under real clients is in ``tests/functional/test_http_server.py``; here
the server is built (bound to 127.0.0.1, port 0) but never serves, so each setting and
the slow-request check can be read and driven directly.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from functions_runtime.api.local import LocalApiServer, ServerLimits

LIMITS = ServerLimits(
    threads=3,
    backlog=17,
    connection_limit=23,
    idle_timeout=41.0,
    read_timeout=7.0,
    max_body=2048,
    drain_limit=4096,
    cleanup_interval=2.0,
)


@contextmanager
def built(limits: ServerLimits | None = None) -> Iterator[LocalApiServer]:
    server = LocalApiServer(("127.0.0.1", 0), APIGatewayHttpResolver, limits)
    try:
        yield server
    finally:
        server.server_close()


def test_the_limits_reach_waitress() -> None:
    logging.getLogger("waitress.queue").setLevel(logging.NOTSET)  # as a fresh process has it
    with built(LIMITS) as server:
        adj: Any = server._server.adj
        assert (adj.threads, adj.backlog, adj.connection_limit) == (3, 17, 23)
        assert (adj.channel_timeout, adj.cleanup_interval) == (41, 2)  # waitress: ints
        assert adj.max_request_body_size == 4096  # the drain limit: read, then 413
        assert adj.channel_request_lookahead == 1
        assert adj.ident == "functions"
        assert adj.asyncore_use_poll is True
        assert adj.log_socket_errors is False and adj.expose_tracebacks is False
        assert server._server.read_timeout == 7.0
        assert len(server._server.task_dispatcher.threads) == 3
    # "Task queue depth is N": requests waiting for a thread are normal under load.
    assert logging.getLogger("waitress.queue").level == logging.ERROR


def test_the_body_limit_is_the_larger_of_the_two() -> None:
    limits = ServerLimits(max_body=8192, drain_limit=1024)
    with built(limits) as server:
        assert server._server.adj.max_request_body_size == 8192


def test_it_binds_exactly_the_address_asked_for() -> None:
    with built() as one, built() as two:
        host, port = one.server_address
        assert host == "127.0.0.1"
        assert port not in (0, two.server_address[1])
        listening = one._server.socket
        assert listening is not None and listening.getsockname() == (host, port)
        with socket.create_connection((host, port), timeout=5):
            pass  # the backlog holds it: nothing serves yet


class _Channel:
    """What ``maintenance`` reads of a connection."""

    def __init__(self, partial_since: float | None, requests: list[Any]) -> None:
        self.partial_since = partial_since
        self.requests = requests
        self.last_activity = time.time()
        self.will_close = False


def test_maintenance_closes_only_requests_arriving_for_longer_than_the_read_timeout() -> None:
    with built(LIMITS) as server:
        now = time.monotonic()
        slow = _Channel(now - 60.0, [])
        arriving = _Channel(now - 1.0, [])  # well inside the 7 s read timeout
        served = _Channel(now - 60.0, ["a request being answered"])
        idle = _Channel(None, [])
        channels: dict[int, Any] = server._server.active_channels  # type: ignore[assignment]
        channels.update({1: slow, 2: arriving, 3: served, 4: idle})
        server._server.maintenance(time.time())
        closing = [c.will_close for c in (slow, arriving, served, idle)]
        channels.clear()
    assert closing == [True, False, False, False]
