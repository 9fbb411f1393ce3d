"""C-Threads' idle kernel threads: a finished thread's kernel thread waits to be reused.

What a Mach thread's end is depends on the thread package above the kernel;
the ABI's ``thread_create`` on Mach stands for CMU C-Threads' ``cthread_fork``
(``cthreads.c``, E. Cooper, 1987; ``cprocs.c``). There a cthread's kernel
thread (its *cproc*) runs ``cthread_body``, a loop: take the next fork
request, run its function, mark it returned and signal its joiner, and when
no request is queued ``condition_wait(&cthread_needed)`` — the cproc blocks
(``cproc_block``; with no other cproc ready, ``cproc_waiting``: a
``mach_msg`` receive on the task's ``wait_port``) until a fork wakes it.
``cthread_exit`` only ``longjmp``\\s back into that loop: the kernel thread is
never terminated. ``cthread_fork`` creates a kernel thread (``cproc_create``:
``thread_create``, ``thread_set_state``, ``thread_resume``, three kernel
RPCs) only when there are more cthreads than cprocs; otherwise it signals
``cthread_needed``, and ``cproc_ready`` sends the prebuilt header-only
``wakeup_msg`` to ``wait_port``: one message.

So on this kernel:

- a thread that ends while its task goes on (not killed, not the task's
  last, not its main thread) *retires*: its kernel thread stays, its kernel
  stack frame stays wired, and it pays the receive trap on the wait port up
  to the sleep (the trap entry, the ``mach_msg`` path, the name lookup; the
  switch away is the scheduler's, as for any thread that ends);
- ``thread_create`` with a retired kernel thread in the task sends the
  wakeup message to the wait port (one ``mach_msg`` trap: the send path, the
  kmsg) instead of the three RPCs, and the new thread's first act is that
  receive completing (dequeue, header copyout, kmsg freed, the trap's exit);
  its thread id is new, as ``cthread_alloc`` makes a new cthread record;
- the wait port is a real port of the task (made on the first retirement:
  ``cproc_init``'s ``mach_port_allocate`` and ``mach_port_insert_right``,
  one Mach trap each), so its queue and the kmsg zone bound it: if the
  wakeup cannot be queued (queue full, zone empty, the principal at its
  kmsg quota: the wakeup is charged as any message) the fork creates a
  kernel thread as ``cproc_create`` does, so no fork fails for it;
- retired kernel threads end with their task (their frames unwired).

Interface::

    WAIT_PORT_TRAPS                     Mach traps making a task's wait port
    IdleThreads(kernel)
      retire(cpu, thread) -> bool       the thread's kernel thread waits (True)
      reuse(cpu, proc, entry, args) -> thread | None   a retired one takes a fork
      reincarnate(cpu, proc, thread)    the reused thread's receive completes
      task_ended(proc)                  its retired kernel threads end
      statistics() -> IdleStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from exolab.errors import SyscallError
from exolab.kernels.mach import message as msg
from exolab.kernels.mach.limits import HEADER_SIZE
from exolab.kernels.mach.ports import RECEIVE
from exolab.kernels.monolithic import proc as procmod
from exolab.kernels.monolithic.limits import THREAD_FRAMES

if TYPE_CHECKING:
    from exolab.kernels.mach.kernel import MachKernel

__all__ = ["WAIT_PORT_TRAPS", "IdleThreads", "IdleStats"]

#: cproc_init's calls: mach_port_allocate (receive), mach_port_insert_right (send)
WAIT_PORT_TRAPS = 2


@dataclass(frozen=True, slots=True)
class IdleStats:
    """Kernel threads retired, reused by a fork, idle now; forks that found none
    or could not queue the wakeup (kernel threads created)."""

    retired: int
    reused: int
    idle: int
    created: int


class IdleThreads:
    """Per task: its retired kernel threads and the wait port they sleep on."""

    __slots__ = ("k", "_idle", "_ports", "_reborn", "retired", "reused", "created")

    def __init__(self, kernel: "MachKernel") -> None:
        self.k = kernel
        self._idle: dict[int, int] = {}             # pid -> retired kernel threads
        self._ports: dict[int, int] = {}            # pid -> wait port name in its space
        self._reborn: set[int] = set()              # tids whose first act is the receive
        self.retired = self.reused = self.created = 0

    def retire(self, cpu: Any, thread: Any) -> bool:
        """``thread`` ended: if its task goes on, its kernel thread waits on the
        task's wait port (charged up to the sleep) and is kept; True if kept."""
        proc = thread.owner
        if thread.killed or proc.status is not None or proc.doomed \
                or thread is proc.main or len(proc.threads) < 2:
            return False
        name = self._wait_port(cpu, proc)
        if name is None:
            return False
        ipc, prof = self.k.ipc, self.k.machine.profile
        cpu.charge(prof.trap_entry + ipc.c_msg + ipc.c_name)   # mach_msg RCV, blocks
        self._idle[proc.pid] = self._idle.get(proc.pid, 0) + 1
        self._reborn.discard(thread.tid)
        self.retired += 1
        return True

    def reuse(self, cpu: Any, proc: Any, entry: Callable[..., Any],
              args: tuple[Any, ...]) -> Any:
        """A fork: wake a retired kernel thread of ``proc`` with the wakeup message
        and return the thread that runs ``entry``; None if there is none or the
        message cannot be queued (the caller creates a kernel thread)."""
        if not self._idle.get(proc.pid):
            self.created += 1
            return None
        k, ipc = self.k, self.k.ipc
        name = self._ports[proc.pid]
        cpu.charge(ipc.c_msg)
        try:
            ipc.send(cpu, proc, msg.header(name, 0, HEADER_SIZE, msg.COPY_SEND), b"")
        except SyscallError:                # queue full, zone empty, quota full (the
                                            # wake is charged as any kmsg): cproc_create
            self.created += 1
            return None
        self._idle[proc.pid] -= 1
        k.frames.unwire(THREAD_FRAMES)      # the retired thread's stack, now the new one's
        try:
            procmod.admit_thread(k, proc)
        except SyscallError:
            k.frames.wire(THREAD_FRAMES)
            self._idle[proc.pid] += 1
            self._take(cpu, proc)           # the wake goes back unused
            raise
        t = procmod.start_thread(k, proc, entry, args)
        self._reborn.add(t.tid)
        self.reused += 1
        return t

    def reincarnate(self, cpu: Any, proc: Any, thread: Any) -> None:
        """The reused kernel thread runs again: its receive takes the wakeup."""
        if thread.tid in self._reborn:
            self._reborn.discard(thread.tid)
            self._take(cpu, proc)
            cpu.charge(self.k.machine.profile.trap_exit)

    def _take(self, cpu: Any, proc: Any) -> None:
        """Receive one wakeup message from ``proc``'s wait port (none: nothing)."""
        name = self._ports.get(proc.pid)
        if name is None:
            return
        try:
            self.k.ipc.receive(cpu, proc, name, poll=True)
        except SyscallError:                # the task destroyed its wait port
            pass

    def _wait_port(self, cpu: Any, proc: Any) -> int | None:
        """``proc``'s wait port (made on first use, cproc_init's traps charged);
        None if the task's name space has no room (the thread is not kept)."""
        ipc = self.k.ipc
        name = self._ports.get(proc.pid)
        if name is not None:
            entry = ipc.space(proc).entries.get(name)
            if entry is not None and entry.bits & RECEIVE and not entry.obj.dead:
                return name
            self._ports.pop(proc.pid)       # the task destroyed it: its sleepers too
            self._drop_idle(proc.pid)
        prof = self.k.machine.profile
        cpu.charge(WAIT_PORT_TRAPS * (prof.trap_entry + prof.trap_exit
                                      + self.k.c_mach_trap))
        try:
            name = ipc.allocate(proc)
            ipc.make_send(proc, name)
        except SyscallError:
            return None
        self._ports[proc.pid] = name
        return name

    def _drop_idle(self, pid: int) -> None:
        """The task's retired kernel threads end (their stacks unwired)."""
        n = self._idle.pop(pid, 0)
        if n:
            self.k.frames.unwire(n * THREAD_FRAMES)

    def task_ended(self, proc: Any) -> None:
        """``proc`` ended: its retired kernel threads end with it."""
        self._drop_idle(proc.pid)
        self._ports.pop(proc.pid, None)
        for t in proc.threads:
            self._reborn.discard(t.tid)

    def statistics(self) -> IdleStats:
        """Return a frozen snapshot of the counters."""
        return IdleStats(self.retired, self.reused, sum(self._idle.values()),
                         self.created)
