"""Tests of exolab.machine.cache: hits, misses, LRU and eviction against a reference
model; write-through without allocation; the profile option and the copy hook."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.errors import ConfigError
from exolab.machine import Machine
from exolab.machine.cache import Cache
from exolab.machine.costs import CacheModel, get_profile

I486 = get_profile("i486").cache


def _small(ways: int = 2, sets: int = 4, line: int = 16) -> Cache:
    return Cache(CacheModel(size=ways * sets * line, ways=ways, line=line, line_fill=5))


class _Reference:
    """The obvious model: per set, an access-ordered list of the lines it holds."""

    def __init__(self, ways: int, sets: int, line: int) -> None:
        self.ways, self.sets, self.line = ways, sets, line
        self.order: dict[int, list[int]] = {s: [] for s in range(sets)}

    def read(self, addr: int) -> bool:
        ln = addr // self.line
        s = self.order[ln % self.sets]
        hit = ln in s
        if hit:
            s.remove(ln)
        elif len(s) == self.ways:
            s.pop(0)
        s.append(ln)
        return hit

    def write(self, addr: int) -> bool:
        ln = addr // self.line
        s = self.order[ln % self.sets]
        if ln in s:
            s.remove(ln)
            s.append(ln)
            return True
        return False


# -- geometry ----------------------------------------------------------------------

def test_the_i486_cache_is_8_kb_4_way_with_16_byte_lines() -> None:
    c = Cache(I486)
    assert (c.size, c.ways, c.line, c.nsets) == (8192, 4, 16, 128)
    assert I486.sources["line_fill"] and I486.line_fill > 0


@pytest.mark.parametrize("size,ways,line", [(100, 4, 16), (8192, 4, 12), (8192, 0, 16),
                                            (6 * 16 * 4, 4, 16)])
def test_a_bad_geometry_is_refused(size: int, ways: int, line: int) -> None:
    with pytest.raises(ConfigError):
        Cache(CacheModel(size=size, ways=ways, line=line, line_fill=1))


# -- behaviour -------------------------------------------------------------------------

def test_a_read_fills_and_a_second_read_hits() -> None:
    c = _small()
    assert c.read(0x100, 4) == 1
    assert c.read(0x104, 4) == 0
    assert c.holds(0x10F) and not c.holds(0x110)
    assert c.read(0x10C, 8) == 1            # straddles into the next line


def test_writes_never_allocate_but_refresh_what_is_there() -> None:
    c = _small(ways=2, sets=1)
    assert c.write(0x0, 16) == 1 and not c.holds(0x0)      # write-through, no allocate
    c.read(0x00, 1)
    c.read(0x10, 1)                         # set full: 0x00 is the older
    c.write(0x00, 4)                        # a write hit makes it the younger
    c.read(0x20, 1)                         # evicts 0x10, not 0x00
    assert c.holds(0x00) and not c.holds(0x10) and c.holds(0x20)


def test_lru_evicts_the_least_recently_used_way() -> None:
    c = _small(ways=4, sets=1)
    for a in (0x00, 0x10, 0x20, 0x30):
        c.read(a, 1)
    c.read(0x00, 1)                         # 0x10 is now the oldest
    assert c.read(0x40, 1) == 1
    assert not c.holds(0x10) and all(c.holds(a) for a in (0x00, 0x20, 0x30, 0x40))
    assert c.statistics().evictions == 1


def test_a_copy_reads_the_source_and_does_not_fill_the_destination() -> None:
    c = Cache(I486)
    assert c.copy(0x10000, 0x20000, 4096) == 256
    assert c.holds(0x20000) and not c.holds(0x10000)
    assert c.copy(0x10000, 0x20000, 4096) == 0          # 4 KB fits in 8 KB
    assert c.copy(0x30000, 0x10000, 4096) == 256        # the kmsg case: written, not cached


def test_a_sweep_bigger_than_the_cache_misses_every_line_every_time() -> None:
    c = Cache(I486)
    c.read(0, 16384)
    assert c.read(0, 16384) == 1024         # LRU over a sequential sweep: all misses


def test_flush_forgets_everything() -> None:
    c = _small()
    c.read(0, 64)
    assert c.flush() == 4 and c.read(0, 64) == 4


class CacheMachine(RuleBasedStateMachine):
    """Random reads and writes agree, hit for hit, with the reference model."""

    WAYS, SETS, LINE = 2, 4, 16

    def __init__(self) -> None:
        super().__init__()
        self.cache = _small(self.WAYS, self.SETS, self.LINE)
        self.ref = _Reference(self.WAYS, self.SETS, self.LINE)
        self.fills = 0

    @rule(line=st.integers(0, 23), off=st.integers(0, 15))
    def read(self, line: int, off: int) -> None:
        addr = line * self.LINE + off
        hit = self.ref.read(addr)
        assert self.cache.read(addr, 1) == (0 if hit else 1)
        self.fills += not hit

    @rule(line=st.integers(0, 23))
    def write(self, line: int) -> None:
        addr = line * self.LINE
        hit = self.ref.write(addr)
        assert self.cache.write(addr, 4) == (0 if hit else 1)

    @invariant()
    def same_contents(self) -> None:
        for s, lines in self.ref.order.items():
            assert sorted(self.cache._sets[s]) == sorted(lines)
            assert len(lines) <= self.WAYS
        assert self.cache.statistics().read_misses == self.fills


TestCacheMachine = CacheMachine.TestCase
TestCacheMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


# -- the profile option ------------------------------------------------------------------

def test_only_a_profile_that_selects_a_cache_has_one() -> None:
    assert Machine("i486").cache is not None
    for name in ("dec5000", "athlon64", "alpha"):
        m = Machine(name)
        assert m.cache is None and m.statistics().cache is None


def test_memory_copy_charges_the_line_fills_of_its_source() -> None:
    m = Machine("i486")
    p = m.profile
    cold = m.memory.copy(0x10000, 0x20000, 1024)
    warm = m.memory.copy(0x10000, 0x20000, 1024)
    assert warm == p.copy_cost(1024)
    assert cold == warm + 64 * p.cache.line_fill
    assert m.statistics().cache.read_misses == 64


def test_without_the_cache_a_copy_costs_the_copy_rate_alone() -> None:
    nocache = dataclasses.replace(get_profile("i486"), cache=None)
    m = Machine(nocache)
    assert m.memory.copy(0x10000, 0x20000, 1024) == nocache.copy_cost(1024)


def test_every_cache_field_has_a_source() -> None:
    for name in ("size", "ways", "line", "line_fill"):
        assert len(I486.sources[name]) >= 8, name
