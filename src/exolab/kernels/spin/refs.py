"""Capabilities and externalized references.

Inside the kernel a capability is a typed object reference: verified code can
neither forge one (it cannot name a kernel class or build one) nor use one
at the wrong type (every service checks the exact type of what it is
handed). A user-level application never holds the reference itself: it holds
an *externalized reference*, an index into its own table of safe references,
checked at every call (index in range, slot live, object of the expected
kind). Another application's index means nothing in this table.

Interface::

    RefTable(limit)
      externalize(obj) -> int            EAGAIN when full
      internalize(ref, kind) -> obj      EBADF: not a live index; EPERM: wrong kind
      release(ref)                       len(table), statistics() -> RefStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exolab.errors import SyscallError

__all__ = ["RefTable", "RefStats"]


@dataclass(frozen=True, slots=True)
class RefStats:
    """One table's counters."""

    live: int
    issued: int
    refused: int            # internalize calls that failed their check


class RefTable:
    """One application's externalized references (a free list of slots)."""

    def __init__(self, limit: int) -> None:
        self._slots: list[Any] = []     # index -> object (None: free)
        self._free: list[int] = []
        self._limit = limit
        self.issued = self.refused = 0

    def __len__(self) -> int:
        return len(self._slots) - len(self._free)

    def externalize(self, obj: Any) -> int:
        """Enter ``obj`` into the table; return its index."""
        if obj is None:
            raise SyscallError("EINVAL", "nothing to externalize")
        if self._free:
            i = self._free.pop()
            self._slots[i] = obj
        elif len(self._slots) < self._limit:
            i = len(self._slots)
            self._slots.append(obj)
        else:
            raise SyscallError("EAGAIN", "externalized reference table full",
                               limit=self._limit)
        self.issued += 1
        return i

    def internalize(self, ref: Any, kind: type | tuple[type, ...]) -> Any:
        """The object behind index ``ref`` if it is of ``kind`` (exact type)."""
        if type(ref) is not int or not 0 <= ref < len(self._slots) or \
                self._slots[ref] is None:
            self.refused += 1
            raise SyscallError("EBADF", "not an externalized reference of this "
                               "application", ref=ref if type(ref) is int else None)
        obj = self._slots[ref]
        kinds: tuple[type, ...] = kind if isinstance(kind, tuple) else (kind,)
        if type(obj) not in kinds:
            self.refused += 1
            raise SyscallError("EPERM", "the reference is of another type", ref=ref,
                               expected=[k.__name__ for k in kinds],
                               actual=type(obj).__name__)
        return obj

    def release(self, ref: Any) -> None:
        """Drop index ``ref`` (EBADF if not live)."""
        if type(ref) is not int or not 0 <= ref < len(self._slots) or \
                self._slots[ref] is None:
            raise SyscallError("EBADF", "not an externalized reference", ref=None)
        self._slots[ref] = None
        self._free.append(ref)

    def statistics(self) -> RefStats:
        """Return a frozen snapshot of the table's counters."""
        return RefStats(len(self), self.issued, self.refused)
