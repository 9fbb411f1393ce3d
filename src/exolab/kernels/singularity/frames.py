"""The kernel's physical frames: SIP heap regions and exchange-heap pages come from here.

Frames ``[first, end)`` are the kernel's to hand out (below ``first``: its own
image and data). Freed frames are reused first (last freed, first reused);
then fresh ones are taken in order. A SIP's heap region needs a contiguous
run (its addresses are physical); an exchange-heap block takes any frames.

Interface::

    FramePool(first, end)
      take(n) -> list[int]         any n frames (ENOMEM if fewer are left)
      take_run(n) -> list[int]     n contiguous frames, ascending (ENOMEM)
      give(frames)                 back to the pool
      left() -> int                in_use() -> int
"""
from __future__ import annotations

from typing import Iterable

from exolab.errors import SyscallError

__all__ = ["FramePool"]


class FramePool:
    """Free frames (a stack) and a bump pointer over the never-used ones."""

    __slots__ = ("_free", "_next", "_first", "_end")

    def __init__(self, first: int, end: int) -> None:
        self._free: list[int] = []
        self._next = self._first = first
        self._end = end

    def left(self) -> int:
        """Frames still free."""
        return len(self._free) + self._end - self._next

    def in_use(self) -> int:
        """Frames handed out and not given back."""
        return self._next - self._first - len(self._free)

    def take(self, n: int) -> list[int]:
        """Any ``n`` frames: freed ones first, then fresh ones."""
        if self.left() < n:
            raise SyscallError("ENOMEM", "out of memory", pages=n)
        free = self._free
        got = [free.pop() for _ in range(min(n, len(free)))]
        if len(got) < n:
            fresh = n - len(got)
            got.extend(range(self._next, self._next + fresh))
            self._next += fresh
        return got

    def take_run(self, n: int) -> list[int]:
        """``n`` contiguous frames, ascending: from the freed ones if they happen to
        form a run, else fresh."""
        free = self._free
        if len(free) >= n:
            got = sorted(free.pop() for _ in range(n))
            if got[-1] - got[0] == n - 1:
                return got
            free.extend(got)
        if self._end - self._next < n:
            raise SyscallError("ENOMEM", "out of memory", pages=n)
        got = list(range(self._next, self._next + n))
        self._next += n
        return got

    def give(self, frames: Iterable[int]) -> None:
        """Return ``frames`` to the pool."""
        self._free.extend(frames)
