"""Visible revocation and the abort protocol.

When Aegis wants physical pages back it does not take them silently: it
*asks* the library OS (an upcall to its ``revoke`` entry) to give back
``n`` pages of its own choosing before a deadline, so the library OS can
pick the ones it needs least and update its page tables first. If the pages
have not come back when the deadline passes, Aegis runs the *abort
protocol*: it takes pages by force — revoking the environment's root
capabilities for them, which breaks every TLB, STLB and guaranteed binding
made with them or with capabilities derived from them — records each in the
environment's *repossession vector*, and tells the library OS (an upcall to
its ``repossessed`` entry) which pages are gone. Pages backing guaranteed
mappings (the library OS's page table and handlers) are taken last.

The deadline is a clock event; it raises Aegis's software interrupt so the
forced revocation runs in kernel mode.

Interface::

    IRQ_SOFT, DEFAULT_DEADLINE_US
    Revoker(phys, wake, cpu)        phys: PhysPages; wake(env): the scheduler's
      request(env, npages, deadline_us=DEFAULT_DEADLINE_US)    ask, arm the deadline
      on_soft_irq()                  run the abort protocol for expired requests
      abort(env, npages) -> list[Repossession]
      statistics() -> RevokeStats

(A short module: the protocol is two steps, ask then take.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from exolab.errors import SyscallError
from exolab.kernels.exokernel.env import Environment, Message, Repossession
from exolab.kernels.exokernel.phys import PhysPages
from exolab.machine.cpu import CPU

__all__ = ["Revoker", "RevokeStats", "IRQ_SOFT", "DEFAULT_DEADLINE_US"]

IRQ_SOFT = 7                    # Aegis's software interrupt line (MIPS Cause.IP0)
DEFAULT_DEADLINE_US = 500.0     # time a library OS has to answer a revocation request


@dataclass(frozen=True, slots=True)
class RevokeStats:
    """Requests made, how many the library OSes honoured, and pages taken by force."""

    requests: int
    honoured: int
    aborts: int
    pages_taken: int


@dataclass(slots=True, eq=False)
class _Request:
    """An outstanding revocation request; guarded by the Revoker."""

    env: Environment            # who was asked
    npages: int                 # how many pages
    expired: bool = False       # the deadline has passed


class Revoker:
    """Visible revocation with a deadline, then the abort protocol."""

    def __init__(self, phys: PhysPages, wake: Callable[[Environment], None],
                 cpu: CPU) -> None:
        self.phys = phys                    # takes the pages (and breaks their bindings)
        self.wake = wake                    # a told environment gets to run
        self.cpu = cpu                      # its clock arms deadlines; its IRQ line
        self.pending: list[_Request] = []
        self.requests = self.honoured = self.aborts = self.taken = 0

    def request(self, env: Environment, npages: int,
                deadline_us: float = DEFAULT_DEADLINE_US) -> None:
        """Ask ``env`` to give back ``npages`` pages within ``deadline_us``."""
        if not env.alive:
            raise SyscallError("ESRCH", "no such environment", eid=env.eid)
        if type(npages) is not int or not 0 < npages <= len(env.roots):
            raise SyscallError("EINVAL", "bad page count", npages=npages,
                               held=len(env.roots))
        req = _Request(env, npages)
        self.pending.append(req)
        self.requests += 1
        env.revoke_due += npages
        env.inbox.append(Message("revoke", (npages,), 0))
        self.wake(env)
        self.cpu.clock.after(self.cpu.profile.us_to_cycles(deadline_us), self._expire, req)

    def _expire(self, req: _Request) -> None:
        """Clock event at a deadline: mark it and raise the software interrupt."""
        req.expired = True
        self.cpu.raise_irq(IRQ_SOFT)

    def on_soft_irq(self) -> None:
        """Kernel mode: take by force what expired requests did not get back."""
        keep = []
        for req in self.pending:
            if not req.expired:
                keep.append(req)
                continue
            env = req.env
            if env.alive and env.revoke_due > 0:
                self.abort(env, min(env.revoke_due, req.npages))
            else:
                self.honoured += 1
        self.pending = keep

    def _victims(self, env: Environment, npages: int) -> list[int]:
        """Pages to take: highest ppn first, guaranteed-mapping pages last."""
        pinned = {e.ppn for e in env.guaranteed.values()}
        order = sorted(env.roots, key=lambda p: (p in pinned, -p))
        return order[:npages]

    def abort(self, env: Environment, npages: int) -> list[Repossession]:
        """The abort protocol: repossess ``npages`` of ``env``'s pages and tell it."""
        self.aborts += 1
        taken = []
        for ppn in self._victims(env, npages):
            rec = self.phys.take(env, ppn, "abort")
            if rec is not None:
                taken.append(rec)
        env.revoke_due = max(0, env.revoke_due - len(taken))
        self.taken += len(taken)
        if taken and env.alive:
            words = tuple((r.ppn, r.handle) for r in taken)
            env.inbox.append(Message("repossessed", words, 0))
            self.wake(env)
        return taken

    def statistics(self) -> RevokeStats:
        """Return a frozen snapshot of the revocation counters."""
        return RevokeStats(self.requests, self.honoured, self.aborts, self.taken)
