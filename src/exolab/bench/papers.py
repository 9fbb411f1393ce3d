"""The papers' published figures and the comparison of measured against them.

The figures live in ``bench/data/paper.json`` and one more file per later
suite (``bench/data/<suite>.json``, same keys; merged in name order, a system
or profile named twice with different values is a :class:`ConfigError`), each
with its source; a row
may name the cost-profile entry it *calibrates* (those rows were fitted, all
others are predictions). :func:`fidelity` pairs each measured value with the
paper value of the system the kernel stands for (``systems`` map: Ultrix and
Linux -> monolithic, ExOS and Aegis -> exokernel, ...) and computes the
deviation, the measured and the published ratio between two kernels, and a
verdict.

Interface::

    PaperFigure(suite, benchmark, system, machine, value, unit, source, calibrates)
    figures(suite=None) -> list[PaperFigure]     system_kernel(system) -> str | None
    suite_profile(suite) -> str
    paper_rows(suite) -> list[PaperRow]
    Comparison                                   fidelity(report, suite) -> list[Comparison]
    Ratio                                        ratios(report, suite) -> list[Ratio]
    ratio_range(suite, benchmark, kernel) -> (low, high) | None
                                        a published range of monolithic / kernel
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from exolab.bench.results import PaperRow, Report
from exolab.errors import ConfigError

__all__ = ["Ratio", "ratios", "ratio_range", "PaperFigure", "figures", "system_kernel", "suite_profile", "paper_rows",
           "Comparison", "fidelity"]


@dataclass(frozen=True, slots=True)
class PaperFigure:
    """One published number, with its source and calibration role."""

    suite: str
    benchmark: str
    system: str
    machine: str
    value: float
    unit: str
    source: str
    calibrates: str | None      # the profile row fitted to this figure, if any


_LISTS = ("rows", "ratio_ranges")
_MAPS = ("systems", "profiles")


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    """paper.json merged with every other ``data/*.json`` (one per later suite)."""
    folder = resources.files("exolab.bench").joinpath("data")
    names = sorted(f.name for f in folder.iterdir() if f.name.endswith(".json"))
    names.remove("paper.json")
    merged: dict[str, Any] = {k: [] for k in _LISTS} | {k: {} for k in _MAPS}
    for name in ["paper.json", *names]:
        _merge(merged, json.loads(folder.joinpath(name).read_text()), name)
    return merged


def _merge(into: dict[str, Any], part: dict[str, Any], name: str) -> None:
    """Add one figure file's lists and maps to ``into``; a conflicting key is an error."""
    for key in _LISTS:
        into[key].extend(part.get(key, []))
    for key in _MAPS:
        for k, v in part.get(key, {}).items():
            if into[key].get(k, v) != v:
                raise ConfigError(f"bench/data/{name}: {key}[{k!r}] = {v!r} conflicts with "
                                  f"{into[key][k]!r}")
            into[key][k] = v


def figures(suite: str | None = None) -> list[PaperFigure]:
    """Every published figure (of ``suite``), in file order."""
    out = []
    for r in _data()["rows"]:
        if suite is None or r["suite"] == suite:
            out.append(PaperFigure(r["suite"], r["benchmark"], r["system"], r["machine"],
                                   float(r["value"]), r["unit"], r["source"],
                                   r.get("calibrates")))
    return out


def system_kernel(system: str) -> str | None:
    """The exolab kernel that stands for a published system (None if none does)."""
    return _data()["systems"].get(system)  # type: ignore[no-any-return]


def suite_profile(suite: str) -> str:
    """The cost profile of the machine the suite's paper measured on."""
    return _data()["profiles"][suite]  # type: ignore[no-any-return]


def paper_rows(suite: str) -> list[PaperRow]:
    """The suite's figures as report rows."""
    return [PaperRow(f.suite, f.benchmark, f.system, f.machine, f.value, f.unit, f.source)
            for f in figures(suite)]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One measured value beside its paper counterpart."""

    suite: str
    benchmark: str
    kernel: str
    measured: float
    system: str | None          # the paper system this kernel stands for
    paper: float | None
    deviation: float | None     # measured / paper
    calibrated: str | None      # profile row fitted on this figure, or None


def fidelity(report: Report, suite: str) -> list[Comparison]:
    """Pair every measured row of ``suite`` with the paper figure of its system."""
    figs = figures(suite)
    out = []
    for r in report.results:
        if r.suite != suite:
            continue
        match = next((f for f in figs if f.benchmark == r.benchmark
                      and system_kernel(f.system) == r.kernel), None)
        paper = match.value if match else None
        out.append(Comparison(suite, r.benchmark, r.kernel, r.value,
                              match.system if match else None, paper,
                              r.value / paper if paper else None,
                              match.calibrates if match else None))
    return out


@dataclass(frozen=True, slots=True)
class Ratio:
    """monolithic / ``kernel`` on one benchmark, measured and (where known) published."""

    suite: str
    benchmark: str
    kernel: str
    measured: float
    paper: float | None         # the paper's ratio of the systems the two stand for


def ratios(report: Report, suite: str) -> list[Ratio]:
    """The ratio monolithic / K for every other kernel K measured on a benchmark."""
    comps = fidelity(report, suite)
    base = {c.benchmark: c for c in comps if c.kernel == "monolithic"}
    out = []
    for c in comps:
        a = base.get(c.benchmark)
        if c.kernel == "monolithic" or a is None or not c.measured:
            continue
        paper = a.paper / c.paper if a.paper is not None and c.paper else None
        out.append(Ratio(suite, c.benchmark, c.kernel, a.measured / c.measured, paper))
    return out


def ratio_range(suite: str, benchmark: str, kernel: str) -> tuple[float, float] | None:
    """A range the paper gives for monolithic / ``kernel`` where it gives no figure of
    the monolithic system (lrpc: 46-60x, section 7), or None."""
    for r in _data().get("ratio_ranges", []):
        base, other = r["systems"]
        if (r["suite"], r["benchmark"]) == (suite, benchmark) and \
                system_kernel(base) == "monolithic" and system_kernel(other) == kernel:
            return float(r["low"]), float(r["high"])
    return None
