"""The worker template ("zygote"): a pre-imported process that forks sandbox workers.

Started by exec exactly like a worker (``python -I -B``, the host's import path, the
allow-listed environment, cwd ``/``, its own session, no inherited descriptors), it
imports everything a worker needs and then only forks. It never receives instance code,
settings, secrets or events: those go to each worker over that worker's own pipes after
the fork, as they do to an exec'ed worker. Its stdin is a ``SOCK_SEQPACKET`` Unix socket
to the host; every message is one :data:`MESSAGE` record ``(kind, pid, value)``:

* host to zygote: ``S`` (spawn) with the worker's stdin, stdout and stderr pipe ends
  attached (``SCM_RIGHTS``), ``K`` (kill the process group ``pid`` if it is still a
  live, unreaped child: no risk of hitting a recycled pid);
* zygote to host: ``R`` (ready, once; ``value`` = the namespaces it entered, as
  ``CLONE_NEW*`` bits), ``P`` (spawned ``pid``; inside a pid namespace the message
  carries the child's pid as ``SCM_CREDENTIALS``, which the kernel translates into the
  host's view), ``F`` (the fork failed, ``value`` = errno), ``X`` (child ``pid`` ended;
  ``value`` = the raw wait status). ``pid`` in messages is always the zygote's view.

Once warm, the zygote enters new namespaces where the host may create them
(``guest/namespaces.py``: net, pid, ipc, uts, mount, and user when not root); with a
pid namespace it forks once and the child, pid 1 there, is the zygote from then on.

The forked child starts its own session (the host kills it with ``killpg``), puts the
three pipes on fds 0-2, closes every other descriptor (the control socket, the wake-up
pipe, the received originals) and runs :func:`worker.run`, the code path of an exec'ed
worker: fd 1 on ``/dev/null``, death with its parent, OS confinement
(``guest/confine.py``) before the first frame, rlimits (including ``RLIMIT_NPROC`` = 0)
before any handler code loads. The zygote is single-threaded (forking a
multi-threaded process is unsafe), keeps ``RLIMIT_NPROC`` (it must fork) but sets
``RLIMIT_CORE`` = 0, and is not dumpable: a compromised worker (same uid) cannot ptrace
it or read its memory to poison the workers it forks later. It exits when the host goes
away (EOF on the socket, or its parent changes) and then kills its workers; a worker whose
zygote dies exits through its watchdog.

Tradeoff: every worker of one zygote shares the hash seed (``PYTHONHASHSEED`` is drawn
once, at the zygote's start) and the address-space layout (ASLR is per exec). ``random``
reseeds itself in each child (``os.register_at_fork``) and ``os.urandom`` is per call.
An exec'ed worker had its own seed and layout; with a zygote, learning one worker's
layout (through a memory-disclosure bug: the sandbox gives handler code no addresses)
tells an attacker the layout of the other instances' workers forked by that zygote.
"""

from __future__ import annotations

import gc

gc.disable()  # no collections while importing: fewer holes in pages the workers share

import contextlib  # noqa: E402
import ctypes  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import NoReturn  # noqa: E402

from . import confine, namespaces, rehearsal, worker  # noqa: E402

__all__ = ["MESSAGE", "main"]

MESSAGE = struct.Struct("=cii")
PR_SET_DUMPABLE = 4
TICK_MS = 1000


def _set_dumpable(on: bool) -> None:
    """prctl(PR_SET_DUMPABLE): a process that is not dumpable cannot be ptraced, nor its
    memory read through /proc, by another process of the same user (root excepted).
    Every forked child calls it first: libc's handle is the one made before the fork."""
    with contextlib.suppress(OSError, AttributeError):
        confine.libc().prctl(PR_SET_DUMPABLE, int(on), 0, 0, 0)


def _warm() -> None:
    """Run the lazy parts of the import once here, so each worker need not: compile a
    trivial handler and build its globals (no instance's code or data is involved)."""
    from ..compiler import compile_function
    from .guards import Guards
    from .namespace import AUTHOR_BASES, build_globals

    report = compile_function("def on_track(event, settings):\n    return None\n", "warm.py")
    if report.code is not None:
        exec(report.code, build_globals(Guards(AUTHOR_BASES)))
    rehearsal.prepare()  # spares rehearse with it (``guest/rehearsal.py``)
    _preload()


def _preload() -> None:
    """Import now what Python would import lazily later: a confined worker cannot open
    a file, so a lazy import there would fail (``datetime.strptime`` imports
    ``_strptime``; a codec's first use imports its ``encodings`` module)."""
    import datetime
    import encodings
    import time

    for codec in (
        "ascii", "latin_1", "utf_8", "utf_8_sig", "utf_16", "utf_16_le", "utf_16_be",
        "utf_32", "cp1252", "idna", "punycode", "unicode_escape", "raw_unicode_escape",
        "hex_codec", "base64_codec",
    ):  # fmt: skip
        encodings.search_function(codec)
    datetime.datetime.strptime("2024-01-02T03:04:05", "%Y-%m-%dT%H:%M:%S")
    time.strptime("2024", "%Y")
    "é".encode("idna")
    import unicodedata  # noqa: F401  (str methods and the idna codec)

    import functions_sdk._masking  # noqa: F401  (the masker behind logs and errors)


def _send(control: socket.socket, kind: bytes, pid: int, value: int) -> None:
    control.send(MESSAGE.pack(kind, pid, value))


def _reap(control: socket.socket, live: set[int]) -> None:
    while live:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        live.discard(pid)
        _send(control, b"X", pid, status)


def _become_worker(control: socket.socket, fds: list[int], body: Callable[[], None]) -> NoReturn:
    """In the forked child: drop everything of the zygote's, then serve as a worker."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _set_dumpable(True)  # as an exec'ed worker: the host reads its /proc files
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        control.detach()  # the descriptor itself is closed below, with every other one
        os.closerange(3, max(os.sysconf("SC_OPEN_MAX"), 256))  # incl. the wake-up pipe
        gc.enable()
        body()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stderr.flush()
        os._exit(code)


def _spawn(control: socket.socket, live: set[int], body: Callable[[], None], pid_ns: bool) -> bool:
    """Serve one request; False when the host has gone."""
    try:
        data, fds, _, _ = socket.recv_fds(control, MESSAGE.size, 3)
    except ConnectionError:
        return False
    if not data:
        return False
    try:
        kind, pid, _ = MESSAGE.unpack(data)
    except struct.error:
        kind, pid = b"?", 0
    if kind == b"K":
        if pid in live:  # our unreaped child: the pid cannot have been reused
            # The child itself first: until its setsid() it has no group of its own.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        return True
    if kind != b"S" or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        _send(control, b"F", 0, 22)  # EINVAL
        return True
    try:
        child = os.fork()
    except OSError as exc:
        for fd in fds:
            os.close(fd)
        _send(control, b"F", 0, exc.errno or 0)
        return True
    if child == 0:
        _become_worker(control, fds, body)
    for fd in fds:
        os.close(fd)
    live.add(child)
    if pid_ns:  # the kernel tells the host this pid in its own view
        creds = struct.pack("=iII", child, os.getuid(), os.getgid())
        control.sendmsg(
            [MESSAGE.pack(b"P", child, 0)], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)]
        )
    else:
        _send(control, b"P", child, 0)
    return True


def _enter_namespaces(control: socket.socket) -> int:
    """Enter new namespaces; with a pid namespace, fork: the child (pid 1 there) returns
    and serves, this process waits for it and exits with it. Returns the namespaces."""
    flags = namespaces.enter()
    if not flags & namespaces.CLONE_NEWPID:
        return flags
    child = os.fork()
    if child:
        control.close()  # only the serving zygote holds the host's socket
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except ChildProcessError:
                status = 0
                break
            except InterruptedError:
                continue
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the waiting parent
    os.setsid()
    namespaces.mount_proc()
    return flags


def main(body: Callable[[], None] = worker.run) -> None:
    """Serve spawn requests; each forked child runs ``body`` (:func:`worker.run`: the
    only body outside the test tree's proof harness)."""
    control = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.close(devnull)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _warm()
    # Not dumpable only once in the namespaces: an unprivileged zygote writes its own
    # /proc/self/uid_map and setgroups there, which a non-dumpable process cannot (they
    # become root's); no worker exists yet to read it in between.
    entered = _enter_namespaces(control)
    _set_dumpable(False)
    wake = os.pipe()
    for fd in wake:
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake[1])
    signal.signal(signal.SIGCHLD, lambda *_: None)
    poller = select.poll()
    poller.register(control.fileno(), select.POLLIN)
    poller.register(wake[0], select.POLLIN)
    parent = os.getppid()
    live: set[int] = set()
    gc.freeze()  # the workers' collections leave the shared objects' pages alone
    _send(control, b"R", os.getpid(), entered)
    running = True
    try:
        while running:
            ready = poller.poll(TICK_MS)
            with contextlib.suppress(BlockingIOError):
                while os.read(wake[0], 512):
                    pass
            _reap(control, live)
            if os.getppid() != parent:
                break
            for fd, _ in ready:
                if fd == control.fileno():
                    running = _spawn(control, live, body, bool(entered & namespaces.CLONE_NEWPID))
    except (BrokenPipeError, ConnectionError):
        pass
    finally:
        for pid in live:  # the host is gone: so are its workers
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
    os._exit(0)


if __name__ == "__main__":
    main()
