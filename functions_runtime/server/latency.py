"""Idle CPUs that poll instead of halting, while serve runs (``--cpu-latency-qos``).

Every event crosses processes several times: a client to serve, serve to a delivery
process, the delivery process to its sandbox worker and back (twice when the handler
calls ``fetch``: the broker answers it in the host). Each crossing wakes a process that
sleeps, and when its CPU sleeps too, the CPU has to wake first. On a virtual machine
whose idle CPUs halt at once (this project's: the ``haltpoll`` cpuidle driver with
``guest_halt_poll_ns=0``) that costs both sides tens of microseconds: a one-byte pipe
round trip across two vCPUs took 73 µs of wall time and 25 µs of the sender's CPU,
against 9 µs and 5 µs with idle CPUs polling (``bench/calibration.py`` reports it).

Linux lets a process ask for it: while a process holds ``/dev/cpu_dma_latency`` open
with a limit of 0 µs written to it (the kernel's CPU latency QoS), idle CPUs do not
enter any state that takes time to leave; they poll. The request ends when the file
is closed, also when the process dies, so nothing outlives serve. It is ``off`` by
default because its cost falls on the whole machine: idle CPUs stay busy (more power,
and on burstable cloud instances CPU credits spent while idle). Turn it on for a host
that runs the runtime and little else. It needs root (the device is root's), and a
cpuidle driver (without one, idle CPUs halt whatever the limit, and nothing is asked);
refused or pointless, it says why and serve runs without it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["CHOICES", "DEVICE", "Request", "hold"]

CHOICES = ("on", "off")
DEVICE = Path("/dev/cpu_dma_latency")
IDLE_DRIVER = Path("/sys/devices/system/cpu/cpuidle/current_driver")
"""The cpuidle driver: without one, idle CPUs halt without asking the limit."""
_LIMIT = struct.Struct("=i")  # the device reads and writes the limit as a native s32, in µs


class Request:
    """A held CPU latency request (``file``: None when there is none) and the line
    that says so; :meth:`release` ends it."""

    def __init__(self, file: BinaryIO | None, line: str) -> None:
        self.file = file
        self.line = line

    @property
    def held(self) -> bool:
        return self.file is not None

    def release(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def __enter__(self) -> Request:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _open(device: Path) -> BinaryIO:
    return device.open("r+b", buffering=0)


def hold(
    choice: str,
    device: Path = DEVICE,
    open_device: Callable[[Path], BinaryIO] = _open,
    idle_driver: Path = IDLE_DRIVER,
) -> Request:
    """Ask the kernel to keep idle CPUs polling (``on``) until the request is released;
    ``off``: no request. A machine without a cpuidle driver (its idle CPUs halt
    whatever the limit), a device that cannot be opened or written, or one that reads
    back a limit above 0 (the kernel's, for all requests) gives a request that holds
    nothing, and a line saying why."""
    if choice not in CHOICES:
        raise ValueError(f"--cpu-latency-qos must be one of {', '.join(CHOICES)}, got {choice!r}")
    if choice == "off":
        return Request(None, "")
    try:
        driver = idle_driver.read_text().strip()
    except OSError:
        driver = ""
    if driver in ("", "none"):
        return Request(
            None,
            f"no cpuidle driver here ({idle_driver}: {driver or 'missing'}): idle CPUs halt "
            "whatever the limit, so nothing was asked",
        )
    file: BinaryIO | None = None
    try:
        file = open_device(device)
        file.write(_LIMIT.pack(0))
        file.seek(0)
        granted = file.read(_LIMIT.size)
    except OSError as exc:
        if file is not None:
            file.close()
        return Request(
            None, f"could not ask for it ({_why(exc, device)}); idle CPUs halt as before"
        )
    limit = _LIMIT.unpack(granted)[0] if len(granted) == _LIMIT.size else 0
    if limit > 0:
        file.close()
        return Request(None, f"{device} kept a limit of {limit} µs; idle CPUs halt as before")
    return Request(
        file, f"idle CPUs poll while this runs ({device} held at 0 µs; cpuidle driver {driver})"
    )


def _why(exc: OSError, device: Path) -> str:
    reason = exc.strerror or str(exc)
    return f"{device}: {reason}" + (": it needs root" if exc.errno in (1, 13) else "")
