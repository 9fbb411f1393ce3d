"""One server thread waits for clients and interrupts at once (seL4's fix).

Covers: the evolution the seed shows: with thread ids as endpoints and
synchronous IPC only, a server that must also take interrupts needs a second
thread. seL4-style objects fix it (``kernels/l4/objects.py``): an
**endpoint** (``endpoint_create``; clients hold a capability, not the
server's id: ``cap_give``) and a **notification**, a word of bits
(``notification_create``, ``signal``), which an interrupt can signal
(``irq_notify``) and which, **bound** to the server thread (``bind``), ends
the server's receive on the endpoint with the bits (sender ``NTFN_BADGE``).

Scenario: a server binds a notification, routes the timer interrupt to it
as bit 2, arms the timer and loops on one receive: three clients in their
own spaces call it through the endpoint (each gets its word times ten) and
the timer's interrupt arrives in the same loop; a client also signals bit 0
directly. The server stops when it has served three calls and seen both
kinds of bits.

Run it: ``python examples/l4_notification_server.py``.
"""
from __future__ import annotations

from typing import Any


def client(l4: Any, ep: int, ntfn: int, x: int) -> None:
    r = l4.call(("ep", ep), words=(x,))
    l4.print(f"client {x}: reply {r.words[0]}")
    if x == 2:
        l4.signal(ntfn, 0b1)


def server(l4: Any, ep: int, ntfn: int, root: int) -> None:
    l4.bind(ntfn)
    l4.irq_notify(0, ntfn, 0b100)
    l4.timer(30_000)
    served, bits = 0, 0
    while served < 3 or bits != 0b101:
        m = l4.receive(("ep", ep))
        if m.sender == l4.kip().ntfn_badge:
            bits |= m.bits
            l4.print(f"server: notification bits {m.bits:#05b}")
        else:
            served += 1
            l4.print(f"server: call with {m.words[0]}")
            l4.send(m.sender, words=(10 * m.words[0],), timeout=0)
    l4.send(root, words=(served,))


def root(l4: Any) -> None:
    ep, ntfn = l4.endpoint_create(), l4.notification_create()
    s = l4.thread_create(l4.kinfo()[2], server, ep, ntfn, l4.myself(), name="server")
    for x in (1, 2, 3):
        sp = l4.space_create(f"client{x}")
        l4.thread_create(sp, client, l4.cap_give(sp, ep), l4.cap_give(sp, ntfn), x)
    l4.receive(s)


if __name__ == "__main__":
    from exolab.kernels.l4 import L4
    from exolab.machine import Machine

    k = L4(Machine("i486", frames=4096))
    k.boot(root)
    res = k.run()
    for line in k.console:
        print(line)
    st = k.ipc.statistics()
    print(f"run: {res.reason}; faults: {k.faults}; notifications: {st.notifications}; "
          f"messages: {st.messages}")
