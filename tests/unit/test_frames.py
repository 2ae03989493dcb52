"""The worker's frame reader and writer (``sandbox/guest/protocol.py``), and the
broker's remembered address verdicts (``sandbox/host/ssrf.py``)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
from collections.abc import Iterator

import pytest

from functions_runtime.sandbox.guest.protocol import (
    MAX_FRAME,
    FrameError,
    FrameReader,
    encode,
    read_frame,
    write_frame,
    write_frames,
)
from functions_runtime.sandbox.host.ssrf import NetworkPolicy


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_reader_returns_frames_in_order_whatever_the_chunks(pipe: tuple[int, int]) -> None:
    r, w = pipe
    messages = [{"i": i, "pad": "x" * (i * 7)} for i in range(20)]
    data = b"".join(encode(m) for m in messages)
    # Written in odd pieces: a header split in two, bodies split, several frames at once.
    for start in range(0, len(data), 5):
        os.write(w, data[start : start + 5])
    reader = FrameReader(r)
    assert [reader.read() for _ in messages] == messages


def test_reader_reads_a_frame_larger_than_its_chunk(pipe: tuple[int, int]) -> None:
    r, w = pipe
    big = {"body": "y" * (FrameReader.CHUNK * 3 + 11)}
    data = encode(big)
    reader = FrameReader(r)

    def write() -> None:  # more than the pipe's buffer: the writer waits for the reader
        view = memoryview(data)
        while view:
            view = view[os.write(w, view) :]

    writer = threading.Thread(target=write)
    writer.start()
    assert reader.read() == big
    writer.join()


def test_reader_refuses_a_closed_pipe_an_oversize_header_and_bad_json(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    os.write(w, encode({"ok": 1})[:6])  # a frame cut short
    os.close(w)
    with pytest.raises(FrameError, match=r"^pipe closed$"):
        FrameReader(r).read()
    r2, w2 = os.pipe()
    try:
        os.write(w2, (MAX_FRAME + 1).to_bytes(4, "big"))
        with pytest.raises(FrameError, match="over the"):
            FrameReader(r2).read()
        os.write(w2, (3).to_bytes(4, "big") + b"{x}")
        with pytest.raises(FrameError, match="not JSON"):
            FrameReader(r2).read()
    finally:
        os.close(r2)
        os.close(w2)


def test_write_frames_sends_every_frame_in_order(pipe: tuple[int, int]) -> None:
    r, w = pipe
    write_frames(w, {"index": 0, "result": 1}, {"done": True})
    assert read_frame(r) == {"index": 0, "result": 1}
    assert read_frame(r) == {"done": True}


def test_write_frames_writes_nothing_when_one_frame_cannot_be_encoded(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    with pytest.raises(ValueError):
        write_frames(w, {"index": 0}, {"bad": float("nan")})
    os.set_blocking(r, False)
    with pytest.raises(BlockingIOError):
        os.read(r, 10)


def test_a_frame_is_its_length_then_compact_json() -> None:
    assert encode({"a": [1, 2], "b": "é"}) == b"\x00\x00\x00\x18" + b'{"a":[1,2],"b":"\\u00e9"}'


def test_a_frame_of_exactly_the_limit_is_sent_and_one_byte_more_is_refused() -> None:
    text = "x" * (MAX_FRAME - 2)  # its JSON is MAX_FRAME bytes: the two quotes
    assert len(encode(text)) == 4 + MAX_FRAME
    with pytest.raises(FrameError) as refused:
        encode(text + "x")
    assert str(refused.value) == f"frame of {MAX_FRAME + 1} bytes over the {MAX_FRAME} limit"


@pytest.mark.parametrize("reader", ["read_frame", "FrameReader"])
def test_a_header_of_exactly_the_limit_is_accepted_and_one_more_refused(
    pipe: tuple[int, int], reader: str
) -> None:
    """Exactly ``MAX_FRAME``: the reader waits for the body (here the pipe closes
    first); one byte more: refused from the header alone, with its size."""

    def read(fd: int) -> object:
        return read_frame(fd) if reader == "read_frame" else FrameReader(fd).read()

    r, w = pipe
    os.write(w, MAX_FRAME.to_bytes(4, "big") + b'"partial')
    os.close(w)
    with pytest.raises(FrameError, match=r"^pipe closed$"):
        read(r)
    r2, w2 = os.pipe()
    try:
        os.write(w2, (MAX_FRAME + 1).to_bytes(4, "big"))
        with pytest.raises(FrameError) as refused:
            read(r2)
        assert str(refused.value) == f"frame of {MAX_FRAME + 1} bytes over the {MAX_FRAME} limit"
    finally:
        os.close(r2)
        os.close(w2)


def test_read_frame_reads_a_frame_of_several_reads_and_write_frame_sends_one(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    big = {"body": "z" * (3 << 20)}  # over read_frame's 1 MiB per read, and the pipe's buffer

    def send() -> None:
        try:
            write_frame(w, big)
        except BaseException:
            os.close(w)  # the reader then fails ("pipe closed") instead of waiting for ever
            raise

    writer = threading.Thread(target=send)
    writer.start()
    assert read_frame(r) == big
    writer.join()
    write_frame(w, {"done": True})
    assert read_frame(r) == {"done": True}


ADDRESSES = [
    "127.0.0.1",
    "10.1.2.3",
    "169.254.169.254",
    "100.100.100.200",
    "8.8.8.8",
    "::1",
    "fd00:ec2::254",
    "::ffff:127.0.0.1",
    "2002:7f00:1::",
    "64:ff9b::a9fe:a9fe",
    "fe80::1%2",
    "fe80::1",
    "192.168.0.10",
    "0.0.0.0",
]


@pytest.mark.parametrize(
    "allow",
    [(), ("127.0.0.1",), ("10.0.0.0/8", "localhost"), ("169.254.169.254",), ("::1", "fe80::/10")],
)
def test_remembered_verdicts_are_the_rules_answers(allow: tuple[str, ...]) -> None:
    policy = NetworkPolicy(allow)
    for host in ("localhost", "example.com", "127.0.0.1"):
        for text in ADDRESSES:
            ip = ipaddress.ip_address(text)
            fresh = NetworkPolicy(allow)._verdict(host, ip)
            assert policy.permits(host, ip) == fresh, (host, text)
            assert policy.permits(host, ip) == fresh, (host, text)  # from the cache
