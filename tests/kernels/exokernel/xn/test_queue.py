"""XN's disk queue (xn/queue.py): writes queued, a flush when the drive's cache fills."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings, strategies as st

from exolab.kernels.exokernel.xn.queue import QueuedDisk
from exolab.machine import Machine

BS, BLOCKS, FRAME = 4096, 256, 8 << 12


def _drive(tmp: Path, cache: int = 4) -> tuple[Machine, object, QueuedDisk]:
    m = Machine("dec5000")
    d = m.attach_disk(str(tmp / "q.img"), block_size=BS, blocks=BLOCKS, create=True,
                      cache_blocks=cache)
    return m, d, QueuedDisk(d, m.memory, FRAME, m.clock)


def test_a_write_does_not_wait_and_a_flush_makes_it_durable(tmp_path: Path) -> None:
    m, d, q = _drive(tmp_path)
    t0 = m.clock.now
    q.write_block(7, b"x" * BS)
    assert m.clock.now == t0 and d.pending() == 1 and q.queued == 1
    q.flush()
    assert d.pending() == 0 and q.queued == 0 and d.statistics().flushes == 1
    assert q.read_block(7) == b"x" * BS


def test_a_full_drive_cache_gets_a_flush_queued_behind_it(tmp_path: Path) -> None:
    m, d, q = _drive(tmp_path, cache=4)
    for b in range(10):
        q.write_block(b, bytes([b]) * BS)
    assert q.queued == 2            # two flushes queued (after 4 and 8), two left over
    q.flush()
    s = d.statistics()
    assert s.writes == 10 and s.flushes == 3 and s.destages == 0 and s.dirty_cached == 0
    for b in range(10):
        assert q.read_block(b) == bytes([b]) * BS


def test_writes_lost_before_the_flush_are_only_the_unflushed_ones(tmp_path: Path) -> None:
    m, d, q = _drive(tmp_path)
    q.write_block(1, b"a" * BS)
    q.flush()
    q.write_block(1, b"b" * BS)
    d.power_cut("drop")             # the second write never reached the platter
    m2 = Machine("dec5000")
    d.close()
    d2 = m2.attach_disk(str(tmp_path / "q.img"), block_size=BS, blocks=BLOCKS)
    assert QueuedDisk(d2, m2.memory, FRAME, m2.clock).read_block(1) == b"a" * BS


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.integers(0, BLOCKS - 1), st.integers(0, 255)), max_size=40),
       st.integers(0, 8))
def test_what_was_queued_then_flushed_reads_back(tmp_path_factory: object, ops: list[tuple[int, int]],
                                                 cache: int) -> None:
    tmp = tmp_path_factory.mktemp("q")  # type: ignore[attr-defined]
    m, d, q = _drive(tmp, cache)
    want: dict[int, bytes] = {}
    for b, v in ops:
        q.write_block(b, bytes([v]) * BS)
        want[b] = bytes([v]) * BS
    q.flush()
    assert d.pending() == 0 and d.statistics().dirty_cached == 0
    for b, data in want.items():
        assert q.read_block(b) == data
