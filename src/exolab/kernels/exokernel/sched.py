"""The CPU as a vector of time slices: allocation, round robin, yield, sleep.

Aegis represents the processor as a linear vector of :data:`SLOTS` time
slices of :data:`SLICE_US` microseconds (15.625 ms, as in the paper); an
environment allocates slices by position — a specific one, a contiguous run,
or spread evenly, as its library OS asks. The timer interrupt marks each
slice boundary and Aegis moves round robin along the vector. When control
passes from one environment to another, the one leaving gets its *epilogue*
upcall (it saves its own registers: Aegis saves none) and the one arriving
gets its *prologue*; an environment whose next slice follows its own gets
both as well (the timer interrupt is delivered to it all the same: its
library OS may schedule its own threads there, as ExOS does). An epilogue that runs longer than
:data:`EPILOGUE_BOUND_US` is charged to the environment's *excess time
counter*; after :data:`MAX_OVERRUNS` overruns (or one that runs into the next
slice boundary) the environment is destroyed.

``yield`` donates the rest of the current slice to a named environment
(directed yield) or the next runnable one; ``sleep`` gives the processor up
until an asynchronous message or a wake arrives (the simulator's way to let
a machine with nothing to do come to rest).

Interface::

    SLOTS, SLICE_US, EPILOGUE_BOUND_US, MAX_OVERRUNS
    Scheduler(kernel)
      alloc(env, position=None, count=1, spread=False) -> list[int]
      release(env)                     yield_(env, target=None) -> bool
      sleep(env)                       wake(env)
      dispatch(cpu) -> bool            tick(cpu)            switch(cpu, to)
      resumed(env)    ensure_tick()    stop_tick()    statistics() -> SchedStats
"""
from __future__ import annotations

from bisect import bisect_right, insort
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exolab.abi import as_flag
from exolab.errors import KernelPanic, SyscallError, safe_str, type_name
from exolab.kernels.common.stats import AS_LEVEL
from exolab.kernels.exokernel.env import LIVE, Environment
from exolab.kernels.exokernel.limits import MAX_OVERRUNS, SLOTS
from exolab.kernels.exokernel.pct import CalleeAbort
from exolab.machine.threads import DEAD, ThreadExit
from exolab.machine.cpu import CPU

if TYPE_CHECKING:
    from exolab.kernels.exokernel.kernel import Aegis

__all__ = ["Scheduler", "SchedStats", "SLOTS", "SLICE_US", "EPILOGUE_BOUND_US",
           "MAX_OVERRUNS"]

SLICE_US = 15.625           # SOSP'95 §4: Aegis time slices are 15.625 ms
EPILOGUE_BOUND_US = 50.0    # Aegis policy: an epilogue saves registers, a few us


@dataclass(frozen=True, slots=True)
class SchedStats:
    """Slice-vector occupancy and what the scheduler has done."""

    slots_owned: int = field(metadata=AS_LEVEL)
    slices: int = field(metadata=AS_LEVEL)
    switches: int
    yields: int
    sleeps: int
    epilogues: int
    overruns: int


class Scheduler:
    """Round robin over the slice vector; every field is guarded by Aegis."""

    def __init__(self, kernel: "Aegis") -> None:
        self.k = kernel
        self.cpu = kernel.cpu
        p = kernel.machine.profile
        self.slice = p.us_to_cycles(SLICE_US * 1000)       # cycles per slice
        self.bound = p.us_to_cycles(EPILOGUE_BOUND_US)     # epilogue budget, cycles
        self.c_scan = kernel.c_path["slice_scan"]         # per slot examined
        self.vector: list[Environment | None] = [None] * SLOTS
        self.owned: list[int] = []              # positions with an owner, ascending
        self.guests: deque[Environment] = deque()     # slice-less, maybe runnable (note)
        self.guest_turn = False                 # the last slice went to a guest
        self.pos = SLOTS - 1                # the slice now running (slot 0 goes first)
        self.in_epilogue: Environment | None = None   # whose epilogue is running
        self.ticking = False                # the slice timer is armed
        self.slices = self.switches = self.yields = self.sleeps = 0
        self.epilogues = self.overruns = 0

    # -- allocation ------------------------------------------------------------------

    def _positions(self, position: Any, count: Any, spread: Any) -> list[int]:
        """Decode a slice request into free positions (EINVAL / EAGAIN)."""
        spread = as_flag(spread, "spread")
        if type(count) is not int or not 1 <= count <= SLOTS:
            raise SyscallError("EINVAL", "bad slice count", count=count)
        if position is None and SLOTS - len(self.owned) < count:    # (before any scan:
            raise SyscallError("EAGAIN", "not enough free slices", count=count,  # with
                               free=SLOTS - len(self.owned))    # every slot owned, each
        free = [i for i, e in enumerate(self.vector) if e is None]  # fork is refused)
        if position is not None:
            if type(position) is not int or not 0 <= position < SLOTS:
                raise SyscallError("EINVAL", "no such slice", position=position)
            want = [(position + i) % SLOTS for i in range(count)]
            if any(self.vector[w] is not None for w in want):
                raise SyscallError("EAGAIN", "slice is taken", position=position)
            return want
        if len(free) < count:
            raise SyscallError("EAGAIN", "not enough free slices", count=count,
                               free=len(free))
        if spread:
            step = len(free) / count
            return [free[int(i * step)] for i in range(count)]
        for start in free:                  # first contiguous run, else any
            run = [(start + i) % SLOTS for i in range(count)]
            if all(self.vector[r] is None for r in run):
                return run
        return free[:count]

    def alloc(self, env: Environment, position: Any = None, count: Any = 1,
              spread: Any = False) -> list[int]:
        """Give ``env`` time slices; return their positions."""
        got = self._positions(position, count, spread)
        for i in got:
            self.vector[i] = env
            insort(self.owned, i)
        env.slots.extend(got)
        return got

    def release(self, env: Environment) -> None:
        """Free every slice ``env`` holds."""
        for i in env.slots:
            if self.vector[i] is env:
                self.vector[i] = None
                self.owned.remove(i)
        env.slots.clear()

    # -- choosing and switching ---------------------------------------------------------

    def _scan(self, exclude: Environment | None) -> tuple[int, Environment | None, int]:
        """The first owned slice after the current one whose owner (not ``exclude``)
        can run: (position, owner, owned slots examined); owner None if there is none."""
        owned, vector = self.owned, self.vector     # (the owned positions, sorted: the
        n = len(owned)                              # same order as a walk of the vector
        start = bisect_right(owned, self.pos)       # from pos + 1, with no empty slots)
        for j in range(n):
            idx = owned[(start + j) % n]
            e = vector[idx]
            if e is not exclude and e.runnable:     # type: ignore[union-attr]
                return idx, e, j + 1
        return -1, None, n

    def _next(self, exclude: Environment | None) -> Environment | None:
        """The next runnable environment after the current slice, round robin."""
        owned, vector = self.owned, self.vector     # (_scan, inlined: the yield path)
        n = len(owned)
        start = bisect_right(owned, self.pos)
        for j in range(n):
            e: Any = vector[owned[(start + j) % n]]    # (an owned slot: never None)
            if e is exclude or e.state != LIVE or e.in_call or not e.ctx:
                continue                            # (Environment.runnable, inlined: at
            t = e.ctx[-1]                           # 10k live the scan meets 64 sleepers)
            if not t.sleeping and t.thread.state != DEAD:
                clk = self.cpu.clock                # cpu.charge, inlined (the yield path)
                clk.now += (j + 1) * self.c_scan
                if clk.now >= clk.deadline:
                    self.cpu.service()
                return e
        self.cpu.charge(max(n, 1) * self.c_scan)
        return self._guest(exclude)

    def note(self, env: Environment) -> None:
        """``env`` may have become runnable: queue it if it owns no slice."""
        if not env.queued and not env.slots and env.state == LIVE:
            env.queued = True
            self.guests.append(env)

    def _guest(self, exclude: Environment | None) -> Environment | None:
        """The next runnable environment owning no slice, round robin over the
        queue (the ones found unable to run leave it until noted again)."""
        guests, held = self.guests, None
        while guests:
            e = guests.popleft()
            e.queued = False
            if e.slots or not e.runnable:
                continue
            if e is exclude:
                held = e
                continue
            self.note(e)                    # (back at the end: it may run again)
            if held is not None:
                self.note(held)
            return e
        if held is not None:
            self.note(held)
        return None

    def _advance(self) -> Environment | None:
        """Move to the next owned slice whose owner can run; return that owner."""
        idx, e, seen = self._scan(None)
        if e is not None:
            self.cpu.charge(seen * self.c_scan)
            self.pos = idx
        return e

    def switch(self, cpu: CPU, to: Environment) -> None:
        """Leave the running environment for ``to``; return when resumed (kernel mode)."""
        k = self.k
        me = k.current
        if me is not None:
            stack = me.ctx
            if stack:
                mine = stack[-1]
                if not mine.borrowed and cpu.current is not None:
                    mine.thread = cpu.current   # the libOS may have switched its threads
            if not me.slots and not me.queued:
                self.note(me)               # (it may still be runnable)
        stack = to.ctx
        if not stack:
            raise KernelPanic("sched: switch to an environment without context",
                              eid=to.eid)
        self.switches += 1
        k.current = to                      # k.enter(to), inlined
        asid = to.asid if to.asid_gen == k.asids.gen else k.asids.of(to)
        if cpu.asid != asid:
            cpu.set_asid(asid)
        cpu.switch_to(stack[-1].thread, False)    # (save=False, positional: a keyword
        #                                   call is a C-level call, and the greenlet switch
        #                                   copies the C stack beneath it)
        env = k.current                     # self.resumed(env), its usual case inlined:
        if env is None or env.state != LIVE or env.inbox:   # (the yield path)
            self.resumed(env)
            return
        prologue = env.entries.get("prologue")
        if prologue is not None:
            try:
                cpu.upcall(prologue)
            except (ThreadExit, CalleeAbort):
                raise
            except Exception as ex:         # (ProgramFault included)
                self._entry_fault(env, ex)

    def dispatch(self, cpu: CPU) -> bool:
        """From the idle loop: run the next runnable environment; False if none."""
        e = self._advance() or self._next(None)
        if e is None:
            return False
        top = e.top
        if top is None:                     # (runnable implies a context)
            raise KernelPanic("sched: dispatch to an environment without context",
                              eid=e.eid)
        self.switches += 1
        self.ensure_tick()
        self.k.enter(e)
        cpu.switch_to(top.thread, False)        # back when the CPU idles again or the
        return True                             # machine pauses (current stays valid)

    def resumed(self, env: Environment | None) -> None:
        """Back on the CPU: unwind if dying, deliver messages, upcall the prologue."""
        if env is None:
            raise KernelPanic("sched: resumed with no environment")
        if env.state != LIVE:
            self.k.unwind(env)
        if env.inbox:
            self.k.deliver(env)
        prologue = env.entries.get("prologue")
        if prologue is not None:
            try:                            # run_entry, inlined (the yield path)
                self.cpu.upcall(prologue)
            except (ThreadExit, CalleeAbort):
                raise
            except Exception as ex:         # (ProgramFault included)
                self._entry_fault(env, ex)

    def _prologue(self, env: Environment) -> None:
        """Upcall ``env``'s prologue (a fault in it destroys ``env``)."""
        prologue = env.entries.get("prologue")
        if prologue is not None:
            try:
                self.cpu.upcall(prologue)
            except (ThreadExit, CalleeAbort):
                raise
            except Exception as ex:         # (ProgramFault included)
                self._entry_fault(env, ex)

    def _entry_fault(self, env: Environment, ex: Exception) -> None:
        """An upcalled entry of ``env`` raised ``ex``: destroy ``env`` (run_entry's rule)."""
        self.k.destroy(env, f"fault in upcall: {type_name(ex)}: {safe_str(ex)}")

    # -- system-call services --------------------------------------------------------------

    def yield_(self, env: Environment, target: Environment | None = None) -> bool:
        """Donate the rest of the slice (to ``target`` or the next); False if nobody ran."""
        self.yields += 1
        if target is not None:
            if target is env or not target.runnable:
                self.k.deliver(env)
                return False
            to: Environment | None = target
        else:
            to = self._next(env)
        if to is None:
            self.k.deliver(env)
            return False
        self.switch(self.cpu, to)
        return True

    def sleep(self, env: Environment) -> None:
        """Give up the processor until a message or a wake arrives."""
        top = env.top
        if top is None:
            raise KernelPanic("sched: sleep without a context", eid=env.eid)
        if env.inbox or env.wake_pending:
            env.wake_pending = False
            self.k.deliver(env)
            return
        self.sleeps += 1
        top.sleeping = True
        if not top.borrowed and self.cpu.current is not None:
            top.thread = self.cpu.current
        to = self._next(env)
        if to is not None:
            self.switch(self.cpu, to)
            return
        self.k.current = None
        self.cpu.idle()                     # dispatch() sets current before resuming us
        self.resumed(self.k.current)

    def wake(self, env: Environment) -> None:
        """Make ``env`` runnable again if it sleeps; else remember the wake."""
        for c in reversed(env.ctx):
            if c.sleeping:
                c.sleeping = False
                self.note(env)
                return
        env.wake_pending = True

    # -- the slice boundary ---------------------------------------------------------------

    def tick(self, cpu: CPU) -> None:
        """Timer interrupt: a slice ends; move round robin, with epilogue and prologue."""
        self.slices += 1
        cur = self.k.current
        if self.in_epilogue is not None:        # an epilogue ran into the next slice
            self.k.destroy(self.in_epilogue, "epilogue ran past the slice boundary")
            return
        nxt = self._advance()
        if self.guests:                         # every other slice goes to the next
            self.guest_turn = not self.guest_turn   # slice-less environment, if one
            if self.guest_turn:                 # can run (they would starve behind
                nxt = self._guest(None) or nxt  # owners that never sleep)
        if cur is None or cpu.current is None:  # the idle loop: dispatch will run one
            return
        if nxt is None or nxt is cur:
            if cur.alive:                       # its slice ends and the next is its own
                self._epilogue(cur)
                if cur.alive and self.k.current is cur:
                    self._prologue(cur)
            return
        if cur.alive:
            self._epilogue(cur)
        self.switch(cpu, nxt)

    def _epilogue(self, env: Environment) -> None:
        """Upcall ``env``'s epilogue and charge any overrun to its excess counter."""
        ep = env.entries.get("epilogue")
        if ep is None:
            return
        self.epilogues += 1
        t0 = self.cpu.clock.now
        self.in_epilogue = env
        try:
            self.k.upcall(env, ep)
        finally:
            self.in_epilogue = None
        over = self.cpu.clock.now - t0 - self.bound
        if over > 0:
            env.excess += over
            env.overruns += 1
            self.overruns += 1
            if env.overruns > MAX_OVERRUNS:
                self.k.destroy(env, "epilogue overran its bound too often")

    def ensure_tick(self) -> None:
        """Arm the slice timer if it is off (it runs while anything is runnable)."""
        if not self.ticking:
            self.k.machine.timer.arm(self.slice, periodic=True)
            self.ticking = True

    def stop_tick(self) -> None:
        """Cancel the slice timer: nothing is runnable, so the machine may come to rest."""
        if self.ticking:
            self.k.machine.timer.cancel()
            self.ticking = False

    def statistics(self) -> SchedStats:
        """Return a frozen snapshot of the scheduler's counters."""
        return SchedStats(sum(e is not None for e in self.vector), self.slices,
                          self.switches, self.yields, self.sleeps, self.epilogues,
                          self.overruns)
