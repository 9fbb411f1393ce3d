"""Host-cost measurements of the monolithic kernel's scaling (issue 8), importable.

Each function builds its own machine, runs a fixed program and returns one
number; the speed suite turns them into rows. Host time is read only around
whole runs, never inside a simulation; growth is the ratio of two levels.

Interface::

    boot_allocation(frames) -> int          bytes allocated by a boot (tracemalloc)
    fork_wait_seconds(live, reps=200) -> float
        host CPU seconds per fork + exit + wait of one child while ``live`` others sleep
    fork_seconds(live, reps=200) -> float   host seconds per fork of a sleeper at ``live``
    fork_wait_calls(live), fork_calls(live) -> float
        the same in Python function calls per operation (deterministic: growth
        in the kernel's own work, without the host's noise or its GC)
    pipe_close_wakeups(children) -> int     sleep/wakeups when ``children`` readers
                                            of one pipe each close its write end
"""
from __future__ import annotations

import time
import tracemalloc
from typing import Any

from exolab.kernels.monolithic.kernel import MonolithicKernel
from exolab.machine.machine import Machine

__all__ = ["boot_allocation", "fork_wait_seconds", "fork_seconds", "fork_wait_calls",
           "fork_calls", "pipe_close_wakeups"]


def boot_allocation(frames: int) -> int:
    """Peak bytes allocated while building a machine of ``frames`` frames and booting."""
    tracemalloc.start()
    try:
        k = MonolithicKernel(Machine("dec5000", frames=frames))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del k
    return peak


def _sleeper(os: Any, rfd: int, wfd: int) -> int:
    """A child that drops its write end and blocks reading until the parent's goes."""
    os.close(wfd)
    os.read(rfd, 1)
    return 0


def _quick(os: Any) -> int:
    """A child that exits at once."""
    return 0


def _population(os: Any, live: int, forks: int, waits: int, marks: list[int]) -> None:
    """Fork ``live`` sleepers; then (between two marks of the cycle counter) fork
    ``forks`` sleepers more and ``waits`` quick children each waited for; then
    release every sleeper and reap it."""
    r, w = os.pipe()
    for _ in range(live):
        os.fork(_sleeper, r, w)
    os.yield_()                 # every sleeper runs to its read and sleeps
    marks.append(os.time())
    for _ in range(forks):
        os.fork(_sleeper, r, w)
    for _ in range(waits):
        os.wait(os.fork(_quick))
    os.yield_()                 # the new sleepers too: their start is the fork's work
    marks.append(os.time())
    os.close(w)
    for _ in range(live + forks):
        os.wait()


def _boot(live: int, forks: int, waits: int, marks: list[int]) -> MonolithicKernel:
    """A kernel (frames enough for every process) booted with the population."""
    k = MonolithicKernel(Machine("dec5000", frames=4096 + 8 * (live + forks)))
    k.boot(_population, live, forks, waits, marks)
    return k


def _phase(live: int, forks: int, waits: int, calls: bool = False) -> float:
    """Host CPU seconds (or, with ``calls``, Python function calls: deterministic)
    of the marked phase: a first run finds its cycles, an identical (deterministic)
    second run is measured from one mark to the other."""
    marks: list[int] = []
    result = _boot(live, forks, waits, marks).run()
    if result.reason != "finished":
        raise AssertionError(f"measure run failed: {result.reason}")
    k = _boot(live, forks, waits, [])
    k.run(until=marks[0])
    if calls:
        count = [0]

        def tally(frame: Any, event: str, arg: Any) -> None:
            if event == "call":
                count[0] += 1
        threading_setprofile(tally)
        try:
            k.run(until=marks[1])
        finally:
            threading_setprofile(None)
        return float(count[0])
    t0 = time.process_time()
    k.run(until=marks[1])
    return time.process_time() - t0


def threading_setprofile(fn: Any) -> None:
    """Install ``fn`` as the profile hook of this thread and of every greenlet
    (greenlets share the thread's hook)."""
    import sys
    sys.setprofile(fn)


def fork_wait_seconds(live: int, reps: int = 200, best_of: int = 3) -> float:
    """Host CPU seconds per fork + exit + wait of a quick child while ``live`` sleep."""
    return min(_phase(live, 0, reps) for _ in range(best_of)) / reps


def fork_seconds(live: int, reps: int = 200, best_of: int = 3) -> float:
    """Host CPU seconds per fork of one more sleeper once ``live`` sleep."""
    return min(_phase(live, reps, 0) for _ in range(best_of)) / reps


def fork_wait_calls(live: int, reps: int = 100) -> float:
    """Python calls per fork + exit + wait while ``live`` sleep (deterministic)."""
    return _phase(live, 0, reps, calls=True) / reps


def fork_calls(live: int, reps: int = 100) -> float:
    """Python calls per fork of one more sleeper once ``live`` sleep (deterministic)."""
    return _phase(live, reps, 0, calls=True) / reps


def pipe_close_wakeups(children: int) -> int:
    """Sleep/wakeups of a run where ``children`` forked readers of one pipe each
    close their inherited write end and sleep reading, until the parent closes
    the last write end and reaps them: ``2 * children`` (one end-of-file wakeup
    and one wait wakeup per child) when only the last close wakes readers."""
    k = MonolithicKernel(Machine("dec5000", frames=4096 + 8 * children))
    k.boot(_holders, children)
    result = k.run()
    if result.reason != "finished" or k.faults:
        raise AssertionError(f"measure run failed: {result.reason} {k.faults[:3]}")
    return k.sched.statistics().wakeups


def _reader(os: Any, rfd: int, wfd: int) -> int:
    """Close the inherited write end, then read until end of file."""
    os.close(wfd)
    return len(os.read(rfd, 1))


def _holders(os: Any, children: int) -> None:
    """Fork the readers, let each close its write end, close ours, reap them."""
    r, w = os.pipe()
    for _ in range(children):
        os.fork(_reader, r, w)
    os.yield_()                 # every reader closes its copy and sleeps
    os.close(w)
    for _ in range(children):
        os.wait()
