"""Tests of exolab.kernels.common.tick: the slice and a client's timer on one device.

A stateful test drives start/stop/program/cancel_client and the passage of time
on a real Timer and Clock; a model that knows only the specification (the slice
falls due every ``period`` cycles from its start while on, the client's timer at
its deadline and every ``cycles`` after if periodic) says which deadlines must
fall due at which cycle. Every interrupt must report a due deadline (no spurious
interrupt), and every due deadline must come on its cycle.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.errors import KernelPanic
from exolab.kernels.common.tick import Tick
from exolab.machine.clock import Clock
from exolab.machine.timer import Timer


class _CPU:
    """What the timer needs of a CPU: a clock, a cost, an interrupt line."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.profile = SimpleNamespace(timer_program=0)
        self.raised = 0

    def charge(self, cycles: int) -> None:
        self.clock.now += cycles

    def raise_irq(self, irq: int) -> None:
        self.raised += 1


class _Machine:
    def __init__(self) -> None:
        self.cpu = _CPU()
        self.clock = self.cpu.clock
        self.timer = Timer(self.cpu)  # type: ignore[arg-type]


def _run(m: _Machine, tick: Tick, cycles: int) -> list[tuple[int, bool, bool]]:
    """Let ``cycles`` pass, taking each timer interrupt as it comes; what fell due."""
    clock, end, got = m.clock, m.clock.now + cycles, []
    while True:
        clock._reset_deadline()
        if clock.deadline > end:
            break
        clock.now = max(clock.now, clock.deadline)
        before = m.cpu.raised
        clock.fire_due()
        if m.cpu.raised != before:
            got.append((clock.now, *tick.expired()))
    clock.now = end
    return got


class TickModel(RuleBasedStateMachine):
    """The tick against the specification of its two deadlines."""

    PERIOD = 1_000

    def __init__(self) -> None:
        super().__init__()
        self.m = _Machine()
        self.tick = Tick(self.m, self.PERIOD)  # type: ignore[arg-type]
        self.slice_at: int | None = None
        self.client_at: int | None = None
        self.client_period = 0

    def _expected(self, cycles: int) -> list[tuple[int, bool, bool]]:
        """The deadlines due in the next ``cycles``, by the specification."""
        end, out = self.m.clock.now + cycles, []
        while True:
            at = min(x for x in (self.slice_at, self.client_at, end + 1) if x is not None)
            if at > end:
                return out
            s, c = self.slice_at == at, self.client_at == at
            out.append((at, s, c))
            if s:
                self.slice_at = at + self.PERIOD
            if c:
                self.client_at = at + self.client_period if self.client_period else None

    @rule()
    def start(self) -> None:
        self.tick.start()
        if self.slice_at is None:
            self.slice_at = self.m.clock.now + self.PERIOD

    @rule()
    def stop(self) -> None:
        self.tick.stop()
        self.slice_at = None

    @rule(cycles=st.integers(1, 5_000), periodic=st.booleans())
    def program(self, cycles: int, periodic: bool) -> None:
        self.tick.program(cycles, periodic)
        self.client_at = self.m.clock.now + cycles
        self.client_period = cycles if periodic else 0

    @rule()
    def cancel_client(self) -> None:
        self.tick.cancel_client()
        self.client_at, self.client_period = None, 0

    @rule(cycles=st.integers(0, 7_000))
    def time_passes(self, cycles: int) -> None:
        want = self._expected(cycles)
        got = _run(self.m, self.tick, cycles)
        assert got == want

    @invariant()
    def on_means_a_slice(self) -> None:
        assert self.tick.on == (self.slice_at is not None)

    @invariant()
    def armed_only_with_a_deadline(self) -> None:
        pending = self.slice_at is not None or self.client_at is not None
        assert self.m.timer.armed == pending


TestTick = TickModel.TestCase
TestTick.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


def test_the_slice_alone_is_one_periodic_programming() -> None:
    """With no client the device runs periodic: programmed once for many slices."""
    m = _Machine()
    tick = Tick(m, 500)  # type: ignore[arg-type]
    tick.start()
    got = _run(m, tick, 10_000)
    assert [g[0] for g in got] == list(range(500, 10_001, 500))
    assert m.timer.statistics().armed == 1
    assert tick.statistics().ticks == 20


def test_a_zero_period_or_interval_is_a_panic() -> None:
    m = _Machine()
    with pytest.raises(KernelPanic):
        Tick(m, 0)  # type: ignore[arg-type]
    with pytest.raises(KernelPanic):
        Tick(m, 10).program(0, False)  # type: ignore[arg-type]
