"""Simulated threads of control, each a greenlet.

A :class:`SimThread` is the hardware's view of a thread: a register context
(here: a suspended greenlet plus the CPU mode it was in) that a kernel can
switch to. Kernel, library-OS and application code all run as ordinary Python
on the thread's greenlet and may block at any depth: blocking is a switch to
another thread (:meth:`CPU.switch_to`) or to the idle loop (:meth:`CPU.idle`).

A thread's body runs ``entry(*args)`` in user mode. When it returns the
kernel's exit vector is told; when it raises an ordinary Python exception the
exception becomes a ``PROGRAM`` fault delivered to the kernel's exception
vector, and the thread ends. The simulator itself never sees the traceback.

Interface::

    ThreadExit                      raise to end the current thread (kernels use it)
    SimThread(tid, name, entry, args, owner)
      tid, name, owner, state, result, fault, killed, exit_status, exit_tb,
      upcall_depth
    program_site(thread) -> list[(file, line, function)]   where simulated code was
                                    when the thread ended (the program's own frames)
    ThreadTable
      create(entry, args, name, owner) -> SimThread
      get(tid), live(), all(), statistics()
    KEEP_FAULTED, SWEEP_MIN             how many ended threads the table keeps

A thread that is over (dead, its greenlet finished) is forgotten by the table
at its next sweep, which ``create`` runs each time the table has doubled since
the last (amortised O(1) a thread): a program that makes and ends threads for
ever holds only its live ones, not a record per thread it ever made. The
newest :data:`KEEP_FAULTED` faulted threads are kept, so ``exolab run`` can
still show where each recent fault was in the program's source.
"""
from __future__ import annotations

import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["ThreadExit", "SimThread", "ThreadTable", "ThreadStats",
           "NEW", "READY", "DEAD", "program_site", "KEEP_FAULTED", "SWEEP_MIN"]

NEW, READY, DEAD = "new", "ready", "dead"
KEEP_FAULTED = 256          # faulted threads the table keeps after they are over
SWEEP_MIN = 1024            # threads the table holds before its first sweep


class ThreadExit(BaseException):
    """Unwinds the current thread's greenlet; not an ``Exception`` on purpose.

    A program that swallows it anyway is stopped again at its next kernel
    entry, because the thread stays marked ``killed``.
    """

    def __init__(self, status: Any = None) -> None:
        super().__init__(status)
        self.status = status


class SimThread:
    """A thread of control the CPU can run; the kernel owns ``owner``."""

    __slots__ = ("tid", "name", "entry", "args", "owner", "glet", "state", "result",
                 "fault", "killed", "exit_status", "exit_tb", "upcall_depth")

    def __init__(self, tid: int, name: str, entry: Callable[..., Any],
                 args: tuple[Any, ...], owner: Any) -> None:
        self.tid = tid              # machine-unique, > 0
        self.name = name
        self.entry = entry          # user-mode body
        self.args = args
        self.owner = owner          # kernel object (process, environment, SIP...)
        self.glet: Any = None       # greenlet, created at first dispatch (CPU)
        self.state = NEW            # NEW -> READY (has run) -> DEAD; set by the CPU
        self.result: Any = None     # entry's return value
        self.fault: BaseException | None = None  # Python exception that ended it
        self.killed = False         # set by a kernel: stop at next kernel entry
        self.exit_status: Any = None
        self.exit_tb: Any = None    # traceback of the ThreadExit that ended it (sites)
        self.upcall_depth = 0       # upcalls now nested in this thread (CPU.upcall)

    def __repr__(self) -> str:
        return f"SimThread({self.tid}, {self.name!r}, {self.state})"


@dataclass(frozen=True, slots=True)
class ThreadStats:
    """Threads created, still live, and ended by a fault."""

    created: int
    live: int
    faulted: int


class ThreadTable:
    """The threads of a machine that are live or recently over, by thread id."""

    __slots__ = ("_threads", "_next", "_sweep_at", "_gone_faulted")

    def __init__(self) -> None:
        self._threads: dict[int, SimThread] = {}
        self._next = 1
        self._sweep_at = SWEEP_MIN          # table size that triggers the next sweep
        self._gone_faulted = 0              # faulted threads forgotten by sweeps

    def create(self, entry: Callable[..., Any], args: tuple[Any, ...] = (),
               name: str = "", owner: Any = None) -> SimThread:
        """Create a thread that will run ``entry(*args)`` in user mode."""
        tid = self._next
        self._next += 1
        t = SimThread(tid, name or f"t{tid}", entry, tuple(args), owner)
        self._threads[tid] = t
        if len(self._threads) >= self._sweep_at:
            self._sweep()
        return t

    def _sweep(self) -> None:
        """Forget the threads that are over, but the newest KEEP_FAULTED faulted ones."""
        threads = self._threads
        over = [tid for tid, t in threads.items()
                if t.state == DEAD and (t.glet is None or t.glet.dead)]
        faulted = [tid for tid in over if threads[tid].fault is not None]
        kept = set(faulted[-KEEP_FAULTED:])
        self._gone_faulted += len(faulted) - len(kept)
        for tid in over:
            if tid not in kept:
                del threads[tid]
        self._sweep_at = max(SWEEP_MIN, 2 * len(threads))

    def get(self, tid: int) -> SimThread | None:
        """Return thread ``tid`` or None."""
        return self._threads.get(tid)

    def live(self) -> list[SimThread]:
        """Threads not yet dead, in creation order."""
        return [t for t in self._threads.values() if t.state != DEAD]

    def all(self) -> list[SimThread]:
        """Every thread the table holds (live, or over and not yet forgotten), in
        creation order."""
        return list(self._threads.values())

    def statistics(self) -> ThreadStats:
        """Return a frozen snapshot of thread counters."""
        ts = self._threads.values()
        return ThreadStats(self._next - 1, sum(t.state != DEAD for t in ts),
                           self._gone_faulted + sum(t.fault is not None for t in ts))


def _not_program_dirs() -> tuple[str, ...]:
    """Directories whose code is not a program's: exolab (but its apps), the stdlib,
    installed packages."""
    exolab = Path(__file__).resolve().parent.parent
    paths = {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(str(Path(p).resolve()) + "/" for p in paths if p) + (str(exolab) + "/",)


_NOT_PROGRAM = _not_program_dirs()
_APPS = str(Path(__file__).resolve().parent.parent / "apps") + "/"


def _is_program(filename: str) -> bool:
    """Whether code from ``filename`` is a program's (not exolab's or the host's)."""
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        return True
    return path.startswith(_APPS) or not path.startswith(_NOT_PROGRAM)


def program_site(thread: SimThread) -> list[tuple[str, int, str]]:
    """The program's own frames, outermost first, where ``thread`` was when a fault
    (or a kill, or an exit) ended it: (file, line, function); [] if none is known."""
    ex = thread.fault
    tb = ex.__traceback__ if ex is not None else thread.exit_tb
    if tb is None:
        return []
    return [(f.filename, f.lineno or 0, f.name) for f in traceback.extract_tb(tb)
            if _is_program(f.filename)]
