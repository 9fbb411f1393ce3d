"""The allocator against a model: bitmaps, group and superblock counts stay exact."""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import DiskImageError, SyscallError
from exolab.services.ext2.layout import Superblock, SB_OFFSET, SB_SIZE

from .helpers import fresh


class AllocModel(RuleBasedStateMachine):
    """Blocks and inodes handed out by the allocator of a 3-group file system."""

    def __init__(self) -> None:
        super().__init__()
        self.fs, _ = fresh(1024, kib=20000, inodes=48)
        self.a = self.fs.alloc
        self.free_b0, self.free_i0 = self.fs.sb.free_blocks, self.fs.sb.free_inodes
        self.blocks: set[int] = set()
        self.inodes: dict[int, bool] = {}

    @rule(goal=st.integers(0, 20000))
    def alloc_block(self, goal):
        n = self.a.alloc_block(goal)
        assert n not in self.blocks and not 0 <= n < 1 + 2 + 2   # never metadata
        self.blocks.add(n)

    @precondition(lambda self: self.blocks)
    @rule(i=st.integers(0, 10 ** 6))
    def free_block(self, i):
        n = sorted(self.blocks)[i % len(self.blocks)]
        self.a.free_block(n)
        self.blocks.discard(n)
        with pytest.raises(DiskImageError):
            self.a.free_block(n)                # a double free is corruption, typed

    @rule(parent=st.integers(1, 48), is_dir=st.booleans())
    def alloc_inode(self, parent, is_dir):
        try:
            ino = self.a.alloc_inode(parent, is_dir)
        except SyscallError as ex:
            assert ex.errno == "ENOSPC" and self.fs.sb.free_inodes == 0
            return
        assert ino >= self.fs.sb.first_ino and ino not in self.inodes
        self.inodes[ino] = is_dir

    @precondition(lambda self: self.inodes)
    @rule(i=st.integers(0, 10 ** 6))
    def free_inode(self, i):
        ino = sorted(self.inodes)[i % len(self.inodes)]
        self.a.free_inode(ino, self.inodes.pop(ino))

    @invariant()
    def counts_match(self):
        sb, gs = self.fs.sb, self.fs.groups
        assert sb.free_blocks == self.free_b0 - len(self.blocks)
        assert sb.free_inodes == self.free_i0 - len(self.inodes)
        assert sum(g.free_blocks for g in gs) == sb.free_blocks
        assert sum(g.free_inodes for g in gs) == sb.free_inodes
        assert sum(g.used_dirs for g in gs) == 2 + sum(self.inodes.values())
        for n in list(self.blocks)[:20]:
            assert self.a.block_in_use(n)
        for ino in list(self.inodes)[:20]:
            assert self.a.inode_in_use(ino)
        self.fs._commit()


TestAlloc = AllocModel.TestCase
TestAlloc.settings = settings(max_examples=25, stateful_step_count=40, deadline=None)


def test_superblock_round_trips_every_byte():
    fs, dev = fresh(1024)
    raw = bytes(dev.data[SB_OFFSET:SB_OFFSET + SB_SIZE])
    assert Superblock.decode(raw).encode() == raw


def test_blocks_run_out_with_enospc():
    fs, _ = fresh(1024, kib=128, inodes=16)
    got = set()
    with pytest.raises(SyscallError) as ei:
        while True:
            got.add(fs.alloc.alloc_block(0))
    assert ei.value.errno == "ENOSPC" and fs.sb.free_blocks == 0
    assert len(got) == len(set(got))
