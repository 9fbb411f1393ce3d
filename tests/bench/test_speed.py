"""Suite `speed`: every benchmark runs, counts what it claims, and reports events/s."""
from __future__ import annotations

import pytest

from exolab.bench import run_suites
from exolab.bench.speed import CASES, TARGETS, measure

NAMES = ["trap", "tlb_hit_load", "tlb_miss_refill", "context_switch", "disk_read",
         "syscall", "pipe_round_trip", "stlb_refill", "pct_round_trip"]
KERNEL_OF = {c.name: c.kernel for c in CASES}


@pytest.fixture(scope="module")
def report():
    return run_suites(["speed"], "dec5000", seed=0, quick=True)


def test_quick_speed_rows(report) -> None:
    rows = {r.benchmark: r for r in report.results}
    assert list(rows) == NAMES
    for r in rows.values():
        assert (r.suite, r.kernel, r.unit) == ("speed", KERNEL_OF[r.benchmark], "events/s")
        assert isinstance(r.value, float) and r.value > 0


def test_targets_are_notes(report) -> None:
    for name, target in TARGETS.items():
        note = report.notes[("speed", name)]
        assert f"{target:,.0f}" in note and ("met" in note or "BELOW" in note)


@pytest.mark.parametrize("case", CASES[:4], ids=lambda c: c.name)
def test_cases_count_their_events(case) -> None:
    n = 512
    events, secs = case.run("dec5000", 0, n)
    assert secs > 0
    if case.name in ("trap", "tlb_hit_load"):
        assert events == n
    elif case.name == "context_switch":
        assert n <= events <= n + 4          # plus the first dispatches and the exits
    else:                                    # 4x the TLB: nearly every load misses
        assert 0.9 * n <= events <= n


def test_exokernel_cases_count_their_events() -> None:
    stlb, pct = (next(c for c in CASES if c.name == name)
                 for name in ("stlb_refill", "pct_round_trip"))
    assert (stlb.kernel, pct.kernel) == ("exokernel", "exokernel")
    events, secs = stlb.run("dec5000", 0, 512)
    assert 512 <= events <= 512 + 64 and secs > 0   # every round-robin load, plus ExOS's own
    events, secs = pct.run("dec5000", 0, 100)
    assert events == 100 and secs > 0


def test_disk_read_counts_completions() -> None:
    case = next(c for c in CASES if c.name == "disk_read")
    events, secs = case.run("dec5000", 0, 20)
    assert events == 20 and secs > 0


def test_measure_is_best_of_repeats(monkeypatch) -> None:
    import exolab.bench.speed as speed
    timings = iter([(100, 1.0), (100, 0.5), (100, 2.0)])
    fake = speed.SpeedCase("fake", 10, 1, lambda p, s, n: next(timings))
    assert measure(fake, "dec5000", 0, quick=True) == 200.0


def test_same_seed_same_simulation() -> None:
    """The host timing varies; the simulated work does not."""
    for case in CASES[:4]:
        assert case.run("dec5000", 3, 200)[0] == case.run("dec5000", 3, 200)[0]
