"""The CPU as user mode sees it: what a library OS (and its program) may touch.

ExOS runs in its application's protection domain, so everything it holds is
reachable by the program. It therefore holds this view, not the machine's
CPU: loads and stores through the MMU, traps into Aegis, cycle charges and
the cycle counter, exceptions raised on purpose, user-mode thread switches
named by thread id, and a few read-only counters. No public attribute leads
to physical memory, the machine, a kernel or another environment (the bound
methods' owners are reachable only through dunder attributes, which the
program verifier rejects).

Interface::

    UserCPU(cpu)
      load, store, load_bytes, store_bytes, trap, charge, fault   (the CPU's own)
      note_copy(nbytes)       count a bcopy in the memory statistics
      profile                 the cost profile (numbers only)
      page_size               bytes of a page
      now() -> int            the cycle counter
      randbytes(n) -> bytes   from the machine's seeded generator
      current -> int          id of the running thread (0: none)
      user_switch(tid, finished=False)    to a live thread of this domain
      accesses, traps         read-only counters (for measurements)

(A short module: a view.)
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError
from exolab.safe.sealed import Sealed

__all__ = ["UserCPU"]


class UserCPU(metaclass=Sealed):
    """A user-mode view of one CPU (see the module docstring)."""

    __slots__ = ("load", "store", "load_bytes", "store_bytes", "trap", "charge",
                 "fault", "note_copy", "profile", "page_size", "_cpu", "_threads")

    def __init__(self, cpu: Any) -> None:
        self._cpu = cpu
        self._threads = cpu.machine.threads
        self.load, self.store = cpu.load, cpu.store
        self.load_bytes, self.store_bytes = cpu.load_bytes, cpu.store_bytes
        self.trap, self.charge, self.fault = cpu.trap, cpu.charge, cpu.fault
        self.note_copy = cpu.memory.note_copy
        self.profile = cpu.profile
        self.page_size = cpu.page_size

    def now(self) -> int:
        """The cycle counter."""
        return self._cpu.clock.now  # type: ignore[no-any-return]

    def randbytes(self, n: int) -> bytes:
        """``n`` bytes from the machine's seeded generator (the caller charges)."""
        return self._cpu.randbytes(n)  # type: ignore[no-any-return]

    @property
    def current(self) -> int:
        """The id of the thread running now (0 if none)."""
        t = self._cpu.current
        return 0 if t is None else t.tid  # type: ignore[no-any-return]

    def user_switch(self, tid: Any, finished: bool = False) -> None:
        """Switch in user mode to thread ``tid`` of this protection domain."""
        t = self._threads.get(tid) if type(tid) is int else None
        if t is None:
            raise SyscallError("EINVAL", "no such thread", tid=tid)
        self._cpu.user_switch(t, finished is True)

    @property
    def accesses(self) -> int:
        """Memory accesses the CPU has made (a counter)."""
        return self._cpu.accesses  # type: ignore[no-any-return]

    @property
    def traps(self) -> int:
        """Traps the CPU has taken (a counter)."""
        return self._cpu.traps  # type: ignore[no-any-return]
