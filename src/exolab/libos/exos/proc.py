"""ExOS processes and threads: boot, spawn, fork, exit and wait, user-level threads.

A process is one Aegis environment with its own ExOS. ExOS builds it from
nothing: it allocates the pages of its private region and asks Aegis to
guarantee their mappings, sets its entry points, builds its page table and
maps its image — all from inside the new environment (:meth:`Procs.boot`).

- ``spawn`` allocates an environment (the root of a new Aegis accounting
  principal nested in ours: another program), makes it co-owner of the ExOS text
  and the rpc registry, gives it a time slice and starts it at ExOS's boot,
  under the library OS the program names (``program.libos``, default ExOS).
- ``fork`` is copy-on-write done by ExOS on its own page tables: the child
  (in our principal: the same program) becomes co-owner of every frame,
  private writable pages turn COW in both, and the parent rebinds its writable pages read-only in one Aegis call.
  The child runs the parent's library OS class.
- ``exit`` sends the parent an asynchronous PCT ("exit", pid, status) and
  destroys the environment; ``wait`` blocks until such a message (or the
  kernel's death notice, for a process that died of a fault) has arrived.
- Threads are ExOS's own: a switch is :meth:`CPU.user_switch` (registers
  saved and restored in user mode, no kernel entry). A thread that must wait
  switches to another thread; when all wait, the environment yields, and
  when nobody else can run either, it sleeps until a peer wakes it.
- Threads are preempted at slice boundaries: the epilogue (the timer
  interrupt Aegis delivers at the end of each of the environment's slices)
  sets ``resched``, and the running thread takes it at its next *preemption
  point* (:meth:`Procs.preempt`), the start of one of its own operations —
  compute, time, random, a load or store, getpid (``ExOS``) — and goes to the
  back of the round robin. ExOS is never preempted inside its own routines:
  they are its critical sections (a thread that waits in one switches at
  :meth:`block`).

Interface::

    UThread(ctx)
    Procs(os)
      boot(), first_main, spawn_main, fork_main        (run in the new environment)
      spawn(program, args, name) -> pid   fork(entry, args) -> pid
      exit(status)   die(what)            wait(pid) -> (pid, status)
      on_exit_message(sender, pid, status)   thread_done(result)
      thread_create(entry, args) -> tid   thread_yield()
      resched (a slice ended)   preempt() (at a preemption point)   preemptions
      block(sleeper_slot, ready, sleep=True, spins=0) -> bool   yield_env() -> bool
      MAX_SPINS                           fruitless turns before a waiter sleeps

This module is over the 400-line guide because spawn, fork, exit/wait and
blocking share one process table kept in the library OS's own memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Any, Callable

from exolab.abi import image_pages
from exolab.errors import SyscallError, safe_repr, type_name
from exolab.kernels.common.args import shown
from exolab.kernels.common.exitstatus import exit_value, final_status
from exolab.kernels.common.image import copy_in
from exolab.kernels.common.names import MAX_NAME, process_name
from exolab.kernels.exokernel.bind import MAX_VEC, VALID
from exolab.kernels.exokernel.envcalls import MAX_SHARE
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.ipc import FD_CONSOLE
from exolab.libos.exos.layout import (
    EXOS_TEXT_PAGES,
    EXOS_VPN,
    GUARANTEED_PAGES,
    IMAGE_VPN,
    MISC_PID,
    MISC_VA,
    P_COW,
    P_DIRTY,
    P_PRESENT,
    P_READ,
    P_SHARED,
    P_WRITE,
    PAGE,
    SHIFT,
    STACK_PAGES,
    STACK_VPN,
    boot_vpns,
    fd_addr,
)
from exolab.safe.sealed import Sealed

if TYPE_CHECKING:
    from exolab.libos.exos.exos import ExOS

__all__ = ["Procs", "UThread", "PENDING"]

PENDING = object()                      # a child that has not exited yet
_RO = ("read", "share")                 # what a sharer gives a copy-on-write co-owner
_YIELD = int(Sys.YIELD)                 # (a plain int: an IntEnum lookup per call is slow)
#: fruitless turns after which a waiter sleeps even though others could run (two
#: processes waiting on each other would otherwise yield back and forth for ever): it
#: yields once (a peer that is about to write needs no wake) and sleeps at the second,
#: so a blocked process costs O(1) turns, not 64 (a pipe ping-pong waits one yield)
MAX_SPINS = 2


@dataclass(slots=True, eq=False)
class UThread(metaclass=Sealed):
    """An ExOS thread; every field is owned by its process's ExOS."""

    ctx: int                            # id of the context Aegis gave it (THREAD_ALLOC)
    waiting: bool = False               # blocked in block(), re-checks when resumed
    done: bool = False                  # its entry returned
    slot: int | None = None             # the wake slot it last blocked on (block())
    ready: Callable[[], bool] | None = None     # the condition it blocked on (block())
    parked: bool = False                # in thread_park, until an unpark
    token: bool = False                 # an unpark came first: the next park returns


class Procs(metaclass=Sealed):
    """Process and thread management of one ExOS process."""

    def __init__(self, os: "ExOS") -> None:
        self.os = os
        self.cpu = os.cpu
        self.c_save = os.profile.reg_save
        self.children: dict[int, Any] = {}      # pid -> PENDING or exit status
        self.ups: dict[int, int] = {}           # pid -> the {wake, pct} capability it was
        #                                       given for us (revoked when it is reaped)
        self.exited: list[int] = []             # heap of pids with a status (stale ones,
        #                                       reaped by wait(pid), dropped lazily:
        #                                       at most 2 * len(children) + 16)
        self.threads: list[UThread] = []        # the live threads, in creation order
        self.by_ctx: dict[int, UThread] = {}    # context id -> its live thread
        self.main: UThread | None = None        # the first thread (its value: the status)
        self.made = 0                           # threads ever made (their names)
        self.main_result: Any = None            # what the main thread's entry returned
        self.resched = False                    # a slice ended with threads to share it
        self.preemptions = 0                    # threads sent back at a preemption point

    # -- building a process from inside its environment --------------------------------

    def boot(self) -> None:
        """Allocate the private region, guarantee it, set the entry points."""
        os = self.os
        for vpn in boot_vpns():
            ppn, h = os.trap(Sys.PAGE_ALLOC, None)
            os.trap(Sys.GUARANTEE, vpn, ppn, h, True)
        os.trap(Sys.ENV_SETUP, os.handle, os.entry_table(), os.exc_table(), EXOS_VPN)
        self.cpu.store(MISC_VA + MISC_PID, os.pid)
        self.main = self._add(self.cpu.current)
        for fd in (0, 1, 2):
            self.cpu.store(fd_addr(fd), FD_CONSOLE)

    def _load_image(self, program: Any, pages: int | None = None) -> None:
        """Map the program's image (``pages``, decoded by the spawner, or the
        program's ``image_pages``; copied from the file cache) and a stack."""
        os = self.os
        if pages is None:
            pages = image_pages(program)
        frames = copy_in(self.cpu, pages, lambda: os.trap(Sys.PAGE_ALLOC, None))
        os.vm.map_fixed(IMAGE_VPN + EXOS_TEXT_PAGES, frames, P_READ)
        os.image_span = EXOS_TEXT_PAGES + pages
        os.vm.pt.insert_run(STACK_VPN, STACK_PAGES, P_READ | P_WRITE)

    def first_main(self, program: Any, args: tuple[Any, ...]) -> Any:
        """The first process: load ExOS's text, create the rpc registry, run."""
        os = self.os
        self.boot()
        text = [os.trap(Sys.PAGE_ALLOC, None) for _ in range(EXOS_TEXT_PAGES)]
        self.cpu.charge(EXOS_TEXT_PAGES * os.profile.copy_cost(PAGE))
        for _ in range(EXOS_TEXT_PAGES):
            self.cpu.note_copy(PAGE)
        os.vm.map_fixed(IMAGE_VPN, text, P_READ | P_SHARED)
        os.registry_va = os.vm.shared_run([os.trap(Sys.PAGE_ALLOC, None)])
        os.lrpc.become_registrar()
        self._load_image(program)
        return self._run(program, args)

    def spawn_main(self, program: Any, args: tuple[Any, ...],
                   shared: list[tuple[int, int]], pages: int | None = None,
                   registrar: int = 0) -> Any:
        """A spawned process: map the shared text and registry, load the image, run."""
        os = self.os
        os.lrpc.registrar_h = registrar
        self.boot()
        os.vm.map_fixed(IMAGE_VPN, shared[:-1], P_READ | P_SHARED)
        os.registry_va = os.vm.shared_run(shared[-1:], P_READ | P_SHARED)   # read-only
        self._load_image(program, pages)
        return self._run(program, args)

    def fork_main(self, snap: dict[str, Any], entry: Any, args: tuple[Any, ...]) -> Any:
        """A forked child: rebuild the page table and descriptors from the snapshot."""
        os, cpu = self.os, self.cpu
        self.boot()
        for vpn, ppn, flags, h in snap["ptes"]:
            os.vm.pt.insert_run(vpn, 1, flags & ~P_PRESENT)
            if flags & P_PRESENT:
                os.vm.pt.set_frame(os.vm.pt.find(vpn), ppn, h, flags)
        for fd, kind, va in snap["fds"]:
            a = fd_addr(fd)
            cpu.store(a, kind)
            cpu.store(a + 4, va)
        os.ipc.adopt(snap["fds"])
        os.vm.next_vpn, os.image_span = snap["next_vpn"], snap["image_span"]
        os.registry_va, os.fault_handler = snap["registry_va"], snap["fault_handler"]
        os.lrpc.registrar_h = snap["registrar"]
        for kind, h in snap["exc"].items():
            os.set_exception_handler(kind, h)
        snap.clear()                    # read: this frame lives as long as the child
        return self._run(entry, args)

    def _run(self, fn: Any, args: tuple[Any, ...]) -> Any:
        """Run a thread's entry; when it returns the thread is done."""
        try:
            result = fn(self.os, *args)
        except Exception:               # the program crashed: close its descriptors
            try:                        # so peers see EOF/EPIPE, then let Aegis
                self.os.ipc.close_all()  # record the fault
            except Exception:
                pass
            raise
        self.thread_done(result)
        return result

    # -- creating processes ------------------------------------------------------------

    def _child_env(self, name: str, pages: int,
                   call: int = Sys.ENV_ALLOC) -> tuple[int, int, int]:
        """A new environment with one slice and ``pages`` physical pages reserved for
        building it (ENOMEM now, not a half-built child later): (pid, its handle,
        our handle for it). ``call``: ENV_ALLOC (a fork: our principal) or
        ENV_ALLOC_PRINCIPAL (a spawn: another program, a principal nested in ours)."""
        os = self.os
        pid, h = os.trap(call, name[:MAX_NAME], pages)
        try:
            try:
                os.trap(Sys.SLICE_ALLOC, h, None, 1, False)
            except SyscallError as ex:          # every slice is owned: the child runs
                if ex.errno != "EAGAIN":        # in time others donate or leave idle
                    raise
            up = os.trap(Sys.CAP_DERIVE, os.handle, ("wake", "pct"))
        except SyscallError:
            self._abandon(h)
            raise
        self.ups[pid] = up
        return pid, h, up

    def _abandon(self, h: int, pid: int = 0) -> None:
        """Destroy a child environment we could not finish building (all it holds
        goes back to Aegis, and the capability we derived for it; no zombie is left)."""
        try:
            self.os.trap(Sys.ENV_DESTROY, h, "abandoned", False)
        except SyscallError:
            pass
        self._revoke_up(pid)

    def _revoke_up(self, pid: int) -> None:
        """Revoke the capability for us that child ``pid`` was given: it is gone (each
        one left a capability in Aegis's table for as long as we lived)."""
        up = self.ups.pop(pid, 0)
        if up:
            try:
                self.os.trap(Sys.CAP_REVOKE, up)
            except SyscallError:
                pass

    def spawn(self, program: Any, args: Any, name: str) -> int:
        """Create a process running ``program(os, *args)`` in a fresh environment."""
        from exolab.libos.exos.exos import ExOS, libos_of
        if not callable(program) or type(args) is not tuple:
            raise SyscallError("EINVAL", "program must be callable with a tuple of args")
        libos = libos_of(program, ExOS)         # the library OS the program is linked with
        pages = image_pages(program)           # decoded here: EINVAL to the caller
        os = self.os
        pid, h, up = self._child_env(process_name(name, program),
                                     GUARANTEED_PAGES + pages, Sys.ENV_ALLOC_PRINCIPAL)
        try:
            pt = os.vm.pt
            text = [(pt.entry(i)[0], pt.cap(i)) for i in
                    range(pt.find(IMAGE_VPN), pt.find(IMAGE_VPN) + EXOS_TEXT_PAGES)]
            reg = pt.find(os.registry_va >> SHIFT)
            text.append((pt.entry(reg)[0], pt.cap(reg)))
            roots = self._share([(hh, _RO) for _p, hh in text], h)
            try:
                child = libos(self.cpu, pid, h, up)
            except Exception as ex:             # the program's library OS is broken
                raise SyscallError("EINVAL", "the program's library OS failed to start",
                                   libos=safe_repr(libos),
                                   reason=type_name(ex)) from None
            shared = [(p, r) for (p, _h), r in zip(text, roots)]
            self._start(pid, h, child.procs.spawn_main,
                        (program, args, shared, pages, os.lrpc.registrar_h))
        except SyscallError:
            self._abandon(h, pid)
            raise
        return pid

    def _start(self, pid: int, h: int, entry: Any, words: tuple[Any, ...]) -> None:
        """Start the built child: it is our child (PENDING) *before* it can run, since
        a slice boundary right after ENV_START may run it to its end, and its death
        notice names a pid we must already wait for (else the notice is dropped and
        the wait sleeps for ever)."""
        self.children[pid] = PENDING
        try:
            self.os.trap(Sys.ENV_START, h, entry, words)
        except SyscallError:
            self.children.pop(pid, None)
            raise

    def fork(self, entry: Any, args: Any) -> int:
        """Create a copy-on-write child running ``entry(os, *args)`` (on our library OS)."""
        if not callable(entry) or type(args) is not tuple:
            raise SyscallError("EINVAL", "entry must be callable with a tuple of args")
        os = self.os
        pid, h, up = self._child_env(f"{os.name}~", GUARANTEED_PAGES)
        fds: list[tuple[int, int, int]] = []
        try:
            ptes = os.vm.pt.entries()
            present = [e for e in ptes if e[2] & P_PRESENT]
            reg = os.registry_va >> SHIFT               # (the registrar's alone)
            roots = dict(zip((e[0] for e in present), self._share(
                [e[3] if e[2] & P_SHARED and e[2] & P_WRITE and e[0] != reg
                 else (e[3], _RO) for e in present], h)))
            snap_ptes, vec = self._cow(ptes, roots)
            for at in range(0, len(vec), MAX_VEC):
                os.trap(Sys.TLB_VEC, vec[at:at + MAX_VEC])
            fds = os.ipc.open_fds()
            os.ipc.inherit(fds)
            snap = {"ptes": snap_ptes, "fds": fds, "next_vpn": os.vm.next_vpn,
                    "image_span": os.image_span, "registry_va": os.registry_va,
                    "registrar": os.lrpc.registrar_h,
                    "fault_handler": os.fault_handler, "exc": dict(os.exc_handlers)}
            child = type(os)(self.cpu, pid, h, up, name=f"{os.name}~")
            self._start(pid, h, child.procs.fork_main, (snap, entry, args))
        except SyscallError:
            os.ipc.inherit(fds, -1)             # (nothing, unless ENV_START refused)
            self._abandon(h, pid)
            raise
        return pid

    def _cow(self, ptes: list[tuple[int, int, int, int]],
             roots: dict[int, int]) -> tuple[list[tuple[int, int, int, int]], list[Any]]:
        """Turn private writable pages copy-on-write; return the child's PTEs and rebinds."""
        pt, snap, vec = self.os.vm.pt, [], []
        for i, (vpn, ppn, flags, h) in enumerate(ptes):
            if flags & P_PRESENT and flags & P_WRITE and not flags & P_SHARED:
                flags |= P_COW
                pt.set_flags(i, flags)
                if flags & P_READ:
                    vec.append((vpn, ppn, h, VALID))
            if vpn == self.os.registry_va >> SHIFT:
                flags &= ~(P_WRITE | P_DIRTY)   # the registry: read-only in the child
            elif flags & P_PRESENT and not flags & P_SHARED:
                flags |= P_COW                  # the child's root is read-only: copy
            snap.append((vpn, ppn, flags, roots.get(vpn, 0)))   # before any write
        return snap, vec

    def _share(self, items: list[Any], h: int) -> list[int]:
        """PAGE_SHARE ``items`` with environment ``h``, MAX_SHARE per call."""
        if len(items) <= MAX_SHARE:
            return self.os.trap(Sys.PAGE_SHARE, items, h)  # type: ignore[no-any-return]
        out: list[int] = []
        for at in range(0, len(items), MAX_SHARE):
            out.extend(self.os.trap(Sys.PAGE_SHARE, items[at:at + MAX_SHARE], h))
        return out

    # -- ending and waiting ---------------------------------------------------------------

    def exit(self, status: Any) -> None:
        """Close descriptors, tell the parent by asynchronous PCT, destroy ourselves."""
        os, status = self.os, exit_value(status)
        os.ipc.close_all()
        if os.parent is not None:
            try:
                os.trap(Sys.PCT_ASYNC, os.parent, ("exit", os.pid, status), False)
            except SyscallError:
                pass                            # the parent is gone: nobody waits
        os.trap(Sys.ENV_DESTROY, os.handle, status, False)

    def die(self, what: str) -> None:
        """End the process after a fault it did not handle (recorded by Aegis)."""
        os = self.os
        os.ipc.close_all()
        os.trap(Sys.ENV_DESTROY, os.handle, what, True)

    def on_exit_message(self, sender: int, pid: int, status: Any) -> bool:
        """A decoded exit message: remember a child's status; whether it was taken.

        Only the kernel's death notice (sender 0, sent when the environment is
        really destroyed, with the status it was destroyed with) counts; a
        child's own "exit" PCT announces nothing the kernel has not attested,
        so a process can neither forge a sibling's status nor its own early."""
        if sender == 0 and self.children.get(pid, None) is PENDING:
            self.children[pid] = status
            heappush(self.exited, pid)
            return True
        return sender == pid and pid in self.children      # (the child's courtesy copy)

    def _exited(self, pid: int | None) -> int | None:
        """The child a wait for ``pid`` reaps now (None: any, the oldest exited),
        or None while it runs (ECHILD if there is no such child). O(1) amortized:
        pids only grow, so the oldest exited child is the least pid in the heap."""
        children = self.children
        if pid is not None:
            if pid not in children:
                raise SyscallError("ECHILD", "no such child", pid=pid)
            return None if children[pid] is PENDING else pid
        if not children:
            raise SyscallError("ECHILD", "no such child", pid=pid)
        heap = self.exited
        while heap and children.get(heap[0], PENDING) is PENDING:
            heappop(heap)                       # (reaped already by wait(pid))
        return heap[0] if heap else None

    def _forget_reaped(self) -> None:
        """Drop reaped pids from the heap of exited ones: its top at once, the rest
        when they outnumber the children (a spawn-and-wait(pid) loop reaps each
        child before any wait(None) would skip it: the heap held every pid ever
        run). Amortized O(1) a reap; the heap holds at most 2 * children + 16."""
        heap, children = self.exited, self.children
        while heap and children.get(heap[0], PENDING) is PENDING:
            heappop(heap)
        if len(heap) > 2 * len(children) + 16:
            self.exited = [p for p in heap if children.get(p, PENDING) is not PENDING]
            heapify(self.exited)

    def _reapable(self, pid: int | None) -> bool:
        """Whether a wait for ``pid`` would return now (or fail: it must re-check)."""
        try:
            return self._exited(pid) is not None
        except SyscallError:
            return True

    def wait(self, pid: Any) -> tuple[int, Any]:
        """Block until child ``pid`` (or any) has exited; reap it."""
        if pid is not None and type(pid) is not int:   # never run a caller's __eq__
            raise SyscallError("ECHILD", "no such child", pid=pid)
        spins = 0
        while True:
            c = self._exited(pid)
            if c is not None:
                status = self.children.pop(c)
                self._forget_reaped()
                self._revoke_up(c)
                return c, status
            spins += 1
            self.block(None, lambda: self._reapable(pid), spins=spins)

    # -- threads and waiting --------------------------------------------------------------

    def _me(self) -> UThread:
        """The running ExOS thread."""
        u = self.by_ctx.get(self.cpu.current)
        if u is None:
            raise SyscallError("EINVAL", "not an ExOS thread of this process")
        return u

    def _add(self, ctx: Any) -> UThread:
        """Record a new live thread on context ``ctx``."""
        u = UThread(ctx)
        self.threads.append(u)
        self.by_ctx[ctx] = u
        self.made += 1
        return u

    def thread_create(self, entry: Callable[..., Any], args: Any) -> int:
        """Start an ExOS thread (Aegis gives it a context; ExOS schedules it)."""
        if not callable(entry) or type(args) is not tuple:
            raise SyscallError("EINVAL", "entry must be callable with a tuple of args")
        ctx = self.os.trap(Sys.THREAD_ALLOC, self._thread_main, (entry, args),
                           f"{self.os.name}.t{self.made}")
        self._add(ctx)
        return ctx  # type: ignore[no-any-return]

    def _thread_main(self, entry: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Body of an ExOS thread."""
        return self._run(entry, args)

    def _next(self, me: UThread, skip_waiting: bool) -> UThread | None:
        """The next live thread after ``me``, round robin."""
        n = len(self.threads)
        i = self.threads.index(me)
        for k in range(1, n):
            u = self.threads[(i + k) % n]
            if not u.done and not (skip_waiting and u.waiting):
                return u
        return None

    def thread_done(self, result: Any) -> None:
        """The calling thread's entry returned: run another, or end the process."""
        me = self._me()
        me.done = True
        if me is self.main:                 # the status is the main thread's value
            self.main_result = result
        nxt = self._next(me, False)
        self.threads.remove(me)             # (a program that makes and ends threads
        del self.by_ctx[me.ctx]             # for ever keeps only its live ones)
        if nxt is None:
            self.exit(final_status(None, self.main_result))
        else:
            nxt.waiting = False
            self.cpu.user_switch(nxt.ctx, finished=True)

    def thread_yield(self) -> None:
        """Switch to the next ExOS thread, if there is one (no kernel entry)."""
        me = self._me()
        nxt = self._next(me, False)
        if nxt is not None:
            self.cpu.user_switch(nxt.ctx)

    def slice_ended(self) -> None:
        """The epilogue: the running thread has had its turn if another can run."""
        if len(self.threads) > 1:
            self.resched = True

    def preempt(self) -> None:
        """A preemption point after a slice ended: the running thread goes to the back
        of the round robin (to a thread that waits, too: it re-checks its condition)."""
        self.resched = False
        if self.os.in_entry:                # an entry's borrowed thread is not ours
            return
        me = self.by_ctx.get(self.cpu.current)
        nxt = None if me is None else self._next(me, False)
        if nxt is not None:
            self.preemptions += 1
            self.cpu.user_switch(nxt.ctx)

    def thread_id(self) -> int:
        """The running thread's id (its context, as thread_create returned it)."""
        return self._me().ctx

    def thread_park(self) -> None:
        """Block this thread until another of ours unparks it (or take its token):
        ExOS's own wait, in the library (other threads run; none: the slice goes)."""
        me = self._me()
        if me.token:
            me.token = False
            return
        me.parked = True
        spins = 0
        while me.parked:
            self.block(None, lambda: not me.parked, spins=spins)
            spins += 1

    def thread_unpark(self, tid: Any) -> None:
        """Make thread ``tid`` of ours runnable again, or leave it a token (EINVAL
        for a tid that is not an int, ESRCH for one that is not a live thread here)."""
        if type(tid) is not int:
            raise SyscallError("EINVAL", "a thread id is an int", tid=shown(tid))
        u = self.by_ctx.get(tid)
        if u is None or u.done:
            raise SyscallError("ESRCH", "no such thread in this process", tid=tid)
        if u.parked:
            u.parked = False
        else:
            u.token = True

    def yield_env(self) -> bool:
        """Save our context and donate the slice; False if nobody else could run."""
        self.cpu.charge(self.c_save)
        return bool(self.os.trap(_YIELD, None))

    def block(self, sleeper: int | None, ready: Callable[[], bool],
              sleep: bool = True, spins: int = 0) -> bool:
        """Wait a turn: another thread, else another environment, else sleep.

        With ``sleep=False`` it never sleeps: False means nobody else could run
        (no thread of ours, no other environment), so nothing changed. A caller
        that has already waited ``spins`` >= MAX_SPINS turns in vain sleeps
        instead of yielding (it is woken through ``sleeper``, or by a message),
        so processes waiting on each other come to rest instead of yielding to
        each other for ever.
        """
        me = None if self.os.in_entry else self._me()   # an entry runs on a borrowed thread
        if me is not None:
            me.waiting = True
            me.slot, me.ready = sleeper, ready
            nxt = self._next(me, True) or self._ready_waiter(me)
            if nxt is not None:
                self.cpu.user_switch(nxt.ctx)
                me.waiting = False
                return True
        if sleep and spins >= MAX_SPINS and self._may_rest(me, sleeper):
            self._sleep_on(self._wake_slots(me, sleeper), ready)  # others could run
        elif not self.yield_env():
            if not sleep:
                self._stop_waiting()
                return False
            self._sleep_on([] if sleeper is None else [sleeper], ready)
        self._stop_waiting()
        return True

    def _ready_waiter(self, me: UThread) -> UThread | None:
        """Another waiting thread of ours whose condition now holds (its data came
        while it was marked waiting: it must run before we leave the process)."""
        for u in self.threads:
            if u is not me and u.waiting and not u.done and u.ready is not None \
                    and u.ready():
                return u
        return None

    def _stop_waiting(self) -> None:
        """Every thread re-checks its condition when it next runs."""
        for u in self.threads:
            u.waiting = False

    def _wake_slots(self, me: UThread | None, sleeper: int | None) -> list[int]:
        """The wake slots of the caller and of every other waiting thread of ours."""
        slots = [] if sleeper is None else [sleeper]
        for u in self.threads:
            if u is not me and u.waiting and not u.done and u.slot is not None \
                    and u.slot not in slots:
                slots.append(u.slot)
        return slots

    def _may_rest(self, me: UThread | None, sleeper: int | None) -> bool:
        """Whether a tired waiter can sleep: no slot it needs names another sleeper."""
        mine = self.os.wake_handle
        return all(self.cpu.load(s, 8) in (0, mine) for s in self._wake_slots(me, sleeper))

    def _sleep_on(self, slots: list[int], ready: Callable[[], bool]) -> None:
        """Leave our wake handle in ``slots``, sleep unless ``ready()``, take it back."""
        mine = self.os.wake_handle
        for s in slots:
            self.cpu.store(s, mine, 8)
        if not ready():
            self.cpu.charge(self.os.profile.reg_save)
            self.os.trap(Sys.SLEEP)
        for s in slots:
            if self.cpu.load(s, 8) == mine:
                self.cpu.store(s, 0, 8)
