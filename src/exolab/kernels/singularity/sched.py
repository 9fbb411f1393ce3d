"""Kernel threads of every SIP, scheduled round-robin in the one address space.

A switch between threads (of one SIP or of two) loads no address space and
flushes no TLB: every SIP lives in the kernel's address space with paging
off. It costs the scheduler's path (``sing_sched``) and the CPU's register
save and restore (charged by ``cpu.switch_to``).

Preemption: the kernel's tick (:mod:`exolab.kernels.common.tick`, a slice of
:data:`SLICE_US`) marks the end of a slice with ``resched`` when another
thread is ready; the running thread takes it at its next *preemption point*,
the start of its next call into the kernel (``SipOS._begin``), and goes to
the back of the ready queue. A SIP's calls are kernel code run as procedure
calls, so the kernel is never switched away from in the middle of one (as a
non-preemptive kernel returning to user mode); a SIP that computes for ever
still calls ``compute``, and is preempted there.

Interface::

    Scheduler(c_sched, tick=None)   tick: started as the idle loop dispatches
      ready: deque[SimThread]
      add(thread)                 make runnable
      dispatch(cpu) -> bool       from the idle loop: run the next ready thread
      yield_(cpu, owner=None) -> bool   the caller goes to the back (to a thread of
                                  ``owner`` only, if given); False: nobody else
      forget(thread)              it ended
      resched: bool               a slice ended with another thread ready
      preempt(cpu) -> bool        at a preemption point: the caller goes to the back
      sleep(cpu, *queues)         wait on every queue until one wakes the caller
      wakeup(queue)               every sleeper of ``queue`` becomes ready
      statistics() -> SchedStats
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from exolab.errors import KernelPanic
from exolab.kernels.common.schedstats import SwitchSleepWake
from exolab.machine.cpu import KERNEL
from exolab.machine.threads import DEAD, SimThread

__all__ = ["Scheduler", "SchedStats", "SLICE_US"]

#: the slice; estimate: 10 ms, the monolithic kernel's quantum (the Singularity
#: papers publish no figure)
SLICE_US = 10_000


@dataclass(frozen=True, slots=True)
class SchedStats(SwitchSleepWake):
    """Switches, sleeps and wakeups, and the slices that ended in a preemption."""

    preemptions: int = 0


class Scheduler:
    """A ready queue and sleep queues; see the module docstring."""

    __slots__ = ("ready", "resched", "tick", "_asleep", "_c_sched", "_switches", "_sleeps",
                 "_wakeups", "_preemptions")

    def __init__(self, c_sched: int, tick: Any = None) -> None:
        self.ready: deque[SimThread] = deque()
        self.resched = False
        self.tick = tick                    # the kernel's tick (common/tick.py), or None
        self._asleep: set[int] = set()
        self._c_sched = c_sched
        self._switches = self._sleeps = self._wakeups = self._preemptions = 0

    def add(self, t: SimThread) -> None:
        """Make ``t`` runnable."""
        self.ready.append(t)

    def _next(self) -> SimThread | None:
        """The next live ready thread, or None."""
        ready = self.ready
        while ready:
            t = ready.popleft()
            if t.state != DEAD:
                return t
        return None

    def _next_of(self, owner: Any) -> SimThread | None:
        """The first live ready thread of ``owner`` (taken out of the queue), or None."""
        for i, t in enumerate(self.ready):
            if t.owner is owner and t.state != DEAD:
                del self.ready[i]
                return t
        return None

    def _switch(self, cpu: Any, t: SimThread) -> None:
        """Run ``t``: the scheduler's path, then the register switch (no ASID)."""
        cpu.clock.now += self._c_sched
        self._switches += 1
        self.resched = False                # the thread switched to starts a slice
        prev, cpu.mode = cpu.mode, KERNEL   # the kernel's code, entered by a call
        try:
            asid = t.owner.asid             # 0 for every SIP unless the knob says
            if asid != cpu.asid:            # another domain: load it (untagged: flush)
                cpu.set_asid(asid)
            cpu.switch_to(t)
        finally:
            cpu.mode = prev

    def dispatch(self, cpu: Any) -> bool:
        """From the idle loop: run the next ready thread (the tick on); False if none."""
        t = self._next()
        if t is None:
            return False
        if self.tick is not None:
            self.tick.start()
        self._switch(cpu, t)
        return True

    def yield_(self, cpu: Any, owner: Any = None) -> bool:
        """Give the CPU to the next ready thread (of ``owner`` only, if given);
        False if there is none."""
        t = self._next() if owner is None else self._next_of(owner)
        if t is None:
            return False
        self.ready.append(cpu.current)
        self._switch(cpu, t)
        return True

    def preempt(self, cpu: Any) -> bool:
        """At a preemption point, with ``resched`` set: the running thread goes to the
        back of the ready queue; False if no other thread is ready after all."""
        self.resched = False
        if cpu.current is None or not self.yield_(cpu):
            return False
        self._preemptions += 1
        return True

    def sleep(self, cpu: Any, *queues: list[SimThread]) -> None:
        """Sleep on every queue until one of them is woken."""
        me = cpu.current
        if me is None:
            raise KernelPanic("singularity: sleep with no current thread")
        for q in queues:
            q.append(me)
        self._asleep.add(me.tid)
        self._sleeps += 1
        t = self._next()
        if t is None:
            prev, cpu.mode = cpu.mode, KERNEL
            try:
                cpu.idle()
            finally:
                cpu.mode = prev
        else:
            self._switch(cpu, t)

    def wakeup(self, queue: list[SimThread]) -> None:
        """Make every sleeper of ``queue`` ready (once, whatever else it sleeps on)."""
        for t in queue:
            if t.tid in self._asleep:
                self._asleep.discard(t.tid)
                self.ready.append(t)
                self._wakeups += 1
        queue.clear()

    def forget(self, t: SimThread) -> None:
        """``t`` ended: it sleeps nowhere any more."""
        self._asleep.discard(t.tid)

    def statistics(self) -> SchedStats:
        """A frozen snapshot of the counters."""
        return SchedStats(self._switches, self._sleeps, self._wakeups, self._preemptions)
