"""The papers' table suites: ``singularity``, ``exos-ipc``, ``exos-vm``.

Each benchmark is one program of :mod:`exolab.apps.microbench`, written once
against the ABI and run on every registered kernel, on a fresh machine of the
suite's paper profile (``athlon64`` for Singularity's table, ``dec5000`` for
the Exokernel paper's). Values are simulated cycles (Singularity) or
microseconds (Exokernel); the paper's figures come along as ``paper`` rows.

Interface::

    TABLES: suite -> (benchmarks, unit)
    iterations(benchmark, quick=False) -> int
    measure(benchmark, kernel, profile, seed, n) -> cycles per operation | None
    result_of(program, benchmark, kernel, profile, seed, n)   the same, any program
"""
from __future__ import annotations

from typing import Any

from exolab.apps.microbench import PROGRAMS
from exolab.bench.papers import paper_rows, suite_profile
from exolab.bench.registry import SuiteContext, SuiteOutput, suite
from exolab.errors import ConfigError
from exolab.kernels import kernel_names
from exolab.machine.costs import get_profile
from exolab.runner import run_program

__all__ = ["TABLES", "measure", "result_of", "iterations"]

#: suite -> (benchmarks in table order, unit)
TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "singularity": (("api_call", "thread_yield", "ping_pong", "process_creation"),
                    "cycles"),
    "exos-ipc": (("pipe", "pipe'", "shm", "lrpc"), "us"),
    "exos-vm": (("dirty", "prot1", "prot100", "unprot100", "trap", "appel1", "appel2"),
                "us"),
}

#: iterations per benchmark (full run, quick run)
_N = {"process_creation": (40, 4), "appel2": (400, 100), "prot100": (100, 5),
      "unprot100": (100, 5)}
_DEFAULT_N = (1000, 20)


def iterations(benchmark: str, quick: bool = False) -> int:
    """How many operations a run of ``benchmark`` times."""
    return _N.get(benchmark, _DEFAULT_N)[1 if quick else 0]


def measure(benchmark: str, kernel: str, profile: str, seed: int, n: int) -> float | None:
    """Run one microbenchmark program; return its cycles per operation (None: n/a)."""
    return result_of(PROGRAMS[benchmark], benchmark, kernel, profile, seed, n)


def result_of(program: Any, benchmark: str, kernel: str, profile: str, seed: int,
              n: int) -> float | None:
    """Run ``program(os, n)``; parse its ``RESULT`` line (None: ENOSYS, n/a here)."""
    run = run_program(program, n, kernel=kernel, profile=profile, seed=seed)
    for line in run.console:
        if line.startswith("RESULT "):
            return float(line.split()[1])
    if any("ENOSYS" in str(f[1]) for f in run.faults):
        return None
    raise ConfigError("benchmark program produced no result", benchmark=benchmark,
                      kernel=kernel, reason=run.result.reason, faults=run.faults[:3],
                      console=run.console[-3:])


def _run_table(ctx: SuiteContext) -> SuiteOutput:
    """Measure every benchmark of the table on every requested kernel."""
    benches, unit = TABLES[ctx.suite]
    mhz = get_profile(ctx.profile).mhz
    results, notes = [], {}
    for bench in benches:
        n = iterations(bench, ctx.quick)
        for kernel in ctx.kernels:
            cycles = measure(bench, kernel, ctx.profile, ctx.seed, n)
            if cycles is None:
                notes[bench] = f"{kernel}: not provided (n/a)"
                continue
            value = cycles / mhz if unit == "us" else cycles
            results.append(ctx.result(bench, kernel, round(value, 3), unit))
    return SuiteOutput(results, paper_rows(ctx.suite), notes)


for _name, (_benches, _unit) in TABLES.items():
    suite(_name, kernels=tuple(kernel_names()), default_profile=suite_profile(_name),
          description=f"{_name}: the paper's table, on every kernel")(_run_table)
