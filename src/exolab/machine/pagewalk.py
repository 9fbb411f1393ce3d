"""The x86 two-level page table, walked by the MMU (the i486's hardware TLB refill).

On a profile whose ``mmu`` is ``"x86"`` the CPU does not raise a TLB-miss
exception for the kernel to refill: it walks the page tables itself, as the
486 does, and only a missing or forbidden translation becomes a page fault
(the kernel's ``on_tlb_miss`` vector). The tables live in simulated physical
memory in the 386/486 format, so a kernel builds them with ordinary stores
and every walk reads real frames:

* a **page directory** is one 4 KiB frame of 1,024 four-byte entries (PDEs),
  indexed by bits 31..22 of the virtual address; the CPU's page-table
  register (``CPU.page_table``, the cr3 of the 486) holds its frame number;
* a PDE names a **page table**, one frame of 1,024 PTEs indexed by bits
  21..12; a PTE names the page's frame;
* both entries have the frame number in bits 31..12 and the flags
  P (present, bit 0), W (writable, bit 1), U (user, bit 2), A (accessed,
  bit 5) and D (dirty, bit 6, PTEs only). A walk sets A in both entries and
  D in the PTE on a store, as the 486 does.

A walk costs the profile's ``tlb_miss_entry`` (9 cycles on the 486, L3 Table 3):
the two reads are part of that price, not charged again. The format needs
4 KiB pages (1,024 entries of 4 bytes fill one frame).

Interface::

    PTE_P, PTE_W, PTE_U, PTE_A, PTE_D, ENTRIES, PAGE_SIZE
    split(vpn) -> (directory index, table index)
    walk(memory, directory_ppn, vpn, write, user) -> PTE word | 0
    PageTables(memory, allocate)          a kernel's builder of one machine's tables
      new_directory() -> ppn
      map(directory, vpn, ppn, writable, user=True)   unmap(directory, vpn) -> bool
      lookup(directory, vpn) -> (ppn, writable) | None
      protect(directory, vpn, writable) -> bool      mark(directory, vpn, bits) -> bool
      link(directory, source, first, last)  share source's tables (a kernel region)
      release(directory) -> frames freed (the directory and its tables)
      statistics() -> PageTableStats
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from exolab.errors import ConfigError, KernelPanic
from exolab.machine.memory import PhysicalMemory

__all__ = ["PTE_P", "PTE_W", "PTE_U", "PTE_A", "PTE_D", "ENTRIES", "PAGE_SIZE",
           "split", "walk", "PageTables", "PageTableStats"]

PTE_P, PTE_W, PTE_U, PTE_A, PTE_D = 0x1, 0x2, 0x4, 0x20, 0x40
ENTRIES = 1024                  # entries per directory or table (4 bytes each)
PAGE_SIZE = 4096                # the format's page and table size
_VPN_LIMIT = 1 << 20            # 32-bit virtual addresses: 2**20 pages


def split(vpn: int) -> tuple[int, int]:
    """Return (directory index, table index) of virtual page ``vpn``."""
    return vpn >> 10, vpn & (ENTRIES - 1)


def walk(memory: PhysicalMemory, directory: int, vpn: int, write: bool,
         user: bool) -> int:
    """Walk the tables rooted at frame ``directory`` for ``vpn``; return the PTE or 0.

    0 means a page fault: no present PDE or PTE, a store through an entry
    without W, or a user access through an entry without U (the 486 checks
    both levels). On success A is set in both entries, and D in the PTE on a
    store, in memory.
    """
    if not 0 <= vpn < _VPN_LIMIT:
        return 0
    di, ti = vpn >> 10, vpn & (ENTRIES - 1)
    pde = memory.load_word(directory, di << 2)
    if not pde & PTE_P or (user and not pde & PTE_U) or (write and not pde & PTE_W):
        return 0
    table = pde >> 12
    pte = memory.load_word(table, ti << 2)
    if not pte & PTE_P or (user and not pte & PTE_U) or (write and not pte & PTE_W):
        return 0
    if not pde & PTE_A:
        memory.store_word(directory, di << 2, pde | PTE_A)
    new = pte | PTE_A | (PTE_D if write else 0)
    if new != pte:
        memory.store_word(table, ti << 2, new)
    return new


@dataclass(frozen=True, slots=True)
class PageTableStats:
    """Tables a builder holds and the entries it wrote."""

    directories: int
    tables: int
    mapped: int                 # present PTEs
    writes: int                 # entry stores made by the builder


class PageTables:
    """A kernel's builder of x86 two-level tables in physical memory.

    ``allocate()`` returns a free frame number (the kernel's frame allocator;
    the builder zero-fills it); ``free(ppn)`` takes a frame back. The builder
    is kernel code: it writes physical memory directly and charges nothing
    (the kernel charges its own path).
    """

    __slots__ = ("memory", "allocate", "free", "_tables", "_mapped", "_writes")

    def __init__(self, memory: PhysicalMemory, allocate: Callable[[], int],
                 free: Callable[[int], None] | None = None) -> None:
        if memory.page_size != PAGE_SIZE:
            raise ConfigError("the x86 page-table format needs 4 KiB pages",
                              page_size=memory.page_size)
        self.memory = memory
        self.allocate = allocate                     # frame allocator (the kernel's)
        self.free = free                             # frame release (or None)
        self._tables: dict[int, dict[int, int]] = {}  # directory -> {pd index: table}
        self._mapped: dict[int, int] = {}            # directory -> present PTEs
        self._writes = 0

    def _frame(self) -> int:
        """A zero-filled frame from the kernel's allocator."""
        ppn = self.allocate()
        self.memory.zero_frame(ppn)
        return ppn

    def new_directory(self) -> int:
        """Allocate an empty page directory; return its frame number."""
        ppn = self._frame()
        self._tables[ppn] = {}
        self._mapped[ppn] = 0
        return ppn

    def _known(self, directory: int) -> dict[int, int]:
        """The tables of ``directory``, or KernelPanic if it is not one of ours."""
        tables = self._tables.get(directory)
        if tables is None:
            raise KernelPanic("pagewalk: not a directory of this builder",
                              directory=directory)
        return tables

    def map(self, directory: int, vpn: int, ppn: int, writable: bool,
            user: bool = True) -> None:
        """Enter vpn -> ppn in ``directory``, allocating its page table on first use."""
        tables = self._known(directory)
        if not 0 <= vpn < _VPN_LIMIT or not 0 <= ppn < self.memory.frames:
            raise KernelPanic("pagewalk: map out of range", vpn=vpn, ppn=ppn)
        di, ti = vpn >> 10, vpn & (ENTRIES - 1)
        table = tables.get(di)
        if table is None:
            table = tables[di] = self._frame()
            self.memory.store_word(directory, di << 2,
                                   (table << 12) | PTE_P | PTE_W | PTE_U)
            self._writes += 1
        old = self.memory.load_word(table, ti << 2)
        flags = PTE_P | (PTE_W if writable else 0) | (PTE_U if user else 0)
        self.memory.store_word(table, ti << 2, (ppn << 12) | flags)
        self._writes += 1
        if not old & PTE_P:
            self._mapped[directory] += 1

    def link(self, directory: int, source: int, first: int, last: int) -> None:
        """Share ``source``'s page tables for directory slots [first, last) with
        ``directory`` (a kernel region mapped in every space, as on x86): the PDEs
        are copied; the tables stay ``source``'s (released with it only)."""
        self._known(directory)
        for di in range(first, last):
            pde = self.memory.load_word(source, di << 2)
            if pde & PTE_P:
                self.memory.store_word(directory, di << 2, pde)
                self._writes += 1

    def _pte_slot(self, directory: int, vpn: int) -> tuple[int, int] | None:
        """(table frame, byte offset) of vpn's PTE, or None without a table."""
        if not 0 <= vpn < _VPN_LIMIT:
            return None
        table = self._known(directory).get(vpn >> 10)
        return None if table is None else (table, (vpn & (ENTRIES - 1)) << 2)

    def lookup(self, directory: int, vpn: int) -> tuple[int, bool] | None:
        """Return (ppn, writable) of a present PTE for ``vpn``, else None."""
        slot = self._pte_slot(directory, vpn)
        if slot is None:
            return None
        pte = self.memory.load_word(*slot)
        return (pte >> 12, bool(pte & PTE_W)) if pte & PTE_P else None

    def entry(self, directory: int, vpn: int) -> int:
        """The raw PTE word for ``vpn`` (0 without a table)."""
        slot = self._pte_slot(directory, vpn)
        return 0 if slot is None else self.memory.load_word(*slot)

    def unmap(self, directory: int, vpn: int) -> bool:
        """Clear vpn's PTE; return whether it was present (the kernel invalidates the TLB)."""
        slot = self._pte_slot(directory, vpn)
        if slot is None or not self.memory.load_word(*slot) & PTE_P:
            return False
        self.memory.store_word(slot[0], slot[1], 0)
        self._writes += 1
        self._mapped[directory] -= 1
        return True

    def protect(self, directory: int, vpn: int, writable: bool) -> bool:
        """Set or clear W in a present PTE; return whether one was present."""
        slot = self._pte_slot(directory, vpn)
        pte = 0 if slot is None else self.memory.load_word(*slot)
        if not pte & PTE_P:
            return False
        pte = (pte | PTE_W) if writable else (pte & ~PTE_W)
        self.memory.store_word(slot[0], slot[1], pte)  # type: ignore[index]
        self._writes += 1
        return True

    def mark(self, directory: int, vpn: int, bits: int) -> bool:
        """OR ``bits`` (A, D) into a present PTE; return whether one was present."""
        slot = self._pte_slot(directory, vpn)
        pte = 0 if slot is None else self.memory.load_word(*slot)
        if not pte & PTE_P:
            return False
        self.memory.store_word(slot[0], slot[1], pte | (bits & (PTE_A | PTE_D)))  # type: ignore[index]
        self._writes += 1
        return True

    def release(self, directory: int) -> int:
        """Forget ``directory`` and its tables, handing their frames to ``free``."""
        tables = self._known(directory)
        frames = [directory, *tables.values()]
        del self._tables[directory], self._mapped[directory]
        if self.free is not None:
            for ppn in frames:
                self.free(ppn)
        return len(frames)

    def statistics(self) -> PageTableStats:
        """Return a frozen snapshot of the builder's counters."""
        return PageTableStats(len(self._tables),
                              sum(len(t) for t in self._tables.values()),
                              sum(self._mapped.values()), self._writes)
