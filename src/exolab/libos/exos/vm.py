"""ExOS virtual memory: its own page table, TLB-miss handler, faults, protection.

ExOS manages virtual memory entirely at user level. Its page table is the
paper's *linear vector* of PTEs sorted by virtual page, kept in ExOS's own
simulated memory and searched by binary search; every probe is a real load
(plus the probe's computation, :mod:`.layout`), which is why ExOS's
``mprotect`` of many pages loses to Ultrix while its fault path wins.

- A TLB miss that the STLB cannot serve is upcalled to :meth:`VM.on_tlb_miss`:
  look the page up, allocate a demand-zero frame if needed, break
  copy-on-write, and bind the translation with Aegis (TLB_WRITE checks the
  capability). Pages are bound read-only until their first store, so the
  write fault marks them dirty (the R3000 has no hardware dirty bit).
- Protection changes are one batched binding call per ``mprotect``; an
  inaccessible page gets a binding with the valid bit clear, so touching it
  comes back as a protection exception (:meth:`VM.on_prot`) with no lookup.
- A fault the program must see goes to its handler (Appel & Li style) with
  the registers saved by ExOS; an unhandled one ends the process (SIGSEGV).

Interface::

    MAX_FAULT_DEPTH
    prot_flags(prot) -> PTE bits      bind_flags(pte flags) -> Aegis binding flags
    PageTable(os)      find(vpn), entry(i), vpn(i), cap(i), set_flags, set_frame,
                       insert_run, remove_run, count(), entries()
    VM(os)             mmap, munmap, mprotect, dirty, on_tlb_miss, on_tlb_mod,
                       on_prot, user_fault, map_fixed, break_cow, demand_zero,
                       fill(vaddr, write) -> PTE index (the miss policy),
                       handler_return, reserve, shared_run, lose

This module is over the 400-line guide because the page table and the VM
operations over it are one mechanism: the paper measures them together.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.abi import PROT_READ, PROT_WRITE
from exolab.errors import SyscallError
from exolab.kernels.exokernel.bind import VALID, WRITABLE
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.layout import (
    CAPV_VPN,
    IMAGE_VPN,
    MAX_FAULT_DEPTH,
    MAX_PTES,
    MISC_COUNT,
    MISC_DEPTH,
    MISC_HANDLER,
    MISC_VA,
    P_COW,
    P_DIRTY,
    P_LOST,
    P_PRESENT,
    P_READ,
    P_SHARED,
    P_WRITE,
    PAGE,
    PT_PAGES,
    PT_VPN,
    PTE_SIZE,
    PTES_PER_PAGE,
    SAVE_FAULT,
    SAVE_FRAME,
    SAVE_VA,
    SCRATCH_VPN,
    SHIFT,
    USER_BASE,
    USER_TOP,
    cost,
)
from exolab.safe.sealed import Sealed

if TYPE_CHECKING:
    from exolab.libos.exos.exos import ExOS

__all__ = ["PageTable", "VM", "MAX_FAULT_DEPTH", "prot_flags", "bind_flags"]

_BASE, _CAPV = PT_VPN << SHIFT, CAPV_VPN << SHIFT


def prot_flags(prot: Any) -> int:
    """Decode an ABI ``prot`` (EINVAL unless an int in 0..3) into PTE protection bits."""
    if type(prot) is not int or not 0 <= prot <= 3:
        raise SyscallError("EINVAL", "bad protection", prot=prot)
    return (P_READ if prot & PROT_READ else 0) | (P_WRITE if prot & PROT_WRITE else 0)


def bind_flags(flags: int) -> int:
    """Aegis binding flags for a present PTE: writable only once dirty and not
    copy-on-write (the first store is a write fault that marks the page dirty)."""
    w = flags & P_WRITE and flags & P_DIRTY and not flags & P_COW
    return VALID | (WRITABLE if w else 0)


class PageTable(metaclass=Sealed):
    """The sorted linear vector of PTEs in ExOS's memory (owned by the process)."""

    def __init__(self, os: "ExOS") -> None:
        self.cpu = os.cpu
        self.c_call = cost(os.profile, "proc_call")
        self.c_probe = cost(os.profile, "bsearch_probe")
        self.os = os
        self.capacity = PT_PAGES * PTES_PER_PAGE       # PTEs the guaranteed pages hold

    def _grow(self, need: int) -> None:
        """Add guaranteed page-table (and handle-vector) pages until ``need`` PTEs
        fit (ENOMEM past MAX_PTES, or when no frame is left)."""
        if need > MAX_PTES:
            raise SyscallError("ENOMEM", "page table full", limit=MAX_PTES)
        trap = self.os.trap
        while self.capacity < need:
            pages = self.capacity // PTES_PER_PAGE
            for vpn in (PT_VPN + pages,) if pages % 2 else \
                    (PT_VPN + pages, CAPV_VPN + pages // 2):
                ppn, h = trap(Sys.PAGE_ALLOC, None)
                trap(Sys.GUARANTEE, vpn, ppn, h, True)
            self.capacity += PTES_PER_PAGE

    def count(self) -> int:
        """Number of PTEs in the vector."""
        return self.cpu.load(MISC_VA + MISC_COUNT)

    def find(self, vpn: int) -> int:
        """Binary search for ``vpn``: its index, or ``~insertion_point`` if absent."""
        cpu = self.cpu
        cpu.charge(self.c_call)
        lo, hi = 0, cpu.load(MISC_VA + MISC_COUNT)
        load, probe = cpu.load, self.c_probe
        while lo < hi:
            mid = (lo + hi) >> 1
            cpu.charge(probe)
            v = load(_BASE + mid * PTE_SIZE)
            if v == vpn:
                return mid
            if v < vpn:
                lo = mid + 1
            else:
                hi = mid
        return ~lo

    def entry(self, i: int) -> tuple[int, int]:
        """(ppn, flags) of PTE ``i``."""
        a = _BASE + i * PTE_SIZE
        return self.cpu.load(a + 4), self.cpu.load(a + 8)

    def vpn(self, i: int) -> int:
        """The virtual page of PTE ``i``."""
        return self.cpu.load(_BASE + i * PTE_SIZE)

    def cap(self, i: int) -> int:
        """The capability handle of PTE ``i``'s frame."""
        return self.cpu.load(_CAPV + i * 8, 8)

    def set_flags(self, i: int, flags: int) -> None:
        """Store PTE ``i``'s flags."""
        self.cpu.store(_BASE + i * PTE_SIZE + 8, flags)

    def set_frame(self, i: int, ppn: int, handle: int, flags: int) -> None:
        """Store PTE ``i``'s frame, handle and flags."""
        a = _BASE + i * PTE_SIZE
        self.cpu.store(a + 4, ppn)
        self.cpu.store(a + 8, flags)
        self.cpu.store(_CAPV + i * 8, handle, 8)

    def _shift(self, i: int, n: int, by: int) -> None:
        """Move PTEs [i, n) by ``by`` slots (memmove through the MMU, charged per word)."""
        cpu = self.cpu
        if i >= n:
            return
        for base, size in ((_BASE, PTE_SIZE), (_CAPV, 8)):
            data = cpu.load_bytes(base + i * size, (n - i) * size)
            cpu.store_bytes(base + (i + by) * size, data)

    def insert_run(self, vpn: int, npages: int, flags: int) -> None:
        """Insert PTEs for ``npages`` absent pages from ``vpn`` (not present yet)."""
        n = self.count()
        if n + npages > self.capacity:
            self._grow(n + npages)
        i = self.find(vpn)
        if i >= 0:
            raise SyscallError("EINVAL", "page already mapped", vaddr=vpn << SHIFT)
        i = ~i
        self._shift(i, n, npages)
        cpu = self.cpu
        for k in range(npages):
            a = _BASE + (i + k) * PTE_SIZE
            cpu.store(a, vpn + k)
            cpu.store(a + 4, 0)
            cpu.store(a + 8, flags)
            cpu.store(_CAPV + (i + k) * 8, 0, 8)
        cpu.store(MISC_VA + MISC_COUNT, n + npages)

    def remove_run(self, i: int, npages: int) -> None:
        """Remove PTEs [i, i + npages)."""
        n = self.count()
        data_from = i + npages
        cpu = self.cpu
        for base, size in ((_BASE, PTE_SIZE), (_CAPV, 8)):
            if data_from < n:
                data = cpu.load_bytes(base + data_from * size, (n - data_from) * size)
                cpu.store_bytes(base + i * size, data)
        cpu.store(MISC_VA + MISC_COUNT, n - npages)

    def entries(self) -> list[tuple[int, int, int, int]]:
        """Every PTE as (vpn, ppn, flags, handle), in order (a walk of the vector)."""
        out = []
        for i in range(self.count()):
            ppn, flags = self.entry(i)
            out.append((self.vpn(i), ppn, flags, self.cap(i)))
        return out


class VM(metaclass=Sealed):
    """ExOS's virtual-memory operations for one process."""

    def __init__(self, os: "ExOS") -> None:
        self.os = os
        self.cpu = os.cpu
        self.pt = PageTable(os)
        self.next_vpn = USER_BASE >> SHIFT     # mmap bump pointer (a register copy)
        p = os.profile
        self.c_pte = cost(p, "pte_update")
        self.c_ret = cost(p, "handler_return")
        self.c_call = cost(p, "proc_call")

    # -- the handlers Aegis upcalls --------------------------------------------------

    def handler_return(self) -> None:
        """Resume the application: reload the 3 scratch registers, jump to the EPC."""
        load = self.cpu.load
        load(SAVE_VA)
        load(SAVE_VA + 4)
        load(SAVE_VA + 8)
        self.cpu.charge(self.c_ret)

    def on_tlb_miss(self, vaddr: int, write: bool) -> None:
        """STLB miss: resolve it (:meth:`fill`), then resume the application."""
        self.fill(vaddr, write)
        self.handler_return()

    def fill(self, vaddr: int, write: bool) -> int:
        """Find the page, fill it if needed, bind it; its PTE index, or -1 if it faulted.

        This is ExOS's miss policy (one page per miss); a specialised library
        OS overrides it to prefetch or cluster (examples/fault_ahead.py).
        """
        vpn = vaddr >> SHIFT
        i = self.pt.find(vpn)
        if i < 0:
            self.user_fault(vaddr, write)
            return -1
        ppn, flags = self.pt.entry(i)
        need = P_WRITE if write else P_READ
        if flags & P_LOST or not flags & need or not flags & P_READ:
            self.user_fault(vaddr, write)
            return -1
        if not flags & P_PRESENT:
            ppn, flags = self.demand_zero(i, flags)
        self._bind_pte(i, vpn, ppn, flags, write)
        return i

    def _bind_pte(self, i: int, vpn: int, ppn: int, flags: int, write: bool) -> None:
        """Bind PTE ``i``'s page (:func:`bind_flags`); for a store, first break
        copy-on-write and mark the page dirty."""
        if write and flags & P_COW:
            ppn, flags = self.break_cow(i, vpn, ppn, flags)
        if write and not flags & P_DIRTY:
            flags |= P_DIRTY
            self.pt.set_flags(i, flags)
        self.os.trap(Sys.TLB_WRITE, vpn, ppn, self.pt.cap(i), bind_flags(flags))

    def on_tlb_mod(self, cause: int, vaddr: int, write: bool) -> None:
        """A store hit a read-only binding: first write (dirty), copy-on-write, or a fault."""
        os = self.os
        if vaddr >> SHIFT == os.TRIGGER_VPN and os.exc_handler("prot") is not None:
            return os.run_exception("prot", cause, vaddr)
        vpn = vaddr >> SHIFT
        i = self.pt.find(vpn)
        flags = self.pt.entry(i)[1] if i >= 0 else 0
        if i < 0 or not flags & P_WRITE or flags & P_LOST:
            self.user_fault(vaddr, True)
            return self.handler_return()
        self._bind_pte(i, vpn, self.pt.entry(i)[0], flags, True)
        self.handler_return()

    def on_prot(self, cause: int, vaddr: int, write: bool) -> None:
        """Touching an inaccessible page (a valid-clear binding): the program's fault."""
        self.user_fault(vaddr, bool(write))
        self.handler_return()

    def user_fault(self, vaddr: int, write: bool) -> None:
        """Run the program's fault handler with ExOS's full context saved, or die."""
        os, cpu, p = self.os, self.cpu, self.os.profile
        misc = MISC_VA
        depth = cpu.load(misc + MISC_DEPTH)
        handler = os.fault_handler
        if handler is None or depth >= MAX_FAULT_DEPTH:
            os.die("SIGSEGV")
            return
        for k in range(3):                    # move Aegis's 3 saved registers into the
            cpu.store(SAVE_VA + SAVE_FRAME + 4 * k, cpu.load(SAVE_VA + 4 * k))  # frame:
        cpu.store(SAVE_VA + SAVE_FAULT, vaddr)      # the handler may fault and reuse
        cpu.store(SAVE_VA + SAVE_FAULT + 4, int(write))     # the save area
        cpu.charge(p.reg_save)
        cpu.store(misc + MISC_DEPTH, depth + 1)
        cpu.load(misc + MISC_HANDLER)
        cpu.charge(self.c_call)
        epoch = os.prot_epoch
        try:
            handler(os, vaddr, write)
        finally:
            cpu.store(misc + MISC_DEPTH, depth)
        cpu.charge(p.reg_restore)
        if os.prot_epoch == epoch:            # nothing changed: the retry would fault
            os.die("SIGSEGV")

    # -- frames ---------------------------------------------------------------------------

    def demand_zero(self, i: int, flags: int) -> tuple[int, int]:
        """Give PTE ``i`` a fresh zeroed frame (Aegis zeroes what it allocates)."""
        ppn, handle = self.os.trap(Sys.PAGE_ALLOC, None)
        flags |= P_PRESENT
        self.pt.set_frame(i, ppn, handle, flags)
        return ppn, flags

    def break_cow(self, i: int, vpn: int, ppn: int, flags: int) -> tuple[int, int]:
        """Give PTE ``i`` a private copy of its frame (or keep it if we own it alone)."""
        os = self.os
        old = self.pt.cap(i)
        if os.trap(Sys.CAP_INFO, old)[3] <= 1:
            flags &= ~P_COW
            self.pt.set_flags(i, flags)
            return ppn, flags
        new_ppn, new = os.trap(Sys.PAGE_ALLOC, None)
        os.trap(Sys.TLB_WRITE, SCRATCH_VPN, ppn, old, VALID)
        os.trap(Sys.TLB_WRITE, SCRATCH_VPN + 1, new_ppn, new, VALID | WRITABLE)
        data = self.cpu.load_bytes(SCRATCH_VPN << SHIFT, PAGE)
        self.cpu.store_bytes((SCRATCH_VPN + 1) << SHIFT, data)
        os.trap(Sys.TLB_UNBIND, SCRATCH_VPN, 2)
        os.trap(Sys.PAGE_FREE, old)
        flags = (flags & ~P_COW) | P_DIRTY
        self.pt.set_frame(i, new_ppn, new, flags)
        return new_ppn, flags

    def map_fixed(self, vpn: int, frames: list[tuple[int, int]], flags: int) -> None:
        """Insert PTEs for pages that already have frames [(ppn, handle)]."""
        self.pt.insert_run(vpn, len(frames), flags)
        i = self.pt.find(vpn)
        for k, (ppn, handle) in enumerate(frames):
            self.pt.set_frame(i + k, ppn, handle, flags | P_PRESENT)

    # -- the ABI calls ---------------------------------------------------------------------

    def _pages(self, vaddr: Any, length: Any, outside: str = "EFAULT") -> tuple[int, int]:
        """Decode an aligned range into (first vpn, number of pages); a range
        beyond user space is ``outside`` (munmap lists only EINVAL)."""
        if type(vaddr) is not int or type(length) is not int or vaddr & (PAGE - 1) \
                or not 0 < length <= USER_TOP - USER_BASE:
            raise SyscallError("EINVAL", "range must be page aligned", vaddr=vaddr,
                               length=length)
        if not 0 <= vaddr <= USER_TOP - length:
            raise SyscallError(outside, "range outside user space", vaddr=vaddr,
                               length=length)
        return vaddr >> SHIFT, (length + PAGE - 1) >> SHIFT

    def reserve(self, npages: int) -> int:
        """Pick ``npages`` fresh virtual pages (skipping the image); return the first.
        A bump pointer with a guard page after each region; once it reaches
        USER_TOP, the lowest hole munmap left (first fit), so mapping and unmapping
        for ever never runs out."""
        vpn = self._clear_of_image(self.next_vpn, npages)
        if (vpn + npages) << SHIFT <= USER_TOP:
            self.next_vpn = vpn + npages + 1      # a guard page between regions
            return vpn
        vpn = self._first_fit(npages)
        self.next_vpn = max(self.next_vpn, vpn + npages + 1)
        return vpn

    def _clear_of_image(self, vpn: int, npages: int) -> int:
        """``vpn``, or the page after the image's guard if [vpn, +npages) meets it."""
        img_end = IMAGE_VPN + self.os.image_span
        return img_end + 1 if vpn < img_end and vpn + npages > IMAGE_VPN else vpn

    def _first_fit(self, npages: int) -> int:
        """The lowest ``npages`` free pages with a guard page after them, clear of
        every PTE and of the image (ENOMEM if none): a binary search per region."""
        pt, top = self.pt, USER_TOP >> SHIFT
        at = self._clear_of_image(USER_BASE >> SHIFT, npages + 1)
        i, n = pt.find(at), pt.count()
        i = i if i >= 0 else ~i
        while (at + npages) << SHIFT <= USER_TOP and at < top:
            if i >= n or pt.vpn(i) > at + npages:
                return at
            i = self._run_end(i, n)             # the region's last PTE; its guard next
            at = self._clear_of_image(max(at, pt.vpn(i) + 2), npages + 1)
            j = pt.find(at)
            i = max(i + 1, j if j >= 0 else ~j)
        raise SyscallError("ENOMEM", "no virtual space left", npages=npages)

    def _run_end(self, i: int, n: int) -> int:
        """The last PTE of the run of consecutive pages that PTE ``i`` begins (the
        vector is sorted, so ``vpn(j) - j`` is constant exactly along a run)."""
        pt, cpu = self.pt, self.cpu
        base, lo, hi = pt.vpn(i) - i, i, n - 1
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            cpu.charge(pt.c_probe)
            if pt.vpn(mid) - mid == base:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def mmap(self, length: Any, prot: Any) -> int:
        """Reserve demand-zero pages with protection ``prot``; return the address."""
        if type(length) is not int or not 0 < length <= USER_TOP - USER_BASE:
            raise SyscallError("EINVAL", "bad length", length=length)
        want = prot_flags(prot)
        npages = (length + PAGE - 1) >> SHIFT
        vpn = self.reserve(npages)
        self.pt.insert_run(vpn, npages, want)
        return vpn << SHIFT

    def munmap(self, vaddr: Any, length: Any) -> None:
        """Unmap the mapped pages of a range and give their frames back."""
        vpn, npages = self._pages(vaddr, length, "EINVAL")
        i = self.pt.find(vpn)
        i = i if i >= 0 else ~i
        j = i
        while j < self.pt.count() and self.pt.vpn(j) < vpn + npages:
            ppn, flags = self.pt.entry(j)
            if flags & P_PRESENT:
                self.os.trap(Sys.PAGE_FREE, self.pt.cap(j))
            j += 1
        self.os.trap(Sys.TLB_UNBIND, vpn, npages)
        if j > i:
            self.pt.remove_run(i, j - i)

    def mprotect(self, vaddr: Any, length: Any, prot: Any) -> None:
        """Change protection: one search, a walk, one batched binding call."""
        vpn, npages = self._pages(vaddr, length)
        want = prot_flags(prot)
        pt, cpu, c_pte = self.pt, self.cpu, self.c_pte
        i = pt.find(vpn)
        if i < 0:
            raise SyscallError("EFAULT", "page not mapped", vaddr=vaddr)
        for k in range(1, npages):              # decode: every page must be mapped
            if pt.vpn(i + k) != vpn + k:
                raise SyscallError("EFAULT", "page not mapped", vaddr=(vpn + k) << SHIFT)
        vec = []
        for k in range(npages):
            ppn, flags = pt.entry(i + k)
            cpu.charge(c_pte)
            new = (flags & ~(P_READ | P_WRITE)) | want
            pt.set_flags(i + k, new)
            if not new & P_PRESENT or new & P_LOST:
                continue
            if new & P_READ:
                vec.append((vpn + k, ppn, pt.cap(i + k), bind_flags(new)))
            else:
                vec.append((vpn + k, 0, 0, 0))
        self.os.prot_epoch += 1
        if vec:
            self.os.trap(Sys.TLB_VEC, vec)

    def dirty(self, vaddr: Any) -> bool:
        """Whether the page holding ``vaddr`` was written (a page-table lookup)."""
        if type(vaddr) is not int:
            raise SyscallError("EFAULT", "bad address", vaddr=vaddr)   # rendered safely
        i = self.pt.find(vaddr >> SHIFT)
        if i < 0:
            raise SyscallError("EFAULT", "page not mapped", vaddr=vaddr)
        return bool(self.pt.entry(i)[1] & P_DIRTY)

    def lose(self, ppns: set[int]) -> int:
        """Mark the PTEs whose frames were repossessed as lost; return how many."""
        n = 0
        for i in range(self.pt.count()):
            ppn, flags = self.pt.entry(i)
            if flags & P_PRESENT and ppn in ppns:
                self.pt.set_flags(i, (flags & ~P_PRESENT) | P_LOST)
                n += 1
        return n

    def shared_run(self, frames: list[tuple[int, int]],
                   flags: int = P_READ | P_WRITE | P_SHARED | P_DIRTY) -> int:
        """Map frames [(ppn, handle)] as a fresh shared region; return its address."""
        vpn = self.reserve(len(frames))
        self.map_fixed(vpn, frames, flags)
        return vpn << SHIFT
