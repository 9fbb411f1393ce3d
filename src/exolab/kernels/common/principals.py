"""Accounting principals for any kernel: a tree of programs that answers for what
its members hold of the kernel's global tables.

A *principal* stands for one program and what it started: a kernel makes a
root principal for what it boots and nests a new principal in the spawner's
for each program spawned. What a nested principal holds is held by each of
its ancestors too, so spawning escapes nothing.

The rule: a principal may hold at most its parent's cap less 1/``share`` of
each global table (the machine is the roots' parent: the totals), so
whatever one principal takes, the 1/``share`` left under each of its
ancestors is there for their other members: a bystander beside a hostile
program can always start. A principal whose cap would reach zero for some
table is not made (``errno``: nested too deep).

The first ``counted`` kinds are counters held here (``held``); a kernel may
give a principal more caps than counters and count those kinds itself (the
exokernel's contexts, Singularity's rpc connections per service), reading
the cap from ``caps``. The counters are charged and given back explicitly:
:func:`charge` checks the whole chain first (the caller's errno past a cap),
:func:`add` does not (after its own check, or a move's destination),
:func:`uncharge` panics below zero.

Interface::

    Principal(pid, parent, caps, depth=0, held=[])   slotted; subclass for more state
    Principals(totals, share, counted, errno="ENOMEM", cls=Principal)
      totals, step                      the global tables, 1/share of each
      root() -> Principal               nested(parent) -> Principal   (errno: too deep)
    chain(p) -> list[Principal]         p and its ancestors, nearest first
    check(p, kind, n, errno, what)      errno if n more would pass a cap on the chain
    check_move(src, dst, kind, n, errno, what)   the same for a move src -> dst (only
                                        dst's chain below the nearest common ancestor)
    charge(p, kind, n, errno, what)     check, then add
    add(p, kind, n)                     uncharge(p, kind, n, what)
    move(src, dst, kind, n, what)       unchecked (the caller checked, or must not)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exolab.errors import KernelPanic, SyscallError

__all__ = ["Principal", "Principals", "chain", "check", "check_move", "charge", "add",
           "uncharge", "move"]


@dataclass(slots=True, eq=False)
class Principal:
    """One accounting principal; guarded by its kernel."""

    pid: int                            # kernel-assigned number (> 0)
    parent: "Principal | None"          # the principal that spawned it (None: booted)
    caps: tuple[int, ...]               # by kind: what its subtree may hold
    depth: int = 0                      # 0 for a root
    held: list[int] = field(default_factory=list)   # by counted kind, subtree


class Principals:
    """Makes principals with their caps from the global totals."""

    def __init__(self, totals: tuple[int, ...], share: int, counted: int,
                 errno: str = "ENOMEM", cls: Any = Principal) -> None:
        self.totals = tuple(totals)
        self.step = tuple(t // share for t in self.totals)
        self._counted = counted
        self._errno = errno
        self._cls = cls
        self._next = 1

    def _make(self, parent: Principal | None, above: tuple[int, ...], depth: int) -> Any:
        """A principal whose caps are ``above`` less one step (errno if none is left)."""
        caps = tuple(a - s for a, s in zip(above, self.step))
        if min(caps) <= 0:
            raise SyscallError(self._errno, "principals nested too deep", depth=depth)
        p = self._cls(self._next, parent, caps, depth, [0] * self._counted)
        self._next += 1
        return p

    def root(self) -> Any:
        """A principal for a program the kernel boots."""
        return self._make(None, self.totals, 0)

    def nested(self, parent: Principal) -> Any:
        """A principal for a program a member of ``parent`` spawns."""
        return self._make(parent, parent.caps, parent.depth + 1)


def chain(p: Principal | None) -> list[Principal]:
    """``p`` and its ancestors, nearest first."""
    out = []
    while p is not None:
        out.append(p)
        p = p.parent
    return out


def _over(p: Principal, kind: int, errno: str, what: str) -> SyscallError:
    """The refusal of a principal's full share."""
    return SyscallError(errno, f"the principal's share of {what} is used",
                        principal=p.pid, limit=p.caps[kind], held=p.held[kind])


def check(p: Principal | None, kind: int, n: int, errno: str, what: str) -> None:
    """``errno`` if ``n`` more of ``kind`` would put a principal on the chain past its cap."""
    while p is not None:
        if p.held[kind] + n > p.caps[kind]:
            raise _over(p, kind, errno, what)
        p = p.parent


def check_move(src: Principal | None, dst: Principal | None, kind: int, n: int,
               errno: str, what: str) -> None:
    """``errno`` if moving ``n`` of ``kind`` from ``src`` to ``dst`` would put one of
    ``dst``'s chain past its cap (their common ancestors' counts do not change)."""
    common = {id(q) for q in chain(src)}
    while dst is not None and id(dst) not in common:
        if dst.held[kind] + n > dst.caps[kind]:
            raise _over(dst, kind, errno, what)
        dst = dst.parent


def add(p: Principal | None, kind: int, n: int) -> None:
    """Count ``n`` more of ``kind`` for ``p`` and its ancestors, unchecked."""
    while p is not None:
        p.held[kind] += n
        p = p.parent


def charge(p: Principal | None, kind: int, n: int, errno: str, what: str) -> None:
    """Charge ``n`` of ``kind`` to ``p`` and its ancestors (``errno`` past a cap)."""
    check(p, kind, n, errno, what)
    add(p, kind, n)


def uncharge(p: Principal | None, kind: int, n: int, what: str) -> None:
    """Give back ``n`` of ``kind`` charged to ``p`` (a panic if more than it holds)."""
    for q in chain(p):
        if q.held[kind] < n:
            raise KernelPanic("principals: uncharge below zero", principal=q.pid,
                              kind=what, held=q.held[kind], n=n)
    while p is not None:
        p.held[kind] -= n
        p = p.parent


def move(src: Principal | None, dst: Principal | None, kind: int, n: int,
         what: str) -> None:
    """Move a charge of ``n`` from ``src`` to ``dst`` without a cap check."""
    if src is dst:
        return
    uncharge(src, kind, n, what)
    add(dst, kind, n)
