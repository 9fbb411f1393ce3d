"""Tests of exolab.kernels.common.console: per-writer line buffering and the sink."""
from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exolab.errors import SyscallError
from exolab.kernels.common.console import LINE_OVERHEAD, MAX_BYTES, MAX_LINE, MAX_WRITER, Console

CHUNKS = st.lists(st.tuples(st.integers(0, 3), st.binary(max_size=12).map(
    lambda b: b.replace(b"\x00", b"\n"))), max_size=30)


def _expected(chunks: list[tuple[int, bytes]]) -> Counter[str]:
    """Each writer's bytes, split at newlines, its tail a line of its own."""
    data: dict[int, bytes] = {}
    for w, b in chunks:
        data[w] = data.get(w, b"") + b
    lines: Counter[str] = Counter()
    for b in data.values():
        *done, tail = b.split(b"\n")
        lines.update(x.decode(errors="replace") for x in done)
        if tail:
            lines[tail.decode(errors="replace")] += 1
    return lines


@given(CHUNKS)
def test_writers_never_mix_and_every_byte_comes_out_once(chunks: list[tuple[int, bytes]]) -> None:
    c = Console()
    for w, b in chunks:
        c.write(w, b)
    for w in range(4):
        c.flush(w)
    assert Counter(c) == _expected(chunks)


@given(CHUNKS)
def test_the_sink_sees_each_line_as_it_completes_in_order(chunks: list[tuple[int, bytes]]) -> None:
    seen: list[str] = []
    c = Console(sink=seen.append)
    for w, b in chunks:
        c.write(w, b)
        assert seen == list(c)                 # no line waits for the end of the run
    c.flush(0)
    assert seen == list(c)


def test_a_line_completes_at_its_newline_and_a_tail_at_flush() -> None:
    c = Console()
    c.write(1, b"hel")
    c.write(2, b"other\npart")
    c.write(1, b"lo\nwor")
    assert c == ["other", "hello"]
    c.flush(1)
    c.flush(1)                                   # flushing twice emits nothing more
    assert c == ["other", "hello", "wor"]
    c.flush(2)
    assert c == ["other", "hello", "wor", "part"]


def test_an_endless_line_is_cut_so_memory_stays_bounded() -> None:
    c = Console()
    for _ in range(5):
        c.write(7, b"x" * (MAX_LINE // 2 + 1))
    assert [len(x) for x in c] == [MAX_LINE, MAX_LINE]
    c.flush(7)
    assert sum(len(x) for x in c) == 5 * (MAX_LINE // 2 + 1)


def test_a_sink_that_raises_is_dropped_and_the_lines_are_kept() -> None:
    calls: list[str] = []

    def broken(line: str) -> None:
        calls.append(line)
        raise BrokenPipeError("reader went away")
    c = Console(sink=broken)
    c.write(1, b"a\nb\n")
    assert c == ["a", "b"] and calls == ["a"]
    assert c.sink is None and isinstance(c.sink_error, BrokenPipeError)


def test_undecodable_bytes_are_replaced_not_raised() -> None:
    c = Console()
    c.write(1, b"\xff\xfe\n")
    assert c == ["\ufffd\ufffd"]


def test_a_writer_past_its_quota_is_refused_whole_and_the_console_is_unchanged() -> None:
    c = Console()
    c.write(2, b"bystander\n")
    chunk = b"y" * 1000 + b"\n"
    written = 0
    with pytest.raises(SyscallError) as ei:
        while True:
            c.write(1, chunk)
            written += len(chunk)
    assert ei.value.errno == "EFBIG" and c.refused == 1
    assert written <= MAX_WRITER < written + len(chunk)
    kept = list(c)
    with pytest.raises(SyscallError):
        c.write(1, chunk)
    assert list(c) == kept and c.refused == 2 and c[0] == "bystander"
    c.write(2, b"still writes\n")                  # another writer's quota is its own
    c.flush(1)                                     # the writer ended: its count goes
    c.write(1, b"a new life\n")
    assert c[-2:] == ["still writes", "a new life"]


def test_the_console_holds_at_most_max_bytes_however_many_writers() -> None:
    c = Console()
    line = b"w" * (MAX_WRITER // 2 - LINE_OVERHEAD - 1) + b"\n"
    writer = 0
    with pytest.raises(SyscallError) as ei:
        while True:
            c.write(writer, line)
            c.flush(writer)                        # each writer ends: a spawn loop
            writer += 1
    assert ei.value.errno == "ENOSPC"
    assert c.held <= MAX_BYTES
    assert sum(len(x) + LINE_OVERHEAD for x in c) <= MAX_BYTES
    assert MAX_BYTES - c.held < len(line) + 16 * LINE_OVERHEAD     # refused when full


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3000), st.integers(0, 3)),
                max_size=40))
def test_quotas_never_pass_and_a_refused_write_keeps_nothing(
        writes: list[tuple[int, int, int]]) -> None:
    import exolab.kernels.common.console as console
    small = Console()
    old = console.MAX_WRITER, console.MAX_BYTES
    console.MAX_WRITER, console.MAX_BYTES = 5000, 9000
    try:
        for w, n, newlines in writes:
            before = (list(small), dict(small._partial), small.held)
            data = b"q" * n + b"\n" * newlines
            try:
                small.write(w, data)
            except SyscallError as ex:
                assert ex.errno in ("EFBIG", "ENOSPC")
                assert (list(small), dict(small._partial), small.held) == before
        assert small.held <= 9000
        assert all(v <= 5000 for v in small._written.values())
    finally:
        console.MAX_WRITER, console.MAX_BYTES = old
