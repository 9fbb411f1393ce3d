"""Physical memory, exposed: pages named by their physical page number.

Aegis allocates nothing implicitly. A library OS asks for a page — any free
one, or a specific ppn (so it can, for instance, colour its cache) — and
receives the ppn and a root capability with every page right; it can list
the pages it holds and give them back. Every frame allocated or reserved is
charged to a principal (quota.py: its first owner's; a reservation to the
environment it is held for), ENOMEM past the principal's share of memory.
A page may have several *owners*
(co-owners after ``share``, as a forked child and its parent sharing a
copy-on-write frame); each owner holds its own root capability and is
accountable for the page (a shared root never carries a right the shared
capability lacks, ``free`` -- giving back its own root -- aside); the page
is free again when its last root is gone. Freeing or revoking a root breaks every binding made with it or with a
capability derived from it. Pages are zeroed when allocated (nothing leaks
between environments).

Interface::

    PAGE_RIGHTS            rights of a root page capability
    PhysPages(caps, cpu, memory, clock, revoke, first, count)   (collaborators, not
                           the kernel: revoke(cap) breaks a root's bindings)
      alloc(env, ppn=None) -> Capability            ENOMEM / EAGAIN (taken)
      reserve(env, n)                               hold n free pages for env (ENOMEM)
      share(cap, target, rights=None) -> Capability a root for another owner, with
                           cap's rights or fewer (and free; EPERM: more)
      free(env, cap)                                give one root back
      take(env, ppn, why) -> Repossession | None    the abort protocol's repossession
      release_all(env)                              at destruction
      owners(ppn) -> int    free_count() -> int     reserved() -> int
      available() -> int                            free and not reserved
      statistics() -> PhysStats
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Callable

from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.common.stats import AS_LEVEL
from exolab.kernels.exokernel.caps import Capability, CapTable
from exolab.kernels.exokernel.env import Environment, Repossession
from exolab.kernels.exokernel.quota import FRAMES, Principal, charge, check, move, uncharge

__all__ = ["PAGE_RIGHTS", "PhysPages", "PhysStats"]

PAGE_RIGHTS = ("read", "write", "share", "free")
_ALL, _FREE = frozenset(PAGE_RIGHTS), frozenset(("free",))
_WITH_FREE: dict[frozenset[str], frozenset[str]] = {}  # rights -> rights | free (at most
#                                                       2**4: the page rights' subsets)


def _with_free(rights: frozenset[str]) -> frozenset[str]:
    """``rights | {"free"}``, made once per rights set (a fork shares ~50 frames)."""
    got = _WITH_FREE.get(rights)
    if got is None:
        got = rights | _FREE
        if rights <= _ALL:              # (anything else is refused by mint: not kept)
            _WITH_FREE[rights] = got
    return got


def _payer(root: Capability) -> Principal | None:
    """The principal a root's holder answers to (None: the kernel's own holder)."""
    holder = root.holder
    if holder is None:
        return None
    p: Principal | None = holder.principal
    return p


@dataclass(frozen=True, slots=True)
class PhysStats:
    """Pages managed, free, allocated, and how they were returned."""

    pages: int = field(metadata=AS_LEVEL)
    free: int = field(metadata=AS_LEVEL)
    allocated: int = field(metadata=AS_LEVEL)
    freed: int
    repossessed: int


class PhysPages:
    """The page allocator: who holds which frames (protection, not management)."""

    def __init__(self, caps: CapTable, cpu: Any, memory: Any, clock: Any,
                 revoke: Callable[[Capability], int], first: int, count: int) -> None:
        self.caps, self.cpu, self.memory, self.clock = caps, cpu, memory, clock
        self.revoke = revoke
        self.first = first                      # lowest ppn handed out
        self.count = count
        self._roots: dict[int, Capability | list[Capability]] = {}   # ppn -> its owner's
        #                               root, or its co-owners' roots (a root's ``pos`` is
        #                               its index: dropping one of 10,000 swaps the last
        #                               into its place, O(1) and near the list's end, where
        #                               churn happens; a dict probed at random in 40 frames
        #                               of 10,000 co-owners each cost a fork 20 us); a frame
        #                               with one owner keeps no list (most frames: a dict
        #                               each was 13 of an ExOS process's 80 KB of host);
        self._fresh = first             # the rest is free: every ppn not in _roots,
        self._heap: list[int] = []      # freed ppns below _fresh (stale ones skipped),
        self._end = first + count       # and every ppn from _fresh on (lazy: no list)
        self._allocated = self._freed = self._repossessed = 0
        self._reserved = 0                              # free pages held for builders

    def _lowest_free(self) -> int:
        """The lowest free ppn (ENOMEM if none)."""
        heap, roots = self._heap, self._roots
        while heap and heap[0] in roots:
            heapq.heappop(heap)
        while self._fresh < self._end and self._fresh in roots:
            self._fresh += 1
        if heap:
            return heap[0] if heap[0] < self._fresh else self._fresh
        if self._fresh < self._end:
            return self._fresh
        raise SyscallError("ENOMEM", "no free physical page")

    def alloc(self, env: Environment, ppn: int | None = None) -> Capability:
        """Give ``env`` a zeroed page (``ppn`` or any free one) and its root capability."""
        if ppn is None:
            ppn = self._lowest_free()
        elif type(ppn) is not int or not self.first <= ppn < self.first + self.count:
            raise SyscallError("EINVAL", "no such physical page", ppn=ppn)
        elif ppn in self._roots:
            raise SyscallError("EAGAIN", "physical page is taken", ppn=ppn)
        if not env.reserved:
            if self.free_count() <= self._reserved:
                raise SyscallError("ENOMEM", "every free page is reserved")
            check(env.principal, FRAMES, 1)         # ENOMEM past its principal's share
        cap = self.caps.mint("page", ppn, PAGE_RIGHTS, holder=env)
        if env.reserved:                # one of the pages held back for it (already
            env.reserved -= 1           # charged to its principal when reserved)
            self._reserved -= 1
        else:
            charge(env.principal, FRAMES, 1)
        self._roots[ppn] = cap
        env.roots[ppn] = cap
        self._taken(ppn)
        self.cpu.charge(self.memory.zero_frame(ppn))
        self._allocated += 1
        return cap

    def _taken(self, ppn: int) -> None:
        """``ppn`` was allocated: drop its copies from the top of the free heap (a page
        freed and taken again before the next look left one more copy each time:
        a pipe ring per program added one per program, for ever)."""
        heap = self._heap
        while heap and heap[0] == ppn:
            heapq.heappop(heap)

    def _push_free(self, ppn: int) -> None:
        """Put a freed ppn below _fresh on the heap; rebuild it (free, distinct) once it
        holds more than twice the ppns below _fresh (a page taken by number and freed
        again leaves copies inside it): O(1) amortized, bounded by memory, not by work."""
        heap = self._heap
        heapq.heappush(heap, ppn)
        if len(heap) > 2 * (self._fresh - self.first) + 16:
            roots = self._roots
            self._heap = sorted({p for p in heap if p not in roots})   # (a sorted list
            #                                                            is a heap)

    def reserve(self, env: Environment, n: int) -> None:
        """Hold ``n`` free pages for ``env``'s next allocations (ENOMEM if fewer are
        free and unreserved, or past its principal's share): an environment being
        built gets them or fails now. They are charged to its principal now."""
        if self.available() < n:
            raise SyscallError("ENOMEM", "not enough free physical pages", wanted=n,
                               free=self.available())
        charge(env.principal, FRAMES, n)
        env.reserved += n
        self._reserved += n

    def share(self, cap: Capability, target: Environment,
              rights: frozenset[str] | None = None) -> Capability:
        """Make ``target`` a co-owner of ``cap``'s page; return its root capability.

        Sharing never amplifies: the new root carries ``cap``'s rights, or with
        ``rights`` only those (a subset of ``cap``'s, EPERM otherwise), and
        ``free`` -- which gives back only the new owner's own root: the frame
        stays allocated while any other owner holds it, so ``free`` is no power
        over the frame or its other owners. A copy-on-write child gets a
        read-only root, so it cannot write a frame it shares until it copies it,
        nor can any environment it shares that root with (a bare handle is never
        every right); a root left the page's only owner regains every page right
        (nobody else can reach the frame any more)."""
        held = cap.rights
        if rights is None:
            rights = held
        elif not rights <= held:
            raise SyscallError("EPERM", "cannot share rights the capability lacks",
                               handle=cap.handle, held=sorted(held), asked=sorted(rights))
        ppn = cap.obj
        mine = target.roots.get(ppn)
        if mine is not None:
            return mine
        root = self.caps.mint("page", ppn, _with_free(rights), holder=target)
        owners = self._roots[ppn]
        if isinstance(owners, list):
            root.pos = len(owners)
            owners.append(root)
        else:
            owners.pos, root.pos = 0, 1
            self._roots[ppn] = [owners, root]
        target.roots[ppn] = root
        return root

    def _drop_root(self, root: Capability) -> None:
        """Revoke one root (and its subtree, breaking bindings); free the page if last.

        The frame is charged to the principal of its first owner (``roots[0]``):
        if that changes, the charge moves to the new first owner's principal."""
        ppn, env = root.obj, root.holder
        self.revoke(root)
        roots = self._roots[ppn]
        if env is not None and env.roots.get(ppn) is root:
            del env.roots[ppn]
        if roots is root:                   # the last owner: the page is free
            del self._roots[ppn]
            if ppn < self._fresh:
                self._push_free(ppn)
            uncharge(_payer(root), FRAMES, 1)
            return
        i = root.pos
        if type(roots) is not list or i >= len(roots) or roots[i] is not root:
            raise KernelPanic("phys: dropped root is not an owner", ppn=ppn)
        last = roots.pop()
        if last is not root:                # the last root takes the dropped one's place
            roots[i] = last
            last.pos = i
        if i == 0:                          # the payer let go: the new first owner pays
            move(_payer(root), _payer(roots[0]), FRAMES, 1)
        if len(roots) == 1:
            sole = self._roots[ppn] = roots[0]
            if sole.rights != _ALL:
                sole.rights = _ALL          # the sole owner: nobody left to protect

    def free(self, env: Environment, cap: Capability) -> None:
        """Give back ``env``'s root capability ``cap`` (EPERM for a derived one)."""
        if cap.parent is not None or cap.holder is not env:
            raise SyscallError("EPERM", "only the owner's root capability frees a page",
                               handle=cap.handle)
        self._drop_root(cap)
        self._freed += 1
        if env.revoke_due:
            env.revoke_due -= 1

    def take(self, env: Environment, ppn: int, why: str) -> Repossession | None:
        """Repossess ``env``'s ownership of ``ppn``; record it in its vector."""
        root = env.roots.get(ppn)
        if root is None:
            return None
        handle = root.handle
        self._drop_root(root)
        self._repossessed += 1
        rec = Repossession(ppn, handle, self.clock.now, why)
        env.repossessed.append(rec)
        return rec

    def release_all(self, env: Environment) -> None:
        """Drop every root ``env`` holds (the environment is being destroyed)."""
        self._reserved -= env.reserved
        uncharge(env.principal, FRAMES, env.reserved)
        env.reserved = 0
        for ppn in sorted(env.roots):
            self._drop_root(env.roots[ppn])
        if env.roots:
            raise KernelPanic("phys: roots left after release", eid=env.eid)

    def owners(self, ppn: int) -> int:
        """How many environments own ``ppn`` (0: free)."""
        held = self._roots.get(ppn)
        return 0 if held is None else len(held) if type(held) is list else 1

    def free_count(self) -> int:
        """Number of free pages."""
        return self.count - len(self._roots)

    def reserved(self) -> int:
        """Free pages held back for environments being built."""
        return self._reserved

    def available(self) -> int:
        """Free pages nobody has reserved (what a new reservation may take)."""
        return self.count - len(self._roots) - self._reserved

    def statistics(self) -> PhysStats:
        """Return a frozen snapshot of the allocator's counters."""
        free = self.free_count()
        return PhysStats(self.count, free, self.count - free,
                         self._freed, self._repossessed)
