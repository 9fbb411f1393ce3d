"""The L4 system: the kernel, sigma0 and the UNIX server, running ABI programs.

This is the kernel registered as ``l4``: :class:`~.kernel.L4` with its
user-level servers booted. ``boot(program)`` starts sigma0, then the UNIX
server (:mod:`.ux`, one thread in its own space, the pager of every
process), which creates the first process running ``program(os, *args)``
with ``os`` an :class:`~.personality.L4OS`. What the kernel adds for the
servers is small and L4-shaped: a process thread's unhandled exception or
refused page fault ends its process through the server (as an exception IPC
would), faults are recorded by process id, and when nothing else can run
the kernel signals the server's notification so it can fail the
``rpc_connect`` calls that nobody will ever serve. A pager reply
``(UPCALL_TAG, vaddr, write)`` to a page fault makes the faulting thread run
its process's fault handler (the library's stub, ``CPU.upcall``), nested at
most ``MAX_NESTING`` deep; if the retried access would still fault, its fault
message is marked as the retry, which the pager refuses (SIGSEGV).

Interface::

    L4System(machine, paths=None)             registered as ``l4``
      boot(program, *args, name="init")       run(until)  console  faults
      statistics() -> L4Stats                 ux (the server's state)
      lib_of(thread) -> L4Lib                 process_entry / thread_entry (bodies)
      oses: pid -> L4OS                       (whose fault stub an upcall runs)
    REFUSES, LIMITS, MAX_NESTING
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.abi import EXCEPTION_KINDS, FILE_CALLS, SOCKET_CALLS, fault_status
from exolab.errors import KernelPanic, ProgramFault, SimulationError, SyscallError
from exolab.hostint import host_interrupted
from exolab.kernels.common.contract import Declaration
from exolab.kernels.common.exitstatus import final_status
from exolab.kernels.l4.kernel import L4, SIGMA0_SID, L4Stats
from exolab.kernels.l4.objects import DEAD, TCB
from exolab.kernels.l4.personality import L4OS
from exolab.kernels.l4.user import L4Lib
from exolab.kernels.l4.syscall import UPCALL_TAG
from exolab.kernels.l4.ux import MAX_FDS, MAX_PROCS, MAX_SHM, OPS, PIPE_BUF, Ux
from exolab.machine.cpu import CPU, Cause
from exolab.machine.machine import Machine
from exolab.machine.threads import SimThread, ThreadExit

__all__ = ["L4System", "REFUSES", "LIMITS", "MAX_NESTING"]

#: what the L4 servers of this release do not provide (ENOSYS): exception
#: handlers, and no file server or network server yet
REFUSES = frozenset({f"exception:{k}" for k in EXCEPTION_KINDS} | FILE_CALLS |
                    SOCKET_CALLS)
MAX_NESTING = 4             # fault handlers nested in one thread before its process ends
LIMITS = {"max_fds": MAX_FDS, "pipe_buffer": PIPE_BUF, "live_processes": MAX_PROCS,
          "max_fault_nesting": MAX_NESTING, "shm_max": MAX_SHM}


class L4System(L4):
    """L4 with sigma0 and the UNIX server: the ABI (see the module docstring)."""

    name = "l4"
    declaration = Declaration(refuses=REFUSES, raw_entry="_trap",
                              paths="exolab.kernels.l4.paths", limits=LIMITS)

    def __init__(self, machine: Machine, paths: dict[str, int] | None = None) -> None:
        super().__init__(machine, paths)
        self.ux = Ux(self)
        self.ux_tcb: TCB | None = None
        self._libs: dict[int, L4Lib] = {}           # SimThread tid -> its library
        self._init: tuple[Any, ...] | None = None
        self._recorded: set[int] = set()            # SimThreads whose fault is recorded
        self.exits: list[tuple[int, str, Any]] = []  # (pid, name, status) as they end
        self.oses: dict[int, L4OS] = {}             # pid -> its library (fault upcalls)
        self._retry: dict[int, int] = {}            # thread id -> vpn its handler ran for
        self._depth: dict[int, int] = {}            # thread id -> fault upcalls nested

    def thread_in_space(self, tid: int, sid: int) -> bool:
        """Whether ``tid`` names a live thread of space ``sid`` (the server checks a
        thread a process registers)."""
        t = self.tcb_of(tid)
        return t is not None and t.space.sid == sid

    def label_space(self, sid: int, pid: int) -> None:
        """The server names a space after its process (traces, fault sites)."""
        space = self.spaces.get(sid)
        if space is not None:
            space.pid = pid

    def boot(self, program: Callable[..., Any], *args: Any,  # type: ignore[override]
             name: str = "init") -> TCB:
        """Start sigma0 and the UNIX server; the server creates the first process."""
        from exolab.kernels.l4.sigma0 import sigma0_main
        if self.sigma0 is None:
            s0 = self.new_space(SIGMA0_SID, "sigma0")
            self.sigma0 = self.new_thread(s0, sigma0_main, (), 0, "sigma0")
            space = self.new_space(SIGMA0_SID, "ux")
            self.ux_tcb = self.new_thread(space, self._ux_main, (), self.sigma0.tid, "ux")
        self._init = (program, args, name)
        return self.ux_tcb  # type: ignore[return-value]

    def _ux_main(self, l4: Any) -> None:
        """The server's body: make the first process, then serve."""
        self.ux.l4 = l4
        if self._init is not None:
            program, args, name = self._init
            self._init = None
            self.ux.new_proc(name, None, program, args)
        self.ux.main(l4)

    # -- bodies of process threads ------------------------------------------------------

    def lib_of(self, thread: SimThread | None) -> L4Lib:
        """The L4 library of a process thread."""
        lib = self._libs.get(thread.tid) if thread is not None else None
        if lib is None:
            raise ProgramFault("not an L4 thread")
        return lib

    def _thread_body(self, t: TCB, entry: Callable[..., Any], args: tuple[Any, ...],
                     lib: Any) -> Any:
        self._libs[t.sim.tid] = made = lib(self, t)
        return entry(made, *args)

    def process_entry(self, l4: Any, pid: int, program: Callable[..., Any],
                      args: tuple[Any, ...], handler: Any = None) -> None:
        """A process's main thread: run ``program(os, *args)``, then exit with it
        (``handler``: the fault handler a fork child inherits)."""
        os = L4OS(self, pid, self.ux_tcb.tid, l4.kinfo()[2])  # type: ignore[union-attr]
        os._handler = handler
        self.oses[pid] = os
        result = program(os, *args)
        os.exit(final_status(None, result))

    def thread_entry(self, l4: Any, os: L4OS, entry: Callable[..., Any],
                     args: tuple[Any, ...]) -> Any:
        """A further thread of a process: ``entry(os, *args)``, then tell the server
        it ended."""
        result = entry(os, *args)
        os.thread_ends(l4)
        return result

    def exiting(self, thread: SimThread | None, status: Any) -> None:
        """A thread calls exit: remember the status it ends with."""
        if thread is not None:
            thread.exit_status = status

    # -- faults end the process through the server ---------------------------------------

    def _pid_of(self, t: TCB) -> int | None:
        return self.ux.pids_of_threads.get(t.tid)

    def kill(self, t: TCB, what: str, where: Any) -> None:
        """A process thread's fault ends its process (recorded by pid)."""
        pid = self._pid_of(t)
        if pid is None:
            super().kill(t, what, where)
            return
        self.faults.append((pid, what, where))
        self._recorded.add(t.sim.tid)
        self._end_process(t, what)

    def exception_ends(self, t: TCB, cause: Cause, vaddr: int, info: Any) -> None:
        """An exception in a process thread ends the process with its fault status."""
        pid = self._pid_of(t)
        if pid is None:
            super().exception_ends(t, cause, vaddr, info)
            return
        status = fault_status(info) if cause == Cause.PROGRAM else cause.name
        self.faults.append((pid, status, vaddr))
        self._recorded.add(t.sim.tid)
        self._end_process(t, status)

    def _end_process(self, t: TCB, status: Any) -> None:
        """Tell the server the process ended (an exception IPC); end the thread."""
        t.sim.exit_status = status
        lib = self._libs.get(t.sim.tid)
        if lib is not None and self.ux_tcb is not None and self.ux_tcb.state != DEAD:
            try:
                lib.call(self.ux_tcb.tid, words=(OPS["exit"],), objs=(status,))
            except SyscallError:
                pass
        t.sim.killed = True
        raise ThreadExit(status)

    def page_fault(self, cpu: CPU, vaddr: int, write: bool,  # type: ignore[override]
                   retry: bool = False) -> None:
        """As L4's, but a pager's reply that maps nothing ends the thread's process,
        and one that says "upcall" runs the process's fault handler on this thread
        (the access is then retried, marked as such for the pager)."""
        me = self.current(cpu)
        vpn = vaddr >> 12
        retry = self._retry.pop(me.tid, -1) == vpn
        before = self.ipc.pages_mapped
        got = super().page_fault(cpu, vaddr, write, retry)
        pid = self._pid_of(me)
        if pid is None or self.ipc.pages_mapped != before:
            return
        if got.words and got.words[0] == UPCALL_TAG and got.sender == self.ux_tcb.tid:  # type: ignore[union-attr]
            self._upcall(cpu, me, pid, vaddr, write)
            now = self.pt.lookup(me.space.directory, vpn)
            if now is None or (write and not now[1]):
                self._retry[me.tid] = vpn       # the retry will fault: tell the pager
            return
        self.kill(me, "SIGSEGV", vaddr)     # refused: outside every region, or still bad

    def _upcall(self, cpu: CPU, me: TCB, pid: int, vaddr: int, write: bool) -> None:
        """Run the process's fault handler in user mode on the faulting thread (its
        library's stub); too deep a nesting, or an exception out of it, ends it."""
        os = self.oses.get(pid)
        depth = self._depth.get(me.tid, 0)
        if os is None or depth >= MAX_NESTING:
            self.kill(me, "SIGSEGV", vaddr)
        self._depth[me.tid] = depth + 1
        try:
            cpu.upcall(os._fault_upcall, vaddr, write)  # type: ignore[union-attr]
        except ThreadExit:
            raise
        except BaseException as ex:         # noqa: BLE001 - anything a handler may raise
            if self.machine.panic is not None or isinstance(ex, (KernelPanic,
                                                                 SimulationError)):
                raise
            if type(ex) is KeyboardInterrupt and host_interrupted():
                raise
            self.kill(me, fault_status(ex), vaddr)
        finally:
            if depth:
                self._depth[me.tid] = depth
            else:
                self._depth.pop(me.tid, None)

    # -- idle: fail the connects nobody can serve -----------------------------------------

    def on_idle(self, cpu: CPU) -> bool:
        if super().on_idle(cpu):
            return True
        if self.ux_tcb is None or not self.ux.fail_connects():
            return False
        n = self.ux_tcb.space.caps.get(self.ux.ntfn)
        if n is None:
            return False
        self.ipc.signal(cpu, n, 1)
        return super().on_idle(cpu)

    def on_thread_exit(self, cpu: CPU, thread: SimThread) -> None:
        self._libs.pop(thread.tid, None)
        t = self.by_sim.get(thread.tid)
        if t is not None:
            self._retry.pop(t.tid, None)
            self._depth.pop(t.tid, None)
        if thread.tid not in self._recorded:
            super().on_thread_exit(cpu, thread)
            return
        self._recorded.discard(thread.tid)          # recorded once, by process id:
        fault, thread.fault = thread.fault, None    # the kernel must not add it again
        try:
            super().on_thread_exit(cpu, thread)
        finally:
            thread.fault = fault                    # (the CLI shows where it faulted)

    def shutdown(self) -> None:
        """The ABI system ends when its processes do (never at a server's end)."""

    def all_done(self) -> None:
        """The last process ended: sigma0 and the server end too (the run finishes)."""
        for t in (self.sigma0, self.ux_tcb):
            if t is not None:
                self.end_at_shutdown(t)

    def statistics(self) -> L4Stats:
        base = super().statistics()
        ux = self.ux
        live = sum(1 for p in ux.procs.values() if p.alive)
        in_use, retained = self._frames()
        return L4Stats(base.syscalls, len(self.faults), ux.next_pid - 1, live,
                       len(ux.procs), in_use, retained, base.threads, base.spaces,
                       base.page_faults, base.preemptions, base.ipc, base.mapdb)

    def _frames(self) -> tuple[int, int]:
        """Frames the processes use (their page tables, code/stack, TCBs and UTCBs,
        mapped pages and image reservations); the servers' own memory and their
        pool of free frames are the system's, not counted. Nothing is retained."""
        used = 0
        for s in self.spaces.values():
            if s.creator == SIGMA0_SID:
                continue
            used += 1 + len(self.pt._tables.get(s.directory, {})) + len(s.kframes)
            used += self.mapdb.held(s.sid) + sum(
                len(self.tcbs[n].frames) for n in s.threads if n in self.tcbs)
        used += sum(len(p.image) for p in self.ux.procs.values())
        return used, 0
