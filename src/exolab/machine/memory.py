"""Physical memory: frames named by physical page number, backed lazily.

A machine may have millions of frames; a frame costs host memory only once it
is first touched (a ``bytearray`` created on demand, zero-filled like DRAM
after power-on in this model). Byte-granular reads and writes address memory
by physical address; :meth:`copy` and :meth:`zero` return the cycles they cost
so the caller (a CPU executing kernel code) charges them.

Interface::

    PhysicalMemory(frames, page_size, profile)
      frames, page_size, page_shift
      frame(ppn) -> bytearray          the frame's backing store (created on touch)
      backing(ppn) -> bytearray | None the backing store if touched (no allocation)
      read(paddr, n) -> bytes          write(paddr, data)
      load_word(ppn, off, size)        store_word(ppn, off, value, size)
      copy(dst_paddr, src_paddr, n)    -> cycles   (memmove semantics; with a
                                       data cache, the line fills its reads take)
      cache                            the machine's data cache, or None
      note_copy(n)                     count a copy whose cost the caller charges
      zero_frame(ppn)                  -> cycles
      touched() -> int                 frames with backing store
      statistics()                     MemoryStats
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from exolab.errors import ConfigError, PhysicalAddressError
from exolab.machine.costs import CostProfile

__all__ = ["PhysicalMemory", "MemoryStats"]

_U = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"),
      8: struct.Struct("<Q")}
_UNPACK = {k: s.unpack_from for k, s in _U.items()}
_PACK = {k: s.pack_into for k, s in _U.items()}
_MASK = {k: (1 << (8 * k)) - 1 for k in _U}
#: word size -> struct unpack_from / pack_into / value mask (the CPU's MMU path)
WORD_UNPACK, WORD_PACK, WORD_MASK = _UNPACK, _PACK, _MASK


@dataclass(frozen=True, slots=True)
class MemoryStats:
    """Frames in the machine, frames touched, and bytes moved."""

    frames: int
    page_size: int
    frames_touched: int
    bytes_read: int
    bytes_written: int
    bytes_copied: int
    bytes_zeroed: int
    copies: int                 # copy operations (memory.copy, and noted copies)


class PhysicalMemory:
    """Lazily backed physical frames with byte-granular access."""

    __slots__ = ("frames", "page_size", "page_shift", "profile", "_store",
                 "_read", "_written", "_copied", "_zeroed", "_copies", "cache")

    def __init__(self, frames: int, page_size: int, profile: CostProfile) -> None:
        if frames <= 0:
            raise ConfigError("physical memory needs at least one frame", frames=frames)
        if page_size < 256 or page_size & (page_size - 1):
            raise ConfigError("page size must be a power of two >= 256", page_size=page_size)
        self.frames = frames                    # number of frames (fixed at boot)
        self.page_size = page_size
        self.page_shift = page_size.bit_length() - 1
        self.profile = profile
        self._store: dict[int, bytearray] = {}  # ppn -> backing bytes, on first touch
        self._read = self._written = self._copied = self._zeroed = self._copies = 0
        self.cache: Any = None                  # machine/cache.py, if the profile has one

    def frame(self, ppn: int) -> bytearray:
        """Return frame ``ppn``'s backing bytes, creating them on first touch."""
        buf = self._store.get(ppn)
        if buf is None:
            if not 0 <= ppn < self.frames:
                raise PhysicalAddressError("no such frame", ppn=ppn, frames=self.frames)
            buf = self._store[ppn] = bytearray(self.page_size)
        return buf

    def backing(self, ppn: int) -> bytearray | None:
        """Frame ``ppn``'s bytes if it has been touched, else None (allocates nothing)."""
        return self._store.get(ppn)

    def load_word(self, ppn: int, offset: int, size: int = 4) -> int:
        """Read an unsigned little-endian word of ``size`` bytes from a frame."""
        if not 0 <= offset <= self.page_size - size:
            raise PhysicalAddressError("word outside its frame", ppn=ppn, offset=offset,
                                       size=size)
        buf = self._store.get(ppn)
        if buf is None:
            if not 0 <= ppn < self.frames:
                raise PhysicalAddressError("no such frame", ppn=ppn, frames=self.frames)
            return 0                     # an untouched frame reads as zero, stays unbacked
        return _UNPACK[size](buf, offset)[0]

    def store_word(self, ppn: int, offset: int, value: int, size: int = 4) -> None:
        """Write the low ``size`` bytes of ``value`` little-endian into a frame."""
        if not 0 <= offset <= self.page_size - size:
            raise PhysicalAddressError("word outside its frame", ppn=ppn, offset=offset,
                                       size=size)
        buf = self._store.get(ppn)
        if buf is None:
            buf = self.frame(ppn)
        _PACK[size](buf, offset, value & _MASK[size])

    def _check(self, paddr: int, n: int) -> None:
        """Raise unless [paddr, paddr + n) lies inside physical memory."""
        if n < 0 or paddr < 0 or paddr + n > self.frames << self.page_shift:
            raise PhysicalAddressError("physical range out of memory", paddr=paddr,
                                       length=n, size=self.frames << self.page_shift)

    def read(self, paddr: int, n: int) -> bytes:
        """Return ``n`` bytes starting at physical address ``paddr``."""
        self._check(paddr, n)
        self._read += n
        out = bytearray()
        while n > 0:
            ppn, off = paddr >> self.page_shift, paddr & (self.page_size - 1)
            take = min(n, self.page_size - off)
            buf = self._store.get(ppn)
            out += buf[off:off + take] if buf is not None else bytes(take)
            paddr += take
            n -= take
        return bytes(out)

    def write(self, paddr: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` starting at physical address ``paddr``."""
        n = len(data)
        self._check(paddr, n)
        self._written += n
        pos = 0
        while pos < n:
            ppn, off = paddr >> self.page_shift, paddr & (self.page_size - 1)
            take = min(n - pos, self.page_size - off)
            self.frame(ppn)[off:off + take] = data[pos:pos + take]
            paddr += take
            pos += take

    def copy(self, dst: int, src: int, n: int) -> int:
        """Copy ``n`` bytes from ``src`` to ``dst`` (overlap-safe); return cycles."""
        data = self.read(src, n)
        self._read -= n
        self.write(dst, data)
        self._written -= n
        self._copied += n
        self._copies += 1
        model = self.profile.cache
        if self.cache is None or model is None:
            return self.profile.copy_cost(n)
        return self.profile.copy_cost(n) + self.cache.copy(dst, src, n) * model.line_fill

    def note_copy(self, n: int) -> None:
        """Count a copy of ``n`` bytes made outside physical memory's own ``copy``: a
        kernel's copyin/copyout of a buffer argument, a library's bcopy; the caller
        charges its cost."""
        self._copied += n
        self._copies += 1

    def zero_frame(self, ppn: int) -> int:
        """Fill frame ``ppn`` with zeros; return cycles."""
        buf = self._store.get(ppn)
        if buf is not None:
            buf[:] = bytes(self.page_size)  # in place: a TLB entry may hold the buffer
        elif not 0 <= ppn < self.frames:
            raise PhysicalAddressError("no such frame", ppn=ppn, frames=self.frames)
        # an untouched frame already reads as zero: it stays unbacked
        self._zeroed += self.page_size
        return (self.page_size * self.profile.zero_per_kib + 1023) >> 10

    def touched(self) -> int:
        """Number of frames that have backing store."""
        return len(self._store)

    def statistics(self) -> MemoryStats:
        """Return a frozen snapshot of memory counters."""
        return MemoryStats(self.frames, self.page_size, len(self._store), self._read,
                           self._written, self._copied, self._zeroed, self._copies)
