"""TinyKernel: the smallest kernel that drives the machine (tests and `bench speed`).

It is *not* a product kernel: it has no ABI personality and no protection
beyond what the hardware checks. It exists so the machine can be exercised
and measured on its own (kernel name ``none`` in benchmark output).

- Threads run round-robin from a ready queue; ``SYS_YIELD`` switches to the
  next ready thread; a periodic timer (if ``quantum`` is set) preempts.
- Each thread has a flat page table ``{vpn: (ppn, writable)}``; a TLB miss
  refills from it with ``tlbwr`` or, if the page is unmapped, kills the
  thread with a recorded fault. A store to a read-only page (TLB_MOD) and
  any other exception kill the thread too; the rest of the machine runs on.
- ``SYS_DISK_READ`` blocks the caller until the disk interrupt.

Interface::

    TinyKernel(machine, quantum=None)
      spawn(entry, *args, name="") -> SimThread
      map(thread, vpn, ppn, writable=True)
      asid_of(thread) -> int
      faults: list[(tid, cause, vaddr)]
    SYS_NULL, SYS_YIELD, SYS_EXIT, SYS_GETTID, SYS_DISK_READ
"""
from __future__ import annotations

from collections import deque
from typing import Any

from exolab.errors import MachineError
from exolab.machine.cpu import CPU, IRQ_DISK, IRQ_TIMER, Cause
from exolab.machine.machine import Machine
from exolab.machine.threads import SimThread, ThreadExit
from exolab.machine.tlb import TLBEntry

__all__ = ["TinyKernel", "SYS_NULL", "SYS_YIELD", "SYS_EXIT", "SYS_GETTID",
           "SYS_DISK_READ"]

SYS_NULL, SYS_YIELD, SYS_EXIT, SYS_GETTID, SYS_DISK_READ = range(5)


class TinyKernel:
    """Round-robin threads, flat page tables, kill-on-fault."""

    def __init__(self, machine: Machine, quantum: int | None = None) -> None:
        self.machine = machine
        self.ready: deque[SimThread] = deque()      # runnable, not running
        self.tables: dict[int, dict[int, tuple[int, bool]]] = {}   # tid -> page table
        self.faults: list[tuple[int, str, int]] = []
        self.disk_waiters: dict[int, SimThread] = {}  # request id -> blocked thread
        self.quantum = quantum
        for cpu in machine.cpus:
            cpu.install(self)
        if quantum:
            machine.timer.arm(quantum, periodic=True)

    # -- kernel services used by tests --------------------------------------------

    def spawn(self, entry: Any, *args: Any, name: str = "") -> SimThread:
        """Create a ready thread running ``entry(*args)``."""
        t = self.machine.threads.create(entry, args, name)
        self.tables[t.tid] = {}
        self.ready.append(t)
        return t

    def map(self, thread: SimThread, vpn: int, ppn: int, writable: bool = True) -> None:
        """Map ``vpn`` to ``ppn`` in ``thread``'s page table."""
        self.tables[thread.tid][vpn] = (ppn, writable)

    def asid_of(self, thread: SimThread) -> int:
        """The ASID the kernel gives ``thread``."""
        return thread.tid & self.machine.cpu.tlb.asid_mask

    # -- vectors -------------------------------------------------------------------

    def on_trap(self, cpu: CPU, number: int, args: tuple[Any, ...]) -> Any:
        """System calls: null, yield, exit, gettid, disk read."""
        if number == SYS_NULL:
            return 0
        if number == SYS_YIELD:
            self._yield(cpu)
            return 0
        if number == SYS_GETTID:
            return cpu.current.tid  # type: ignore[union-attr]
        if number == SYS_EXIT:
            raise ThreadExit(args[0] if args else 0)
        if number == SYS_DISK_READ:
            return self._disk_read(cpu, *args)
        return -1

    def _yield(self, cpu: CPU) -> None:
        """Put the caller at the back of the ready queue and run the next thread."""
        if not self.ready:
            return
        me = cpu.current
        nxt = self.ready.popleft()
        self.ready.append(me)  # type: ignore[arg-type]
        self._run(cpu, nxt)

    def _run(self, cpu: CPU, t: SimThread) -> None:
        """Switch address space and context to ``t``."""
        cpu.set_asid(self.asid_of(t))
        cpu.switch_to(t)

    def _disk_read(self, cpu: CPU, block: int, paddr: int) -> int:
        """DMA disk 0's ``block`` to ``paddr`` and sleep until it lands; -1 if refused."""
        disk = self.machine.disks[0]
        try:
            rid = disk.submit_read(block, paddr)
        except MachineError:
            return -1
        self.disk_waiters[rid] = cpu.current  # type: ignore[assignment]
        self._block(cpu)
        return 0

    def _block(self, cpu: CPU) -> None:
        """The caller sleeps; run someone else or idle."""
        if self.ready:
            self._run(cpu, self.ready.popleft())
        else:
            cpu.idle()

    def on_exception(self, cpu: CPU, cause: Cause, vaddr: int, info: Any) -> None:
        """Every exception kills the offending thread (recorded in ``faults``)."""
        t = cpu.current
        tid = 0 if t is None else t.tid
        self.faults.append((tid, cause.name, vaddr))
        if t is not None:
            t.killed = True
            raise ThreadExit(cause.name)

    def on_tlb_miss(self, cpu: CPU, vaddr: int, write: bool) -> None:
        """Refill from the flat page table, or kill on an unmapped address."""
        t = cpu.current
        vpn = vaddr >> self.machine.memory.page_shift
        pte = self.tables.get(t.tid, {}).get(vpn) if t is not None else None
        if pte is None:
            self.on_exception(cpu, Cause.TLB_STORE if write else Cause.TLB_LOAD, vaddr,
                              None)
            return
        cpu.tlb_write_random(TLBEntry(vpn, cpu.asid, pte[0], True, pte[1]))

    def on_interrupt(self, cpu: CPU, irq: int) -> None:
        """Timer: preempt round-robin. Disk: wake the waiter of each completion."""
        if irq == IRQ_TIMER:
            if cpu.current is not None and self.ready:
                self._yield(cpu)
        elif irq == IRQ_DISK:
            for disk in self.machine.disks:
                for rid in disk.take_completions():
                    t = self.disk_waiters.pop(rid, None)
                    if t is not None:
                        self.ready.append(t)

    def on_idle(self, cpu: CPU) -> bool:
        """Dispatch the next ready thread, if any."""
        if not self.ready:
            return False
        self._run(cpu, self.ready.popleft())
        return True

    def on_thread_exit(self, cpu: CPU, thread: SimThread) -> None:
        """Forget the thread's page table; stop the tick when no thread is left."""
        self.tables.pop(thread.tid, None)
        if self.quantum and not self.machine.threads.live():
            self.machine.timer.cancel()     # else run() would tick forever
