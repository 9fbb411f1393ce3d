"""Per-operation block buffers: each block is read at most once per operation,
and an operation's changes reach the device together, in a safe order.

This is not a cache: :meth:`Buffers.commit` ends the operation, writes the
dirty blocks and forgets every block, so a placement's own cache (the
monolithic kernel's buffer cache, XN's registry) is the only one. Writes go
out in rank order -- file data (DATA), directory blocks (DIRB), indirect
blocks (PTR), inode table blocks (ITABLE), bitmaps (BITMAP), then descriptors
and superblock (SUPER) -- so a pointer is written after the block it points
to and a block is marked free only after the pointer to it is cleared (the
ordering rules of issue 14). A device with ``write_ranked(n, data, rank)``
(a placement's cache that orders its own write-back, see :mod:`.order`) is
told each block's rank; any other device gets ``write_block``.

Interface::

    Buffers(dev, charge)
      get(n) -> bytearray        the block, read through the device once per operation
      peek(n) -> bytes           the block, not held (bulk file data)
      zero(n, rank=0)            a fresh zero block (not read), marked dirty
      dirty(n, rank=0)           the block will be written at commit
      commit()                   write dirty blocks (rank order, then block order); forget all
      abort()                    forget everything unwritten
      reads, writes              counters
"""
from __future__ import annotations

from exolab.errors import DiskRequestError
from exolab.services.ext2.interfaces import BlockIO, Charge
from exolab.services.ext2.layout import bad

__all__ = ["Buffers", "DATA", "DIRB", "PTR", "ITABLE", "BITMAP", "SUPER", "RANKS"]

DATA, DIRB, PTR, ITABLE, BITMAP, SUPER = 0, 1, 2, 3, 4, 5
RANKS = ("data", "dir", "ptr", "itable", "bitmap", "super")


class Buffers:
    """The blocks one file-system operation has touched; owned by the file system."""

    __slots__ = ("dev", "charge", "limit", "_held", "_dirty", "reads", "writes",
                 "_ranked")

    def __init__(self, dev: BlockIO, charge: Charge, limit: int) -> None:
        self.dev = dev
        self.charge = charge
        self.limit = limit                          # blocks_count: valid numbers
        self._held: dict[int, bytearray] = {}       # block -> bytes this operation
        self._dirty: dict[int, int] = {}            # block -> write rank
        self.reads = 0
        self.writes = 0
        self._ranked = getattr(dev, "write_ranked", None)  # a cache that orders writes

    def get(self, n: int) -> bytearray:
        """Return block ``n`` (DiskImageError if it lies outside the file system)."""
        buf = self._held.get(n)
        if buf is None:
            if not 0 <= n < self.limit:
                raise bad("block number", f"in [0, {self.limit})", n)
            try:
                buf = bytearray(self.dev.read_block(n))
            except DiskRequestError:
                raise bad("block number", "on the device", n) from None
            self.reads += 1
            self.charge("ext2.block_read", 1)
            self._held[n] = buf
        return buf

    def peek(self, n: int) -> bytes:
        """Return block ``n`` without holding it (bulk file data)."""
        buf = self._held.get(n)
        if buf is not None:
            return bytes(buf)
        if not 0 <= n < self.limit:
            raise bad("block number", f"in [0, {self.limit})", n)
        try:
            data = self.dev.read_block(n)
        except DiskRequestError:
            raise bad("block number", "on the device", n) from None
        self.reads += 1
        self.charge("ext2.block_read", 1)
        return data

    def zero(self, n: int, rank: int = DATA) -> bytearray:
        """Return a zeroed block ``n`` that will be written at commit."""
        buf = bytearray(self.dev.block_size)
        self._held[n] = buf
        self._dirty[n] = rank
        return buf

    def dirty(self, n: int, rank: int = DATA) -> None:
        """Mark held block ``n`` to be written at commit."""
        self._dirty[n] = max(rank, self._dirty.get(n, rank))

    def commit(self) -> None:
        """Write every dirty block in rank then block order and forget all blocks."""
        order = sorted(self._dirty.items(), key=lambda kv: (kv[1], kv[0]))
        ranked = self._ranked
        for n, rank in order:
            if ranked is not None:
                ranked(n, bytes(self._held[n]), rank)
            else:
                self.dev.write_block(n, bytes(self._held[n]))
        self.writes += len(order)
        if order:
            self.charge("ext2.block_write", len(order))
        self._held.clear()
        self._dirty.clear()

    def abort(self) -> None:
        """Forget every block, writing nothing."""
        self._held.clear()
        self._dirty.clear()
