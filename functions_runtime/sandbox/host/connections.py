"""The broker's kept-alive HTTP connections, each pinned to a checked address.

A connection is a standard library ``http.client`` connection made to the *address*
the address policy checked (``ssrf.py``), never to a host name: for HTTPS the URL's
host name is still what TLS sends (SNI) and what the certificate must name. Idle
connections wait per instance and per ``(scheme, host, port, address)``: at most
``per_origin`` of them each, at most ``origins`` such keys per instance and at most
``instances`` instances, the least recently used closed first past a bound. They are
never shared between instances. A connection is taken out while one request uses it
and given back only when its answer was read to the end and the server did not ask to
close; one the server closed while it waited, or that waited longer than
:data:`IDLE_SECONDS` (a load balancer or NAT may have forgotten it without a word, and
a request on it would wait out its whole timeout), is closed when next looked at.

Why ``http.client`` and not urllib3's pools (which the broker used before): the broker
already keeps its own bounded pools per instance and origin, so what urllib3 added per
request was its ``HTTPConnection`` and ``HTTPResponse`` wrappers around the same
``http.client`` code (280 µs of CPU per kept-alive POST to a local server against 140,
``docs/PERFORMANCE.md``, tenth session). ``http.client`` now only makes the connection
(TCP to the pinned address, then TLS); the request and its answer go over ``sock``
(``wire.py``).
"""

from __future__ import annotations

import collections
import http.client
import select
import ssl
import threading
import time
from collections.abc import Callable

from .ssrf import Target

__all__ = ["IDLE_SECONDS", "Connection", "Connections", "Key", "PinnedTLSConnection"]

Connection = http.client.HTTPConnection
Key = tuple[str, str, int, str]
IDLE_SECONDS = 15.0
"""How long a kept-alive connection may wait for its next request."""


class PinnedTLSConnection(http.client.HTTPConnection):
    """HTTPS to a fixed address: TCP to ``address``, TLS for ``hostname``."""

    default_port = http.client.HTTPS_PORT

    def __init__(
        self, address: str, port: int, *, hostname: str, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(address, port, timeout=timeout)
        self._hostname = hostname
        self._tls = context

    def connect(self) -> None:
        super().connect()  # TCP to the pinned address, TCP_NODELAY
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._hostname)


def _dropped(connection: Connection) -> bool:
    """Whether an idle connection cannot carry a request: closed, or the server spoke
    (an idle HTTP/1.1 connection is readable only at its end or out of turn)."""
    sock = connection.sock
    if sock is None or sock.fileno() == -1:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI)
    try:
        return bool(poller.poll(0))
    except OSError:
        return True


def _close(connections: list[Connection]) -> None:
    for connection in connections:
        connection.close()


Idle = list[tuple[Connection, float]]  # each with when it was given back


class Connections:
    """Idle connections per instance and origin, bounded (see the module docstring)."""

    def __init__(
        self,
        *,
        per_origin: int,
        origins: int,
        instances: int,
        tls_context: Callable[[], ssl.SSLContext],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._per_origin = per_origin
        self._origins = origins
        self._instances = instances
        self._tls_context = tls_context
        self._idle: collections.OrderedDict[str, collections.OrderedDict[Key, Idle]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def take(self, instance: str, target: Target, address: str, timeout: float) -> Connection:
        """A kept-alive connection of ``instance`` to ``address`` for ``target``'s
        origin, or a new one, not yet connected (``sock`` is None)."""
        key: Key = (target.scheme, target.host, target.port, address)
        evicted: list[Connection] = []
        with self._lock:
            origins = self._idle.setdefault(instance, collections.OrderedDict())
            self._idle.move_to_end(instance)
            idle = origins.setdefault(key, [])
            origins.move_to_end(key)
            found = self._live(idle, evicted)
            while len(origins) > self._origins:
                evicted.extend(conn for conn, _ in origins.popitem(last=False)[1])
            while len(self._idle) > self._instances:
                for old in self._idle.popitem(last=False)[1].values():
                    evicted.extend(conn for conn, _ in old)
        _close(evicted)
        if found is not None:
            return found
        if target.scheme == "https":
            return PinnedTLSConnection(
                address,
                target.port,
                hostname=target.host,
                context=self._tls_context(),
                timeout=timeout,
            )
        return http.client.HTTPConnection(address, target.port, timeout=timeout)

    def take_kept(
        self, instance: str, target: Target, admits: Callable[[str], bool]
    ) -> tuple[Connection, str] | None:
        """A kept-alive connection of ``instance`` to ``target``'s origin at any address
        that ``admits`` (the address policy, as it is now), with that address; None when
        there is none. Connections at an address no longer admitted are closed."""
        origin = (target.scheme, target.host, target.port)
        found: tuple[Connection, str] | None = None
        closed: list[Connection] = []
        with self._lock:
            origins = self._idle.get(instance)
            if origins is None:
                return None
            for key in reversed(origins):  # the most recently used origin first
                if key[:3] != origin:
                    continue
                idle = origins[key]
                if not admits(key[3]):
                    closed.extend(conn for conn, _ in idle)
                    idle.clear()
                    continue
                conn = self._live(idle, closed)
                if conn is not None:
                    found = (conn, key[3])
                    self._idle.move_to_end(instance)
                    origins.move_to_end(key)
                    break
        _close(closed)
        return found

    def give_back(self, instance: str, target: Target, address: str, conn: Connection) -> None:
        """Keep ``conn`` for the next request of ``instance`` to that origin, or close
        it when its instance or origin was let go meanwhile or enough wait already."""
        key: Key = (target.scheme, target.host, target.port, address)
        with self._lock:
            origins = self._idle.get(instance)
            idle = None if origins is None else origins.get(key)
            if idle is not None and len(idle) < self._per_origin and conn.sock is not None:
                idle.append((conn, self._clock()))
                return
        conn.close()

    def forget(self, instance: str) -> None:
        """Close ``instance``'s idle connections (its worker is gone)."""
        with self._lock:
            origins = self._idle.pop(instance, None)
        for idle in (origins or {}).values():
            _close([conn for conn, _ in idle])

    def close(self) -> None:
        with self._lock:
            instances = list(self._idle)
        for instance in instances:
            self.forget(instance)

    def idle(self, instance: str) -> int:
        """How many idle connections ``instance`` has (for tests and the bench)."""
        with self._lock:
            origins = list(self._idle.get(instance, {}).values())
        return sum(1 for idle in origins for conn, _ in idle if conn.sock is not None)

    def _live(self, idle: Idle, closed: list[Connection]) -> Connection | None:
        """The most recently given back of ``idle`` that can carry a request; the ones
        looked at before it (the server closed them, or they waited too long) go to
        ``closed``."""
        now = self._clock()
        while idle:
            conn, since = idle.pop()
            if now - since <= IDLE_SECONDS and not _dropped(conn):
                return conn
            closed.append(conn)
        return None
