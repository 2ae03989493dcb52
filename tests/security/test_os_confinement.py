"""The OS layers with the language layer out of the way (issue 11, section 4).

Each attack runs as plain Python (real ``open``, ``os``, ``socket``, ``ctypes``,
``subprocess``) in a worker forked by the production zygote and confined by the
production code (``raw_zygote.py``). Every attack must fail with all layers on, and the
errno shows which layer stopped it: ``EPERM`` from seccomp (it runs first, at the
system call's entry), ``EACCES`` from Landlock (run with Landlock alone), ``ENETUNREACH``
/ ``ENOENT`` from the namespaces (run with neither). Workers run as uid 65534 (the uid
drop) whenever the test runs as root; the host keeps serving after each attack.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions_runtime.sandbox.guest.protocol import read_frame, write_frame
from functions_runtime.sandbox.host.pool import InstanceSpec, WorkerPool
from functions_runtime.sandbox.host.zygote_client import Launched, Launcher

RAW = Path(__file__).with_name("raw_zygote.py")
EPERM, EACCES = errno.EPERM, errno.EACCES

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux confinement")


class Confined:
    """Workers of one raw zygote started with ``layers``."""

    def __init__(self, layers: str) -> None:
        path = [str(RAW.parent), *(p for p in sys.path if p)]
        boot = (
            f"import sys, runpy; sys.path[:0] = {path!r}; sys.argv = ['raw', {layers!r}]; "
            f"runpy.run_path({str(RAW)!r}, run_name='__main__')"
        )
        self.launcher = Launcher(zygote_command=[sys.executable, "-I", "-B", "-c", boot])
        self.launcher.exec_fallback = False

    def start(self) -> tuple[Launched, dict[str, Any]]:
        launched = self.launcher.launch()
        return launched, read_frame(launched.stdout)

    @staticmethod
    def run(launched: Launched, source: str, **values: Any) -> dict[str, Any]:
        write_frame(launched.stdin, {"source": source, "vars": values})
        reply: dict[str, Any] = read_frame(launched.stdout)
        return reply

    def close(self) -> None:
        self.launcher.close()


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """A data directory outside /tmp (the namespaces give workers a private /tmp)."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as name:
        path = Path(name)
        (path / "functions.db").write_bytes(b"SQLite format 3\0secret rows")
        (path / "local.key").write_bytes(b"KEY-CANARY")
        for file in path.iterdir():
            file.chmod(0o644)  # readable by every uid: only confinement keeps it out
        path.chmod(0o777)
        yield path


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture(scope="module", params=["all", "landlock", "none"])
def box(request: pytest.FixtureRequest) -> Iterator[tuple[str, Confined]]:
    confined = Confined(request.param)
    yield request.param, confined
    confined.close()


def _syscall(number: int) -> str:
    return (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"if libc.syscall({number}, 0, 0, 0, 0, 0) < 0:\n"
        "    e = ctypes.get_errno(); raise OSError(e, os.strerror(e))\n"
    )


# name -> (source, {layers: expected errno, or "ok" when that layer alone allows it})
ATTACKS: dict[str, tuple[str, dict[str, Any]]] = {
    "read /etc/passwd": (
        "result = open('/etc/passwd').read()",
        {"all": EPERM, "landlock": EACCES},
    ),
    "read the SQLite file": (
        "result = open(data + '/functions.db', 'rb').read()",
        {"all": EPERM, "landlock": EACCES},
    ),
    "read the key file": (
        "result = open(data + '/local.key', 'rb').read()",
        {"all": EPERM, "landlock": EACCES},
    ),
    "read the host's environ": (
        "result = open(f'/proc/{host}/environ', 'rb').read()",
        # the pid namespace's /proc has no host pid: ENOENT before Landlock is asked
        {"all": EPERM, "landlock": errno.ENOENT, "none": errno.ENOENT},
    ),
    "read the host's mem": (
        "result = open(f'/proc/{host}/mem', 'rb').read(1)",
        # the pid namespace's /proc has no host pid: ENOENT before Landlock is asked
        {"all": EPERM, "landlock": errno.ENOENT, "none": errno.ENOENT},
    ),
    "list /proc": ("result = os.listdir('/proc')", {"all": EPERM, "landlock": EACCES}),
    "TCP to a loopback listener": (
        "import socket; socket.create_connection(('127.0.0.1', port), 2)",
        {"all": EPERM, "landlock": EACCES, "none": errno.ENETUNREACH},
    ),
    "TCP to the metadata address": (
        "import socket; socket.create_connection(('169.254.169.254', 80), 2)",
        {"all": EPERM, "landlock": EACCES, "none": errno.ENETUNREACH},
    ),
    "UDP sendto": (
        "import socket\n"
        "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', port))",
        {"all": EPERM, "landlock": errno.ENETUNREACH, "none": errno.ENETUNREACH},
    ),
    "AF_UNIX connect to the zygote's socket": (
        "import socket; socket.socket(socket.AF_UNIX).connect('/proc/1/fd/0')",
        {"all": EPERM},
    ),
    "execve /bin/sh": (
        "os.execv('/bin/sh', ['sh', '-c', 'true'])",
        {"all": EPERM, "landlock": EACCES},
    ),
    "fork": (
        "pid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)",
        {"all": EPERM, "landlock": "ok"},
    ),
    "ptrace the zygote": (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "if libc.ptrace(16, 1, 0, 0) < 0:\n"
        "    e = ctypes.get_errno(); raise OSError(e, os.strerror(e))",
        {"all": EPERM, "landlock": EPERM},
    ),
    "ptrace a sibling": (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "if libc.ptrace(16, sibling, 0, 0) < 0:\n"
        "    e = ctypes.get_errno(); raise OSError(e, os.strerror(e))",
        {"all": EPERM, "landlock": EPERM},
    ),
    "kill a sibling": ("os.kill(sibling, 9)", {"all": EPERM, "landlock": EPERM}),
    "write a file": (
        "open(data + '/pwned', 'w').write('x')",
        {"all": EPERM, "landlock": EACCES},
    ),
    "mmap PROT_EXEC": (
        "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC)",
        {"all": EPERM, "landlock": "ok"},
    ),
    "io_uring_setup": (_syscall(425), {"all": EPERM}),
    "bpf": (_syscall(321), {"all": EPERM}),
    "perf_event_open": (_syscall(298), {"all": EPERM}),
    "userfaultfd": (_syscall(323), {"all": EPERM}),
    "keyctl": (_syscall(250), {"all": EPERM}),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_is_stopped_by_the_expected_layer(
    attack: str, box: tuple[str, Confined], data_dir: Path, listener: socket.socket
) -> None:
    layers, confined = box
    source, expected = ATTACKS[attack]
    if layers not in expected:
        pytest.skip(f"{layers!r} alone is not claimed to stop this")
    if os.uname().machine != "x86_64" and "syscall(" in source:
        pytest.skip("x86_64 system call numbers")
    sibling, hello = confined.start()
    attacker, _ = confined.start()
    try:
        if layers == "all":
            assert all(v.startswith("active") for v in hello["confinement"].values()), hello
        reply = confined.run(
            attacker,
            source,
            data=str(data_dir),
            host=os.getpid(),
            port=listener.getsockname()[1],
            sibling=hello["pid"],
        )
        want = expected[layers]
        if want == "ok":
            assert reply["ok"], reply
        else:
            assert not reply["ok"], reply
            assert reply["errno"] == want, (errno.errorcode.get(reply["errno"] or 0), reply)
        # The sibling (another instance's worker) is untouched and answers.
        assert confined.run(sibling, "result = 6 * 7")["value"] == "42"
    finally:
        for launched in (sibling, attacker):
            launched.kill()
            launched.proc.wait(timeout=10)
            for fd in (launched.stdin, launched.stdout, launched.stderr):
                os.close(fd)
    assert not (data_dir / "pwned").exists()


def test_the_host_keeps_serving_after_the_attacks() -> None:
    spec = InstanceSpec(key="k", source="def on_track(e, s):\n    return 'ok'\n", filename="h.py")
    with WorkerPool(max_workers=1, spares=0) as pool:
        [result] = pool.invoke(spec, [{"type": "track", "event": "x", "userId": "u"}])
    assert result["result"] == "ok", result


PRELOADED = """
import codecs, datetime, time
names = ["ascii", "latin_1", "utf_8", "utf_8_sig", "utf_16", "utf_16_le", "utf_16_be",
         "utf_32", "cp1252", "idna", "punycode", "unicode_escape", "raw_unicode_escape",
         "hex_codec", "base64_codec"]
found = [codecs.lookup(name).name for name in names]
parsed = datetime.datetime.strptime("2024-01-02T03:04:05", "%Y-%m-%dT%H:%M:%S")
year = time.strptime("2024", "%Y").tm_year
import unicodedata, functions_sdk._masking
result = [len(found), parsed.isoformat(), year, "é".encode("idna")]
"""


def test_what_the_zygote_preloads_works_once_confined() -> None:
    """A confined worker cannot open a file, so a codec or ``_strptime`` that the zygote
    did not import beforehand would fail to import lazily (EPERM) in the worker."""
    confined = Confined("all")
    try:
        worker, hello = confined.start()
        try:
            assert all(v.startswith("active") for v in hello["confinement"].values()), hello
            reply = confined.run(worker, PRELOADED)
            assert reply == {
                "ok": True,
                "value": "[15, '2024-01-02T03:04:05', 2024, b'xn--9ca']",
            }, reply
            # and the file system is gone indeed: a codec never preloaded cannot load
            missing = confined.run(worker, "import codecs; codecs.lookup('cp037')")
            assert missing["ok"] is False, missing
        finally:
            worker.kill()
            worker.proc.wait(timeout=10)
            for fd in (worker.stdin, worker.stdout, worker.stderr):
                os.close(fd)
    finally:
        confined.close()
