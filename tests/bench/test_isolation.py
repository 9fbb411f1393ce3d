"""Suite ``isolation``: the Fig 5 slowdowns and the HIP-R3 rows, with their figures."""
from __future__ import annotations

from exolab.bench import run_suites
from exolab.bench.isolation import BENCHMARKS
from exolab.bench.papers import fidelity, figures


def test_the_suite_reports_every_row_against_its_figure() -> None:
    rep = run_suites(["isolation"], quick=True)
    got = {r.benchmark: r for r in rep.results if r.suite == "isolation"}
    assert list(got) == list(BENCHMARKS)
    assert {r.kernel for r in got.values()} == {"singularity"}
    assert {b for b in got if got[b].unit == "%"} == {b for b in BENCHMARKS
                                                      if b.startswith("fig5_")}
    comps = {c.benchmark: c for c in fidelity(rep, "isolation")}
    assert all(comps[b].paper is not None and not comps[b].calibrated for b in BENCHMARKS)
    fig5 = [got[f"fig5_{c}"].value for c in ("paging", "domain", "ring3", "hip")]
    assert fig5 == sorted(fig5) and fig5[0] > 0
    for b in BENCHMARKS:
        note = rep.notes[("isolation", b)]
        assert note.startswith("ok" if 1 / 1.5 <= comps[b].deviation <= 1.5 else "OFF")
    for b in ("hip_api_call", "hip_thread_yield", "hip_ping_pong", "hip_process_creation"):
        assert rep.notes[("isolation", b)].startswith("ok"), b


def test_the_figures_are_not_duplicated() -> None:
    keys = [(f.suite, f.benchmark, f.system) for f in figures()]
    assert len(keys) == len(set(keys))
    assert {f.benchmark for f in figures("isolation")} == set(BENCHMARKS)
