"""The cycle clock and the event queue.

Simulated time is one integer, :attr:`Clock.now`, in cycles. It moves only when
something charges a cost (:meth:`CPU.charge`) or when an idle CPU skips ahead
to the next event. Events are callbacks scheduled at a cycle; events due at the
same cycle fire in the order they were scheduled, so a run is deterministic.
The seeded :attr:`Clock.rng` is the only source of randomness in a simulation.

Interface::

    Clock(seed)
      now                       current cycle (int)
      deadline                  cycle of the earliest pending event (or INF)
      rng                       random.Random(seed): the machine's randomness
      user_rng                  a second stream from the seed: what programs draw
      schedule(at, fn, arg)     run fn(arg) once now >= at; returns an Event
      after(delay, fn, arg)     schedule(now + delay, ...)
      cancel(event)             the event will not fire
      fire_due()                run every event with at <= now (charge points call this)
      skip_to_next()            idle: advance now to the next event; False if none
      statistics()              ClockStats
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from typing import Any, Callable

from exolab.errors import KernelPanic

__all__ = ["Clock", "Event", "ClockStats", "INF"]

INF = 1 << 62


class Event:
    """A callback scheduled at a cycle; owned by the clock until it fires."""

    __slots__ = ("at", "seq", "fn", "arg", "cancelled", "queued")

    def __init__(self, at: int, seq: int, fn: Callable[[Any], None], arg: Any) -> None:
        self.at = at                # cycle at which the event is due
        self.seq = seq              # tie-breaker: scheduling order
        self.fn = fn                # callback, called as fn(arg)
        self.arg = arg
        self.cancelled = False      # set by Clock.cancel
        self.queued = True          # still in the clock's heap

    def __lt__(self, other: "Event") -> bool:
        return (self.at, self.seq) < (other.at, other.seq)


@dataclass(frozen=True, slots=True)
class ClockStats:
    """Counters of the clock: current cycle and events scheduled/fired/cancelled."""

    now: int
    scheduled: int
    fired: int
    cancelled: int
    pending: int


class Clock:
    """Global cycle counter plus a deterministic event queue."""

    __slots__ = ("now", "deadline", "rng", "user_rng", "seed", "_heap", "_seq", "_fired",
                 "_cancelled", "_live", "_dead")

    def __init__(self, seed: int = 0) -> None:
        self.now = 0                # cycles since power-on
        self.deadline = INF         # at of the earliest live event
        self.seed = seed
        self.rng = random.Random(seed)
        # what programs draw (os.random): a stream of its own, so a program never
        # sees the machine's raw draws (TLB replacement, capability minting)
        self.user_rng = random.Random(f"exolab user stream {seed}")
        self._heap: list[Event] = []
        self._seq = 0
        self._fired = 0
        self._cancelled = 0
        self._live = 0              # queued and not cancelled: pending() in O(1)
        self._dead = 0              # cancelled but still in the heap

    def schedule(self, at: int, fn: Callable[[Any], None], arg: Any = None) -> Event:
        """Schedule ``fn(arg)`` at cycle ``at`` (not before now) and return the event."""
        if at < self.now:
            at = self.now
        self._seq += 1
        ev = Event(at, self._seq, fn, arg)
        heapq.heappush(self._heap, ev)
        self._live += 1
        if at < self.deadline:
            self.deadline = at
        return ev

    def after(self, delay: int, fn: Callable[[Any], None], arg: Any = None) -> Event:
        """Schedule ``fn(arg)`` ``delay`` cycles from now."""
        if delay < 0:
            raise KernelPanic("clock: negative delay", delay=delay)
        return self.schedule(self.now + delay, fn, arg)

    def cancel(self, ev: Event) -> None:
        """Make a pending event inert; cancelling twice is harmless."""
        if not ev.cancelled:
            ev.cancelled = True
            self._cancelled += 1
            if ev.queued:
                self._live -= 1
                self._dead += 1
                if self._dead > 64 and self._dead > self._live:
                    self._compact()

    def _compact(self) -> None:
        """Drop every cancelled event from the heap (they would only be skipped):
        the heap holds at most twice the live events plus a constant."""
        live = []
        for ev in self._heap:
            if ev.cancelled:
                ev.queued = False
            else:
                live.append(ev)
        heapq.heapify(live)
        self._heap = live
        self._dead = 0

    def fire_due(self) -> None:
        """Run, in order, every live event whose cycle has come."""
        while self._heap and self._heap[0].at <= self.now:   # (a callback's cancel may
            ev = heapq.heappop(self._heap)                   # compact: a new list)
            ev.queued = False
            if not ev.cancelled:
                self._live -= 1
                self._fired += 1
                ev.fn(ev.arg)
            else:
                self._dead -= 1
        self._reset_deadline()

    def _reset_deadline(self) -> None:
        """Recompute the deadline, dropping cancelled events at the head."""
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap).queued = False
            self._dead -= 1
        self.deadline = heap[0].at if heap else INF

    def skip_to_next(self) -> bool:
        """Advance an idle machine to its next event; return False if there is none."""
        self._reset_deadline()
        if not self._heap:
            return False
        if self.deadline > self.now:
            self.now = self.deadline
        return True

    def pending(self) -> int:
        """Number of live events still queued."""
        return self._live

    def statistics(self) -> ClockStats:
        """Return a frozen snapshot of the clock's counters."""
        return ClockStats(self.now, self._seq, self._fired, self._cancelled,
                          self.pending())
