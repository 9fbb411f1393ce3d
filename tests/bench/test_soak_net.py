"""The network soak, short and with a fixed seed (python -m exolab.bench.soak_net: 100,000)."""
from __future__ import annotations

import pytest

from exolab.bench.soak_net import hostile_frames, soak


@pytest.mark.parametrize("kernel", ["monolithic", "exokernel"])
def test_hostile_frames_leave_the_exchange_intact_and_the_counters_exact(kernel) -> None:
    r = soak(kernel, frames=400, datagrams=10, seed=3)
    assert r.ok, r.problems
    assert r.datagrams >= 10 and r.delivered == r.expected
    assert sum(r.expected.values()) > 0            # some hostile frames were valid
    if kernel == "monolithic":
        assert sum(r.drops.values()) > 200         # most were dropped, by reason


def test_the_hostile_frames_are_deterministic() -> None:
    assert hostile_frames(5, 50) == hostile_frames(5, 50)
    assert hostile_frames(5, 50) != hostile_frames(6, 50)
