"""The papers' table suites: ``singularity``, ``exos-ipc``, ``exos-vm``.

Each benchmark is one program of :mod:`exolab.apps.microbench`, written once
against the ABI and run on every registered kernel, on a fresh machine of the
suite's paper profile (``athlon64`` for Singularity's table, ``dec5000`` for
the Exokernel paper's). Values are simulated cycles (Singularity) or
microseconds (Exokernel); the paper's figures come along as ``paper`` rows.

Each table suite declares its programs, iteration counts, what one iteration
is (``microbench.ITERATION``) and what a benchmark needs beyond the ABI
(``pipe'`` needs ExOS's inlined pipe calls); it runs on every registered
kernel, n/a where a kernel's declaration lacks a benchmark's needs. A new
table is one more entry in :data:`TABLES`.

Interface::

    TABLES: suite -> (benchmarks, unit)
    NEEDS: benchmark -> features beyond the ABI
    iterations(benchmark, quick=False) -> int
    measure(benchmark, kernel, profile, seed, n) -> cycles per operation | None
"""
from __future__ import annotations

from exolab.apps.microbench import ITERATION, PROGRAMS, VARIANTS
from exolab.bench.papers import paper_rows, suite_profile
from exolab.bench.registry import (ALL_KERNELS, SuiteContext, SuiteOutput, get_suite,
                                   run_benchmark, suite)
from exolab.machine.costs import get_profile

__all__ = ["TABLES", "NEEDS", "measure", "iterations"]

#: suite -> (benchmarks in table order, unit)
TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "singularity": (("api_call", "thread_yield", "ping_pong", "process_creation"),
                    "cycles"),
    "exos-ipc": (("pipe", "pipe'", "shm", "lrpc"), "us"),
    "exos-vm": (("dirty", "prot1", "prot100", "unprot100", "trap", "appel1", "appel2"),
                "us"),
}
#: benchmark -> what it needs beyond the ABI, or ABI calls a kernel may refuse
#: (a kernel lacking one: n/a)
_VM = frozenset({"mprotect"})
_TRAP = frozenset({"mprotect", "set_fault_handler"})
NEEDS = {"pipe'": frozenset({"read_inline", "write_inline", "fork"}),
         "pipe": frozenset({"fork"}), "shm": frozenset({"fork", "shm_create"}),
         "dirty": frozenset({"dirty"}), "prot1": _VM, "prot100": _VM, "unprot100": _VM,
         "trap": _TRAP, "appel1": _TRAP, "appel2": _TRAP}

#: iterations per benchmark (full run, quick run)
_N = {"process_creation": (40, 4), "appel2": (400, 100), "prot100": (100, 5),
      "unprot100": (100, 5)}
_DEFAULT_N = (1000, 20)


def _suite_of(benchmark: str) -> str:
    """The table suite that has ``benchmark``."""
    return next(s for s, (benches, _u) in TABLES.items() if benchmark in benches)


def iterations(benchmark: str, quick: bool = False) -> int:
    """How many operations a run of ``benchmark`` times."""
    return get_suite(_suite_of(benchmark)).iterations(benchmark, quick)


def measure(benchmark: str, kernel: str, profile: str, seed: int, n: int) -> float | None:
    """Run one microbenchmark program; return its cycles per operation (None: n/a)."""
    return run_benchmark(get_suite(_suite_of(benchmark)), benchmark, kernel, profile,
                         seed, n)


def _run_table(ctx: SuiteContext) -> SuiteOutput:
    """Measure every benchmark of the table on every requested kernel."""
    info = get_suite(ctx.suite)
    benches, unit = TABLES[ctx.suite]
    mhz = get_profile(ctx.profile).mhz
    results, notes = [], {}
    for bench in benches:
        n = info.iterations(bench, ctx.quick)
        for kernel in ctx.kernels:
            cycles = run_benchmark(info, bench, kernel, ctx.profile, ctx.seed, n)
            if cycles is None:
                notes[bench] = f"{kernel}: not provided (n/a)"
                continue
            value = cycles / mhz if unit == "us" else cycles
            results.append(ctx.result(bench, kernel, round(value, 3), unit))
    return SuiteOutput(results, paper_rows(ctx.suite), notes)


for _name, (_benches, _unit) in TABLES.items():
    suite(_name, kernels=(ALL_KERNELS,), default_profile=suite_profile(_name),
          description=f"{_name}: the paper's table, on every kernel",
          programs={b: PROGRAMS[b] for b in _benches},
          iteration={b: ITERATION[b] for b in _benches if b in ITERATION}, unit=_unit,
          sizes={b: _N[b] for b in _benches if b in _N}, default_size=_DEFAULT_N,
          needs={b: NEEDS[b] for b in _benches if b in NEEDS},
          variants={b: VARIANTS[b] for b in _benches if b in VARIANTS})(_run_table)
