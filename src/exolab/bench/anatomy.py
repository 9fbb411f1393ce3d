"""The anatomy of a benchmark: what one operation does on each kernel.

The tables say *how long* an operation takes; this says *why*: how many
traps, exceptions, upcalls, context switches, address-space loads, TLB misses
and kernel-specific events (system calls, PCTs, STLB hits, sleeps...) one
operation of a benchmark takes on each kernel — the structure the ratios come
from.

Method: the benchmark's program runs twice on fresh machines, with ``n`` and
``2n`` iterations. Everything outside the loop (booting, forking the peer,
warming up, exiting) is the same in both runs, so the difference of every
counter, divided by ``n``, is what one iteration of the loop does. What an
iteration is, the suite that declares the program says (its ``iteration``: a
round trip for the ping-pongs, two yields for thread_yield,
protect-fault-unprotect for trap; "one operation" otherwise) — the table times
all of it or, for a few benchmarks, a part, and may divide it (one-way time is
half a round trip). Programs are found in the suite registry; a kernel's
level statistics (marked in its record) are left out of the differences.
Disk requests (reads, writes, flushes of every attached drive) are counted
with the machine's, and a kernel's file components (:data:`COMPONENTS`: the
monolithic kernel's file system and buffer cache, Aegis's XN with its
registry reads and ownership-function runs) with the kernel's.

Interface::

    Anatomy(benchmark, kernel, profile, iteration, per_op, counts)
                                  counts: label -> events per loop iteration
    anatomy(benchmark, kernel, profile=None, seed=0, n=None) -> Anatomy | None
    program_of(benchmark) -> (program, suite, what one iteration does)
    kernel_counters(record) -> [(name, value)]  a kernel record's event counters
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from exolab.bench.registry import ONE, find_program, run_suite_program
from exolab.errors import ConfigError
from exolab.kernels.common.stats import counters
from exolab.records import flatten
from exolab.runner import ProgramRun

__all__ = ["Anatomy", "anatomy", "program_of", "kernel_counters", "MACHINE_COUNTERS",
           "ONE"]

#: machine counters shown for every kernel: (label, CPUStats / TLBStats / MemoryStats field)
MACHINE_COUNTERS = (
    ("traps", "cpu.traps"), ("exceptions", "cpu.exceptions"),
    ("interrupts", "cpu.interrupts"), ("upcalls", "cpu.upcalls"),
    ("context switches", "cpu.context_switches"), ("address-space loads", "cpu.asid_loads"),
    ("TLB misses", "cpu.tlb_misses"), ("TLB writes", "tlb.writes"),
    ("TLB flushes", "tlb.flushes"), ("memory accesses", "cpu.accesses"),
    ("copies", "memory.copies"), ("bytes copied", "memory.bytes_copied"),
    ("bytes zeroed", "memory.bytes_zeroed"),
    ("cache line fills", "cache.read_misses"),     # profiles with a data cache (i486)
    ("disk requests", "disk.requests"), ("disk reads", "disk.reads"),
    ("disk writes", "disk.writes"), ("disk flushes", "disk.flushes"),
)
#: a kernel's components whose own counters explain a file call (kernel attribute
#: -> label): the monolithic buffer cache and file system, Aegis's XN
COMPONENTS = ("fs", "xn")


@dataclass(frozen=True, slots=True)
class Anatomy:
    """Per-operation counts of one benchmark on one kernel."""

    benchmark: str
    kernel: str
    profile: str
    iteration: str                      # what one loop iteration does
    per_op: float                       # the table's value: cycles per operation
    counts: dict[str, float]            # label -> events per iteration ("cycles" first)


def program_of(benchmark: str) -> tuple[Callable[..., Any], str, str]:
    """A benchmark's program, its suite and what one iteration does (suite registry)."""
    info = find_program(benchmark)
    return info.programs[benchmark], info.name, info.iteration_of(benchmark)


def kernel_counters(record: Any) -> list[tuple[str, int]]:
    """The event counters of a kernel's statistics record (levels left out)."""
    return counters(record)


def _counters(run: ProgramRun) -> dict[str, int]:
    """Every event counter of a finished run: the machine's, then the kernel's."""
    stats = run.machine.statistics()
    out: dict[str, int] = {"cycles": stats.cycles}
    for group, records in (("cpu", stats.cpus), ("tlb", stats.tlbs)):
        for rec in records:
            for name, value in flatten(rec):
                key = f"{group}.{name}"
                out[key] = out.get(key, 0) + value
    for name, value in flatten(stats.memory):
        out[f"memory.{name}"] = value
    if stats.cache is not None:
        for name, value in flatten(stats.cache):
            out[f"cache.{name}"] = value
    for disk in stats.disks:
        for name in ("reads", "writes", "flushes"):
            out[f"disk.{name}"] = out.get(f"disk.{name}", 0) + getattr(disk, name)
            out["disk.requests"] = out.get("disk.requests", 0) + getattr(disk, name)
    stat = getattr(run.kernel, "statistics", None)
    if callable(stat):
        for name, value in kernel_counters(stat()):
            out[f"kernel.{name}"] = value
    for part in COMPONENTS:
        stat = getattr(getattr(run.kernel, part, None), "statistics", None)
        if callable(stat):
            for name, value in kernel_counters(stat()):
                out[f"kernel.{part}.{name}"] = value
    return out


def _result(run: ProgramRun) -> float | None:
    """The program's RESULT (cycles per operation), or None if it has none."""
    for line in run.console:
        if line.startswith("RESULT "):
            return float(line.split()[1])
    return None


def anatomy(benchmark: str, kernel: str, profile: str | None = None, seed: int = 0,
            n: int | None = None) -> Anatomy | None:
    """Count what one operation of ``benchmark`` does on ``kernel`` (None: n/a there)."""
    info = find_program(benchmark)
    program, suite, iteration = program_of(benchmark)
    profile = profile or info.profile
    n = n or max(info.iterations(benchmark, quick=True), 4)
    if not info.runs_on(benchmark, kernel):
        return None
    program = info.program_for(benchmark, kernel)
    runs = [run_suite_program(program, k, kernel, profile, seed) for k in (n, 2 * n)]
    per_op = _result(runs[1])
    if per_op is None:
        raise ConfigError("benchmark program produced no result", benchmark=benchmark,
                          kernel=kernel, faults=runs[1].faults[:3])
    small, large = (_counters(r) for r in runs)
    counts = {"cycles": (large["cycles"] - small["cycles"]) / n}    # per iteration
    for label, key in MACHINE_COUNTERS:
        counts[label] = (large.get(key, 0) - small.get(key, 0)) / n
    for key in large:
        if key.startswith("kernel."):
            delta = large[key] - small.get(key, 0)
            if delta:
                counts[f"{kernel}: {key[len('kernel.'):]}"] = delta / n
    return Anatomy(benchmark, kernel, profile, iteration, per_op, counts)
