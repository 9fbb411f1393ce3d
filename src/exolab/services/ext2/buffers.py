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

A write-out that fails part-way (the device refuses a block: XN out of
blocks or over a quota, or a disk error) is undone before the error goes on:
every dirty block gets the bytes it had when the operation first read it,
last first (a block not yet written gets the bytes it still has), so the
device holds what it held before the operation. A block the operation
allocated has no such bytes and is not rewritten (it is free again; a device
with ``abandon(blocks)`` is told to drop what it holds for them). A
whole-block overwrite of a block never read (:meth:`Buffers.overwrite`) has
its old bytes read just before its write when the device may refuse writes
(``may_refuse``); elsewhere only a disk error can stop a write-out, and such
a block keeps its new bytes.

Interface::

    Buffers(dev, charge)
      get(n) -> bytearray        the block, read through the device once per operation
      peek(n) -> bytes           the block, not held (bulk file data)
      zero(n, rank=0)            a fresh zero block (not read), marked dirty
      overwrite(n)               a zero block that replaces in-use data block n wholly
      dirty(n, rank=0)           the block will be written at commit
      commit()                   write dirty blocks (rank order, then block order); forget
                                 all; on a failure undo the written ones and raise
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
                 "_ranked", "_orig", "_unread")

    def __init__(self, dev: BlockIO, charge: Charge, limit: int) -> None:
        self.dev = dev
        self.charge = charge
        self.limit = limit                          # blocks_count: valid numbers
        self._held: dict[int, bytearray] = {}       # block -> bytes this operation
        self._dirty: dict[int, int] = {}            # block -> write rank
        self._orig: dict[int, bytes] = {}           # block -> bytes as first read
        self._unread: set[int] = set()              # in-use blocks overwritten unread
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
                data = bytes(self.dev.read_block(n))
            except DiskRequestError:
                raise bad("block number", "on the device", n) from None
            self.reads += 1
            self.charge("ext2.block_read", 1)
            self._orig[n] = data
            self._held[n] = buf = bytearray(data)
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

    def overwrite(self, n: int) -> bytearray:
        """Return a zeroed buffer for in-use data block ``n``, whose every byte the
        caller replaces (its old bytes are not read unless a refused write-out
        must restore them)."""
        self._unread.add(n)
        return self.zero(n)

    def dirty(self, n: int, rank: int = DATA) -> None:
        """Mark held block ``n`` to be written at commit."""
        self._dirty[n] = max(rank, self._dirty.get(n, rank))

    def commit(self) -> None:
        """Write every dirty block in rank then block order and forget all blocks;
        if a write fails, undo the ones written (see the module docstring)."""
        order = sorted(self._dirty.items(), key=lambda kv: (kv[1], kv[0]))
        done = 0
        try:
            for n, rank in order:
                self._write_out(n, rank)
                done += 1
        except BaseException:
            n = done + self._undo(order, done)
            self.writes += n
            if n:
                self.charge("ext2.block_write", n)
            raise
        self.writes += len(order)
        if order:
            self.charge("ext2.block_write", len(order))
        self.abort()

    def _write_out(self, n: int, rank: int) -> None:
        """Write held block ``n`` (its old bytes read first if a refusal must undo it)."""
        if n in self._unread and n not in self._orig and getattr(self.dev, "may_refuse",
                                                                 False):
            self._orig[n] = bytes(self.dev.read_block(n))
            self.reads += 1
            self.charge("ext2.block_read", 1)
        self._put(n, bytes(self._held[n]), rank)

    def _put(self, n: int, data: bytes, rank: int) -> None:
        """One block to the device, with its rank if the device orders writes."""
        if self._ranked is not None:
            self._ranked(n, data, rank)
        else:
            self.dev.write_block(n, data)

    def _undo(self, order: list[tuple[int, int]], done: int) -> int:
        """Give every block a failed write-out may have written (the first ``done``
        of ``order`` and the one that failed, but also any the device wrote early
        while handling a refusal, planned or not) its old bytes, last first; tell
        the device which blocks were abandoned. Return how many were rewritten."""
        planned = {n for n, _ in order}
        touched = order + [(n, r) for n, r in self._dirty.items() if n not in planned]
        undone = 0
        for n, rank in reversed(touched):
            old = self._orig.get(n)
            if old is not None:
                self._put(n, old, rank)
                undone += 1
        abandon = getattr(self.dev, "abandon", None)
        if abandon is not None:
            abandon([n for n, _ in touched if n not in self._orig])
        return undone

    def abort(self) -> None:
        """Forget every block, writing nothing."""
        self._held.clear()
        self._dirty.clear()
        self._orig.clear()
        self._unread.clear()
