"""A SIP's regions: mmap adds a contiguous run of frames, munmap takes pages back
(zeroed, to the pool), the first region stays, and a page a device may still DMA
into is not given back. A stateful model checks the bookkeeping."""
from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from exolab.kernels.singularity import Singularity
from exolab.kernels.singularity.limits import MAX_HEAP_PAGES
from exolab.machine.machine import Machine
from exolab.runner import run_program

PAGE = 4096


def _err(call: Any, *args: Any) -> str:
    try:
        call(*args)
    except Exception as ex:
        return str(getattr(ex, "errno", type(ex).__name__))
    return "ok"


def test_munmap_gives_the_pages_back_and_a_loop_never_runs_out() -> None:
    """More than MAX_HEAP_PAGES mapped over the SIP's life, never at once."""
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        for i in range(3 * MAX_HEAP_PAGES // 256):
            va = os.mmap(256 * PAGE)
            os.store(va + 8, i, 8)
            os.munmap(va, 256 * PAGE)
        out["after"] = _err(os.load, va + 8, 8)

    r = run_program(main, kernel="singularity", profile="athlon64")
    assert r.result.reason == "finished"
    assert r.faults and r.faults[0][1] == "SIGSEGV"   # the unmapped page is no longer its
    assert "after" not in out                          # the load faulted the SIP


def test_part_of_a_region_goes_and_the_rest_stays() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        va = os.mmap(4 * PAGE)
        for i in range(4):
            os.store(va + i * PAGE, 10 + i, 8)
        os.munmap(va + PAGE, 2 * PAGE)                 # the middle two pages
        out["kept"] = [os.load(va, 8), os.load(va + 3 * PAGE, 8)]
        out["again"] = _err(os.munmap, va + PAGE, 2 * PAGE)   # nothing there: no error
        out["first"] = _err(os.munmap, 0, PAGE)        # the kernel's: no region of it
        out["bad"] = [_err(os.munmap, va + 1, PAGE), _err(os.munmap, va, 0),
                      _err(os.munmap, -PAGE, PAGE), _err(os.munmap, va, 1 << 62)]
        os.load(va + PAGE, 8)

    r = run_program(main, kernel="singularity", profile="athlon64")
    assert out["kept"] == [10, 13] and out["again"] == "ok" and out["first"] == "ok"
    assert out["bad"] == ["EINVAL"] * 4
    assert [f[1] for f in r.faults] == ["SIGSEGV"]     # the hole is outside the SIP


def test_the_first_region_stays_for_the_sips_life() -> None:
    k = Singularity(Machine("athlon64", frames=1024))
    sip = k.spawn(None, _idle, (), "one")
    base, end = sip.regions[0]
    extra = k.alloc_region(sip, 2)
    assert _err(k.unmap_region, sip, base, end) == "EINVAL"
    assert _err(k.unmap_region, sip, end - PAGE, extra + PAGE) == "EINVAL"   # both
    assert sip.contains(extra, 2 * PAGE) and sip.contains(base, end - base)  # unchanged


def test_a_sips_bytes_never_reach_the_next_owner_of_its_frames() -> None:
    """Frames go back zeroed, at exit and at munmap, and the zeroing is charged."""
    out: dict[str, list[int]] = {"seen": []}

    def writer(os: Any, unmap: bool) -> None:
        va = os.mmap(64 * PAGE)
        for i in range(0, 64 * PAGE, 256):
            os.store(va + i, 0x5EC2E7, 8)
        if unmap:
            os.munmap(va, 64 * PAGE)

    def reader(os: Any) -> None:
        va = os.mmap(64 * PAGE)
        out["seen"].append(sum(1 for i in range(0, 64 * PAGE, 256)
                               if os.load(va + i, 8) == 0x5EC2E7))

    def main(os: Any) -> None:
        for unmap in (False, True, False):
            os.wait(os.spawn(writer, unmap))
            os.wait(os.spawn(reader))

    r = run_program(main, kernel="singularity", profile="athlon64")
    assert r.result.reason == "finished" and r.faults == []
    assert out["seen"] == [0, 0, 0]
    assert r.machine.statistics().memory.bytes_zeroed >= 3 * 64 * PAGE


class RegionModel(RuleBasedStateMachine):
    """mmap/munmap on one SIP against a set of mapped pages."""

    @initialize()
    def boot(self) -> None:
        self.k = Singularity(Machine("athlon64", frames=1024))
        self.sip = self.k.spawn(None, _idle, (), "model")
        self.shift = self.k.page_shift
        base, end = self.sip.regions[0]
        self.first = set(range(base >> self.shift, end >> self.shift))
        self.pages: set[int] = set()               # pages of the mmap'd regions
        self.written: dict[int, int] = {}          # page -> the word stored there
        self.in_use = self.k.frames.in_use()

    @rule(n=st.integers(1, 40))
    def mmap(self, n: int) -> None:
        if self.k.frames.left() < n:
            return
        base = self.k.alloc_region(self.sip, n) >> self.shift
        fresh = set(range(base, base + n))
        assert not fresh & (self.pages | self.first)
        mem = self.k.machine.memory
        assert all(mem.read(p << self.shift, PAGE) == bytes(PAGE) for p in fresh)
        self.pages |= fresh

    @rule(data=st.data())
    def scribble(self, data: st.DataObject) -> None:
        if self.pages:
            p = data.draw(st.sampled_from(sorted(self.pages)))
            self.k.machine.memory.write(p << self.shift, b"\xab" * 8)
            self.written[p] = 1

    @rule(data=st.data(), span=st.integers(1, 60))
    def munmap(self, data: st.DataObject, span: int) -> None:
        """A range anywhere around the mapped pages, first region excluded."""
        lo_page = data.draw(st.integers(0, self.k.machine.memory.frames - span))
        gone = set(range(lo_page, lo_page + span))
        if gone & self.first:
            err = _err(self.k.unmap_region, self.sip, lo_page << self.shift,
                       (lo_page + span) << self.shift)
            assert err == "EINVAL"
            return
        self.k.unmap_region(self.sip, lo_page << self.shift, (lo_page + span) << self.shift)
        self.pages -= gone
        for p in gone:
            self.written.pop(p, None)

    @invariant()
    def bookkeeping_matches(self) -> None:
        if not hasattr(self, "k"):
            return
        sip, shift = self.sip, self.shift
        spans = sorted(sip.regions)
        for (_b1, e1), (b2, _e2) in zip(spans, spans[1:]):
            assert e1 <= b2                                  # disjoint
        covered = {p for b, e in sip.regions for p in range(b >> shift, e >> shift)}
        assert covered == self.pages | self.first
        assert sorted(sip.frames) == sorted(covered)        # each frame once
        assert self.k.frames.in_use() == self.in_use + len(self.pages)
        assert all(sip.contains(p << shift, PAGE) for p in self.pages)


def _idle(os: Any) -> None:
    """A SIP that never runs in the model."""


TestRegionModel = RegionModel.TestCase
TestRegionModel.settings = settings(max_examples=60, stateful_step_count=40,
                                    deadline=None)
