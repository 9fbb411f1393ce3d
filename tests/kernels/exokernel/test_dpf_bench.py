"""Table 7 from the classifiers' structure: DPF vs MPF and PATHFINDER, 10 and 1,000 filters."""
from __future__ import annotations

from exolab.bench import papers
from exolab.bench.classify import classification_rows, classify_cost
from exolab.bench.registry import SuiteContext
from exolab.bench.report import ratio_verdict


def test_table7_rows_are_near_the_paper_and_the_ratios_within_1_5x() -> None:
    rows, notes = classification_rows(SuiteContext("net", "dec5000", 0, ("exokernel",), True))
    got = {r.benchmark: r for r in rows}
    assert all(r.suite == "net" and r.kernel == "exokernel" for r in rows)
    paper = {f.benchmark: f.value for f in papers.figures("net")
             if f.system in ("DPF", "MPF", "PATHFINDER")}
    assert set(paper) <= set(got)
    for bench in ("mpf/dpf", "pathfinder/dpf"):
        assert ratio_verdict(got[bench].value, paper[bench]) == "ok", (bench, got[bench])
    assert 1.0 <= got["classify-dpf"].value <= 2.25            # 1.5 us within 1.5x
    assert got["growth-dpf"].value == 1.0                       # flat from 10 to 1,000
    assert got["growth-mpf"].value > 50 and got["growth-pathfinder"].value > 50
    assert "growth-dpf" in notes


def test_costs_come_from_the_structure() -> None:
    assert classify_cost("dpf", 10) == classify_cost("dpf", 100, 7)
    assert classify_cost("mpf", 20) > 1.8 * classify_cost("mpf", 10)
    # other profiles scale by their instruction cost; the instruction count is fixed
    assert classify_cost("dpf", 10, profile="athlon64") > 0
