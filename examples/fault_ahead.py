"""Write your own library OS policy: an application that faults ahead.

Covers: specialising ExOS (a subclass of its VM component, installed with
``vm_class``), a program choosing its library OS (``main.libos``), secure
bindings in batches (Aegis's TLB_VEC), and the kernel's counters
(``AegisStats.tlb_upcalls``) and the machine's (bytes zeroed: Aegis zeroes
every frame it hands out, so frames handed out = bytes zeroed / page size) on the
exokernel.

Scenario: on Aegis, a TLB miss that the kernel's software TLB cannot serve
is an upcall into the application's library OS, and ExOS's policy is to
fill and bind the one page that missed. This application knows better: it
writes its buffers from front to back. So it links a library OS of its own,
ExOS with a different miss policy — on a write miss it also fills the next
15 pages of the region and binds all 16 writable in one TLB_VEC call (Aegis
still checks the capability of every page). The script runs two workloads,
each under ExOS's policy and under the application's: writing every page of
a 64-page region in order (fault-ahead takes 4 upcalls instead of 64 and
fewer cycles), and writing every 16th page (fault-ahead allocates and zeroes
60 pages nobody uses: more frames, far more cycles). A kernel-wide policy
would have to pick one; a library OS lets each application pick its own
("apps link with the LibOS of their choice", Engler et al., SOSP'95, as
summarised in the lecture notes).

Run it: ``python examples/fault_ahead.py [PAGES]``, or one workload under
the fault-ahead library OS with
``exolab run examples/fault_ahead.py [PAGES] --kernel exokernel``
(``main`` names its library OS; the monolithic kernel ignores the choice).
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.abi import ABI
from exolab.kernels.exokernel import Sys
from exolab.kernels.exokernel.bind import VALID, WRITABLE
from exolab.libos.exos import VM, ExOS
from exolab.libos.exos.layout import P_DIRTY, P_LOST, P_PRESENT, P_READ, P_WRITE

PAGE, SHIFT = 4096, 12
CLUSTER = 16                    # pages filled per write miss, the missing one included


class FaultAheadVM(VM):
    """ExOS's virtual memory with the application's miss policy: fault ahead on writes."""

    def fill(self, vaddr: int, write: bool) -> int:
        """ExOS's fill for the page that missed, then the rest of its cluster."""
        i = super().fill(vaddr, write)
        if i >= 0 and write:
            self.fill_ahead(i, vaddr >> SHIFT)
        return i

    def fill_ahead(self, i: int, vpn: int) -> None:
        """Give the untouched pages after PTE ``i`` frames; bind them in one call.

        Stops at the end of the region (the next PTE is not the next page), at
        a page already present and at one the program may not write. The pages
        are entered dirty and writable: the application writes what it maps.
        """
        pt, vec = self.pt, []
        n = pt.count()
        for k in range(1, CLUSTER):
            j = i + k
            if j >= n or pt.vpn(j) != vpn + k:
                break
            flags = pt.entry(j)[1]
            if flags & (P_PRESENT | P_LOST) or flags & (P_READ | P_WRITE) != P_READ | P_WRITE:
                break
            ppn, flags = self.demand_zero(j, flags | P_DIRTY)
            vec.append((vpn + k, ppn, pt.cap(j), VALID | WRITABLE))
        if vec:
            self.os.trap(Sys.TLB_VEC, vec)


class FaultAheadExOS(ExOS):
    """ExOS with the fault-ahead VM; everything else is ExOS's own."""

    vm_class = FaultAheadVM


def sequential(os: ABI, pages: int = 64) -> int:
    """Write one word into every page of a fresh region, front to back."""
    return _write(os, pages, 1)


def sparse(os: ABI, pages: int = 64) -> int:
    """Write one word into every CLUSTER-th page of a fresh region."""
    return _write(os, pages, CLUSTER)


def _write(os: ABI, pages: int, stride: int) -> int:
    """Map ``pages`` pages, store into every ``stride``-th; print what it cost."""
    va = os.mmap(pages * PAGE)
    start = os.time()
    for n in range(0, pages, stride):
        os.store(va + n * PAGE, n)
    took = os.time() - start
    os.print(f"wrote {len(range(0, pages, stride))} of {pages} pages in {took:,} cycles")
    return 0


def linked_with(libos: type[ExOS], workload: Callable[..., int]) -> Callable[..., int]:
    """``workload`` as a program linked with library OS ``libos``."""
    def program(os: ABI, *args: Any) -> int:
        return workload(os, *args)
    program.__name__ = workload.__name__
    program.libos = libos                       # type: ignore[attr-defined]
    return program


main = linked_with(FaultAheadExOS, sequential)  # what `exolab run` runs


if __name__ == "__main__":
    import sys

    from exolab.runner import run_program
    args = [int(a) for a in sys.argv[1:]]
    print(f"Aegis on dec5000; a write miss fills 1 page under ExOS, {CLUSTER} under "
          f"fault-ahead")
    for workload in (sequential, sparse):
        print(f"{workload.__name__}:")
        for label, libos in (("ExOS", ExOS), ("fault-ahead", FaultAheadExOS)):
            run = run_program(linked_with(libos, workload), *args, kernel="exokernel")
            upcalls = run.kernel.statistics().tlb_upcalls
            mem = run.machine.statistics().memory
            frames = mem.bytes_zeroed // mem.page_size
            print(f"  {label:<11}  {run.console[0]}; {upcalls} TLB-miss upcalls, "
                  f"{frames} frames handed out")
