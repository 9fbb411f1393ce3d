"""Interrupts as IPC: a user-level driver receives the timer's interrupts as messages.

Covers: ``irq_attach`` (``kernels/l4/syscall.py``): the kernel turns hardware
interrupt ``irq`` into a message from the pseudo-thread ``IRQ_BASE + irq`` to
the attached thread (``kernels/l4/ipc.py: deliver_irq``); an interrupt that
arrives while the driver is busy stays pending until its next receive; the
driver is preempted in: the interrupted thread waits in the ready queue.

Scenario: a driver thread attaches interrupt 0 (the interval timer),
programs it periodic every 20,000 cycles and receives five ticks, printing
when each arrived. Meanwhile a worker computes in another address space;
each tick interrupts it and the driver runs at once.

Run it: ``python examples/l4_interrupts.py``.
"""
from __future__ import annotations

from typing import Any


def worker(l4: Any) -> None:
    for _ in range(200):
        l4.compute(1000)


def driver(l4: Any) -> None:
    src = l4.irq_attach(0)
    l4.timer(20_000, periodic=True)
    for i in range(5):
        m = l4.receive(src)
        irq = m.sender - l4.kip().irq_base
        l4.print(f"driver: tick {i + 1} from irq {irq} at cycle {l4.time()}")
    l4.timer(1 << 39)                               # stop ticking (one far shot)


def root(l4: Any) -> None:
    l4.thread_create(l4.space_create("worker"), worker, name="worker")
    driver(l4)


if __name__ == "__main__":
    from exolab.kernels.l4 import L4
    from exolab.machine import Machine

    k = L4(Machine("i486", frames=4096))
    k.boot(root)
    res = k.run()
    for line in k.console:
        print(line)
    print(f"run: {res.reason}; interrupts: {k.machine.cpu.statistics().interrupts}; "
          f"delivered as messages: {k.ipc.statistics().irqs}")
