"""A lazy pool of numbers (frames, thread numbers, space numbers) for any kernel.

The pool hands out exactly what a stack ``list(range(end - 1, first - 1,
-1))`` popped from its end would: the lowest number first, and a returned
number before any untouched one (last returned, first taken). It builds no
such list: returned numbers go on a stack, the never-taken ones are a bump
pointer over ``[first, end)``, so a pool of a million frames costs nothing per
frame at boot. L4 keeps its kernel frames, thread numbers and space numbers
in pools; Singularity's :class:`~exolab.kernels.singularity.frames.FramePool`
keeps its frames in one (and adds contiguous runs on top).

Interface::

    NumberPool(first, end)         the numbers first .. end-1, all free
      take() -> int                a returned number if any (the last), else the
                                   lowest never-taken one; KernelPanic when empty
                                   (callers test ``bool(pool)`` first)
      take_many(n) -> [int]        n numbers in the order n take()s give them
      take_fresh(n) -> [int]       n never-taken numbers, ascending (the lowest)
      give(n)   give_all(ns)       return numbers (LIFO); never checked twice
      len(pool) -> free count      bool(pool) -> any free
      returned() -> int            free numbers that were given back
      fresh() -> int               free numbers never taken
      in_use() -> int              taken and not given back
      total -> end - first
"""
from __future__ import annotations

from typing import Iterable

from exolab.errors import KernelPanic

__all__ = ["NumberPool"]


class NumberPool:
    """Free numbers: returned ones (a stack) and the untouched rest (a bump pointer)."""

    __slots__ = ("_back", "_next", "_end", "total")

    def __init__(self, first: int, end: int) -> None:
        self._back: list[int] = []      # returned numbers; the last is taken first
        self._next = first              # every number from here to _end is untouched
        self._end = end
        self.total = max(0, end - first)

    def take(self) -> int:
        """The next free number (see the module docstring)."""
        if self._back:
            return self._back.pop()
        n = self._next
        if n >= self._end:
            raise KernelPanic("pool: taken from an empty pool")
        self._next = n + 1
        return n

    def take_many(self, n: int) -> list[int]:
        """``n`` numbers, as ``n`` calls of :meth:`take` would give them (KernelPanic,
        nothing taken, unless ``n`` are free)."""
        if len(self) < n:
            raise KernelPanic("pool: more taken than are free", wanted=n, free=len(self))
        back = self._back
        got = [back.pop() for _ in range(min(n, len(back)))]
        if len(got) < n:
            got += self.take_fresh(n - len(got))
        return got

    def take_fresh(self, n: int) -> list[int]:
        """The ``n`` lowest never-taken numbers, ascending (KernelPanic, nothing taken,
        unless that many are left untouched)."""
        if self.fresh() < n:
            raise KernelPanic("pool: more fresh numbers taken than are left", wanted=n,
                              fresh=self.fresh())
        start = self._next
        self._next = start + n
        return list(range(start, start + n))

    def give(self, n: int) -> None:
        """Return ``n`` to the pool (taken next)."""
        self._back.append(n)

    def give_all(self, ns: Iterable[int]) -> None:
        """Return several numbers, in order (the last is taken first)."""
        self._back.extend(ns)

    def returned(self) -> int:
        """How many free numbers were given back (taken before any fresh one)."""
        return len(self._back)

    def fresh(self) -> int:
        """How many numbers were never taken."""
        return max(0, self._end - self._next)

    def in_use(self) -> int:
        """How many numbers are taken and not given back."""
        return self.total - len(self)

    def __len__(self) -> int:
        """How many numbers are free."""
        return len(self._back) + max(0, self._end - self._next)

    def __bool__(self) -> bool:
        """Whether any number is free."""
        return bool(self._back) or self._next < self._end
