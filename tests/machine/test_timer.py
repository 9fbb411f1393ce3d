"""Tests of exolab.machine.timer: one-shot and periodic expiry, delivery, preemption."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.errors import KernelPanic
from exolab.kernels.tiny import TinyKernel
from exolab.machine import IRQ_TIMER, KERNEL, Machine
from exolab.machine.cpu import CPU

SYS_TIMER = 130         # args: (cycles, periodic); cycles == 0 cancels; returns deadline


class Ticks(TinyKernel):
    """TinyKernel that records every interrupt and lets threads program the timer."""

    def __init__(self, machine: Machine, **kw: Any) -> None:
        super().__init__(machine, **kw)
        self.irqs: list[tuple[int, int, int]] = []      # (cycle, irq, mode)

    def on_trap(self, cpu: CPU, number: int, args: tuple[Any, ...]) -> Any:
        if number == SYS_TIMER:
            cycles, periodic = args
            if cycles == 0:
                self.machine.timer.cancel()
                return None
            self.machine.timer.arm(cycles, periodic)
            return self.machine.timer.deadline
        return super().on_trap(cpu, number, args)

    def on_interrupt(self, cpu: CPU, irq: int) -> None:
        self.irqs.append((cpu.clock.now, irq, cpu.mode))
        super().on_interrupt(cpu, irq)


def _spin(m: Machine, step: int, n: int, points: list[int]) -> None:
    """Charge ``step`` cycles ``n`` times, recording each charge point's cycle."""
    cpu = m.cpu
    for _ in range(n):
        before = cpu.clock.now
        cpu.charge(step)
        points.append(before + step)


def _first_at_or_past(points: list[int], deadline: int) -> int:
    return next(p for p in points if p >= deadline)


@settings(max_examples=60, deadline=None)
@given(step=st.integers(1, 40), delay=st.integers(40, 400))   # expires after the trap
def test_one_shot_is_delivered_at_the_first_charge_point_past_its_deadline(
        step: int, delay: int) -> None:
    m = Machine()
    k = Ticks(m)
    p = m.profile
    points: list[int] = []
    out: dict[str, Any] = {}

    def body() -> None:
        out["deadline"] = m.cpu.trap(SYS_TIMER, delay, False)
        _spin(m, step, 600 // step + 20, points)

    k.spawn(body)
    assert m.run().reason == "finished"
    (cycle, irq, mode), = k.irqs
    assert irq == IRQ_TIMER and mode == KERNEL
    assert cycle - p.interrupt_entry == _first_at_or_past(points, out["deadline"])
    assert not m.timer.armed and m.timer.deadline is None
    assert m.timer.statistics() == type(m.timer.statistics())(armed=1, fired=1)


@settings(max_examples=40, deadline=None)
@given(step=st.integers(1, 30), period=st.integers(100, 300))
def test_periodic_timer_keeps_its_phase(step: int, period: int) -> None:
    m = Machine()
    k = Ticks(m)
    p = m.profile
    points: list[int] = []
    out: dict[str, Any] = {}

    def body() -> None:
        out["d0"] = m.cpu.trap(SYS_TIMER, period, True)
        _spin(m, step, 3000 // step, points)
        m.cpu.trap(SYS_TIMER, 0, False)

    k.spawn(body)
    assert m.run().reason == "finished"
    got = [c - p.interrupt_entry for c, _, _ in k.irqs]
    deadlines = range(out["d0"], points[-1] + 1, period)   # no drift: d0 + k * period
    assert got == [_first_at_or_past(points, d) for d in deadlines]
    assert m.timer.statistics().fired == len(deadlines)


def test_cancel_and_rearm() -> None:
    m = Machine()
    k = Ticks(m)
    points: list[int] = []
    out: dict[str, Any] = {}

    def body() -> None:
        cpu = m.cpu
        cpu.trap(SYS_TIMER, 50, False)
        cpu.trap(SYS_TIMER, 0, False)                      # cancelled: never fires
        cpu.trap(SYS_TIMER, 30, False)
        out["deadline"] = cpu.trap(SYS_TIMER, 500, False)  # re-arming replaces
        _spin(m, 10, 100, points)

    k.spawn(body)
    assert m.run().reason == "finished"
    assert len(k.irqs) == 1
    assert k.irqs[0][0] - m.profile.interrupt_entry == _first_at_or_past(points,
                                                                         out["deadline"])
    assert m.timer.statistics().armed == 3 and m.timer.statistics().fired == 1


def test_arm_charges_and_rejects_non_positive_intervals() -> None:
    m = Machine()
    for bad in (0, -5):
        with pytest.raises(KernelPanic):
            m.timer.arm(bad)
    assert m.cycles == 0 and not m.timer.armed
    m.timer.arm(100)
    assert m.cycles == m.profile.timer_program
    assert m.timer.deadline == m.profile.timer_program + 100
    st_ = m.timer.statistics()
    with pytest.raises(dataclasses.FrozenInstanceError):
        st_.armed = 0  # type: ignore[misc]


def test_an_idle_machine_skips_exactly_to_the_expiry() -> None:
    m = Machine()
    k = Ticks(m)
    m.timer.arm(1000)
    deadline = m.timer.deadline
    res = m.run()
    assert res.reason == "finished"
    (cycle, irq, mode), = k.irqs
    assert (cycle, irq, mode) == (deadline + m.profile.interrupt_entry, IRQ_TIMER, KERNEL)
    assert m.cpu.statistics().idle_cycles == 1000


def _slices(trace: list[int]) -> list[tuple[int, int]]:
    """Compress a per-step thread trace into (tid, steps) runs."""
    out: list[tuple[int, int]] = []
    for tid in trace:
        if out and out[-1][0] == tid:
            out[-1] = (tid, out[-1][1] + 1)
        else:
            out.append((tid, 1))
    return out


@pytest.mark.parametrize("quantum,step", [(500, 5), (1000, 7), (2000, 13)])
def test_preemption_interleaves_spinning_threads_fairly(quantum: int, step: int) -> None:
    m = Machine()
    k = TinyKernel(m, quantum=quantum)
    trace: list[int] = []
    n = 20 * quantum // step                     # about twenty quanta of work each

    def spinner() -> None:
        cpu = m.cpu
        me = cpu.current.tid                     # type: ignore[union-attr]
        for _ in range(n):
            cpu.charge(step)
            trace.append(me)

    a = k.spawn(spinner)
    b = k.spawn(spinner)
    res = m.run()
    assert res.reason == "finished"              # the tick stops with the last thread
    assert not m.timer.armed
    slices = _slices(trace)
    per = {a.tid: [s for t, s in slices if t == a.tid],
           b.tid: [s for t, s in slices if t == b.tid]}
    assert sum(per[a.tid]) == sum(per[b.tid]) == n
    assert abs(len(per[a.tid]) - len(per[b.tid])) <= 1
    assert len(slices) >= 30                     # interleaved, not run to completion
    whole = per[a.tid][1:-1] + per[b.tid][1:-1]
    assert max(whole) - min(whole) <= 1          # every whole slice is one quantum...
    p = m.profile
    switch = (p.interrupt_entry + p.interrupt_exit + p.asid_switch + p.reg_save
              + p.reg_restore)
    assert (quantum - switch) // step - 1 <= min(whole) <= max(whole) <= quantum // step


def test_without_a_quantum_spinners_run_to_completion() -> None:
    m = Machine()
    k = TinyKernel(m)
    trace: list[int] = []

    def spinner() -> None:
        for _ in range(500):
            m.cpu.charge(7)
            trace.append(m.cpu.current.tid)      # type: ignore[union-attr]

    k.spawn(spinner)
    k.spawn(spinner)
    assert m.run().reason == "finished"
    assert [t for t, _ in _slices(trace)] == [1, 2]
