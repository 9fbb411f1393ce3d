"""A hypothesis state machine over ASIDs recycled by generation (common/asids.py).

Model: holders are created, run (``of``: they need their ASID) and die
(``release``, on a table that recycles). Invariants: the holders tagged in the
current generation carry distinct ASIDs in 1..limit; a rollover happens only
when a holder needed an ASID and none was free, and then every other holder is
stale until it runs again.
"""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import ConfigError
from exolab.kernels.common.asids import Asids

LIMIT = 4


class Holder:
    """Something that carries an ASID (an address space, an environment)."""

    def __init__(self) -> None:
        self.asid = 0
        self.asid_gen = -1


class AsidModel(RuleBasedStateMachine):
    """Random new / run / release against a count of what is tagged."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0
        self.assigned: list[Holder] = []
        self.t = Asids(LIMIT, self._flush, self.assigned.append)
        self.live: list[Holder] = []

    def _flush(self) -> None:
        self.flushes += 1

    def _tagged(self) -> list[Holder]:
        return [h for h in self.live if h.asid_gen == self.t.gen]

    @rule()
    def new(self) -> None:
        h = Holder()
        full = len(self._tagged()) >= LIMIT
        assert self.t.take(h) is not full
        self.live.append(h)

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 50))
    def run(self, i: int) -> None:
        h = self.live[i % len(self.live)]
        fresh = h.asid_gen == self.t.gen
        full = len(self._tagged()) >= LIMIT
        gen, flushes = self.t.gen, self.flushes
        asid = self.t.of(h)
        assert 1 <= asid <= LIMIT and h.asid_gen == self.t.gen
        rolled = not fresh and full
        assert (self.t.gen, self.flushes) == ((gen + 1, flushes + 1) if rolled
                                              else (gen, flushes))
        if rolled:
            assert self._tagged() == [h]        # everyone else takes a new one later

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 50))
    def release(self, i: int) -> None:
        h = self.live.pop(i % len(self.live))
        self.t.release(h)
        assert h.asid_gen != self.t.gen         # (its ASID, if current, is free)

    @invariant()
    def tagged_are_distinct(self) -> None:
        asids = [h.asid for h in self._tagged()]
        assert len(set(asids)) == len(asids) and all(1 <= a <= LIMIT for a in asids)
        st_ = self.t.statistics()
        assert st_.rollovers == self.flushes == st_.generation
        assert st_.free == LIMIT - len(self._tagged())

    @invariant()
    def every_assignment_is_told(self) -> None:
        assert all(h.asid_gen == -1 or h in self.assigned for h in self.live)


TestAsids = AsidModel.TestCase
TestAsids.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_a_table_never_released_rolls_over_every_limit_spaces() -> None:
    flushes: list[int] = []
    t = Asids(3, lambda: flushes.append(1))
    spaces = [Holder() for _ in range(7)]
    got = [t.of(s) for s in spaces]
    assert got == [1, 2, 3, 1, 2, 3, 1] and len(flushes) == 2


def test_released_asids_are_reused_last_freed_first() -> None:
    t = Asids(3, lambda: None)
    a, b, c = Holder(), Holder(), Holder()
    for h in (a, b, c):
        t.of(h)
    t.release(a)
    t.release(c)
    d = Holder()
    assert t.of(d) == 3 and t.statistics().rollovers == 0


@pytest.mark.parametrize("limit", [0, -1, 2.0, True])
def test_an_empty_table_is_refused(limit) -> None:
    with pytest.raises(ConfigError):
        Asids(limit, lambda: None)
