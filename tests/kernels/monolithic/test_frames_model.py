"""A hypothesis state machine over the monolithic kernel's frame allocator.

Model: a reference count per allocated frame. The allocator hands out each
frame to one owner at a time, frees it exactly when its last reference goes,
never hands out a kernel frame, and says ENOMEM only when every frame is taken.
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

    @rule()
    def alloc(self) -> None:
        try:
            ppn = self.a.alloc()
        except SyscallError as e:
            assert e.errno == "ENOMEM" and len(self.refs) == COUNT
            return
        assert FIRST <= ppn < FIRST + COUNT and ppn not in self.refs
        self.refs[ppn] = 1

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

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.a.in_use() == len(self.refs)
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
