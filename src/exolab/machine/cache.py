"""A data cache: set-associative, physically indexed, write-through, no write-allocate.

A hardware option the profile selects (``CostProfile.cache``, as ``mmu="x86"``
selects the page walk): the i486's on-chip cache (8 KB unified, 4-way, 16-byte
lines, write-through; Intel i486 Programmer's Reference Manual ch. 12). A
profile without one (``cache=None``) has no cache and every figure is what it
was. Lines are named by physical address: ``paddr // line`` is the line, its
low bits pick the set, the rest is the tag. A read that misses fills the line
(evicting the set's least recently used one); a write updates a line that is
there (and refreshes its age) but never fills one — a write-through cache
without write allocation, as the 486's — so bytes only written are read back
from outside the cache. The cache holds no data (memory does); it decides
which accesses go off-chip, and the caller charges ``line_fill`` cycles per
fill, so nothing here reads the clock.

Replacement is true LRU over the set's ways (the 486 uses a 3-bit pseudo-LRU
tree per set, which agrees with LRU on the sequential sweeps that matter here).

Interface::

    Cache(model)                      model: costs.CacheModel (geometry + line_fill)
      read(paddr, n) -> misses        fills: the caller charges misses * line_fill
      write(paddr, n) -> misses       lines written that were absent (not filled)
      copy(dst, src, n) -> misses     read the source, write the destination
      holds(paddr) -> bool            is the line of paddr cached (no side effect)
      flush() -> lines                invalidate everything (invd)
      statistics() -> CacheStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exolab.errors import ConfigError

__all__ = ["Cache", "CacheStats"]


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Line accesses, the fills read misses took, and the write misses that went by."""

    size: int
    ways: int
    line: int
    reads: int                  # line reads (instruction fetch or load)
    read_misses: int            # line fills
    writes: int                 # line writes (write-through: all go off-chip)
    write_misses: int           # lines written that were not cached (not filled)
    evictions: int
    flushes: int


class Cache:
    """The sets of one cache; each set is a list of tags, most recently used last."""

    __slots__ = ("size", "ways", "line", "nsets", "_shift", "_mask", "_sets", "reads",
                 "read_misses", "writes", "write_misses", "evictions", "flushes")

    def __init__(self, model: Any) -> None:
        size, ways, line = model.size, model.ways, model.line
        if line < 4 or line & (line - 1) or ways < 1 or size % (ways * line):
            raise ConfigError("cache geometry: a power-of-two line, ways dividing size",
                              size=size, ways=ways, line=line)
        nsets = size // (ways * line)
        if nsets & (nsets - 1):
            raise ConfigError("cache geometry: the set count must be a power of two",
                              sets=nsets)
        self.size, self.ways, self.line, self.nsets = size, ways, line, nsets
        self._shift = line.bit_length() - 1
        self._mask = nsets - 1
        self._sets: list[list[int]] = [[] for _ in range(nsets)]
        self.reads = self.read_misses = self.writes = self.write_misses = 0
        self.evictions = self.flushes = 0

    def _lines(self, paddr: int, n: int) -> range:
        """The line numbers [paddr, paddr + n) covers (empty for n <= 0)."""
        if n <= 0:
            return range(0)
        return range(paddr >> self._shift, ((paddr + n - 1) >> self._shift) + 1)

    def read(self, paddr: int, n: int) -> int:
        """Read ``n`` bytes at ``paddr``: touch each line, filling those absent."""
        return self._access(paddr, n, True)

    def write(self, paddr: int, n: int) -> int:
        """Write ``n`` bytes at ``paddr``: lines present are refreshed, none filled."""
        return self._access(paddr, n, False)

    def _access(self, paddr: int, n: int, fill: bool) -> int:
        """Touch the lines of [paddr, paddr + n) in order, counted as reads (``fill``)
        or writes: a line present becomes its set's most recent; one absent is a
        miss, and a read loads it over the set's least recent (an eviction once the
        set is full). The misses."""
        sets, mask, ways, misses = self._sets, self._mask, self.ways, 0
        lines = self._lines(paddr, n)
        for ln in lines:
            s = sets[ln & mask]
            if ln in s:
                if s[-1] != ln:
                    s.remove(ln)
                    s.append(ln)
                continue
            misses += 1
            if fill:
                if len(s) >= ways:
                    del s[0]
                    self.evictions += 1
                s.append(ln)
        if fill:
            self.reads += len(lines)
            self.read_misses += misses
        else:
            self.writes += len(lines)
            self.write_misses += misses
        return misses

    def copy(self, dst: int, src: int, n: int) -> int:
        """A copy's cache traffic, line by line as a string move interleaves it:
        the source read (fills), the destination written; the fills taken."""
        misses, step, done = 0, self.line, 0
        while done < n:
            take = min(n - done, step - ((src + done) & (step - 1)))
            misses += self.read(src + done, take)
            self.write(dst + done, take)
            done += take
        return misses

    def holds(self, paddr: int) -> bool:
        """Whether the line holding ``paddr`` is cached (ages nothing)."""
        ln = paddr >> self._shift
        return ln in self._sets[ln & self._mask]

    def flush(self) -> int:
        """Invalidate every line; the number that were valid."""
        n = sum(len(s) for s in self._sets)
        for s in self._sets:
            s.clear()
        self.flushes += 1
        return n

    def statistics(self) -> CacheStats:
        """Return a frozen snapshot of the counters."""
        return CacheStats(self.size, self.ways, self.line, self.reads, self.read_misses,
                          self.writes, self.write_misses, self.evictions, self.flushes)
