"""Plot a benchmark report (``exolab bench --plot FILE``).

One row of panels per suite that can be plotted, each a horizontal dot plot
with one labelled line per row of the table, so labels never collide however
many kernels there are:

- a suite with paper figures — left: every (benchmark, kernel) with a paper
  counterpart, measured / paper (a dot; hollow where a profile row was
  calibrated on that figure) against 1 and the band of 1.5x; right, where a
  second kernel is measured: how many times slower the monolithic kernel is
  than kernel K, measured (a dot) beside the paper's ratio (a diamond, or the
  range the paper gives as a line) and the band of 1.5x around it;
- ``speed``: the simulator's events per wall second per (benchmark, kernel),
  a dot, with its target (a red bar) where it has one;
- ``net`` adds Fig 2: the round trip against the number of compute-bound
  processes on the receiver, one line per kernel (and with an ASH).

Log axes are labelled with plain numbers (0.5, 1, 2, 10...). Which suites
can be plotted is known before anything runs (:func:`check_suites`).

Interface::

    formats() -> list[str]                 extensions matplotlib can write
    plot_path(path) -> Path                the file written (.png added if none)
    check_suites(names)                    ConfigError if none of them can be plotted
    figure(report) -> matplotlib Figure    plot_report(report, path) writes it
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from exolab.bench.papers import figures, fidelity, ratio_range, ratios
from exolab.bench.results import Report
from exolab.errors import ConfigError

__all__ = ["plot_report", "plot_path", "formats", "figure", "check_suites",
           "plottable"]

BAND = 1.5                  # the band drawn around 1 and around the paper's ratio
SPEED = "speed"
MEASURED, CALIBRATED, PAPER, BANDCOLOR, TARGET = (
    "#1f77b4", "#9ecae9", "black", "#dcefdc", "#d62728")


def formats() -> list[str]:
    """The image formats matplotlib can write here (file extensions, no dot)."""
    from matplotlib.backend_bases import FigureCanvasBase
    return sorted(FigureCanvasBase.get_supported_filetypes())


def plot_path(path: str | Path) -> Path:
    """The file a plot of ``path`` is written to: ``path`` itself, ``.png`` added when
    it has no extension; ConfigError for an extension matplotlib cannot write."""
    path = Path(path)
    suffix = path.suffix[1:].lower()
    if not suffix:
        return path.with_name(path.name + ".png")
    if suffix not in formats():
        raise ConfigError(f"cannot plot to a .{suffix} file", path=str(path),
                          expected=formats())
    return path


def plottable(suite: str) -> bool:
    """Whether ``suite`` has a plot: paper figures to compare with, or speed."""
    return suite == SPEED or bool(figures(suite))


def check_suites(names: Sequence[str]) -> None:
    """Refuse a plot of suites none of which has one (before anything runs)."""
    if names and not any(plottable(n) for n in names):
        raise ConfigError("these suites have no plot (it shows paper figures and "
                          "speed)", suites=list(names))


def _panels(report: Report) -> list[str]:
    """Suites of the report that have something to plot."""
    return [s for s in report.suites()
            if (s == SPEED and _speed_rows(report))
            or any(c.deviation is not None for c in fidelity(report, s))]


def _plain(x: float) -> str:
    """A tick label: 0.5, 1, 20, 1.5k, 2M (no powers of ten)."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.10g}{suffix}"
    return f"{x:.10g}"


def _log_axis(ax: Any, values: list[float], around_one: bool = True) -> None:
    """A log x axis over ``values`` (and 1, and the band around it, when
    ``around_one``) with plain tick labels: finer steps over a narrow range."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    if around_one:
        values = values + [1 / BAND / 1.15, BAND * 1.15]
    lo, hi = min(values) / 1.4, max(values) * 1.4
    decades = math.log10(hi / lo)
    steps = (1, 1.5, 2, 3, 5, 7) if decades < 1 else (1, 2, 5) if decades < 3 else (1, 3)
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1,
                                          math.ceil(math.log10(hi)) + 1)
             for m in steps if lo <= m * 10.0 ** e <= hi]
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: _plain(x)))


def _rows_axis(ax: Any, labels: list[str]) -> None:
    """One labelled line per row, top to bottom, with a faint guide line."""
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    for y in range(len(labels)):
        ax.axhline(y, color="#eeeeee", linewidth=0.6, zorder=0)


def _deviations(ax: Any, report: Report, suite: str) -> None:
    """measured / paper for each (benchmark, kernel) of ``suite`` with a paper figure."""
    comps = [c for c in fidelity(report, suite) if c.deviation is not None]
    _rows_axis(ax, [f"{c.benchmark} on {c.kernel}" for c in comps])
    ax.axvspan(1 / BAND, BAND, color=BANDCOLOR, zorder=0)
    ax.axvline(1.0, color="grey", linewidth=0.8)
    for y, c in enumerate(comps):
        ax.plot([c.deviation], [y], marker="o", linestyle="none", markersize=7,
                color=MEASURED, markerfacecolor="white" if c.calibrated else MEASURED)
    _log_axis(ax, [c.deviation for c in comps if c.deviation])
    ax.set_xlabel("measured / paper (each kernel against the system it stands for)",
                  fontsize=8)
    ax.set_title(f"{suite}: measured against the paper", fontsize=10, loc="left")


def _ratios(ax: Any, report: Report, suite: str) -> None:
    """monolithic / K per benchmark: measured, the paper's figure or range, its band."""
    rows = ratios(report, suite)
    _rows_axis(ax, [f"{r.benchmark}: monolithic / {r.kernel}" for r in rows])
    ax.axvline(1.0, color="grey", linewidth=0.8)
    values = [r.measured for r in rows]
    for y, r in enumerate(rows):
        span = (r.paper, r.paper) if r.paper is not None else \
            ratio_range(suite, r.benchmark, r.kernel)
        if span is not None:
            lo, hi = span
            values += [lo / BAND, hi * BAND]
            ax.fill_betweenx([y - 0.3, y + 0.3], lo / BAND, hi * BAND, color=BANDCOLOR,
                             zorder=1)
            if lo == hi:
                ax.plot([lo], [y], marker="D", linestyle="none", color=PAPER,
                        markersize=6, zorder=3)
            else:
                ax.plot([lo, hi], [y, y], color=PAPER, linewidth=2.5, marker="|",
                        markersize=10, zorder=3)
        ax.plot([r.measured], [y], marker="o", linestyle="none", color=MEASURED,
                markersize=7, zorder=4)
    _log_axis(ax, values)
    ax.set_xlabel("times slower: monolithic / kernel", fontsize=8)
    ax.set_title(f"{suite}: how much slower the monolithic kernel is", fontsize=10,
                 loc="left")


def _speed_rows(report: Report) -> list[Any]:
    """The speed rows measured in events per wall second."""
    return [r for r in report.results_of(SPEED) if r.unit == "events/s" and r.value > 0]


def _speed(ax: Any, report: Report) -> None:
    """Events per wall second per (benchmark, kernel), with each row's target."""
    from exolab.bench.speed import TARGETS
    rows = _speed_rows(report)
    _rows_axis(ax, [f"{r.benchmark} on {r.kernel}" for r in rows])
    values = [r.value for r in rows]
    for y, r in enumerate(rows):
        target = TARGETS.get((r.benchmark, r.kernel))
        if target is not None:
            values.append(target)
            ax.plot([target], [y], marker="|", markersize=14, markeredgewidth=2.5,
                    linestyle="none", color=TARGET, zorder=3)
        ax.plot([r.value], [y], marker="o", linestyle="none", color=MEASURED,
                markersize=7, zorder=4)
    _log_axis(ax, values, around_one=False)
    ax.set_xlabel("simulated events per wall second (this host)", fontsize=8)
    ax.set_title("speed: how fast the simulator runs", fontsize=10, loc="left")


FIG2 = "net: Fig 2"         # the extra panel of suite net: latency against load


def _fig2_series(report: Report) -> dict[str, list[tuple[int, float]]]:
    """Fig 2's lines: kernel (and "+ASH") -> [(processes, us)] from the load-K rows."""
    series: dict[str, list[tuple[int, float]]] = {}
    for r in report.results:
        parts = r.benchmark.split("-")
        if r.suite != "net" or parts[0] != "load" or not parts[1].isdigit():
            continue
        name = r.kernel + (" + ASH" if parts[-1] == "ash" else "")
        series.setdefault(name, []).append((int(parts[1]), r.value))
    return {k: sorted(v) for k, v in series.items()}


def _fig2(ax: Any, report: Report) -> None:
    """Round-trip latency against compute-bound processes on the receiver (log y)."""
    for name, pts in sorted(_fig2_series(report).items()):
        ax.plot([k for k, _ in pts], [v / 1000 for _, v in pts], marker="o",
                markersize=4, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("compute-bound processes on the receiver", fontsize=8)
    ax.set_ylabel("round trip (ms)", fontsize=8)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("net: Fig 2, UDP round trip under load (flat with an ASH)",
                 fontsize=10, loc="left")


def _legend(fig: Any, speed: bool, paper: bool) -> None:
    """One legend for the figure, under the panels."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles: list[Any] = [Line2D([], [], marker="o", linestyle="none", color=MEASURED,
                                 label="measured")]
    if paper:
        handles += [
            Line2D([], [], marker="o", linestyle="none", color=MEASURED,
                   markerfacecolor="white", label="measured (a cost calibrated on it)"),
            Line2D([], [], marker="D", linestyle="none", color=PAPER,
                   label="paper's ratio"),
            Line2D([], [], marker="|", color=PAPER, linewidth=2.5, markersize=10,
                   label="paper's range"),
            Patch(color=BANDCOLOR, label=f"within {BAND}x")]
    if speed:
        handles.append(Line2D([], [], marker="|", linestyle="none", color=TARGET,
                              markersize=14, markeredgewidth=2.5, label="target"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8,
               frameon=False)


def figure(report: Report) -> Any:
    """The figure of ``report``: a row of panels per plottable suite (ConfigError if
    none is)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites = _panels(report)
    if not suites:
        raise ConfigError("nothing to plot: no paper comparison or speed row in the "
                          "report", suites=report.suites())
    if _fig2_series(report):
        suites = suites + [FIG2]
    two = any(ratios(report, s) for s in suites if s not in (SPEED, FIG2))
    heights = [3.5 if s == FIG2 else
               max(len(_speed_rows(report)) if s == SPEED else
                   max(len(fidelity(report, s)), len(ratios(report, s))), 2) * 0.32 + 1.1
               for s in suites]
    fig, axes = plt.subplots(len(suites), 2 if two else 1, squeeze=False,
                             figsize=(14 if two else 8, sum(heights) + 0.6),
                             gridspec_kw={"height_ratios": heights})
    for row, suite in zip(axes, suites):
        if suite == SPEED:
            _speed(row[0], report)
        elif suite == FIG2:
            _fig2(row[0], report)
        else:
            _deviations(row[0], report, suite)
        if two:
            if suite not in (SPEED, FIG2) and ratios(report, suite):
                _ratios(row[1], report, suite)
            else:
                row[1].set_axis_off()
    _legend(fig, SPEED in suites, any(s != SPEED for s in suites))
    fig.tight_layout(rect=(0, 0.4 / (sum(heights) + 0.6), 1, 1))
    return fig


def plot_report(report: Report, path: str | Path) -> None:
    """Write :func:`figure` of ``report`` to ``path`` (its format from the extension)."""
    import matplotlib.pyplot as plt
    fig = figure(report)
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
