"""A software-refilled, ASID-tagged TLB in the style of the MIPS R3000.

The TLB is a small array of entries; a lookup is by (virtual page number,
ASID). A miss is not handled here: the CPU raises a TLB-miss exception and the
kernel's refill handler writes an entry with :meth:`write_random` (``tlbwr``)
or :meth:`write_indexed` (``tlbwi``). Random replacement draws from the
machine's seeded RNG and never picks the first ``wired`` slots, as on the
R3000. Only kernel mode may write the TLB; the CPU enforces that before
calling the write methods.

The ``dirty`` bit is set by the hardware on a store through the entry (an
x86-style accessed/dirty model; the R3000 leaves it to software), so kernels
can answer "is this page dirty?" without a page-table walk of their own.

Interface::

    TLBEntry(vpn, asid, ppn, valid, writable, dirty)   slotted record
    TLB(entries, wired, asid_bits, rng)
      lookup(vpn, asid) -> TLBEntry | None
      probe(vpn, asid) -> slot index or -1
      read(index) -> TLBEntry | None
      write_indexed(index, entry)   write_random(entry) -> index
      invalidate(vpn, asid) -> bool
      flush(asid=None) -> int        entries dropped
      key(vpn, asid) -> int          the lookup key (CPU hot path uses it)
      statistics()                   TLBStats
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from exolab.errors import ConfigError, KernelPanic

__all__ = ["TLBEntry", "TLB", "TLBStats"]


class TLBEntry:
    """One translation: (vpn, asid) -> ppn with its permission bits."""

    __slots__ = ("vpn", "asid", "ppn", "valid", "writable", "dirty", "frame", "frame_ppn")

    def __init__(self, vpn: int, asid: int, ppn: int, valid: bool = True,
                 writable: bool = True, dirty: bool = False) -> None:
        self.vpn = vpn              # virtual page number
        self.asid = asid            # address-space identifier
        self.ppn = ppn              # physical page number
        self.valid = valid          # V: a load/store may use the entry
        self.writable = writable    # D on MIPS: stores allowed
        self.dirty = dirty          # set by the hardware on a store
        self.frame: bytearray | None = None   # CPU's cache of the frame's bytes;
                                              # never change ppn of a live entry
        self.frame_ppn = -1         # ppn at the entry's last TLB write (frame's owner)

    def __repr__(self) -> str:
        flags = ("V" if self.valid else "-") + ("W" if self.writable else "-") + \
                ("D" if self.dirty else "-")
        return f"TLBEntry(vpn={self.vpn:#x}, asid={self.asid}, ppn={self.ppn:#x}, {flags})"


@dataclass(frozen=True, slots=True)
class TLBStats:
    """Occupancy and the write/flush counters of a TLB (hits and misses: CPUStats)."""

    entries: int
    occupied: int
    writes: int
    evictions: int
    flushes: int
    invalidations: int


class TLB:
    """Fixed-size, fully associative, ASID-tagged translation cache."""

    __slots__ = ("size", "wired", "asid_bits", "asid_mask", "rng", "slots", "index",
                 "_writes", "_evictions", "_flushes", "_invalidations")

    def __init__(self, entries: int, wired: int, asid_bits: int,
                 rng: random.Random) -> None:
        if entries <= 0 or not 0 <= wired < entries:
            raise ConfigError("bad TLB geometry", entries=entries, wired=wired)
        self.size = entries
        self.wired = wired                          # slots write_random never picks
        self.asid_bits = asid_bits
        self.asid_mask = (1 << asid_bits) - 1
        self.rng = rng                              # the machine's seeded RNG
        self.slots: list[TLBEntry | None] = [None] * entries
        self.index: dict[int, TLBEntry] = {}        # key(vpn, asid) -> entry
        self._writes = self._evictions = self._flushes = self._invalidations = 0

    def key(self, vpn: int, asid: int) -> int:
        """Return the lookup key of (vpn, asid)."""
        return (vpn << self.asid_bits) | asid

    def lookup(self, vpn: int, asid: int) -> TLBEntry | None:
        """Return the entry translating (vpn, asid), or None."""
        return self.index.get((vpn << self.asid_bits) | asid)

    def probe(self, vpn: int, asid: int) -> int:
        """Return the slot holding (vpn, asid), or -1 (``tlbp``)."""
        e = self.lookup(vpn, asid)
        return -1 if e is None else self.slots.index(e)

    def read(self, index: int) -> TLBEntry | None:
        """Return the entry in slot ``index`` (``tlbr``)."""
        self._check_index(index)
        return self.slots[index]

    def _check_index(self, index: int) -> None:
        """Raise unless ``index`` names a slot."""
        if not 0 <= index < self.size:
            raise KernelPanic("tlb: slot out of range", index=index, size=self.size)

    def write_indexed(self, index: int, entry: TLBEntry) -> None:
        """Write ``entry`` into slot ``index`` (``tlbwi``), evicting what was there."""
        if not 0 <= index < self.size:
            self._check_index(index)
        if not 0 <= entry.asid <= self.asid_mask:
            raise KernelPanic("tlb: asid out of range", asid=entry.asid,
                              bits=self.asid_bits)
        k = (entry.vpn << self.asid_bits) | entry.asid
        old_same = self.index.get(k)
        if old_same is not None and old_same is not self.slots[index]:
            # One (vpn, asid) may live in one slot only (on the R3000 a duplicate
            # is a machine check); drop the old copy.
            self.slots[self.slots.index(old_same)] = None
        old = self.slots[index]
        if old is not None:
            self._evictions += 1
            del self.index[(old.vpn << self.asid_bits) | old.asid]
        if entry.frame_ppn != entry.ppn:    # a rewritten entry object may name a new
            entry.frame = None              # ppn: its cached bytes are another frame's
            entry.frame_ppn = entry.ppn
        self.slots[index] = entry
        self.index[k] = entry
        self._writes += 1

    def write_random(self, entry: TLBEntry) -> int:
        """Write ``entry`` into a seeded-random non-wired slot (``tlbwr``); return it."""
        same = self.index.get((entry.vpn << self.asid_bits) | entry.asid)
        if same is not None:
            index = self.slots.index(same)
        else:
            index = self.rng.randrange(self.wired, self.size)
        self.write_indexed(index, entry)
        return index

    def invalidate(self, vpn: int, asid: int) -> bool:
        """Drop the entry for (vpn, asid) if present; return whether one was dropped."""
        e = self.index.pop((vpn << self.asid_bits) | asid, None)
        if e is None:
            return False
        self.slots[self.slots.index(e)] = None
        self._invalidations += 1
        return True

    def flush(self, asid: int | None = None) -> int:
        """Drop every entry (or every entry of ``asid``); return how many."""
        if asid is None:                    # whole-TLB flush: reset in one step
            dropped = len(self.index)
            self.slots = [None] * self.size
            self.index.clear()
            self._flushes += 1
            return dropped
        dropped = 0
        for i, e in enumerate(self.slots):
            if e is not None and (asid is None or e.asid == asid):
                self.slots[i] = None
                del self.index[(e.vpn << self.asid_bits) | e.asid]
                dropped += 1
        self._flushes += 1
        return dropped

    def statistics(self) -> TLBStats:
        """Return a frozen snapshot of the TLB's counters."""
        return TLBStats(self.size, len(self.index), self._writes, self._evictions,
                        self._flushes, self._invalidations)
