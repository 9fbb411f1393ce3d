"""Device access for driver SIPs: the NIC and the disk, granted by a manifest's
system resources.

A driver is an ordinary SIP whose manifest asks for the device
(``resources={"nic": 1}``: NIC 0 of the machine). It posts receive buffers
in its own heap region (bounds-checked; with paging off a heap address is
the physical address the NIC's DMA writes to), sends frames from it, and
waits for the NIC's interrupt, which the kernel turns into a wakeup of the
waiting driver thread. Any other SIP asking is refused (EPERM): a device is
a system resource the manifest must declare.

The disk works the same way (``resources={"disk": 1}``: disk 0): the driver
submits a read of one block by DMA into its own heap and sleeps until the
disk's interrupt says that request completed; the CPU is idle meanwhile (the
seek, rotation and transfer are the drive's time, not the CPU's).

Interface::

    NicPort(nic)                       one NIC and the driver's waiters
      grant(pid)                       the SIP that may drive it (EBUSY: one has)
      release(pid)                     the driver exited: its receive ring is reset
                                       (no frame lands in its freed heap after)
      check(pid)                       EPERM unless ``pid`` was granted it
      post(paddr, size) -> bool        send(paddr, n) -> bool
      dma_into(lo, hi) -> bool         a posted buffer lies in [lo, hi)
      wait(cpu, sched) -> [(paddr, length)]      received frames (waits for one)
      interrupt(sched)                 IRQ_NIC: collect completions, wake the waiter
    DiskPort(disk)                     one disk and the driver's waiting requests
      grant(pid)  release(pid)  check(pid)       as NicPort's
      block_size, blocks               the drive's geometry
      read(cpu, sched, block, paddr)   DMA ``block`` to ``paddr``; waits for completion
      interrupt(sched)                 IRQ_DISK: wake the threads whose request completed
      orphans                          requests in flight whose waiter was killed
      dma_into(lo, hi) -> bool         a request in flight targets [lo, hi)
      pinned                           frames the kernel keeps aside until none is left
"""
from __future__ import annotations

from typing import Any

from exolab.errors import MachineError, SyscallError

__all__ = ["NicPort", "DiskPort"]


class _Port:
    """A device granted to at most one driver SIP, named ``device`` in its errors."""

    __slots__ = ("owner",)
    device = "device"                           # the subclass's name for its device

    def __init__(self) -> None:
        self.owner: int | None = None           # the driver's pid, once granted

    def grant(self, pid: int) -> None:
        """``pid``'s manifest declared the device: it may drive it (one driver)."""
        if self.owner is not None:
            raise SyscallError("EBUSY", f"the {self.device} already has a driver",
                               owner=self.owner)
        self.owner = pid

    def release(self, pid: int) -> None:
        """The driver exited."""
        if self.owner == pid:
            self.owner = None

    def check(self, pid: int) -> None:
        """EPERM unless ``pid`` is the device's driver."""
        if self.owner != pid:
            raise SyscallError("EPERM", f"the {self.device} is not in this SIP's manifest")


class NicPort(_Port):
    """A NIC owned by one driver SIP; see the module docstring."""

    __slots__ = ("nic", "done", "sleepers")
    device = "NIC"

    def __init__(self, nic: Any) -> None:
        super().__init__()
        self.nic = nic
        self.done: list[tuple[int, int]] = []       # received, not yet taken
        self.sleepers: list[Any] = []

    def release(self, pid: int) -> None:
        """The driver exited: reset the receive ring, which points into its heap."""
        if self.owner == pid:
            self.nic.reset_rx()
            self.done = []
        super().release(pid)

    def post(self, paddr: int, size: int) -> bool:
        """Post a receive buffer; False if the ring is full."""
        return bool(self.nic.post_rx(paddr, size))

    def dma_into(self, lo: int, hi: int) -> bool:
        """Whether a posted receive buffer overlaps [lo, hi)."""
        return any(p < hi and lo < p + n for p, n in self.nic.posted_rx())

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


class DiskPort(_Port):
    """A disk owned by one driver SIP; see the module docstring."""

    __slots__ = ("disk", "done", "waiting", "orphans", "targets", "pinned", "block_size",
                 "blocks")
    device = "disk"

    def __init__(self, disk: Any) -> None:
        super().__init__()
        self.disk = disk
        self.done: set[int] = set()                 # completed request ids, not yet seen
        self.waiting: dict[int, list[Any]] = {}     # request id -> its sleeping thread
        self.orphans: set[int] = set()              # in flight, their waiter gone
        self.targets: dict[int, int] = {}           # in flight: request id -> paddr
        self.pinned: list[int] = []                 # the kernel's: frames such a DMA
                                                    # may still write (kept from reuse)
        self.block_size = int(disk.block_size)
        self.blocks = int(disk.blocks)

    def read(self, cpu: Any, sched: Any, block: int, paddr: int) -> None:
        """DMA ``block`` to physical ``paddr`` and sleep until it has landed."""
        if not 0 <= block < self.blocks:
            raise SyscallError("EINVAL", "no such disk block", block=block,
                               blocks=self.blocks)
        try:
            rid = self.disk.submit_read(block, paddr)
        except MachineError as ex:
            raise SyscallError("EIO", "the disk refused the request",
                               reason=type(ex).__name__) from None
        self.waiting[rid] = []
        self.targets[rid] = paddr
        try:
            while rid not in self.done:
                self._complete(self.disk.take_completions())
                if rid in self.done:
                    break
                sched.sleep(cpu, self.waiting[rid])
        finally:
            self.waiting.pop(rid, None)
            if rid in self.done:
                self.done.discard(rid)
            else:                               # the waiter was killed: DMA still due
                self.orphans.add(rid)

    def dma_into(self, lo: int, hi: int) -> bool:
        """Whether a read still in flight lands in [lo, hi)."""
        size = self.block_size
        return any(p < hi and lo < p + size for p in self.targets.values())

    def interrupt(self, sched: Any) -> None:
        """The disk interrupted: note its completions and wake their waiters."""
        for rid in self._complete(self.disk.take_completions()):
            queue = self.waiting.get(rid)
            if queue:
                sched.wakeup(queue)

    def _complete(self, rids: list[int]) -> list[int]:
        """Note completed requests (an orphan's DMA has landed: forgotten); the others,
        now done."""
        done = []
        for rid in rids:
            self.targets.pop(rid, None)
            if rid in self.orphans:
                self.orphans.discard(rid)
            else:
                self.done.add(rid)
                done.append(rid)
        return done
