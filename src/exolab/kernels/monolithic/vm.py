"""Monolithic kernel virtual memory: frames, page tables, COW, demand zero.

The kernel owns every page table. A page table maps a virtual page number to
a :class:`PTE`; the TLB is refilled from it by the kernel's miss handler.
Page-table entries are kernel data; each pmap operation on one is charged
``mono_pte_op`` cycles (it stands for the loads and stores of a real pmap).

Dirty bits are kept the MIPS way: a writable page is entered into the TLB
read-only until its first store, whose TLB_MOD exception sets ``dirty``.
Copy-on-write pages are read-only in the TLB; a store copies the frame
(unless this space holds the only reference) and remaps it writable.

Interface::

    FrameAllocator(memory, first, count)   alloc() -> ppn, ref(ppn), unref(ppn) -> freed,
                                            refs(ppn), in_use(), available() -> free frames,
                                            wire(n), unwire(n), wired()  (kernel objects)
    PTE(ppn, prot, cow, dirty, segment)
    Region(start_vpn, npages, prot, segment=None)
    AddressSpace(asid)
      ptes, regions, map_region(npages, prot, segment=None) -> Region,
      region_of(vpn) -> Region | None, mapped(vpn) -> bool
    VM(kernel)                              the operations, charged:
      zero_frame(cpu) -> ppn
      refill(cpu, space, vaddr, write) -> "ok" | "segv"
      store_fault(cpu, space, vaddr) -> "ok" | "segv"
      protect(cpu, space, vaddr, length, prot), unmap(cpu, space, vaddr, length)
      fork_space(cpu, parent, asid) -> AddressSpace     destroy(cpu, space)
      dirty(cpu, space, vaddr) -> bool      accessible(space, vaddr, write) -> bool
    VM, uncharged:  pages(vaddr, length) -> range of vpns (EINVAL)
      check_user_range(space, vaddr, n) (EFAULT)        audit(space) (KernelPanic)
    sys_mmap, sys_munmap, sys_mprotect, sys_dirty   system-call handlers
    USER_BASE, USER_TOP                     the user part of the address space
"""
from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exolab.abi import PROT_READ, PROT_WRITE
from exolab.errors import KernelPanic, SyscallError
from exolab.machine.cpu import CPU
from exolab.machine.memory import PhysicalMemory
from exolab.machine.tlb import TLBEntry

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel
    from exolab.kernels.monolithic.proc import Process

__all__ = ["FrameAllocator", "PTE", "Region", "AddressSpace", "VM", "USER_BASE", "USER_TOP",
           "sys_mmap", "sys_munmap", "sys_mprotect", "sys_dirty"]

USER_BASE = 0x0010_0000         # lowest user address handed out by mmap
USER_TOP = 0x7FFF_0000          # user addresses stay below this


class FrameAllocator:
    """Reference-counted allocation of physical frames, lowest-numbered first.

    Boot allocates nothing per frame: frames never yet handed out are the range
    [``_next``, ``_end``) (a bump pointer); freed frames go on a LIFO stack that
    ``alloc`` prefers. (The order equals a full LIFO free list built lowest on
    top.) ``wire``/``unwire`` hold frames for kernel objects (kernel stacks,
    page-table pages, process structures): they leave ``available`` but are not
    counted by ``in_use``, which counts referenced frames only.
    """

    __slots__ = ("memory", "_free", "_refs", "_next", "_end", "_wired")

    def __init__(self, memory: PhysicalMemory, first: int, count: int) -> None:
        self.memory = memory
        self._free: list[int] = []              # freed frames, last freed on top
        self._next = first                      # lowest frame never handed out
        self._end = first + count
        self._refs: dict[int, int] = {}         # ppn -> reference count
        self._wired = 0                         # frames held by kernel objects

    def alloc(self) -> int:
        """Return a fresh frame with one reference (ENOMEM when none is left)."""
        if len(self._free) + (self._end - self._next) <= self._wired:
            raise SyscallError("ENOMEM", "out of physical frames")
        if self._free:
            ppn = self._free.pop()
        else:
            ppn = self._next
            self._next += 1
        self._refs[ppn] = 1
        return ppn

    def wire(self, n: int) -> None:
        """Hold ``n`` frames for kernel objects (ENOMEM unless that many are free)."""
        if self.available() < n:
            raise SyscallError("ENOMEM", "no frames for kernel objects", frames=n,
                               free=self.available())
        self._wired += n

    def unwire(self, n: int) -> None:
        """Give back ``n`` frames held by ``wire`` (KernelPanic if more than held)."""
        if n > self._wired:
            raise KernelPanic("frames: unwire of more than is wired", n=n,
                              wired=self._wired)
        self._wired -= n

    def ref(self, ppn: int) -> None:
        """Add a reference to an allocated frame (KernelPanic if it is free)."""
        try:
            self._refs[ppn] += 1
        except KeyError:
            raise KernelPanic("frames: ref of a free frame", ppn=ppn) from None

    def unref(self, ppn: int) -> bool:
        """Drop a reference; free the frame at zero. Return True if freed."""
        try:
            n = self._refs[ppn] - 1
        except KeyError:
            raise KernelPanic("frames: unref of a free frame", ppn=ppn) from None
        if n:
            self._refs[ppn] = n
            return False
        del self._refs[ppn]
        self._free.append(ppn)
        return True

    def refs(self, ppn: int) -> int:
        """Current reference count of ``ppn`` (0 if free)."""
        return self._refs.get(ppn, 0)

    def in_use(self) -> int:
        """Number of allocated (referenced) frames; wired frames are not counted."""
        return len(self._refs)

    def wired(self) -> int:
        """Number of frames held for kernel objects."""
        return self._wired

    def available(self) -> int:
        """Number of frames ``alloc`` may still hand out (free, not wired)."""
        return len(self._free) + (self._end - self._next) - self._wired


class PTE:
    """A page-table entry; owned by one AddressSpace, guarded by the kernel."""

    __slots__ = ("ppn", "prot", "cow", "dirty", "segment")

    def __init__(self, ppn: int, prot: int, cow: bool = False, dirty: bool = False,
                 segment: int | None = None) -> None:
        self.ppn = ppn              # physical frame
        self.prot = prot            # PROT_* bits the program asked for
        self.cow = cow              # shared with a fork relative until written
        self.dirty = dirty          # written since mapped (software dirty bit)
        self.segment = segment      # shm key when the frame belongs to a segment


@dataclass(slots=True)
class Region:
    """A range of virtual pages created by mmap (demand-zero) or shm_attach."""

    start_vpn: int
    npages: int
    prot: int
    segment: int | None = None      # shm key, or None for anonymous memory


def _start(r: Region) -> int:
    """A region's first page (the sort key of AddressSpace.regions)."""
    return r.start_vpn


@dataclass(slots=True)
class AddressSpace:
    """One process's virtual memory; guarded by the kernel."""

    asid: int                                               # valid in generation asid_gen
    ptes: dict[int, PTE] = field(default_factory=dict)      # vpn -> PTE
    regions: list[Region] = field(default_factory=list)     # sorted by start
    next_vpn: int = USER_BASE >> 12                         # mmap bump pointer
    asid_gen: int = -1                                      # kernel's ASID generation
    image: tuple[int, int] = (0, 0)                         # the image's [vpn, end vpn)

    def region_of(self, vpn: int) -> Region | None:
        """Return the region containing ``vpn``, or None."""
        for r in self.regions:
            if r.start_vpn <= vpn < r.start_vpn + r.npages:
                return r
        return None

    def mapped(self, vpn: int) -> bool:
        """Whether ``vpn`` has a PTE or lies in a region (may be touched without EFAULT)."""
        return vpn in self.ptes or self.region_of(vpn) is not None

    def map_region(self, npages: int, prot: int, segment: int | None = None) -> Region:
        """Reserve ``npages`` fresh virtual pages; return the region. Regions are
        placed by a bump pointer with a guard page after each, stepping over the
        program's image; once the pointer reaches USER_TOP, in the lowest hole
        munmap left (first fit), so mapping and unmapping for ever never runs out."""
        if npages <= 0:
            raise SyscallError("ENOMEM", "no virtual space left", npages=npages)
        start = self._clear_of_image(self.next_vpn, npages)
        if (start + npages) << 12 <= USER_TOP:
            self.next_vpn = start + npages + 1  # a guard page between regions
        else:                                   # (a hole, or the tail the pointer
            start = self._first_fit(npages)     # could not fit: past it, then)
            self.next_vpn = max(self.next_vpn, start + npages + 1)
        r = Region(start, npages, prot, segment)
        insort(self.regions, r, key=_start)
        return r

    def _clear_of_image(self, start: int, npages: int) -> int:
        """``start``, or the page after the image's guard if [start, +npages) meets it."""
        lo, hi = self.image
        return hi + 1 if start < hi and start + npages > lo else start

    def _first_fit(self, npages: int) -> int:
        """The lowest start of ``npages`` free pages with a guard page after them,
        clear of every region and of the image (ENOMEM if there is none)."""
        at = USER_BASE >> 12
        for r in self.regions:
            at = self._clear_of_image(at, npages + 1)
            if at + npages + 1 <= r.start_vpn:
                return at
            at = max(at, r.start_vpn + r.npages + 1)
        at = self._clear_of_image(at, npages + 1)
        if (at + npages) << 12 <= USER_TOP:
            return at
        raise SyscallError("ENOMEM", "no virtual space left", npages=npages)


class VM:
    """The kernel's VM operations; each charges the profile's pmap costs."""

    def __init__(self, kernel: "MonolithicKernel") -> None:
        self.frames = kernel.frames
        self.memory = kernel.machine.memory
        self.c_pte = kernel.paths["mono_pte_op"]
        self.c_query = self.c_pte               # a dirty query: one PTE look (Mach: its own)
        self.c_refill = kernel.paths["mono_refill"]

    def zero_frame(self, cpu: CPU) -> int:
        """Allocate a frame and fill it with zeros (charged)."""
        ppn = self.frames.alloc()
        cpu.charge(self.memory.zero_frame(ppn))
        return ppn

    def refill(self, cpu: CPU, space: AddressSpace, vaddr: int, write: bool) -> str:
        """Handle a TLB miss: enter the translation, allocating demand-zero pages."""
        cpu.charge(self.c_refill)
        vpn = vaddr >> 12
        pte = space.ptes.get(vpn)
        if pte is None:
            region = space.region_of(vpn)
            if region is None or region.segment is not None:
                return "segv"
            cpu.charge(self.c_pte)
            pte = space.ptes[vpn] = PTE(self.zero_frame(cpu), region.prot,
                                        dirty=write and bool(region.prot & PROT_WRITE))
        if not pte.prot & PROT_READ or (write and not pte.prot & PROT_WRITE):
            return "segv"
        self._enter(cpu, space, vpn, pte)
        return "ok"

    def _enter(self, cpu: CPU, space: AddressSpace, vpn: int, pte: PTE) -> None:
        """Write ``pte``'s translation into the TLB (writable only when dirty)."""
        writable = bool(pte.prot & PROT_WRITE) and pte.dirty and not pte.cow
        cpu.tlb_write_random(TLBEntry(vpn, space.asid, pte.ppn, True, writable, pte.dirty))

    def store_fault(self, cpu: CPU, space: AddressSpace, vaddr: int) -> str:
        """Handle TLB_MOD: set the dirty bit, break COW, or report a violation."""
        vpn = vaddr >> 12
        pte = space.ptes.get(vpn)
        if pte is None or not pte.prot & PROT_WRITE:
            return "segv"
        cpu.charge(self.c_pte)
        if pte.cow:
            self._break_cow(cpu, pte)
        pte.dirty = True
        cpu.tlb_invalidate(vpn, space.asid)
        self._enter(cpu, space, vpn, pte)
        return "ok"

    def _break_cow(self, cpu: CPU, pte: PTE) -> None:
        """Give ``pte`` a private copy of its frame (or keep the last reference)."""
        if self.frames.refs(pte.ppn) > 1:
            new = self.frames.alloc()
            cpu.charge(self.memory.copy(new << 12, pte.ppn << 12, 4096))
            self.frames.unref(pte.ppn)
            pte.ppn = new
        pte.cow = False

    def pages(self, vaddr: int, length: int) -> range:
        """Virtual page numbers of [vaddr, vaddr+length); EINVAL if unaligned."""
        if type(vaddr) is not int or vaddr & 0xFFF or type(length) is not int \
                or length < 0 or vaddr < 0:
            raise SyscallError("EINVAL", "address must be page aligned", vaddr=vaddr,
                               length=length)
        return range(vaddr >> 12, (vaddr + length + 0xFFF) >> 12)

    def protect(self, cpu: CPU, space: AddressSpace, vaddr: int, length: int,
                prot: int) -> None:
        """Set ``prot`` on every page of the range; EFAULT if one is unmapped."""
        vpns = self.pages(vaddr, length)
        for vpn in vpns:                    # decode: every page must be mapped
            if not space.mapped(vpn):
                raise SyscallError("EFAULT", "page not mapped", vaddr=vpn << 12)
        for vpn in vpns:                    # invoke
            cpu.charge(self.c_pte)
            pte = space.ptes.get(vpn)
            if pte is None:                 # not yet touched: change the region's default
                self._materialize(cpu, space, vpn, prot)
                continue
            pte.prot = prot
            cpu.tlb_invalidate(vpn, space.asid)

    def _materialize(self, cpu: CPU, space: AddressSpace, vpn: int, prot: int) -> None:
        """Give an untouched page its own protection: allocate its zero frame now."""
        region = space.region_of(vpn)
        if region is not None and region.prot != prot:
            space.ptes[vpn] = PTE(self.zero_frame(cpu), prot)

    def unmap(self, cpu: CPU, space: AddressSpace, vaddr: int, length: int) -> None:
        """Remove every page of the range and release its frames (EINVAL unless
        the range is aligned and inside the user part of the address space)."""
        vpns = self.pages(vaddr, length)
        if vaddr + length > USER_TOP:
            raise SyscallError("EINVAL", "range outside the user address space",
                               vaddr=vaddr, length=length, top=USER_TOP)
        for vpn in vpns:
            cpu.charge(self.c_pte)
            pte = space.ptes.pop(vpn, None)
            if pte is not None:
                self.frames.unref(pte.ppn)
                cpu.tlb_invalidate(vpn, space.asid)
        lo, hi = vpns.start, vpns.stop
        kept: list[Region] = []             # regions outside the hole, clipped to it
        for r in space.regions:
            end = r.start_vpn + r.npages
            if end <= lo or r.start_vpn >= hi:
                kept.append(r)
                continue
            if r.start_vpn < lo:
                kept.append(Region(r.start_vpn, lo - r.start_vpn, r.prot, r.segment))
            if end > hi:
                kept.append(Region(hi, end - hi, r.prot, r.segment))
        space.regions = kept

    def dirty(self, cpu: CPU, space: AddressSpace, vaddr: int) -> bool:
        """Whether the page holding ``vaddr`` has been written (EFAULT if unmapped);
        charged ``c_query``, the kernel's page lookup."""
        cpu.charge(self.c_query)
        pte = space.ptes.get(vaddr >> 12)
        if pte is None:
            if space.region_of(vaddr >> 12) is None:
                raise SyscallError("EFAULT", "page not mapped", vaddr=vaddr)
            return False
        return pte.dirty

    def fork_space(self, cpu: CPU, parent: AddressSpace, asid: int) -> AddressSpace:
        """Return a copy-on-write copy of ``parent`` (shared segments stay shared)."""
        child = AddressSpace(asid, regions=[Region(r.start_vpn, r.npages, r.prot,
                                                   r.segment) for r in parent.regions],
                             next_vpn=parent.next_vpn, image=parent.image)
        for vpn, pte in parent.ptes.items():
            cpu.charge(2 * self.c_pte)
            self.frames.ref(pte.ppn)
            if pte.segment is None:         # read-only pages too: mprotect may open them
                pte.cow = True
                if pte.prot & PROT_WRITE:
                    cpu.tlb_invalidate(vpn, parent.asid)
            child.ptes[vpn] = PTE(pte.ppn, pte.prot, pte.cow, pte.dirty, pte.segment)
        return child

    def destroy(self, cpu: CPU, space: AddressSpace) -> None:
        """Release every frame of ``space`` and its TLB entries."""
        for pte in space.ptes.values():
            cpu.charge(self.c_pte)
            self.frames.unref(pte.ppn)
        space.ptes.clear()
        space.regions.clear()
        cpu.tlb_flush(space.asid)

    def accessible(self, space: AddressSpace, vaddr: int, write: bool) -> bool:
        """Whether a user access to ``vaddr`` would now succeed (refill's rule)."""
        pte = space.ptes.get(vaddr >> 12)
        if pte is not None:
            prot = pte.prot
        else:
            region = space.region_of(vaddr >> 12)
            if region is None or region.segment is not None:
                return False
            prot = region.prot
        return bool(prot & PROT_READ) and (not write or bool(prot & PROT_WRITE))

    def check_user_range(self, space: AddressSpace, vaddr: int, n: int) -> None:
        """EFAULT unless every page of [vaddr, vaddr+n) is mapped in ``space``."""
        if type(vaddr) is not int or type(n) is not int or vaddr < 0 or n < 0 \
                or vaddr + n > USER_TOP:
            raise SyscallError("EFAULT", "bad address", vaddr=vaddr, length=n)
        for vpn in range(vaddr >> 12, (vaddr + n + 0xFFF) >> 12):
            if not space.mapped(vpn):
                raise SyscallError("EFAULT", "bad address", vaddr=vaddr, length=n)

    def audit(self, space: AddressSpace) -> None:
        """Raise KernelPanic if a PTE names a frame that is not allocated."""
        for vpn, pte in space.ptes.items():
            if self.frames.refs(pte.ppn) <= 0:
                raise KernelPanic("vm: pte maps a free frame", vpn=vpn, ppn=pte.ppn)


# -- system-call handlers: (kernel, cpu, proc, *args) ---------------------------------

def _length(length: object) -> int:
    """Decode a mapping length (EINVAL unless a positive int of sane size)."""
    if type(length) is not int or not 0 < length <= USER_TOP - USER_BASE:
        raise SyscallError("EINVAL", "bad length", length=length)
    return length


def _prot(prot: object) -> int:
    """Decode a PROT_* value (EINVAL unless 0..3)."""
    if type(prot) is not int or not 0 <= prot <= (PROT_READ | PROT_WRITE):
        raise SyscallError("EINVAL", "bad protection", prot=prot)
    return prot


def sys_mmap(k: "MonolithicKernel", cpu: CPU, proc: "Process", length: int, prot: int) -> int:
    """Reserve demand-zero pages; return their address."""
    npages = (_length(length) + 0xFFF) >> 12
    region = proc.space.map_region(npages, _prot(prot))
    cpu.charge(k.paths["mono_vm_op"])
    return region.start_vpn << 12


def sys_munmap(k: "MonolithicKernel", cpu: CPU, proc: "Process", vaddr: int,
               length: int) -> None:
    """Unmap [vaddr, vaddr+length)."""
    length = _length(length)
    cpu.charge(k.paths["mono_vm_op"])
    k.vm.unmap(cpu, proc.space, vaddr, length)


def sys_mprotect(k: "MonolithicKernel", cpu: CPU, proc: "Process", vaddr: int, length: int,
                 prot: int) -> None:
    """Change the protection of [vaddr, vaddr+length)."""
    length, prot = _length(length), _prot(prot)
    cpu.charge(k.paths["mono_vm_op"])
    k.vm.protect(cpu, proc.space, vaddr, length, prot)


def sys_dirty(k: "MonolithicKernel", cpu: CPU, proc: "Process", vaddr: int) -> bool:
    """Whether the page holding ``vaddr`` is dirty."""
    if type(vaddr) is not int:
        raise SyscallError("EFAULT", "bad address", vaddr=vaddr)
    return k.vm.dirty(cpu, proc.space, vaddr)
