"""Tests of the kernel's frame pool (kernels/singularity/frames.py): any frames and
contiguous runs, against a model that keeps every free frame in plain lists."""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from exolab.errors import SyscallError
from exolab.kernels.singularity.frames import FramePool


def test_a_run_comes_from_freed_frames_only_when_they_are_one() -> None:
    p = FramePool(10, 20)
    a = p.take_run(3)
    assert a == [10, 11, 12] and p.in_use() == 3
    p.give(a)
    assert p.take_run(3) == [10, 11, 12]            # the freed frames form the run
    p.give([12, 10])
    assert p.take_run(2) == [13, 14]                # 10 and 12 are no run: fresh ones
    assert p.take(2) == [12, 10] and p.left() == 5  # (the freed kept, sorted, last first)
    with pytest.raises(SyscallError) as ex:
        p.take_run(6)
    assert ex.value.errno == "ENOMEM" and p.left() == 5


class FramesAgainstLists(RuleBasedStateMachine):
    """take, take_run, give, left and in_use agree with the list model."""

    @initialize(first=st.integers(0, 8), n=st.integers(1, 16))
    def start(self, first: int, n: int) -> None:
        self.pool = FramePool(first, first + n)
        self.free: list[int] = []                   # model: freed, last freed on top
        self.next, self.end, self.first = first, first + n, first
        self.held: list[int] = []

    def _left(self) -> int:
        return len(self.free) + self.end - self.next

    @rule(n=st.integers(1, 6))
    def take(self, n: int) -> None:
        if self._left() < n:
            with pytest.raises(SyscallError):
                self.pool.take(n)
            return
        want = [self.free.pop() for _ in range(min(n, len(self.free)))]
        fresh = n - len(want)
        want += range(self.next, self.next + fresh)
        self.next += fresh
        assert self.pool.take(n) == want
        self.held += want

    @rule(n=st.integers(1, 6))
    def take_run(self, n: int) -> None:
        want = None
        if len(self.free) >= n:
            got = sorted(self.free.pop() for _ in range(n))
            if got[-1] - got[0] == n - 1:
                want = got
            else:
                self.free.extend(got)
        if want is None:
            if self.end - self.next < n:
                with pytest.raises(SyscallError):
                    self.pool.take_run(n)
                return
            want = list(range(self.next, self.next + n))
            self.next += n
        assert self.pool.take_run(n) == want
        self.held += want

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def give(self, data: st.DataObject) -> None:
        k = data.draw(st.integers(1, len(self.held)))
        idx = data.draw(st.permutations(range(len(self.held))))[:k]
        back = [self.held[i] for i in idx]
        self.held = [x for i, x in enumerate(self.held) if i not in set(idx)]
        self.pool.give(back)
        self.free.extend(back)

    @invariant()
    def counts_agree(self) -> None:
        if hasattr(self, "pool"):
            assert self.pool.left() == self._left()
            assert self.pool.in_use() == self.next - self.first - len(self.free)


TestFramesAgainstLists = FramesAgainstLists.TestCase
TestFramesAgainstLists.settings = settings(max_examples=60, stateful_step_count=40,
                                           deadline=None)
