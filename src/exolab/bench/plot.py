"""Plot measured against published figures (``exolab bench --plot FILE.png``).

One panel per suite that has paper figures: for every (benchmark, kernel)
with a paper counterpart, a bar of measured / paper on a log axis, with the
band of a factor of 2 shaded and calibrated rows hatched. Where two kernels
are measured, a second marker shows the measured monolithic/kernel ratio
divided by the paper's ratio.

Interface::

    plot_report(report, path)      writes a PNG (matplotlib, Agg backend)
"""
from __future__ import annotations

from pathlib import Path

from exolab.bench.papers import fidelity
from exolab.bench.results import Report

__all__ = ["plot_report"]


def _panels(report: Report) -> list[str]:
    """Suites of the report that have at least one paper comparison."""
    return [s for s in report.suites()
            if any(c.paper is not None for c in fidelity(report, s))]


def plot_report(report: Report, path: str | Path) -> None:
    """Draw measured/paper per row for every suite with paper figures; save a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites = _panels(report) or report.suites()[:1]
    fig, axes = plt.subplots(len(suites), 1, figsize=(9, 2.6 * len(suites) + 0.5),
                             squeeze=False)
    for ax, suite in zip(axes[:, 0], suites):
        comps = [c for c in fidelity(report, suite) if c.deviation is not None]
        labels = [f"{c.benchmark}\n{c.kernel}" for c in comps]
        values = [c.deviation for c in comps]
        bars = ax.bar(range(len(values)), values, color="#4c78a8")
        for bar, c in zip(bars, comps):
            if c.calibrated:
                bar.set_hatch("//")
                bar.set_color("#9ecae9")
        ax.axhspan(0.5, 2.0, color="#e0f0e0", zorder=0)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(values)), labels, fontsize=7)
        ax.set_ylabel("measured / paper")
        ax.set_title(f"{suite} (light bars: calibrated rows; band: factor 2)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
