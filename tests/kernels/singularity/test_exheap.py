"""The exchange heap: one owner per block, transfers kill the old handle, reclaim at exit."""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import ProgramFault, SyscallError
from exolab.kernels.singularity.exheap import Block, ExchangeHeap

OWNERS = st.integers(1, 4)


def test_transfer_moves_ownership_and_kills_the_old_handle() -> None:
    h = ExchangeHeap(8, 1024)
    b = h.alloc(1, b"abc")
    nb = h.transfer(1, b, 2)
    assert h.read(2, nb) == b"abc"
    for use in (lambda: h.read(1, b), lambda: h.read(2, b), lambda: h.free(1, b),
                lambda: h.transfer(1, b, 3)):
        with pytest.raises(ProgramFault):
            use()
    assert h.owned_by(1) == 0 and h.owned_by(2) == 1


def test_forged_and_foreign_handles_are_faults() -> None:
    h = ExchangeHeap(8, 1024)
    b = h.alloc(1, b"x")
    for owner, handle in ((2, b), (1, Block(99, 0)), (1, "block"), (1, Block(1, 5))):
        with pytest.raises(ProgramFault):
            h.read(owner, handle)
    assert h.statistics().dead_uses == 4


def test_limits_are_enomem_and_reclaim_frees_everything() -> None:
    h = ExchangeHeap(2, 10)
    h.alloc(1, b"12345")
    with pytest.raises(SyscallError) as e:
        h.alloc(1, b"123456")
    assert e.value.errno == "ENOMEM"
    h.alloc(1, b"1")
    with pytest.raises(SyscallError):
        h.alloc(2, b"")
    assert h.reclaim(1) == 2
    st_ = h.statistics()
    assert (st_.blocks_live, st_.bytes_live, st_.reclaimed) == (0, 0, 2)


class HeapMachine(RuleBasedStateMachine):
    """Random allocs, transfers, frees, writes, stale uses and reclaims against a model."""

    def __init__(self) -> None:
        super().__init__()
        self.heap = ExchangeHeap(16, 256)
        self.live: dict[int, tuple[int, Block, bytes]] = {}   # key -> (owner, handle, data)
        self.dead: list[tuple[int, Block]] = []
        self.key = 0

    @rule(owner=OWNERS, data=st.binary(max_size=40))
    def alloc(self, owner: int, data: bytes) -> None:
        size = sum(len(d) for _o, _h, d in self.live.values())
        if len(self.live) >= 16 or size + len(data) > 256:
            with pytest.raises(SyscallError):
                self.heap.alloc(owner, data)
            return
        self.key += 1
        self.live[self.key] = (owner, self.heap.alloc(owner, data), data)

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
    def reclaim(self, owner: int) -> None:
        mine = [k for k, (o, _h, _d) in self.live.items() if o == owner]
        assert self.heap.reclaim(owner) == len(mine)
        for k in mine:
            self.dead.append(self.live.pop(k)[:2])

    @invariant()
    def matches_the_model(self) -> None:
        for owner, handle, data in self.live.values():
            assert self.heap.read(owner, handle) == data
        stats = self.heap.statistics()
        assert stats.blocks_live == len(self.live)
        assert stats.bytes_live == sum(len(d) for _o, _h, d in self.live.values())
        for o in range(1, 5):
            assert self.heap.owned_by(o) == sum(1 for x in self.live.values() if x[0] == o)


TestHeapMachine = HeapMachine.TestCase
TestHeapMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
