"""The buffer cache against a model (a hypothesis state machine): reads return the
last bytes written; a sync makes the disk image equal the model; eviction under a
tiny capacity never loses a dirty block; counters stay consistent."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.kernels.monolithic.bcache import BufferCache
from exolab.machine.machine import Machine
from exolab.services.ext2.buffers import BITMAP, DATA, DIRB, ITABLE, PTR

BS, BLOCKS = 1024, 64
BLOCK = st.integers(0, BLOCKS - 1)


class CacheModel(RuleBasedStateMachine):
    """Random reads, ranked writes and syncs against a dict of what each block holds."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "d.img"
        self.m = Machine("dec5000", seed=0)
        self.disk = self.m.attach_disk(str(self.path), block_size=BS, blocks=BLOCKS,
                                       create=True)
        spent: list[int] = []
        self.cache = BufferCache(self.disk, self.m.memory, self.m.clock, 63 << 12, 8,
                                 spent.append, 60)
        self.model = {n: bytes(BS) for n in range(BLOCKS)}

    @rule(n=BLOCK)
    def read(self, n: int) -> None:
        assert self.cache.read_block(n) == self.model[n]

    @rule(n=BLOCK, fill=st.integers(0, 255),
          rank=st.sampled_from([DATA, DIRB, PTR, ITABLE, BITMAP]))
    def write(self, n: int, fill: int, rank: int) -> None:
        data = bytes([fill]) * BS
        self.cache.write_ranked(n, data, rank)
        self.model[n] = data

    @rule()
    def sync(self) -> None:
        self.cache.sync()
        assert self.cache.dirty_count() == 0
        for n in range(BLOCKS):                     # durable: on the image itself
            assert self.disk.image_block(n) == self.model[n]

    @invariant()
    def counts_are_consistent(self) -> None:
        """The cache never holds more than its capacity; its dirty count is its own."""
        st_ = self.cache.statistics()
        assert st_.cached <= 8 and st_.dirty == self.cache.dirty_count()
        assert st_.disk_reads >= st_.misses          # (+ disk copies for the planner)

    def teardown(self) -> None:
        self.cache.sync()
        for n in range(BLOCKS):
            assert self.disk.peek(n) == self.model[n]
        self.disk.close()
        self.m.close()
        self.dir.cleanup()


TestCacheModel = CacheModel.TestCase
TestCacheModel.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)


def test_a_read_miss_of_every_block_is_one_disk_read_each() -> None:
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        m = Machine("dec5000")
        disk = m.attach_disk(str(Path(d) / "x.img"), block_size=BS, blocks=BLOCKS,
                             create=True)
        spent: list[Any] = []
        c = BufferCache(disk, m.memory, m.clock, 63 << 12, 128, spent.append, 60)
        t0 = m.clock.now
        for n in range(BLOCKS):
            c.read_block(n)
        for n in range(BLOCKS):
            c.read_block(n)
        s = c.statistics()
        assert (s.misses, s.hits, s.disk_reads) == (BLOCKS, BLOCKS, BLOCKS)
        assert m.clock.now > t0 and sum(spent) == 2 * BLOCKS * 60
        disk.close()
        m.close()
