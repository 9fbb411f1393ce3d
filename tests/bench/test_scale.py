"""bench/scale.py: the churn harness (one process, and paired processes)."""
from __future__ import annotations

from exolab.bench import scale


def test_run_churn_takes_a_turn_before_every_batch() -> None:
    turns: list[int] = []
    got = scale._run_churn("monolithic", "dec5000", 0, 5, 25, lambda: turns.append(1), 10)
    assert type(got) is list and len(got) == 25
    assert len(turns) == 3                          # before rounds 0, 10 and 20
    assert all(len(t) == 3 and min(t) >= 0 for t in got)


def test_churn_is_medians_of_fork_destroy_wait() -> None:
    fork, destroy, wait = scale.churn("monolithic", "dec5000", 0, 5, 20)
    assert 0 < fork and 0 < wait <= destroy


def test_paired_churn_measures_every_level_in_its_own_process() -> None:
    low, high = scale.paired_churn("monolithic", "dec5000", 0, (3, 30), 12)
    assert type(low) is tuple and type(high) is tuple
    assert all(x > 0 for x in low + high)


def test_a_failing_measuring_process_is_a_reason_not_a_crash() -> None:
    got = scale.paired_churn("no-such-kernel", "dec5000", 0, (3,), 4)
    assert type(got[0]) is str and "failed" in got[0]
