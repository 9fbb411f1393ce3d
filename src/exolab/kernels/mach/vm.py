"""Mach's pmap defers the work of raising a protection (a lazy unprotect).

In Mach 3.0, ``vm_protect`` changes the map entry and calls ``pmap_protect``
only to *lower* rights; a raise leaves the physical map — the page tables the
MMU or the PALcode refill reads — with the old, lower rights (the i386 and
Alpha pmaps return at once from ``pmap_protect`` when write access is being
added). The next write to such a page faults, and ``vm_fault`` finds the map
allowing it and enters the page writable: the unprotect's per-page work
moves to the first write of each page, and is not done at all for a page
never written. So ``vm_protect`` removing write access from 100 pages walks
100 PTEs while restoring it walks none (SPIN SOSP'95, Table 4: Mach prot100
1,792 us, unprot100 302).

Here the map's view is the PTE's ``prot`` (what ``accessible`` and the fault
rule read) and the pmap's is the TLB entry the kernel writes: a raise adding
write sets ``prot`` and marks the page *lazy*, charging nothing per page and
invalidating no TLB entry; a lazy page is entered read-only; a write to it
takes a protection fault that ``store_fault`` resolves as ``vm_fault`` does
(``mach_soft_fault``), after which it is an ordinary page. A lowering is the
ordinary per-page path and clears the mark.

Interface::

    MachVM(kernel)           the monolithic VM with Mach's pmap_protect rule
      protect(...)  store_fault(...)  unmap(...)  destroy(...)   (as VM's)
      lazy_pages(space) -> int        pages whose pmap lags the map
      soft_faults                     writes resolved by vm_fault from the map
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.abi import PROT_WRITE
from exolab.errors import SyscallError
from exolab.kernels.monolithic.vm import VM, AddressSpace, PTE
from exolab.machine.tlb import TLBEntry

if TYPE_CHECKING:
    from exolab.kernels.mach.kernel import MachKernel

__all__ = ["MachVM"]


class MachVM(VM):
    """VM operations with Mach's lazy raise of protections."""

    def __init__(self, kernel: "MachKernel") -> None:
        super().__init__(kernel)
        self.c_soft = kernel.paths["mach_soft_fault"]
        self._lazy: dict[int, set[int]] = {}        # id(space) -> vpns the pmap lags
        self.soft_faults = 0

    def lazy_pages(self, space: AddressSpace) -> int:
        """How many pages of ``space`` have a pmap entry with fewer rights than the map."""
        return len(self._lazy.get(id(space), ()))

    def protect(self, cpu: Any, space: AddressSpace, vaddr: int, length: int,
                prot: int) -> None:
        """Set ``prot`` on the range: a page losing a right takes the pmap's per-page
        work now; a page only gaining rights takes none (EFAULT if one is unmapped)."""
        vpns = self.pages(vaddr, length)
        for vpn in vpns:                    # decode: every page must be mapped
            if not space.mapped(vpn):
                raise SyscallError("EFAULT", "page not mapped", vaddr=vpn << 12)
        lazy = self._lazy.setdefault(id(space), set())
        for vpn in vpns:                    # invoke
            pte = space.ptes.get(vpn)
            old = pte.prot if pte is not None else self._region_prot(space, vpn)
            if old & ~prot:                 # a right removed: pmap_protect, now
                lazy.discard(vpn)
                super().protect(cpu, space, vpn << 12, 4096, prot)
                continue
            if pte is None:                 # untouched: the region's default changes
                self._materialize(cpu, space, vpn, prot)
                continue
            if prot & ~old & PROT_WRITE:
                lazy.add(vpn)               # the pmap keeps the old rights
            pte.prot = prot

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
        (vm_fault, then the ordinary dirty-bit path); otherwise as VM's."""
        lazy = self._lazy.get(id(space))
        vpn = vaddr >> 12
        if lazy and vpn in lazy:
            pte = space.ptes.get(vpn)
            if pte is not None and pte.prot & PROT_WRITE:
                lazy.discard(vpn)
                self.soft_faults += 1
                cpu.charge(self.c_soft)
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
