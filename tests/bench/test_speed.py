"""Suite `speed`: every benchmark runs, counts what it claims, and reports events/s."""
from __future__ import annotations

import pytest

from exolab.bench import run_suites
from exolab.bench.scale import CHURN_NEEDS
from exolab.bench.speed import CASES, RATIO_GOALS, TARGETS, case_kernels, measure
from exolab.kernels import declaration, kernel_names

NAMES = ["trap", "tlb_hit_load", "tlb_miss_refill", "context_switch", "disk_read",
         "syscall", "pipe_round_trip", "process_yield", "stlb_refill", "pct_round_trip"]
ALL = ("none", *kernel_names())


@pytest.fixture(scope="module")
def report():
    return run_suites(["speed"], "dec5000", seed=0, quick=True)


def test_quick_speed_rows(report) -> None:
    rows = [r for r in report.results if r.unit == "events/s"]
    assert list(dict.fromkeys(r.benchmark for r in rows)) == NAMES
    for case in CASES:
        kernels = [r.kernel for r in rows if r.benchmark == case.name]
        assert kernels == list(case_kernels(case, ALL)) and kernels
    for r in rows:
        assert r.suite == "speed" and isinstance(r.value, float) and r.value > 0


def test_speed_keeps_no_kernel_list() -> None:
    """ABI cases run on every registered kernel whose declaration provides them."""
    by_name = {c.name: c for c in CASES}
    assert case_kernels(by_name["syscall"], ALL) == tuple(kernel_names())
    assert case_kernels(by_name["pct_round_trip"], ALL) == tuple(
        k for k in kernel_names() if declaration(k).provides({"pct_call"}))
    assert case_kernels(by_name["trap"], ALL) == ("none",)


def test_targets_are_notes(report) -> None:
    for (name, _kernel), target in TARGETS.items():
        note = report.notes[("speed", name)]
        assert f"{target:,.0f}" in note and ("met" in note or "BELOW" in note)


def test_ratio_goals_are_notes(report) -> None:
    """The exokernel's yield is compared with the monolithic switch, in the note."""
    for name, kernel, base, most in RATIO_GOALS:
        note = report.notes[("speed", name)]
        assert f"{kernel} / {base} host time" in note and f"at most {most:g}x" in note
        assert "met" in note or "ABOVE" in note
    assert case_kernels(next(c for c in CASES if c.name == "process_yield"), ALL) == \
        tuple(kernel_names())


def test_scale_rows_on_every_kernel(report) -> None:
    """fork/destroy/wait at two levels (a kernel that cannot reach one: a note), boot
    allocation at two sizes, and memory over many runs, for every kernel."""
    rows = {(r.benchmark, r.kernel): r for r in report.results}
    for kernel in kernel_names():
        if not declaration(kernel).provides(CHURN_NEEDS):      # a note says why
            assert ("fork @10 live", kernel) not in rows
            assert f"{kernel}: declares fork refused" in report.notes[("speed", "fork @100 live")]
        else:
            assert rows[("fork @10 live", kernel)].unit == "us"
        assert rows[("boot alloc @1k frames", kernel)].value > 0
        assert rows[("boot alloc @16k frames", kernel)].unit == "KiB"
        assert ("run leak over 20 runs", kernel) in rows
        high = ("fork @100 live", kernel)
        if not declaration(kernel).provides(CHURN_NEEDS):
            continue
        if high in rows:
            assert rows[("fork growth 10->100", kernel)].unit == "x"
        else:
            assert kernel in report.notes[("speed", "fork @100 live")]


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


def test_kernel_cases_count_their_events() -> None:
    stlb, pct = (next(c for c in CASES if c.name == name)
                 for name in ("stlb_refill", "pct_round_trip"))
    for kernel in case_kernels(stlb, ALL):
        events, secs = stlb.run_on(kernel, "dec5000", 0, 512)
        more, _ = stlb.run_on(kernel, "dec5000", 0, 1024)
        # each further round-robin load misses (4x the TLB's 64 entries) ...
        assert 0.95 * 512 <= more - events <= 512 and secs > 0
        # ... plus the first touches where the kernel refills them itself (with a
        # user-level pager, l4, each first touch is also a fault IPC's few misses),
        # plus the system's own
        assert 512 <= events <= 512 + 4 * 64 * 4 + 64
    for kernel in case_kernels(pct, ALL):
        events, secs = pct.run_on(kernel, "dec5000", 0, 100)
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


def test_a_speed_program_that_faults_is_an_error_not_a_figure() -> None:
    """A run that stopped early (here: a refused call) must not print as a rate."""
    import exolab.bench.speed as speed
    from exolab.errors import ConfigError

    def refuses(os, n) -> None:
        os.fork(refuses, n)

    def faults(os, n) -> None:
        os.load(0x10)

    for kernel in kernel_names():
        with pytest.raises(ConfigError, match="faulted"):
            speed._on_kernel(kernel, "dec5000", 0, faults, 1)
    for kernel in kernel_names():
        if "fork" in declaration(kernel).refuses:
            with pytest.raises(ConfigError, match="faulted"):
                speed._on_kernel(kernel, "dec5000", 0, refuses, 1)
