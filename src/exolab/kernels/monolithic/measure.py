"""Host-cost measurements of the monolithic kernel's scaling (issue 8), importable.

Each function builds its own machine, runs a fixed program and returns one
number; the speed suite turns them into rows. Host time is read only around
whole runs, never inside a simulation; growth is the ratio of two levels.

Interface::

    boot_allocation(frames) -> int          bytes allocated by a boot (tracemalloc)
    fork_wait_seconds(live, reps=200) -> float
        host seconds per fork + exit + wait of one child while ``live`` others sleep
    fork_seconds(live, reps=200) -> float   host seconds per fork of a sleeper at ``live``
    pipe_close_wakeups(children) -> int     sleep/wakeups when ``children`` readers
                                            of one pipe each close its write end
"""
from __future__ import annotations

import time
import tracemalloc
from typing import Any

from exolab.kernels.monolithic.kernel import MonolithicKernel
from exolab.machine.machine import Machine

__all__ = ["boot_allocation", "fork_wait_seconds", "fork_seconds", "pipe_close_wakeups"]


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
    marks.append(os.time())
    for _ in range(forks):
        os.fork(_sleeper, r, w)
    for _ in range(waits):
        os.wait(os.fork(_quick))
    marks.append(os.time())
    os.close(w)
    for _ in range(live + forks):
        os.wait()


def _boot(live: int, forks: int, waits: int, marks: list[int]) -> MonolithicKernel:
    """A kernel (frames enough for every process) booted with the population."""
    k = MonolithicKernel(Machine("dec5000", frames=4096 + 8 * (live + forks)))
    k.boot(_population, live, forks, waits, marks)
    return k


def _phase_seconds(live: int, forks: int, waits: int) -> float:
    """Host seconds of the marked phase: a first run finds its cycles, an identical
    (deterministic) second run is timed from one mark to the other."""
    marks: list[int] = []
    result = _boot(live, forks, waits, marks).run()
    if result.reason != "finished":
        raise AssertionError(f"measure run failed: {result.reason}")
    k = _boot(live, forks, waits, [])
    k.run(until=marks[0])
    t0 = time.perf_counter()
    k.run(until=marks[1])
    return time.perf_counter() - t0


def fork_wait_seconds(live: int, reps: int = 200, best_of: int = 3) -> float:
    """Host seconds per fork + exit + wait of a quick child while ``live`` sleep."""
    return min(_phase_seconds(live, 0, reps) for _ in range(best_of)) / reps


def fork_seconds(live: int, reps: int = 200, best_of: int = 3) -> float:
    """Host seconds per fork of one more sleeper once ``live`` sleep."""
    return min(_phase_seconds(live, reps, 0) for _ in range(best_of)) / reps


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
