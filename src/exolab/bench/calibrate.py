"""Calibration: fit the named software-path costs of a profile to their figures.

Each paper figure marked ``calibrates`` in ``data/paper.json`` pins one
profile row (for example Ultrix's pipe pins ``mono_pipe_op``). The measured
value of a benchmark is linear in the path costs (a path is charged a whole
number of times), so one finite-difference step per row gives the Jacobian
and one linear solve gives the values that reproduce every pinned figure at
once. The result is printed for a human to copy into ``machine/costs.py``:
calibration is a deliberate, reviewed edit, never a run-time fudge.

Only rows that name a real profile field are fitted (``trap_entry+trap_exit``
style notes document hardware calibration done by hand).

Interface::

    Target(suite, benchmark, kernel, field, paper_cycles)
    targets(profile) -> list[Target]
    solve(profile, seed=0) -> dict[field, (old, new)]
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from exolab.apps.microbench import PROGRAMS
from exolab.bench.papers import figures, suite_profile, system_kernel
from exolab.bench.tables import TABLES, iterations
from exolab.machine.costs import PROFILES, CostProfile, get_profile
from exolab.runner import run_program

__all__ = ["Target", "targets", "solve"]

_STEP = 100             # cycles added to a row to measure its effect


@dataclass(frozen=True, slots=True)
class Target:
    """A figure that pins a profile row."""

    suite: str
    benchmark: str
    kernel: str
    field: str
    paper_cycles: float


def targets(profile: str) -> list[Target]:
    """Figures of ``profile``'s suites that calibrate a field of the profile."""
    p = get_profile(profile)
    names = {f.name for f in dataclasses.fields(p)}
    out = []
    for suite in TABLES:
        if suite_profile(suite) != profile:
            continue
        for f in figures(suite):
            kernel = system_kernel(f.system)
            if f.calibrates in names and kernel is not None:
                cycles = f.value * p.mhz if f.unit == "us" else f.value
                out.append(Target(suite, f.benchmark, kernel, f.calibrates, cycles))
    return out


def _measure(p: CostProfile, t: Target, seed: int) -> float:
    """Cycles per operation of ``t``'s benchmark with profile ``p``."""
    PROFILES["_calibrating"] = p
    try:
        run = run_program(PROGRAMS[t.benchmark], iterations(t.benchmark),
                          kernel=t.kernel, profile="_calibrating", seed=seed)
    finally:
        del PROFILES["_calibrating"]
    line = next(x for x in run.console if x.startswith("RESULT "))
    return float(line.split()[1])


def _linsolve(a: list[list[float]], b: list[float]) -> list[float]:
    """Solve a small dense linear system by Gaussian elimination with pivoting."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        piv = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[piv] = m[piv], m[c]
        for r in range(n):
            if r != c and m[c][c]:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][n] / m[i][i] if m[i][i] else 0.0 for i in range(n)]


def solve(profile: str, seed: int = 0) -> dict[str, tuple[int, int]]:
    """Return field -> (current, fitted) for every calibrated row of ``profile``."""
    base = get_profile(profile)
    ts = targets(profile)
    fields = [t.field for t in ts]
    y0 = [_measure(base, t, seed) for t in ts]
    jac = [[0.0] * len(ts) for _ in ts]
    for j, f in enumerate(fields):
        bumped = dataclasses.replace(base, **{f: getattr(base, f) + _STEP})
        for i, t in enumerate(ts):
            jac[i][j] = (_measure(bumped, t, seed) - y0[i]) / _STEP
    delta = _linsolve(jac, [t.paper_cycles - y for t, y in zip(ts, y0)])
    return {f: (getattr(base, f), max(0, round(getattr(base, f) + d)))
            for f, d in zip(fields, delta)}
