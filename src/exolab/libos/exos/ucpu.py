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
      load, store, load_bytes, store_bytes, trap   (the CPU's own)
      charge(cycles)          advance time: an int in 0..MAX_COMPUTE (EINVAL otherwise)
      fault(cause, vaddr=0, info=None)   raise a Cause at an address (EINVAL for
                              anything else: the kernel's vector sees only what a CPU raises)
      note_copy(nbytes)       count a bcopy in the memory statistics (an int >= 0)
      profile                 the cost profile (numbers only)
      page_size               bytes of a page
      now() -> int            the cycle counter
      randbytes(n) -> bytes   from the machine's seeded generator (n: 0..MAX_RANDOM)
      current -> int          id of the running thread (0: none)
      user_switch(tid, finished=False)    to a live thread of this domain
      accesses, traps         read-only counters (for measurements)

(A short module: a view.)
"""
from __future__ import annotations

from typing import Any

from exolab.abi import MAX_COMPUTE, TRIGGERED
from exolab.errors import SyscallError
from exolab.kernels.common.args import int_arg, nat, random_count
from exolab.machine.cpu import Cause
from exolab.safe.sealed import Sealed

__all__ = ["UserCPU"]


class UserCPU(metaclass=Sealed):
    """A user-mode view of one CPU (see the module docstring)."""

    __slots__ = ("load", "store", "load_bytes", "store_bytes", "trap", "profile",
                 "page_size", "_cpu", "_threads", "_charge", "_note_copy")

    def __init__(self, cpu: Any) -> None:
        self._cpu = cpu
        self._threads = cpu.machine.threads
        self.load, self.store = cpu.load, cpu.store
        self.load_bytes, self.store_bytes = cpu.load_bytes, cpu.store_bytes
        self.trap, self._charge = cpu.trap, cpu.charge
        self._note_copy = cpu.memory.note_copy
        self.profile = cpu.profile
        self.page_size = cpu.page_size

    def charge(self, cycles: int) -> None:
        """Advance time by ``cycles``, an int in 0..MAX_COMPUTE (a program holds this
        view too: a negative or fractional charge would turn the machine's clock back)."""
        if type(cycles) is not int or not 0 <= cycles <= MAX_COMPUTE:
            int_arg(cycles, "cycles", 0, MAX_COMPUTE)       # raises EINVAL
        self._charge(cycles)

    def fault(self, cause: Cause, vaddr: int = 0, info: Any = None) -> None:
        """Raise exception ``cause`` (a Cause) at ``vaddr`` (an int >= 0); ``info`` is
        None or the ABI's TRIGGERED. The kernel's vector then sees only what a CPU raises."""
        if type(cause) is not Cause:
            raise SyscallError("EINVAL", "cause must be an exception Cause",
                               cause=type(cause).__name__)
        nat(vaddr, "vaddr")
        if info is not None and not (type(info) is str and info == TRIGGERED):
            raise SyscallError("EINVAL", "info must be None or TRIGGERED")
        self._cpu.fault(cause, vaddr, info)

    def note_copy(self, nbytes: int) -> None:
        """Count a bcopy of ``nbytes`` (an int >= 0) in the memory statistics."""
        self._note_copy(nat(nbytes, "nbytes"))

    def now(self) -> int:
        """The cycle counter."""
        return self._cpu.clock.now  # type: ignore[no-any-return]

    def randbytes(self, n: int) -> bytes:
        """``n`` bytes (an int in 0..MAX_RANDOM) from the machine's seeded generator
        (the caller charges)."""
        return self._cpu.randbytes(random_count(n))  # type: ignore[no-any-return]

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
