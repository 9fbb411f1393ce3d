"""A lazy pool of numbers: kernel frames, TCB numbers, space numbers.

The kernel used to hold each pool as ``list(range(end - 1, first - 1, -1))``
and pop from its end: the lowest number first, a returned number next (last
in, first out). This pool hands out exactly that sequence without building
the list: a stack of returned numbers over a bump pointer, so a 1M-frame boot
allocates nothing per frame.

Interface::

    Pool(first, end)               the numbers first .. end-1, all free
      take() -> int                a returned number if any (the last), else the
                                   lowest never-taken one; KernelPanic when empty
                                   (callers test ``bool(pool)`` first)
      give(n)   give_all(ns)       return numbers (LIFO); never checked twice
      len(pool) -> free count      bool(pool) -> any free
      total -> end - first
"""
from __future__ import annotations

from typing import Iterable

from exolab.errors import KernelPanic

__all__ = ["Pool"]


class Pool:
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

    def give(self, n: int) -> None:
        """Return ``n`` to the pool (taken next)."""
        self._back.append(n)

    def give_all(self, ns: Iterable[int]) -> None:
        """Return several numbers, in order (the last is taken first)."""
        self._back.extend(ns)

    def __len__(self) -> int:
        """How many numbers are free."""
        return len(self._back) + max(0, self._end - self._next)

    def __bool__(self) -> bool:
        """Whether any number is free."""
        return bool(self._back) or self._next < self._end
