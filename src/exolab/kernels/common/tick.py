"""The scheduler's tick: round-robin preemption on the machine's one interval timer.

A kernel that runs threads must take the CPU back from one that never
blocks, or a program that loops starves every other (the threat model: the
machine and every other program keep running). The tick is a slice deadline
every ``period`` cycles, on while the CPU has work and off while it rests
(an idle machine comes to rest, and a run whose threads all wait ends); at
each deadline the kernel preempts the running thread if another is ready.

The interval timer is one device. A kernel that also lets a user-level
driver program it (L4: the thread attached to irq 0) multiplexes it here,
as a one-shot kernel does: the device is armed for the earlier of the slice
deadline and the client's, and an expiry says which of them fell due. With
only one of the two pending, the device runs periodic (one programming, not
one per expiry).

Interface::

    Tick(machine, period)            period in cycles (> 0)
      on: bool                        the slice runs
      start()                         the CPU has work: the slice runs (no-op if on)
      stop()                          the CPU rests: no slice (the client's stays)
      program(cycles, periodic)       the client's timer: due ``cycles`` from now
                                      (and every ``cycles`` after, if periodic)
      cancel_client()                 the client's timer stops (its driver is gone)
      expired() -> (slice_due, client_due)   on the timer interrupt
      statistics() -> TickStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from exolab.errors import KernelPanic

if TYPE_CHECKING:
    from exolab.machine.machine import Machine

__all__ = ["Tick", "TickStats"]


@dataclass(frozen=True, slots=True)
class TickStats:
    """Slice deadlines reached and client expiries delivered."""

    ticks: int
    client_expiries: int


def _advance(at: int, period: int, now: int) -> int:
    """The first deadline ``at + k * period`` (k >= 1) after ``now``."""
    return at + ((now - at) // period + 1) * period


class Tick:
    """A slice deadline and a client's deadline on one timer; see the module docstring."""

    __slots__ = ("_timer", "_clock", "period", "_slice_at", "_client_at",
                 "_client_period", "_ticks", "_client_expiries")

    def __init__(self, machine: "Machine", period: int) -> None:
        if period <= 0:
            raise KernelPanic("tick: the slice must be positive", period=period)
        self._timer = machine.timer
        self._clock = machine.clock
        self.period = period
        self._slice_at: int | None = None
        self._client_at: int | None = None
        self._client_period = 0
        self._ticks = self._client_expiries = 0

    @property
    def on(self) -> bool:
        """Whether the slice runs."""
        return self._slice_at is not None

    def start(self) -> None:
        """The CPU has work: a slice deadline ``period`` from now (if none is set)."""
        if self._slice_at is None:
            self._slice_at = self._clock.now + self.period
            self._program()

    def stop(self) -> None:
        """The CPU rests: drop the slice deadline (the client's timer stays)."""
        if self._slice_at is not None:
            self._slice_at = None
            self._program()

    def program(self, cycles: int, periodic: bool) -> None:
        """The client's timer: due ``cycles`` from now, and every ``cycles`` after
        if ``periodic`` (replacing what it set before)."""
        if cycles <= 0:
            raise KernelPanic("tick: the interval must be positive", cycles=cycles)
        self._client_at = self._clock.now + cycles
        self._client_period = cycles if periodic else 0
        self._program()

    def cancel_client(self) -> None:
        """The client's timer stops (nobody is left to take its expiries)."""
        if self._client_at is not None:
            self._client_at, self._client_period = None, 0
            self._program()

    def expired(self) -> tuple[bool, bool]:
        """The timer interrupt: which deadlines fell due (slice, client); both are
        advanced past now and the device re-armed for the next."""
        now = self._clock.now
        s_at, c_at = self._slice_at, self._client_at
        slice_due = s_at is not None and s_at <= now
        client_due = c_at is not None and c_at <= now
        if s_at is not None and slice_due:
            self._ticks += 1
            self._slice_at = _advance(s_at, self.period, now)
        if c_at is not None and client_due:
            self._client_expiries += 1
            period = self._client_period
            self._client_at = _advance(c_at, period, now) if period else None
        self._program()
        return slice_due, client_due

    def _program(self) -> None:
        """Arm the device for the next deadline: periodic when only one is pending,
        one shot at the earlier when both are; leave it be if it already is."""
        timer, s_at, c_at = self._timer, self._slice_at, self._client_at
        if c_at is None:
            if s_at is None:
                timer.cancel()
                return
            at, period = s_at, self.period
        elif s_at is None:
            at, period = c_at, self._client_period
        else:
            at, period = min(s_at, c_at), 0
        if timer.armed and timer.deadline == at and timer.period == period:
            return
        timer.arm(max(1, at - self._clock.now), periodic=period > 0)

    def statistics(self) -> TickStats:
        """A frozen snapshot of the counters."""
        return TickStats(self._ticks, self._client_expiries)
