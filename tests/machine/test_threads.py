"""Tests of exolab.machine.threads: simulated threads and the thread table."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.errors import PrivilegeError
from exolab.kernels.tiny import SYS_EXIT, SYS_YIELD, TinyKernel
from exolab.machine import USER, Machine
from exolab.machine.cpu import CPU
from exolab.machine.threads import (DEAD, KEEP_FAULTED, NEW, READY, SWEEP_MIN, SimThread,
                                    ThreadExit, ThreadTable)
from exolab.machine.tlb import TLBEntry

SYS_KILL = 120


class Killer(TinyKernel):
    """TinyKernel plus a call that marks another thread killed."""

    def on_trap(self, cpu: CPU, number: int, args: tuple[Any, ...]) -> Any:
        if number == SYS_KILL:
            victim = self.machine.threads.get(args[0])
            assert victim is not None
            victim.killed = True
            victim.exit_status = "killed"
            return 0
        return super().on_trap(cpu, number, args)


def test_table_hands_out_unique_tids_from_one() -> None:
    tt = ThreadTable()
    a = tt.create(print, (1,), "alpha", owner="proc")
    b = tt.create(print)
    assert (a.tid, b.tid) == (1, 2)
    assert a.name == "alpha" and b.name == "t2"
    assert a.args == (1,) and a.owner == "proc" and b.args == ()
    assert tt.get(1) is a and tt.get(3) is None
    assert a.state == NEW and not a.killed and a.glet is None
    assert repr(a) == "SimThread(1, 'alpha', new)"


def test_live_is_in_creation_order_and_statistics_count() -> None:
    tt = ThreadTable()
    ts = [tt.create(print) for _ in range(4)]
    ts[1].state = DEAD
    ts[2].state = DEAD
    ts[2].fault = ValueError()
    assert tt.live() == [ts[0], ts[3]]
    s = tt.statistics()
    assert (s.created, s.live, s.faulted) == (4, 2, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.live = 0  # type: ignore[misc]


def test_thread_exit_is_not_an_ordinary_exception() -> None:
    assert issubclass(ThreadExit, BaseException)
    assert not issubclass(ThreadExit, Exception)
    assert ThreadExit(7).status == 7 and ThreadExit().status is None


def test_lifecycle_new_ready_dead_with_result() -> None:
    m = Machine()
    k = TinyKernel(m)
    seen: list[str] = []
    t: SimThread

    def body(x: int) -> int:
        seen.append(t.state)
        return x * 2

    t = k.spawn(body, 21, name="doubler")
    assert t.state == NEW and t.name == "doubler"
    assert m.run().reason == "finished"
    assert seen == [READY]
    assert t.state == DEAD and t.result == 42 and t.fault is None
    assert m.threads.live() == []


def test_exit_call_ends_the_thread_with_its_status() -> None:
    m = Machine()
    k = TinyKernel(m)
    after: list[str] = []

    def body() -> None:
        m.cpu.trap(SYS_EXIT, 3)
        after.append("not reached")

    t = k.spawn(body)
    assert m.run().reason == "finished"
    assert after == [] and t.exit_status == 3 and t.state == DEAD and t.fault is None


def test_thread_killed_while_preempted_unwinds_in_user_mode() -> None:
    """The kill lands when the victim is switched back in, inside its interrupt path."""
    m = Machine()
    k = Killer(m, quantum=200)
    log: list[tuple[str, Any]] = []
    victim: SimThread

    def spinner() -> None:
        cpu = m.cpu
        try:
            for _ in range(2000):
                cpu.charge(5)
        except ThreadExit as ex:
            log.append(("unwound", cpu.mode, ex.status))
        try:
            cpu.tlb_write_indexed(0, TLBEntry(1, 1, 1))
            log.append(("tlb written", cpu.mode, None))
        except (ThreadExit, PrivilegeError):
            log.append(("refused", cpu.mode, None))

    def assassin() -> None:
        m.cpu.charge(50)
        m.cpu.trap(SYS_KILL, victim.tid)

    victim = k.spawn(spinner)
    k.spawn(assassin)
    assert m.run().reason == "finished"
    assert log == [("unwound", USER, "killed"), ("refused", USER, None)]
    assert m.cpu.tlb.statistics().occupied == 0
    assert victim.state == DEAD


def test_yielding_threads_interleave_round_robin() -> None:
    m = Machine()
    k = TinyKernel(m)
    order: list[str] = []

    def body(name: str) -> None:
        for _ in range(3):
            order.append(name)
            m.cpu.trap(SYS_YIELD)

    for name in "abc":
        k.spawn(body, name)
    assert m.run().reason == "finished"
    assert "".join(order) == "abcabcabc"


class ThreadTableMachine(RuleBasedStateMachine):
    """The table against a model: every thread ever made, which are over, which
    faulted. The table holds every live thread and the newest faulted ones, holds
    no more than twice what is not over (or SWEEP_MIN), and counts exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.tt = ThreadTable()
        self.made: list[SimThread] = []
        self.faulted = 0
        self.live = self.peak = 0           # threads live now, and at most at once

    @rule(n=st.integers(1, 400))
    def create(self, n: int) -> None:
        for _ in range(n):
            self.made.append(self.tt.create(print))
        self.live += n
        self.peak = max(self.peak, self.live)

    @rule(data=st.data(), faulted=st.booleans())
    def end_one(self, data: st.DataObject, faulted: bool) -> None:
        live = [t for t in self.made if t.state != DEAD]
        if live:
            t = data.draw(st.sampled_from(live))
            t.state = DEAD
            self.live -= 1
            if faulted:
                t.fault = ValueError("boom")
                self.faulted += 1

    @rule()
    def end_all(self) -> None:
        for t in self.made:
            t.state = DEAD
        self.live = 0

    @invariant()
    def holds_the_live_and_counts_exactly(self) -> None:
        held = {t.tid for t in self.tt.all()}
        live = [t for t in self.made if t.state != DEAD]
        assert {t.tid for t in live} <= held
        assert all(self.tt.get(t.tid) is t for t in live)
        st_ = self.tt.statistics()
        assert st_.created == len(self.made) and st_.live == len(live)
        assert st_.faulted == self.faulted
        assert len(held) <= max(SWEEP_MIN, 2 * (self.peak + KEEP_FAULTED))
        newest = sorted(t.tid for t in self.made if t.fault is not None)[-KEEP_FAULTED:]
        assert set(newest) <= held          # where the recent faults were stays known


TestThreadTable = ThreadTableMachine.TestCase
TestThreadTable.settings = settings(max_examples=30, stateful_step_count=40, deadline=None)
