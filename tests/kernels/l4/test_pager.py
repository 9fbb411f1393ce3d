"""Page faults as IPC to user-level pagers; grant, map and flush through messages;
interrupts as IPC; a notification-waiting server (kernels/l4)."""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError
from exolab.kernels.l4 import IRQ_BASE, NTFN_BADGE, SIGMA0_ID
from exolab.kernels.l4.syscall import FAULT_TAG, PAGES_TAG

from ._support import run

POOL = 0x300000                 # where the user-level pager keeps its frames
HEAP = 0x400000
DONE = 0x99


def _pager(l4: Any, log: list[Any]) -> None:
    """A user-level pager: four frames from sigma0 into its pool, one per fault."""
    got = l4.call(SIGMA0_ID, words=(PAGES_TAG, 4), buffer=(0, 0, POOL >> 12))
    pool = list(got.mapped)
    m = l4.receive()
    while True:
        assert m.words[0] == FAULT_TAG
        log.append(("fault", m.words[1] >> 12, bool(m.words[2])))
        m = l4.reply_wait(m.sender, maps=((pool.pop(0), 1, True, False),))


def _join(l4: Any, tid: int) -> Any:
    """Wait for ``tid``'s final message."""
    return l4.receive(tid)


def test_a_fault_is_a_message_to_the_pager_whose_reply_maps_the_page() -> None:
    log: list[Any] = []

    def client(l4: Any, parent: int) -> None:
        l4.store(HEAP, 41)
        l4.store(HEAP + 4, 1)                       # same page: no second fault
        log.append(("read", l4.load(HEAP) + l4.load(HEAP + 4)))
        l4.send(parent, words=(DONE,))

    def root(l4: Any) -> None:
        pager = l4.thread_create(l4.space_create("pager"), _pager, log, name="pager")
        c = l4.thread_create(l4.space_create("client"), client, l4.myself(), pager=pager)
        _join(l4, c)
    k = run(root)
    assert log == [("fault", HEAP >> 12, True), ("read", 42)]
    assert k.page_faults == 1                       # the pager's pool came by request


def test_map_shares_flush_revokes_and_the_next_touch_faults_again() -> None:
    log: list[Any] = []

    def child(l4: Any, parent: int) -> None:
        m = l4.receive(parent, buffer=(0, 0, HEAP >> 12))     # accept one page at HEAP
        log.append(("mapped", m.mapped, l4.load(HEAP)))
        l4.store(HEAP, 7)                                      # shared: the parent sees it
        l4.call(parent, words=(1,))
        log.append(("after flush", l4.load(HEAP)))             # faults to its pager: fresh
        l4.send(parent, words=(DONE,))

    def root(l4: Any) -> None:
        l4.store(HEAP, 5)
        c = l4.thread_create(l4.space_create("child"), child, l4.myself())
        l4.send(c, maps=((HEAP >> 12, 1, True, False),))
        m = l4.receive(c)
        log.append(("parent sees", l4.load(HEAP)))
        log.append(("flushed", l4.flush(HEAP >> 12)))
        l4.send(m.sender, timeout=0)                            # the child waits: go on
        _join(l4, c)
    run(root)
    assert log == [("mapped", (HEAP >> 12,), 5), ("parent sees", 7), ("flushed", 1),
                   ("after flush", 0)]


def test_grant_moves_the_page_out_of_the_granter() -> None:
    log: list[Any] = []

    def child(l4: Any, parent: int) -> None:
        l4.receive(parent, buffer=(0, 0, HEAP >> 12))
        log.append(("child", l4.load(HEAP)))
        l4.send(parent, words=(DONE,))

    def root(l4: Any) -> None:
        l4.store(HEAP, 9)
        c = l4.thread_create(l4.space_create("child"), child, l4.myself())
        l4.send(c, maps=((HEAP >> 12, 1, True, True),))        # grant
        _join(l4, c)
        try:
            l4.flush(HEAP >> 12)                                # no longer ours
        except SyscallError as e:
            log.append(("root", e.errno))
    run(root)
    assert log == [("child", 9), ("root", "EFAULT")]


def test_interrupts_are_messages_from_the_interrupts_pseudo_thread() -> None:
    log: list[Any] = []

    def root(l4: Any) -> None:
        src = l4.irq_attach(0)
        l4.timer(10_000, periodic=True)
        for _ in range(3):
            m = l4.receive(src)
            log.append((m.sender - IRQ_BASE, m.words))
        l4.timer(1 << 39)                                       # quiet
    k = run(root)
    assert log == [(0, (0,))] * 3
    assert k.ipc.statistics().irqs == 3


def test_one_server_thread_waits_for_clients_and_interrupts_at_once() -> None:
    log: list[Any] = []

    def client(l4: Any, ep: int, x: int) -> None:
        r = l4.call(("ep", ep), words=(x,))
        log.append(("client", x, r.words[0]))

    def server(l4: Any, ep: int, ntfn: int, parent: int) -> None:
        l4.bind(ntfn)
        l4.irq_notify(0, ntfn, 0b100)
        l4.timer(50_000)
        served = ticks = 0
        while served < 2 or ticks < 1:              # one thread, two kinds of events
            m = l4.receive(("ep", ep))
            if m.sender == NTFN_BADGE:
                ticks += 1
                log.append(("irq bits", m.bits))
            else:
                served += 1                         # reply (the caller waits: no block)
                l4.send(m.sender, words=(m.words[0] * 10,), timeout=0)
        l4.send(parent, words=(DONE,))

    def root(l4: Any) -> None:
        ep, ntfn = l4.endpoint_create(), l4.notification_create()
        s = l4.thread_create(l4.kinfo()[2], server, ep, ntfn, l4.myself())
        for x in (1, 2):
            sp = l4.space_create(f"c{x}")
            l4.thread_create(sp, client, l4.cap_give(sp, ep), x)
        _join(l4, s)
    run(root)
    assert sorted(e for e in log if e[0] == "client") == [("client", 1, 10),
                                                           ("client", 2, 20)]
    assert ("irq bits", 0b100) in log

