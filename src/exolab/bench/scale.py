"""Speed rows that measure how the simulator's costs scale (issue 8's goals).

Host-side measurements, one run each, on every registered kernel:

- ``fork``, ``wait``, ``destroy`` at a low and a high number of live
  processes, and the growth (high / low; the goal is at most 1.2x). The
  program forks ``level - 1`` children that sleep for ever (each reads a pipe
  of its own), then times ``k`` rounds of: fork a child that returns at once
  (``fork``: the fork call), yield so it runs and exits, wait for it
  (``destroy``: from after the fork to after the wait, the child's exit and
  its reaping; ``wait``: the wait call alone), each the median over the rounds.
  The host clock (the measuring process's CPU time) is read by the harness's
  own function, passed in; nothing simulated depends on it. The rows come
  from :func:`paired_churn`: each level in a fresh host process, their rounds
  interleaved in batches, so the ratio compares the kernel at two levels
  under one host, not two moments of a drifting host.
- ``boot alloc``: bytes allocated (tracemalloc) by a machine of N frames
  and the kernel booted on it, at a small and a large N, and the growth.
- ``run leak``: resident-memory growth over many runs of a small pipe
  program in this process (KiB; the goal: flat).

Levels and sizes: quick 10/100 processes, 1k/16k frames, 20 runs; default
10/1,000 processes, 1k/64k frames, 100 runs; ``full`` 10/10,000 processes,
1k/1M frames, 1,000 runs (the goal's own sizes; slow on today's code).
A kernel that cannot reach a level (say ENOMEM) gets no row, and a note.

Interface::

    Sizes(levels, rounds, frames, runs)      SIZES: quick / default / full
    sizes_of(quick, full) -> Sizes
    churn(kernel, profile, seed, level, rounds) -> (fork, destroy, wait) seconds | str
                                             (medians of the rounds, this process)
    paired_churn(kernel, profile, seed, levels, rounds) -> [churn's answer per level]
                                             (a process per level, rounds interleaved)
    boot_bytes(kernel, profile, frames) -> int
    run_growth(kernel, profile, runs) -> KiB
    scale_rows(ctx, kernels) -> (results, notes)
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from statistics import median
from dataclasses import dataclass
from typing import Any, Callable

from exolab.bench.results import Result
from exolab.errors import SyscallError, safe_str
from exolab.kernels import KERNELS, declaration, make_kernel
from exolab.machine.machine import Machine
from exolab.runner import run_program

__all__ = ["Sizes", "SIZES", "sizes_of", "churn", "paired_churn", "boot_bytes",
           "run_growth", "scale_rows"]

SETTLE_TURNS = 100             # yields that let new sleepers settle, plus per live one:
SETTLE_PER_LIVE = 4            # a slice-less sleeper gets one turn per yield of ours and
                               # needs a few (ExOS: boot, one fruitless yield, then sleep)
#: what the churn rows need (a kernel whose declaration refuses it gets a note)
CHURN_NEEDS = frozenset({"fork"})
EXIT_TURNS = 4                  # yields that let the timed child finish exiting, so
                                # ``wait`` times reaping an exited child, not its exit
CHURN_FRAMES = 1 << 18          # physical memory of the churn runs (lazy: cheap; an ExOS
                                # process holds ~20 frames, so 10k of them need ~200k)


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big a scale measurement is."""

    levels: tuple[int, int]     # live processes: low, high
    rounds: int                 # fork/exit/wait rounds timed at each level
    frames: tuple[int, int]     # boot: small, large machine
    runs: int                   # runs of the leak measurement


SIZES = {"quick": Sizes((10, 100), 20, (1 << 10, 1 << 14), 20),
         "default": Sizes((10, 1_000), 200, (1 << 10, 1 << 16), 100),
         "full": Sizes((10, 10_000), 200, (1 << 10, 1 << 20), 1_000)}


def sizes_of(quick: bool, full: bool) -> Sizes:
    """The sizes of a run: ``full`` wins over ``quick``."""
    return SIZES["full" if full else "quick" if quick else "default"]


def _sleeper(os: Any) -> None:
    """A live process that sleeps for ever: it reads a pipe only it could write."""
    r, _w = os.pipe()
    os.read(r, 1)


def _at_once(os: Any) -> int:
    """A child that exits as soon as it runs."""
    return 0


def _churn(os: Any, level: int, rounds: int, clock: Callable[[], float],
           out: list[Any], turn: Callable[[], None], batch: int) -> None:
    """Reach ``level`` live processes, then time ``rounds`` fork/exit/wait rounds;
    ``turn()`` (the harness's hook) runs before every ``batch`` of them, the first
    time once the population has settled (see :func:`churn`, :func:`paired_churn`)."""
    for made in range(level - 1):
        try:
            os.fork(_sleeper)
        except SyscallError as ex:
            out.append(f"fork failed at {made + 1} live processes ({ex.errno})")
            return
    for _ in range(SETTLE_TURNS + SETTLE_PER_LIVE * level):  # let every sleeper get to
        os.yield_()             # sleep before timing: a library OS may spin a while first
    times = []
    for i in range(rounds):
        if i % batch == 0:
            turn()
        t0 = clock()
        pid = os.fork(_at_once)
        t1 = clock()
        for _ in range(EXIT_TURNS):     # the child runs and exits (a slice-less child
            os.yield_()                 # may be cut short by a slice tick: more turns)
        t2 = clock()
        os.wait(pid)
        t3 = clock()
        times.append((t1 - t0, t3 - t1, t3 - t2))
    out.append(times)


def _run_churn(kernel: str, profile: str, seed: int, level: int, rounds: int,
               turn: Callable[[], None], batch: int) -> list[Any] | str:
    """The per-round (fork, destroy, wait) seconds of one churn run, or why not;
    the live population is frozen out of the cyclic collector from the first
    ``turn`` on (see :func:`churn`) and unfrozen afterwards."""
    out: list[Any] = []
    frozen: list[bool] = []

    def first_freezes() -> None:
        if not frozen:
            gc.freeze()
            frozen.append(True)
        turn()
    try:
        run = run_program(_churn, level, rounds, time.process_time, out, first_freezes,
                          batch, kernel=kernel, profile=profile, seed=seed,
                          frames=CHURN_FRAMES)
    finally:
        gc.unfreeze()
    if out and type(out[-1]) is list:
        return out[-1]
    return out[0] if out else f"the run ended: {run.result.reason}"


def _medians(got: list[Any] | str) -> tuple[float, float, float] | str:
    """(fork, destroy, wait) medians of per-round times (or the reason unchanged)."""
    if type(got) is str:
        return got
    fork, destroy, wait = (median(col) for col in zip(*got))
    return fork, destroy, wait


def churn(kernel: str, profile: str, seed: int, level: int,
          rounds: int) -> tuple[float, float, float] | str:
    """Seconds per fork, destroy and wait at ``level`` live processes, or why not,
    measured in this host process.

    Once the live processes are in place their host objects are frozen out of
    the cyclic garbage collector (``gc.freeze``) for the timed rounds: every
    generation-2 collection walks every tracked host object, so with 10,000
    live processes (millions of objects) the collector, not the kernel, grew
    the per-fork time 1.5-4x over 1,000 rounds (1.18x with the collector off);
    the rows measure the kernel's work. The objects are unfrozen afterwards.
    Each figure is the median of the per-round times: a round the host
    preempted (other processes on a shared machine) is an outlier the median
    ignores and a mean would not (two runs of the mean at 10k live differed
    by 1.05x-1.46x on a loaded two-core host), and the clock is this
    process's CPU time (``time.process_time``), so time spent waiting for a
    host core is not counted as the kernel's."""
    return _medians(_run_churn(kernel, profile, seed, level, rounds, _nothing, rounds))


def _nothing() -> None:
    """A turn hook that lets the rounds run straight through."""


#: rounds one level times before the other level's turn (paired runs)
BATCH = 10
WARM_ROUNDS = 50                # a measuring process's warm-up churn at WARM_LEVEL,
WARM_LEVEL = 10                 # before it builds its population: imports, first
                                # allocations and the host core's clock settle
_TURN = "turn"                  # worker -> harness: between batches, waiting


def _worker(level: int, kernel: str, where: str, profile: str, seed: int,
            rounds: int) -> None:
    """One level's churn in this (fresh) host process, driven over stdin/stdout by
    :func:`paired_churn`: register ``kernel`` as ``where`` (its registry line in
    the harness's process: a kernel registered at run time is measured too),
    warm up, build the population, then run a batch of rounds each time a line
    arrives on stdin, and end with the per-round times (or why not) as one JSON
    line."""
    if where:
        KERNELS[kernel] = where
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)               # anything else written to stdout goes to stderr

    def turn() -> None:
        proto.write(_TURN + "\n")
        proto.flush()
        sys.stdin.readline()
    try:
        churn(kernel, profile, seed, WARM_LEVEL, WARM_ROUNDS)
        got: list[Any] | str = _run_churn(kernel, profile, seed, level, rounds, turn,
                                          BATCH)
    except Exception as ex:      # reported as a note: a measurement, not a crash
        got = f"the measuring process failed: {safe_str(ex)}"
    proto.write(json.dumps(got) + "\n")
    proto.flush()


def paired_churn(kernel: str, profile: str, seed: int, levels: tuple[int, ...],
                 rounds: int) -> list[tuple[float, float, float] | str]:
    """:func:`churn` at every level of ``levels`` at once, each level in a fresh
    host process of its own, their timed rounds interleaved batch by batch.

    A growth ratio compares two runs; measured one after the other in one
    process they differ by more than the kernel does: the host's speed drifts
    (a two-core machine shared with other jobs; the first level ran 1.6x
    slower than the same level a second later), and the high level's heap
    (about 1 GB for 10,000 ExOS processes) outlives it (the low level measured
    after it ran 1.7x slower). Here each level's population lives in a fresh
    interpreter (``python -m exolab.bench.scale``: no heap inherited); every
    one builds its population first, then they take turns: ``BATCH`` rounds
    of one, ``BATCH`` of the next, so both see the same host at nearly the same
    time. Only one runs rounds at a time; the others wait in a host pipe read,
    which their CPU clocks do not count."""
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(    # this process's imports
        [src] + [x for x in sys.path if type(x) is str and x]))
    got: list[Any] = [None] * len(levels)
    where = KERNELS.get(kernel, "")
    procs = [subprocess.Popen([sys.executable, "-m", "exolab.bench.scale", str(level),
                               kernel, where, profile, str(seed), str(rounds)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=env) for level in levels]
    try:
        active = [i for i, p in enumerate(procs) if _ready(p, got, i)]
        while active:
            for i in list(active):
                procs[i].stdin.write(_TURN + "\n")     # type: ignore[union-attr]
                procs[i].stdin.flush()                   # type: ignore[union-attr]
                if not _ready(procs[i], got, i):
                    active.remove(i)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    return [_medians(g) for g in got]


def _ready(proc: Any, got: list[Any], i: int) -> bool:
    """Read worker ``i``'s next line: True if it waits for a turn, else its result
    goes in ``got[i]`` and False."""
    line = proc.stdout.readline().strip()
    if line == _TURN:
        return True
    try:
        got[i] = json.loads(line)
    except ValueError:
        got[i] = f"the measuring process died (exit {proc.wait()})"
    return False


def boot_bytes(kernel: str, profile: str, frames: int) -> int:
    """Bytes allocated building a machine of ``frames`` frames and ``kernel`` on it."""
    gc.collect()
    tracemalloc.start()
    try:
        machine = Machine(profile, frames=frames, seed=0)
        booted = make_kernel(kernel, machine)
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del booted, machine
    return size


def _small(os: Any) -> None:
    """A small program: one pipe, one byte through it."""
    r, w = os.pipe()
    os.write(w, b"x")
    os.read(r, 1)


def _rss_kib() -> int:
    """This process's resident set, KiB (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4
    except OSError:
        return 0


def run_growth(kernel: str, profile: str, runs: int) -> int:
    """Resident-memory growth (KiB) over ``runs`` runs of a small program."""
    for _ in range(3):
        run_program(_small, kernel=kernel, profile=profile)
    gc.collect()
    before = _rss_kib()
    for _ in range(runs):
        run_program(_small, kernel=kernel, profile=profile)
    gc.collect()
    return _rss_kib() - before


def _label(n: int) -> str:
    """1000 -> "1k", 1048576 -> "1M"."""
    for unit, size in (("M", 1 << 20), ("k", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    for unit, size in (("k", 1000),):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def _churn_rows(ctx: Any, kernel: str, sizes: Sizes) -> tuple[list[Result], str]:
    """fork/wait/destroy rows of one kernel at both levels, and a note (or "")."""
    if not declaration(kernel).provides(CHURN_NEEDS):
        return [], f"{kernel}: declares fork refused (ENOSYS)"
    low, high = paired_churn(kernel, ctx.profile, ctx.seed, sizes.levels, sizes.rounds)
    rows = []
    for i, op in enumerate(("fork", "destroy", "wait")):
        for level, got in zip(sizes.levels, (low, high)):
            if type(got) is tuple:
                rows.append(ctx.result(f"{op} @{_label(level)} live", kernel,
                                       round(got[i] * 1e6, 2), "us"))
        if type(low) is tuple and type(high) is tuple and low[i] > 0:
            rows.append(ctx.result(f"{op} growth {_label(sizes.levels[0])}->"
                                   f"{_label(sizes.levels[1])}", kernel,
                                   round(high[i] / low[i], 2), "x"))
    why = next((g for g in (low, high) if type(g) is str), "")
    return rows, f"{kernel}: {why}" if why else ""


def scale_rows(ctx: Any, kernels: tuple[str, ...]) -> tuple[list[Result], dict[str, str]]:
    """Every scale row of every kernel; notes say which could not be measured."""
    sizes = sizes_of(ctx.quick, getattr(ctx, "full", False))
    results: list[Result] = []
    notes: dict[str, str] = {}
    small, large = sizes.frames
    for kernel in kernels:
        rows, why = _churn_rows(ctx, kernel, sizes)
        results += rows
        if why:
            key = f"fork @{_label(sizes.levels[1])} live"
            notes[key] = "; ".join(x for x in (notes.get(key, ""), why) if x)
        a, b = (boot_bytes(kernel, ctx.profile, f) for f in sizes.frames)
        results += [ctx.result(f"boot alloc @{_label(small)} frames", kernel,
                               round(a / 1024, 1), "KiB"),
                    ctx.result(f"boot alloc @{_label(large)} frames", kernel,
                               round(b / 1024, 1), "KiB")]
        results.append(ctx.result(f"run leak over {sizes.runs} runs", kernel,
                                  run_growth(kernel, ctx.profile, sizes.runs), "KiB"))
    for op in ("fork", "destroy", "wait"):
        notes[f"{op} growth {_label(sizes.levels[0])}->{_label(sizes.levels[1])}"] = \
            "goal: at most 1.2x (10 -> 10k live)"
    notes[f"boot alloc @{_label(large)} frames"] = "goal: under 2 MiB at 1M frames"
    notes[f"run leak over {sizes.runs} runs"] = "goal: flat (RSS growth, this process)"
    return results, notes


if __name__ == "__main__":          # a measuring process of paired_churn
    _worker(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
            int(sys.argv[6]))
