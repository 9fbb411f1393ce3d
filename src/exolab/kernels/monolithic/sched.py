"""Monolithic kernel scheduler: round-robin, sleep/wakeup, timer preemption.

Threads are :class:`SimThread` objects whose ``owner`` is their Process. A
thread is either running (``cpu.current``), on the ready queue, or asleep on
a wait queue (a plain list owned by the object it waits for: a pipe, a
process being waited for, ...). Every switch charges the kernel's scheduler
path (``mono_switch_path``) plus the CPU's register save/restore, and loads
the next process's ASID (which, on an untagged TLB, flushes it).

Interface::

    Scheduler(kernel)
      make_ready(t)              sleep(cpu, queue)        wakeup(queue)
      yield_(cpu)                dispatch(cpu) -> bool    preempt(cpu)
      yield_within(cpu)          (thread_yield: a thread of the same process only)
      cancel_sleep(t)            statistics()
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exolab.errors import KernelPanic
from exolab.machine.cpu import CPU
from exolab.kernels.common.schedstats import SwitchSleepWake
from exolab.kernels.common.stats import AS_LEVEL
from exolab.machine.threads import DEAD, SimThread

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel

__all__ = ["Scheduler", "SchedStats"]


@dataclass(frozen=True, slots=True)
class SchedStats(SwitchSleepWake):
    """Switches, sleeps, wakeups and preemptions so far."""

    preemptions: int
    ready: int = field(metadata=AS_LEVEL)


class Scheduler:
    """Round-robin over a FIFO ready queue."""

    def __init__(self, kernel: "MonolithicKernel") -> None:
        self.kernel = kernel                    # its tick and quantum: kernel.start_tick
        self.ready: deque[SimThread] = deque()  # runnable, not running
        self.asleep: dict[int, list[SimThread]] = {}   # tid -> queue it sleeps on
        self.c_switch = kernel.paths["mono_switch_path"]
        # a kernel-resident thread's switch (ktest.py: thread_sleep within one task),
        # on a kernel built with resident tests whose profile has the row
        ks = kernel.paths.get("mono_kswitch_path", 0)
        self._resident = kernel._incode if kernel.builds_kernel_tests and ks else None
        self.c_kswitch = ks or self.c_switch
        self.switches = self.sleeps = self.wakeups = self.preemptions = 0

    def make_ready(self, t: SimThread) -> None:
        """Append ``t`` to the ready queue."""
        if t.state != DEAD:
            self.ready.append(t)

    def _switch(self, cpu: CPU, t: SimThread) -> None:
        """Run ``t``: charge the scheduler path, switch address space and context."""
        clk = cpu.clock                 # cpu.charge, inlined (two switches per pipe round trip)
        res, cur = self._resident, cpu.current
        clk.now += (self.c_kswitch if res and cur is not None and cur.tid in res
                    else self.c_switch)
        if clk.now >= clk.deadline:
            cpu.service()
        self.switches += 1
        k = self.kernel
        if not k.tick_on:
            k.start_tick()
        asid = k.asid_for(t.owner.space)
        if asid != cpu.asid:
            cpu.set_asid(asid)
        cpu.switch_to(t)

    def dispatch(self, cpu: CPU) -> bool:
        """From the idle loop: run the next ready thread; False if none."""
        while self.ready:
            t = self.ready.popleft()
            if t.state != DEAD:
                self._switch(cpu, t)
                return True
        return False

    def sleep(self, cpu: CPU, queue: list[SimThread]) -> None:
        """Put the current thread to sleep on ``queue`` until a wakeup. Without the
        stack to switch (RecursionError at the program's limit) it undoes the sleep
        before the error goes on: the caller may retry, no thread is lost."""
        me = cpu.current
        if me is None:
            raise KernelPanic("sched: sleep with no current thread")
        queue.append(me)
        self.asleep[me.tid] = queue
        self.sleeps += 1
        ready = self.ready
        t = None
        asid = cpu.asid
        try:
            while ready:                # dispatch(), inlined: the pipe round trip's path
                t = ready.popleft()
                if t.state != DEAD:
                    self._switch(cpu, t)
                    return
            t = None
            cpu.idle()
        except RecursionError:          # no stack left to switch: undo the sleep, with
            if self.asleep.get(me.tid) is queue and cpu.current is me:  # no call at all
                del self.asleep[me.tid]
                queue.remove(me)
                self.sleeps -= 1
                if t is not None:       # the thread it was switching to stays first
                    ready.appendleft(t)
                cpu.asid = asid
            raise

    def wakeup(self, queue: list[SimThread]) -> None:
        """Make every thread sleeping on ``queue`` ready."""
        if not queue:
            return
        asleep, ready = self.asleep, self.ready
        for t in queue:
            asleep.pop(t.tid, None)
            if t.state != DEAD:
                ready.append(t)
        self.wakeups += len(queue)
        queue.clear()

    def cancel_sleep(self, t: SimThread) -> None:
        """Take ``t`` off whatever queue it sleeps on and make it ready (kill path)."""
        queue = self.asleep.pop(t.tid, None)
        if queue is not None:
            queue.remove(t)
            self.make_ready(t)

    def yield_(self, cpu: CPU) -> None:
        """Requeue the current thread behind the others and run the next one."""
        me = cpu.current
        while self.ready and self.ready[0].state == DEAD:
            self.ready.popleft()
        if me is None or not self.ready:
            return
        nxt = self.ready.popleft()
        self.ready.append(me)
        self._switch(cpu, nxt)

    def yield_within(self, cpu: CPU) -> None:
        """thread_yield: run the first ready thread of the current thread's own process,
        requeueing the current one behind the others; none ready: return at once.
        (Another process's threads are never named or run by this call.)"""
        me = cpu.current
        if me is None:
            return
        owner, ready = me.owner, self.ready
        for i, t in enumerate(ready):
            if t.owner is owner and t.state != DEAD:
                break
        else:
            return
        del ready[i]
        ready.append(me)
        self._switch(cpu, t)

    def preempt(self, cpu: CPU) -> None:
        """Timer tick: preempt the running thread if another is ready."""
        if cpu.current is not None and self.ready:
            self.preemptions += 1
            self.yield_(cpu)

    def statistics(self) -> SchedStats:
        """Return a frozen snapshot of the scheduler's counters."""
        return SchedStats(self.switches, self.sleeps, self.wakeups, self.preemptions,
                          len(self.ready))
