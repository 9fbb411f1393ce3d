"""Calibration: fit the named path costs of a profile to their paper figures.

Each paper figure marked ``calibrates`` in ``data/paper.json`` pins one row:
either a row of a kernel's software path table (for example Ultrix's pipe
pins the monolithic kernel's ``mono_pipe_op``, in
``kernels/monolithic/paths.py``) or a field of the machine's hardware
profile. The measured value of a benchmark is linear in the path costs (a
path is charged a whole number of times), so one finite-difference step per
row gives the Jacobian and one linear solve gives the values that reproduce
every pinned figure at once. Kernel rows are perturbed through the kernel's
``paths`` construction override (``make_kernel(name, machine, paths=...)``),
hardware rows through a copy of the profile: no table is edited at run time.
The result is printed for a human to copy into the table: calibration is a
deliberate, reviewed edit, never a run-time fudge.

Rows that name neither (``trap_entry+trap_exit`` style notes document
hardware calibration done by hand) are not fitted.

Interface::

    Target(suite, benchmark, kernel, field, paper_cycles, where)
                                    where: "paths" (the kernel's table) or "profile"
    path_tables(profile) -> {kernel: {row: (cycles, source)}}   every kernel's table
    targets(profile) -> list[Target]
    solve(profile, seed=0) -> dict[field, (old, new)]
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Any

from exolab.bench.papers import figures, suite_profile, system_kernel
from exolab.bench.registry import get_suite, program_suites
from exolab.errors import ConfigError
from exolab.kernels import KERNELS, kernel_names, make_kernel
from exolab.machine.costs import CostProfile, get_profile
from exolab.machine.machine import Machine

__all__ = ["Target", "path_tables", "targets", "solve"]

_STEP = 100             # cycles added to a row to measure its effect


@dataclass(frozen=True, slots=True)
class Target:
    """A figure that pins a kernel path row or a hardware profile field."""

    suite: str
    benchmark: str
    kernel: str
    field: str
    paper_cycles: float
    where: str = "profile"


def _path_table(kernel: str, profile: str) -> dict[str, tuple[int, Any]]:
    """Kernel ``kernel``'s path table on ``profile`` ({} if it has none in the
    ``path_table`` form, or none for that profile)."""
    package = KERNELS[kernel].partition(":")[0]
    try:
        module = importlib.import_module(package + ".paths")
    except ImportError:
        return {}
    table = getattr(module, "path_table", None)
    if table is None:
        return {}
    try:
        return dict(table(profile))
    except ConfigError:
        return {}


def _instruction_table(kernel: str, profile: str) -> dict[str, tuple[int, Any]]:
    """A paths module still in the older form (``PATHS``: row -> (instructions,
    source)) shown in cycles on ``profile``; {} if it has no such table."""
    package = KERNELS[kernel].partition(":")[0]
    try:
        module = importlib.import_module(package + ".paths")
    except ImportError:
        return {}
    rows = getattr(module, "PATHS", None)
    if type(rows) is not dict:
        return {}
    per = get_profile(profile).instruction
    return {row: (count * per, f"{count} instructions: {source}")
            for row, (count, source) in rows.items()}


def path_tables(profile: str) -> dict[str, dict[str, tuple[int, Any]]]:
    """Every registered kernel's path table on ``profile`` (kernels without one omitted)."""
    out = {}
    for name in kernel_names():
        table = _path_table(name, profile) or _instruction_table(name, profile)
        if table:
            out[name] = table
    return out


def targets(profile: str) -> list[Target]:
    """Figures of ``profile``'s suites (every suite that declares its programs) that
    calibrate a path row or a profile field."""
    p = get_profile(profile)
    names = {f.name for f in dataclasses.fields(p)}
    out = []
    for suite in (info.name for info in program_suites()):
        if suite_profile(suite) != profile:
            continue
        for f in figures(suite):
            kernel = system_kernel(f.system)
            if kernel is None or f.calibrates is None:
                continue
            cycles = f.value * p.mhz if f.unit == "us" else f.value
            if f.calibrates in _path_table(kernel, profile):
                out.append(Target(suite, f.benchmark, kernel, f.calibrates, cycles, "paths"))
            elif f.calibrates in names:
                out.append(Target(suite, f.benchmark, kernel, f.calibrates, cycles))
    return out


def _measure(p: CostProfile, t: Target, seed: int, paths: dict[str, int]) -> float:
    """Cycles per operation of ``t``'s benchmark on profile ``p`` with path overrides."""
    machine = Machine(p, seed=seed)
    options = {"paths": dict(paths)} if paths else {}
    k = make_kernel(t.kernel, machine, **options)
    info = get_suite(t.suite)
    program = info.program_for(t.benchmark, t.kernel)
    k.boot(program, info.iterations(t.benchmark), name=getattr(program, "__name__", "init"))
    k.run()
    line = next(x for x in k.console if x.startswith("RESULT "))
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


def _current(base: CostProfile, t: Target) -> int:
    """The value ``t``'s row has now."""
    if t.where == "paths":
        return _path_table(t.kernel, base.name)[t.field][0]
    value: int = getattr(base, t.field)
    return value


def _bumped(base: CostProfile, t: Target, ts: list[Target], i: int, seed: int) -> float:
    """``ts[i]``'s measurement with ``t``'s row raised by one step."""
    target = ts[i]
    if t.where == "paths":
        paths = {t.field: _current(base, t) + _STEP} if t.kernel == target.kernel else {}
        return _measure(base, target, seed, paths)
    bumped = dataclasses.replace(base, **{t.field: getattr(base, t.field) + _STEP})
    return _measure(bumped, target, seed, {})


def solve(profile: str, seed: int = 0) -> dict[str, tuple[int, int]]:
    """Return row -> (current, fitted) for every calibrated row of ``profile``."""
    base = get_profile(profile)
    ts = targets(profile)
    y0 = [_measure(base, t, seed, {}) for t in ts]
    jac = [[0.0] * len(ts) for _ in ts]
    for j, t in enumerate(ts):
        for i in range(len(ts)):
            jac[i][j] = (_bumped(base, t, ts, i, seed) - y0[i]) / _STEP
    delta = _linsolve(jac, [t.paper_cycles - y for t, y in zip(ts, y0)])
    return {t.field: (_current(base, t), max(0, round(_current(base, t) + d)))
            for t, d in zip(ts, delta)}
