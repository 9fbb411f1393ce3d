"""The monolithic kernel's buffer cache: ext2's block device, over the machine disk.

One cache per mounted disk: an LRU of whole blocks held in kernel memory,
write-back (a write only marks the cached block dirty) and an ordered sync
that writes the dirty set in the phases of :mod:`exolab.services.ext2.order`,
each made durable before the next (a flush after its plain writes; directory
blocks go FUA). Disk requests DMA through one kernel page
(``dma_paddr``, in the kernel's static frames) and the caller waits for each
by letting simulated time run to its completion without switching threads:
the kernel's file-system path is not preemptible and never sleeps, so the
file system is entered by one thread at a time (a simplification: I/O does
not overlap other processes' computation; docs/files.md).

Cost: ``charge(cycles)`` is the kernel's (a lookup per block touched);
disk time is the drive's own model. The cache holds at most ``capacity``
blocks; past ``dirty_limit`` dirty blocks :attr:`BufferCache.pressure` asks
the file system to sync after the current operation, and a miss with every
block dirty syncs at once.

Interface::

    BufferCache(disk, memory, clock, dma_paddr, capacity, charge)
      block_size, blocks                     (ext2's BlockIO)
      read_block(n) -> bytes   write_block(n, data)   write_ranked(n, data, rank)
      flush()   sync()   planner (dirty -> phases)   pressure, dirty_count()
      sync_file(want, records) -> bool      file_planner (order.plan_file)
      statistics() -> CacheStats
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from exolab.errors import DiskRequestError
from exolab.kernels.common.stats import AS_LEVEL
from exolab.services.ext2.buffers import BITMAP, DATA, DIRB, ITABLE
from exolab.services.ext2.interfaces import MachineDiskAdapter
from exolab.services.ext2.order import Dirty

__all__ = ["BufferCache", "CacheStats"]

Phases = list[list[tuple[int, bytes, bool]]]
Planner = Callable[[dict[int, Dirty]], Phases]
FilePlanner = Callable[[dict[int, Dirty], Any, dict[int, list[int]]],
                       "tuple[Phases, dict[int, bytes]] | None"]


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of one buffer cache (levels: cached, dirty)."""

    hits: int
    misses: int
    cached: int = field(metadata=AS_LEVEL)
    dirty: int = field(metadata=AS_LEVEL)
    disk_reads: int
    disk_writes: int
    fua_writes: int
    flushes: int
    syncs: int
    evictions: int
    file_syncs: int         # fsyncs that wrote one file's set only


class BufferCache:
    """An LRU write-back cache of one disk's blocks, with an ordered sync."""

    __slots__ = ("disk", "memory", "clock", "paddr", "capacity", "dirty_limit", "charge",
                 "block_size", "blocks", "_wait", "_cache", "_dirty", "pressure", "_n",
                 "c_lookup", "planner", "file_planner")

    def __init__(self, disk: Any, memory: Any, clock: Any, dma_paddr: int,
                 capacity: int, charge: Callable[[int], None], c_lookup: int) -> None:
        self.disk = disk
        self.memory = memory
        self.clock = clock
        self.paddr = dma_paddr              # one kernel page every request DMAs through
        self.capacity = capacity
        self.dirty_limit = capacity // 2
        self.charge = charge                # the kernel's cycle charge (no preemption)
        self.c_lookup = c_lookup            # cycles of one cache lookup (getblk)
        self.block_size = disk.block_size
        self.blocks = disk.blocks
        self._wait = MachineDiskAdapter.poll_wait(disk, clock)
        self._cache: OrderedDict[int, bytes] = OrderedDict()   # block -> bytes, LRU first
        self._dirty: dict[int, Dirty] = {}
        self.pressure = False
        self.planner: Planner | None = None     # the file system's phases (order.plan)
        self.file_planner: FilePlanner | None = None    # one file's (order.plan_file)
        self._n = dict.fromkeys(("hits", "misses", "reads", "writes", "fua", "flushes",
                                 "syncs", "file_syncs", "evictions"), 0)

    # -- ext2's BlockIO --------------------------------------------------------------

    def read_block(self, n: int) -> bytes:
        """Block ``n``: from the cache, else read from the disk (the caller waits)."""
        self.charge(self.c_lookup)
        data = self._cache.get(n)
        if data is not None:
            self._cache.move_to_end(n)
            self._n["hits"] += 1
            return data
        self._n["misses"] += 1
        self._room()
        data = self._disk_read(n)
        self._cache[n] = data
        return data

    def write_block(self, n: int, data: bytes) -> None:
        """Cache ``data`` as block ``n``, dirty (file data)."""
        self.write_ranked(n, data, DATA)

    def write_ranked(self, n: int, data: bytes, rank: int) -> None:
        """Cache ``data`` as block ``n``, dirty, of ext2 kind ``rank``."""
        if type(n) is not int or not 0 <= n < self.blocks:
            raise DiskRequestError("block out of range", block=n, blocks=self.blocks)
        self.charge(self.c_lookup)
        d = self._dirty.get(n)
        if d is None:
            disk = None
            if rank in (BITMAP, ITABLE, DIRB):          # the planner compares with it
                disk = self._cache.get(n)
                if disk is None:                        # evicted since it was read
                    disk = self._disk_read(n)
            self._dirty[n] = Dirty(rank, data, disk)
        else:
            d.now, d.rank = data, max(d.rank, rank)
        if n not in self._cache:
            self._room()
        self._cache[n] = data
        self._cache.move_to_end(n)
        if len(self._dirty) > self.dirty_limit:
            self.pressure = True

    def flush(self) -> None:
        """Write every dirty block (unordered planner: one phase) and flush."""
        self.sync()

    # -- write-back --------------------------------------------------------------------

    def dirty_count(self) -> int:
        """Dirty blocks held."""
        return len(self._dirty)

    def sync(self) -> None:
        """Make every dirty block durable, phase by phase (:attr:`planner`'s phases;
        without one, one phase of plain writes), then forget they were dirty."""
        planner = self.planner
        self._n["syncs"] += 1
        self.pressure = False
        if not self._dirty:
            return
        phases = (planner(self._dirty) if planner is not None
                  else [[(n, d.now, False) for n, d in sorted(self._dirty.items())]])
        for phase in phases:
            self._write_phase(phase)
        self._dirty.clear()

    def sync_file(self, want: Any, records: dict[int, list[int]]) -> bool:
        """Make one file's set durable (:attr:`file_planner`'s phases: ``want``'s
        blocks written whole, only ``records`` of inode tables, bitmaps'
        allocations); the rest stays dirty. False: it cannot be done alone."""
        fp = self.file_planner
        out = None if fp is None else fp(self._dirty, want, records)
        if out is None:
            return False
        phases, after = out
        self._n["file_syncs"] += 1
        for phase in phases:
            self._write_phase(phase)
        for n, disk in after.items():
            d = self._dirty[n]
            if disk == d.now:
                del self._dirty[n]
            else:
                d.disk = disk
        return True

    def _write_phase(self, phase: list[tuple[int, bytes, bool]]) -> None:
        """Submit a phase's writes back to back, a flush whenever the drive's write
        cache is full (its flush streams them in block order; a full cache would
        destage one block per write, a revolution each) and after the last plain
        write; wait for the last request."""
        if not phase:
            return
        last, plain, room = 0, 0, max(1, getattr(self.disk, "cache_blocks", 1))
        for n, data, fua in phase:
            self.memory.write(self.paddr, data)         # DMA source, captured at submit
            last = self.disk.submit_write(n, self.paddr, fua)
            self._n["fua" if fua else "writes"] += 1
            plain += not fua
            if plain == room:
                last, plain = self.disk.submit_flush(), 0
                self._n["flushes"] += 1
        if plain:
            last = self.disk.submit_flush()
            self._n["flushes"] += 1
        self._wait(last)

    def _disk_read(self, n: int) -> bytes:
        """Read block ``n`` from the disk through the DMA page."""
        self._wait(self.disk.submit_read(n, self.paddr))
        self._n["reads"] += 1
        return bytes(self.memory.read(self.paddr, self.block_size))

    def _room(self) -> None:
        """Make room for one more block: evict the oldest clean one (sync first
        when every cached block is dirty)."""
        if len(self._cache) < self.capacity:
            return
        for n in self._cache:
            if n not in self._dirty:
                del self._cache[n]
                self._n["evictions"] += 1
                return
        self.sync()
        self._cache.popitem(last=False)
        self._n["evictions"] += 1

    def statistics(self) -> CacheStats:
        """Return a frozen snapshot of the counters."""
        n = self._n
        return CacheStats(n["hits"], n["misses"], len(self._cache), len(self._dirty),
                          n["reads"], n["writes"], n["fua"], n["flushes"], n["syncs"],
                          n["evictions"], n["file_syncs"])
