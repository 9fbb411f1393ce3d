"""XN's disk queue: the machine's drive as XN's block device, writes not waited for.

XN's write-back hands each block to the drive and goes on (the drive keeps
its own queue; the block's bytes are captured from XN's one DMA frame when
the write is submitted). Whenever the plain writes since the last flush fill
the drive's volatile write cache, a flush is queued behind them (the drive
then streams its cache to the platter in block order; a full cache would
destage one block per later write, a revolution each), as the monolithic
buffer cache does. :meth:`QueuedDisk.flush` queues a flush and waits for it:
the drive serves its queue in order, so every write queued before is then on
stable storage. Reads wait for their own completion (XN needs the bytes).

This is what XN's ``WRITTEN`` state already meant (handed to the drive, not
durable until :meth:`XN.flush`), so the ordering rules are unchanged: a
parent is written back only once its children are ``DURABLE``, which takes
an XN flush, which waits for everything queued before it.

Interface::

    QueuedDisk(disk, memory, paddr, clock)      a BlockIO
      block_size, blocks
      read_block(n) -> bytes    write_block(n, data)    flush()
      queued -> int             (plain writes since the last flush)
"""
from __future__ import annotations

from typing import Any

from exolab.errors import DiskRequestError

__all__ = ["QueuedDisk"]


class QueuedDisk:
    """The drive behind one DMA frame; see the module docstring."""

    __slots__ = ("disk", "memory", "paddr", "clock", "block_size", "blocks", "queued",
                 "_done", "_room")

    def __init__(self, disk: Any, memory: Any, paddr: int, clock: Any) -> None:
        self.disk = disk
        self.memory = memory
        self.paddr = paddr
        self.clock = clock
        self.block_size = disk.block_size
        self.blocks = disk.blocks
        self.queued = 0                 # plain writes queued since the last flush
        self._done = -1                 # highest request id seen completed
        self._room = max(1, getattr(disk, "cache_blocks", 1))

    def read_block(self, n: int) -> bytes:
        """Read block ``n`` through the frame (after everything queued before it)."""
        self._wait(self.disk.submit_read(n, self.paddr))
        return bytes(self.memory.read(self.paddr, self.block_size))

    def write_block(self, n: int, data: bytes) -> None:
        """Queue a write of ``data`` to block ``n``; a flush behind it if the drive's
        write cache is now full."""
        self.memory.write(self.paddr, data)
        self.disk.submit_write(n, self.paddr)
        self.queued += 1
        if self.queued >= self._room:
            self.disk.submit_flush()
            self.queued = 0

    def flush(self) -> None:
        """Queue a flush and wait for it: every write queued before is durable."""
        self._wait(self.disk.submit_flush())
        self.queued = 0

    def _wait(self, rid: int) -> None:
        """Let simulated time run until request ``rid`` (and so all before it) is done."""
        while self._done < rid:
            for c in self.disk.take_completions():
                if c > self._done:
                    self._done = c
            if self._done >= rid:
                break
            if not self.clock.skip_to_next():
                raise DiskRequestError("request never completed", request=rid)
            self.clock.fire_due()
