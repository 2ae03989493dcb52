"""``--cpu-latency-qos`` (``server/latency.py``): the kernel's CPU latency request, held
while serve (or the bench) runs and released when it stops."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import pytest

from functions_runtime.server import latency

LIMIT = struct.Struct("=i")
DEVICE_USABLE = os.geteuid() == 0 and latency.DEVICE.exists()


@pytest.fixture
def driver(tmp_path: Path) -> Path:
    path = tmp_path / "current_driver"
    path.write_text("haltpoll\n")
    return path


def current_limit() -> int:
    with latency.DEVICE.open("rb", buffering=0) as fh:
        return int(LIMIT.unpack(fh.read(LIMIT.size))[0])


def test_off_holds_nothing_and_says_nothing(tmp_path: Path):
    device = tmp_path / "device"
    device.write_bytes(LIMIT.pack(2_000_000_000))
    with latency.hold("off", device) as request:
        assert not request.held and request.line == ""
    assert device.read_bytes() == LIMIT.pack(2_000_000_000)


def test_on_writes_a_zero_limit_and_keeps_the_file_open_until_released(
    tmp_path: Path, driver: Path
):
    device = tmp_path / "device"
    device.write_bytes(b"")
    with latency.hold("on", device, idle_driver=driver) as request:
        assert request.held
        assert request.file is not None and not request.file.closed
        assert "idle CPUs poll" in request.line and "cpuidle driver haltpoll" in request.line
        kept = request.file
    assert device.read_bytes() == LIMIT.pack(0)  # the native s32 the device reads
    assert kept.closed and not request.held


def test_a_device_that_cannot_be_opened_is_named_and_nothing_is_held(tmp_path: Path, driver: Path):
    request = latency.hold("on", tmp_path / "missing", idle_driver=driver)
    assert not request.held
    assert str(tmp_path / "missing") in request.line
    assert "halt as before" in request.line
    request.release()  # releasing nothing is fine


def test_a_limit_the_kernel_did_not_lower_is_reported_and_not_held(tmp_path: Path, driver: Path):
    class Device(io.BytesIO):
        def write(self, data: object) -> int:  # the kernel keeps another request's limit
            return LIMIT.size

    device = Device(LIMIT.pack(50))
    request = latency.hold("on", tmp_path / "device", lambda path: device, driver)
    assert not request.held and device.closed
    assert "kept a limit of 50 µs" in request.line


def test_a_device_that_refuses_the_write_is_named(tmp_path: Path, driver: Path):
    class Device(io.BytesIO):
        def write(self, data: object) -> int:
            raise PermissionError(1, "Operation not permitted")

    device = Device()
    request = latency.hold("on", tmp_path / "device", lambda path: device, driver)
    assert not request.held and device.closed
    assert "Operation not permitted: it needs root" in request.line


@pytest.mark.parametrize("content", [None, "none\n", ""])
def test_without_a_cpuidle_driver_nothing_is_asked(tmp_path: Path, content: str | None):
    driver = tmp_path / "current_driver"
    if content is not None:
        driver.write_text(content)
    device = tmp_path / "device"
    device.write_bytes(LIMIT.pack(7))
    request = latency.hold("on", device, idle_driver=driver)
    assert not request.held and "no cpuidle driver here" in request.line
    assert device.read_bytes() == LIMIT.pack(7)  # not opened for writing


def test_an_unknown_choice_is_refused():
    with pytest.raises(ValueError, match="--cpu-latency-qos must be one of on, off"):
        latency.hold("always")


@pytest.mark.skipif(not DEVICE_USABLE, reason="needs root and /dev/cpu_dma_latency")
def test_the_kernel_s_limit_is_zero_while_held_and_back_after():
    before = current_limit()
    with latency.hold("on") as request:
        assert request.held, request.line
        assert current_limit() == 0
    assert current_limit() == before
