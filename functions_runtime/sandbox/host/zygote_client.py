"""Starting sandbox workers: forked from a zygote, or exec'ed when that fails.

A :class:`Launcher` (one per :class:`~functions_runtime.sandbox.host.pool.WorkerPool`) starts one
zygote (``functions_runtime/sandbox/guest/zygote.py``) the first time it needs a worker, by
exec, the way workers themselves were started: ``python -I -B`` with the host's import
path, the allow-listed :func:`worker_environment`, cwd ``/``, a new session and no
inherited descriptors. Each worker is then a fork of it: the host makes the worker's
three pipes and hands the child ends over with ``SCM_RIGHTS``; the zygote forks and
reports the pid, and later the wait status (the zygote is the workers' parent and reaps
them). :class:`ForkedProcess` turns those reports into the part of ``Popen`` the
invoker uses (``pid``, ``poll``, ``wait``, ``returncode``).

If the zygote dies or a spawn fails, the launcher starts a new zygote and retries once;
if that fails too it execs the worker directly (:func:`exec_worker`) and keeps doing so
for :data:`FALLBACK_SECONDS` before trying a zygote again, so the pool never stops.

When the zygote runs in a pid namespace (``sandbox/guest/namespaces.py``), the pids it
names are its own view; the host's view of each worker's pid comes with the ``P``
message as ``SCM_CREDENTIALS`` (``SO_PASSCRED`` on the host's end: the kernel translates
the pid, and only a process with ``CAP_SYS_ADMIN`` over that namespace, the zygote, may
name another process there). The host keeps both and uses its own view everywhere else
(``/proc/<pid>``, ``killpg``); ``K`` requests carry the zygote's view.

Every worker of one zygote shares its hash seed and address-space layout (see the
zygote's docstring): the price of starting in a few ms instead of ~200.
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "ForkedProcess",
    "Launched",
    "Launcher",
    "ZygoteError",
    "boot_command",
    "exec_worker",
    "worker_environment",
]

MESSAGE = struct.Struct("=cii")  # the zygote's record (sandbox/guest/zygote.py)
STARTUP_TIMEOUT = 10.0  # the zygote's imports: ~0.2 s on an idle machine
SPAWN_TIMEOUT = 5.0
FALLBACK_SECONDS = 60.0

# The only variables a worker inherits. Everything else (AWS_*, FUNCTIONS_*, tokens)
# stays in the host.
_ENV_PASSTHROUGH = ("LANG", "LC_ALL", "TZ")


def boot_command(module: str) -> list[str]:
    """Isolated mode (-I: no PYTHON* variables, no user site) with the host's import
    path passed explicitly: on Lambda the code lives in /var/task, which -I would drop."""
    path = [p for p in sys.path if p]
    boot = (
        "import runpy, sys; sys.path[:0] = " + repr(path) + "; "
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-I", "-B", "-c", boot]


def worker_environment() -> dict[str, str]:
    # PYDANTIC_DISABLE_PLUGINS: pydantic would otherwise scan every installed
    # distribution's entry points at the first model build and import the plugins it
    # finds, i.e. run third-party code inside the sandbox worker (and spend a few ms
    # and some memory at every start).
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    env.update({k: os.environ[k] for k in _ENV_PASSTHROUGH if k in os.environ})
    return env


def _start(command: list[str], stdin: int, stdout: int, stderr: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=worker_environment(),
        cwd="/",
        close_fds=True,
        start_new_session=True,
    )


class Process(Protocol):
    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass(frozen=True)
class Launched:
    """A started worker and the host's ends of its pipes (raw descriptors)."""

    proc: Process
    stdin: int
    stdout: int
    stderr: int
    namespaces: int = 0  # the CLONE_NEW* bits of the namespaces the worker lives in

    def kill(self) -> None:
        """SIGKILL the worker's process group (its own session)."""
        if isinstance(self.proc, ForkedProcess):
            self.proc.kill_group()
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


def _pipes() -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    made: list[tuple[int, int]] = []
    try:
        for _ in range(3):
            made.append(os.pipe())
    except OSError:
        for pair in made:
            for fd in pair:
                os.close(fd)
        raise
    return made[0], made[1], made[2]


def exec_worker() -> Launched:
    """A worker started the old way: a fresh interpreter per worker."""
    (in_r, in_w), (out_r, out_w), (err_r, err_w) = _pipes()
    try:
        proc = _start(
            boot_command("functions_runtime.sandbox.guest.worker"),
            stdin=in_r,
            stdout=out_w,
            stderr=err_w,
        )
    except BaseException:
        for fd in (in_w, out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    return Launched(proc, in_w, out_r, err_r)


class ZygoteError(Exception):
    """The zygote did not start, died, or could not fork a worker."""

    def __init__(self, message: str, *, broken: bool = True) -> None:
        super().__init__(message)
        self.broken = broken  # False: the zygote is fine, the fork failed (e.g. EAGAIN)


class Zygote:
    """The host's end of one zygote process: spawn requests and exit reports."""

    def __init__(self, command: list[str] | None = None) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        try:
            self.proc = _start(
                command or boot_command("functions_runtime.sandbox.guest.zygote"),
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours
        self._poller = select.poll()
        self._poller.register(ours.fileno(), select.POLLIN)
        self._lock = threading.Lock()
        self._ready = False
        self.dead = False
        self._replies: collections.deque[tuple[bytes, int, int]] = collections.deque()
        self._live: set[int] = set()  # host pids
        self._exited: dict[int, int] = {}  # host pid -> exit code
        self._host_pid: dict[int, int] = {}  # the zygote's view -> the host's
        self._zygote_pid: int | None = None
        self.namespaces = 0

    @property
    def pid(self) -> int:
        """The serving zygote's pid (in a pid namespace: the child of the one started)."""
        return self._zygote_pid or self.proc.pid

    # -- messages (the caller holds the lock) ---------------------------------------------

    def _pump(self, timeout: float) -> None:
        """Take in what the zygote sent, waiting up to ``timeout`` s for the first."""
        if self.dead:
            return
        if timeout > 0 and not self._poller.poll(int(timeout * 1000) + 1):
            return
        space = socket.CMSG_SPACE(_CREDS.size)
        while True:
            try:
                data, ancillary, _, _ = self._sock.recvmsg(MESSAGE.size, space, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                data, ancillary = b"", []
            if len(data) != MESSAGE.size:
                self._lost()
                return
            kind, pid, value = MESSAGE.unpack(data)
            sender = _sender_pid(ancillary)
            if kind == b"X":
                host = self._host_pid.pop(pid, pid)
                self._live.discard(host)
                self._exited[host] = os.waitstatus_to_exitcode(value)
            elif kind == b"R":
                self._ready = True
                self._zygote_pid = sender
                self.namespaces = value
            else:
                if kind == b"P":
                    self._host_pid[pid] = sender if self.namespaces and sender else pid
                    pid = self._host_pid[pid]
                self._replies.append((kind, pid, value))

    def _lost(self) -> None:
        """The zygote is gone: its workers are orphans that exit within a second (their
        watchdog); kill them now so the pool replaces them at once."""
        self.dead = True
        for pid in self._live:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            self._exited.setdefault(pid, -signal.SIGKILL)
        self._live.clear()

    # -- requests ------------------------------------------------------------------------

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self._ready:
                remaining = deadline - time.monotonic()
                if self.dead or remaining <= 0:
                    raise ZygoteError("the zygote did not start")
                self._pump(min(remaining, 0.5))

    def spawn(self) -> Launched:
        self.wait_ready()
        (in_r, in_w), (out_r, out_w), (err_r, err_w) = _pipes()
        ours = (in_w, out_r, err_r)
        try:
            with self._lock:
                try:
                    socket.send_fds(self._sock, [MESSAGE.pack(b"S", 0, 0)], [in_r, out_w, err_w])
                except OSError as exc:
                    self._lost()
                    raise ZygoteError(f"the zygote is gone: {exc}") from None
                finally:
                    for fd in (in_r, out_w, err_w):
                        os.close(fd)
                deadline = time.monotonic() + SPAWN_TIMEOUT
                while not self._replies:
                    remaining = deadline - time.monotonic()
                    if self.dead or remaining <= 0:
                        self._lost()
                        raise ZygoteError("the zygote did not answer a spawn request")
                    self._pump(min(remaining, 0.5))
                kind, pid, value = self._replies.popleft()
                if kind != b"P":
                    message = f"the zygote could not fork: {os.strerror(value)}"
                    raise ZygoteError(message, broken=False)
                self._live.add(pid)
                if self.dead:  # the read that brought the answer also met the zygote's end
                    self._lost()
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        return Launched(ForkedProcess(self, pid), in_w, out_r, err_r, self.namespaces)

    def returncode(self, pid: int, timeout: float = 0.0) -> int | None:
        """``pid``'s exit code once the zygote reported it (``-N``: killed by signal N)."""
        if pid in self._exited:
            return self._exited[pid]
        if timeout <= 0:
            # When another thread is reading the socket (a spawn: a few ms), wait for it
            # only if the worker has really ended, so alive() stays cheap and right.
            if not self._lock.acquire(blocking=False) and (
                not _gone(pid) or not self._lock.acquire(timeout=SPAWN_TIMEOUT)
            ):
                return None
        elif not self._lock.acquire(timeout=timeout):
            return None
        try:
            # Another thread may have read the report while this one waited for the lock
            # (a spawn's read takes in every report): waiting for it again would hold the
            # lock, and every spawn, for the whole timeout.
            if pid not in self._exited:
                self._pump(timeout)
        finally:
            self._lock.release()
        return self._exited.get(pid)

    def forget(self, pid: int) -> None:
        self._exited.pop(pid, None)

    def kill(self, pid: int) -> None:
        """SIGKILL ``pid``'s group, through the zygote while it lives (it kills only
        children it has not reaped, so never a recycled pid)."""
        with self._lock:
            self._pump(0)
            if pid not in self._live:  # ended and reported, or lost with the zygote (killed)
                return
            local = next((k for k, v in self._host_pid.items() if v == pid), pid)
            try:
                self._sock.send(MESSAGE.pack(b"K", local, 0))
            except OSError:
                self._lost()  # kills every live worker, this one too

    def close(self) -> None:
        """Close the socket: the zygote kills its workers and exits."""
        with self._lock:
            self._lost()  # the zygote kills them too, and reports nothing more
            self._sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ForkedProcess:
    """A worker forked by a :class:`Zygote`, seen through the part of ``Popen`` the
    invoker uses."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self._zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._set(self._zygote.returncode(self.pid))
        return self.returncode

    def _set(self, code: int | None) -> None:
        if code is not None:
            self.returncode = code
            self._zygote.forget(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            remaining = 0.5 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                if _gone(self.pid):  # the report is late (or lost): the process is not
                    self.returncode = -signal.SIGKILL
                    break
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            self._set(self._zygote.returncode(self.pid, min(remaining, 0.5)))
        assert self.returncode is not None
        return self.returncode

    def kill_group(self) -> None:
        if self.poll() is None:
            self._zygote.kill(self.pid)


_CREDS = struct.Struct("=iII")  # struct ucred


def _sender_pid(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            return int(_CREDS.unpack(data[: _CREDS.size])[0])
    return None


def _gone(pid: int) -> bool:
    """No such process, or a zombie (ended, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


class Launcher:
    """Starts a pool's workers: forks from a zygote when it can, execs when it cannot."""

    def __init__(
        self,
        *,
        fork: bool = True,
        zygote_command: list[str] | None = None,
        exec_fallback: bool = True,
    ) -> None:
        """``exec_fallback=False`` (strict isolation where namespaces are required): when
        the zygote cannot fork, :meth:`launch` raises :class:`ZygoteError` rather than
        exec a worker outside the zygote's namespaces."""
        self.fork = fork
        self.exec_fallback = exec_fallback
        self._command = zygote_command
        self._zygote: Zygote | None = None
        self._lock = threading.Lock()
        self._exec_until = 0.0
        self.fallbacks = 0

    @property
    def zygote_pid(self) -> int | None:
        zygote = self._zygote
        return None if zygote is None or zygote.dead else zygote.pid

    def prestart(self) -> None:
        """Start the zygote now and wait until it has imported everything."""
        if self.fork:
            with contextlib.suppress(ZygoteError):
                self._current().wait_ready()

    def launch(self) -> Launched:
        if self.fork and time.monotonic() >= self._exec_until:
            for _ in range(2):  # the zygote, then once more with a new one
                zygote = self._current()
                try:
                    return zygote.spawn()
                except ZygoteError as exc:
                    if not exc.broken:
                        if not self.exec_fallback:
                            raise
                        self.fallbacks += 1
                        return exec_worker()  # this fork failed; the zygote is fine
                    self._discard(zygote)
                except OSError:
                    self._discard(zygote)
            if not self.exec_fallback:
                raise ZygoteError("the zygote cannot start workers (no exec fallback)")
            self._exec_until = time.monotonic() + FALLBACK_SECONDS
            self.fallbacks += 1
        return exec_worker()

    def _current(self) -> Zygote:
        with self._lock:
            if self._zygote is not None and self._zygote.dead:
                old, self._zygote = self._zygote, None
                old.close()
            if self._zygote is None:
                self._zygote = Zygote(self._command)
            return self._zygote

    def _discard(self, zygote: Zygote) -> None:
        with self._lock:
            if self._zygote is zygote:
                self._zygote = None
        zygote.close()

    def close(self) -> None:
        with self._lock:
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.close()
