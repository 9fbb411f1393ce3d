"""Accounting principals: who pays for environments, contexts, filters and frames.

A *principal* is a tree of environments that answers for what its members
hold of the kernel's global tables. Aegis.boot makes a root principal; an
environment made by ENV_ALLOC joins its creator's principal (a forked ExOS
child: the same program); one made by ENV_ALLOC_PRINCIPAL roots a new
principal nested in its creator's (an ExOS spawn: another program). What a
nested principal holds is held by each of its ancestors too, so spawning
escapes nothing.

The rule (limits.PRINCIPAL_SHARE): a principal may hold at most its
parent's cap less 1/PRINCIPAL_SHARE of the global table (the machine is the
roots' parent), so whatever one principal takes, the 1/PRINCIPAL_SHARE left
under each of its ancestors is there for their other members: a bystander
beside a hostile program can always start. Past a cap the caller gets
ENOMEM (environments, filters, frames) or EAGAIN (contexts), as for the
global limits.

Environments, filters and frames are counters charged and given back
explicitly; contexts are a list per principal pruned lazily of dead threads
(an ExOS thread that finishes is retired in user mode, the kernel is not told).
A frame is charged once, to the principal of its first owner; when that owner
lets go and others still hold it, the charge moves (:func:`move`, unchecked:
the new payer already co-owned it).

The generic ledger (caps, charges up the chain) is
:mod:`exolab.kernels.common.principals`; this module names the exokernel's
kinds and keeps the contexts.

Interface::

    ENVS, FILTERS, FRAMES, KINDS         counted kinds (indexes of Principal.held), names
    Principal(pid, parent, caps, depth)  held, contexts; live_contexts()
                                         (caps: ENVS, FILTERS, FRAMES, contexts)
    Principals(totals)                   root() / nested(parent) -> Principal
    check(p, kind, n)                    ENOMEM if n more would pass a cap on the chain
    charge(p, kind, n)   uncharge(p, kind, n)   move(src, dst, kind, n)
    context_room(p)      add_context(p, thread)   (EAGAIN past a cap)
    chain(p) -> list[Principal]          p and its ancestors
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exolab.errors import SyscallError
from exolab.kernels.common import principals as ledger
from exolab.kernels.common.principals import chain
from exolab.kernels.exokernel.limits import PRINCIPAL_SHARE
from exolab.machine.threads import DEAD

__all__ = ["ENVS", "FILTERS", "FRAMES", "KINDS", "Principal", "Principals", "check",
           "charge", "uncharge", "move", "context_room", "add_context", "chain"]

ENVS, FILTERS, FRAMES = 0, 1, 2
CONTEXTS = 3                # a cap, not a counter: the contexts list
_PRUNE_MIN = 1024       # contexts a principal's list holds before it first drops dead ones
KINDS = ("environments", "filters", "frames")


@dataclass(slots=True, eq=False)
class Principal(ledger.Principal):
    """One accounting principal; guarded by Aegis (caps: ENVS, FILTERS, FRAMES, contexts)."""

    contexts: list[Any] = field(default_factory=list)   # threads of the subtree (some dead)
    prune_at: int = _PRUNE_MIN          # contexts' length at the next pruning of the dead

    def live_contexts(self) -> int:
        """Contexts of the subtree not yet dead (what the contexts cap bounds)."""
        return sum(1 for t in self.contexts if t.state != DEAD)


class Principals(ledger.Principals):
    """Makes principals with their caps from the global totals."""

    def __init__(self, envs: int, filters: int, frames: int, contexts: int) -> None:
        super().__init__((envs, filters, frames, contexts), PRINCIPAL_SHARE, len(KINDS),
                         "ENOMEM", Principal)


def check(p: Principal | None, kind: int, n: int) -> None:
    """ENOMEM if ``n`` more of ``kind`` would put a principal on the chain past its cap."""
    ledger.check(p, kind, n, "ENOMEM", KINDS[kind])


def charge(p: Principal | None, kind: int, n: int) -> None:
    """Charge ``n`` of ``kind`` to ``p`` and its ancestors (ENOMEM past a cap)."""
    ledger.charge(p, kind, n, "ENOMEM", KINDS[kind])


def uncharge(p: Principal | None, kind: int, n: int) -> None:
    """Give back ``n`` of ``kind`` charged to ``p`` (a panic if more than it holds)."""
    ledger.uncharge(p, kind, n, KINDS[kind])


def move(src: Principal | None, dst: Principal | None, kind: int, n: int) -> None:
    """Move a charge from ``src`` to ``dst`` without a cap check (a frame's payer left)."""
    ledger.move(src, dst, kind, n, KINDS[kind])


def context_room(p: Principal | None) -> None:
    """EAGAIN if one more context would put a principal on the chain past its cap."""
    while p is not None:
        cap = p.caps[CONTEXTS]
        if len(p.contexts) >= cap:
            p.contexts = [t for t in p.contexts if t.state != DEAD]
            if len(p.contexts) >= cap:
                raise SyscallError("EAGAIN", "the principal's share of contexts is used",
                                   principal=p.pid, limit=cap)
        p = p.parent  # type: ignore[assignment]


def add_context(p: Principal | None, thread: Any) -> None:
    """Record ``thread`` as a context of ``p`` and its ancestors (after context_room)."""
    while p is not None:
        p.contexts.append(thread)
        if len(p.contexts) >= p.prune_at:      # (amortised O(1), as the kernel's list)
            p.contexts = [t for t in p.contexts if t.state != DEAD]
            p.prune_at = max(_PRUNE_MIN, 2 * len(p.contexts))
        p = p.parent  # type: ignore[assignment]
