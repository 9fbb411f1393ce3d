"""A user-level pager: page faults are IPC messages, mappings are the replies.

Covers: L4's external paging (``kernels/l4/kernel.py: page_fault``): a thread's
page fault becomes a message ``(FAULT_TAG, address, write)`` from the thread
to its pager, and the pager's reply carries a map item that lands on the
faulting page; sigma0 (``kernels/l4/sigma0.py``) as the pager of pagers,
asked for frames by a page request; flush to take a page back.

Scenario: the pager asks sigma0 for four frames, zero-fills nothing (frames
are fresh) and serves a client's faults one frame each, printing every fault.
The client writes three pages and reads them back. Then the pager flushes
the first page from the client: the client's next touch faults again, and
the pager maps it a new frame (the old contents are gone from the client).

Run it: ``python examples/l4_pager.py``.
"""
from __future__ import annotations

from typing import Any

POOL = 0x300000 >> 12           # the pager's own pool of frames
HEAP = 0x400000


def pager(l4: Any) -> None:
    kip = l4.kip()                                  # sigma0's id, the request tag
    got = l4.call(kip.sigma0, words=(kip.pages_tag, 4), buffer=(0, 0, POOL))
    free = list(got.mapped)
    l4.print(f"pager: sigma0 mapped {len(free)} frames at vpn {free[0]:#x}..")
    given: dict[int, int] = {}                      # client vpn -> pool vpn
    m = l4.receive()
    while True:
        if m.words[0] == 0xF1:                      # the client asks: take page 0 back
            n = l4.flush(given.pop(HEAP >> 12))
            l4.print(f"pager: flushed the client's first page ({n} mapping)")
            m = l4.reply_wait(m.sender)
            continue
        vpn, write = m.words[1] >> 12, bool(m.words[2])
        frame = free.pop(0)
        given[vpn] = frame
        l4.print(f"pager: fault at {m.words[1]:#x} ({'write' if write else 'read'}) "
                 f"-> pool page {frame:#x}")
        m = l4.reply_wait(m.sender, maps=((frame, 1, True, False),))


def client(l4: Any, pgr: int, root: int) -> None:
    for i in range(3):
        l4.store(HEAP + i * 4096, 100 + i)
    l4.print(f"client: reads {[l4.load(HEAP + i * 4096) for i in range(3)]}")
    l4.call(pgr, words=(0xF1,))
    l4.print(f"client: page 0 after the flush reads {l4.load(HEAP)}")
    l4.send(root, words=(0,))


def root(l4: Any) -> None:
    p = l4.thread_create(l4.space_create("pager"), pager, name="pager")
    c = l4.thread_create(l4.space_create("client"), client, p, l4.myself(), pager=p)
    l4.receive(c)


if __name__ == "__main__":
    from exolab.kernels.l4 import L4
    from exolab.machine import Machine

    k = L4(Machine("i486", frames=4096))
    k.boot(root)
    res = k.run()
    for line in k.console:
        print(line)
    st = k.ipc.statistics()
    print(f"run: {res.reason}; faults: {k.faults}; page faults as IPC: {k.page_faults}; "
          f"pages mapped by message: {st.pages_mapped}")
