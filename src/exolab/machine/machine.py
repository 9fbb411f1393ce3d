"""The machine: clock, memory, CPUs, timer, disks, NICs and threads, composed.

A :class:`Machine` has no policy. A kernel boots on it by creating threads
and installing its vectors on each CPU; :meth:`Machine.run` then runs the idle
loop on the calling greenlet (the *root*): it asks the kernel to dispatch a
thread (``on_idle``), and when nothing is runnable it skips simulated time to
the next event (a timer, a disk completion, a frame arriving), whose
interrupt the kernel handles. The run ends when nothing can happen any more,
when the kernel halts the machine, or at an optional cycle limit (the
machine pauses and a later :meth:`run` resumes it exactly where it stopped).
A machine built with a cycle budget (``max_cycles``) stops every run there
with reason ``"budget"``: the limit of a whole simulation, not of one call.
:meth:`close` ends a machine that will not run again, so that it can be freed.

Contract for kernels: "nothing can happen any more" means no runnable thread
and no pending event, so a kernel with a periodic tick must cancel it when it
goes idle (both TinyKernel and the monolithic kernel do), or ``run`` would
skip from tick to tick forever. Interrupts raised while the CPU is in kernel
mode are delivered when it returns to user mode or idles, never in the
middle of a kernel path.

Interface::

    Machine(profile="dec5000", *, frames=16384, page_size=4096, seed=0,
            ncpus=1, trace=False, trace_limit=None, max_cycles=None)
      clock, memory, cpus, cpu (= cpus[0]), timer, threads, tracer, profile,
      cache                      the data cache the profile selects (cache.py) or None
      disks, nics                   attach_disk(path, ...), attach_nic(backend)
      run(until=None) -> RunResult  halt()
      next_activity() -> int        after a run: the cycle it next acts on its own
      close()                       end it: unwind every parked greenlet (collectable)
      launch(thread, body)          start a thread's greenlet (for the CPU)
      cycles -> int                 us(cycles) -> float
      statistics() -> MachineStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from greenlet import GreenletExit, getcurrent, greenlet

from exolab.errors import ConfigError, ExolabError
from exolab.hostint import sigint_guard
from exolab.machine.clock import Clock, ClockStats
from exolab.machine.costs import CostProfile, get_profile
from exolab.machine.cpu import CPU, KERNEL, CPUStats
from exolab.machine.cache import Cache, CacheStats
from exolab.machine.memory import MemoryStats, PhysicalMemory
from exolab.machine.threads import DEAD, ThreadStats, ThreadTable
from exolab.machine.timer import Timer, TimerStats
from exolab.machine.tlb import TLB, TLBStats
from exolab.trace.events import Tracer

__all__ = ["Machine", "RunResult", "MachineStats"]

_UNWIND_TRIES = 8       # throws into one greenlet that keeps switching away, then give up


class _Mute:
    """A tracer that records nothing: stands in for the real one while threads unwind."""

    def emit(self, *args: Any) -> None:
        """Drop the event."""

    def name_thread(self, *args: Any) -> None:
        """Drop the name."""


_MUTE: Any = _Mute()


@dataclass(frozen=True, slots=True)
class RunResult:
    """Why a run ended: 'finished', 'halted', 'paused' (the cycle limit of this
    ``run``), 'budget' (the machine's cycle budget: no run goes further) or 'deadlock'."""

    reason: str
    cycles: int
    live_threads: int


@dataclass(frozen=True, slots=True)
class MachineStats:
    """Every component's statistics record, gathered."""

    profile: str
    cycles: int
    microseconds: float
    clock: ClockStats
    memory: MemoryStats
    cpus: tuple[CPUStats, ...]
    tlbs: tuple[TLBStats, ...]
    timer: TimerStats
    threads: ThreadStats
    disks: tuple[Any, ...]
    nics: tuple[Any, ...]
    cache: CacheStats | None = None     # the data cache, if the profile has one


class Machine:
    """One simulated computer."""

    def __init__(self, profile: str | CostProfile = "dec5000", *, frames: int = 16384,
                 page_size: int = 4096, seed: int = 0, ncpus: int = 1,
                 trace: bool = False, trace_limit: int | None = None,
                 max_cycles: int | None = None) -> None:
        if ncpus != 1:
            raise ConfigError("this release ships one CPU", ncpus=ncpus, expected=1)
        if max_cycles is not None and (type(max_cycles) is not int or max_cycles < 1):
            raise ConfigError("the cycle budget must be a positive int",
                              max_cycles=repr(max_cycles))
        self.max_cycles = max_cycles    # cycle budget: run() stops there for good
        self.profile = profile if isinstance(profile, CostProfile) else get_profile(profile)
        self.seed = seed
        self.clock = Clock(seed)
        self.tracer: Tracer | None = Tracer(trace_limit) if trace else None
        self.memory = PhysicalMemory(frames, page_size, self.profile)
        #: the data cache the profile selects (machine/cache.py), or None
        self.cache = Cache(self.profile.cache) if self.profile.cache is not None else None
        self.memory.cache = self.cache
        self.threads = ThreadTable()
        p = self.profile
        self.cpus = [CPU(self, i, TLB(p.tlb_entries, p.tlb_wired, p.asid_bits,
                                      self.clock.rng)) for i in range(ncpus)]
        self.cpu = self.cpus[0]
        self.timer = Timer(self.cpu)
        self.disks: list[Any] = []
        self.nics: list[Any] = []
        self.root = getcurrent()        # greenlet running the idle loop
        self.panic: ExolabError | None = None   # set when a kernel invariant broke
        self._halted = False
        self._paused: Any = None        # thread interrupted by a cycle limit
        self._limit_ev: Any = None      # pending cycle-limit event of run(until=...)
        self._launcher: Any = None      # greenlet that starts new threads (launch)

    @property
    def cycles(self) -> int:
        """Current simulated time in cycles."""
        return self.clock.now

    def us(self, cycles: int) -> float:
        """Convert cycles to microseconds on this machine's profile."""
        return cycles / self.profile.mhz

    def attach_disk(self, path: str, **kwargs: Any) -> Any:
        """Attach a disk backed by the image file at ``path``; return it."""
        from exolab.machine.disk import Disk
        disk = Disk(self, path, index=len(self.disks), **kwargs)
        self.disks.append(disk)
        return disk

    def attach_nic(self, backend: Any = None, **kwargs: Any) -> Any:
        """Attach a NIC with ``backend`` (None: unplugged); return it."""
        from exolab.machine.nic import Nic
        nic = Nic(self, backend, index=len(self.nics), **kwargs)
        self.nics.append(nic)
        return nic

    def halt(self) -> None:
        """Stop the run at the next return to the idle loop."""
        self._halted = True

    def _pause(self, _arg: object) -> None:
        """Clock callback at the cycle limit: park the running thread, return to root."""
        cpu = self.cpu
        if cpu.current is not None and getcurrent() is not self.root:
            self._paused = cpu.current
            cpu.current = None
            mode = cpu.mode                 # user code may be paused: resume it as such
            self.root.switch()
            cpu.mode = mode
        else:   # in the idle loop or the kernel's dispatch: stop the next thread at once
            self._limit_ev = self.clock.after(1, self._pause)

    def launch(self, thread: Any, body: Any) -> None:
        """Start ``thread``'s greenlet, running ``body(thread)``; return when the caller
        is switched back to.

        A new greenlet inherits the Python recursion depth of the greenlet that
        first switches to it, so threads started by threads started by threads
        would run out of depth after a few hundred generations (a spawn loop
        would end in a RecursionError out of the simulator). Run's launcher, a
        greenlet with a shallow stack, starts them all instead.
        """
        launcher = self._launcher
        if launcher is None or launcher.dead or getcurrent() is launcher:
            thread.glet = g = greenlet(body, self.root)   # (no run() yet: start here)
            g.switch(thread)
        else:
            launcher.switch((thread, body))

    def _launcher_main(self) -> None:
        """The launcher's body: start each thread handed to it, from its shallow stack."""
        thread, body = self.root.switch()
        while True:
            thread.glet = g = greenlet(body, self.root)
            thread, body = g.switch(thread)

    def run(self, until: int | None = None) -> RunResult:
        """Run the idle loop until nothing can happen, a halt, or cycle ``until``."""
        from exolab.safe.runtime import metered
        with sigint_guard(), metered(self):     # ^C; fuel and stack for verified code
            return self._run(until)

    def _run(self, until: int | None) -> RunResult:
        """The idle loop of :meth:`run`; the cycle budget is a limit that stays."""
        budget = self.max_cycles
        if budget is not None and (until is None or budget <= until):
            result = self._loop(budget)
            if result.reason == "paused":
                return RunResult("budget", result.cycles, result.live_threads)
            return result
        return self._loop(until)

    def _loop(self, until: int | None) -> RunResult:
        """The idle loop of :meth:`run`, to cycle ``until`` at most."""
        self.root = getcurrent()
        self._launcher = greenlet(self._launcher_main, self.root)
        self._launcher.switch()                 # primed: waits for the first thread
        self._halted = False
        cpu = self.cpu
        self._limit_ev = self.clock.schedule(until, self._pause) if until is not None else None
        reason = "finished"
        try:
            while True:
                if until is not None and self.clock.now >= until:
                    reason = "paused"
                    break
                if self._paused is not None:
                    t, self._paused = self._paused, None
                    cpu.current = t
                    t.glet.switch()
                    cpu.current = None
                elif not self._dispatch(cpu):
                    if self._halted:
                        reason = "halted"
                        break
                    if not self._wait_for_event(cpu, self._limit_ev):
                        reason = "deadlock" if self.threads.live() else "finished"
                        break
                if self.panic is not None:
                    raise self.panic
                if self._paused is not None or self._halted:
                    reason = "paused" if self._paused is not None else "halted"
                    break
        finally:
            if self._limit_ev is not None:
                self.clock.cancel(self._limit_ev)
                self._limit_ev = None
            self._quiet(self._retire_parked, reason != "paused")
        return RunResult(reason, self.clock.now, len(self.threads.live()))

    # -- releasing greenlets: a suspended greenlet's frame is invisible to the GC ------

    def close(self) -> None:
        """End the machine: unwind every suspended thread greenlet and the launcher.

        A parked greenlet's frame holds the CPU and so the machine, and the
        garbage collector cannot see into suspended frames: without this, a
        machine that stopped with blocked or paused threads is never freed.
        Afterwards the machine cannot run its threads again (they are dead);
        its counters, clock, console and trace are what the run left.
        """
        self._paused = None
        self._quiet(self._unwind_threads)

    def _quiet(self, action: Any, *args: Any) -> None:
        """Run ``action(*args)`` leaving the clock, the trace and the panic untouched
        (an unwinding kernel path's ``finally`` charges cycles and emits events)."""
        clock, cpus = self.clock, self.cpus
        now, deadline, panic = clock.now, clock.deadline, self.panic
        tracers = [c.tracer for c in cpus]
        currents = [c.current for c in cpus]
        modes = [c.mode for c in cpus]
        for c in cpus:
            if c.tracer is not None:
                c.tracer = _MUTE        # (a path may hold "tracing on" in a local)
        try:
            action(*args)
        finally:
            clock.now, clock.deadline, self.panic = now, deadline, panic
            for c, tracer, current, mode in zip(cpus, tracers, currents, modes):
                c.tracer, c.current, c.mode = tracer, current, mode

    def _retire_parked(self, sweep_dead: bool) -> None:
        """After a run: unwind the launcher and (``sweep_dead``) the greenlets of threads
        already dead but still suspended (a library OS's retired user-level threads)."""
        launcher, self._launcher = self._launcher, None
        if launcher is not None:
            self._unwind(launcher)
        if sweep_dead:
            for t in self.threads.all():
                g = t.glet
                if g is not None and t.state == DEAD and not g.dead:
                    self._unwind(g)

    def _unwind_threads(self) -> None:
        """Kill every thread whose greenlet is suspended and unwind it."""
        for t in self.threads.all():
            g = t.glet
            if g is not None and not g.dead:
                t.killed = True
                for c in self.cpus:
                    c.current = None
                self._unwind(g)
                t.state = DEAD

    def unwind_greenlet(self, g: Any) -> None:
        """Unwind suspended greenlet ``g`` from here (the CPU's retired threads)."""
        self._unwind(g)

    def _unwind(self, g: Any) -> None:
        """Throw GreenletExit into suspended greenlet ``g`` until it is dead (bounded:
        code that catches it and switches away again is thrown into again)."""
        here = getcurrent()
        if g is here:
            return
        try:
            if g.parent is not here:
                g.parent = here
        except ValueError:              # would make a cycle of parents: leave it
            return
        for _ in range(_UNWIND_TRIES):
            if g.dead:
                return
            try:
                g.throw(GreenletExit)
            except Exception:           # simulated code raised on its way out: it is dead
                pass

    def _dispatch(self, cpu: CPU) -> bool:
        """Ask the kernel to run a thread; True if it ran one (and we are back)."""
        cpu.current = None
        cpu.mode = KERNEL
        ran = bool(cpu.kernel.on_idle(cpu))
        cpu.current = None
        return ran

    def _wait_for_event(self, cpu: CPU, limit_ev: Any = None) -> bool:
        """Idle: skip to the next event and deliver its interrupts; False if none.

        The cycle-limit event of :meth:`run` does not count: a machine with
        nothing else pending has finished, not merely paused.
        """
        if cpu.pending_irqs:            # raised while the kernel ran: take them now
            self._service_idle(cpu)
            return True
        if limit_ev is not None and self.clock.pending() <= 1:
            return False
        before = self.clock.now
        if not self.clock.skip_to_next():
            return False
        cpu.idle_cycles += self.clock.now - before
        self._service_idle(cpu)
        return True

    @staticmethod
    def _service_idle(cpu: CPU) -> None:
        """Fire due events and deliver interrupts with the CPU idling (interrupts open)."""
        cpu.idling = True
        try:
            cpu.service()
        finally:
            cpu.idling = False

    def next_activity(self) -> int:
        """After a :meth:`run` returned: the cycle at which this machine next does
        anything by itself -- now if a thread was parked at the cycle limit, else
        its next pending event (clock.INF if none). A frame from another machine
        can only make it earlier (the lock-step runner's lookahead, machine/wire.py)."""
        if self._paused is not None or self.cpu.pending_irqs:
            return self.clock.now
        self.clock._reset_deadline()
        return max(self.clock.now, self.clock.deadline)

    def statistics(self) -> MachineStats:
        """Return every component's statistics, gathered in one frozen record."""
        return MachineStats(
            self.profile.name, self.clock.now, self.us(self.clock.now),
            self.clock.statistics(), self.memory.statistics(),
            tuple(c.statistics() for c in self.cpus),
            tuple(c.tlb.statistics() for c in self.cpus), self.timer.statistics(),
            self.threads.statistics(), tuple(d.statistics() for d in self.disks),
            tuple(n.statistics() for n in self.nics),
            self.cache.statistics() if self.cache is not None else None)

