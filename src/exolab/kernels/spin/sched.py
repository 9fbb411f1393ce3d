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

Interface::

    SpinScheduler(kernel)    Scheduler + make_ready, wakeup, sleep, _switch raising
                             the Strand events; custom (raises delivered) counter
    SAVED                    what a Checkpoint/Resume handler answers when it saved
                             or restored the strand's state itself
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from exolab.kernels.monolithic.sched import Scheduler
from exolab.machine.cpu import CPU
from exolab.machine.threads import DEAD, SimThread

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

    def _raise(self, name: str, t: SimThread) -> object:
        """Raise Strand.<name> for ``t`` if anyone handles it; the combined result."""
        ev = self.events[name]
        if not ev.handlers:
            return None
        self.custom += 1
        try:
            return self.dispatcher.raise_(ev, self.core.strand_of(t))
        except Exception:                   # an unloaded handler's EFAULT: contained
            return None

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
        """Block the current strand (Strand.Block), then the default sleep."""
        me = cpu.current
        if me is not None:
            self._raise("Block", me)
        super().sleep(cpu, queue)

    def _switch(self, cpu: CPU, t: SimThread) -> None:
        """Checkpoint the leaving strand, Resume the arriving one, then switch; the
        trusted package's part is left out for each strand a handler SAVED."""
        cur = cpu.current
        saved = 0
        if cur is not None and self._raise("Checkpoint", cur) == SAVED:
            saved += 1
        if self._raise("Resume", t) == SAVED:
            saved += 1
        self.c_switch = self.c_full - saved * self.c_state     # read by the switch
        super()._switch(cpu, t)
