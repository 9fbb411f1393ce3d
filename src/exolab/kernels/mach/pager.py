"""External memory managers: page faults answered by a user-level pager task.

Mach lets a task map a *memory object* whose pages a user-level *pager*
supplies. ``vm_allocate_pager(length, pager)`` maps fresh virtual pages
backed by the pager whose port the caller holds a send right to. The first
touch of such a page faults into the kernel (``mach_pager_fault``: the map
entry, the object, no resident page), which sends the pager a
``memory_object_data_request`` — a kernel message carrying the page's offset
and a send-once right to a kernel reply port — and blocks the faulting
thread. The pager receives it like any message and answers with
``msg_reply(reply, data)`` (``memory_object_data_supply``); the kernel
copies the data into a fresh frame, enters it in the task's page table and
resumes the thread (``mach_pager_supply``), whose access then succeeds. A
pager that dies (or whose port is dead) leaves the fault unanswerable: the
faulting task gets ``SIGSEGV``; nothing else changes. The reply port dies
when the fault ends, however it ends: a task that exits under a thread
waiting in a fault leaves nothing queued (the pager's late answer fails
``EPIPE``), and rights an answer carries are destroyed, not kept. A data
request is the faulting task's message: its kmsg may not take the zone's
reserve (threads faulting on a pager that never receives cannot drain it),
and a fault whose request finds no kmsg is unanswerable (``SIGSEGV``).

Not modelled: pageout (``data_return``), locking and precious pages; a
forked child's pager pages are demand-zero.

Interface::

    DATA_REQUEST                 msg_id of a data request (Mach's 2200)
    Pagers(kernel)
      allocate(cpu, proc, length, pager_name) -> vaddr
      owns(proc, vpn) -> Backing | None
      fault(cpu, proc, vpn, backing)          the fault path; returns once mapped
      forget(proc)                            statistics() -> PagerStats
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exolab.abi import PROT_RW
from exolab.errors import SyscallError
from exolab.kernels.common.args import nat
from exolab.kernels.mach.ipc import IN_FLIGHT
from exolab.kernels.mach.limits import MAX_PAGERS
from exolab.kernels.mach.ports import SEND, SEND_ONCE, Port
from exolab.kernels.monolithic.signal import terminate
from exolab.kernels.monolithic.vm import PTE

if TYPE_CHECKING:
    from exolab.kernels.mach.kernel import MachKernel

__all__ = ["DATA_REQUEST", "Pagers", "Backing", "PagerStats"]

DATA_REQUEST = 2200         # memory_object_data_request's MIG id in Mach 3.0
_OFFSET = struct.Struct("<q")
KERNEL_TASK = "kernel"      # the receiver of the kernel's reply ports


@dataclass(slots=True, eq=False)
class Backing:
    """A range of a task's pages backed by a pager's memory object."""

    start_vpn: int
    npages: int
    pager: Port


@dataclass(frozen=True, slots=True)
class PagerStats:
    """Objects mapped, faults sent to pagers and pages they supplied."""

    objects: int
    requests: int
    supplied: int
    failed: int


class Pagers:
    """Every task's pager-backed ranges and the fault path to their pagers."""

    def __init__(self, kernel: "MachKernel") -> None:
        self.k = kernel
        self.ranges: dict[int, list[Backing]] = {}     # pid -> its backed ranges
        p = kernel.paths
        self.c_fault, self.c_supply = p["mach_pager_fault"], p["mach_pager_supply"]
        self.objects = self.requests = self.supplied = self.failed = 0

    def allocate(self, cpu: Any, proc: Any, length: Any, pager_name: Any) -> int:
        """Map ``length`` bytes backed by the pager ``pager_name`` names; its address."""
        nat(length, "length")
        if length == 0:
            raise SyscallError("EINVAL", "length must be positive", length=0)
        port = self.k.ipc.space(proc).lookup(pager_name, SEND).obj
        if type(port) is not Port or port.dead:
            raise SyscallError("EPIPE", "the pager's port is dead", name=pager_name)
        if self.objects >= MAX_PAGERS:
            raise SyscallError("EAGAIN", "too many pager-backed objects", limit=MAX_PAGERS)
        region = proc.space.map_region((length + 0xFFF) >> 12, PROT_RW)
        self.ranges.setdefault(proc.pid, []).append(
            Backing(region.start_vpn, region.npages, port))
        self.objects += 1
        return region.start_vpn << 12

    def owns(self, proc: Any, vpn: int) -> Backing | None:
        """The backed range holding ``vpn`` if its page is not resident yet."""
        for b in self.ranges.get(proc.pid, ()):
            if b.start_vpn <= vpn < b.start_vpn + b.npages and vpn not in proc.space.ptes:
                return b
        return None

    def fault(self, cpu: Any, proc: Any, vpn: int, b: Backing) -> None:
        """Ask the pager for the page and wait; map what it supplies (SIGSEGV if
        the pager is gone or answers with nothing but a death notice). The
        kernel's reply port dies however the wait ends (a thread unwound with its
        task included), freeing whatever was queued on it."""
        ipc = self.k.ipc
        cpu.charge(self.c_fault)
        ipc.fp.text("vm", cpu.asid)
        if b.pager.dead or b.pager.receiver is IN_FLIGHT:
            self.failed += 1
            raise terminate(self.k, proc, "SIGSEGV", vpn << 12)
        reply = ipc.new_port(KERNEL_TASK)
        try:
            kmsg = self._request(cpu, proc, b, vpn, reply)
        finally:
            ipc.kill_kernel_port(reply)
        if kmsg is None or proc.space.ptes.get(vpn) is not None:
            if kmsg is not None:
                ipc.consume(kmsg)
            if vpn in proc.space.ptes:      # another thread's fault mapped it meanwhile
                return
            self.failed += 1
            raise terminate(self.k, proc, "SIGSEGV", vpn << 12)
        self._supply(cpu, proc, vpn, kmsg)

    def _request(self, cpu: Any, proc: Any, b: Backing, vpn: int, reply: Port) -> Any:
        """Send the data request with a send-once right to ``reply`` and sleep until
        the answer; return its kmsg (None: the send-once notification came, or the
        request found no kmsg: it is the faulting task's message, so it may not take
        the zone's reserve and is charged to that task's quota, and a fault that
        cannot ask is unanswerable)."""
        ipc = self.k.ipc
        offset = (vpn - b.start_vpn) << 12
        try:
            req = ipc.kernel_kmsg(b.pager, reply, SEND_ONCE, DATA_REQUEST,
                                  _OFFSET.pack(offset), privileged=False, payer=proc)
        except SyscallError:            # ENOMEM: the zone's user part is taken (or
            return None                 # EAGAIN: the faulting task's kmsg quota is)
        ipc.send_kmsg(cpu, b.pager, req)
        self.requests += 1
        while not reply.queue and not reply.notices:
            self.k.sched.sleep(cpu, reply.waiters)
        if not reply.queue:
            reply.notices -= 1
            ipc.received += 1
            return None
        return reply.queue.popleft()

    def _supply(self, cpu: Any, proc: Any, vpn: int, kmsg: Any) -> None:
        """Copy the supplied data into a fresh frame and enter it (data_supply)."""
        ipc, k = self.k.ipc, self.k
        cpu.charge(self.c_supply)
        n = min(kmsg.nbytes - 28, 4096) if kmsg.nbytes > 28 else 0
        data = ipc.zone.read(kmsg, 28, n) if n > 0 else b""
        ipc.consume(kmsg)                   # (rights it carried are destroyed)
        ppn = k.vm.zero_frame(cpu)
        if data:
            k.machine.memory.write(ppn << 12, data)
            cpu.charge(k.machine.profile.copy_cost(len(data)))
        cpu.charge(k.vm.c_pte)
        proc.space.ptes[vpn] = PTE(ppn, PROT_RW)
        self.supplied += 1

    def forget(self, proc: Any) -> None:
        """``proc`` ended: drop its backed ranges (their frames go with its space)."""
        self.objects -= len(self.ranges.pop(proc.pid, ()))

    def statistics(self) -> PagerStats:
        """Return a frozen snapshot of the counters."""
        return PagerStats(self.objects, self.requests, self.supplied, self.failed)
