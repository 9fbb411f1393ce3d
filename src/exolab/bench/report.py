"""Benchmark report tables: one rich table per suite, built from the report's rows.

The table is data-driven: its columns are a list of :class:`Column`, each a
header and a function from benchmark name to cell text, derived from what the
report holds —

- ``benchmark``;
- one column per kernel measured in the suite (value and unit);
- one column per published system when the suite has paper rows
  (``system`` or ``system / machine`` when a system appears on several);
- per kernel, measured / the figure of the system it stands for, "(cal)"
  marking figures a profile row was calibrated on;
- per kernel K other than monolithic, the ratio monolithic / K beside the
  paper's ratio and a verdict (within 1.5x, same winner);
- ``note`` (targets, skips) when the suite has notes.

A later column (say, a ratio of a kernel to a paper system) is one more
:class:`Column` appended in :func:`columns`.

Interface::

    Column(header, cell, justify="right")
    columns(report, suite) -> list[Column]
    benchmarks(report, suite) -> list[str]     row order
    suite_table(report, suite) -> rich.table.Table
    print_report(report, console=None)
    fmt_value(value, unit) -> str
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rich.console import Console
from rich.table import Table

from exolab.bench.papers import Comparison, Ratio, fidelity, ratios, system_kernel
from exolab.bench.results import PaperRow, Report, Result
from exolab.kernels import kernel_names

__all__ = ["Column", "columns", "benchmarks", "suite_table", "print_report", "fmt_value",
           "ratio_verdict"]

MISSING = "—"


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: its header and how to fill a benchmark's cell."""

    header: str
    cell: Callable[[str], str]
    justify: str = "right"


def fmt_value(value: float, unit: str) -> str:
    """Format a value with its unit: thousands separators, 3 significant digits below."""
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif value == int(value):
        text = f"{int(value)}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def benchmarks(report: Report, suite: str) -> list[str]:
    """Benchmark names of ``suite`` in the order rows first mention them."""
    names = [r.benchmark for r in report.results_of(suite)]
    names += [p.benchmark for p in report.paper_of(suite)]
    names += [b for s, b in report.notes if s == suite and b]
    return list(dict.fromkeys(names))


def _kernel_column(rows: list[Result], kernel: str) -> Column:
    """The column of one kernel's measured values."""
    by_bench = {r.benchmark: r for r in rows if r.kernel == kernel}

    def cell(bench: str) -> str:
        r = by_bench.get(bench)
        return MISSING if r is None else fmt_value(r.value, r.unit)
    return Column(kernel, cell)


def _kernel_rank(kernel: str | None) -> int:
    """Column order: kernels in registry order (monolithic first), unknown ones last."""
    names = kernel_names()
    return names.index(kernel) if kernel in names else len(names)


def _paper_columns(rows: list[PaperRow]) -> list[Column]:
    """One column per published (system, machine), headed by the system."""
    keys = sorted(dict.fromkeys((p.system, p.machine) for p in rows),
                  key=lambda k: _kernel_rank(system_kernel(k[0])))
    systems = [s for s, _ in keys]
    cols = []
    for system, machine in keys:
        header = system if systems.count(system) == 1 else f"{system} / {machine}"
        by_bench = {p.benchmark: p for p in rows
                    if (p.system, p.machine) == (system, machine)}

        def cell(bench: str, by_bench: dict[str, PaperRow] = by_bench) -> str:
            p = by_bench.get(bench)
            return MISSING if p is None else fmt_value(p.value, p.unit)
        cols.append(Column(f"paper: {header}", cell))
    return cols


def _deviation_columns(report: Report, suite: str) -> list[Column]:
    """Per kernel: measured / its paper system's figure, marking calibrated rows."""
    comps = [c for c in fidelity(report, suite) if c.paper is not None]
    cols = []
    for kernel in sorted(dict.fromkeys(c.kernel for c in comps), key=_kernel_rank):
        mine = {c.benchmark: c for c in comps if c.kernel == kernel}
        system = next(iter(mine.values())).system

        def cell(bench: str, mine: dict[str, Comparison] = mine) -> str:
            c = mine.get(bench)
            if c is None or c.deviation is None:
                return MISSING
            return f"{c.deviation:.2f}x" + (" (cal)" if c.calibrated else "")
        cols.append(Column(f"{kernel}/{system}", cell))
    return cols


def ratio_verdict(measured: float, paper: float) -> str:
    """'ok' when the measured ratio is within 1.5x of the paper's with the same winner."""
    same_winner = (measured >= 1) == (paper >= 1)
    close = max(measured / paper, paper / measured) <= 1.5
    return "ok" if same_winner and close else "OFF"


def _ratio_columns(report: Report, suite: str) -> list[Column]:
    """monolithic / K measured beside the paper's ratio, for every other kernel K."""
    rows = ratios(report, suite)
    if not rows or not any(c.paper is not None for c in fidelity(report, suite)):
        return []
    cols = []
    for kernel in dict.fromkeys(r.kernel for r in rows):
        mine = {r.benchmark: r for r in rows if r.kernel == kernel}

        def cell(bench: str, mine: dict[str, Ratio] = mine) -> str:
            r = mine.get(bench)
            if r is None:
                return MISSING
            if r.paper is None:
                return f"{r.measured:.2f}"
            return f"{r.measured:.2f} (paper {r.paper:.2f}) {ratio_verdict(r.measured, r.paper)}"
        cols.append(Column(f"monolithic/{kernel}", cell))
    return cols


def columns(report: Report, suite: str) -> list[Column]:
    """The columns of ``suite``'s table, derived from the rows present."""
    rows = report.results_of(suite)
    cols = [Column("benchmark", lambda b: b, "left")]
    cols += [_kernel_column(rows, k) for k in dict.fromkeys(r.kernel for r in rows)]
    cols += _paper_columns(report.paper_of(suite))
    cols += _deviation_columns(report, suite)
    cols += _ratio_columns(report, suite)
    notes = {b: n for (s, b), n in report.notes.items() if s == suite and b}
    if notes:
        cols.append(Column("note", lambda b: notes.get(b, ""), "left"))
    return cols


def suite_table(report: Report, suite: str) -> Table:
    """Build the rich table of one suite."""
    caption = report.notes.get((suite, ""), "")
    table = Table(title=f"{suite}  (seed {report.seed})", caption=caption or None,
                  title_justify="left")
    cols = columns(report, suite)
    for c in cols:
        table.add_column(c.header, justify=c.justify)  # type: ignore[arg-type]
    for bench in benchmarks(report, suite):
        table.add_row(*(c.cell(bench) for c in cols))
    return table


def print_report(report: Report, console: Console | None = None) -> None:
    """Print one table per suite of ``report``."""
    console = console or Console()
    for suite in report.suites():
        console.print(suite_table(report, suite))
