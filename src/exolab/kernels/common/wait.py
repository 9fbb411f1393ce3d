"""The wait/exit/zombie/orphan contract, kernel-neutral, every operation O(1).

A process is *added* with its parent; when it *exits* it becomes a zombie
holding its status until its parent reaps it with ``wait`` (a given child, or
any: the earliest-created zombie first). A parent that exits first orphans its
children: each is adopted by nobody, so it is reaped the moment it exits, and
its zombies are reaped with it. The table knows pids and statuses only;
sleeping and waking waiters is the kernel's business (it sleeps when
``reap`` answers ``None`` and wakes the parent when ``exit`` says so).

Interface::

    WaitTable()
      add(pid, parent)                  parent: a live pid or None
      exit(pid, status) -> (parent, reaped)   the pid to wake (None: nobody waits)
                                        and every pid reaped now (drop their records)
      reap(parent, pid=None) -> (pid, status) | None    None: none has exited yet
                                        (ECHILD: no such child)
      parent_of(pid) -> int | None      children(parent) -> int
      statistics() -> WaitStats

Costs: ``add``, ``reap`` and a childless ``exit`` are O(1) (``wait(any)``
is O(log zombies) for its heap); ``exit`` of a parent is O(its children).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from exolab.errors import KernelPanic, SyscallError

__all__ = ["WaitTable", "WaitStats"]


@dataclass(frozen=True, slots=True)
class WaitStats:
    """Levels (live, zombies) and counters (exits, reaped, orphaned) of a WaitTable."""

    live: int
    zombies: int
    exits: int
    reaped: int
    orphaned: int


class WaitTable:
    """Children per parent, each parent's zombies, and orphan reparenting."""

    __slots__ = ("_parent", "_kids", "_zombies", "_heap", "_exits", "_reaped",
                 "_orphaned", "_nzombies")

    def __init__(self) -> None:
        self._parent: dict[int, int | None] = {}        # live or zombie pid -> parent
        self._kids: dict[int, set[int]] = {}            # parent -> unreaped children
        self._zombies: dict[int, dict[int, Any]] = {}   # parent -> {zombie: status}
        self._heap: dict[int, list[int]] = {}           # parent -> zombie pids (lazy)
        self._exits = self._reaped = self._orphaned = self._nzombies = 0

    def add(self, pid: int, parent: int | None) -> None:
        """Record a new live process ``pid`` whose parent is ``parent`` (or none)."""
        if pid in self._parent:
            raise KernelPanic("wait: pid added twice", pid=pid)
        self._parent[pid] = parent
        if parent is not None:
            kids = self._kids.get(parent)
            if kids is None:
                kids = self._kids[parent] = set()
            kids.add(pid)

    def parent_of(self, pid: int) -> int | None:
        """The parent of live or zombie ``pid`` (None: an orphan or unknown)."""
        return self._parent.get(pid)

    def children(self, parent: int) -> int:
        """How many unreaped children ``parent`` has."""
        kids = self._kids.get(parent)
        return len(kids) if kids else 0

    def exit(self, pid: int, status: Any) -> tuple[int | None, list[int]]:
        """``pid`` exited with ``status``: orphan its children, then make it a zombie
        of its parent or, with none, reap it. Return (parent to wake, pids reaped)."""
        if pid not in self._parent or self._is_zombie(pid):
            raise KernelPanic("wait: exit of a process that is not live", pid=pid)
        self._exits += 1
        reaped = self._orphan_children(pid)
        parent = self._parent[pid]
        if parent is None:
            del self._parent[pid]
            self._reaped += 1
            reaped.append(pid)
            return None, reaped
        zombies = self._zombies.get(parent)
        if zombies is None:
            zombies = self._zombies[parent] = {}
            self._heap[parent] = []
        zombies[pid] = status
        heapq.heappush(self._heap[parent], pid)
        self._nzombies += 1
        return parent, reaped

    def _is_zombie(self, pid: int) -> bool:
        """Whether ``pid`` has exited and waits for its parent."""
        parent = self._parent.get(pid)
        zombies = self._zombies.get(parent) if parent is not None else None
        return zombies is not None and pid in zombies

    def _orphan_children(self, pid: int) -> list[int]:
        """Detach ``pid``'s children: live ones become orphans, zombies are reaped."""
        kids = self._kids.pop(pid, None)
        zombies = self._zombies.pop(pid, {})
        self._heap.pop(pid, None)
        reaped = []
        for kid in sorted(kids) if kids else ():
            if kid in zombies:
                del self._parent[kid]
                self._nzombies -= 1
                self._reaped += 1
                reaped.append(kid)
            else:
                self._parent[kid] = None
                self._orphaned += 1
        return reaped

    def reap(self, parent: int, pid: int | None = None) -> tuple[int, Any] | None:
        """Reap child ``pid`` of ``parent`` (or its earliest-created zombie): its
        (pid, status), or None while it (or every child) still runs. ECHILD when
        ``parent`` has no such child. ``pid`` must be an exact int or None."""
        kids = self._kids.get(parent)
        if not kids or (pid is not None and pid not in kids):
            raise SyscallError("ECHILD", "no such child", pid=pid)
        zombies = self._zombies.get(parent)
        if not zombies:
            return None
        if pid is None:
            heap = self._heap[parent]
            while heap[0] not in zombies:       # entries reaped by pid: stale
                heapq.heappop(heap)
            pid = heapq.heappop(heap)
        elif pid not in zombies:
            return None
        status = zombies.pop(pid)
        kids.discard(pid)
        del self._parent[pid]
        self._nzombies -= 1
        self._reaped += 1
        if not zombies:                         # drop stale heap entries with it
            self._heap[parent].clear()
        return pid, status

    def statistics(self) -> WaitStats:
        """Return a frozen snapshot: live and zombie levels, lifetime counters."""
        return WaitStats(len(self._parent) - self._nzombies, self._nzombies,
                         self._exits, self._reaped, self._orphaned)
