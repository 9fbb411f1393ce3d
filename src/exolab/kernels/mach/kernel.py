"""The Mach-style kernel: tasks, threads, ports, messages, pagers; UNIX in a server.

A first-generation microkernel in the manner of Mach 3.0. The kernel owns
tasks (an address space, threads and a port name space), threads and their
scheduling, virtual memory with external pagers (:mod:`.pager`), and ports
and messages (:mod:`.ports`, :mod:`.message`, :mod:`.ipc`). Everything UNIX
— processes, pipes, shared memory, signals, rpc names — is the UX server's
(:mod:`.server`), reached by an RPC per call — but for what is Mach's own
(thread switching and the clock: :data:`KERNEL_TRAPS`, one kernel trap each;
thread creation and VM: :data:`KERNEL_RPCS`, MIG calls on ports the kernel
serves itself) and the ABI's rpc calls, which are Mach RPCs (:mod:`.rpc`). Its substrate (the process
record as a task, the frame allocator, the pmap, the scheduler's queues) is
the monolithic kernel's code, composed here by subclassing; the scheduler
charges Mach's switch path, and the generic BSD trap path is not taken (the
server's MIG stub is charged instead). Mach's own calls are traps numbered
from :data:`MACH_BASE`.

Interface::

    MachKernel(machine, quantum_us=10_000, paths=None)
      boot/run/console/faults/statistics() -> MachStats      (the contract)
      ipc, ux, pagers                 mechanism objects (statistics() each)
      mach_call(cpu, proc, name, args) one Mach trap (decoded)
    MACH_BASE, MACH_TRAPS             trap numbers of Mach's own calls
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exolab.errors import SyscallError
from exolab.kernels.common.args import arity, func
from exolab.kernels.common.args import shown
from exolab.kernels.common.contract import Declaration
from exolab.kernels.mach.cprocs import IdleStats, IdleThreads
from exolab.kernels.mach.ipc import Ipc, IpcStats
from exolab.kernels.mach.limits import LIMITS
from exolab.kernels.mach.pager import PagerStats, Pagers
from exolab.kernels.mach.paths import resolve as resolve_paths
from exolab.kernels.mach.ports import RECEIVE, SEND
from exolab.kernels.mach.server import KernelServer, UxServer, UxStats
from exolab.kernels.mach.vm import MachVM, MachVMStats
from exolab.kernels.monolithic.kernel import MonolithicKernel, MonoStats
from exolab.kernels.monolithic.paths import ROWS as UX_ROWS
from exolab.kernels.monolithic import proc as procmod
from exolab.kernels.monolithic.limits import THREAD_FRAMES
from exolab.kernels.monolithic.proc import Process
from exolab.kernels.mach import rpc as rpcmod
from exolab.kernels.mach.threads import WaitPorts, WaitStats
from exolab.kernels.monolithic.syscall import Sys, dispatch
from exolab.kernels.monolithic.vm import AddressSpace
from exolab.machine.cpu import CPU, KERNEL
from exolab.machine.machine import Machine

_THREAD_CREATE = int(Sys.THREAD_CREATE)

__all__ = ["MachKernel", "MachStats", "MACH_BASE", "MACH_TRAPS", "EXTENSIONS"]

MACH_BASE = 100
#: Mach's own traps, by name (numbers MACH_BASE + index)
MACH_TRAPS = ("mach_msg", "port_allocate", "port_destroy", "port_deallocate",
              "port_set_allocate", "port_set_add", "thread_self", "port_register",
              "port_lookup", "vm_allocate_pager", "port_names", "port_insert_send",
              "rpc_register", "rpc_lookup")
#: UNIX calls that are Mach kernel traps (thread_switch, the clock): one trap each
KERNEL_TRAPS = frozenset({int(Sys.CLOCK_GETRES), int(Sys.THREAD_YIELD)})
#: UNIX calls that are MIG calls on a port the kernel serves: call -> how many (a
#: running thread takes thread_create, thread_set_state, thread_resume in Mach 3;
#: VM calls are vm_allocate, vm_deallocate, vm_protect, vm_region on the task port)
KERNEL_RPCS = {int(Sys.THREAD_CREATE): 3, int(Sys.MMAP): 1, int(Sys.MUNMAP): 1,
               int(Sys.MPROTECT): 1, int(Sys.DIRTY): 1}
#: thread_park / thread_unpark: one mach_msg trap each on a wait port (threads.py)
PARK_TRAPS = frozenset({int(Sys.THREAD_PARK), int(Sys.THREAD_UNPARK)})
#: personality calls beyond the ABI
EXTENSIONS = frozenset({"read_into", "write_from", "mach_msg", "port_allocate",
                        "port_destroy", "port_deallocate", "port_set_allocate",
                        "port_set_add", "thread_self", "port_register", "port_lookup",
                        "vm_allocate_pager", "port_names", "port_insert_send", "msg_send", "msg_receive",
                        "msg_rpc", "msg_reply", "msg_reply_receive"})


@dataclass(frozen=True, slots=True)
class MachStats(MonoStats):
    """Kernel counters, with the scheduler's, the IPC's, the servers', the pagers'
    and the pmap's."""

    ipc: IpcStats
    ux: UxStats
    kernel_server: UxStats
    pagers: PagerStats
    vm: MachVMStats
    wait_ports: WaitStats
    idle_threads: IdleStats


class MachKernel(MonolithicKernel):
    """Mach 3.0 in structure: ports and messages in the kernel, UNIX in a server."""

    name = "mach"
    # not built with the kernel-test module: its kernel-thread rows run at user level,
    # by messages (docs/mach.md)
    builds_kernel_tests = False
    trap_names = {**{int(c): c.name.lower() for c in Sys},
                  **{MACH_BASE + i: n for i, n in enumerate(MACH_TRAPS)}}
    declaration = Declaration(
        refuses=frozenset({"exception:unalign", "exception:coproc"}),   # the UX server's
        extensions=EXTENSIONS, raw_entry="_trap",
        paths="exolab.kernels.mach.paths", limits=LIMITS)

    def __init__(self, machine: Machine, quantum_us: int = 10_000,
                 paths: dict[str, int] | None = None, ip: str | None = None) -> None:
        resolved = resolve_paths(machine.profile.name, paths)
        super().__init__(machine, quantum_us,
                         {r: c for r, c in resolved.items() if r in UX_ROWS}, ip)
        self.paths = resolved
        self.c_syscall = 0                  # no BSD trap path: the server's stub instead
        self.c_mach_trap = resolved["mach_syscall_path"]
        self.sched.c_switch = resolved["mach_switch"]
        self.mvm = MachVM(self)                 # Mach's pmap: a raise is lazy (vm.py)
        self.vm = self.shm.vm = self.mvm
        self.ipc = Ipc(self)
        self.ux = UxServer(self)
        self.kserver = KernelServer(self)          # the ports the kernel serves
        self.pagers = Pagers(self)
        self.wait_ports = WaitPorts(self)         # thread_park/unpark (threads.py)
        self.idle = IdleThreads(self)              # C-Threads' retired kernel threads
        self.bootstrap: dict[str, Any] = {}        # service name -> Port (name server)
        self.rpc_ports: dict[str, Any] = {}        # rpc name -> Port (rpc.py)
        self._ports: dict[int, tuple[int, int, int]] = {}  # pid -> (ux send right,
        #   reply port, send right to the kernel's port)

    # -- tasks ----------------------------------------------------------------------

    def new_process(self, name: str, parent: Process | None,
                    space: AddressSpace | None = None) -> Process:
        """A task for a UNIX process: its port space holds a send right to the UX
        server and the receive right of its reply port; its kmsgs are charged to
        its creator's principal (its own if the boot task created it)."""
        from exolab.kernels.mach.personality import MachLibc
        proc = super().new_process(name, parent, space)
        self.ipc.adopt(proc, parent)            # its kmsg principal (quota.py)
        ux = self.ux.connect(proc)
        self._ports[proc.pid] = (ux, self.ipc.allocate(proc), self.kserver.connect(proc))
        proc.personality = MachLibc(self, proc)
        return proc

    def on_process_exit(self, proc: Process) -> None:
        """The task ended: its rights die (its ports with them), its pagers go."""
        self.ipc.drop_task(proc)
        self.wait_ports.task_ended(proc)
        self.idle.task_ended(proc)
        self.pagers.forget(proc)
        self._ports.pop(proc.pid, None)
        super().on_process_exit(proc)

    def on_thread_exit(self, cpu: CPU, thread: Any) -> None:
        """A thread ended: its wait port goes; its kernel thread retires to wait for
        the next fork if its task goes on (cprocs.py); then the bookkeeping."""
        self.wait_ports.thread_ended(thread)
        kept = self.idle.retire(cpu, thread)
        super().on_thread_exit(cpu, thread)
        if kept:
            self.frames.wire(THREAD_FRAMES)     # the retired kernel thread's stack

    def thread_main(self, proc: Process, entry: Any, args: tuple[Any, ...]) -> Any:
        """A thread's body; a reused kernel thread first takes its wakeup message."""
        cpu = self.machine.cpu
        t = cpu.current
        if t is not None and not t.killed:
            prev, cpu.mode = cpu.mode, KERNEL
            try:
                self.idle.reincarnate(cpu, proc, t)
            finally:
                cpu.mode = prev
        return super().thread_main(proc, entry, args)

    # -- vectors ----------------------------------------------------------------------

    def on_trap(self, cpu: CPU, number: Any, args: tuple[Any, ...]) -> Any:  # type: ignore[override]
        """A Mach trap, or a UNIX call turned into an RPC to the UX server."""
        proc: Process = cpu.current.owner                   # type: ignore[union-attr]
        if type(number) is int and MACH_BASE <= number < MACH_BASE + len(MACH_TRAPS):
            return self.mach_call(cpu, proc, MACH_TRAPS[number - MACH_BASE], args)
        if type(number) is int and number in PARK_TRAPS:
            return self._park_call(cpu, proc, number, args)
        if type(number) is int and number in KERNEL_TRAPS:
            cpu.charge(self.c_mach_trap)
            return dispatch(self, cpu, number, args)
        ports = self._ports.get(proc.pid)
        if ports is None:
            raise SyscallError("ESRCH", "the task has no server connection")
        if number == _THREAD_CREATE and len(args) == 2:
            t = self._fork_on_idle(cpu, proc, args)
            if t is not None:
                return t.tid
        calls = KERNEL_RPCS.get(number) if type(number) is int else None
        if calls is None:
            return self.ux.call(cpu, proc, number, args, ports[0], ports[1])
        for _ in range(calls - 1):      # the calls before the one that does the work
            self.kserver.call(cpu, proc, int(Sys.GETPID), (), ports[2], ports[1])
        return self.kserver.call(cpu, proc, number, args, ports[2], ports[1])

    def _fork_on_idle(self, cpu: CPU, proc: Process, args: tuple[Any, ...]) -> Any:
        """thread_create as cthread_fork with a retired kernel thread: one wakeup
        message (cprocs.py); None if the task has none (cproc_create's RPCs)."""
        func(args[0], "entry")
        t = self.idle.reuse(cpu, proc, args[0], procmod.program_args(args[1]))
        if t is not None:
            self.syscalls += 1
        return t

    def _park_call(self, cpu: CPU, proc: Process, number: int,
                   args: tuple[Any, ...]) -> int:
        """thread_park() or thread_unpark(tid): one mach_msg trap on a wait port."""
        self.syscalls += 1
        if number == int(Sys.THREAD_PARK):
            if args:
                raise arity("thread_park", 0, len(args))
            self.wait_ports.park(cpu, proc)
        else:
            if len(args) != 1:
                raise arity("thread_unpark", 1, len(args))
            self.wait_ports.unpark(cpu, proc, args[0])
        return 0

    def on_tlb_miss(self, cpu: CPU, vaddr: int, write: bool) -> None:
        """A pager-backed page not yet resident goes to its pager; the rest as ever."""
        t = cpu.current
        if t is not None and type(vaddr) is int:
            proc: Process = t.owner
            backing = self.pagers.owns(proc, vaddr >> 12)
            if backing is not None:
                self.pagers.fault(cpu, proc, vaddr >> 12, backing)
        super().on_tlb_miss(cpu, vaddr, write)

    def _bad_access(self, cpu: CPU, proc: Process, vaddr: int, write: bool) -> None:
        """A fault the task's handler takes: as the monolithic kernel's, and then the
        handler's return, sigreturn, is a UNIX call: an RPC to the UX server."""
        handled = cpu.prev_mode != KERNEL and proc.fault_handler is not None
        super()._bad_access(cpu, proc, vaddr, write)
        ports = self._ports.get(proc.pid)
        if handled and ports is not None:
            self.ux.call(cpu, proc, int(Sys.GETPID), (), ports[0], ports[1])

    # -- Mach's own calls ----------------------------------------------------------------

    def mach_call(self, cpu: CPU, proc: Process, name: str, args: tuple[Any, ...]) -> Any:
        """Decode and run Mach trap ``name`` for ``proc``."""
        self.syscalls += 1
        if name == "mach_msg":
            if len(args) != 4:
                raise arity(name, 4, len(args))
            return self._mach_msg(cpu, proc, *args)
        cpu.charge(self.c_mach_trap)
        handler = _CALLS[name]
        if len(args) != handler[1]:
            raise arity(name, handler[1], len(args))
        return handler[0](self, cpu, proc, *args)

    def _mach_msg(self, cpu: CPU, proc: Process, raw: Any, body: Any, rcv: Any,
                  poll: Any) -> Any:
        """mach_msg: send (if a header is given), then receive (if a name is)."""
        cpu.charge(self.ipc.c_msg)
        if raw is not None:
            self.ipc.send(cpu, proc, raw, body)
            for server in (self.ux, self.kserver):
                if server.port.queue:   # a message to a server's port by hand
                    server.drain(cpu)
        if rcv is None:
            return None
        got = self.ipc.receive(cpu, proc, rcv, poll is True)
        return (got.msg_id, got.reply, got.data, got.rights)

    def statistics(self) -> MachStats:
        """Return a frozen snapshot of the kernel's counters."""
        base = super().statistics()
        return MachStats(syscalls=base.syscalls, faults=base.faults,
                         processes_created=base.processes_created,
                         processes_live=base.processes_live,
                         process_slots=base.process_slots,
                         frames_in_use=base.frames_in_use,
                         frames_retained=base.frames_retained,
                         sched=base.sched, kcalls=base.kcalls,
                         ipc=self.ipc.statistics(), ux=self.ux.statistics(),
                         kernel_server=self.kserver.statistics(),
                         pagers=self.pagers.statistics(), vm=self.mvm.statistics(),
                         wait_ports=self.wait_ports.statistics(),
                         idle_threads=self.idle.statistics())


def _register(k: MachKernel, cpu: CPU, proc: Process, service: Any, name: Any) -> None:
    """Publish the port ``name`` (a receive or send right) under ``service``."""
    if type(service) is not str or not 0 < len(service) <= 64:
        raise SyscallError("EINVAL", "a service name is a str of 1..64 characters",
                           service=shown(service))
    entry = k.ipc.space(proc).lookup(name, RECEIVE | SEND)
    old = k.bootstrap.get(service)
    if old is not None and not old.dead:
        raise SyscallError("EBUSY", "the service name is taken", service=service)
    k.bootstrap[service] = entry.obj


def _lookup(k: MachKernel, cpu: CPU, proc: Process, service: Any) -> int:
    """A send right to the port published under ``service`` (ENOENT if none)."""
    port = k.bootstrap.get(service) if type(service) is str else None
    if port is None or port.dead:
        raise SyscallError("ENOENT", "no such service", service=shown(service))
    return k.ipc.space(proc).insert(port, SEND)


_CALLS: dict[str, tuple[Any, int]] = {
    "port_allocate": (lambda k, cpu, p: k.ipc.allocate(p), 0),
    "port_destroy": (lambda k, cpu, p, n: k.ipc.destroy(p, n), 1),
    "port_deallocate": (lambda k, cpu, p, n: k.ipc.deallocate(p, n), 1),
    "port_set_allocate": (lambda k, cpu, p: k.ipc.pset_allocate(p), 0),
    "port_set_add": (lambda k, cpu, p, s, n: k.ipc.pset_add(p, s, n), 2),
    "thread_self": (lambda k, cpu, p: cpu.current.tid, 0),
    "port_register": (_register, 2),
    "port_lookup": (_lookup, 1),
    "vm_allocate_pager": (lambda k, cpu, p, n, name: k.pagers.allocate(cpu, p, n, name), 2),
    "port_names": (lambda k, cpu, p: tuple(k.ipc.space(p).names()), 0),
    "port_insert_send": (lambda k, cpu, p, n: k.ipc.make_send(p, n), 1),
    "rpc_register": (rpcmod.rpc_register, 2),
    "rpc_lookup": (rpcmod.rpc_lookup, 1),
}
assert set(_CALLS) == set(MACH_TRAPS) - {"mach_msg"}
