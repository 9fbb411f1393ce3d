"""Parking: block one thread of a process until another of its threads wakes it.

The ABI's ``thread_park`` / ``thread_unpark(tid)`` (docs/abi.md "Threads"),
with the semantics of NetBSD's ``_lwp_park`` / ``_lwp_unpark``: every thread
has one wake token. ``unpark`` of a parked thread makes it runnable; of a
thread that is not parked it sets the token, and that thread's next ``park``
consumes it and returns at once, so a wake that comes first is not lost (a
user-level package can decide to sleep, release its lock, and park, without
a window in which the waker's call goes missing). Tokens do not count: two
unparks before a park wake one park. A park may also return when its
thread is killed; callers re-check their condition after it, as they must
after any wake.

:class:`Parking` is the kernel-side record, the same on every kernel whose
scheduler sleeps a thread on a wait queue (``sched.sleep(cpu, queue)``,
``sched.wakeup(queue)``): monolithic, SPIN's UNIX server, Singularity (Mach
parks on a wait port per thread instead: ``kernels/mach/threads.py``).
Each kernel reaches it by its own path (a trap, a procedure call into
UserSpaceThread, an ABI call into the kernel) and charges that path; this
module charges nothing of its own but the scheduler's work.

Errors (typed, decoded before anything changes): ``EINVAL`` for a thread id
that is not an exact int; ``ESRCH`` for one that names no live thread of the
caller's own process.

Interface::

    Parking(kernel)                   (sleeps on ``kernel.sched``, read at each call)
      park(cpu, me) -> bool           False: a token was waiting (no sleep)
      unpark(target) -> bool          True: it was parked and is now runnable
      forget(tid)                     the thread ended: its token goes
      statistics() -> ParkStats
    thread_of(threads, tid) -> thread  (EINVAL / ESRCH decoded)
    sys_thread_park(k, cpu, proc) -> 0         the system calls of a kernel with
    sys_thread_unpark(k, cpu, proc, tid) -> 0  ``k.parking`` and ``proc.threads``
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from exolab.errors import SyscallError
from exolab.kernels.common.args import shown

__all__ = ["Parking", "ParkStats", "thread_of"]


@dataclass(frozen=True, slots=True)
class ParkStats:
    """Parks that slept, parks a waiting token answered, unparks that woke a
    parked thread, unparks that left a token."""

    slept: int
    early: int
    woken: int
    tokens: int


def thread_of(threads: Iterable[Any], tid: Any) -> Any:
    """The live thread ``tid`` among ``threads`` (one process's): EINVAL for a tid
    that is not an exact int, ESRCH for one not found there."""
    if type(tid) is not int:
        raise SyscallError("EINVAL", "a thread id is an int", tid=shown(tid))
    for t in threads:
        if t.tid == tid:
            return t
    raise SyscallError("ESRCH", "no such thread in this process", tid=tid)


class Parking:
    """Wake tokens and the queues parked threads sleep on, for one kernel."""

    __slots__ = ("kernel", "_tokens", "_parked", "_queues", "slept", "early", "woken",
                 "tokens")

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self._tokens: set[int] = set()                  # tids with a wake waiting
        self._parked: set[int] = set()                  # tids asleep in park
        self._queues: dict[int, list[Any]] = {}         # tid -> its own sleep queue
        self.slept = self.early = self.woken = self.tokens = 0

    def park(self, cpu: Any, me: Any) -> bool:
        """Consume ``me``'s token and return False, or sleep until an unpark (True)."""
        tid = me.tid
        if tid in self._tokens:
            self._tokens.discard(tid)
            self.early += 1
            return False
        queue = self._queues.get(tid)
        if queue is None:                               # once per thread, then reused
            queue = self._queues[tid] = []
        self._parked.add(tid)
        self.slept += 1
        try:
            self.kernel.sched.sleep(cpu, queue)
        finally:
            self._parked.discard(tid)
        return True

    def unpark(self, target: Any) -> bool:
        """Wake ``target`` if it is parked (True); else leave it a token (False)."""
        tid = target.tid
        if tid in self._parked:
            self._parked.discard(tid)
            self.woken += 1
            self.kernel.sched.wakeup(self._queues[tid])
            return True
        if tid not in self._tokens:
            self._tokens.add(tid)
            self.tokens += 1
        return False

    def forget(self, tid: int) -> None:
        """Thread ``tid`` ended: drop its token and queue (a tid is never reused)."""
        self._tokens.discard(tid)
        self._parked.discard(tid)
        self._queues.pop(tid, None)

    def statistics(self) -> ParkStats:
        """Return a frozen snapshot of the counters."""
        return ParkStats(self.slept, self.early, self.woken, self.tokens)


def sys_thread_park(k: Any, cpu: Any, proc: Any) -> int:
    """thread_park: block the calling thread until an unpark (or take its token)."""
    k.parking.park(cpu, cpu.current)
    return 0


def sys_thread_unpark(k: Any, cpu: Any, proc: Any, tid: Any) -> int:
    """thread_unpark(tid): wake thread ``tid`` of the caller's process, or leave
    it a token (EINVAL, ESRCH)."""
    k.parking.unpark(thread_of(proc.threads, tid))
    return 0
