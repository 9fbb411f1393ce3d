"""The cycle bound on in-kernel code: an invocation that overruns it is ended.

SPIN unloads "an extension that faults or overruns its bound". In-kernel code
runs in kernel mode, where the CPU takes no interrupt, and a loop that charges
cycles (``while True: Clock.Time()``) makes simulated progress, so neither
preemption nor the verifier's fuel ends it. The meter bounds every outermost
in-kernel *invocation* on a strand: a domain call, a dispatched handler or
guard, a ``spin_kernel`` body, a program's in-kernel fault handler, a Strand
event's handlers. Entry records the strand's own clock; nested invocations
count toward the outermost one. Each *check point* (every gate, every
``Spin.kcall``, the personality's time, compute, random and memory calls)
compares the cycles the strand has run since entry with the bound; past it the
check raises :class:`Overrun` on that strand (never from a clock callback).

A strand's own cycles leave out the time it spends switched out: the scheduler
calls :meth:`Meter.off` when a strand with an open invocation leaves the CPU
(a switch, a sleep) and :meth:`Meter.on` when it is back, and that stretch is
not counted.

:class:`Overrun` derives from :class:`~exolab.safe.runtime.Exhausted` (a
``BaseException``): verified code cannot catch it. The innermost boundary of
untrusted code it leaves (``dispatch.invoke``, a dispatched binding) names
that code's owner the culprit and unloads it; trusted kernel code passes it
on; the outermost invocation turns it into ``EFAULT`` for its caller (or, for
a fault or event handler, into what a faulting handler gets).

Interface::

    Overrun(used, bound)         culprit: the Owner blamed (None: not yet named)
    Invocation                   one strand's open invocation (slotted)
    Meter(cpu, bound, unload)    open: tid -> Invocation (empty: nothing to check);
                                 unload(owner): remove a culprit's bindings, count it
      run(tid, fn, args)         fn(*args) as an invocation on tid: the outermost turns
                                 an Overrun into EFAULT (the culprit unloaded, once)
      contain(ex) -> SyscallError  unload ex's culprit (once); the EFAULT it becomes
      enter(tid)  exit(tid)      an invocation's scope; depth(tid) -> nesting
      check()                    the current strand's check point (Overrun)
      charge(cycles)             cpu.charge, then the check point (a gate's charge)
      off(tid) -> bool   on(tid) the strand leaves / regains the CPU
      used(tid) -> cycles        forget(tid)      statistics() -> MeterStats
    tid_of(cpu) -> int           the current strand's id (0: none, the idle CPU)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from exolab.errors import SyscallError
from exolab.safe.runtime import Exhausted

if TYPE_CHECKING:
    from exolab.kernels.spin.dispatch import Owner

__all__ = ["Overrun", "Invocation", "Meter", "MeterStats", "tid_of"]


class Overrun(Exhausted):
    """An in-kernel invocation ran past its cycle bound; uncatchable by verified code."""

    def __init__(self, used: int, bound: int) -> None:
        super().__init__(f"in-kernel invocation ran {used} cycles, past its bound "
                         f"of {bound}")
        self.used = used
        self.bound = bound
        self.culprit: "Owner | None" = None     # whose code ran at the check point
        self.contained = False                  # the culprit was unloaded and counted


@dataclass(slots=True, eq=False)
class Invocation:
    """One strand's open in-kernel invocation; guarded by the meter."""

    start: int          # the clock at the outermost entry
    depth: int = 1      # entries open (nested ones count toward the outermost)
    away: int = 0       # cycles since entry the strand spent switched out
    left: int = -1      # the clock when it last left the CPU (-1: it is on it)


@dataclass(frozen=True, slots=True)
class MeterStats:
    """Invocations bounded, overruns, and the most cycles one invocation ran."""

    invocations: int
    overruns: int
    longest: int


def tid_of(cpu: Any) -> int:
    """The current strand's id; 0 when none is current (an interrupt on the idle CPU)."""
    t = cpu.current
    return 0 if t is None else t.tid


class Meter:
    """Per-strand cycle accounting of open in-kernel invocations."""

    __slots__ = ("cpu", "clock", "bound", "unload", "open", "invocations", "overruns",
                 "longest")

    def __init__(self, cpu: Any, bound: int, unload: Callable[["Owner"], Any]) -> None:
        self.cpu = cpu
        self.clock = cpu.clock
        self.bound = bound                          # limits.MAX_INVOCATION_CYCLES
        self.unload = unload                        # the dispatcher's, for a culprit
        self.open: dict[int, Invocation] = {}       # tid -> its open invocation
        self.invocations = self.overruns = self.longest = 0

    def run(self, tid: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """``fn(*args)`` as an invocation on ``tid``; at the outermost an Overrun
        becomes EFAULT (:meth:`contain`), a nested one goes on unwinding."""
        self.enter(tid)
        try:
            return fn(*args)
        except Overrun as ex:
            if self.depth(tid) > 1:
                raise
            raise self.contain(ex) from None
        finally:
            self.exit(tid)

    def contain(self, ex: Overrun) -> SyscallError:
        """Unload ``ex``'s culprit (once: its exports and handlers go) and return
        the EFAULT its invocation's caller gets."""
        culprit = ex.culprit
        if not ex.contained:
            ex.contained = True
            if culprit is not None and not culprit.trusted:
                self.unload(culprit)
        return SyscallError("EFAULT", "in-kernel code overran its cycle bound and was "
                            "unloaded", error="Overrun", cycles=ex.used, bound=ex.bound,
                            extension=culprit.name if culprit is not None else None)

    def enter(self, tid: int) -> None:
        """Open an invocation on ``tid`` (a nested one counts toward the outermost)."""
        inv = self.open.get(tid)
        if inv is None:
            self.open[tid] = Invocation(self.clock.now)
            self.invocations += 1
        else:
            inv.depth += 1

    def exit(self, tid: int) -> None:
        """Close the innermost invocation on ``tid``; the outermost records its cycles."""
        inv = self.open.get(tid)
        if inv is None:
            return
        inv.depth -= 1
        if inv.depth <= 0:
            del self.open[tid]
            self.longest = max(self.longest, self._used(inv))

    def depth(self, tid: int) -> int:
        """How many invocations are open on ``tid`` (0: none)."""
        inv = self.open.get(tid)
        return 0 if inv is None else inv.depth

    def _used(self, inv: Invocation) -> int:
        """Cycles the strand has run in ``inv``: since entry, less its time away."""
        now = self.clock.now
        away = inv.away + (now - inv.left if inv.left >= 0 else 0)
        return now - inv.start - away

    def used(self, tid: int) -> int:
        """Cycles ``tid`` has run in its open invocation (0: none open)."""
        inv = self.open.get(tid)
        return 0 if inv is None else self._used(inv)

    def check(self) -> None:
        """The current strand's check point: Overrun if its invocation is past the bound."""
        inv = self.open.get(tid_of(self.cpu))
        if inv is not None:
            used = self._used(inv)
            if used > self.bound:
                self.overruns += 1
                raise Overrun(used, self.bound)

    def charge(self, cycles: int) -> None:
        """Charge ``cycles`` (a gate's procedure call), then the check point."""
        self.cpu.charge(cycles)
        if self.open:
            self.check()

    def off(self, tid: int) -> bool:
        """``tid`` leaves the CPU: True if this call started its time away (the
        caller then calls :meth:`on` when it is back)."""
        inv = self.open.get(tid)
        if inv is None or inv.left >= 0:
            return False
        inv.left = self.clock.now
        return True

    def on(self, tid: int) -> None:
        """``tid`` is back on the CPU: its time away is not its own."""
        inv = self.open.get(tid)
        if inv is not None and inv.left >= 0:
            inv.away += self.clock.now - inv.left
            inv.left = -1

    def forget(self, tid: int) -> None:
        """The strand ended: drop whatever it had open."""
        inv = self.open.pop(tid, None)
        if inv is not None:
            self.longest = max(self.longest, self._used(inv))

    def statistics(self) -> MeterStats:
        """Return a frozen snapshot of the meter's counters."""
        return MeterStats(self.invocations, self.overruns, self.longest)
