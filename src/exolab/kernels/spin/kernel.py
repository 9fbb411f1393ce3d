"""The SPIN kernel: extensions in a safe language, called as procedures.

SPIN's own mechanisms are modules of this package: logical protection
domains (:mod:`.domain`), events, guards and the dispatcher
(:mod:`.dispatch`), externalized references (:mod:`.refs`) and the core
services PhysAddr, VirtAddr, Translation and Strand (:mod:`.core`). Code
handed to the kernel is verified Python (:mod:`exolab.safe`: the Modula-3
compiler's role) and runs in kernel mode on the calling strand: no trap, no
address-space switch; a fault or fuel exhaustion in it unloads it and the
kernel goes on, and so does an invocation that runs past its cycle bound
(:mod:`.bound`: checked at every gate, kcall and personality time/compute/
memory call; ``limits.MAX_INVOCATION_CYCLES``).

ABI programs run through a UNIX-like server built as extensions: the
monolithic kernel's process, VM, pipe, shared-memory and rpc code placed
inside SPIN (this class inherits it), reached through SPIN's own paths:

- a system call is a PALcode trap into ``spin_syscall_path`` (the Syscall
  event's one handler is the server);
- code running in the kernel (an in-kernel handler, ``spin_kernel(fn)``, a
  kernel strand) calls the same services as procedures (``spin_proc_call``,
  :meth:`Spin.kcall`), no trap at all;
- a bad access raises ``Translation.ProtectionFault`` / ``PageNotPresent`` /
  ``BadAddress`` through the dispatcher (``spin_fault_path``); a program's
  fault handler is installed there as a guarded in-kernel handler for its own
  context, so it runs as a procedure in kernel mode (no upcall, no sigreturn);
- thread switches raise ``Strand`` events to the thread package, and
  application-specific schedulers handle them for strands they hold.

Interface::

    Spin(machine, quantum_us=10_000, paths=None)    (MonolithicKernel's options)
      dispatcher, core, extensions, refs_of(proc) -> RefTable
      process_owner(proc) -> Owner       as_program(proc, fn, foreign) -> run as proc
      kcall(cpu, proc, number, args)     an in-kernel call of a UNIX-server service
      in_kernel(tid) -> bool             run_in_kernel(cpu, proc, fn, args)
      meter                              the cycle bound's accounting (bound.Meter)
      statistics() -> SpinStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from exolab.abi import SOCKET_CALLS, fault_status
from exolab.errors import KernelPanic, SyscallError
from exolab.hostint import host_interrupted
from exolab.kernels.common.contract import Declaration
from exolab.kernels.monolithic.kernel import MonolithicKernel, MonoStats
from exolab.kernels.monolithic.ktest import enter, leave
from exolab.kernels.monolithic.limits import MAX_NESTING
from exolab.kernels.monolithic.proc import Process
from exolab.kernels.monolithic.rpc import RpcNames
from exolab.kernels.monolithic.signal import terminate
from exolab.kernels.monolithic.syscall import KERNEL_STACK, TABLE, UNGUARDED, Sys
from exolab.kernels.monolithic.syscall import dispatch as unix_dispatch
from exolab.kernels.spin import paths as spin_paths
from exolab.kernels.spin.bound import Meter, MeterStats, Overrun
from exolab.kernels.spin.core import Core
from exolab.kernels.spin.cthreads import Package
from exolab.kernels.spin.dispatch import Dispatcher, DispatchStats, Owner
from exolab.kernels.spin.limits import LIMITS, MAX_EXTENSIONS, MAX_INVOCATION_CYCLES, MAX_REFS
from exolab.kernels.spin.net import NetDriver
from exolab.kernels.spin.refs import RefTable
from exolab.kernels.spin.sched import SpinScheduler
from exolab.kernels.spin.uthread import UserSpaceThreads
from exolab.machine.cpu import IRQ_NIC, KERNEL, CPU
from exolab.machine.machine import Machine
from exolab.machine.threads import SimThread, ThreadExit

__all__ = ["Spin", "SpinStats", "EXTENSIONS"]

#: calls the personality adds beyond the ABI (personality.py)
EXTENSIONS = frozenset({"read_into", "write_from", "spin_kernel", "domain_create",
                        "domain_from_module", "domain_resolve", "domain_combine",
                        "domain_kernel", "domain_call", "event_install", "strand_self",
                        "context_self", "ref_release", "cthread_fork", "cthread_join",
                        "cthread_condition", "cthread_wait", "cthread_signal"})


@dataclass(frozen=True, slots=True)
class SpinStats(MonoStats):
    """The UNIX server's counters with SPIN's own."""

    extensions: int = 0                     # extensions loaded
    unloaded: int = 0                       # extensions unloaded for a fault
    dispatch: DispatchStats | None = None
    bound: MeterStats | None = None         # in-kernel invocations bounded (bound.py)


class Spin(MonolithicKernel):
    """SPIN: domains, events, core services; a UNIX server built as extensions."""

    name = "spin"
    places_stack = False
    builds_kernel_tests = False     # its own way in: verified extensions (spin_kernel)
    declaration = Declaration(
        # the UNIX server's refusals; and sockets: SPIN's NIC belongs to its event-
        # driven driver (Ether.PacketArrived, net.py), not to the UNIX stack
        refuses=frozenset({"exception:unalign", "exception:coproc"}) | SOCKET_CALLS,
        extensions=EXTENSIONS, raw_entry="_trap", paths="exolab.kernels.spin.paths",
        limits=LIMITS)

    def __init__(self, machine: Machine, quantum_us: int = 10_000,
                 paths: dict[str, int] | None = None, ip: str | None = None) -> None:
        own = spin_paths.resolve(machine.profile.name, paths)   # ConfigError first
        super().__init__(machine, quantum_us, ip=ip)
        self._use_paths(own)
        self.dispatcher = Dispatcher(machine.cpu.charge, own["spin_proc_call"],
                                     own["spin_raise"])
        self.meter = Meter(machine.cpu, MAX_INVOCATION_CYCLES, self.dispatcher.faulted)
        self.core = Core(self)
        self.sched = SpinScheduler(self)            # the trusted thread package
        self.rpc = RpcNames(self.sched)
        self.services = self.rpc.services
        self.extensions: list[Owner] = []           # every extension ever loaded
        self._incall: dict[int, int] = {}           # tid -> depth of in-kernel calls
        self._refs: dict[int, RefTable] = {}        # pid -> externalized references
        self._owners: dict[int, Owner] = {}          # id(extension namespace) -> owner
        self._proc_owners: dict[int, Owner] = {}     # pid -> its one Owner (till exit)
        self.cthreads = Package(self)               # the integrated thread package
        self.parking = UserSpaceThreads(self)       # park/unpark: Suspend/Resume (uthread.py)
        self.ether = NetDriver(self, machine.nics[0]) if machine.nics else None  # net.py
        from exolab.kernels.spin import personality
        self._personality = personality.SpinLibc

    def _use_paths(self, own: dict[str, int]) -> None:
        """Charge SPIN's rows everywhere the inherited server code reads its own."""
        self.paths = own
        self.c_syscall = own["mono_syscall_path"]
        self.c_pipe_op = own["mono_pipe_op"]
        self.c_proc_call = own["spin_proc_call"]
        self.c_fault = own["spin_fault_path"]
        self.c_kfault = own["spin_kernel_fault"]
        self.vm.c_pte = self.vm.c_query = own["mono_pte_op"]
        self.vm.c_refill = own["mono_refill"]

    # -- processes: each gets SPIN's personality and a reference table ---------------

    def new_process(self, name: str, parent: Process | None, space: Any = None) -> Process:
        """The UNIX server's process, with SPIN's personality."""
        proc = super().new_process(name, parent, space)
        proc.personality = self._personality(self, proc)
        return proc

    def refs_of(self, proc: Process) -> RefTable:
        """``proc``'s table of externalized references."""
        table = self._refs.get(proc.pid)
        if table is None:
            table = self._refs[proc.pid] = RefTable(MAX_REFS)
        return table

    def process_owner(self, proc: Process) -> Owner:
        """``proc``'s one Owner: what it installs, exports and makes is held by it."""
        owner = self._proc_owners.get(proc.pid)
        if owner is None or not owner.loaded:
            owner = self._proc_owners[proc.pid] = Owner(f"pid{proc.pid}", pid=proc.pid)
        return owner

    def on_process_exit(self, proc: Process) -> None:
        """Drop the process's references, unload its owner (its handlers, exports,
        contexts and ranges go), then the server's own exit hook."""
        self._refs.pop(proc.pid, None)
        owner = self._proc_owners.pop(proc.pid, None)
        if owner is not None:
            self.dispatcher.unload(owner)
            self.core.release(owner)
        self.core.forget_space(proc.space)
        super().on_process_exit(proc)

    def on_thread_exit(self, cpu: CPU, thread: SimThread) -> None:
        """Forget the strand's in-kernel state, then the server's bookkeeping."""
        self._incode.pop(thread.tid, None)
        self._incall.pop(thread.tid, None)
        self.meter.forget(thread.tid)
        self.core.forget_strand(thread.tid)
        if isinstance(self.sched, SpinScheduler):
            self.sched.forget(thread.tid)
        self.cthreads.ended(thread)
        super().on_thread_exit(cpu, thread)

    def load_extension(self, owner: Owner, namespace: dict[str, Any] | None = None) -> None:
        """Count a newly loaded extension (EAGAIN past MAX_EXTENSIONS)."""
        if sum(1 for o in self.extensions if o.loaded) >= MAX_EXTENSIONS:
            raise SyscallError("EAGAIN", "too many extensions", limit=MAX_EXTENSIONS)
        self.extensions.append(owner)
        if namespace is not None:
            self._owners[id(namespace)] = owner

    def owner_of(self, fn: Any) -> Owner | None:
        """The extension whose module defined function ``fn`` (None: not one)."""
        g = getattr(fn, "__globals__", None)
        return self._owners.get(id(g)) if type(g) is dict else None

    def as_program(self, proc: Process, fn: Callable[..., Any] | None,
                   foreign: Any) -> Callable[..., Any]:
        """``fn`` (a handler or guard ``proc`` installed; None: always True) run
        as in-kernel code of ``proc``: on one of its own strands only (its calls
        are then procedure calls for it); on any other strand, or none, it is
        not called and answers ``foreign`` (False for a guard)."""
        incode, cpu = self._incode, self.machine.cpu

        def run(*args: Any) -> Any:
            t = cpu.current
            if t is None or t.owner is not proc:
                return foreign
            if fn is None:
                return True
            tid = t.tid
            enter(incode, tid)
            try:
                return fn(*args)
            finally:
                leave(incode, tid)
        return run

    def on_interrupt(self, cpu: CPU, irq: int) -> None:
        """The NIC's interrupt goes to the driver (Ether.PacketArrived); the rest
        to the UNIX server."""
        if irq == IRQ_NIC and self.ether is not None:
            self.ether.interrupt()
            return
        super().on_interrupt(cpu, irq)

    # -- in-kernel code ---------------------------------------------------------------

    def in_kernel(self, tid: int) -> bool:
        """Whether thread ``tid`` is running in-kernel code now."""
        return self._incode.get(tid, 0) > 0

    def mark_kernel_strand(self, tid: int) -> None:
        """Thread ``tid`` runs in the kernel for its whole life (a kernel strand)."""
        enter(self._incode, tid)

    def run_in_kernel(self, cpu: CPU, proc: Process, fn: Callable[..., Any],
                      args: tuple[Any, ...]) -> Any:
        """Run verified ``fn(*args)`` as in-kernel code of the current strand: its
        ABI calls become procedure calls. A fault in it is contained: EFAULT; so
        is an overrun of its cycle bound (a nested one ends the outermost)."""
        t = cpu.current
        tid = t.tid  # type: ignore[union-attr]
        enter(self._incode, tid)
        try:
            return self.meter.run(tid, fn, args)
        except (ThreadExit, SyscallError, Overrun):
            raise
        except BaseException as ex:     # noqa: BLE001 - whatever extension code raised
            if self.machine.panic is not None or (type(ex) is KeyboardInterrupt
                                                  and host_interrupted()):
                raise
            raise SyscallError("EFAULT", "in-kernel code faulted and was unloaded",
                               error=fault_status(ex)) from None
        finally:
            leave(self._incode, tid)

    def kcall(self, cpu: CPU, proc: Process, number: int, args: tuple[Any, ...]) -> Any:
        """A UNIX-server service called from in-kernel code: one procedure call."""
        clk = cpu.clock
        clk.now += self.c_proc_call
        if clk.now >= clk.deadline:
            cpu.service()
        if self.meter.open:
            self.meter.check()          # the invocation's cycle bound (Overrun)
        entry = TABLE.get(number) if type(number) is int else None  # type: ignore[call-overload]
        if entry is None:
            from exolab.kernels.spin.calls import CALLS
            entry = CALLS.get(number) if type(number) is int else None
            if entry is None:
                raise SyscallError("ENOSYS", "no such kernel service", number=number)
        handler, nargs = entry
        if len(args) != nargs:
            raise SyscallError("EINVAL", "wrong number of arguments", number=number)
        if number not in UNGUARDED:
            _probe(KERNEL_STACK)        # decode: the server's stack headroom, as a trap's
        self.kcalls += 1
        tid = cpu.current.tid  # type: ignore[union-attr]
        enter(self._incall, tid)
        prev, cpu.mode = cpu.mode, KERNEL
        try:
            result = handler(self, cpu, proc, *args)
        finally:
            cpu.mode = prev
            leave(self._incall, tid)
        if number == Sys.THREAD_CREATE:         # a strand made in the kernel stays there
            self.mark_kernel_strand(result)
        return result

    # -- CPU vectors --------------------------------------------------------------------

    def on_trap(self, cpu: CPU, number: Any, args: tuple[Any, ...]) -> Any:
        """A system call: SPIN's own calls, else the UNIX server's (Syscall event)."""
        if type(number) is int and number >= 1000:
            from exolab.kernels.spin.calls import trap
            return trap(self, cpu, number, args)
        return unix_dispatch(self, cpu, number, args)

    def _bad_access(self, cpu: CPU, proc: Process, vaddr: int, write: bool) -> None:
        """EFAULT inside a kernel service; otherwise raise the Translation event the
        access calls for; no handler (or a handler that leaves the page
        inaccessible): the UNIX server's default, SIGSEGV."""
        t = cpu.current
        tid = t.tid  # type: ignore[union-attr]
        if cpu.prev_mode == KERNEL and (tid not in self._incode or tid in self._incall):
            raise SyscallError("EFAULT", "bad user address", vaddr=vaddr)
        cpu.charge(self.c_fault + (self.c_kfault if tid in self._incode else 0))
        event = self.core.fault_event(proc.space, vaddr, write)
        handled = False
        if proc.fault_handler is not None and proc.handler_depth < MAX_NESTING:
            handled = self._in_kernel_handler(cpu, proc, event, vaddr, write)
        elif event.handlers:
            enter(self._incode, tid)                    # handlers run in-kernel
            try:
                handled = self.meter.run(tid, self.dispatcher.raise_, (
                    event, self.core.context_of(proc.space), vaddr, write)) is True
            except SyscallError:        # a handler faulted: unloaded; the default runs
                handled = False
            finally:
                leave(self._incode, tid)
        if not handled:
            raise terminate(self, proc, "SIGSEGV", vaddr)
        if not self.vm.accessible(proc.space, vaddr, write):
            raise terminate(self, proc, "SIGSEGV", vaddr)

    def _in_kernel_handler(self, cpu: CPU, proc: Process, event: Any, vaddr: int,
                           write: bool) -> bool:
        """Run the program's fault handler as the guarded in-kernel handler of its
        own context on ``event``: a procedure call (raise + one call), no upcall."""
        d = self.dispatcher
        cpu.charge(d._raise + self.c_proc_call + self.c_proc_call)   # raise, guard, call
        d.raised += 1
        d.handled += 1
        handler = proc.fault_handler
        proc.handler_depth += 1
        tid = cpu.current.tid  # type: ignore[union-attr]
        enter(self._incode, tid)
        self.meter.enter(tid)
        try:
            handler(proc.personality, vaddr, write)  # type: ignore[misc]
        except ThreadExit:
            raise
        except BaseException as ex:     # noqa: BLE001 - the handler is program code
            if self.machine.panic is not None or (type(ex) is KeyboardInterrupt
                                                  and host_interrupted()):
                raise
            if type(ex) is Overrun:     # past the bound: the culprit (if named) goes
                self.meter.contain(ex)
            raise terminate(self, proc, fault_status(ex), vaddr) from None
        finally:
            self.meter.exit(tid)
            proc.handler_depth -= 1
            leave(self._incode, tid)
        return True

    def statistics(self) -> SpinStats:
        """Return a frozen snapshot of the kernel's counters."""
        base = super().statistics()
        return SpinStats(
            syscalls=base.syscalls, faults=base.faults,
            processes_created=base.processes_created, processes_live=base.processes_live,
            process_slots=base.process_slots, frames_in_use=base.frames_in_use,
            frames_retained=base.frames_retained, sched=base.sched, kcalls=self.kcalls,
            extensions=len(self.extensions),
            unloaded=sum(1 for o in self.extensions if not o.loaded),
            dispatch=self.dispatcher.statistics(), bound=self.meter.statistics())


def _probe(n: int) -> None:
    """Recurse ``n`` frames deep: RecursionError unless that much stack is left."""
    if n:
        _probe(n - 1)


def _check() -> None:
    """Import-time check: every UNIX-server row has a SPIN row (KernelPanic)."""
    missing = set(spin_paths.UNIX_SERVER.values()) - set(spin_paths.ROWS)
    if missing:
        raise KernelPanic("spin: UNIX-server rows without a SPIN row", missing=sorted(missing))


_check()
