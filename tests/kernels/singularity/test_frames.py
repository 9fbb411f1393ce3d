"""Tests of the kernel's frame pool (kernels/singularity/frames.py): any frames and
contiguous runs, against a model that keeps the set of free frames."""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.singularity.frames import FramePool


def test_a_run_comes_from_the_freed_frames_when_they_hold_one() -> None:
    p = FramePool(10, 20)
    a = p.take_run(3)
    assert a == [10, 11, 12] and p.in_use() == 3
    p.give(a)
    assert p.take_run(3) == [10, 11, 12]            # the freed frames form the run
    p.give([12, 10])
    assert p.take_run(2) == [12, 13]                # 12 joins the fresh ones to a run
    assert p.take(2) == [10, 14] and p.left() == 5  # the freed first
    with pytest.raises(SyscallError) as ex:
        p.take_run(6)
    assert ex.value.errno == "ENOMEM" and p.left() == 5


def test_every_other_frame_freed_then_the_rest_gives_runs_again() -> None:
    """Regression (probe p5): map two pages, give the first back, for ever: every
    frame free in the end, and a run of any length obtainable from them."""
    p = FramePool(0, 64)
    kept = []
    while True:
        try:
            a, b = p.take_run(2)
        except SyscallError:
            break
        p.give([a])
        kept.append(b)
    assert p.left() == 32 and len(kept) == 32
    with pytest.raises(SyscallError):
        p.take_run(2)                               # honest: no run of 2 is free
    p.give(kept)
    assert p.left() == 64 and p.take_run(64) == list(range(64))


def test_a_run_may_join_freed_frames_to_the_fresh_ones() -> None:
    p = FramePool(0, 8)
    p.take_run(4)
    p.give([2, 3])
    assert p.take_run(5) == [2, 3, 4, 5, 6]


def test_giving_a_frame_twice_or_one_never_taken_panics() -> None:
    """Checked where it is cheap: a run's ends and the frames never taken."""
    p = FramePool(0, 8)
    a = p.take_run(3)
    p.give(a)
    for bad in ([0], [2], [5], [7]):
        with pytest.raises(KernelPanic):
            p.give(bad)


def test_a_reservation_is_kept_from_others_and_drawn_on_by_its_holder() -> None:
    p = FramePool(0, 4)
    p.reserve(1)
    assert p.left() == 3
    p.take(3)
    with pytest.raises(SyscallError):
        p.take(1)
    (f,) = p.take(1, reserved=True)
    p.give([f], reserved=True)
    assert p.reserved() == 1 and p.left() == 0
    p.unreserve(1)
    assert p.left() == 1


def test_stale_entries_do_not_grow_with_the_work() -> None:
    p = FramePool(0, 64)
    held = p.take(64)
    for i in range(10_000):                         # free and retake, in two runs
        p.give(held[i % 8 * 8:i % 8 * 8 + 8])
        held[i % 8 * 8:i % 8 * 8 + 8] = p.take_run(8)
    assert len(p._recent) <= 2 * len(p._runs) + 16 + 1
    assert len(p._sizes) <= 2 * len(p._runs) + 16 + 1


def _has_run(free: set[int], n: int) -> bool:
    """Whether ``free`` holds ``n`` consecutive frames."""
    return any(all(f + i in free for i in range(n)) for f in free)


class FramesAgainstASet(RuleBasedStateMachine):
    """take, take_run, give, reserve agree with a set of free frames: no frame handed
    out twice, a take fails only when too few are free, a run only when none is."""

    @initialize(first=st.integers(0, 8), n=st.integers(1, 24))
    def start(self, first: int, n: int) -> None:
        self.pool = FramePool(first, first + n)
        self.free = set(range(first, first + n))
        self.held: list[int] = []
        self.reserved = 0

    def _check_taken(self, got: list[int], n: int) -> None:
        assert len(got) == n and len(set(got)) == n and set(got) <= self.free
        self.free -= set(got)
        self.held += got

    @rule(n=st.integers(1, 8))
    def take(self, n: int) -> None:
        if len(self.free) - self.reserved < n:
            with pytest.raises(SyscallError):
                self.pool.take(n)
            return
        self._check_taken(self.pool.take(n), n)

    @rule(n=st.integers(1, 8))
    def take_run(self, n: int) -> None:
        if len(self.free) - self.reserved < n or not _has_run(self.free, n):
            with pytest.raises(SyscallError):
                self.pool.take_run(n)
            return
        got = self.pool.take_run(n)
        assert got == list(range(got[0], got[0] + n))
        self._check_taken(got, n)

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def give(self, data: st.DataObject) -> None:
        k = data.draw(st.integers(1, len(self.held)))
        idx = set(data.draw(st.permutations(range(len(self.held))))[:k])
        back = [self.held[i] for i in sorted(idx)]
        if data.draw(st.booleans()):
            back.reverse()
        self.held = [x for i, x in enumerate(self.held) if i not in idx]
        self.pool.give(back)
        self.free |= set(back)

    @rule(n=st.integers(1, 3))
    def reserve(self, n: int) -> None:
        if len(self.free) - self.reserved < n:
            with pytest.raises(SyscallError):
                self.pool.reserve(n)
            return
        self.pool.reserve(n)
        self.reserved += n

    @precondition(lambda self: self.reserved > 0)
    @rule()
    def unreserve(self) -> None:
        self.pool.unreserve(1)
        self.reserved -= 1

    @invariant()
    def counts_agree(self) -> None:
        if hasattr(self, "pool"):
            assert self.pool.left() == len(self.free) - self.reserved
            assert self.pool.in_use() == len(self.held)


TestFramesAgainstASet = FramesAgainstASet.TestCase
TestFramesAgainstASet.settings = settings(max_examples=200, stateful_step_count=50,
                                          deadline=None)
