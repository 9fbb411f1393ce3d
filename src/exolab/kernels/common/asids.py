"""Address-space identifiers recycled by generation: every paging kernel's rule.

A TLB entry is tagged with an ASID so that switching address spaces needs no
flush, but there are few of them (6 bits on the dec5000: 63 usable; 0 is the
kernel's). A *holder* (an address space, an environment) carries ``asid``
and ``asid_gen``; its ASID is valid while ``asid_gen`` is the table's
generation. A holder that needs one when none is free starts a new
generation: the kernel's ``rollover`` hook flushes what the old ASIDs tagged
(TLB, and any software TLB, charged as it happens) and every holder gets a
fresh ASID the next time it runs. A kernel that ``release``\\s a dead holder's
ASID gets it back within the generation (last freed, first reused), so
rollovers come only when that many holders are alive at once; one that never
releases (the monolithic kernel) rolls over every ``limit`` new spaces.
Either way any number of holders can live: the limit bounds only how many
stay tagged at once.

Interface::

    Asids(limit, rollover, assigned=None)   ASIDs 1..limit; rollover() flushes
      gen                                   the current generation (hot paths
                                            compare holder.asid_gen with it)
      take(holder) -> bool                  an ASID of this generation if one is free
      of(holder) -> int                     holder's ASID (a new generation if none is)
      release(holder)                       a dead holder's ASID is free again
      statistics() -> AsidStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from exolab.errors import ConfigError

__all__ = ["Asids", "AsidStats"]


@dataclass(frozen=True, slots=True)
class AsidStats:
    """The generation now, rollovers so far, and ASIDs free in this generation."""

    generation: int
    rollovers: int
    free: int


class Asids:
    """ASIDs 1..``limit`` handed out per generation (see the module docstring)."""

    __slots__ = ("gen", "rollovers", "_limit", "_free", "_next", "_rollover", "_assigned")

    def __init__(self, limit: int, rollover: Callable[[], None],
                 assigned: Callable[[Any], None] | None = None) -> None:
        if type(limit) is not int or limit < 1:
            raise ConfigError("an ASID table needs at least one ASID", limit=limit)
        self.gen = 0
        self.rollovers = 0
        self._limit = limit
        self._free: list[int] = []          # released in this generation (LIFO)
        self._next = 1                      # never handed out in this generation: these on
        self._rollover = rollover           # the kernel's flush of the old generation
        self._assigned = assigned           # told of every holder given an ASID

    def take(self, holder: Any) -> bool:
        """Give ``holder`` an ASID of this generation if one is free; whether it got one."""
        if self._free:
            holder.asid = self._free.pop()
        elif self._next <= self._limit:
            holder.asid = self._next
            self._next += 1
        else:
            return False
        holder.asid_gen = self.gen
        if self._assigned is not None:
            self._assigned(holder)
        return True

    def of(self, holder: Any) -> int:
        """``holder``'s ASID, assigned now if it has none in this generation: when
        all are taken a new generation starts (``rollover()``) and it gets the first."""
        if holder.asid_gen == self.gen or self.take(holder):
            return holder.asid  # type: ignore[no-any-return]
        self.gen += 1
        self.rollovers += 1
        self._free.clear()
        self._next = 1
        self._rollover()
        self.take(holder)
        return holder.asid  # type: ignore[no-any-return]

    def release(self, holder: Any) -> None:
        """``holder`` is gone: its ASID (if of this generation) may be reused now."""
        if holder.asid_gen == self.gen:
            self._free.append(holder.asid)
            holder.asid_gen = -1

    def statistics(self) -> AsidStats:
        """Return a frozen snapshot of the table."""
        return AsidStats(self.gen, self.rollovers, len(self._free) + self._limit + 1
                         - self._next)
