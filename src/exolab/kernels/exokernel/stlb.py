"""The software TLB (STLB): Aegis's large cache of secure bindings.

The R3000's TLB holds 64 entries; Aegis keeps a much larger, direct-mapped
cache of the translations library OSes have installed (4096 entries, as in
the paper), indexed by (ASID, virtual page). On a hardware TLB miss Aegis
probes the STLB first (18 instructions, :mod:`.paths`) and refills the TLB
from it without bothering the library OS; only an STLB miss is upcalled.
An entry may be *invalid* (a binding the library OS installed with the valid
bit clear to make a page inaccessible): touching it is a protection
exception dispatched straight to the environment, as on the R3000 a TLB
entry with V=0 raises a TLB-invalid exception.

Entries are the machine's :class:`~exolab.machine.tlb.TLBEntry` records, so
refilling the hardware TLB writes the very object the STLB holds (and the
hardware dirty bit it sets is seen by both).

Invariant: a lookup returns either the entry last inserted for exactly
(asid, vpn) and not since invalidated, or None — never another page's.

Interface::

    STLB_ENTRIES, ASID_MIX
    STLB(entries=4096)
      index(asid, vpn) -> int          the slot: (vpn ^ asid * ASID_MIX) & mask
      lookup(asid, vpn) -> TLBEntry | None     peek(asid, vpn) (no statistics)
      insert(entry)                    (evicts whatever shared the slot)
      invalidate(asid, vpn) -> bool    flush_asid(asid) -> int    clear() -> int
      occupancy() -> int               statistics() -> STLBStats

(A short module: a direct-mapped cache is a small mechanism.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from exolab.errors import ConfigError
from exolab.kernels.common.stats import AS_LEVEL
from exolab.machine.tlb import TLBEntry

__all__ = ["STLB", "STLBStats", "STLB_ENTRIES", "ASID_MIX"]

STLB_ENTRIES = 4096         # SOSP'95 §5.3: the STLB has 4096 entries
ASID_MIX = 0x9E5            # multiplier spreading ASIDs over the slots (index())


@dataclass(frozen=True, slots=True)
class STLBStats:
    """Size, occupancy and the hit/miss/eviction counters of the STLB."""

    entries: int = field(metadata=AS_LEVEL)
    occupied: int = field(metadata=AS_LEVEL)
    hits: int
    misses: int
    inserts: int
    evictions: int
    invalidations: int


class STLB:
    """Direct-mapped software TLB; every field is guarded by Aegis."""

    __slots__ = ("size", "mask", "slots", "hits", "misses", "inserts", "evictions",
                 "invalidations")

    def __init__(self, entries: int = STLB_ENTRIES) -> None:
        if entries <= 0 or entries & (entries - 1):
            raise ConfigError("STLB size must be a power of two", entries=entries)
        self.size = entries
        self.mask = entries - 1
        self.slots: list[TLBEntry | None] = [None] * entries
        self.hits = self.misses = self.inserts = self.evictions = self.invalidations = 0

    def index(self, asid: int, vpn: int) -> int:
        """The slot of (asid, vpn): low vpn bits mixed with the ASID."""
        return (vpn ^ (asid * ASID_MIX)) & self.mask

    def lookup(self, asid: int, vpn: int) -> TLBEntry | None:
        """Return the cached binding of (asid, vpn), or None."""
        e = self.slots[(vpn ^ (asid * ASID_MIX)) & self.mask]    # (index() inlined)
        if e is not None and e.vpn == vpn and e.asid == asid:
            self.hits += 1
            return e
        self.misses += 1
        return None

    def peek(self, asid: int, vpn: int) -> TLBEntry | None:
        """Like :meth:`lookup` but without counting (the kernel checking its own work)."""
        e = self.slots[(vpn ^ (asid * ASID_MIX)) & self.mask]    # (index() inlined)
        return e if e is not None and e.vpn == vpn and e.asid == asid else None

    def insert(self, entry: TLBEntry) -> None:
        """Cache ``entry``, replacing whatever occupied its slot."""
        i = self.index(entry.asid, entry.vpn)
        old = self.slots[i]
        if old is not None and (old.vpn != entry.vpn or old.asid != entry.asid):
            self.evictions += 1
        self.slots[i] = entry
        self.inserts += 1

    def invalidate(self, asid: int, vpn: int) -> bool:
        """Drop the binding of (asid, vpn) if cached; return whether one was."""
        i = self.index(asid, vpn)
        e = self.slots[i]
        if e is not None and e.vpn == vpn and e.asid == asid:
            self.slots[i] = None
            self.invalidations += 1
            return True
        return False

    def flush_asid(self, asid: int) -> int:
        """Drop every binding of ``asid`` (an address space is retired); return how many."""
        n = 0
        for i, e in enumerate(self.slots):
            if e is not None and e.asid == asid:
                self.slots[i] = None
                n += 1
        self.invalidations += n
        return n

    def clear(self) -> int:
        """Drop every binding (a new ASID generation); return the slots cleared."""
        n = self.size
        self.invalidations += self.size - self.slots.count(None)
        self.slots[:] = [None] * n
        return n

    def occupancy(self) -> int:
        """Number of occupied slots."""
        return sum(1 for e in self.slots if e is not None)

    def statistics(self) -> STLBStats:
        """Return a frozen snapshot of the STLB's counters."""
        return STLBStats(self.size, self.occupancy(), self.hits, self.misses,
                         self.inserts, self.evictions, self.invalidations)
