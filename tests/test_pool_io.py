"""The pool's wire (compat._pool.frames, compat._pool.worker). The frame reader:
whatever way the bytes arrive (one byte at a time, many frames per read, a frame
larger than a read), the frames come out whole, in order, and end of file is reported
once the writer is gone; plain results are encoded as the general path encodes them.
No process is started."""

from __future__ import annotations

import os
import random
import threading

import pytest

from compat._pool.frames import StreamReader
from compat._stdlib import CONNECTION_HEADER
from compat._stdlib_child import PLAIN_TYPES
from tests.procs import posix_only

SIZES = [0, 1, 5, 4095, 65535, 65536, 65537, 300_000, 3 << 20]


def _frames(rng: random.Random) -> list[bytes]:
    return [rng.randbytes(n) for n in SIZES + [rng.randrange(200) for _ in range(200)]]


@posix_only("reads a pipe with os.read, as the POSIX pool does")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("pieces", ["whole", "random", "bytewise-head"])
def test_frames_come_out_whole_and_in_order(pieces: str) -> None:
    rng = random.Random(pieces)
    frames = _frames(rng)
    rng.shuffle(frames)
    stream = b"".join(CONNECTION_HEADER.pack(len(f)) + f for f in frames)
    reader_fd, writer_fd = os.pipe()

    def write() -> None:
        try:
            pos = 0
            while pos < len(stream):
                if pieces == "whole":
                    n = len(stream)
                elif pieces == "random":
                    n = rng.choice([1, 3, 7, 100, 4096, 70_000, 1 << 20])
                else:  # the first 64 KiB one byte at a time: headers split across reads
                    n = 1 if pos < 65536 else 1 << 20
                pos += os.write(writer_fd, stream[pos : pos + n])
        finally:
            os.close(writer_fd)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    got: list[bytes] = []
    reader = StreamReader(reader_fd)
    try:
        while reader.read(got):
            pass
    finally:
        os.close(reader_fd)
        writer.join(30)
    assert not writer.is_alive()
    assert len(got) == len(frames)
    assert got == frames
    assert reader.buf == bytearray()


@posix_only("reads a socket with os.read, as a POSIX pool worker does")
@pytest.mark.timeout(60)
def test_a_workers_reader_gets_what_send_bytes_sent_then_eof() -> None:
    # What a worker reads its batches with (frames.frame_reader) against what the
    # standard library writes: every message whole and in order, several read ahead
    # in one call, then EOFError once the parent's end is closed.
    import multiprocessing

    from compat._pool.frames import frame_reader, frame_writer

    parent, child = multiprocessing.Pipe(duplex=True)
    frames = _frames(random.Random("worker"))

    def write() -> None:
        try:
            for i, f in enumerate(frames):
                (parent.send_bytes if i % 2 else frame_writer(parent))(f)
        finally:
            parent.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    recv = frame_reader(child)
    try:
        got = [recv() for _ in frames]
        with pytest.raises(EOFError):
            recv()
    finally:
        child.close()
        writer.join(30)
    assert not writer.is_alive()
    assert got == frames


@pytest.mark.parametrize(
    "value", [0, -1, 2**100, 1.5, float("nan"), "", "caf\u00e9 \udc80", b"\x00" * 5000, True, None]
)
def test_a_plain_result_is_encoded_as_the_reusable_pickler_encodes_it(value: object) -> None:
    # Workers pickle plain results with the C pickler alone (no reducers apply to
    # them): the bytes must be what the general path, with the reducers, writes.
    from compat._pool import worker

    seq, seconds = 7, 0.25
    expected = worker.dumps(value, worker.HEADER.pack(worker.RESULT, seq, seconds))
    assert worker._encode_result(seq, value, "pool", seconds) == expected
    assert type(value) in PLAIN_TYPES


@pytest.mark.timeout(60)
def test_the_one_frame_writer_is_read_by_the_standard_librarys_recv_bytes() -> None:
    # compat._native.handoff.write_frame writes children's outcomes, pools' batches
    # and results, and forwarded log records: each must be what Connection.recv_bytes
    # reads, on both sides of the size where the header stops being joined to it.
    import multiprocessing

    from compat._native.handoff import _JOIN_MAX, write_frame

    sizes = [0, 1, _JOIN_MAX - 1, _JOIN_MAX, _JOIN_MAX + 1, 0xFFFF, 0x10000, 3 << 20]
    frames = [random.Random(n).randbytes(n) for n in sizes]
    reader, writer_conn = multiprocessing.Pipe(duplex=False)

    def write() -> None:
        try:
            for f in frames:
                write_frame(writer_conn.fileno(), f)
        finally:
            writer_conn.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        got = [reader.recv_bytes() for _ in frames]
        with pytest.raises(EOFError):
            reader.recv_bytes()
    finally:
        reader.close()
        writer.join(30)
    assert not writer.is_alive()
    assert [len(g) for g in got] == sizes
    assert got == frames
