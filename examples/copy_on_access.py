"""A user-level pager: pages are copied in on first access by a fault handler.

Covers: mmap, mprotect, set_fault_handler (user-level memory-fault handling,
as Appel & Li use it), load/store/load_bytes/store_bytes and dirty bits on
the monolithic kernel's ABI.

Scenario: a "backing store" area holds ``pages`` pages of data. A "window"
of the same size starts inaccessible (PROT_NONE). The program then simply
reads and writes the window. The first touch of a window page faults; the
handler — a pager running in user mode — opens the page, copies its
contents in from the backing store and leaves it read-only, so later reads
run at full speed. The first *store* to a paged-in page faults once more:
the pager records the page as modified and makes it writable. At the end the
pager writes the modified pages back to the backing store, the way a real
pager cleans dirty pages, and the program checks the backing store.

Run it: ``python examples/copy_on_access.py [PAGES]`` or
``exolab run examples/copy_on_access.py [PAGES]``.
"""
from __future__ import annotations

from exolab.abi import ABI, PROT_NONE, PROT_READ, PROT_RW

#: the ABI features this example needs (the conformance kit skips it, with the
#: reason, on a kernel that declares one of them refused)
NEEDS = ("mprotect", "set_fault_handler", "dirty")   # a user-level pager

PAGE = 4096


class Pager:
    """Copies window pages in from a backing area on demand; tracks modified pages."""

    def __init__(self, os: ABI, backing: int, window: int, pages: int) -> None:
        self.backing, self.window, self.pages = backing, window, pages
        self.resident: set[int] = set()         # window page numbers copied in
        self.modified: set[int] = set()         # ... and written since
        os.mprotect(window, pages * PAGE, PROT_NONE)
        os.set_fault_handler(self.fault)

    def fault(self, os: ABI, vaddr: int, write: bool) -> None:
        """The fault handler: page in, or upgrade a resident page to writable."""
        n = (vaddr - self.window) // PAGE
        if not 0 <= n < self.pages:
            raise RuntimeError(f"fault outside the window at {vaddr:#x}")
        page = self.window + n * PAGE
        if n not in self.resident:
            os.mprotect(page, PAGE, PROT_RW)
            os.store_bytes(page, os.load_bytes(self.backing + n * PAGE, PAGE))
            os.mprotect(page, PAGE, PROT_READ)
            self.resident.add(n)
            os.print(f"  pager: page {n} copied in ({'write' if write else 'read'} fault)")
        if write:
            os.mprotect(page, PAGE, PROT_RW)
            self.modified.add(n)
            os.print(f"  pager: page {n} now writable")

    def write_back(self, os: ABI) -> list[int]:
        """Copy every modified page back to the backing area; return their numbers."""
        for n in sorted(self.modified):
            page = self.window + n * PAGE
            os.store_bytes(self.backing + n * PAGE, os.load_bytes(page, PAGE))
            os.mprotect(page, PAGE, PROT_READ)
        done, self.modified = sorted(self.modified), set()
        return done


def main(os: ABI, pages: int = 4) -> int:
    """Fill the backing store, then use the window and let the pager work."""
    backing = os.mmap(pages * PAGE)
    for n in range(pages):
        os.store(backing + n * PAGE, 1000 + n)          # first word of each page
    window = os.mmap(pages * PAGE)
    pager = Pager(os, backing, window, pages)
    os.print(f"reading page 1: {os.load(window + PAGE)}")
    os.print(f"reading page 1 again: {os.load(window + PAGE)} (no fault)")
    os.print(f"reading page {pages - 1}: {os.load(window + (pages - 1) * PAGE)}")
    os.print("writing page 1")
    os.store(window + PAGE, 7)
    os.print("writing page 0")
    os.store(window, 8)
    # the kernel's dirty bits cannot tell the pager's copy-in from the program's
    # stores (page 3 was only read), which is why the pager keeps its own set
    os.print("kernel dirty bits: " + ", ".join(
        f"page {n} {os.dirty(window + n * PAGE)}" for n in range(pages)))
    os.print(f"pager's modified pages: {sorted(pager.modified)}")
    os.print(f"resident pages: {sorted(pager.resident)} of {pages}")
    os.print(f"written back: {pager.write_back(os)}")
    os.print("backing store now: " +
             ", ".join(str(os.load(backing + n * PAGE)) for n in range(pages)))
    return 0


if __name__ == "__main__":
    import sys

    from exolab.runner import run_program
    run = run_program(main, *(int(a) for a in sys.argv[1:]))
    print("\n".join(run.console))
