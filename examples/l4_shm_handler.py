"""Shared memory and a fault handler on L4: both are conversations with the pager.

Covers: the UNIX server as every process's pager (``kernels/l4/ux.py``): a
shared segment's pages handed out as map items on first touch, kept shared
across fork while private pages go copy-on-write; ``mprotect`` as a flush of
rights; a protection fault answered by the pager with an upcall that runs the
program's handler on the faulting thread (``kernels/l4/system.py``); ``dirty``
from the kernel's access bits (``status``, after L4 X.2's unmap status).

Scenario: the parent creates a one-page segment, attaches it and writes a
private page, then forks. The child writes both; the parent sees the child's
word in the segment and still its own in the private page. Then the parent
write-protects its private page and installs a handler; its next store faults,
the pager answers "upcall", the handler unprotects the page, and the store is
retried. ``dirty`` asks the kernel whether a page was written: no for a page
only read, yes for the protected page.

Run it: ``python examples/l4_shm_handler.py``.
"""
from __future__ import annotations

from typing import Any

PAGE = 4096
PROT_READ, PROT_RW = 1, 3


def child(os: Any, seg: int, priv: int, w: int) -> int:
    os.store(seg, 2222)                     # the segment's frame: the parent sees it
    os.store(priv, 3333)                    # a private page: this store copies it
    os.write(w, b"!")
    return 0


def main(os: Any) -> None:
    seg = os.shm_attach(os.shm_create(PAGE))
    priv = os.mmap(PAGE)
    os.store(seg, 1111)
    os.store(priv, 1111)
    r, w = os.pipe()
    pid = os.fork(child, seg, priv, w)
    os.read(r, 1)
    os.print(f"parent: segment {os.load(seg)}, private {os.load(priv)}")
    os.wait(pid)

    def handler(os: Any, vaddr: int, write: bool) -> None:
        os.print(f"handler: {'write' if write else 'read'} fault at page +"
                 f"{(vaddr - priv) // PAGE}, unprotecting")
        os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)

    os.set_fault_handler(handler)
    os.mprotect(priv, PAGE, PROT_READ)
    fresh = os.mmap(PAGE)
    os.load(fresh)
    os.print(f"parent: a page only read is dirty? {os.dirty(fresh)}")
    os.store(priv + 4, 4444)
    os.print(f"parent: after the handler the store landed: {os.load(priv + 4)}; "
             f"dirty? {os.dirty(priv)}")


if __name__ == "__main__":
    from exolab.kernels import make_kernel
    from exolab.machine import Machine

    k = make_kernel("l4", Machine("i486", frames=4096))
    k.boot(main)
    res = k.run()
    for line in k.console:
        print(line)
    st = k.ux.statistics()
    print(f"run: {res.reason}; faults: {k.faults}; page faults as IPC: {k.page_faults}; "
          f"served by the pager: {st['faults']}; upcalls: {st['upcalls']}; "
          f"pages mapped by message: {k.ipc.statistics().pages_mapped}")
