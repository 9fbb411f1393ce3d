"""The core services over the machine: PhysAddr, VirtAddr, Translation."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.abi import PROT_READ, PROT_RW
from exolab.errors import SyscallError
from exolab.kernels.spin import Spin
from exolab.kernels.spin.core import Frames
from exolab.kernels.spin.dispatch import Owner
from exolab.machine.machine import Machine


def _kernel(frames: int = 256) -> Spin:
    return Spin(Machine("alpha", frames=frames))


def test_a_mapping_is_seen_by_examine_and_removed_with_its_tlb_entry() -> None:
    k = _kernel()
    core = k.core
    c, v, p = core.tr_create(), core.virt_allocate(2), core.phys_allocate(2, None)
    core.add_mapping(c, v, p, PROT_READ)
    assert core.examine_mapping(c, v) == PROT_READ
    core.remove_mapping(c, v)
    assert core.examine_mapping(c, v) == 0
    core.tr_destroy(c)
    with pytest.raises(SyscallError):
        core.examine_mapping(c, v)


def test_a_copy_of_a_capability_is_no_capability() -> None:
    core = _kernel().core
    real = core.phys_allocate(1, None)
    fake = Frames([1, 2, 3], None)
    with pytest.raises(SyscallError):
        core.add_mapping(core.tr_create(), core.virt_allocate(3), fake, PROT_RW)
    core.phys_deallocate(real)
    with pytest.raises(SyscallError):
        core.phys_deallocate(real)              # once only


def test_reclaim_lets_a_handler_nominate_another_allocation() -> None:
    k = _kernel(frames=96)
    core = k.core
    grants = []
    while k.frames.available() >= 4:
        grants.append(core.phys_allocate(4, None))
    nominated: list[Any] = []

    def nominate(candidate: Any) -> Any:
        nominated.append(candidate)
        return grants[-1]                       # not the oldest: the newest

    k.dispatcher.install(core.reclaim, nominate, None, core.cap, Owner("pager"))
    core.phys_allocate(4, None)
    assert nominated == [grants[0]]
    assert grants[0] in core.allocations and grants[-1] not in core.allocations


class CoreMachine(RuleBasedStateMachine):
    """Frames held by grants and mappings: the allocator's counts agree."""

    def __init__(self) -> None:
        super().__init__()
        self.k = _kernel(frames=200)
        self.core = self.k.core
        self.ctx = self.core.tr_create()
        self.grants: list[Any] = []
        self.maps: list[tuple[Any, Any]] = []
        self.free0 = self.k.frames.available()

    @rule(pages=st.integers(1, 4))
    def allocate(self, pages: int) -> None:
        if self.k.frames.available() < pages and not self.core.allocations:
            return
        self.grants = [g for g in self.grants if g in self.core.allocations]
        self.grants.append(self.core.phys_allocate(pages, None))

    @precondition(lambda self: self.grants)
    @rule(i=st.integers(0, 50), prot=st.sampled_from([PROT_READ, PROT_RW]))
    def map(self, i: int, prot: int) -> None:
        g = self.grants[i % len(self.grants)]
        if g not in self.core.allocations:
            return
        v = self.core.virt_allocate(4)
        self.core.add_mapping(self.ctx, v, g, prot)
        assert self.core.examine_mapping(self.ctx, v) == prot
        self.maps.append((v, g))

    @precondition(lambda self: self.maps)
    @rule(i=st.integers(0, 50))
    def unmap(self, i: int) -> None:
        v, _g = self.maps.pop(i % len(self.maps))
        self.core.remove_mapping(self.ctx, v)
        assert self.core.examine_mapping(self.ctx, v) == 0

    @precondition(lambda self: self.grants)
    @rule(i=st.integers(0, 50))
    def free(self, i: int) -> None:
        g = self.grants.pop(i % len(self.grants))
        if g in self.core.allocations:
            self.core.phys_deallocate(g)

    @invariant()
    def frames_are_accounted_for(self) -> None:
        held = {ppn for g in self.core.allocations for ppn in g._ppns}
        mapped = {pte.ppn for pte in self.ctx._space.ptes.values()}
        assert self.k.frames.available() == self.free0 - len(held | mapped)


CoreMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=20,
                                         deadline=None)
TestCoreMachine = CoreMachine.TestCase
