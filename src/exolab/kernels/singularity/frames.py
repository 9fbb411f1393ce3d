"""The kernel's physical frames: SIP heap regions and exchange-heap pages come from here.

Frames ``[first, end)`` are the kernel's to hand out (below ``first``: its own
image and data), kept in a :class:`~exolab.kernels.common.numpool.NumberPool`:
freed frames are reused first (last freed, first reused); then fresh ones are
taken in order. A SIP's heap region needs a contiguous
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
from exolab.kernels.common.numpool import NumberPool

__all__ = ["FramePool"]


class FramePool:
    """The kernel's frames in a :class:`NumberPool`, with contiguous runs on top."""

    __slots__ = ("_pool",)

    def __init__(self, first: int, end: int) -> None:
        self._pool = NumberPool(first, end)     # freed frames on a stack, then fresh

    def left(self) -> int:
        """Frames still free."""
        return len(self._pool)

    def in_use(self) -> int:
        """Frames handed out and not given back."""
        return self._pool.in_use()

    def take(self, n: int) -> list[int]:
        """Any ``n`` frames: freed ones first, then fresh ones."""
        if len(self._pool) < n:
            raise SyscallError("ENOMEM", "out of memory", pages=n)
        return self._pool.take_many(n)

    def take_run(self, n: int) -> list[int]:
        """``n`` contiguous frames, ascending: from the freed ones if they happen to
        form a run, else fresh."""
        pool = self._pool
        if pool.returned() >= n:
            got = sorted(pool.take_many(n))     # the last n freed
            if got[-1] - got[0] == n - 1:
                return got
            pool.give_all(got)
        if pool.fresh() < n:
            raise SyscallError("ENOMEM", "out of memory", pages=n)
        return pool.take_fresh(n)

    def give(self, frames: Iterable[int]) -> None:
        """Return ``frames`` to the pool."""
        self._pool.give_all(frames)
