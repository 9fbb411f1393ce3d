"""Grant, map and flush: L4's recursive address spaces, built by messages.

Covers: map items in L4 IPC (``maps=((vpn, pages, writable, grant),)``), the
receiver's window (``buffer=(0, 0, vpn)``), the mapping database
(``kernels/l4/mapdb.py``): map shares a page with equal or fewer rights,
grant moves it out of the granter, flush takes it back from everyone who got
it from the flusher, recursively.

Scenario: the root task touches a page (sigma0, its pager, maps it a fresh
frame) and writes 5 into it. It maps the page writable to A; A maps it
read-only on to B; B reads 5 and its store faults (B has no pager: the
kernel ends B, nobody else is touched). A grants a second page of its own to C (it leaves A). Then the root
flushes its page: A's mapping and everything derived from it go; the root
keeps its own.

Run it: ``python examples/l4_grant_map_flush.py``.
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError

PAGE = 0x400000 >> 12           # the shared page, at the same vpn in every space
OWN = 0x500000 >> 12            # a page A owns and grants on


def b_body(l4: Any, a: int, root: int) -> None:
    m = l4.receive(a, buffer=(0, 0, PAGE))
    l4.print(f"B: got vpn {m.mapped[0]:#x} read-only, reads {l4.load(PAGE << 12)}")
    l4.send(root, words=(2,))
    l4.store(PAGE << 12, 6)                         # read-only: a fault B cannot fix


def c_body(l4: Any, a: int, root: int) -> None:
    m = l4.receive(a, buffer=(0, 0, OWN))
    l4.print(f"C: granted vpn {m.mapped[0]:#x}, reads {l4.load(OWN << 12)}")
    l4.send(root, words=(3,))


def a_body(l4: Any, root: int) -> None:
    m = l4.receive(root, buffer=(0, 0, PAGE))
    l4.print(f"A: mapped vpn {m.mapped[0]:#x}, reads {l4.load(PAGE << 12)}")
    b = l4.thread_create(l4.space_create("B"), b_body, l4.myself(), root, pager=0)
    l4.send(b, maps=((PAGE, 1, False, False),))      # read-only on to B
    l4.store(OWN << 12, 77)
    c = l4.thread_create(l4.space_create("C"), c_body, l4.myself(), root)
    l4.send(c, maps=((OWN, 1, True, True),))         # grant: A loses it
    try:
        l4.flush(OWN)
    except SyscallError as e:
        l4.print(f"A: flush of the granted page -> {e.errno} (A no longer holds it)")
    l4.send(root, words=(1,))
    l4.receive(root)                                # until the root says goodbye


def root(l4: Any) -> None:
    l4.store(PAGE << 12, 5)
    a = l4.thread_create(l4.space_create("A"), a_body, l4.myself())
    l4.send(a, maps=((PAGE, 1, True, False),))
    for _ in range(3):
        l4.receive()
    n = l4.flush(PAGE)
    l4.print(f"root: flush removed {n} mappings (A's, and B's made from it); "
             f"root still reads {l4.load(PAGE << 12)}")
    try:
        l4.send(l4.kip().sigma0, maps=((0x700, 1, True, False),), timeout=0)
    except SyscallError as e:
        l4.print(f"root: mapping a page it does not hold -> {e.errno}")
    l4.send(a)


if __name__ == "__main__":
    from exolab.kernels.l4 import L4
    from exolab.machine import Machine

    k = L4(Machine("i486", frames=4096))
    k.boot(root)
    res = k.run()
    for line in k.console:
        print(line)
    print(f"run: {res.reason}; faults: {[f[1] for f in k.faults]}")
    st = k.mapdb.statistics()
    print(f"mapdb: {st.maps} maps, {st.grants} grants, {st.flushes} flushes, "
          f"{st.removed} mappings removed")
