"""The software TLB: direct-mapped, never returns another page's binding."""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.errors import ConfigError
from exolab.kernels.exokernel.stlb import STLB, STLB_ENTRIES
from exolab.machine.tlb import TLBEntry


def test_paper_size_and_basic_ops() -> None:
    s = STLB()
    assert s.size == STLB_ENTRIES == 4096
    e = TLBEntry(0x123, 5, 0x99)
    assert s.lookup(5, 0x123) is None
    s.insert(e)
    assert s.lookup(5, 0x123) is e and s.lookup(6, 0x123) is None
    assert s.invalidate(5, 0x123) and not s.invalidate(5, 0x123)
    assert s.lookup(5, 0x123) is None
    st_ = s.statistics()
    assert (st_.hits, st_.misses, st_.inserts, st_.invalidations) == (1, 3, 1, 1)


def test_conflicts_evict_and_flush_asid() -> None:
    s = STLB(8)
    a, b = TLBEntry(1, 0, 10), TLBEntry(9, 0, 11)   # same slot in an 8-entry STLB
    assert s.index(0, 1) == s.index(0, 9)
    s.insert(a)
    s.insert(b)
    assert s.lookup(0, 1) is None and s.lookup(0, 9) is b
    assert s.statistics().evictions == 1
    s.insert(TLBEntry(2, 3, 12))
    assert s.flush_asid(3) == 1 and s.occupancy() == 1
    with pytest.raises(ConfigError):
        STLB(100)


class STLBMachine(RuleBasedStateMachine):
    """Model: the last insert per (asid, vpn), minus invalidations."""

    def __init__(self) -> None:
        super().__init__()
        self.s = STLB(16)
        self.model: dict[tuple[int, int], int] = {}

    @rule(asid=st.integers(0, 3), vpn=st.integers(0, 40), ppn=st.integers(0, 1000))
    def insert(self, asid: int, vpn: int, ppn: int) -> None:
        self.s.insert(TLBEntry(vpn, asid, ppn))
        self.model[(asid, vpn)] = ppn

    @rule(asid=st.integers(0, 3), vpn=st.integers(0, 40))
    def invalidate(self, asid: int, vpn: int) -> None:
        self.s.invalidate(asid, vpn)
        self.model.pop((asid, vpn), None)

    @rule(asid=st.integers(0, 3))
    def flush(self, asid: int) -> None:
        self.s.flush_asid(asid)
        self.model = {k: v for k, v in self.model.items() if k[0] != asid}

    @rule(asid=st.integers(0, 3), vpn=st.integers(0, 40))
    def lookup(self, asid: int, vpn: int) -> None:
        e = self.s.lookup(asid, vpn)
        if e is not None:               # a hit is always the right translation
            assert (e.asid, e.vpn) == (asid, vpn)
            assert self.model.get((asid, vpn)) == e.ppn

    @invariant()
    def occupancy_bounded(self) -> None:
        assert self.s.occupancy() <= min(16, len(self.model))


TestSTLBMachine = STLBMachine.TestCase
TestSTLBMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
