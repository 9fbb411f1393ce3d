"""Parking on Mach as C-Threads parks a wired cproc: a wait port per thread.

CMU C-Threads (``cprocs.c``: ``cthread_wire``, ``cproc_block``,
``cproc_ready``) gives a cthread bound to its kernel thread a port of its
own (``mach_port_allocate`` a receive right, ``mach_port_insert_right`` a
send right on it) and a prebuilt header-only message. Blocking the thread
is a ``mach_msg`` receive on that port; waking it is a one-way ``mach_msg``
send of the prebuilt message to it: one message per wake, no reply. The
ABI's pair is that, with the ABI's token semantics (docs/abi.md "Parking"):

- ``thread_park`` is one ``mach_msg`` trap receiving on the caller's wait
  port: it blocks in IPC like any receiver; a wake message already queued is
  the token, taken (and freed) at once.
- ``thread_unpark(tid)`` is one ``mach_msg`` trap sending the small message
  to ``tid``'s wait port. Tokens do not count, so the port's queue limit is
  one (``mach_port_set_qlimit``) and the library sends with a zero send
  timeout (``MACH_SEND_TIMEOUT``): when a wake is already queued the
  kernel's queue test refuses the second one (``MACH_SEND_TIMED_OUT``, our
  ``EAGAIN``) and the library ignores it. That check is charged as what it
  is: the send path up to the queue test (the trap, the header parse, the
  destination's name lookup), no kmsg. A queued wake is a kmsg charged to
  no quota: a thread holds at most one (the ABI's token; charging it would
  make an unpark of a program's own threads fail with EAGAIN once 16 of them
  hold a token, which no thread package can use), so the task's thread count
  bounds it (a stated limit: docs/mach.md). A wake merged this way is never lost:
  the queued one's receiver re-checks its condition after taking it, and the
  merged waker wrote its wakeup word before its send.
- The wait port is allocated lazily, on a thread's first park or the first
  unpark aimed at it (``cthread_wire``'s calls, one Mach trap each: the
  receive right, the send right, the queue limit), as a real port in the
  task's name space: it is counted, it obeys the name-space limit
  (``EAGAIN`` when the space is full), and it is destroyed when its thread
  ends (or with every other right when the task ends), queued wakes freed.

Errors are decoded before anything changes, as on every kernel: ``EINVAL``
for a tid that is not an exact int, ``ESRCH`` for one naming no live thread
of the caller's task. A task may treat its threads' wait ports as the ports
they are (send to one: a spurious wake; destroy one: a thread parked on it
wakes, and the next park or unpark allocates a fresh one); the damage stays
inside that task.

Interface::

    WAKE_QLIMIT                         queued wakes a wait port holds (one)
    WIRE_TRAPS                          Mach traps a thread's first use costs
    WaitPorts(kernel)
      park(cpu, proc)                   the calling thread waits for a wake
      unpark(cpu, proc, tid)            wake thread ``tid`` (or leave its token)
      thread_ended(thread)              its wait port goes (queued wakes freed)
      task_ended(proc)                  forget the task's threads (ports died with it)
      statistics() -> WaitStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exolab.errors import SyscallError
from exolab.kernels.common.park import thread_of
from exolab.kernels.mach import message as msg
from exolab.kernels.mach.limits import HEADER_SIZE
from exolab.kernels.mach.ports import RECEIVE, SEND, SEND_ONCE, Port

if TYPE_CHECKING:
    from exolab.kernels.mach.kernel import MachKernel

__all__ = ["WAKE_QLIMIT", "WIRE_TRAPS", "WaitPorts", "WaitStats"]

#: queued wake messages one wait port holds: the one token of the ABI
WAKE_QLIMIT = 1
#: cthread_wire's calls, one Mach trap each: mach_port_allocate (receive right),
#: mach_port_insert_right (send right), and here mach_port_set_qlimit (one wake)
WIRE_TRAPS = 3


@dataclass(frozen=True, slots=True)
class WaitStats:
    """Wait ports made and live; parks that slept or took a queued wake; wakes
    sent; unparks the queue test merged into a queued wake; ports reclaimed."""

    ports: int
    live: int
    slept: int
    early: int
    sent: int
    merged: int
    reclaimed: int


class WaitPorts:
    """Every thread's wait port (tid -> its task and the port's name there)."""

    __slots__ = ("k", "_ports", "made", "slept", "early", "sent", "merged",
                 "reclaimed")

    def __init__(self, kernel: "MachKernel") -> None:
        self.k = kernel
        self._ports: dict[int, tuple[Any, int, Port]] = {}   # tid -> (task, name, port)
        self.made = self.slept = self.early = self.sent = self.merged = 0
        self.reclaimed = 0

    def park(self, cpu: Any, proc: Any) -> None:
        """thread_park: one mach_msg receive on the caller's wait port."""
        me = cpu.current
        name, port = self._wait_port(cpu, proc, me.tid)
        ipc = self.k.ipc
        cpu.charge(ipc.c_msg)
        if port.queue:
            self.early += 1
        else:
            self.slept += 1
        try:
            got = ipc.receive(cpu, proc, name)
        except SyscallError as ex:      # a sibling destroyed the port under the sleeper:
            if ex.errno != "EPIPE":     # a wake of its own kind (the caller re-checks);
                raise                   # the next park or unpark wires a fresh port
            self._ports.pop(me.tid, None)
            self.reclaimed += 1
            return
        for carried in got.rights:      # a task's own message to the port: drop what
            self._drop_right(proc, carried)     # it carried (the wake is the message)

    def unpark(self, cpu: Any, proc: Any, tid: Any) -> None:
        """thread_unpark(tid): one mach_msg send to ``tid``'s wait port; a wake
        already queued there refuses it at the queue test (the token is kept)."""
        target = thread_of(proc.threads, tid)           # EINVAL / ESRCH first
        name, port = self._wait_port(cpu, proc, target.tid)
        ipc = self.k.ipc
        cpu.charge(ipc.c_msg)
        raw = msg.header(name, 0, HEADER_SIZE, msg.COPY_SEND)
        try:
            ipc.send(cpu, proc, raw, b"", wake=True)    # (one per port: no quota)
        except SyscallError as ex:
            if ex.errno != "EAGAIN" or len(port.queue) < WAKE_QLIMIT:
                raise
            self.merged += 1            # MACH_SEND_TIMED_OUT: a wake is queued
            return
        self.sent += 1

    def _wait_port(self, cpu: Any, proc: Any, tid: int) -> tuple[int, Port]:
        """``tid``'s wait port in ``proc``'s space: the one it has, or a new one
        (cthread_wire's traps charged; EAGAIN if the name space is full)."""
        held = self._ports.get(tid)
        if held is not None:
            task, name, port = held
            entry = self.k.ipc.space(proc).entries.get(name)
            if task is proc and entry is not None and entry.obj is port \
                    and entry.bits & RECEIVE and not port.dead:
                return name, port
            self._ports.pop(tid)        # the task destroyed it: wire a fresh one
            self.reclaimed += 1
        k, ipc = self.k, self.k.ipc
        prof = k.machine.profile
        cpu.charge(WIRE_TRAPS * (prof.trap_entry + prof.trap_exit + k.c_mach_trap))
        name = ipc.allocate(proc)
        try:
            ipc.make_send(proc, name)
        except SyscallError:
            ipc.destroy(proc, name)
            raise
        port = ipc.space(proc).entries[name].obj
        port.qlimit = WAKE_QLIMIT
        self._ports[tid] = (proc, name, port)
        self.made += 1
        return name, port

    def _drop_right(self, proc: Any, name: int) -> None:
        """Drop the send or send-once reference a message to a wait port carried
        into ``proc``'s space (a receive right it carried stays named: the task
        sent its own port to itself)."""
        entry = self.k.ipc.space(proc).entries.get(name)
        if entry is not None and entry.bits & (SEND | SEND_ONCE):
            self.k.ipc.deallocate(proc, name)

    def thread_ended(self, thread: Any) -> None:
        """``thread`` ended: destroy its wait port (queued wakes are freed)."""
        held = self._ports.pop(thread.tid, None)
        if held is None:
            return
        task, name, port = held
        space = self.k.ipc.spaces.get(id(task))
        entry = space.entries.get(name) if space is not None else None
        if entry is not None and entry.obj is port and entry.bits & RECEIVE:
            self.k.ipc.destroy(task, name)
        self.reclaimed += 1

    def task_ended(self, proc: Any) -> None:
        """``proc`` ended: forget its threads' ports (drop_task destroyed them)."""
        for tid in [t for t, held in self._ports.items() if held[0] is proc]:
            del self._ports[tid]
            self.reclaimed += 1

    def statistics(self) -> WaitStats:
        """Return a frozen snapshot of the counters."""
        return WaitStats(self.made, len(self._ports), self.slept, self.early, self.sent,
                         self.merged, self.reclaimed)
