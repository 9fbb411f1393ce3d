"""Tests of exolab.machine.pagewalk and the CPU's hardware walk (profile mmu="x86")."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.errors import ConfigError, KernelPanic
from exolab.kernels.tiny import SYS_YIELD, TinyKernel
from exolab.machine import Machine
from exolab.machine.costs import get_profile
from exolab.machine.cpu import CPU
from exolab.machine.memory import PhysicalMemory
from exolab.machine.pagewalk import (PTE_A, PTE_D, PTE_P, PTE_U, PTE_W, PageTables,
                                     split, walk)
from exolab.machine.threads import SimThread

I486 = get_profile("i486")


def _builder(frames: int = 256) -> tuple[PhysicalMemory, PageTables, list[int]]:
    mem = PhysicalMemory(frames, 4096, I486)
    free = list(range(frames - 1, 127, -1))        # tables live in the top half
    return mem, PageTables(mem, free.pop, free.append), free


def test_split_and_format() -> None:
    assert split(0) == (0, 0)
    assert split((5 << 10) | 7) == (5, 7)
    mem, pt, _ = _builder()
    d = pt.new_directory()
    pt.map(d, (3 << 10) | 9, 42, writable=False)
    pde = mem.load_word(d, 3 * 4)
    assert pde & (PTE_P | PTE_W | PTE_U) == PTE_P | PTE_W | PTE_U
    pte = mem.load_word(pde >> 12, 9 * 4)
    assert pte >> 12 == 42 and pte & PTE_P and pte & PTE_U and not pte & PTE_W


def test_walk_checks_present_write_and_user_and_sets_accessed_dirty() -> None:
    mem, pt, _ = _builder()
    d = pt.new_directory()
    pt.map(d, 10, 50, writable=True)
    pt.map(d, 11, 51, writable=False)
    pt.map(d, 12, 52, writable=True, user=False)
    assert walk(mem, d, 99, False, True) == 0            # no PTE
    assert walk(mem, d, 5000, False, True) == 0          # no table
    assert walk(mem, d, 11, True, True) == 0             # store to read-only
    assert walk(mem, d, 12, False, True) == 0            # user access, supervisor page
    assert walk(mem, d, 12, False, False) >> 12 == 52    # the kernel may
    pte = walk(mem, d, 10, False, True)
    assert pte >> 12 == 50 and pte & PTE_A and not pte & PTE_D
    assert walk(mem, d, 10, True, True) & PTE_D
    assert pt.entry(d, 10) & (PTE_A | PTE_D) == PTE_A | PTE_D
    assert mem.load_word(d, 0) & PTE_A                   # the PDE is marked too
    assert walk(mem, d, 1 << 20, False, True) == 0       # beyond 32 bits


def test_builder_refuses_other_page_sizes_and_foreign_directories() -> None:
    with pytest.raises(ConfigError):
        PageTables(PhysicalMemory(16, 8192, I486), lambda: 1)
    _, pt, _ = _builder()
    with pytest.raises(KernelPanic):
        pt.map(3, 0, 0, True)
    d = pt.new_directory()
    with pytest.raises(KernelPanic):
        pt.map(d, 0, 10**6, True)


class TablesMachine(RuleBasedStateMachine):
    """The builder agrees with a dict model; walks agree with both; release frees all."""

    def __init__(self) -> None:
        super().__init__()
        self.mem, self.pt, self.free = _builder(512)
        self.start_free = len(self.free)
        self.dirs = [self.pt.new_directory(), self.pt.new_directory()]
        self.model: dict[tuple[int, int], tuple[int, bool]] = {}

    vpns = st.integers(0, 4095) | st.integers(0, (1 << 20) - 1)

    @rule(d=st.integers(0, 1), vpn=vpns, ppn=st.integers(0, 127), w=st.booleans())
    def map(self, d: int, vpn: int, ppn: int, w: bool) -> None:
        self.pt.map(self.dirs[d], vpn, ppn, w)
        self.model[(d, vpn)] = (ppn, w)

    @rule(d=st.integers(0, 1), vpn=vpns)
    def unmap(self, d: int, vpn: int) -> None:
        assert self.pt.unmap(self.dirs[d], vpn) == ((d, vpn) in self.model)
        self.model.pop((d, vpn), None)

    @rule(d=st.integers(0, 1), vpn=vpns, w=st.booleans())
    def protect(self, d: int, vpn: int, w: bool) -> None:
        present = (d, vpn) in self.model
        assert self.pt.protect(self.dirs[d], vpn, w) == present
        if present:
            self.model[(d, vpn)] = (self.model[(d, vpn)][0], w)

    @rule(d=st.integers(0, 1), vpn=vpns, write=st.booleans())
    def walks(self, d: int, vpn: int, write: bool) -> None:
        pte = walk(self.mem, self.dirs[d], vpn, write, True)
        want = self.model.get((d, vpn))
        if want is None or (write and not want[1]):
            assert pte == 0
        else:
            assert pte >> 12 == want[0]

    @invariant()
    def lookups_agree(self) -> None:
        for (d, vpn), want in self.model.items():
            assert self.pt.lookup(self.dirs[d], vpn) == want
        assert self.pt.statistics().mapped == len(self.model)

    def teardown(self) -> None:
        for d in self.dirs:
            self.pt.release(d)
        assert len(self.free) == self.start_free        # every frame came back


TestTables = TablesMachine.TestCase
TestTables.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)


# -- the CPU walks --------------------------------------------------------------------

class WalkKernel(TinyKernel):
    """TinyKernel whose threads get x86 tables; cr3 is loaded on every dispatch."""

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.free = list(range(machine.memory.frames - 1, 511, -1))
        self.pt = PageTables(machine.memory, self.free.pop, self.free.append)
        self.dirs: dict[int, int] = {}
        self.page_faults: list[tuple[int, bool]] = []
        self.lazy: dict[int, tuple[int, int]] = {}      # tid -> vpn, ppn mapped on fault

    def spawn(self, entry: Any, *args: Any, name: str = "") -> SimThread:
        t = super().spawn(entry, *args, name=name)
        self.dirs[t.tid] = self.pt.new_directory()
        return t

    def map(self, thread: SimThread, vpn: int, ppn: int, writable: bool = True) -> None:
        self.pt.map(self.dirs[thread.tid], vpn, ppn, writable)

    def _run(self, cpu: CPU, t: SimThread) -> None:
        cpu.set_page_table(self.dirs[t.tid], self.asid_of(t))
        cpu.switch_to(t)

    def on_tlb_miss(self, cpu: CPU, vaddr: int, write: bool) -> None:
        self.page_faults.append((vaddr, write))
        t = cpu.current
        lazy = self.lazy.pop(t.tid, None) if t is not None else None
        if lazy is not None and lazy[0] == vaddr >> 12:
            self.pt.map(self.dirs[t.tid], lazy[0], lazy[1], True)  # type: ignore[union-attr]
            return
        super().on_tlb_miss(cpu, vaddr, write)          # not ours: kill


def test_the_mmu_walks_without_entering_the_kernel() -> None:
    m = Machine("i486", frames=1024)
    k = WalkKernel(m)
    seen: list[int] = []

    def prog() -> None:
        cpu = m.cpu
        cpu.store(0x5000, 7)
        cpu.store(0x6004, 9)
        seen.extend([cpu.load(0x5000), cpu.load(0x6004), cpu.tlb_misses])
    t = k.spawn(prog)
    k.map(t, 5, 100)
    k.map(t, 6, 101)
    m.run()
    assert seen == [7, 9, 2]                        # one walk per page, then hits
    assert k.page_faults == [] and k.faults == []
    assert m.memory.load_word(100, 0) == 7 and m.memory.load_word(101, 4) == 9
    assert k.pt.entry(k.dirs[t.tid], 5) & PTE_D


def test_a_walk_costs_the_profiles_miss_row_and_a_cr3_load_flushes() -> None:
    m = Machine("i486", frames=1024)
    k = WalkKernel(m)
    log: list[tuple[str, int, int]] = []

    def prog(tag: str) -> None:
        cpu = m.cpu
        for _ in range(2):
            before, misses = m.cycles, cpu.tlb_misses
            cpu.load(0x5000)
            log.append((tag, m.cycles - before, cpu.tlb_misses - misses))
            cpu.load(0x5000)
            cpu.trap(SYS_YIELD)
    a, b = k.spawn(prog, "a"), k.spawn(prog, "b")
    k.map(a, 5, 100)
    k.map(b, 5, 101)
    m.run()
    walked = I486.load_store + I486.tlb_miss_entry
    # every dispatch loads another cr3, so every first load after a switch walks
    assert log == [("a", walked, 1), ("b", walked, 1), ("a", walked, 1), ("b", walked, 1)]


def test_a_failed_walk_is_a_page_fault_and_the_access_walks_again() -> None:
    m = Machine("i486", frames=1024)
    k = WalkKernel(m)
    out: list[int] = []

    def prog() -> None:
        m.cpu.store(0x7000, 5)
        out.append(m.cpu.load(0x7000))
    t = k.spawn(prog)
    k.lazy[t.tid] = (7, 200)
    m.run()
    assert out == [5] and k.page_faults == [(0x7000, True)]
    assert m.cpu.statistics().exceptions == 1

    m2 = Machine("i486", frames=1024)
    k2 = WalkKernel(m2)
    k2.spawn(lambda: m2.cpu.load(0x9000))           # nobody maps it: killed cleanly
    m2.run()
    assert k2.faults and k2.faults[0][1] == "TLB_LOAD"


def test_store_to_a_read_only_walked_page_is_a_page_fault_not_a_walk_success() -> None:
    m = Machine("i486", frames=1024)
    k = WalkKernel(m)
    t = k.spawn(lambda: m.cpu.store(0x5000, 1))
    k.map(t, 5, 100, writable=False)
    m.run()
    assert k.page_faults == [(0x5000, True)] and k.faults[0][1] == "TLB_STORE"
    assert m.memory.load_word(100, 0) == 0


def test_software_profiles_do_not_walk() -> None:
    for name in ("dec5000", "athlon64"):
        assert get_profile(name).mmu == "software"
        assert Machine(name).cpu._hw_walk is False
    assert I486.mmu == "x86" and Machine("i486").cpu._hw_walk is True
    with pytest.raises(ConfigError):
        Machine("i486", page_size=8192)


def test_set_page_table_is_kernel_only() -> None:
    m = Machine("i486", frames=1024)
    k = WalkKernel(m)
    errs: list[str] = []

    def prog() -> None:
        try:
            m.cpu.set_page_table(0, 1)
        except Exception as ex:           # noqa: BLE001 - the test inspects it
            errs.append(type(ex).__name__)
    k.spawn(prog)
    m.run()
    assert errs == ["PrivilegeError"] or k.faults
