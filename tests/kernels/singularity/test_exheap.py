"""The exchange heap: blocks in physical frames, one owner each, quotas, reclaim at exit."""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import ProgramFault, SyscallError
from exolab.kernels.singularity.exheap import Block
from tests.kernels.singularity.heaps import FIRST, make_heap

OWNERS = st.integers(1, 4)
PAGE = 4096


def _pages(n: int) -> int:
    return max(1, -(-n // PAGE))


def test_transfer_moves_ownership_and_kills_the_old_handle() -> None:
    h, _pool, _mem = make_heap()
    b = h.alloc(1, b"abc")
    nb = h.transfer(1, b, 2)
    assert h.read(2, nb) == b"abc"
    for use in (lambda: h.read(1, b), lambda: h.read(2, b), lambda: h.free(1, b),
                lambda: h.transfer(1, b, 3)):
        with pytest.raises(ProgramFault):
            use()
    assert h.owned_by(1) == 0 and h.owned_by(2) == 1
    assert (h.pages_of(1), h.pages_of(2)) == (0, 1)


def test_forged_and_foreign_handles_are_faults() -> None:
    h, _pool, _mem = make_heap()
    b = h.alloc(1, b"x")
    for owner, handle in ((2, b), (1, Block(99, 0)), (1, "block"), (1, Block(1, 0))):
        with pytest.raises(ProgramFault):
            h.read(owner, handle)
    assert h.statistics().dead_uses == 4


def test_the_bytes_live_in_physical_frames_and_are_zeroed_on_return() -> None:
    h, pool, mem = make_heap()
    data = bytes(range(256)) * 20                   # 5,120 bytes: two pages
    b = h.alloc(1, data)
    at = h.address(1, b)
    assert at >= FIRST * PAGE and h.holds(at) and h.holds(at + PAGE - 1)
    assert mem.read(at, PAGE) == data[:PAGE]        # the machine's memory holds them
    assert h.read(1, b) == data and h.statistics().pages_live == 2
    left = pool.left()
    frames = list(h._blocks[1].frames)              # (the kernel's record)
    h.free(1, b)
    assert pool.left() == left + 2 and not h.holds(at)
    for f in frames:                                # no later owner sees them
        assert mem.read(f * PAGE, PAGE) == bytes(PAGE)


def test_a_shorter_rewrite_zeroes_the_tail_it_leaves() -> None:
    h, _pool, mem = make_heap()
    b = h.alloc(1, b"\xff" * (PAGE + 100))
    frames = list(h._blocks[1].frames)
    h.write(1, b, b"ab")
    assert h.read(1, b) == b"ab"
    assert mem.read(frames[0] * PAGE, PAGE) == b"ab" + bytes(PAGE - 2)
    assert mem.read(frames[1] * PAGE, PAGE) == bytes(PAGE)


def test_quota_and_heap_limits_are_enomem_and_reclaim_frees_everything() -> None:
    h, pool, _mem = make_heap(max_pages=6, quota=3)
    h.alloc(1, bytes(2 * PAGE))
    with pytest.raises(SyscallError) as e:
        h.alloc(1, bytes(PAGE + 1))                 # 2 more pages: over its quota of 3
    assert e.value.errno == "ENOMEM" and h.statistics().over_quota == 1
    h.alloc(1, b"1")                                # its third page
    h.set_quota(2, 10)
    h.alloc(2, bytes(3 * PAGE))                     # the heap's sixth page
    with pytest.raises(SyscallError):
        h.alloc(2, b"")                             # the heap is full
    free_before = pool.left()
    assert h.reclaim(1) == 2
    st_ = h.statistics()
    assert (st_.blocks_live, st_.pages_live, st_.reclaimed) == (1, 3, 2)
    assert pool.left() == free_before + 3 and h.pages_of(1) == 0


def test_write_grows_and_shrinks_by_pages_within_the_quota() -> None:
    h, pool, _mem = make_heap(quota=2)
    b = h.alloc(1, b"a")
    h.write(1, b, bytes(2 * PAGE))
    assert h.pages_of(1) == 2 and h.size(1, b) == 2 * PAGE
    with pytest.raises(SyscallError):
        h.write(1, b, bytes(2 * PAGE + 1))
    assert h.read(1, b) == bytes(2 * PAGE)          # a refused write changes nothing
    left = pool.left()
    h.write(1, b, b"xy")
    assert h.read(1, b) == b"xy" and h.pages_of(1) == 1 and pool.left() == left + 1


class _Pager:
    """Records what the heap asks of the MMU."""

    def __init__(self) -> None:
        self.mapped: set[int] = set()
        self.touched: list[int] = []

    def map(self, frames: list[int]) -> None:
        assert not self.mapped & set(frames)
        self.mapped |= set(frames)

    def unmap(self, frames: list[int]) -> None:
        assert set(frames) <= self.mapped
        self.mapped -= set(frames)

    def touch(self, frames: list[int], write: bool) -> None:
        assert set(frames) <= self.mapped
        self.touched += frames


def test_with_paging_every_access_goes_through_the_pager() -> None:
    pager = _Pager()
    h, _pool, _mem = make_heap(pager=pager)
    b = h.alloc(1, bytes(PAGE + 1))
    assert len(pager.mapped) == 2 and h.address(1, b) // PAGE in pager.mapped
    h.read(1, b)
    assert len(pager.touched) == 4                  # written at alloc, read: 2 pages each
    h.free(1, b)
    assert pager.mapped == set()


class HeapMachine(RuleBasedStateMachine):
    """Random allocs, writes, transfers, frees, stale uses and exits against a model:
    no block has two owners, the page accounts are exact, frames come back."""

    QUOTA, MAX, FRAMES = 6, 16, 40

    def __init__(self) -> None:
        super().__init__()
        self.pager = _Pager()
        self.heap, self.pool, self.mem = make_heap(self.FRAMES, self.MAX, self.QUOTA,
                                                   self.pager)
        self.live: dict[int, tuple[int, Block, bytes]] = {}   # key -> (owner, handle, data)
        self.dead: list[tuple[int, Block]] = []
        self.key = 0

    def _held(self, owner: int | None = None) -> int:
        return sum(_pages(len(d)) for o, _h, d in self.live.values()
                   if owner is None or o == owner)

    @rule(owner=OWNERS, size=st.sampled_from([0, 1, 40, PAGE, PAGE + 1, 3 * PAGE]))
    def alloc(self, owner: int, size: int) -> None:
        data = bytes([owner]) * size
        need = _pages(size)
        if self._held() + need > self.MAX or self._held(owner) + need > self.QUOTA:
            with pytest.raises(SyscallError):
                self.heap.alloc(owner, data)
            return
        self.key += 1
        self.live[self.key] = (owner, self.heap.alloc(owner, data), data)

    @precondition(lambda self: self.live)
    @rule(pick=st.integers(0, 1000), size=st.sampled_from([0, 7, PAGE + 3, 2 * PAGE]))
    def write(self, pick: int, size: int) -> None:
        key = sorted(self.live)[pick % len(self.live)]
        owner, handle, old = self.live[key]
        data = b"w" * size
        grow = _pages(size) - _pages(len(old))
        if grow > 0 and (self._held() + grow > self.MAX or
                         self._held(owner) + grow > self.QUOTA):
            with pytest.raises(SyscallError):
                self.heap.write(owner, handle, data)
            return
        self.heap.write(owner, handle, data)
        self.live[key] = (owner, handle, data)

    @precondition(lambda self: self.live)
    @rule(pick=st.integers(0, 1000), to=OWNERS)
    def transfer(self, pick: int, to: int) -> None:
        key = sorted(self.live)[pick % len(self.live)]
        owner, handle, data = self.live[key]
        self.live[key] = (to, self.heap.transfer(owner, handle, to), data)
        self.dead.append((owner, handle))

    @precondition(lambda self: self.live)
    @rule(pick=st.integers(0, 1000))
    def free(self, pick: int) -> None:
        key = sorted(self.live)[pick % len(self.live)]
        owner, handle, _d = self.live.pop(key)
        self.heap.free(owner, handle)
        self.dead.append((owner, handle))

    @precondition(lambda self: self.dead)
    @rule(pick=st.integers(0, 1000), as_owner=OWNERS)
    def stale_use_faults(self, pick: int, as_owner: int) -> None:
        _owner, handle = self.dead[pick % len(self.dead)]
        with pytest.raises(ProgramFault):
            self.heap.read(as_owner, handle)

    @rule(owner=OWNERS)
    def exit_reclaims(self, owner: int) -> None:
        mine = [k for k, (o, _h, _d) in self.live.items() if o == owner]
        assert self.heap.reclaim(owner) == len(mine)
        for k in mine:
            self.dead.append(self.live.pop(k)[:2])

    @invariant()
    def matches_the_model(self) -> None:
        addresses: set[int] = set()
        for owner, handle, data in self.live.values():
            assert self.heap.read(owner, handle) == data
            for other in range(1, 5):               # exactly one owner reads it
                if other != owner:
                    with pytest.raises(ProgramFault):
                        self.heap.size(other, handle)
            at = self.heap.address(owner, handle)
            assert at not in addresses              # no page is two blocks'
            addresses.add(at)
        stats = self.heap.statistics()
        assert stats.blocks_live == len(self.live)
        assert stats.bytes_live == sum(len(d) for _o, _h, d in self.live.values())
        assert stats.pages_live == self._held() == len(self.pager.mapped)
        assert self.pool.left() == self.FRAMES - FIRST - self._held()   # frames reclaimed
        for o in range(1, 5):
            assert self.heap.owned_by(o) == sum(1 for x in self.live.values() if x[0] == o)
            assert self.heap.pages_of(o) == self._held(o)


TestHeapMachine = HeapMachine.TestCase
TestHeapMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
