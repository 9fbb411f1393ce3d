"""Tests of exolab.machine.tlb, alone and as the MMU the CPU and a kernel drive."""
from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from exolab.errors import ConfigError, KernelPanic
from exolab.kernels.tiny import TinyKernel
from exolab.machine import KERNEL, USER, Machine
from exolab.machine.costs import get_profile
from exolab.machine.threads import ThreadExit
from exolab.machine.tlb import TLB, TLBEntry

SIZE, WIRED, ABITS = 8, 2, 6
SMALL = dataclasses.replace(get_profile("dec5000"), name="small-tlb", tlb_entries=SIZE,
                            tlb_wired=WIRED)


def _tlb(seed: int = 0, size: int = SIZE, wired: int = WIRED) -> TLB:
    return TLB(size, wired, ABITS, random.Random(seed))


def _consistent(tlb: TLB) -> None:
    """The index and the slots describe the same entries, one slot per key."""
    present = [e for e in tlb.slots if e is not None]
    assert len(tlb.slots) == tlb.size
    assert len(present) == len(tlb.index) <= tlb.size
    assert len({id(e) for e in present}) == len(present)
    for e in present:
        assert tlb.index[tlb.key(e.vpn, e.asid)] is e


# -- the TLB alone ----------------------------------------------------------------

@pytest.mark.parametrize("entries,wired", [(0, 0), (-1, 0), (4, 4), (4, -1), (4, 9)])
def test_bad_geometry_is_a_config_error(entries: int, wired: int) -> None:
    with pytest.raises(ConfigError):
        TLB(entries, wired, ABITS, random.Random(0))


def test_write_lookup_probe_read() -> None:
    tlb = _tlb()
    e = TLBEntry(5, 3, 9)
    tlb.write_indexed(4, e)
    assert tlb.lookup(5, 3) is e
    assert tlb.lookup(5, 4) is None and tlb.lookup(6, 3) is None
    assert tlb.probe(5, 3) == 4 and tlb.probe(5, 2) == -1
    assert tlb.read(4) is e and tlb.read(0) is None
    assert tlb.key(5, 3) == (5 << ABITS) | 3
    _consistent(tlb)


def test_write_indexed_evicts_and_moves_duplicates() -> None:
    tlb = _tlb()
    tlb.write_indexed(3, TLBEntry(1, 1, 10))
    tlb.write_indexed(3, TLBEntry(2, 1, 20))          # evicts (1, 1)
    assert tlb.lookup(1, 1) is None and tlb.lookup(2, 1).ppn == 20  # type: ignore[union-attr]
    tlb.write_indexed(6, TLBEntry(2, 1, 21))          # same key elsewhere: moves
    assert tlb.read(3) is None and tlb.probe(2, 1) == 6
    assert tlb.lookup(2, 1).ppn == 21                 # type: ignore[union-attr]
    st_ = tlb.statistics()
    assert (st_.writes, st_.evictions, st_.occupied) == (3, 1, 1)
    _consistent(tlb)


def test_bad_slot_and_asid_are_refused() -> None:
    tlb = _tlb()
    with pytest.raises(KernelPanic):
        tlb.write_indexed(SIZE, TLBEntry(0, 0, 0))
    with pytest.raises(KernelPanic):
        tlb.write_indexed(-1, TLBEntry(0, 0, 0))
    with pytest.raises(KernelPanic):
        tlb.write_indexed(0, TLBEntry(0, 1 << ABITS, 0))
    with pytest.raises(KernelPanic):
        tlb.read(SIZE)
    assert tlb.statistics().occupied == 0


def test_invalidate_and_flush() -> None:
    tlb = _tlb()
    for i in range(6):
        tlb.write_indexed(i, TLBEntry(i, i % 2, i))
    assert tlb.invalidate(0, 0) is True
    assert tlb.invalidate(0, 0) is False
    assert tlb.flush(asid=1) == 3                     # vpns 1, 3, 5
    assert [e.vpn for e in tlb.slots if e] == [2, 4]
    assert tlb.flush() == 2
    assert tlb.slots == [None] * SIZE and not tlb.index
    st_ = tlb.statistics()
    assert (st_.flushes, st_.invalidations, st_.occupied) == (2, 1, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        st_.flushes = 0  # type: ignore[misc]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3)),
                                       min_size=1, max_size=60))
def test_random_replacement_spares_wired_slots(seed: int,
                                               keys: list[tuple[int, int]]) -> None:
    tlb = _tlb(seed)
    wired = [TLBEntry(1000 + i, 0, i) for i in range(WIRED)]
    for i, e in enumerate(wired):
        tlb.write_indexed(i, e)
    for vpn, asid in keys:
        slot = tlb.write_random(TLBEntry(vpn, asid, 7))
        assert WIRED <= slot < SIZE
        assert tlb.read(slot).vpn == vpn                 # type: ignore[union-attr]
        _consistent(tlb)
    assert tlb.slots[:WIRED] == wired


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.lists(st.integers(0, 200), min_size=1, max_size=60))
def test_random_replacement_is_deterministic_for_a_seed(seed: int, vpns: list[int]) -> None:
    a, b = _tlb(seed), _tlb(seed)
    slots_a = [a.write_random(TLBEntry(v, 1, v)) for v in vpns]
    slots_b = [b.write_random(TLBEntry(v, 1, v)) for v in vpns]
    assert slots_a == slots_b


def test_different_seeds_choose_different_slots() -> None:
    runs = set()
    for seed in range(4):
        tlb = _tlb(seed, size=64, wired=8)
        runs.add(tuple(tlb.write_random(TLBEntry(v, 1, v)) for v in range(40)))
    assert len(runs) > 1


def test_write_random_refreshes_a_present_key_in_place() -> None:
    tlb = _tlb()
    tlb.write_indexed(0, TLBEntry(9, 2, 1, writable=False))   # a wired slot
    assert tlb.write_random(TLBEntry(9, 2, 1, writable=True)) == 0
    assert tlb.lookup(9, 2).writable                           # type: ignore[union-attr]
    assert tlb.statistics().occupied == 1


# -- the MMU: TLB + CPU + TinyKernel, against a model ----------------------------

PAGE = 4096
FRAMES = 10
VPNS = st.integers(0, 5)
OFFS = st.sampled_from([0, 4, 8, PAGE - 4])
PPNS = st.integers(0, FRAMES - 1)
Slot = tuple[int, int, int, bool, bool, bool]      # vpn, asid, ppn, valid, writable, dirty


class MMUModel(RuleBasedStateMachine):
    """Loads, stores and privileged TLB operations against a model of slots and memory.

    The user-mode accesses run on the root greenlet with ``cpu.current`` set to a
    TinyKernel thread, so misses and faults take the real kernel paths: a refill
    from the thread's page table with ``tlbwr``, and kill-on-fault (ThreadExit).
    """

    @initialize(seed=st.integers(0, 2**32))
    def boot(self, seed: int) -> None:
        self.m = Machine(SMALL, frames=FRAMES, page_size=PAGE, seed=seed)
        self.cpu = self.m.cpu
        self.k = TinyKernel(self.m)
        self.threads = [self.k.spawn(lambda: None) for _ in range(3)]
        self.k.ready.clear()                        # never dispatched: driven by hand
        self.asids = [self.k.asid_of(t) for t in self.threads]
        assert len(set(self.asids)) == 3
        self.pt: dict[int, dict[int, tuple[int, bool]]] = {t.tid: {} for t in self.threads}
        self.slots: list[Slot | None] = [None] * SIZE
        self.mem = bytearray(FRAMES * PAGE)

    # -- helpers ------------------------------------------------------------------

    def _impl(self) -> list[Slot | None]:
        return [None if e is None else (e.vpn, e.asid, e.ppn, e.valid, e.writable, e.dirty)
                for e in self.cpu.tlb.slots]

    def _find(self, vpn: int, asid: int) -> int:
        for i, s in enumerate(self.slots):
            if s is not None and s[0] == vpn and s[1] == asid:
                return i
        return -1

    def _put(self, slot: int, entry: Slot) -> None:
        j = self._find(entry[0], entry[1])
        if j >= 0:
            self.slots[j] = None
        self.slots[slot] = entry

    def _adopt_refill(self, entry: Slot) -> int:
        """A ``tlbwr`` happened inside the kernel: find its slot and check it was legal."""
        j = self._find(entry[0], entry[1])
        impl = self._impl()
        changed = [i for i in range(SIZE) if impl[i] != self.slots[i]]
        assert len(changed) == 1, (changed, impl, self.slots)
        slot = changed[0]
        assert slot == j if j >= 0 else WIRED <= slot < SIZE
        self._put(slot, entry)
        return slot

    def _user(self, i: int) -> tuple[object, int]:
        t = self.threads[i]
        self.cpu.mode = KERNEL
        self.cpu.current = t
        self.cpu.set_asid(self.asids[i])
        self.cpu.mode = USER
        return t, self.asids[i]

    def _kernel(self) -> None:
        self.cpu.current = None
        self.cpu.mode = KERNEL

    def _expect_kill(self, t, fn, *args, cause: str, vaddr: int) -> None:  # type: ignore[no-untyped-def]
        n = len(self.k.faults)
        with pytest.raises(ThreadExit) as info:
            fn(*args)
        assert info.value.status == cause
        assert self.k.faults[n:] == [(t.tid, cause, vaddr)]
        assert self.cpu.mode == USER                  # the fault returned to user mode
        t.killed = False                              # the next test step reuses it

    def _word(self, ppn: int, off: int) -> int:
        base = ppn * PAGE + off
        return int.from_bytes(self.mem[base:base + 4], "little")

    # -- kernel services ------------------------------------------------------------

    @rule(i=st.integers(0, 2), vpn=VPNS, ppn=PPNS, writable=st.booleans())
    def map(self, i: int, vpn: int, ppn: int, writable: bool) -> None:
        self.k.map(self.threads[i], vpn, ppn, writable)
        self.pt[self.threads[i].tid][vpn] = (ppn, writable)

    @rule(i=st.integers(0, 2), vpn=VPNS)
    def unmap(self, i: int, vpn: int) -> None:
        tid = self.threads[i].tid
        self.k.tables[tid].pop(vpn, None)
        self.pt[tid].pop(vpn, None)

    @rule(slot=st.integers(0, SIZE - 1), vpn=VPNS, i=st.integers(0, 2), ppn=PPNS,
          valid=st.booleans(), writable=st.booleans())
    def tlbwi(self, slot: int, vpn: int, i: int, ppn: int, valid: bool,
              writable: bool) -> None:
        self._kernel()
        self.cpu.tlb_write_indexed(slot, TLBEntry(vpn, self.asids[i], ppn, valid, writable))
        self._put(slot, (vpn, self.asids[i], ppn, valid, writable, False))

    @rule(vpn=VPNS, i=st.integers(0, 2), ppn=PPNS, valid=st.booleans(),
          writable=st.booleans())
    def tlbwr(self, vpn: int, i: int, ppn: int, valid: bool, writable: bool) -> None:
        self._kernel()
        j = self._find(vpn, self.asids[i])
        slot = self.cpu.tlb_write_random(TLBEntry(vpn, self.asids[i], ppn, valid, writable))
        assert slot == j if j >= 0 else WIRED <= slot < SIZE
        self._put(slot, (vpn, self.asids[i], ppn, valid, writable, False))

    @rule(vpn=VPNS, i=st.integers(0, 2))
    def invalidate(self, vpn: int, i: int) -> None:
        self._kernel()
        j = self._find(vpn, self.asids[i])
        assert self.cpu.tlb_invalidate(vpn, self.asids[i]) is (j >= 0)
        if j >= 0:
            self.slots[j] = None

    @rule(i=st.one_of(st.none(), st.integers(0, 2)))
    def flush(self, i: int | None) -> None:
        self._kernel()
        asid = None if i is None else self.asids[i]
        gone = [j for j, s in enumerate(self.slots)
                if s is not None and (asid is None or s[1] == asid)]
        assert self.cpu.tlb_flush(asid) == len(gone)
        for j in gone:
            self.slots[j] = None

    # -- user-mode accesses ---------------------------------------------------------

    @rule(i=st.integers(0, 2), vpn=VPNS, off=OFFS)
    def load(self, i: int, vpn: int, off: int) -> None:
        t, asid = self._user(i)
        vaddr = vpn * PAGE + off
        misses = self.cpu.tlb_misses
        j = self._find(vpn, asid)
        if j >= 0 and self.slots[j][3]:               # type: ignore[index]
            assert self.cpu.load(vaddr) == self._word(self.slots[j][2], off)  # type: ignore[index]
            assert self.cpu.tlb_misses == misses      # a valid entry: no kernel entry
            return
        pte = self.pt[t.tid].get(vpn)                 # type: ignore[attr-defined]
        if pte is None:
            self._expect_kill(t, self.cpu.load, vaddr, cause="TLB_LOAD", vaddr=vaddr)
        else:
            assert self.cpu.load(vaddr) == self._word(pte[0], off)
            self._adopt_refill((vpn, asid, pte[0], True, pte[1], False))
        assert self.cpu.tlb_misses == misses + 1

    @rule(i=st.integers(0, 2), vpn=VPNS, off=OFFS, value=st.integers(0, 2**32 - 1))
    def store(self, i: int, vpn: int, off: int, value: int) -> None:
        t, asid = self._user(i)
        vaddr = vpn * PAGE + off
        misses = self.cpu.tlb_misses
        j = self._find(vpn, asid)
        entry = self.slots[j] if j >= 0 and self.slots[j][3] else None  # type: ignore[index]
        if entry is None:                             # a miss first
            pte = self.pt[t.tid].get(vpn)             # type: ignore[attr-defined]
            if pte is None:
                self._expect_kill(t, self.cpu.store, vaddr, value, cause="TLB_STORE",
                                  vaddr=vaddr)
                assert self.cpu.tlb_misses == misses + 1
                return
            entry = (vpn, asid, pte[0], True, pte[1], False)
            if not pte[1]:
                self._expect_kill(t, self.cpu.store, vaddr, value, cause="TLB_MOD",
                                  vaddr=vaddr)
                self._adopt_refill(entry)
                return
            self.cpu.store(vaddr, value)
            j = self._adopt_refill(entry[:5] + (True,))
        elif not entry[4]:                            # valid but read-only
            self._expect_kill(t, self.cpu.store, vaddr, value, cause="TLB_MOD", vaddr=vaddr)
            assert self.cpu.tlb_misses == misses
            return
        else:
            self.cpu.store(vaddr, value)
            assert self.cpu.tlb_misses == misses
            self.slots[j] = entry[:5] + (True,)       # the hardware sets dirty
        base = entry[2] * PAGE + off
        self.mem[base:base + 4] = value.to_bytes(4, "little")

    @rule(i=st.integers(0, 2), slot=st.integers(0, SIZE - 1), vpn=VPNS, ppn=PPNS,
          op=st.sampled_from(["tlbwi", "tlbwr", "flush", "invalidate", "set_asid"]))
    def user_mode_tlb_write_is_refused(self, i: int, slot: int, vpn: int, ppn: int,
                                       op: str) -> None:
        t, asid = self._user(i)
        e = TLBEntry(vpn, asid, ppn)
        fn, args = {"tlbwi": (self.cpu.tlb_write_indexed, (slot, e)),
                    "tlbwr": (self.cpu.tlb_write_random, (e,)),
                    "flush": (self.cpu.tlb_flush, ()),
                    "invalidate": (self.cpu.tlb_invalidate, (vpn, asid)),
                    "set_asid": (self.cpu.set_asid, ((asid + 1) % 4,))}[op]
        self._expect_kill(t, fn, *args, cause="PRIVILEGED", vaddr=0)
        assert self.cpu.asid == asid

    # -- invariants -----------------------------------------------------------------

    @invariant()
    def tlb_matches_model(self) -> None:
        if not hasattr(self, "m"):
            return
        tlb = self.cpu.tlb
        _consistent(tlb)
        assert self._impl() == self.slots

    @invariant()
    def memory_matches_model(self) -> None:
        if not hasattr(self, "m"):
            return
        assert self.m.memory.read(0, FRAMES * PAGE) == bytes(self.mem)


TestMMUModel = MMUModel.TestCase
TestMMUModel.settings = settings(max_examples=60, stateful_step_count=50, deadline=None)


# -- the MMU in running threads ---------------------------------------------------

def test_asids_never_see_each_others_entries() -> None:
    m = Machine(frames=16)
    k = TinyKernel(m)
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def body(name: str, value: int) -> None:
        cpu = m.cpu
        cpu.store(0x3000, value)
        cpu.trap(1)                              # SYS_YIELD: the other runs
        seen[name].append(cpu.load(0x3000))

    a = k.spawn(body, "a", 111)
    b = k.spawn(body, "b", 222)
    k.map(a, 3, 5)
    k.map(b, 3, 6)                               # same vpn, different frame
    assert m.run().reason == "finished"
    assert seen == {"a": [111], "b": [222]}
    assert m.memory.load_word(5, 0) == 111 and m.memory.load_word(6, 0) == 222
    assert m.cpu.tlb.lookup(3, k.asid_of(a)).ppn == 5    # type: ignore[union-attr]
    assert m.cpu.tlb.lookup(3, k.asid_of(b)).ppn == 6    # type: ignore[union-attr]
    assert m.cpu.statistics().tlb_misses == 2            # one refill per address space
