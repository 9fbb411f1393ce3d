"""A hypothesis state machine over the kernel-neutral wait table (common/wait.py).

Model: every process has a parent (or none) and a state (live, zombie, gone).
``exit`` makes a process a zombie of a live parent or, orphaned, gone at once,
orphaning its live children and reaping its zombies; ``reap`` answers ECHILD for
a non-child, None while the child (or every child) runs, else the zombie's
status, the earliest-created zombie first for wait(any).
"""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.common.wait import WaitTable


class WaitModel(RuleBasedStateMachine):
    """Random add / exit / reap against plain dicts."""

    def __init__(self) -> None:
        super().__init__()
        self.t = WaitTable()
        self.parent: dict[int, int | None] = {}
        self.state: dict[int, str] = {}         # live, zombie or gone
        self.status: dict[int, int] = {}
        self.next_pid = 1
        self.exits = self.reaped = self.orphaned = 0

    def _live(self) -> list[int]:
        return sorted(p for p, s in self.state.items() if s == "live")

    @rule(data=st.data())
    def add(self, data: st.DataObject) -> None:
        live = self._live()
        parent = data.draw(st.sampled_from([None, *live])) if live else None
        pid, self.next_pid = self.next_pid, self.next_pid + 1
        self.t.add(pid, parent)
        self.parent[pid], self.state[pid] = parent, "live"

    @precondition(lambda self: self._live())
    @rule(data=st.data(), status=st.integers(-3, 3))
    def exit(self, data: st.DataObject, status: int) -> None:
        pid = data.draw(st.sampled_from(self._live()))
        wake, reaped = self.t.exit(pid, status)
        self.exits += 1
        expect_reaped = []
        for kid in sorted(k for k, p in self.parent.items() if p == pid):
            if self.state[kid] == "zombie":
                self.state[kid] = "gone"
                expect_reaped.append(kid)
            elif self.state[kid] == "live":
                self.orphaned += 1
            self.parent[kid] = None
        self.status[pid] = status
        if self.parent[pid] is None:
            self.state[pid] = "gone"
            expect_reaped.append(pid)
            assert wake is None
        else:
            self.state[pid] = "zombie"
            assert wake == self.parent[pid]
        self.reaped += len(expect_reaped)
        assert reaped == expect_reaped

    @rule(data=st.data(), any_child=st.booleans())
    def reap(self, data: st.DataObject, any_child: bool) -> None:
        live = self._live()
        if not live:
            return
        parent = data.draw(st.sampled_from(live))
        kids = sorted(k for k, p in self.parent.items()
                      if p == parent and self.state[k] != "gone")
        pid = None if any_child else data.draw(st.integers(0, self.next_pid))
        if not kids or (pid is not None and pid not in kids):
            with pytest.raises(SyscallError) as info:
                self.t.reap(parent, pid)
            assert info.value.errno == "ECHILD"
            return
        zombies = [k for k in kids if self.state[k] == "zombie"]
        got = self.t.reap(parent, pid)
        if pid is None:
            want = zombies[0] if zombies else None
        else:
            want = pid if pid in zombies else None
        if want is None:
            assert got is None
            return
        assert got == (want, self.status[want])
        self.state[want] = "gone"
        self.reaped += 1

    @invariant()
    def agrees_with_the_model(self) -> None:
        stats = self.t.statistics()
        assert stats.live == len(self._live())
        assert stats.zombies == sum(1 for s in self.state.values() if s == "zombie")
        assert (stats.exits, stats.reaped, stats.orphaned) == \
            (self.exits, self.reaped, self.orphaned)
        for pid, s in self.state.items():
            if s != "gone":
                assert self.t.parent_of(pid) == self.parent[pid]
        for pid in self._live():
            assert self.t.children(pid) == sum(
                1 for k, p in self.parent.items() if p == pid and self.state[k] != "gone")


TestWaitModel = WaitModel.TestCase
TestWaitModel.settings = settings(max_examples=100, stateful_step_count=60, deadline=None)


def test_exit_of_a_process_not_live_is_a_kernel_panic() -> None:
    t = WaitTable()
    t.add(1, None)
    t.add(2, 1)
    t.exit(2, 0)
    with pytest.raises(KernelPanic):
        t.exit(2, 0)                # a zombie
    with pytest.raises(KernelPanic):
        t.exit(9, 0)                # never added
    with pytest.raises(KernelPanic):
        t.add(1, None)              # added twice


def test_wait_any_takes_the_earliest_created_zombie_whatever_the_exit_order() -> None:
    t = WaitTable()
    t.add(1, None)
    for pid in (2, 3, 4):
        t.add(pid, 1)
    t.exit(4, "c")
    t.exit(2, "a")
    t.exit(3, "b")
    assert t.reap(1, 3) == (3, "b")
    assert [t.reap(1), t.reap(1)] == [(2, "a"), (4, "c")]


def test_reap_costs_do_not_grow_with_the_number_of_children() -> None:
    import tracemalloc
    t = WaitTable()
    t.add(1, None)
    for pid in range(2, 20_002):
        t.add(pid, 1)
    t.exit(20_001, 0)
    tracemalloc.start()
    try:
        assert t.reap(1) == (20_001, 0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4096              # no copy or scan of the 20,000 children
