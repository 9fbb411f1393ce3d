"""SPIN's integrated C-Threads: a thread package built as an extension on Strand.

The paper's "integrated" user-level threads: the C-Threads interface is
exported to an application by an in-kernel package that manages strands
itself instead of layering on the UNIX server's threads. Each operation is
one system call into the package (``spin_syscall_path``, then
``spin_cthread_op`` of the package's own work). The package is the trusted
handler of the ``Strand`` events of the strands it holds (the caller, adopted
at its first call, and every cthread it forks):

- ``Block``: the strand's descriptor is marked blocked;
- ``Unblock``: it is marked runnable and the package answers "front": a
  woken cthread runs next (a signal hands the processor to the waiter, a
  cthread's end to its joiner), ahead of unrelated ready strands;
- ``Checkpoint`` / ``Resume``: the cthread's user-level state (its
  ``cthread_self`` word and errno) is saved to and restored from its
  descriptor, two memory accesses each; the handler answers ``SAVED``, so
  the trusted package does not save the general strand state for it
  (``spin_strand_state``, sched.py): a switch between two cthreads costs
  the scheduler's part of the switch and the package's two words.

Every handler is a procedure call through the dispatcher (``spin_raise`` and
one ``spin_proc_call`` per guard and handler). A cthread's strand comes from
the package's cache of strands and stacks (``spin_strand_create``, no VM
calls); a cthread that ends wakes its joiners from the kernel's thread-exit
hook (its return is already a kernel entry). Handles and conditions reach
the application as externalized references (EBADF/EPERM on a bad one).

Interface::

    CThread, CCondition                    the package's capability types
    Package(kernel)
      fork(cpu, proc, fn, args) -> CThread    join(cpu, proc, t) -> value
      condition(cpu, proc) -> CCondition      wait(cpu, proc, c)   signal(cpu, proc, c)
      ended(thread)                           (the kernel's thread-exit hook)
      statistics() -> PackageStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from exolab.errors import SyscallError
from exolab.kernels.common.args import func
from exolab.kernels.monolithic.proc import Process, admit_thread, start_thread
from exolab.kernels.spin.dispatch import Owner
from exolab.kernels.spin.sched import SAVED
from exolab.machine.cpu import CPU
from exolab.machine.threads import DEAD, SimThread
from exolab.safe.sealed import Sealed

if TYPE_CHECKING:
    from exolab.kernels.spin.kernel import Spin

__all__ = ["CThread", "CCondition", "Package", "PackageStats"]


class CThread(metaclass=Sealed):
    """A cthread the package forked: its strand, value and joiners."""

    __slots__ = ("_tid", "_done", "_claimed", "_value", "_joiners", "_pid")

    def __init__(self, tid: int, pid: int) -> None:
        self._tid, self._pid = tid, pid
        self._done = self._claimed = False
        self._value: Any = None
        self._joiners: list[SimThread] = []

    def __repr__(self) -> str:
        return "<CThreads.T>"


class CCondition(metaclass=Sealed):
    """A condition: the strands waiting on it, first come first woken."""

    __slots__ = ("_queue", "_pid")

    def __init__(self, pid: int) -> None:
        self._queue: list[SimThread] = []
        self._pid = pid

    def __repr__(self) -> str:
        return "<CThreads.Condition>"


@dataclass(frozen=True, slots=True)
class PackageStats:
    """Cthreads forked and joined, waits, signals, Strand events handled."""

    forked: int
    joined: int
    waits: int
    signals: int
    handled: int


class Package:
    """The integrated thread package of one SPIN kernel."""

    def __init__(self, kernel: "Spin") -> None:
        self.k = kernel
        self.owner = Owner("CThreads", trusted=True)
        self.c_op = kernel.paths["spin_cthread_op"]
        self.c_state = 2 * kernel.machine.profile.load_store   # two words saved/restored
        self._mine: set[int] = set()            # tids of strands the package holds
        self._threads: dict[int, CThread] = {}  # tid -> the cthread it runs
        self._installed = False
        self.forked = self.joined = self.waits = self.signals = self.handled = 0

    # -- the Strand handlers ---------------------------------------------------------

    def _install(self) -> None:
        """Install the package's handler on each Strand event, for its strands."""
        if self._installed:
            return
        self._installed = True
        d, events = self.k.dispatcher, self.k.core.strand_events
        mine = self._mine

        def guard(s: Any) -> bool:
            return s._tid in mine

        handlers: dict[str, Callable[[Any], Any]] = {
            "Block": self._on_block, "Unblock": self._on_unblock,
            "Checkpoint": self._on_switch, "Resume": self._on_switch}
        for name, fn in handlers.items():
            d.install(events[name], fn, guard, self.k.core.cap, self.owner)

    def _on_block(self, s: Any) -> None:
        """Strand.Block: mark the descriptor blocked (one store)."""
        self.handled += 1
        self.k.machine.cpu.charge(self.c_state // 2)

    def _on_unblock(self, s: Any) -> str:
        """Strand.Unblock: mark it runnable; a woken cthread runs next."""
        self.handled += 1
        self.k.machine.cpu.charge(self.c_state // 2)
        return "front"

    def _on_switch(self, s: Any) -> str:
        """Checkpoint/Resume: save or restore the cthread's user-level state (the
        package's two words, instead of the trusted package's state)."""
        self.handled += 1
        self.k.machine.cpu.charge(self.c_state)
        return SAVED

    def _enter(self, cpu: CPU) -> None:
        """The package's own work on a call; the caller's strand becomes its own."""
        cpu.charge(self.c_op)
        self._install()
        self._mine.add(cpu.current.tid)  # type: ignore[union-attr]

    # -- the calls -------------------------------------------------------------------

    def fork(self, cpu: CPU, proc: Process, fn: Any, args: Any) -> CThread:
        """Start a cthread running ``fn(os, *args)`` on a strand from the cache."""
        func(fn, "fn")
        if type(args) is not tuple and type(args) is not list:
            raise SyscallError("EINVAL", "arguments must be a tuple")
        admit_thread(self.k, proc)
        self._enter(cpu)
        cpu.charge(self.k.paths["spin_strand_create"])
        t = start_thread(self.k, proc, fn, tuple(args))
        ct = CThread(t.tid, proc.pid)
        self._mine.add(t.tid)
        self._threads[t.tid] = ct
        self.forked += 1
        return ct

    def join(self, cpu: CPU, proc: Process, ct: CThread) -> Any:
        """Block until ``ct`` ends (Strand.Block); its value. EINVAL: another
        process's cthread, or one another strand is joining already."""
        if ct._pid != proc.pid or ct._claimed:
            raise SyscallError("EINVAL", "not a cthread this strand can join")
        ct._claimed = True
        self._enter(cpu)
        if not ct._done:
            self.k.sched.sleep(cpu, ct._joiners)
        self.joined += 1
        return ct._value

    def condition(self, cpu: CPU, proc: Process) -> CCondition:
        """A new condition."""
        self._enter(cpu)
        return CCondition(proc.pid)

    def wait(self, cpu: CPU, proc: Process, c: CCondition) -> None:
        """Block the caller on ``c`` until a signal (Strand.Block)."""
        if c._pid != proc.pid:
            raise SyscallError("EINVAL", "not a condition of this process")
        self._enter(cpu)
        self.waits += 1
        self.k.sched.sleep(cpu, c._queue)

    def signal(self, cpu: CPU, proc: Process, c: CCondition) -> None:
        """Wake the first strand waiting on ``c`` (Strand.Unblock: it runs next)."""
        if c._pid != proc.pid:
            raise SyscallError("EINVAL", "not a condition of this process")
        self._enter(cpu)
        self.signals += 1
        self._wake_one(c._queue)

    def _wake_one(self, queue: list[SimThread]) -> None:
        """Make the first live strand of ``queue`` ready."""
        sched = self.k.sched
        while queue:
            t = queue.pop(0)
            sched.asleep.pop(t.tid, None)
            if t.state != DEAD:
                sched.wakeups += 1
                sched.make_ready(t)
                return

    def ended(self, t: SimThread) -> None:
        """A strand ended: a cthread's value goes to its joiners, who are woken."""
        self._mine.discard(t.tid)
        ct = self._threads.pop(t.tid, None)
        if ct is None:
            return
        ct._done, ct._value = True, t.result
        while ct._joiners:
            self._wake_one(ct._joiners)

    def statistics(self) -> PackageStats:
        """Return a frozen snapshot of the package's counters."""
        return PackageStats(self.forked, self.joined, self.waits, self.signals,
                            self.handled)
