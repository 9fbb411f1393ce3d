"""Device access for driver SIPs: the NIC, granted by a manifest's system resources.

A driver is an ordinary SIP whose manifest asks for the device
(``resources={"nic": 1}``: NIC 0 of the machine). It posts receive buffers
in its own heap region (bounds-checked; with paging off a heap address is
the physical address the NIC's DMA writes to), sends frames from it, and
waits for the NIC's interrupt, which the kernel turns into a wakeup of the
waiting driver thread. Any other SIP asking is refused (EPERM): a device is
a system resource the manifest must declare.

Interface::

    NicPort(nic)                       one NIC and the driver's waiters
      grant(pid)                       the SIP that may drive it
      check(pid)                       EPERM unless ``pid`` was granted it
      post(paddr, size) -> bool        send(paddr, n) -> bool
      wait(cpu, sched) -> [(paddr, length)]      received frames (waits for one)
      interrupt(sched)                 IRQ_NIC: collect completions, wake the waiter
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError

__all__ = ["NicPort"]


class NicPort:
    """A NIC owned by one driver SIP; see the module docstring."""

    __slots__ = ("nic", "owner", "done", "sleepers")

    def __init__(self, nic: Any) -> None:
        self.nic = nic
        self.owner: int | None = None
        self.done: list[tuple[int, int]] = []       # received, not yet taken
        self.sleepers: list[Any] = []

    def grant(self, pid: int) -> None:
        """``pid``'s manifest declared the NIC: it may drive it (one driver)."""
        if self.owner is not None:
            raise SyscallError("EBUSY", "the NIC already has a driver", owner=self.owner)
        self.owner = pid

    def release(self, pid: int) -> None:
        """The driver exited."""
        if self.owner == pid:
            self.owner = None

    def check(self, pid: int) -> None:
        """EPERM unless ``pid`` is the NIC's driver."""
        if self.owner != pid:
            raise SyscallError("EPERM", "the NIC is not in this SIP's manifest")

    def post(self, paddr: int, size: int) -> bool:
        """Post a receive buffer; False if the ring is full."""
        return bool(self.nic.post_rx(paddr, size))

    def send(self, paddr: int, n: int) -> bool:
        """Transmit ``n`` bytes at ``paddr``; False if the ring is full."""
        return bool(self.nic.transmit(paddr, n))

    def wait(self, cpu: Any, sched: Any) -> list[tuple[int, int]]:
        """Received frames since the last call, waiting for one if there are none."""
        while not self.done:
            self.done += self.nic.take_rx()
            if self.done:
                break
            sched.sleep(cpu, self.sleepers)
        out, self.done = self.done, []
        return out

    def interrupt(self, sched: Any) -> None:
        """The NIC interrupted: gather its completions and wake the driver."""
        self.done += self.nic.take_rx()
        self.nic.take_tx_done()
        if self.done and self.sleepers:
            sched.wakeup(self.sleepers)
