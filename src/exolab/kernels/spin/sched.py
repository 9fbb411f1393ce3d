"""SPIN's trusted thread package and scheduler, raising the Strand events.

The default package is the UNIX server's round-robin scheduler (inherited);
SPIN adds the Strand interface around it: ``Strand.Block`` when a strand
sleeps, ``Strand.Unblock`` when it becomes runnable, ``Strand.Checkpoint``
for the strand leaving the processor and ``Strand.Resume`` for the one
placed on it. Handlers installed for a strand (by presenting its capability,
:meth:`Core.install_for`) run as procedures; an ``Unblock`` handler that
answers ``"front"`` queues its strand first: an application-specific policy
layered on the default one. With no handler installed the events cost
nothing beyond the switch path (the trusted package's defaults are folded
into ``spin_switch_path``). A package whose Checkpoint or Resume handler
answers :data:`SAVED` has saved or restored that strand's state itself, so
the trusted package's own part for it (``spin_strand_state``) is not done:
a switch between two strands of such a package costs the switch path less
two of those, plus the package's handlers (SPIN's strands: a package
defines how much state its threads carry).

Every event is raised on the strand it concerns whenever that strand can be
current: ``Block`` and ``Checkpoint`` before the strand leaves, ``Resume``
once the arriving strand is current again (a strand's first run, which no
client can hold a capability for yet, is resumed before the switch);
``Unblock`` on the waker's strand. A handler runs mid-switch, so it may not
block: a sleep or yield inside one is EBUSY, and an exit it asks for takes
effect when its strand next runs (the strand is marked killed). Each raise is
an invocation under the cycle bound (bound.py), whose overrun is contained at
the raise so the switch goes on; the time a strand spends switched out or
asleep is not counted as its own.

Interface::

    SpinScheduler(kernel)    Scheduler + make_ready, wakeup, sleep, _switch raising
                             the Strand events; custom (raises delivered) counter
    SAVED                    what a Checkpoint/Resume handler answers when it saved
                             or restored the strand's state itself
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from exolab.errors import SyscallError
from exolab.kernels.spin.bound import Overrun, tid_of
from exolab.kernels.monolithic.sched import Scheduler
from exolab.machine.cpu import CPU
from exolab.machine.threads import DEAD, SimThread, ThreadExit

if TYPE_CHECKING:
    from exolab.kernels.spin.kernel import Spin

__all__ = ["SpinScheduler", "SAVED"]

SAVED = "saved"


class SpinScheduler(Scheduler):
    """Round-robin, with the Strand events raised to installed handlers."""

    def __init__(self, kernel: "Spin") -> None:
        super().__init__(kernel)
        self.core = kernel.core
        self.events = kernel.core.strand_events
        self.dispatcher = kernel.dispatcher
        self.custom = 0                     # Strand events delivered to handlers
        self.c_full = self.c_switch         # the trusted package's whole switch
        self.c_state = kernel.paths["spin_strand_state"]
        self._raising = 0                   # Strand events being delivered (no blocking)
        self._arriving: set[int] = set()    # tids whose Resume is raised on arrival
        self.meter = kernel.meter           # the cycle bound (bound.py)
        self._cpu = kernel.machine.cpu

    def _raise(self, name: str, t: SimThread) -> object:
        """Raise Strand.<name> for ``t`` if anyone handles it; the combined result."""
        ev = self.events[name]
        if not ev.handlers:
            return None
        self.custom += 1
        self._raising += 1
        meter = self.meter
        try:                                # an invocation under the cycle bound
            return meter.run(tid_of(self._cpu), self.dispatcher.raise_,
                             (ev, self.core.strand_of(t)))
        except ThreadExit:                  # an exit asked for mid-switch: the strand
            return None                     # is marked killed and ends when it runs
        except Overrun as ex:               # nested in an invocation past its bound:
            meter.contain(ex)               # contained here, the switch goes on (the
            return None                     # outer one ends at its next check point)
        except Exception:                   # a trusted handler's error: contained
            return None
        finally:
            self._raising -= 1

    def _no_block(self) -> None:
        """EBUSY inside a Strand handler: the switch it runs in cannot nest."""
        if self._raising:
            raise SyscallError("EBUSY", "a Strand event handler may not block or yield")

    def _arrive(self, cpu: CPU) -> None:
        """The current strand has arrived: raise its deferred Resume; the trusted
        package restores its state unless a handler SAVED it."""
        me = cpu.current
        if me is None or me.tid not in self._arriving:
            return
        self._arriving.discard(me.tid)
        if self._raise("Resume", me) != SAVED:
            cpu.charge(self.c_state)

    def forget(self, tid: int) -> None:
        """A strand ended: no Resume is due to it."""
        self._arriving.discard(tid)

    def make_ready(self, t: SimThread) -> None:
        """Queue ``t`` (first, if an Unblock handler asks for it)."""
        if t.state == DEAD:
            return
        if self._raise("Unblock", t) == "front":
            self.ready.appendleft(t)
        else:
            self.ready.append(t)

    def wakeup(self, queue: list[SimThread]) -> None:
        """Make every thread sleeping on ``queue`` ready (through Unblock)."""
        if not queue:
            return
        if not self.events["Unblock"].handlers:
            super().wakeup(queue)
            return
        woken = list(queue)
        queue.clear()
        for t in woken:
            self.asleep.pop(t.tid, None)
            self.make_ready(t)
        self.wakeups += len(woken)

    def sleep(self, cpu: CPU, queue: list[SimThread]) -> None:
        """Block the current strand (Strand.Block), then the default sleep (its
        time asleep is not its own: bound.Meter.off/on)."""
        self._no_block()
        me = cpu.current
        if me is not None:
            self._raise("Block", me)
        away = me is not None and self.meter.off(me.tid)
        try:
            super().sleep(cpu, queue)
        finally:
            if away:
                self.meter.on(me.tid)  # type: ignore[union-attr]
        self._arrive(cpu)               # woken from the idle loop

    def yield_(self, cpu: CPU) -> None:
        """The default yield, refused inside a Strand handler."""
        self._no_block()
        super().yield_(cpu)

    def preempt(self, cpu: CPU) -> None:
        """Timer tick: never inside a Strand handler (the switch cannot nest)."""
        if not self._raising:
            super().preempt(cpu)

    def yield_within(self, cpu: CPU) -> None:
        """thread_yield, refused inside a Strand handler."""
        self._no_block()
        super().yield_within(cpu)

    def _switch(self, cpu: CPU, t: SimThread) -> None:
        """Checkpoint the leaving strand, switch, Resume the arriving one once it is
        current; the trusted package's part is left out for each strand a handler
        SAVED (a deferred Resume's part is charged on arrival unless SAVED)."""
        cur = cpu.current
        saved = 0
        if cur is not None and self._raise("Checkpoint", cur) == SAVED:
            saved += 1
        if not self.events["Resume"].handlers:
            pass
        elif t.glet is None:            # a first run: nobody holds its strand yet
            if self._raise("Resume", t) == SAVED:
                saved += 1
        else:
            self._arriving.add(t.tid)   # raised by t itself, once current
            saved += 1
        self.c_switch = self.c_full - saved * self.c_state     # read by the switch
        meter = self.meter
        away = cur is not None and meter.off(cur.tid)   # switched out: not its cycles
        try:
            super()._switch(cpu, t)
        finally:
            if away:
                meter.on(cur.tid)  # type: ignore[union-attr]
        self._arrive(cpu)
