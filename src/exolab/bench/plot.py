"""Plot measured against published figures (``exolab bench --plot FILE.png``).

One row of panels per suite that has paper figures. Left: for every
(benchmark, kernel) with a paper counterpart, a bar of measured / paper on a
log axis, with the band of a factor of 2 shaded and calibrated rows light.
Right, where a second kernel is measured: the structural claim — the ratio
monolithic / kernel per benchmark, measured (bar) beside the paper's ratio of
the systems they stand for (marker), with the band of 1.5x around the paper.

Interface::

    plot_report(report, path)      writes a PNG (matplotlib, Agg backend)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from exolab.bench.papers import fidelity, ratios
from exolab.bench.results import Report
from exolab.errors import ConfigError

__all__ = ["plot_report", "plot_path", "formats"]


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


def _panels(report: Report) -> list[str]:
    """Suites of the report that have at least one paper comparison."""
    return [s for s in report.suites()
            if any(c.paper is not None for c in fidelity(report, s))]


def _deviations(ax: Any, report: Report, suite: str) -> None:
    """Bars of measured / paper for each (benchmark, kernel) of ``suite``."""
    comps = [c for c in fidelity(report, suite) if c.deviation is not None]
    bars = ax.bar(range(len(comps)), [c.deviation for c in comps], color="#4c78a8")
    for bar, c in zip(bars, comps):
        if c.calibrated:
            bar.set_color("#9ecae9")
    ax.axhspan(0.5, 2.0, color="#e0f0e0", zorder=0)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(comps)), [f"{c.benchmark}\n{c.kernel}" for c in comps],
                  fontsize=7)
    ax.set_ylabel("measured / paper")
    ax.set_title(f"{suite}: each kernel against its paper system "
                 "(light: calibrated; band: factor 2)", fontsize=9)


def _ratios(ax: Any, report: Report, suite: str) -> None:
    """Bars of measured monolithic / kernel, markers of the paper's ratio."""
    rows = ratios(report, suite)
    xs = range(len(rows))
    ax.bar(xs, [r.measured for r in rows], color="#f58518", label="measured")
    for x, r in zip(xs, rows):
        if r.paper is not None:
            ax.plot([x], [r.paper], marker="D", color="black", linestyle="none")
            ax.vlines(x, r.paper / 1.5, r.paper * 1.5, color="black", linewidth=0.8)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(xs, [f"{r.benchmark}\n{r.kernel}" for r in rows], fontsize=7)
    ax.set_ylabel("monolithic / kernel")
    ax.set_title(f"{suite}: how much slower the monolithic kernel is "
                 "(diamond: paper, bar: 1.5x)", fontsize=9)


def plot_report(report: Report, path: str | Path) -> None:
    """Draw every suite with paper figures (deviations, and ratios between kernels)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites = _panels(report) or report.suites()[:1]
    two = any(ratios(report, s) for s in suites)
    fig, axes = plt.subplots(len(suites), 2 if two else 1,
                             figsize=(16 if two else 9, 2.8 * len(suites) + 0.5),
                             squeeze=False)
    for row, suite in zip(axes, suites):
        _deviations(row[0], report, suite)
        if two:
            if ratios(report, suite):
                _ratios(row[1], report, suite)
            else:
                row[1].set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
