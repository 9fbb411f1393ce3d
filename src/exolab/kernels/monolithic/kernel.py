"""The monolithic kernel: BSD/Ultrix structure on the simulated machine.

All abstractions live in the kernel; every service is a trap through the
generic system-call path (:mod:`.syscall`). This module composes the
mechanisms — processes (:mod:`.proc`), virtual memory (:mod:`.vm`), the
scheduler (:mod:`.sched`), pipes (:mod:`.pipe`), shared memory (:mod:`.shm`),
signals (:mod:`.signal`), RPC rendezvous (:mod:`.rpc`) — and installs the
CPU vectors.

Interface::

    MonolithicKernel(machine, quantum_us=10_000, paths=None, ip=None)
      ip: the NIC's IPv4 address (dotted quad; default from its MAC), if it has one
      paths: row -> cycles over the profile's table (paths.py; calibration perturbs)
      boot(program, *args, name="init") -> Process
      run(until=None) -> RunResult
      console -> list[str]          faults -> list[(pid, what, where)]
      processes, sched, vm, frames, quantum, syscalls, paths (row -> cycles)
      pipes, shm, rpc, waits        mechanism objects, each with statistics()
      segments, services            (shm.segments and rpc.services)
      statistics() -> MonoStats
    for the mechanism modules:
      new_process(name, parent, space=None) -> Process
      asid_for(space) -> int        console_write(proc, data)
      record_fault(proc, what, where)           on_process_exit(proc)
      start_tick()
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from exolab.errors import ConfigError, KernelPanic, SyscallError
from exolab.kernels.common.asids import Asids
from exolab.kernels.common.console import Console
from exolab.kernels.common.contract import Declaration
from exolab.kernels.common.park import Parking
from exolab.kernels.common.stats import KernelStats
from exolab.kernels.common.wait import WaitTable
from exolab.kernels.monolithic import ktest
from exolab.kernels.monolithic import proc as procmod
from exolab.kernels.monolithic import rpc as rpcmod
from exolab.kernels.monolithic.fs import FileSystem
from exolab.kernels.monolithic.libc import Libc
from exolab.kernels.monolithic.limits import KERNEL_FRAMES, LIMITS, PAGE_SHIFT, PROC_FRAMES
from exolab.kernels.monolithic.paths import resolve as resolve_paths
from exolab.kernels.monolithic.pipe import Pipes
from exolab.kernels.monolithic.proc import Process
from exolab.kernels.monolithic.rpc import RpcNames, Service
from exolab.kernels.monolithic.sched import Scheduler, SchedStats
from exolab.kernels.monolithic.shm import Segment, SharedMemory
from exolab.kernels.monolithic.socket import place_stack
from exolab.kernels.monolithic.signal import (deliver_exception, deliver_fault,
                                              fatal_signal, terminate)
from exolab.kernels.monolithic.syscall import Sys, dispatch
from exolab.kernels.monolithic.vm import VM, AddressSpace, FrameAllocator
from exolab.machine.cpu import CPU, IRQ_NIC, IRQ_TIMER, KERNEL, Cause
from exolab.machine.machine import Machine, RunResult
from exolab.machine.threads import SimThread, ThreadExit

__all__ = ["MonolithicKernel", "MonoStats", "KERNEL_FRAMES"]



@dataclass(frozen=True, slots=True)
class MonoStats(KernelStats):
    """Kernel-level counters (the machine's are in Machine.statistics())."""

    sched: SchedStats
    kcalls: int                     # services called from kernel-resident code (ktest.py)


class MonolithicKernel:
    """A BSD-style kernel: processes, VM, pipes, shm, signals, RPC."""

    name = "monolithic"
    places_stack = True     # the socket stack on the first NIC (a subclass may own the NIC)
    builds_kernel_tests = True  # built with the kernel-test module (ktest.py); a kernel
    #                             built otherwise (SPIN, Mach) answers kernel_test ENOSYS
    trap_names = {int(call): call.name.lower() for call in Sys}   # for traces
    declaration = Declaration(
        refuses=frozenset({"exception:unalign", "exception:coproc"}),    # signal.py
        extensions=frozenset({"read_into", "write_from", "kernel_test"}), raw_entry="_trap",
        paths="exolab.kernels.monolithic.paths",    # the mono_* rows of each profile
        limits=LIMITS)

    def __init__(self, machine: Machine, quantum_us: int = 10_000,
                 paths: dict[str, int] | None = None, ip: str | None = None) -> None:
        if machine.memory.page_shift != PAGE_SHIFT:     # 12-bit pages throughout
            raise ConfigError("the monolithic kernel runs on 4 KiB pages only",
                              page_size=machine.memory.page_size, expected=1 << PAGE_SHIFT)
        self.machine = machine
        p = machine.profile
        self.paths = resolve_paths(p.name, paths)       # software path costs (paths.py)
        self.c_syscall = self.paths["mono_syscall_path"]
        self.c_proc_call = self.paths["mono_proc_call"]  # a call from resident code
        self._incode: dict[int, int] = {}   # tid -> depth in resident code (ktest.py)
        self.kcalls = 0                     # services called from it
        self.c_pipe_op = self.paths["mono_pipe_op"]
        self.c_copy_kib = p.copy_per_kib
        self.quantum = p.us_to_cycles(quantum_us)
        if machine.memory.frames <= KERNEL_FRAMES + 16:
            raise KernelPanic("monolithic: not enough physical memory",
                              frames=machine.memory.frames)
        self.frames = FrameAllocator(machine.memory, KERNEL_FRAMES,
                                     machine.memory.frames - KERNEL_FRAMES)
        self.vm = VM(self)
        self.sched = Scheduler(self)
        self.processes: dict[int, Process] = {}     # live and zombie processes
        self.threads_live = 0                       # threads not yet ended (limits.py)
        self.waits = WaitTable()                    # who waits for whom (common/wait.py)
        self.parking = Parking(self)                # thread_park/unpark (common/park.py)
        self.pipes = Pipes(self.frames, machine.memory)  # pipe buffers (pipe.py)
        self.shm = SharedMemory(self.frames, self.vm, machine.clock.seed)  # (shm.py)
        self.segments: dict[int, Segment] = self.shm.segments
        self.rpc = RpcNames(self.sched)                 # rpc names (rpc.py)
        self.fs = FileSystem(self)                      # ext2 on the first disk (fs.py)
        self.services: dict[str, Service] = self.rpc.services
        self.console = Console()                # lines written to fds 1 and 2
        self.faults: list[tuple[int, str, Any]] = []
        self.exits: list[tuple[int, str, Any]] = []     # (pid, name, status) as they end
        self.syscalls = 0
        self.tick_on = False                    # the periodic tick is armed
        self._next_pid = 1                      # pids are never reused: pid - 1 were created
        # ASIDs by generation, never released: each new space takes the next one
        self.asids = Asids(machine.cpu.tlb.asid_mask, self._asid_rollover)
        self.net = (place_stack(self, machine, ip)   # socket.py; None without a NIC
                    if self.places_stack else None)
        for cpu in machine.cpus:
            cpu.install(self)

    # -- processes ------------------------------------------------------------------

    def boot(self, program: Callable[..., Any], *args: Any, name: str = "init") -> Process:
        """Create the first process, running ``program(os, *args)``."""
        procmod.admit_process(self)
        init = self.new_process(name, None)
        procmod.start_thread(self, init, program, args)
        return init

    def run(self, until: int | None = None) -> RunResult:
        """Run the machine (see Machine.run)."""
        return self.machine.run(until)

    def new_process(self, name: str, parent: Process | None,
                    space: AddressSpace | None = None) -> Process:
        """Create an empty live process with a fresh address space and console fds,
        its proc structure and page-table root wired (callers decoded admit_process)."""
        self.frames.wire(PROC_FRAMES)
        pid = self._next_pid
        self._next_pid += 1
        proc = Process(pid, name, parent, space or AddressSpace(0))
        self.asid_for(proc.space)
        proc.fds = {0: ("console", None), 1: ("console", None), 2: ("console", None)}
        proc.personality = Libc(self, proc)
        self.waits.add(pid, parent.pid if parent is not None else None)
        self.processes[pid] = proc
        return proc

    def thread_main(self, proc: Process, entry: Callable[..., Any],
                    args: tuple[Any, ...]) -> Any:
        """Body of every user thread: run ``entry(os, *args)`` in user mode."""
        t = self.machine.cpu.current
        if t is not None and t.killed:      # its process died before it first ran
            raise ThreadExit(t.exit_status)
        return entry(proc.personality, *args)

    def asid_for(self, space: AddressSpace) -> int:
        """Return ``space``'s ASID, assigning one (new generation: flush) if stale."""
        asids = self.asids
        return space.asid if space.asid_gen == asids.gen else asids.of(space)

    def _asid_rollover(self) -> None:
        """A new ASID generation: flush the TLB (in kernel mode)."""
        cpu = self.machine.cpu
        prev, cpu.mode = cpu.mode, KERNEL
        cpu.tlb_flush()
        cpu.mode = prev

    def on_process_exit(self, proc: Process) -> None:
        """Hook after a process exits: refuse its pending RPC connections, flush
        its unterminated console line."""
        rpcmod.server_exited(self, proc)
        self.console.flush(proc.pid)
        self.exits.append((proc.pid, proc.name, proc.status))

    def console_write(self, proc: Process, data: bytes) -> None:
        """Append ``data`` to the console, line by line."""
        self.console.write(proc.pid, data)

    def record_fault(self, proc: Process, what: str, where: Any) -> None:
        """Remember that ``proc`` was stopped by a fault."""
        self.faults.append((proc.pid, what, where))

    # -- CPU vectors ------------------------------------------------------------------

    #: system call: the generic path (see syscall.dispatch), bound as the trap vector
    on_trap = dispatch

    def on_tlb_miss(self, cpu: CPU, vaddr: int, write: bool) -> None:
        """Refill from the page table; a bad access faults the program (or EFAULTs a call)."""
        t = cpu.current
        if t is None:
            raise KernelPanic("tlb miss with no current thread", vaddr=vaddr)
        proc: Process = t.owner
        if self.vm.refill(cpu, proc.space, vaddr, write) == "ok":
            return
        self._bad_access(cpu, proc, vaddr, write)

    def _bad_access(self, cpu: CPU, proc: Process, vaddr: int, write: bool) -> None:
        """EFAULT inside a system call; otherwise a SIGSEGV to the program."""
        if cpu.prev_mode == KERNEL:
            raise SyscallError("EFAULT", "bad user address", vaddr=vaddr)
        deliver_fault(self, cpu, proc, vaddr, write)
        if not self.vm.accessible(proc.space, vaddr, write):
            # the handler returned without fixing the page: the retry would fault
            # forever (a livelock of the CPU), so the process dies instead
            raise terminate(self, proc, "SIGSEGV", vaddr)

    def on_exception(self, cpu: CPU, cause: Cause, vaddr: int, info: Any) -> None:
        """Faults: COW and dirty bits, SIGSEGV to the handler, or the process dies."""
        t = cpu.current
        if t is None:
            raise KernelPanic("exception with no current thread", cause=cause.name)
        proc: Process = t.owner
        if deliver_exception(self, cpu, proc, cause, info):    # trigger(): its signal
            return
        if cause == Cause.TLB_MOD:
            if self.vm.store_fault(cpu, proc.space, vaddr) != "ok":
                self._bad_access(cpu, proc, vaddr, True)
            return
        where = None if cause == Cause.PROGRAM else vaddr   # a crash has no address
        raise terminate(self, proc, fatal_signal(cause, info), where)

    def on_interrupt(self, cpu: CPU, irq: int) -> None:
        """Timer: round-robin preemption; NIC: the network driver (socket.py)."""
        if irq == IRQ_TIMER:
            self.sched.preempt(cpu)
        elif irq == IRQ_NIC and self.net is not None:
            self.net.interrupt(cpu)

    def on_idle(self, cpu: CPU) -> bool:
        """Dispatch the next ready thread; stop the tick when there is none (after
        failing any rpc_connect still waiting for a server: it never can be served)."""
        if self.sched.dispatch(cpu):
            return True
        if rpcmod.no_server(self):      # nothing can run, so nobody will ever serve
            return self.sched.dispatch(cpu)
        self.machine.timer.cancel()
        self.tick_on = False
        return False

    def kcall(self, cpu: CPU, proc: Any, number: Any, args: tuple[Any, ...]) -> Any:
        """A service called from kernel-resident code (ktest.py): a procedure call."""
        return ktest.kcall(self, cpu, proc, number, args)

    def on_thread_exit(self, cpu: CPU, thread: SimThread) -> None:
        """A thread ended: its wake token goes; process bookkeeping (never switches)."""
        self._incode.pop(thread.tid, None)
        self.parking.forget(thread.tid)
        procmod.thread_ended(self, cpu, thread)

    def start_tick(self) -> None:
        """Arm the periodic scheduler tick (the scheduler calls this when it is off)."""
        self.machine.timer.arm(self.quantum, periodic=True)
        self.tick_on = True

    def shutdown(self) -> None:
        """The end of a run: sync the file system to its disk (fs.py)."""
        self.fs.shutdown()

    def statistics(self) -> MonoStats:
        """Return a frozen snapshot of the kernel's counters."""
        live = sum(1 for p in self.processes.values() if p.state == "live")
        kept = sum(len(seg.frames) for seg in self.segments.values())
        return MonoStats(syscalls=self.syscalls, faults=len(self.faults),
                         processes_created=self._next_pid - 1, processes_live=live,
                         process_slots=len(self.processes),
                         frames_in_use=self.frames.in_use(), frames_retained=kept,
                         sched=self.sched.statistics(), kcalls=self.kcalls)
