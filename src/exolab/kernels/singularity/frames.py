"""The kernel's physical frames: SIP heap regions and exchange-heap pages come from here.

Frames ``[first, end)`` are the kernel's to hand out (below ``first``: its own
image and data). The never-taken ones are a bump pointer (nothing per frame
at boot); freed ones are kept as *runs*, maximal ranges ``[start, stop)`` of
consecutive freed frames, coalesced as frames come back. ``take`` hands out
the most recently freed first (from the top of the run freed or grown last,
so the last frame freed is the first taken, as a stack would), then fresh
ones in order. A SIP's heap region needs a contiguous run (its addresses are
physical): ``take_run`` takes it from the run freed last if it is long
enough, else from the longest freed run, else from the fresh frames (with a
freed run that ends where they begin); ENOMEM only if no free run of that
length exists. So a pattern that frees every other frame can no longer leave
the pool with every frame free and no run to give (before, only the last
``n`` freed were tried, then fresh frames).

Costs: ``give`` is O(pieces) dictionary work plus one heap push a piece;
``take`` and ``take_run`` are O(frames taken) plus heap work, amortised
O(log runs): the recency stack and the size heap hold stale entries, skipped
when met and dropped by a rebuild once they outnumber the live ones, so
neither grows with the work. A pool of a million frames costs nothing per
frame until frames are freed.

Reservations (``reserve``): frames set aside for a user that must never meet
ENOMEM later (an ABI pipe's block, exheap.py): ``left`` no longer counts
them, ``take(n, reserved=True)`` draws on them, ``give(frames,
reserved=True)`` puts them back into the reservation, ``unreserve`` ends it.

Interface::

    FramePool(first, end)
      take(n, reserved=False) -> list[int]   any n frames (ENOMEM if fewer are left)
      take_run(n) -> list[int]     n contiguous frames, ascending (ENOMEM: no such run)
      give(frames, reserved=False) back to the pool (KernelPanic for a frame never
                                   taken, or one at a freed run's ends: given twice)
      reserve(n)   unreserve(n)    set n free frames aside (ENOMEM), end that
      left() -> int                in_use() -> int      reserved() -> int
"""
from __future__ import annotations

import heapq
from typing import Iterable

from exolab.errors import KernelPanic, SyscallError

__all__ = ["FramePool"]


class FramePool:
    """Free frames: coalesced freed runs and the fresh rest (a bump pointer)."""

    __slots__ = ("_first", "_next", "_end", "_total", "_runs", "_stops", "_recent", "_sizes",
                 "_freed", "_reserved")

    def __init__(self, first: int, end: int) -> None:
        self._first = first
        self._next = first                  # every frame from here to _end is fresh
        self._end = end
        self._total = max(0, end - first)
        self._runs: dict[int, int] = {}     # start -> stop of each freed run
        self._stops: dict[int, int] = {}    # stop -> start (for coalescing)
        self._recent: list[int] = []        # run starts, last freed or grown on top
        self._sizes: list[tuple[int, int, int]] = []    # heap: (-length, start, stop)
        self._freed = 0                     # frames in the freed runs
        self._reserved = 0                  # free frames set aside (reserve)

    def left(self) -> int:
        """Frames free and not reserved."""
        return self._freed + self._end - self._next - self._reserved

    def in_use(self) -> int:
        """Frames handed out and not given back."""
        return self._total - self._freed - (self._end - self._next)

    def reserved(self) -> int:
        """Free frames set aside by reservations."""
        return self._reserved

    def reserve(self, n: int) -> None:
        """Set ``n`` free frames aside (ENOMEM, nothing reserved, if fewer are left)."""
        if self.left() < n:
            raise SyscallError("ENOMEM", "out of memory", pages=n)
        self._reserved += n

    def unreserve(self, n: int) -> None:
        """End a reservation of ``n`` frames (not drawn on now)."""
        if not 0 <= n <= self._reserved:
            raise KernelPanic("frames: unreserve of more than is reserved", n=n,
                              reserved=self._reserved)
        self._reserved -= n

    # -- taking --------------------------------------------------------------------------

    def take(self, n: int, reserved: bool = False) -> list[int]:
        """Any ``n`` frames: the most recently freed first, then fresh ones
        (``reserved``: drawn on the caller's reservation)."""
        if reserved:
            if n > self._reserved:
                raise KernelPanic("frames: more taken than reserved", n=n,
                                  reserved=self._reserved)
            self._reserved -= n
        elif self.left() < n:
            raise SyscallError("ENOMEM", "out of memory", pages=n)
        got: list[int] = []
        while len(got) < n and self._freed:
            start = self._top()
            stop = self._runs[start]
            k = min(n - len(got), stop - start)
            got += range(stop - 1, stop - 1 - k, -1)    # the top first, as a stack
            self._cut(start, stop, start, stop - k)
        if len(got) < n:
            got += self._fresh(n - len(got))
        return got

    def take_run(self, n: int) -> list[int]:
        """``n`` contiguous frames, ascending: the top of the run freed last if it is
        long enough, else the longest freed run, else fresh frames (ENOMEM if no
        free run of ``n`` exists)."""
        if n < 1:
            raise KernelPanic("frames: a run of no frames", n=n)
        if self.left() < n:
            raise SyscallError("ENOMEM", "out of memory", pages=n)
        if self._freed:
            start = self._top()
            stop = self._runs[start]
            if stop - start < n:
                start, stop = self._longest()
            if stop - start >= n:
                self._cut(start, stop, start, stop - n)
                return list(range(stop - n, stop))
        nxt = self._next
        below = self._stops.get(nxt)            # a freed run ending at the fresh ones
        lo = nxt if below is None else below
        if self._end - lo < n:
            raise SyscallError("ENOMEM", "no contiguous run of free frames", pages=n)
        if below is not None:
            self._cut(below, nxt, min(below + n, nxt), nxt)
        if lo + n > nxt:
            self._fresh(lo + n - nxt)
        return list(range(lo, lo + n))

    def _fresh(self, n: int) -> list[int]:
        """The ``n`` lowest never-taken frames, ascending."""
        start = self._next
        self._next = start + n
        return list(range(start, start + n))

    def _top(self) -> int:
        """The start of the run freed or grown last (stale entries dropped)."""
        recent, runs = self._recent, self._runs
        while recent[-1] not in runs:
            recent.pop()
        return recent[-1]

    def _longest(self) -> tuple[int, int]:
        """The longest freed run (stale heap entries dropped)."""
        sizes, runs = self._sizes, self._runs
        while runs.get(sizes[0][1]) != sizes[0][2]:
            heapq.heappop(sizes)
        return sizes[0][1], sizes[0][2]

    # -- the runs --------------------------------------------------------------------------

    def _cut(self, start: int, stop: int, lo: int, hi: int) -> None:
        """Run [start, stop) keeps only [lo, hi) (a prefix or suffix of it)."""
        del self._runs[start], self._stops[stop]
        self._freed -= (stop - start) - (hi - lo)
        if lo < hi:
            self._add(lo, hi, recent=lo != start)

    def _add(self, lo: int, hi: int, recent: bool = True) -> None:
        """Record [lo, hi) as a freed run (no neighbour is a run), on top if ``recent``."""
        self._runs[lo] = hi
        self._stops[hi] = lo
        if recent:
            self._recent.append(lo)
        heapq.heappush(self._sizes, (lo - hi, lo, hi))
        self._tidy()

    def _tidy(self) -> None:
        """Rebuild the stack and the heap once stale entries outnumber the live ones."""
        live = len(self._runs)
        if len(self._recent) > 2 * live + 16:
            seen: set[int] = set()
            keep = []
            for s in reversed(self._recent):        # the last entry of each live run
                if s in self._runs and s not in seen:
                    seen.add(s)
                    keep.append(s)
            keep.reverse()
            self._recent = keep
        if len(self._sizes) > 2 * live + 16:
            self._sizes = [(s - e, s, e) for s, e in self._runs.items()]
            heapq.heapify(self._sizes)

    def give(self, frames: Iterable[int], reserved: bool = False) -> None:
        """Return ``frames`` (handed out, each once) to the pool, coalescing runs; the
        last one is taken first (``reserved``: back into the caller's reservation)."""
        frames = list(frames)
        i, n = 0, len(frames)
        while i < n:                        # consecutive pieces, ascending or descending
            j = i + 1
            step = 1 if j < n and frames[j] == frames[i] + 1 else -1
            while j < n and frames[j] == frames[j - 1] + step:
                j += 1
            lo, hi = (frames[i], frames[j - 1] + 1) if step == 1 else \
                (frames[j - 1], frames[i] + 1)
            self._free_range(lo, hi)
            i = j
        if reserved:
            self._reserved += n

    def _free_range(self, lo: int, hi: int) -> None:
        """Frames [lo, hi) come back: merged with the freed runs beside them."""
        if hi > self._next or lo < self._first or lo in self._runs or \
                hi in self._stops or self._inside(lo, hi):
            raise KernelPanic("frames: give of a frame not handed out", frames=(lo, hi))
        self._freed += hi - lo
        below = self._stops.pop(lo, None)
        if below is not None:
            del self._runs[below]
            lo = below
        above = self._runs.pop(hi, None)
        if above is not None:
            del self._stops[above]
            hi = above
        self._add(lo, hi)

    def _inside(self, lo: int, hi: int) -> bool:
        """Whether [lo, hi) meets a freed run at its ends (a cheap double-give check)."""
        return lo + 1 in self._stops or hi - 1 in self._runs
