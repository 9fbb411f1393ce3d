"""Tests of the lazy number pool (kernels/common/numpool.py): it hands out exactly the
sequence the eager ``list(range(end - 1, first - 1, -1))`` stack did, one at a time,
several at a time, or the lowest untouched ones."""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from exolab.errors import KernelPanic
from exolab.kernels.common.numpool import NumberPool


def test_lowest_first_then_last_returned_first() -> None:
    p = NumberPool(16, 20)
    assert (len(p), p.total) == (4, 4)
    assert [p.take(), p.take()] == [16, 17]
    p.give(16)
    p.give_all((17,))
    assert (p.returned(), p.fresh(), p.in_use()) == (2, 2, 0)
    assert [p.take(), p.take(), p.take()] == [17, 16, 18]
    assert p.take() == 19 and not p and len(p) == 0 and p.in_use() == 4
    with pytest.raises(KernelPanic):
        p.take()


def test_many_and_fresh_take_nothing_when_short() -> None:
    p = NumberPool(0, 4)
    p.give_all(p.take_many(2))                  # [0, 1] back: 1 is taken first
    with pytest.raises(KernelPanic):
        p.take_many(5)
    with pytest.raises(KernelPanic):
        p.take_fresh(3)
    assert (len(p), p.returned(), p.fresh()) == (4, 2, 2)
    assert p.take_fresh(2) == [2, 3] and p.take_many(2) == [1, 0] and not p


def test_a_huge_pool_costs_nothing_per_number() -> None:
    import tracemalloc
    tracemalloc.start()
    try:
        p = NumberPool(0, 1 << 30)
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert size < 4096 and len(p) == 1 << 30 and p.take() == 0


class PoolAgainstTheEagerStack(RuleBasedStateMachine):
    """Every take, give and count agrees with the list the pool replaced (the
    returned numbers on top of the untouched ones, lowest last)."""

    @initialize(first=st.integers(0, 5), n=st.integers(1, 12))
    def start(self, first: int, n: int) -> None:
        self.pool = NumberPool(first, first + n)
        self.back: list[int] = []                           # model: returned, stack
        self.fresh = list(range(first + n - 1, first - 1, -1))  # model: untouched
        self.held: list[int] = []

    def _pop(self) -> int:
        return self.back.pop() if self.back else self.fresh.pop()

    @precondition(lambda self: bool(self.back or self.fresh))
    @rule()
    def take(self) -> None:
        got = self.pool.take()
        assert got == self._pop()
        self.held.append(got)

    @rule(k=st.integers(0, 6))
    def take_many(self, k: int) -> None:
        if k > len(self.back) + len(self.fresh):
            with pytest.raises(KernelPanic):
                self.pool.take_many(k)
            return
        got = self.pool.take_many(k)
        assert got == [self._pop() for _ in range(k)]
        self.held += got

    @rule(k=st.integers(0, 6))
    def take_fresh(self, k: int) -> None:
        if k > len(self.fresh):
            with pytest.raises(KernelPanic):
                self.pool.take_fresh(k)
            return
        got = self.pool.take_fresh(k)
        assert got == [self.fresh.pop() for _ in range(k)]
        self.held += got

    @precondition(lambda self: bool(self.held))
    @rule(i=st.integers(0, 100))
    def give(self, i: int) -> None:
        n = self.held.pop(i % len(self.held))
        self.pool.give(n)
        self.back.append(n)

    @precondition(lambda self: bool(self.held))
    @rule(k=st.integers(1, 4))
    def give_all(self, k: int) -> None:
        back, self.held = self.held[-k:], self.held[:-k]
        self.pool.give_all(back)
        self.back.extend(back)

    @invariant()
    def counts_agree(self) -> None:
        if hasattr(self, "pool"):
            p = self.pool
            assert len(p) == len(self.back) + len(self.fresh)
            assert bool(p) == bool(self.back or self.fresh)
            assert (p.returned(), p.fresh()) == (len(self.back), len(self.fresh))
            assert p.in_use() == len(self.held)


TestPoolAgainstTheEagerStack = PoolAgainstTheEagerStack.TestCase
TestPoolAgainstTheEagerStack.settings = settings(max_examples=60, stateful_step_count=40,
                                                 deadline=None)
