"""Tests of exolab.kernels.monolithic.pipe: ordering, blocking, EOF, EPIPE, EBADF."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.abi import ABI
from exolab.errors import SyscallError
from exolab.kernels.monolithic.pipe import MAX_FDS, PIPE_SIZE

from ._support import errno, run


def _drain(os: ABI, rfd: int, chunk: int) -> bytes:
    """Read ``rfd`` in reads of at most ``chunk`` bytes until end of file."""
    out = b""
    while True:
        data = os.read(rfd, chunk)
        if not data:
            return out
        assert len(data) <= chunk
        out += data


def test_bytes_arrive_in_write_order_across_processes() -> None:
    got: list[bytes] = []

    def reader(os: ABI, rfd: int, wfd: int) -> None:
        os.close(wfd)                           # else our own copy keeps the pipe open
        got.append(_drain(os, rfd, 3))

    def main(os: ABI) -> None:
        rfd, wfd = os.pipe()
        pid = os.fork(reader, rfd, wfd)
        for word in (b"alpha", b"-", b"beta", b"-gamma"):
            assert os.write(wfd, word) == len(word)
        os.close(wfd)
        assert os.wait(pid) == (pid, 0)

    run(main)
    assert got == [b"alpha-beta-gamma"]


@settings(max_examples=25, deadline=None)
@given(writes=st.lists(st.binary(min_size=1, max_size=6000), min_size=1, max_size=6),
       chunk=st.integers(1, 5000))
def test_any_write_and_read_sizes_preserve_the_byte_stream(writes: list[bytes],
                                                           chunk: int) -> None:
    got: list[bytes] = []

    def reader(os: ABI, rfd: int, wfd: int) -> None:
        os.close(wfd)
        got.append(_drain(os, rfd, chunk))

    def main(os: ABI) -> None:
        rfd, wfd = os.pipe()
        pid = os.fork(reader, rfd, wfd)
        os.close(rfd)
        for w in writes:
            assert os.write(wfd, w) == len(w)
        os.close(wfd)
        os.wait(pid)

    r = run(main)
    assert got == [b"".join(writes)]
    assert r.kernel.statistics().frames_in_use == 0        # the pipe's frame went back


def test_a_reader_sleeps_until_a_writer_writes() -> None:
    times: dict[str, int] = {}

    def reader(os: ABI, rfd: int) -> None:
        times["read_called"] = os.time()
        assert os.read(rfd, 10) == b"ping"
        times["read_returned"] = os.time()

    def main(os: ABI) -> None:
        rfd, wfd = os.pipe()
        pid = os.fork(reader, rfd)
        os.yield_()                             # the reader runs, finds nothing, sleeps
        os.compute(50_000)
        times["write"] = os.time()
        os.write(wfd, b"ping")
        os.wait(pid)

    r = run(main)
    assert times["read_called"] < times["write"] < times["read_returned"]
    assert times["write"] - times["read_called"] >= 50_000
    sched = r.kernel.statistics().sched
    assert sched.sleeps >= 2 and sched.wakeups >= 2     # the reader, then the waiter


def test_a_writer_sleeps_while_the_pipe_is_full_and_wakes_when_read() -> None:
    times: dict[str, int] = {}

    def writer(os: ABI, wfd: int) -> None:
        assert os.write(wfd, b"x" * PIPE_SIZE) == PIPE_SIZE    # fills it, no sleep
        times["full"] = os.time()
        assert os.write(wfd, b"y") == 1                         # must wait for room
        times["second_write_done"] = os.time()

    def main(os: ABI) -> None:
        rfd, wfd = os.pipe()
        pid = os.fork(writer, wfd)
        os.yield_()                         # the writer fills the pipe and sleeps
        os.compute(30_000)
        times["read"] = os.time()
        assert os.read(rfd, 100) == b"x" * 100
        os.wait(pid)
        assert os.read(rfd, 2 * PIPE_SIZE) == b"x" * (PIPE_SIZE - 100) + b"y"

    run(main)
    assert times["full"] < times["read"] < times["second_write_done"]


def test_a_write_larger_than_the_buffer_is_delivered_whole_through_several_reads() -> None:
    data = bytes(range(256)) * 50                            # 12,800 bytes > 4096
    reads: list[int] = []
    got: list[bytes] = []

    def reader(os: ABI, rfd: int, wfd: int) -> None:
        os.close(wfd)
        out = b""
        while chunk := os.read(rfd, 1 << 20):
            reads.append(len(chunk))
            out += chunk
        got.append(out)

    def main(os: ABI) -> int:
        rfd, wfd = os.pipe()
        pid = os.fork(reader, rfd, wfd)
        n = os.write(wfd, data)
        os.close(wfd)
        os.wait(pid)
        return n

    r = run(main)
    assert got == [data]
    assert len(reads) >= 4 and max(reads) <= PIPE_SIZE        # never more than the ring
    assert r.kernel.faults == []


def test_end_of_file_only_after_the_last_writer_closes() -> None:
    events: list[str] = []

    def second_writer(os: ABI, wfd: int) -> None:
        os.compute(40_000)
        os.write(wfd, b"late")
        events.append("child exits")            # exit closes its write end

    def main(os: ABI) -> None:
        rfd, wfd = os.pipe()
        pid = os.fork(second_writer, wfd)       # the child shares the write end
        os.write(wfd, b"early")
        os.close(wfd)                           # one writer is left: no EOF yet
        assert os.read(rfd, 100) == b"early"
        assert os.read(rfd, 100) == b"late"     # slept until the child wrote
        assert os.read(rfd, 100) == b""         # the child has gone: EOF
        events.append("eof")
        assert os.read(rfd, 100) == b""         # and EOF stays
        os.wait(pid)

    run(main)
    assert events == ["child exits", "eof"]


def test_reading_zero_bytes_and_reading_a_pipe_without_writers_never_block() -> None:
    def main(os: ABI) -> None:
        rfd, wfd = os.pipe()
        assert os.read(rfd, 0) == b""           # empty, writer open, n == 0
        os.close(wfd)
        assert os.read(rfd, 10) == b""          # empty, no writer: EOF at once

    r = run(main)
    assert r.kernel.statistics().sched.sleeps == 0


def test_writing_with_no_reader_left_is_epipe() -> None:
    seen: list[str] = []

    def main(os: ABI) -> None:
        rfd, wfd = os.pipe()
        os.close(rfd)
        seen.append(errno(os.write, wfd, b"hello"))
        seen.append(errno(os.write, wfd, b"x" * 10_000))
        os.print("still running")

    r = run(main)
    assert seen == ["EPIPE", "EPIPE"]
    assert r.console == ["still running"] and r.faults == []


def test_a_writer_asleep_on_a_full_pipe_gets_epipe_when_the_last_reader_exits() -> None:
    seen: list[Any] = []

    def reader(os: ABI, rfd: int, wfd: int) -> None:
        os.close(wfd)
        os.read(rfd, 10)                        # takes 10 bytes, then exits

    def main(os: ABI) -> None:
        rfd, wfd = os.pipe()
        pid = os.fork(reader, rfd, wfd)
        os.close(rfd)                           # the child holds the only read end
        try:
            os.write(wfd, b"z" * (3 * PIPE_SIZE))
        except SyscallError as ex:
            seen.append(ex.errno)
        seen.append(os.wait(pid))

    run(main)
    assert seen[0] == "EPIPE"
    assert seen[1][1] == 0


def test_bad_and_closed_descriptors_are_ebadf() -> None:
    seen: dict[str, str] = {}

    def main(os: ABI) -> None:
        rfd, wfd = os.pipe()
        seen["read unopened"] = errno(os.read, 42, 1)
        seen["write unopened"] = errno(os.write, 42, b"x")
        seen["close unopened"] = errno(os.close, 42)
        seen["read a write end"] = errno(os.read, wfd, 1)
        seen["write a read end"] = errno(os.write, rfd, b"x")
        seen["negative"] = errno(os.read, -1, 1)
        seen["not a number"] = errno(os.write, "1", b"x")
        os.close(rfd)
        seen["read closed"] = errno(os.read, rfd, 1)
        seen["close twice"] = errno(os.close, rfd)
        os.close(wfd)
        seen["write closed"] = errno(os.write, wfd, b"x")
        seen["bad length"] = errno(os.read, 0, -1)

    r = run(main)
    assert set(seen.values()) == {"EBADF", "EINVAL"}
    assert [k for k, v in seen.items() if v != "EBADF"] == ["bad length"]
    assert r.faults == []


def test_descriptor_numbers_are_the_lowest_free_and_the_table_is_bounded() -> None:
    seen: list[Any] = []

    def main(os: ABI) -> None:
        r0, w0 = os.pipe()
        seen.append((r0, w0))                   # 0-2 are the console
        os.close(r0)
        seen.append(os.pipe())                  # reuses 3, then takes 5
        n = 0
        try:
            while True:
                os.pipe()
                n += 1
        except SyscallError as ex:
            seen.append((n, ex.errno))

    r = run(main)
    assert seen[0] == (3, 4) and seen[1] == (3, 5)
    opened = 6 + 2 * seen[2][0]
    assert seen[2][1] == "EMFILE" and MAX_FDS - 1 <= opened <= MAX_FDS
    assert r.kernel.statistics().frames_in_use == 0        # exit closed every pipe


def test_console_output_is_line_buffered_per_process_and_flushed_at_exit() -> None:
    def child(os: ABI) -> None:
        os.write(1, b"child-a ")
        os.write(2, b"child-b\nno newline")

    def main(os: ABI) -> None:
        os.write(1, b"parent ")
        os.wait(os.spawn(child))
        os.write(1, b"done\n")

    r = run(main)
    assert r.console == ["child-a child-b", "no newline", "parent done"]
