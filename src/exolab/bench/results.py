"""Benchmark results: measured rows, published (paper) rows, and the report.

A :class:`Result` is one measured number: one row per (suite, benchmark,
kernel). A :class:`PaperRow` is one published number, with its source, that a
result is compared against. A :class:`Report` gathers both for one run
(profile, seed) and serializes to the JSON that ``exolab bench --json``
writes::

    {"profile": "dec5000", "seed": 0,
     "results": [{"suite": "speed", "benchmark": "trap", "kernel": "none",
                  "value": 1234567.0, "unit": "events/s"}, ...],
     "paper": [{"suite": ..., "benchmark": ..., "system": ..., "machine": ...,
                "value": ..., "unit": ..., "source": ...}, ...]}

``notes`` (keyed by ``(suite, benchmark)``; benchmark ``""`` for the whole
suite) are for people reading the table and are not part of the JSON.

Interface::

    Result(suite, benchmark, kernel, value, unit)
    PaperRow(suite, benchmark, system, machine, value, unit, source)
    Report(profile, seed, results, paper, notes={})
      to_json() -> dict          write_json(path)       Report.from_json(dict)
      suites() -> list[str]      results_of(suite)      paper_of(suite)
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from exolab.errors import ConfigError

__all__ = ["Result", "PaperRow", "Report"]


@dataclass(frozen=True, slots=True)
class Result:
    """One measured value of one benchmark on one kernel."""

    suite: str
    benchmark: str
    kernel: str            # "none" for the bare machine (TinyKernel)
    value: float
    unit: str

    def to_json(self) -> dict[str, Any]:
        """Return the row as a JSON-ready dict."""
        return {"suite": self.suite, "benchmark": self.benchmark, "kernel": self.kernel,
                "value": float(self.value), "unit": self.unit}


@dataclass(frozen=True, slots=True)
class PaperRow:
    """One published value, with the system and machine it was measured on."""

    suite: str
    benchmark: str
    system: str            # e.g. "Aegis", "Ultrix", "Singularity"
    machine: str           # e.g. "DEC5000/125"
    value: float
    unit: str
    source: str            # citation: paper, table

    def to_json(self) -> dict[str, Any]:
        """Return the row as a JSON-ready dict."""
        return {"suite": self.suite, "benchmark": self.benchmark, "system": self.system,
                "machine": self.machine, "value": float(self.value), "unit": self.unit,
                "source": self.source}


@dataclass(frozen=True, slots=True)
class Report:
    """Everything one ``exolab bench`` run measured, plus the paper rows to compare."""

    profile: str
    seed: int
    results: list[Result]
    paper: list[PaperRow]
    notes: dict[tuple[str, str], str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        """Check that no (suite, benchmark, kernel) has two rows."""
        seen: set[tuple[str, str, str]] = set()
        for r in self.results:
            key = (r.suite, r.benchmark, r.kernel)
            if key in seen:
                raise ConfigError("duplicate result row", suite=r.suite,
                                  benchmark=r.benchmark, kernel=r.kernel)
            seen.add(key)

    def to_json(self) -> dict[str, Any]:
        """Return the report in the documented JSON form."""
        return {"profile": self.profile, "seed": self.seed,
                "results": [r.to_json() for r in self.results],
                "paper": [p.to_json() for p in self.paper]}

    def write_json(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_json` to ``path`` (indented, keys in documented order)."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, indent=2)
            f.write("\n")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Report":
        """Rebuild a report from :meth:`to_json` output."""
        try:
            return cls(str(data["profile"]), int(data["seed"]),
                       [Result(**r) for r in data["results"]],
                       [PaperRow(**p) for p in data["paper"]])
        except (KeyError, TypeError) as ex:
            raise ConfigError("not a benchmark report", detail=str(ex)) from None

    def suites(self) -> list[str]:
        """Suite names in the order their first row (or note) appears."""
        names = [r.suite for r in self.results] + [p.suite for p in self.paper]
        names += [suite for suite, _ in self.notes]
        return list(dict.fromkeys(names))

    def results_of(self, suite: str) -> list[Result]:
        """The measured rows of ``suite``."""
        return [r for r in self.results if r.suite == suite]

    def paper_of(self, suite: str) -> list[PaperRow]:
        """The published rows of ``suite``."""
        return [p for p in self.paper if p.suite == suite]
