"""Mach's pmap: a protection raise is lazy, a lowering walks the range once.

In Mach 3.0, ``vm_protect`` changes the map entry and calls ``pmap_protect``,
which never adds a right: on the Alpha (CMU ``alpha/alpha/pmap.c``, Forin)
a protection with write returns at once ("nothing to do"), as the mips pmap
does ("pmap_protect may not increase protection, so RW is a no-op"). So the
physical map — the page tables the MMU or the PALcode refill reads — keeps
the old, lower rights after a raise; the next write to such a page faults,
and ``vm_fault`` finds the map allowing it and enters the page writable: an
unprotect's per-page work moves to the first write of each page, and is not
done at all for a page never written.

A lowering is ``pmap_protect`` proper: one call per range (the switch, the
pmap lock, the table walk: ``mach_pmap_protect``), the TLB invalidated as
the pmap does it — one whole flush per call where the TLB is untagged (the
Alpha pmap's ``INVALIDATE_TLB`` is ``tbia``), one entry per page where it is
tagged (the mips pmap's ``tlb_modify``) — and a few instructions per PTE
(``pmap_make_readonly``: ``mach_pmap_pte``; a protection without read is
``pmap_remove``: ``mach_pmap_remove_pte``). The per-page work is Mach's own
pmap code, not the monolithic kernel's.

Here the map's view is the PTE's ``prot`` (what ``accessible`` and the fault
rule read) and the pmap's is the TLB entry the kernel writes: a raise adding
write sets ``prot`` and marks the page *lazy*, charging nothing per page and
invalidating no TLB entry; a lazy page is entered read-only; a write to it
takes a protection fault that ``store_fault`` resolves as ``vm_fault`` does
(``mach_soft_fault``: the map and object lookup and the ``pmap_enter``),
after which it is an ordinary page. A lowering clears the mark.

Interface::

    MachVM(kernel)           the monolithic VM with Mach's pmap_protect rule
      protect(...)  store_fault(...)  dirty(...)  unmap(...)  destroy(...)   (as VM's)
      lazy_pages(space) -> int        pages whose pmap lags the map
      soft_faults                     writes resolved by vm_fault from the map
      pmap_calls                      pmap_protect calls that walked a range
      statistics() -> MachVMStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exolab.abi import PROT_READ, PROT_WRITE
from exolab.errors import SyscallError
from exolab.kernels.monolithic.vm import VM, AddressSpace, PTE
from exolab.machine.tlb import TLBEntry

if TYPE_CHECKING:
    from exolab.kernels.mach.kernel import MachKernel

__all__ = ["MachVM", "MachVMStats"]


@dataclass(frozen=True, slots=True)
class MachVMStats:
    """The pmap's lag behind the map, and the work a protection change took."""

    lazy_pages: int                 # pages whose pmap entry has fewer rights than the map
    soft_faults: int                # writes vm_fault resolved from the map
    pmap_calls: int                 # pmap_protect walks (a lowering each)


class MachVM(VM):
    """VM operations with Mach's lazy raise of protections."""

    def __init__(self, kernel: "MachKernel") -> None:
        super().__init__(kernel)
        p = kernel.paths
        self.c_soft = p["mach_soft_fault"]
        self.c_pmap, self.c_pmap_pte = p["mach_pmap_protect"], p["mach_pmap_pte"]
        self.c_pmap_remove = p["mach_pmap_remove_pte"]
        self.c_query = p["mach_page_query"]     # dirty: Mach's own page lookup, not a PTE op
        self.tagged = bool(kernel.machine.profile.tlb_tagged)
        self._lazy: dict[int, set[int]] = {}        # id(space) -> vpns the pmap lags
        self.soft_faults = self.pmap_calls = 0

    def lazy_pages(self, space: AddressSpace) -> int:
        """How many pages of ``space`` have a pmap entry with fewer rights than the map."""
        return len(self._lazy.get(id(space), ()))

    def protect(self, cpu: Any, space: AddressSpace, vaddr: int, length: int,
                prot: int) -> None:
        """Set ``prot`` on the range (the map): pages losing a right go through one
        pmap_protect walk now; pages only gaining rights are left to their first
        write's fault (EFAULT if a page is unmapped)."""
        vpns = self.pages(vaddr, length)
        for vpn in vpns:                    # decode: every page must be mapped
            if not space.mapped(vpn):
                raise SyscallError("EFAULT", "page not mapped", vaddr=vpn << 12)
        lazy = self._lazy.setdefault(id(space), set())
        lowered: list[int] = []
        walk = False                        # did any page lose a right
        for vpn in vpns:                    # invoke: the map entry's new protection
            pte = space.ptes.get(vpn)
            if pte is None:                 # untouched: no pmap entry; the region's
                walk = walk or bool(self._region_prot(space, vpn) & ~prot)
                self._materialize(cpu, space, vpn, prot)    # default changes
                continue
            if pte.prot & ~prot:            # a right removed: the pmap must follow
                lazy.discard(vpn)
                lowered.append(vpn)
            elif prot & ~pte.prot & PROT_WRITE:
                lazy.add(vpn)               # the pmap keeps the old rights
            pte.prot = prot
        if lowered or walk:
            self._pmap_protect(cpu, space, len(vpns), lowered, prot)

    def _pmap_protect(self, cpu: Any, space: AddressSpace, npages: int,
                      lowered: list[int], prot: int) -> None:
        """One pmap_protect over ``npages`` PTEs taking rights away: its call, a PTE
        operation per page, and the TLB invalidation the pmap does (a whole flush
        on an untagged TLB, each lowered page's entry on a tagged one)."""
        self.pmap_calls += 1
        per_pte = self.c_pmap_pte if prot & PROT_READ else self.c_pmap_remove
        cpu.charge(self.c_pmap + npages * per_pte)
        if not self.tagged:
            cpu.tlb_flush()
            return
        for vpn in lowered:
            cpu.tlb_invalidate(vpn, space.asid)

    @staticmethod
    def _region_prot(space: AddressSpace, vpn: int) -> int:
        """The protection an untouched page of ``space`` has (its region's)."""
        region = space.region_of(vpn)
        return region.prot if region is not None else 0

    def _enter(self, cpu: Any, space: AddressSpace, vpn: int, pte: PTE) -> None:
        """Enter ``pte``'s translation; a lazy page as the pmap has it (read-only)."""
        lazy = self._lazy.get(id(space))
        if lazy and vpn in lazy:
            cpu.tlb_write_random(TLBEntry(vpn, space.asid, pte.ppn, True, False,
                                          pte.dirty))
            return
        super()._enter(cpu, space, vpn, pte)

    def store_fault(self, cpu: Any, space: AddressSpace, vaddr: int) -> str:
        """A write to a read-only translation: a lazy page is resolved from the map
        as vm_fault does (its resident-page path and pmap_enter); otherwise as VM's."""
        lazy = self._lazy.get(id(space))
        vpn = vaddr >> 12
        if lazy and vpn in lazy:
            pte = space.ptes.get(vpn)
            if pte is not None and pte.prot & PROT_WRITE:
                lazy.discard(vpn)
                self.soft_faults += 1
                cpu.charge(self.c_soft)
                if not pte.cow:
                    pte.dirty = True
                    cpu.tlb_invalidate(vpn, space.asid)
                    self._enter(cpu, space, vpn, pte)
                    return "ok"
        return super().store_fault(cpu, space, vaddr)

    def unmap(self, cpu: Any, space: AddressSpace, vaddr: int, length: int) -> None:
        """As VM's; the range's lazy marks go with its pages."""
        lazy = self._lazy.get(id(space))
        if lazy:
            lazy.difference_update(self.pages(vaddr, length))
        super().unmap(cpu, space, vaddr, length)

    def destroy(self, cpu: Any, space: AddressSpace) -> None:
        """As VM's; the space's lazy marks go too."""
        self._lazy.pop(id(space), None)
        super().destroy(cpu, space)

    def statistics(self) -> MachVMStats:
        """Return a frozen snapshot of the pmap counters."""
        return MachVMStats(sum(len(v) for v in self._lazy.values()), self.soft_faults,
                           self.pmap_calls)
