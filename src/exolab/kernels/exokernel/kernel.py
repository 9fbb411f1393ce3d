"""Aegis: the exokernel — protection without management.

Aegis securely multiplexes the machine and leaves every abstraction to
untrusted library operating systems (ExOS, :mod:`exolab.libos.exos`). It
exports physical pages by number (:mod:`.phys`) under capabilities
(:mod:`.caps`), checks translations at bind time and caches them in a large
software TLB (:mod:`.bind`, :mod:`.stlb`), dispatches exceptions and TLB
misses to user-level handlers with minimal state saved (:mod:`.exc`),
multiplexes the CPU
as a vector of time slices with prologue/epilogue upcalls (:mod:`.sched`),
offers protected control transfers (:mod:`.pct`), and takes resources back
visibly or, past a deadline, by the abort protocol (:mod:`.revoke`). The
system-call table is :mod:`.syscall`; path lengths are :mod:`.paths`.

This module composes them and installs the CPU vectors.

Interface::

    KERNEL_FRAMES, LIBOSES, MAX_STRIKES
    Aegis(machine, libos="exos", ip=None)     ip: the NIC's IPv4 address (netaddr.py)
      name = "exokernel"     console, faults, envs, current
      exits                 (eid, name, status) of the first EXITS_KEPT environments
                            that ended; len(): every one (env.Exits; ended: XN's reap)
      boot(program, *args, name="init") -> Environment   (each call: one more
                             top-level environment with one slice and its own ExOS,
                             or the library OS class the program names: program.libos)
      run(until=None) -> RunResult
      revoke_pages(eid, npages, deadline_us=...)     (kernel policy / tests)
      principals            the accounting principals' factory (quota.py)
      new_env(name, parent, principal=None), new_thread, start, enter, upcall,
      deliver, destroy, unwind,
      finish_if_done, console_write           (for the mechanism modules)
      statistics() -> AegisStats
      on_trap, on_exception, on_tlb_miss, on_interrupt, on_idle, on_thread_exit
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any, Callable

from exolab.errors import ConfigError, KernelPanic, SyscallError, safe_repr, safe_str
from exolab.kernels.common.asids import Asids
from exolab.kernels.common.console import Console
from exolab.kernels.common.exitstatus import thread_status
from exolab.kernels.exokernel import exc, netaddr, paths
from exolab.kernels.common.contract import Declaration
from exolab.kernels.common.stats import KernelStats
from exolab.kernels.exokernel.bind import Binder
from exolab.kernels.exokernel.dpf_rx import NetFilters, NetStats
from exolab.kernels.exokernel.caps import RIGHTS, CapStats, CapTable
from exolab.kernels.exokernel.env import (DEAD_ENV, DYING, LIVE, Context, Environment,
                                          EnvStats, Exits, Message)
from exolab.kernels.exokernel.limits import (KERNEL_FRAMES, KERNEL_STACK, MAX_ENV_THREADS,
                                             MAX_ENVS, MAX_FILTERS, MAX_THREADS, PAGE_SHIFT)
from exolab.kernels.exokernel.quota import (ENVS, Principal, Principals, add_context, charge,
                                            check, context_room, uncharge)
from exolab.kernels.exokernel.pct import CalleeAbort, run_entry
from exolab.kernels.exokernel.phys import PhysPages, PhysStats
from exolab.kernels.exokernel.revoke import (DEFAULT_DEADLINE_US, IRQ_SOFT, Revoker,
                                             RevokeStats)
from exolab.kernels.exokernel.sched import SchedStats, Scheduler
from exolab.kernels.exokernel.stlb import STLB, STLBStats
from exolab.kernels.exokernel.syscall import Sys, costed_table, dispatch
from exolab.libos.exos.ipc import MAX_SHM as EXOS_MAX_SHM, PIPE_RING
from exolab.libos.exos.layout import MAX_FDS as EXOS_MAX_FDS
from exolab.libos.exos.ucpu import UserCPU
from exolab.machine.cpu import CPU, IRQ_NIC, IRQ_TIMER
from exolab.machine.machine import Machine, RunResult
from exolab.machine.threads import DEAD, SimThread, ThreadExit

__all__ = ["Aegis", "AegisStats", "KERNEL_FRAMES", "LIBOSES", "MAX_STRIKES"]

MAX_STRIKES = exc.MAX_STRIKES

LIBOSES = {"exos": "exolab.libos.exos:ExOS"}

_PRUNE_MIN = 1024    # contexts the kernel's list holds before it first drops dead ones

_ENTRY_OF = {"pct": "async", "notice": "async", "revoke": "revoke",
             "repossessed": "repossessed"}


@dataclass(frozen=True, slots=True)
class AegisStats(KernelStats):
    """Kernel-level counters (the machine's are in Machine.statistics())."""

    pcts: int
    exceptions: int
    tlb_upcalls: int
    stlb: STLBStats
    caps: CapStats
    phys: PhysStats
    sched: SchedStats
    revoke: RevokeStats
    envs: tuple[EnvStats, ...]
    net: NetStats                       # packet filters, rings, handlers (dpf_rx.py)

    @property
    def envs_created(self) -> int:
        """Environments ever made (the common ``processes_created``)."""
        return self.processes_created

    @property
    def envs_live(self) -> int:
        """Environments alive now (the common ``processes_live``)."""
        return self.processes_live


def _retag_guaranteed(env: Environment) -> None:
    """``env`` got a new ASID: its guaranteed mappings carry it (no cache holds
    them: a rollover cleared the TLB and the STLB; a fresh environment has none)."""
    for e in env.guaranteed.values():
        e.asid = env.asid


class Aegis:
    """The exokernel; see the module docstring."""

    name = "exokernel"
    trap_names = {int(call): call.name.lower() for call in Sys}   # for traces
    declaration = Declaration(
        extensions=frozenset({"read_inline", "write_inline", "rpc_call_trusted",
                              "pct_call", "bind_handler"}),      # ExOS's extensions
        raw_entry="aegis",
        paths="exolab.kernels.exokernel.paths",
        limits={"max_fds": EXOS_MAX_FDS, "pipe_buffer": PIPE_RING,
                "shm_max_bytes": EXOS_MAX_SHM << PAGE_SHIFT,
                "live_processes": MAX_ENVS, "threads": MAX_THREADS,
                "threads_per_process": MAX_ENV_THREADS})

    def __init__(self, machine: Machine, libos: str = "exos", ip: str | None = None) -> None:
        if libos not in LIBOSES:
            raise ConfigError("unknown library OS", libos=libos, expected=sorted(LIBOSES))
        if machine.memory.page_shift != PAGE_SHIFT:
            raise ConfigError("aegis and its library OSes are written for 4 KiB pages",
                              page_size=1 << machine.memory.page_shift,
                              expected=1 << PAGE_SHIFT)
        if machine.memory.frames <= KERNEL_FRAMES + 64:
            raise KernelPanic("aegis: not enough physical memory",
                              frames=machine.memory.frames)
        self.machine = machine
        self.cpu = machine.cpu
        self.libos = libos
        p = machine.profile
        self.c_path = {n: paths.cycles(p, n) for n in paths.PATHS}
        self.c_cap = self.c_path["cap_check"]
        self.c_exc = self.c_path["exc_dispatch"]
        self.c_arg = self.c_path["upcall_args"]
        self.c_crossing = p.trap_entry + self.c_path["pct"] + p.trap_exit
        self.table = costed_table(self)
        self.pshift = machine.memory.page_shift
        self.caps = CapTable(machine.clock.rng)
        self.stlb = STLB()
        self.stlb_slots, self.stlb_mask = self.stlb.slots, self.stlb.mask  # (miss fast path)
        self.clock = machine.clock
        self.c_probe = self.c_path["stlb_probe"]
        self.asids = Asids(self.cpu.tlb.asid_mask, self._asid_rollover, _retag_guaranteed)
        self.bind = Binder(self.caps, self.cpu, self.stlb, self.asids, self.c_path)
        self.phys = PhysPages(self.caps, self.cpu, machine.memory, machine.clock,
                              self.bind.revoke, KERNEL_FRAMES,
                              machine.memory.frames - KERNEL_FRAMES)
        self.principals = Principals(MAX_ENVS, MAX_FILTERS, self.phys.count, MAX_THREADS)
        self.sched = Scheduler(self)
        self.revoker = Revoker(self.phys, self.sched.wake, self.cpu)
        self.net = NetFilters(self)                     # packet filters, rings, the NIC
        self.ip_address = netaddr.configure(self, ip)   # the NIC's IPv4 address (or None)
        self.envs: dict[int, Environment] = {}          # live and dying environments
        self.c_clear = self.c_path["stlb_clear"]
        self._threads: list[SimThread] = []             # contexts made (dead pruned lazily)
        self._prune_at = _PRUNE_MIN                     # its length at the next pruning
        self.current: Environment | None = None         # environment on the CPU
        self.console = Console()
        self.faults: list[tuple[int, str, Any]] = []
        self.exits = Exits()        # (eid, name, status): the first EXITS_KEPT; len: all
        self._reap: list[tuple[Environment, SimThread]] = []
        self.strikes: dict[tuple[int, int, int], int] = {}   # (eid, vpn, cause) -> unfixed returns
        self._next_eid = 1
        self.syscalls = self.pcts = self.exceptions = self.tlb_upcalls = 0
        self.spare_contexts: list[Context] = []     # borrowed PCT contexts, for reuse
        self.created = 0
        self.xn: Any = None                             # XN, made on the first XN call
        self.xn_principals: dict[int, int] = {}         # eid -> XN principal (xn/calls.py)
        for cpu in machine.cpus:
            cpu.install(self)

    # -- the Kernel protocol ----------------------------------------------------------

    def boot(self, program: Callable[..., Any], *args: Any, name: str = "init") -> Environment:
        """Create the first environment (one slice, its library OS, a new root
        accounting principal: quota.py) running ``program``.

        The library OS is the one the program is linked with (``program.libos``,
        a class with ``first``), else this kernel's default (``libos=``).
        """
        libos: Any = getattr(program, "libos", None)
        if libos is None:
            module, _, cls = LIBOSES[self.libos].partition(":")
            libos = getattr(importlib.import_module(module), cls)
        elif not (isinstance(libos, type) and callable(getattr(libos, "first", None))):
            raise ConfigError("program.libos is not a library OS class", libos=safe_repr(libos))
        env = self.new_env(name, None)
        self.sched.alloc(env)
        if env.cap is None:
            raise KernelPanic("aegis: new environment without a capability", eid=env.eid)
        ucpu = UserCPU(self.cpu)        # (the class may be the program's: user mode only)
        fn, fargs = libos.first(ucpu, env.eid, env.cap.handle, program, tuple(args))
        self.start(env, fn, fargs)
        return env

    def run(self, until: int | None = None) -> RunResult:
        """Run the machine (see Machine.run)."""
        return self.machine.run(until)

    # -- environments -------------------------------------------------------------------

    def new_env(self, name: str, parent: Environment | None,
                principal: Principal | None = None) -> Environment:
        """Create a live environment with a capability naming it (ENOMEM past
        MAX_ENVS or its principal's share); it gets an ASID now if one is free,
        else when it first runs. Its principal is ``principal``, else its
        parent's, else (booted) a new root principal."""
        if len(self.envs) >= MAX_ENVS:
            raise SyscallError("ENOMEM", "too many environments", limit=MAX_ENVS)
        if principal is None:
            principal = parent.principal if parent is not None else None
            if principal is None:
                principal = self.principals.root()
        check(principal, ENVS, 1)
        env = Environment(self._next_eid, name, 0, parent, principal=principal)
        env.cap = self.caps.mint("env", env, RIGHTS["env"], holder=parent)   # (ENOMEM
        self.asids.take(env)                                    # first: nothing to undo)
        charge(principal, ENVS, 1)
        self._next_eid += 1
        self.created += 1
        self.envs[env.eid] = env
        if parent is not None:
            parent.children[env.eid] = env
        return env

    def _asid_rollover(self) -> None:
        """A new ASID generation: flush the TLB and the STLB (charged here)."""
        self.cpu.tlb_flush()
        self.cpu.charge(self.stlb.clear() * self.c_clear)

    def new_thread(self, env: Environment, fn: Callable[..., Any], args: tuple[Any, ...],
                   name: str = "") -> SimThread:
        """Create a context of ``env`` that will run ``fn(*args)`` in user mode."""
        self._thread_limit(env)
        t = self.machine.threads.create(self._thread_entry, (env, fn, args),
                                        name=name or f"{env.name}.{len(env.threads)}",
                                        owner=env)
        env.threads.append(t)
        add_context(env.principal, t)
        self._threads.append(t)
        if len(self._threads) >= self._prune_at:   # (amortised O(1): a spawn loop keeps
            self._threads = [t for t in self._threads if t.state != DEAD]  # the live)
            self._prune_at = max(_PRUNE_MIN, 2 * len(self._threads))
        return t

    @property
    def threads_live(self) -> int:
        """Contexts not yet dead (what MAX_THREADS bounds)."""
        return sum(1 for t in self._threads if t.state != DEAD)

    def _thread_limit(self, env: Environment) -> None:
        """EAGAIN past MAX_THREADS live contexts, MAX_ENV_THREADS in ``env``, or
        its principal's share of contexts."""
        if len(self._threads) >= MAX_THREADS:
            self._threads = [t for t in self._threads if t.state != DEAD]
            if len(self._threads) >= MAX_THREADS:
                raise SyscallError("EAGAIN", "too many threads", limit=MAX_THREADS)
        if len(env.threads) >= MAX_ENV_THREADS:
            env.threads = [t for t in env.threads if t.state != DEAD]
            if len(env.threads) >= MAX_ENV_THREADS:
                raise SyscallError("EAGAIN", "too many threads in the environment",
                                   limit=MAX_ENV_THREADS)
        context_room(env.principal)

    def start(self, env: Environment, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Give ``env`` its first context."""
        env.ctx.append(Context(self.new_thread(env, fn, args, env.name)))
        self.sched.note(env)

    def _thread_entry(self, env: Environment, fn: Callable[..., Any],
                      args: tuple[Any, ...]) -> Any:
        """Body of every context: run ``fn(*args)`` unless the environment died first."""
        t = self.cpu.current
        if (t is not None and t.killed) or not env.alive:
            raise ThreadExit(env.status)
        return fn(*args)

    def enter(self, env: Environment) -> None:
        """Make ``env`` the running environment: load its ASID."""
        self.current = env
        asids = self.asids
        asid = env.asid if env.asid_gen == asids.gen else asids.of(env)
        if self.cpu.asid != asid:
            self.cpu.set_asid(asid)

    def upcall(self, env: Environment, fn: Callable[..., Any], *words: Any) -> Any:
        """Run one of ``env``'s entries in user mode (a fault in it destroys ``env``)."""
        return run_entry(self, env, fn, *words)

    def deliver(self, env: Environment) -> None:
        """Upcall ``env``'s entries for its pending messages, oldest first."""
        while env.inbox and env.alive:
            m: Message = env.inbox.popleft()
            fn = env.entries.get(_ENTRY_OF[m.kind])
            if fn is None:
                continue
            self.cpu.charge(self.c_exc + len(m.words) * self.c_arg)
            if m.kind in ("pct", "notice"):
                run_entry(self, env, fn, m.sender, *m.words)
            else:
                run_entry(self, env, fn, *m.words)

    def destroy(self, env: Environment, status: Any, exited: bool = False,
                unwind: bool = True) -> None:
        """Take everything from ``env``; unwind it if it is running here.

        The taking and the retiring run on a kernel stack reserve (KERNEL_STACK
        more frames of recursion limit), so they complete however deep the
        program's stack is."""
        if env.state == LIVE:
            _on_reserve(self._take_all, env, status, exited)
        if unwind and self.current is env:
            self.unwind(env)
        _on_reserve(self.finish_if_done, env)

    def _take_all(self, env: Environment, status: Any, exited: bool) -> None:
        """Everything destroy takes: slices, pages, bindings, messages, contexts;
        the parent is told and never-started children go too."""
        if env.state == LIVE:
            env.state, env.status = DYING, status
            self.exits.append((env.eid, env.name, status))
            if not exited:
                self.faults.append((env.eid, safe_str(status), None))
            self.sched.release(env)
            self.phys.release_all(env)
            self.bind.forget(env)
            self.net.forget(env)
            env.inbox.clear()
            if env.cap is not None:
                self.caps.revoke(env.cap)
            self._kill_contexts(env)
            self._notify_parent(env)
            self._flush_console(env)
            self._destroy_unstarted_children(env)

    def _destroy_unstarted_children(self, env: Environment) -> None:
        """Environments ``env`` allocated but never started die with it: they have no
        context to run, and only their creator was building them (no leak)."""
        for child in [e for e in env.children.values()
                      if e.state == LIVE and not e.threads]:
            self.destroy(child, "creator died before starting it", exited=True,
                         unwind=False)

    def _kill_contexts(self, env: Environment) -> None:
        """Mark ``env``'s threads killed and queue its suspended contexts for reaping."""
        here = self.cpu.current
        for t in env.threads:
            if t.state != DEAD:
                t.killed, t.exit_status = True, env.status
                if t is not here:
                    self._reap.append((env, t))
        for c in env.ctx:
            if c.borrowed and c.thread is not here:
                self._reap.append((env, c.thread))

    def _notify_parent(self, env: Environment) -> None:
        """Queue a death notice for ``env``'s parent (an asynchronous message)."""
        parent = env.parent
        if parent is not None and parent.alive and not env.notified:
            env.notified = True
            parent.inbox.append(Message("notice", ("exit", env.eid, env.status), 0))
            self.sched.wake(parent)

    def unwind(self, env: Environment) -> None:
        """Leave the dead ``env``'s code on this CPU: abort a borrowed call, or exit."""
        top = env.top
        if top is not None and top.borrowed and top.thread is self.cpu.current:
            raise CalleeAbort(env)
        raise ThreadExit(env.status)

    def unwind_current(self) -> None:
        """A system call came from an environment that is gone."""
        env = self.current
        if env is None:
            raise KernelPanic("aegis: system call with no environment")
        self.unwind(env)

    def finish_if_done(self, env: Environment) -> None:
        """Retire a dying environment once no context of it can run again."""
        if env.state != DYING:
            return
        if any(t.state != DEAD for t in env.threads) or \
                any(c.borrowed for c in env.ctx):
            return
        env.state = DEAD_ENV
        env.ctx.clear()
        self.envs.pop(env.eid, None)
        uncharge(env.principal, ENVS, 1)
        if env.parent is not None:
            env.parent.children.pop(env.eid, None)
        self.asids.release(env)                 # (Binder.forget dropped its entries)

    def revoke_pages(self, eid: int, npages: int,
                     deadline_us: float = DEFAULT_DEADLINE_US) -> None:
        """Ask environment ``eid`` to give back ``npages`` pages (visible revocation)."""
        env = self.envs.get(eid)
        if env is None:
            raise SyscallError("ESRCH", "no such environment", eid=eid)
        self.revoker.request(env, npages, deadline_us)

    # -- console ----------------------------------------------------------------------------

    def console_write(self, env: Environment, data: bytes) -> None:
        """Append ``data`` to the console, line by line, per environment."""
        self.console.write(env.eid, data)

    def _flush_console(self, env: Environment) -> None:
        """Emit an ending environment's unterminated line."""
        self.console.flush(env.eid)

    # -- CPU vectors --------------------------------------------------------------------------

    on_trap = dispatch

    on_tlb_miss = exc.on_tlb_miss
    on_exception = exc.on_exception

    def on_interrupt(self, cpu: CPU, irq: int) -> None:
        """The slice timer moves the vector; the software interrupt runs aborts."""
        if irq == IRQ_TIMER:
            self.sched.tick(cpu)
        elif irq == IRQ_SOFT:
            self.revoker.on_soft_irq()
        elif irq == IRQ_NIC:
            self.net.on_irq()

    def on_idle(self, cpu: CPU) -> bool:
        """Reap dead contexts, then run the next runnable environment."""
        while self._reap:
            env, t = self._reap.pop()
            if t.state != DEAD:
                self.enter(env)
                cpu.switch_to(t, save=False)
                self.finish_if_done(env)
                return True
        if self.sched.dispatch(cpu):
            return True
        self.sched.stop_tick()
        return False

    def on_thread_exit(self, cpu: CPU, thread: SimThread) -> None:
        """A context's body ended: the environment exits with its last one."""
        env: Environment = thread.owner
        env.ctx = [c for c in env.ctx if c.thread is not thread]
        if env.alive:
            live = [t for t in env.threads if t.state != DEAD]
            if not live:
                self.destroy(env, thread_status(thread), exited=True, unwind=False)
            elif not env.ctx:
                env.ctx.append(Context(live[0]))
                self.sched.note(env)
        self.finish_if_done(env)
        if self.current is env:
            self.current = None

    # -- statistics ------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """The end of a run (runner.run calls it): XN writes back its registry's
        dirty blocks, children first (a clean shutdown; fsync writes one file)."""
        if self.xn is not None and all(d.powered for d in self.machine.disks[:1]):
            self.xn.sync()

    def statistics(self) -> AegisStats:
        """Return a frozen snapshot of the kernel's counters."""
        envs = tuple(EnvStats(e.eid, e.name, e.state, len(e.roots), len(e.slots),
                              e.excess, e.overruns, len(e.repossessed))
                     for e in self.envs.values())
        live = sum(1 for e in self.envs.values() if e.alive)
        return AegisStats(syscalls=self.syscalls, faults=len(self.faults),
                          processes_created=self.created, processes_live=live,
                          process_slots=len(self.envs),
                          frames_in_use=self.phys.count - self.phys.available(),
                          frames_retained=0, pcts=self.pcts, exceptions=self.exceptions,
                          tlb_upcalls=self.tlb_upcalls, stlb=self.stlb.statistics(),
                          caps=self.caps.statistics(), phys=self.phys.statistics(),
                          sched=self.sched.statistics(), revoke=self.revoker.statistics(),
                          envs=envs, net=self.net.statistics())


def _on_reserve(fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` with KERNEL_STACK more frames of recursion limit."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + KERNEL_STACK)
    try:
        fn(*args)
    finally:
        sys.setrecursionlimit(limit)
