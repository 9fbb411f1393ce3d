"""Benchmark report tables: one rich table per suite, a row per (benchmark, kernel).

The table is long, not wide: a kernel is a row, not a column, so a suite
measured on two kernels or on eight has the same few columns and stays
readable at 80 columns (docs/design.md, "Report tables"). Kernels appear by
a short name (``mono``, ``exo``...) explained in a key under the table. Rows
are :class:`Row` — a benchmark and a kernel, or a published system no kernel
stands for (FreeBSD, Windows...) — and columns are :class:`Column`, each a
header and a function from row to cell text, derived from what the report
holds:

- ``benchmark`` (on the first row of each benchmark) and ``kernel``;
- ``measured`` (the unit in the title when the suite has one unit);
- when the suite has paper rows: ``paper``, the figure of the system the
  kernel stands for (or of the published system itself), and ``vs paper``,
  measured / paper, "cal" marking figures a profile row was calibrated on;
- when a second kernel is measured: ``mono/K (paper)``, the ratio monolithic /
  K beside the paper's ratio of the systems they stand for and a verdict
  (``ok``: within 1.5x, same winner);
- ``note`` (targets, skips) when the suite has notes.

A later column is one more :class:`Column` appended in :func:`columns`.

Interface::

    Row(benchmark, kernel, system=None)          system: a paper-only row
    Column(header, cell, justify="right")        cell(row) -> str
    rows(report, suite) -> list[Row]             benchmarks(report, suite) -> list[str]
    columns(report, suite) -> list[Column]
    short_name(kernel) -> str                    key(report, suite) -> str
    suite_table(report, suite) -> rich.table.Table
    print_report(report, console=None)
    fmt_value(value, unit) -> str                ratio_verdict(measured, paper) -> str
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from exolab.bench.papers import Ratio, fidelity, ratio_range, ratios, system_kernel
from exolab.bench.results import PaperRow, Report
from exolab.kernels import kernel_names

__all__ = ["Row", "Column", "rows", "columns", "benchmarks", "suite_table",
           "print_report", "fmt_value", "ratio_verdict", "short_name", "key"]

MISSING = "—"
BARE = "the bare machine (TinyKernel)"     # what kernel "none" is
#: short names of kernels in tables (any other: itself up to 5 letters, else 4)
SHORT_NAMES = {"monolithic": "mono", "exokernel": "exo", "singularity": "sing",
               "unikernel": "uni", "graphene": "gphn"}


@dataclass(frozen=True, slots=True)
class Row:
    """One table row: a benchmark on a kernel, or a published system's figure."""

    benchmark: str
    kernel: str | None          # None: a paper-only row
    system: str | None = None   # the published system of a paper-only row


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: its header and how to fill a row's cell."""

    header: str
    cell: Callable[[Row], str]
    justify: str = "right"


def short_name(kernel: str) -> str:
    """The name a kernel goes by in tables (``mono``, ``exo``, ``l4``...)."""
    return SHORT_NAMES.get(kernel, kernel if len(kernel) <= 5 else kernel[:4])


def fmt_value(value: float, unit: str) -> str:
    """Format a value with its unit: thousands separators, 3 significant digits below."""
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif value == int(value):
        text = f"{int(value)}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def _sig(x: float) -> str:
    """A ratio to three significant figures, trailing zeros kept (2.50, 15.8, 106)."""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def benchmarks(report: Report, suite: str) -> list[str]:
    """Benchmark names of ``suite`` in the order rows first mention them."""
    names = [r.benchmark for r in report.results_of(suite)]
    names += [p.benchmark for p in report.paper_of(suite)]
    names += [b for s, b in report.notes if s == suite and b]
    return list(dict.fromkeys(names))


def _kernel_rank(kernel: str | None) -> int:
    """Row order: kernels in registry order (monolithic first), unknown ones last."""
    names = kernel_names()
    return names.index(kernel) if kernel in names else len(names)


def _kernels(report: Report, suite: str) -> list[str]:
    """The kernels measured in ``suite``, in registry order (``none`` first)."""
    found = dict.fromkeys(r.kernel for r in report.results_of(suite))
    return sorted(found, key=lambda k: (k != "none", _kernel_rank(k)))


def _paper_only(report: Report, suite: str) -> list[str]:
    """Published systems of ``suite`` that no measured kernel stands for."""
    measured = set(_kernels(report, suite))
    return list(dict.fromkeys(p.system for p in report.paper_of(suite)
                              if system_kernel(p.system) not in measured))


def rows(report: Report, suite: str) -> list[Row]:
    """The rows of ``suite``'s table: per benchmark, each kernel measured on it or
    with a paper figure, then each paper-only system that published one."""
    shown = {(r.benchmark, r.kernel) for r in report.results_of(suite)}
    shown |= set(_paper_of_row(report, suite))
    out = []
    for bench in benchmarks(report, suite):
        mine = [Row(bench, k) for k in _kernels(report, suite) if (bench, k) in shown]
        mine += [Row(bench, None, s) for s in _paper_only(report, suite)
                 if (bench, s) in shown]
        out += mine or [Row(bench, None)]
    return out


def _units(report: Report, suite: str) -> set[str]:
    """The units of ``suite``'s measured and published rows."""
    return {r.unit for r in report.results_of(suite)} | \
        {p.unit for p in report.paper_of(suite)}


def _measured_column(report: Report, suite: str, unit: bool) -> Column:
    """Each kernel's measured value (with its unit when ``unit``)."""
    by_row = {(r.benchmark, r.kernel): r for r in report.results_of(suite)}

    def cell(row: Row) -> str:
        r = by_row.get((row.benchmark, row.kernel or ""))
        return MISSING if r is None else fmt_value(r.value, r.unit if unit else "")
    return Column("measured", cell)


def _paper_of_row(report: Report, suite: str) -> dict[tuple[str, str], PaperRow]:
    """(benchmark, kernel or paper-only system) -> the published row it is compared to."""
    measured = set(_kernels(report, suite))
    out: dict[tuple[str, str], PaperRow] = {}
    for p in report.paper_of(suite):
        kernel = system_kernel(p.system)
        out.setdefault((p.benchmark, kernel if kernel in measured else p.system), p)
    return out


def _paper_columns(report: Report, suite: str, unit: bool) -> list[Column]:
    """``paper`` (the figure of the row's system) and ``vs paper`` (measured / it)."""
    papers = _paper_of_row(report, suite)
    if not papers:
        return []
    values = {(r.benchmark, r.kernel): r.value for r in report.results_of(suite)}
    calibrated = {(c.benchmark, c.kernel) for c in fidelity(report, suite)
                  if c.calibrated}

    def who(row: Row) -> tuple[str, str]:
        return (row.benchmark, row.kernel or row.system or "")

    def paper(row: Row) -> str:
        p = papers.get(who(row))
        return MISSING if p is None else fmt_value(p.value, p.unit if unit else "")

    def versus(row: Row) -> str:
        p, value = papers.get(who(row)), values.get(who(row))
        if row.kernel is None:
            return ""
        if p is None or value is None or not p.value:
            return MISSING
        return f"{value / p.value:.2f}x" + (" cal" if who(row) in calibrated else "")
    return [Column("paper", paper), Column("vs paper", versus)]


def ratio_verdict(measured: float, paper: float) -> str:
    """'ok' when the measured ratio is within 1.5x of the paper's with the same winner."""
    same_winner = (measured >= 1) == (paper >= 1)
    close = max(measured / paper, paper / measured) <= 1.5
    return "ok" if same_winner and close else "OFF"


def _ratio_column(report: Report, suite: str) -> list[Column]:
    """monolithic / K measured (the paper's ratio) and a verdict, on K's rows."""
    found = ratios(report, suite)
    if not found or not (_paper_of_row(report, suite) or any(
            c.paper is not None for c in fidelity(report, suite))):
        return []               # no paper figures: a ratio is not the suite's claim
    mine: dict[tuple[str, str], Ratio] = {(r.benchmark, r.kernel): r for r in found}

    def cell(row: Row) -> str:
        r = mine.get((row.benchmark, row.kernel or ""))
        if r is None:
            return ""
        if r.paper is None:
            span = ratio_range(suite, r.benchmark, r.kernel)
            if span is None:
                return f"{_sig(r.measured)} ({MISSING})"
            lo, hi = span
            return f"{_sig(r.measured)} ({lo:g}–{hi:g}) " + \
                ratio_verdict(r.measured, min(max(r.measured, lo), hi))
        return f"{_sig(r.measured)} ({_sig(r.paper)}) {ratio_verdict(r.measured, r.paper)}"
    return [Column(f"{short_name('monolithic')}/K (paper)", cell)]


def columns(report: Report, suite: str) -> list[Column]:
    """The columns of ``suite``'s table, derived from the rows present."""
    unit = len(_units(report, suite)) > 1        # one unit: in the title instead
    firsts = set(_first_rows(rows(report, suite)))
    cols = [Column("benchmark", lambda r: r.benchmark, "left"),
            Column("kernel", lambda r: short_name(r.kernel) if r.kernel
                   else r.system or MISSING, "left")]
    cols += [_measured_column(report, suite, unit)]
    cols += _paper_columns(report, suite, unit)
    cols += _ratio_column(report, suite)
    notes = {b: n for (s, b), n in report.notes.items() if s == suite and b}
    if notes:
        cols.append(Column("note", lambda r: notes.get(r.benchmark, "")
                           if r in firsts else "", "left"))
    return cols


def _first_rows(all_rows: list[Row]) -> list[Row]:
    """The first row of each benchmark."""
    seen: dict[str, Row] = {}
    for r in all_rows:
        seen.setdefault(r.benchmark, r)
    return list(seen.values())


def key(report: Report, suite: str) -> str:
    """The key under ``suite``'s table: the kernels' short names (and the paper system
    each stands for), then what the comparison columns mean."""
    systems: dict[str, list[str]] = {}
    for (_bench, kernel), p in _paper_of_row(report, suite).items():
        if kernel != p.system and p.system not in systems.setdefault(kernel, []):
            systems[kernel].append(p.system)
    names = []
    for k in _kernels(report, suite):
        vs = f" (paper: {', '.join(systems[k])})" if k in systems else ""
        what = BARE if k == "none" else k
        names.append(f"{short_name(k)} = {what}{vs}")
    parts = [", ".join(names)] if names else []
    if _paper_of_row(report, suite):
        parts.append("vs paper: measured / paper (cal: a cost was calibrated on it)")
    if _ratio_column(report, suite):
        parts.append(f"{short_name('monolithic')}/K: how many times slower the "
                     "monolithic kernel is than kernel K, measured (paper); ok: the "
                     "same winner, within 1.5x")
    return "; ".join(parts)


def suite_table(report: Report, suite: str) -> Table:
    """Build the rich table of one suite."""
    units = _units(report, suite)
    unit = f"; {next(iter(units))}" if len(units) == 1 and next(iter(units)) else ""
    caption = "\n".join(escape(x) for x in (key(report, suite),
                                            report.notes.get((suite, ""), "")) if x)
    table = Table(title=f"{suite}  (seed {report.seed}{unit})", caption=caption or None,
                  title_justify="left", caption_justify="left", box=box.SIMPLE_HEAD,
                  collapse_padding=True,
                  pad_edge=False)
    cols = columns(report, suite)
    for c in cols:                  # only the note wraps: every figure stays on a line
        table.add_column(c.header, justify=c.justify,  # type: ignore[arg-type]
                         no_wrap=c.header != "note", overflow="fold")
    firsts = set(_first_rows(rows(report, suite)))
    for row in rows(report, suite):
        cells = [escape(c.cell(row)) for c in cols]
        if row not in firsts:
            cells[0] = ""
        table.add_row(*cells)
    return table


def print_report(report: Report, console: Console | None = None) -> None:
    """Print one table per suite of ``report``."""
    console = console or Console()
    for suite in report.suites():
        console.print(suite_table(report, suite))
