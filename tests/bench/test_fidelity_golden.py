"""Every fidelity table prints exactly the figures it printed before (a golden file).

The golden JSON (``tests/bench/data/fidelity.json``) is the report of
``exolab bench exos-ipc exos-vm aegis singularity --json`` at the seed the
tables use. Cycle counts are the model, so any change here is a change of the
model and must be a deliberate edit of the golden file, never a side effect.
"""
from __future__ import annotations

import json
from pathlib import Path

from exolab.bench import run_suites

GOLDEN = Path(__file__).resolve().parent / "data" / "fidelity.json"
SUITES = ["exos-ipc", "exos-vm", "aegis", "singularity"]


def _rows(doc: dict) -> list[tuple[str, str, str, float, str]]:
    return [(r["suite"], r["benchmark"], r["kernel"], r["value"], r["unit"])
            for r in doc["results"]]


def test_fidelity_tables_print_the_golden_figures() -> None:
    golden = json.loads(GOLDEN.read_text())
    report = run_suites(SUITES, seed=golden["seed"])
    measured = json.loads(json.dumps(report.to_json()))
    golden_rows = [r for r in _rows(golden)]
    got = [r for r in _rows(measured) if (r[0], r[1], r[2]) in
           {(g[0], g[1], g[2]) for g in golden_rows}]
    assert got == golden_rows
    assert measured["paper"] == golden["paper"]
