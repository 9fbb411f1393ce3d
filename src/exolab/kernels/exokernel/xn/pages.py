"""Where XN's buffer-cache registry keeps cached blocks: physical pages.

XN caches each disk block in a page it holds. In Aegis the pages are
physical frames (:class:`FramePages`): XN holds a root page capability for
each and hands libraries *derived* capabilities (read-only, or read/write for
a block the access function lets them write) that they bind with the usual
secure-binding calls; evicting a block revokes them, which breaks the
bindings. Tools and tests that run XN without a machine use
:class:`HostPages`, the same interface over bytearrays.

Interface::

    Pages (Protocol)   alloc() -> int   free(p)   read(p, n) -> bytes
                       write(p, off, data)   grant(p, writable) -> int handle
    HostPages(limit)        pages in host memory; handles are the page ids
    FramePages(kernel, limit)   physical frames held by XN's own pseudo-environment
"""
from __future__ import annotations

from typing import Any, Protocol

from exolab.errors import SyscallError

__all__ = ["Pages", "HostPages", "FramePages"]


class Pages(Protocol):
    """Page storage for the registry (one block per page)."""

    def alloc(self) -> int:
        """A zeroed page's id (ENOMEM when none is left)."""
        ...

    def free(self, p: int) -> None:
        """Give page ``p`` back; every grant of it is revoked."""
        ...

    def read(self, p: int, n: int) -> bytes:
        """The first ``n`` bytes of page ``p``."""
        ...

    def write(self, p: int, off: int, data: bytes) -> None:
        """Store ``data`` at ``off`` in page ``p``."""
        ...

    def grant(self, p: int, writable: bool) -> tuple[int, int]:
        """(ppn, capability handle) a library binds to map page ``p``."""
        ...


class HostPages:
    """Pages in host memory (no machine): handles are the page ids."""

    __slots__ = ("limit", "_pages", "_next", "_free")

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._pages: dict[int, bytearray] = {}
        self._next = 1
        self._free: list[int] = []

    def alloc(self) -> int:
        """A zeroed host page."""
        if len(self._pages) >= self.limit:
            raise SyscallError("ENOMEM", "registry pages exhausted", limit=self.limit)
        p = self._free.pop() if self._free else self._next
        if p == self._next:
            self._next += 1
        self._pages[p] = bytearray(4096)
        return p

    def free(self, p: int) -> None:
        """Drop page ``p``."""
        del self._pages[p]
        self._free.append(p)

    def read(self, p: int, n: int) -> bytes:
        """The first ``n`` bytes of page ``p``."""
        return bytes(self._pages[p][:n])

    def write(self, p: int, off: int, data: bytes) -> None:
        """Store ``data`` in page ``p``."""
        self._pages[p][off:off + len(data)] = data

    def grant(self, p: int, writable: bool) -> tuple[int, int]:
        """(p, p): no protection without a machine."""
        return p, p


class FramePages:
    """Physical frames XN holds in Aegis, granted through derived capabilities."""

    __slots__ = ("k", "owner", "limit", "_roots", "_grants")

    def __init__(self, kernel: Any, limit: int) -> None:
        from exolab.kernels.exokernel.env import Environment
        self.k = kernel
        self.owner = Environment(0, "xn", 0, None)   # XN's frames are held in its name
        self.limit = limit
        self._roots: dict[int, Any] = {}            # ppn -> XN's root capability
        self._grants: dict[tuple[int, bool], int] = {}   # (ppn, writable) -> handle

    def alloc(self) -> int:
        """A zeroed frame from Aegis's allocator, held by XN."""
        if len(self._roots) >= self.limit:
            raise SyscallError("ENOMEM", "registry pages exhausted", limit=self.limit)
        cap = self.k.phys.alloc(self.owner)
        self._roots[cap.obj] = cap
        return int(cap.obj)

    def free(self, p: int) -> None:
        """Free frame ``p``: revoking XN's root breaks every library's binding of it."""
        self._grants.pop((p, False), None)
        self._grants.pop((p, True), None)
        self.k.phys.free(self.owner, self._roots.pop(p))

    def read(self, p: int, n: int) -> bytes:
        """The first ``n`` bytes of frame ``p`` (kernel access, physical)."""
        return bytes(self.k.machine.memory.read(p << self.k.pshift, n))

    def write(self, p: int, off: int, data: bytes) -> None:
        """Store ``data`` at ``off`` in frame ``p``."""
        self.k.machine.memory.write((p << self.k.pshift) + off, data)

    def grant(self, p: int, writable: bool) -> tuple[int, int]:
        """A capability (derived from XN's root) with read or read/write rights."""
        key = (p, writable)
        h = self._grants.get(key)
        if h is None:
            rights = ("read", "write") if writable else ("read",)
            h = self._grants[key] = self.k.caps.derive(self._roots[p].handle, rights).handle
        return p, h
