"""A hypothesis state machine over the monolithic kernel's frame allocator.

Model: a reference count per allocated frame. The allocator hands out each
frame to one owner at a time, frees it exactly when its last reference goes,
never hands out a kernel frame, says ENOMEM only when every frame is taken or
wired, and hands out the lowest never-used frame once no freed frame is left
(freed frames come back last-freed first).
"""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.monolithic.vm import FrameAllocator
from exolab.machine.costs import get_profile
from exolab.machine.memory import PhysicalMemory

FIRST, COUNT = 16, 12


class FramesModel(RuleBasedStateMachine):
    """Random alloc / ref / unref against a dict of reference counts."""

    def __init__(self) -> None:
        super().__init__()
        memory = PhysicalMemory(FIRST + COUNT, 4096, get_profile("dec5000"))
        self.a = FrameAllocator(memory, FIRST, COUNT)
        self.refs: dict[int, int] = {}
        self.freed: list[int] = []          # model free stack: last freed on top
        self.wired = 0

    @rule()
    def alloc(self) -> None:
        try:
            ppn = self.a.alloc()
        except SyscallError as e:
            assert e.errno == "ENOMEM" and len(self.refs) + self.wired == COUNT
            return
        assert FIRST <= ppn < FIRST + COUNT and ppn not in self.refs
        if self.freed:
            assert ppn == self.freed.pop()
        else:
            used = set(self.refs) | set(self.freed)
            assert ppn == min(set(range(FIRST, FIRST + COUNT)) - used)
        self.refs[ppn] = 1

    @rule(n=st.integers(1, 4))
    def wire(self, n: int) -> None:
        try:
            self.a.wire(n)
        except SyscallError as e:
            assert e.errno == "ENOMEM" and COUNT - len(self.refs) - self.wired < n
            return
        self.wired += n

    @precondition(lambda self: self.wired)
    @rule(data=st.data())
    def unwire(self, data: st.DataObject) -> None:
        n = data.draw(st.integers(1, self.wired))
        self.a.unwire(n)
        self.wired -= n

    @precondition(lambda self: self.refs)
    @rule(data=st.data())
    def ref(self, data: st.DataObject) -> None:
        ppn = data.draw(st.sampled_from(sorted(self.refs)))
        self.a.ref(ppn)
        self.refs[ppn] += 1

    @precondition(lambda self: self.refs)
    @rule(data=st.data())
    def unref(self, data: st.DataObject) -> None:
        ppn = data.draw(st.sampled_from(sorted(self.refs)))
        self.refs[ppn] -= 1
        freed = self.a.unref(ppn)
        assert freed == (self.refs[ppn] == 0)
        if freed:
            del self.refs[ppn]
            self.freed.append(ppn)

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.a.in_use() == len(self.refs)
        assert self.a.wired() == self.wired
        assert self.a.available() == COUNT - len(self.refs) - self.wired
        for ppn in range(FIRST - 2, FIRST + COUNT + 2):
            assert self.a.refs(ppn) == self.refs.get(ppn, 0)


TestFramesModel = FramesModel.TestCase
TestFramesModel.settings = settings(max_examples=80, stateful_step_count=50, deadline=None)


def test_a_reference_to_a_free_frame_is_a_kernel_panic() -> None:
    memory = PhysicalMemory(FIRST + COUNT, 4096, get_profile("dec5000"))
    a = FrameAllocator(memory, FIRST, COUNT)
    ppn = a.alloc()
    assert a.unref(ppn)
    for op in (a.ref, a.unref):
        with pytest.raises(KernelPanic) as info:
            op(ppn)
        assert info.value.ppn == ppn


def test_unwiring_more_than_is_wired_is_a_kernel_panic() -> None:
    a = FrameAllocator(PhysicalMemory(FIRST + COUNT, 4096, get_profile("dec5000")),
                       FIRST, COUNT)
    a.wire(2)
    with pytest.raises(KernelPanic):
        a.unwire(3)
    assert a.wired() == 2


def test_boot_allocates_under_2_mib_for_a_million_frames() -> None:
    from exolab.kernels.monolithic.measure import boot_allocation
    small, large = boot_allocation(1 << 10), boot_allocation(1 << 20)
    assert large < 2 << 20
    assert large < small + (256 << 10)      # nothing proportional to the frame count
