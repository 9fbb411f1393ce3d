"""Tests of the lazy number pool (kernels/l4/pool.py): it hands out exactly the
sequence the eager ``list(range(end - 1, first - 1, -1))`` stack did."""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from exolab.errors import KernelPanic
from exolab.kernels.l4.pool import Pool


def test_lowest_first_then_last_returned_first() -> None:
    p = Pool(16, 20)
    assert (len(p), p.total) == (4, 4)
    assert [p.take(), p.take()] == [16, 17]
    p.give(16)
    p.give_all((17,))
    assert [p.take(), p.take(), p.take()] == [17, 16, 18]
    assert p.take() == 19 and not p and len(p) == 0
    with pytest.raises(KernelPanic):
        p.take()


def test_a_huge_pool_costs_nothing_per_number() -> None:
    import tracemalloc
    tracemalloc.start()
    try:
        p = Pool(0, 1 << 30)
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert size < 4096 and len(p) == 1 << 30 and p.take() == 0


class PoolAgainstTheEagerStack(RuleBasedStateMachine):
    """Every take, give and length agrees with the list the pool replaced."""

    @initialize(first=st.integers(0, 5), n=st.integers(1, 12))
    def start(self, first: int, n: int) -> None:
        self.pool = Pool(first, first + n)
        self.model = list(range(first + n - 1, first - 1, -1))
        self.held: list[int] = []

    @precondition(lambda self: bool(self.model))
    @rule()
    def take(self) -> None:
        got = self.pool.take()
        assert got == self.model.pop()
        self.held.append(got)

    @precondition(lambda self: bool(self.held))
    @rule(i=st.integers(0, 100))
    def give(self, i: int) -> None:
        n = self.held.pop(i % len(self.held))
        self.pool.give(n)
        self.model.append(n)

    @precondition(lambda self: bool(self.held))
    @rule(k=st.integers(1, 4))
    def give_all(self, k: int) -> None:
        back, self.held = self.held[-k:], self.held[:-k]
        self.pool.give_all(back)
        self.model.extend(back)

    @invariant()
    def counts_agree(self) -> None:
        if hasattr(self, "pool"):
            assert len(self.pool) == len(self.model)
            assert bool(self.pool) == bool(self.model)


TestPoolAgainstTheEagerStack = PoolAgainstTheEagerStack.TestCase
TestPoolAgainstTheEagerStack.settings = settings(max_examples=60, stateful_step_count=40,
                                                 deadline=None)
