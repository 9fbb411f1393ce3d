"""The programmable interval timer.

A kernel arms the timer for a number of cycles from now, once or
periodically; when it expires the timer raises :data:`IRQ_TIMER` on its CPU,
and the CPU delivers it at the first charge point at or past the deadline
(see :class:`exolab.machine.cpu.CPU`). Programming the timer costs
``timer_program`` cycles.

Interface::

    Timer(cpu)
      arm(cycles, periodic=False)   start counting down (re-arming replaces)
      cancel()                      stop; no interrupt will come
      armed -> bool                 deadline -> int | None
      statistics()                  TimerStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from exolab.errors import KernelPanic
from exolab.machine.clock import Event
from exolab.machine.cpu import IRQ_TIMER

if TYPE_CHECKING:
    from exolab.machine.cpu import CPU

__all__ = ["Timer", "TimerStats"]


@dataclass(frozen=True, slots=True)
class TimerStats:
    """How often the timer was armed and how often it fired."""

    armed: int
    fired: int


class Timer:
    """One-shot or periodic countdown timer wired to a CPU's timer interrupt."""

    __slots__ = ("cpu", "period", "_event", "_armed", "_fired")

    def __init__(self, cpu: "CPU") -> None:
        self.cpu = cpu
        self.period = 0                     # > 0 when periodic
        self._event: Event | None = None    # the pending expiry, owned by the clock
        self._armed = self._fired = 0

    @property
    def armed(self) -> bool:
        """Whether an expiry is pending."""
        return self._event is not None

    @property
    def deadline(self) -> int | None:
        """Cycle of the pending expiry, or None."""
        return None if self._event is None else self._event.at

    def arm(self, cycles: int, periodic: bool = False) -> None:
        """Expire ``cycles`` from now (and every ``cycles`` after, if periodic)."""
        if cycles <= 0:
            raise KernelPanic("timer: interval must be positive", cycles=cycles)
        self.cancel()
        self.cpu.charge(self.cpu.profile.timer_program)
        self.period = cycles if periodic else 0
        self._event = self.cpu.clock.after(cycles, self._expire)
        self._armed += 1

    def cancel(self) -> None:
        """Stop the timer; a pending expiry will not interrupt."""
        if self._event is not None:
            self.cpu.clock.cancel(self._event)
            self._event = None

    def _expire(self, _arg: object) -> None:
        """Clock callback: raise the timer interrupt and re-arm a periodic timer."""
        self._fired += 1
        if self.period:     # reload from the deadline, not from when it was noticed
            clk, at = self.cpu.clock, self._event.at  # type: ignore[union-attr]
            missed = max(0, clk.now - at) // self.period
            self._event = clk.schedule(at + (missed + 1) * self.period, self._expire)
        else:
            self._event = None
        self.cpu.raise_irq(IRQ_TIMER)

    def statistics(self) -> TimerStats:
        """Return a frozen snapshot of the timer's counters."""
        return TimerStats(self._armed, self._fired)
