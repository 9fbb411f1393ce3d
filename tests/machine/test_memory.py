"""Tests of exolab.machine.memory: lazily backed physical frames."""
from __future__ import annotations

import dataclasses
import tracemalloc

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.errors import ConfigError, PhysicalAddressError
from exolab.machine.costs import get_profile
from exolab.machine.memory import MemoryStats, PhysicalMemory

DEC = get_profile("dec5000")
PAGE = 256
FRAMES = 6
SIZE = PAGE * FRAMES


class MemoryModel(RuleBasedStateMachine):
    """PhysicalMemory against a bytearray and a set of touched frames."""

    def __init__(self) -> None:
        super().__init__()
        self.mem = PhysicalMemory(FRAMES, PAGE, DEC)
        self.model = bytearray(SIZE)
        self.touched: set[int] = set()
        self.counts = {"read": 0, "written": 0, "copied": 0, "zeroed": 0, "copies": 0}

    def _touch_range(self, paddr: int, n: int) -> None:
        if n > 0:
            self.touched.update(range(paddr // PAGE, (paddr + n - 1) // PAGE + 1))

    def _snapshot(self) -> tuple[bytes, int, MemoryStats]:
        return bytes(self.model), self.mem.touched(), self.mem.statistics()

    def _unchanged_after_error(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        """``fn(*args)`` must raise PhysicalAddressError and change nothing."""
        before = self.mem.statistics()
        touched = self.mem.touched()
        with pytest.raises(PhysicalAddressError):
            fn(*args)
        assert self.mem.statistics() == before
        assert self.mem.touched() == touched

    # -- in-range operations ----------------------------------------------------

    @rule(paddr=st.integers(0, SIZE), data=st.binary(max_size=PAGE + 40))
    def write(self, paddr: int, data: bytes) -> None:
        data = data[:SIZE - paddr]
        self.mem.write(paddr, data)
        self.model[paddr:paddr + len(data)] = data
        self._touch_range(paddr, len(data))
        self.counts["written"] += len(data)

    @rule(paddr=st.integers(0, SIZE), n=st.integers(0, PAGE + 40))
    def read(self, paddr: int, n: int) -> None:
        n = min(n, SIZE - paddr)
        assert self.mem.read(paddr, n) == bytes(self.model[paddr:paddr + n])
        self.counts["read"] += n

    @rule(dst=st.integers(0, SIZE), src=st.integers(0, SIZE), n=st.integers(0, PAGE + 40))
    def copy(self, dst: int, src: int, n: int) -> None:
        n = min(n, SIZE - dst, SIZE - src)
        cycles = self.mem.copy(dst, src, n)
        assert cycles == DEC.copy_cost(n)
        self.model[dst:dst + n] = self.model[src:src + n]   # memmove semantics
        self._touch_range(dst, n)
        self.counts["copied"] += n
        self.counts["copies"] += 1

    @rule(n=st.integers(0, 3 * PAGE))
    def note_copy(self, n: int) -> None:
        assert self.mem.note_copy(n) is None        # counted, never charged here
        self.counts["copied"] += n
        self.counts["copies"] += 1

    @rule(ppn=st.integers(0, FRAMES - 1))
    def zero_frame(self, ppn: int) -> None:
        cycles = self.mem.zero_frame(ppn)
        assert cycles == (PAGE * DEC.zero_per_kib + 1023) // 1024
        self.model[ppn * PAGE:(ppn + 1) * PAGE] = bytes(PAGE)
        # zeroing leaves an untouched frame unbacked: it already reads as zero
        self.counts["zeroed"] += PAGE

    @rule(ppn=st.integers(0, FRAMES - 1))
    def touch(self, ppn: int) -> None:
        buf = self.mem.frame(ppn)
        assert len(buf) == PAGE
        assert bytes(buf) == bytes(self.model[ppn * PAGE:(ppn + 1) * PAGE])
        self.touched.add(ppn)

    @rule(ppn=st.integers(0, FRAMES - 1), size=st.sampled_from([1, 2, 4, 8]),
          slot=st.integers(0, PAGE), value=st.integers(0, (1 << 70)))
    def store_word(self, ppn: int, size: int, slot: int, value: int) -> None:
        off = (slot * size) % PAGE
        self.mem.store_word(ppn, off, value, size)
        base = ppn * PAGE + off
        self.model[base:base + size] = (value & ((1 << 8 * size) - 1)).to_bytes(size,
                                                                                 "little")
        self.touched.add(ppn)

    @rule(ppn=st.integers(0, FRAMES - 1), size=st.sampled_from([1, 2, 4, 8]),
          slot=st.integers(0, PAGE))
    def load_word(self, ppn: int, size: int, slot: int) -> None:
        off = (slot * size) % PAGE
        base = ppn * PAGE + off
        want = int.from_bytes(self.model[base:base + size], "little")
        assert self.mem.load_word(ppn, off, size) == want     # loads touch nothing

    # -- out-of-range operations: an error and no change --------------------------

    @rule(paddr=st.integers(-PAGE, SIZE + PAGE), n=st.integers(1, 2 * PAGE))
    def write_out_of_range(self, paddr: int, n: int) -> None:
        if 0 <= paddr and paddr + n <= SIZE:
            paddr = SIZE - n + 1 + (paddr % PAGE)          # push it past the end
        self._unchanged_after_error(self.mem.write, paddr, b"\xaa" * n)

    @rule(paddr=st.integers(-PAGE, SIZE + PAGE), n=st.integers(1, 2 * PAGE))
    def read_out_of_range(self, paddr: int, n: int) -> None:
        if 0 <= paddr and paddr + n <= SIZE:
            paddr = -1 - paddr
        self._unchanged_after_error(self.mem.read, paddr, n)

    @rule(dst=st.integers(0, SIZE), src=st.integers(0, SIZE), n=st.integers(1, PAGE),
          bad_src=st.booleans())
    def copy_out_of_range(self, dst: int, src: int, n: int, bad_src: bool) -> None:
        if bad_src:
            src = SIZE - n + 1
        else:
            dst = SIZE - n + 1
        self._unchanged_after_error(self.mem.copy, dst, src, n)

    @rule(ppn=st.one_of(st.integers(-5, -1), st.integers(FRAMES, FRAMES + 5)),
          op=st.sampled_from(["frame", "zero", "load", "store"]))
    def bad_frame(self, ppn: int, op: str) -> None:
        fn, args = {"frame": (self.mem.frame, ()), "zero": (self.mem.zero_frame, ()),
                    "load": (self.mem.load_word, (0, 4)),
                    "store": (self.mem.store_word, (0, 7, 4))}[op]
        self._unchanged_after_error(fn, ppn, *args)

    @rule(ppn=st.integers(0, FRAMES - 1), off=st.sampled_from([-8, -4, -1, PAGE - 3, PAGE]),
          store=st.booleans())
    def word_outside_its_frame(self, ppn: int, off: int, store: bool) -> None:
        if store:
            self._unchanged_after_error(self.mem.store_word, ppn, off, 0xFFFFFFFF, 4)
        else:
            self._unchanged_after_error(self.mem.load_word, ppn, off, 4)

    # -- invariants ---------------------------------------------------------------

    @invariant()
    def lazily_backed(self) -> None:
        assert self.mem.touched() == len(self.touched)
        assert set(self.mem._store) == self.touched

    @invariant()
    def counters_match(self) -> None:
        s = self.mem.statistics()
        assert (s.bytes_read, s.bytes_written, s.bytes_copied, s.bytes_zeroed,
                s.copies) == (self.counts["read"], self.counts["written"],
                              self.counts["copied"], self.counts["zeroed"],
                              self.counts["copies"])
        assert s.frames_touched == len(self.touched)

    @invariant()
    def contents_match(self) -> None:
        for ppn in range(FRAMES):
            buf = self.mem._store.get(ppn)
            want = bytes(self.model[ppn * PAGE:(ppn + 1) * PAGE])
            if buf is None:
                assert want == bytes(PAGE)
            else:
                assert bytes(buf) == want


TestMemoryModel = MemoryModel.TestCase
TestMemoryModel.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)


def test_untouched_frames_read_as_zero_and_cost_nothing() -> None:
    mem = PhysicalMemory(4, 4096, DEC)
    assert mem.read(0, 3 * 4096) == bytes(3 * 4096)
    assert mem.load_word(3, 4092, 4) == 0
    assert mem.touched() == 0
    mem.write(4094, b"\x01\x02\x03\x04")          # spans frames 0 and 1
    assert mem.touched() == 2
    assert mem.load_word(1, 0, 2) == 0x0403


def test_a_million_frames_construct_instantly_and_touch_nothing() -> None:
    tracemalloc.start()
    mem = PhysicalMemory(1_000_000, 4096, DEC)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 1024                 # no per-frame state: 4 GiB costs nothing
    assert mem.touched() == 0
    top = (1_000_000 << 12) - 8
    assert mem.read(top, 8) == bytes(8)
    mem.write(top, b"12345678")
    assert mem.read(top, 8) == b"12345678"
    assert mem.touched() == 1
    with pytest.raises(PhysicalAddressError) as info:
        mem.read(top, 9)
    assert info.value.paddr == top and info.value.length == 9


def test_copy_is_memmove() -> None:
    mem = PhysicalMemory(2, 256, DEC)
    mem.write(0, bytes(range(16)))
    mem.copy(4, 0, 12)                               # forward overlap
    assert mem.read(0, 16) == bytes([0, 1, 2, 3]) + bytes(range(12))
    mem.copy(0, 4, 12)                               # backward overlap
    assert mem.read(0, 12) == bytes(range(12))


def test_zero_frame_clears_a_dirty_frame() -> None:
    mem = PhysicalMemory(2, 256, DEC)
    mem.write(256, b"\xff" * 256)
    mem.zero_frame(1)
    assert mem.read(256, 256) == bytes(256)


def test_store_word_truncates_to_size() -> None:
    mem = PhysicalMemory(1, 256, DEC)
    mem.store_word(0, 0, 0x1_2345_6789, 4)
    assert mem.load_word(0, 0, 4) == 0x2345_6789
    assert mem.load_word(0, 4, 4) == 0                # the high bits went nowhere


@pytest.mark.parametrize("frames,page", [(0, 4096), (-1, 4096), (4, 128), (4, 4095),
                                         (4, 3000)])
def test_bad_geometry_is_a_config_error(frames: int, page: int) -> None:
    with pytest.raises(ConfigError):
        PhysicalMemory(frames, page, DEC)


def test_statistics_is_frozen() -> None:
    mem = PhysicalMemory(4, 4096, DEC)
    s = mem.statistics()
    assert (s.frames, s.page_size, s.frames_touched) == (4, 4096, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.frames = 5  # type: ignore[misc]


def test_zeroing_an_untouched_frame_allocates_nothing_and_checks_the_frame():
    mem = PhysicalMemory(8, PAGE, DEC)
    mem.zero_frame(3)
    assert mem.touched() == 0 and mem.load_word(3, 0) == 0
    mem.store_word(3, 8, 0xAB)
    mem.zero_frame(3)
    assert mem.touched() == 1 and mem.load_word(3, 8) == 0
    with pytest.raises(PhysicalAddressError):
        mem.zero_frame(8)
