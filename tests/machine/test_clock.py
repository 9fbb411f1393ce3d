"""Tests of exolab.machine.clock: the cycle counter and the event queue."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.errors import KernelPanic
from exolab.machine.clock import INF, Clock, ClockStats


def _drain(clk: Clock) -> None:
    """Idle the clock through every pending event (as the machine's idle loop does)."""
    while clk.skip_to_next():
        clk.fire_due()


def test_same_cycle_events_fire_in_scheduling_order() -> None:
    clk = Clock()
    log: list[str] = []
    for name in "abc":
        clk.schedule(10, log.append, name)
    clk.schedule(5, log.append, "early")
    clk.schedule(10, log.append, "d")
    clk.now = 10
    clk.fire_due()
    assert log == ["early", "a", "b", "c", "d"]


def test_fire_due_leaves_future_events_alone() -> None:
    clk = Clock()
    log: list[int] = []
    clk.schedule(10, log.append, 10)
    clk.schedule(11, log.append, 11)
    clk.now = 10
    clk.fire_due()
    assert log == [10]
    assert clk.deadline == 11
    assert clk.pending() == 1


def test_event_scheduled_for_now_by_a_callback_fires_in_the_same_pass() -> None:
    clk = Clock()
    log: list[str] = []

    def first(_: object) -> None:
        log.append("first")
        clk.after(0, log.append, "chained")
        clk.after(1, log.append, "later")

    clk.schedule(3, first)
    clk.now = 3
    clk.fire_due()
    assert log == ["first", "chained"]
    assert clk.deadline == 4


def test_schedule_in_the_past_clamps_to_now() -> None:
    clk = Clock()
    clk.now = 100
    ev = clk.schedule(7, lambda _: None)
    assert ev.at == 100
    assert clk.deadline == 100


def test_after_rejects_a_negative_delay() -> None:
    clk = Clock()
    with pytest.raises(KernelPanic) as info:
        clk.after(-1, lambda _: None)
    assert info.value.delay == -1


def test_cancel_prevents_firing_and_counts_once() -> None:
    clk = Clock()
    log: list[str] = []
    a = clk.schedule(5, log.append, "a")
    clk.schedule(6, log.append, "b")
    clk.cancel(a)
    clk.cancel(a)                       # harmless the second time
    assert clk.pending() == 1
    assert clk.statistics().cancelled == 1
    _drain(clk)
    assert log == ["b"]
    assert clk.now == 6                 # skipped over the cancelled event's cycle


def test_cancelled_head_does_not_hold_the_deadline() -> None:
    clk = Clock()
    a = clk.schedule(5, lambda _: None)
    clk.schedule(9, lambda _: None)
    clk.cancel(a)
    assert clk.skip_to_next()
    assert clk.now == 9
    assert clk.deadline == 9


def test_skip_to_next_with_nothing_pending_returns_false() -> None:
    clk = Clock()
    assert clk.skip_to_next() is False
    ev = clk.schedule(50, lambda _: None)
    clk.cancel(ev)
    assert clk.skip_to_next() is False
    assert clk.now == 0
    assert clk.deadline == INF


def test_skip_to_next_advances_exactly_and_never_backwards() -> None:
    clk = Clock()
    log: list[int] = []
    clk.schedule(40, log.append, 40)
    assert clk.skip_to_next()
    assert clk.now == 40
    assert log == []                    # skipping does not fire
    assert clk.skip_to_next()           # the event is due: stay put
    assert clk.now == 40
    clk.fire_due()
    assert log == [40]
    clk.now = 100
    clk.schedule(60, log.append, 60)    # clamped to 100
    assert clk.skip_to_next()
    assert clk.now == 100


def test_statistics_counts_and_is_frozen() -> None:
    clk = Clock()
    evs = [clk.schedule(i, lambda _: None) for i in range(1, 5)]
    clk.cancel(evs[3])
    clk.now = 2
    clk.fire_due()
    st_ = clk.statistics()
    assert isinstance(st_, ClockStats)
    assert (st_.now, st_.scheduled, st_.fired, st_.cancelled, st_.pending) == (2, 4, 2, 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        st_.now = 7  # type: ignore[misc]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=40))
def test_events_fire_in_cycle_then_scheduling_order(plan: list[tuple[int, bool]]) -> None:
    clk = Clock()
    fired: list[tuple[int, int, int]] = []   # (at, seq, cycle when fired)
    expected = []
    for i, (at, cancel) in enumerate(plan):
        ev = clk.schedule(at, lambda arg: fired.append((arg[0], arg[1], clk.now)), (at, i))
        if cancel:
            clk.cancel(ev)
        else:
            expected.append((at, i))
    _drain(clk)
    assert [(a, i) for a, i, _ in fired] == sorted(expected)
    assert all(now == at for at, _, now in fired)   # idle skipping lands exactly
    assert clk.pending() == 0
    assert clk.statistics().fired == len(expected)


def _random_run(seed: int) -> list[tuple[int, int]]:
    """Events whose callbacks schedule more events at rng-drawn delays."""
    clk = Clock(seed)
    log: list[tuple[int, int]] = []

    def cb(n: int) -> None:
        log.append((clk.now, n))
        if n < 200:                     # a bounded chain: n grows by one per event
            clk.after(clk.rng.randrange(0, 20), cb, n + 1)

    for k in range(5):
        clk.schedule(k, cb, 0)
    _drain(clk)
    return log


def test_same_seed_same_history_different_seed_different_history() -> None:
    assert _random_run(1) == _random_run(1)
    assert _random_run(1) != _random_run(2)
    assert Clock(5).rng.random() == Clock(5).rng.random()
