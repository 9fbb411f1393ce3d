"""The UNIX server's region bookkeeping (kernels/l4/ux.py) against a model.

A hypothesis state machine drives the server's own handlers (mmap, munmap,
mprotect, dirty, the page-fault path and fork's sharing) on a small mmap area
and a small region limit, with a stand-in for the L4 library that records the
flushes; the model is a page table: page -> (region, protection) plus the frame
a process holds. ``proc.regions`` must stay sorted and disjoint and equal the
model's regions, ``prot_of`` must agree with it page by page, every refusal
(EFAULT, ENOMEM) must change nothing, and frames go back to the pool exactly
when their last holder lets go. A second test counts the region records one
mprotect, one fault and one dirty query read: they do not grow with the number
of regions (the server used to scan every region for every page, twice)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.abi import PROT_NONE, PROT_READ, PROT_RW, PROT_WRITE
from exolab.errors import SyscallError
from exolab.kernels.l4 import ux as uxm
from exolab.kernels.l4.syscall import FAULT_TAG, UPCALL_TAG

BASE = uxm.MMAP_BASE
AREA = 24                       # pages of the mmap area in the model
LIMIT = 6                       # regions of a process in the model
PROTS = (PROT_NONE, PROT_READ, PROT_RW)


class _L4:
    """The server's L4 library, as far as the region handlers use it."""

    def __init__(self) -> None:
        self.flushed: list[tuple[Any, bool]] = []

    def flush(self, what: Any, pages: int = 1, write_only: bool = False) -> None:
        self.flushed.append((what, write_only))

    def call(self, dest: int, words: tuple[int, ...], buffer: Any) -> Any:
        return SimpleNamespace(mapped=list(range(buffer[2], buffer[2] + words[1])))

    def store_bytes(self, vaddr: int, data: bytes) -> None:
        pass

    def load_bytes(self, vaddr: int, n: int) -> bytes:
        return bytes(n)

    def compute(self, cycles: int) -> None:
        pass


def _server() -> uxm.Ux:
    """A server with the stand-in library (no machine)."""
    kernel = SimpleNamespace(machine=SimpleNamespace(
        seed=0, profile=SimpleNamespace(load_store=1)))
    ux = uxm.Ux(kernel)
    ux.l4 = _L4()
    return ux


def _op(ux: uxm.Ux, proc: uxm.Proc, name: str, *words: int) -> Any:
    """Run handler ``name``: its (words, data), or the map items it replied with."""
    m = SimpleNamespace(words=(uxm.OPS[name], *words), sender=proc.pid, objs=(), data=b"")
    try:
        return uxm._HANDLERS[uxm.OPS[name]](ux, proc, m)
    except uxm._Mapped as done:
        return done.args


class Model:
    """One process in the model: page -> [region id, protection]; page -> frame."""

    def __init__(self) -> None:
        self.pages: dict[int, list[int]] = {}
        self.held: dict[int, int] = {}
        self.next_vpn = BASE

    def regions(self) -> list[tuple[int, int]]:
        """The (first vpn, pages) of every region, sorted."""
        spans: dict[int, list[int]] = {}
        for v, (rid, _p) in self.pages.items():
            spans.setdefault(rid, []).append(v)
        return sorted((min(vs), len(vs)) for vs in spans.values())

    def copy(self) -> "Model":
        new = Model()
        new.pages = {v: list(e) for v, e in self.pages.items()}
        new.held, new.next_vpn = dict(self.held), self.next_vpn
        return new


class RegionMachine(RuleBasedStateMachine):
    """Random mmap/munmap/mprotect/dirty/faults/forks on the server's handlers."""

    def __init__(self) -> None:
        super().__init__()
        self._saved = uxm.MMAP_LIMIT, uxm.MAX_REGIONS
        uxm.MMAP_LIMIT, uxm.MAX_REGIONS = BASE + AREA, LIMIT
        self.ux = _server()
        self.procs: list[uxm.Proc] = []
        self.models: list[Model] = []
        self.rid = 0
        self._add(Model())

    def teardown(self) -> None:
        uxm.MMAP_LIMIT, uxm.MAX_REGIONS = self._saved

    def _add(self, model: Model, parent: uxm.Proc | None = None) -> None:
        pid = len(self.procs) + 1
        proc = uxm.Proc(pid, f"p{pid}", pid, None)
        self.ux.procs[pid] = proc
        self.ux.pids_of_threads[pid] = pid
        if parent is not None:
            self.ux._share(parent, proc)
        self.procs.append(proc)
        self.models.append(model)

    def _pick(self, i: int) -> tuple[uxm.Proc, Model]:
        return self.procs[i % len(self.procs)], self.models[i % len(self.models)]

    def _new_rid(self) -> int:
        self.rid += 1
        return self.rid

    def _holders(self, frame: int) -> int:
        return sum(frame in md.held.values() for md in self.models)

    def _refused(self, proc: uxm.Proc, errno: str, name: str, *words: int) -> None:
        """The call fails with ``errno`` and changes nothing."""
        before = (list(proc.regions), dict(proc.prot), dict(proc.rprot),
                  dict(proc.pages), proc.next_vpn)
        with pytest.raises(SyscallError) as got:
            _op(self.ux, proc, name, *words)
        assert got.value.errno == errno
        assert before == (list(proc.regions), dict(proc.prot), dict(proc.rprot),
                          dict(proc.pages), proc.next_vpn)

    @rule(i=st.integers(0, 3), pages=st.integers(1, 6), prot=st.sampled_from(PROTS))
    def mmap(self, i: int, pages: int, prot: int) -> None:
        proc, md = self._pick(i)
        if len(md.regions()) >= LIMIT:
            return self._refused(proc, "ENOMEM", "mmap", pages, prot)
        start = md.next_vpn
        if start + pages > BASE + AREA:
            free = [v for v in range(BASE, BASE + AREA - pages + 1)
                    if not any(u in md.pages for u in range(v, v + pages))]
            if not free:
                return self._refused(proc, "ENOMEM", "mmap", pages, prot)
            start = free[0]                     # first fit
        (va,), _ = _op(self.ux, proc, "mmap", pages, prot)
        assert va == start << 12
        rid = self._new_rid()
        for v in range(start, start + pages):
            md.pages[v] = [rid, prot]
        md.next_vpn = max(md.next_vpn, start + pages)

    @rule(i=st.integers(0, 3), at=st.integers(-2, AREA + 1), pages=st.integers(0, 7))
    def munmap(self, i: int, at: int, pages: int) -> None:
        proc, md = self._pick(i)
        first, end = BASE + at, BASE + at + pages
        hit = [(a, n) for a, n in md.regions() if a < end and a + n > first]
        pieces = sum((a < first) + (a + n > end) for a, n in hit)
        if len(md.regions()) - len(hit) + pieces > LIMIT:
            return self._refused(proc, "ENOMEM", "munmap", first, pages)
        frames = [md.held[v] for v in range(first, end) if v in md.held]
        _op(self.ux, proc, "munmap", first, pages)
        for a, n in hit:
            if a + n > end:                     # the part above is a region of its own
                rid = self._new_rid()
                for v in range(max(a, end), a + n):
                    md.pages[v][0] = rid
        for v in range(first, end):
            md.pages.pop(v, None)
            md.held.pop(v, None)
        for f in frames:                        # the last holder gives it back
            assert (f in self.ux.free) == (self._holders(f) == 0)

    @rule(i=st.integers(0, 3), at=st.integers(-1, AREA), pages=st.integers(1, 9),
          prot=st.sampled_from(PROTS))
    def mprotect(self, i: int, at: int, pages: int, prot: int) -> None:
        proc, md = self._pick(i)
        first = BASE + at
        span = range(first, first + pages)
        if any(v not in md.pages for v in span):
            return self._refused(proc, "EFAULT", "mprotect", first, pages, prot)
        self.ux.l4.flushed = []
        _, maps = _op(self.ux, proc, "mprotect", first, pages, prot)
        held = [md.held[v] for v in span if v in md.held]
        revoked = [f for what, _w in self.ux.l4.flushed for f in what]
        assert revoked == (held if prot != PROT_RW else [])
        want = [(md.held[v], 1, bool(prot & PROT_WRITE) and self._holders(md.held[v]) == 1,
                 False) for v in span if v in md.held and prot & ~md.pages[v][1]]
        assert list(maps) == (want if len(want) == pages <= uxm.EAGER_PAGES else [])
        for v in span:
            md.pages[v][1] = prot

    @rule(i=st.integers(0, 3), at=st.integers(-1, AREA), write=st.booleans())
    def fault(self, i: int, at: int, write: bool) -> None:
        proc, md = self._pick(i)
        v = BASE + at
        m = SimpleNamespace(words=(FAULT_TAG, v << 12, int(write)), sender=proc.pid)
        words, _d, _o, maps = self.ux._fault(m)
        prot = md.pages[v][1] if v in md.pages else None
        if prot is None or not prot & PROT_READ or (write and not prot & PROT_WRITE):
            assert words == (UPCALL_TAG, v << 12, int(write)) and maps == ()
            return
        old = md.held.get(v)
        frame = proc.pages[v]
        shared = old is not None and self._holders(old) > 1
        if old is None or (shared and write):   # demand-zero, or the write's copy
            assert frame != old and self._holders(frame) == 0
        else:
            assert frame == old
        md.held[v] = frame
        assert maps == ((frame, 1, bool(prot & PROT_WRITE) and not (shared and not write),
                         False),)

    @rule(i=st.integers(0, 3), at=st.integers(-1, AREA))
    def dirty(self, i: int, at: int) -> None:
        proc, md = self._pick(i)
        v = BASE + at
        if v not in md.pages:
            return self._refused(proc, "EFAULT", "dirty", v)
        assert _op(self.ux, proc, "dirty", v) == ((0,), b"")

    @rule(i=st.integers(0, 3))
    def fork(self, i: int) -> None:
        if len(self.procs) < 4:
            proc, md = self._pick(i)
            self._add(md.copy(), parent=proc)
            assert self.procs[-1].regions == proc.regions

    @invariant()
    def bookkeeping(self) -> None:
        for proc, md in zip(self.procs, self.models):
            regions = proc.regions
            assert regions == sorted(regions) == md.regions()
            for (a, n), (b, _m) in zip(regions, regions[1:]):
                assert n >= 1 and a + n <= b    # disjoint
            assert all(BASE <= a and a + n <= BASE + AREA for a, n in regions)
            assert len(regions) <= LIMIT
            assert set(proc.rprot) <= {a for a, _n in regions}
            assert proc.pages == md.held
            for v in range(BASE - 2, BASE + AREA + 2):
                e = md.pages.get(v)
                assert self.ux.prot_of(proc, v) == (None if e is None else e[1]), v
            for f in md.held.values():
                assert self.ux.refs.get(f, 1) == self._holders(f)


TestRegions = RegionMachine.TestCase
TestRegions.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)


# -- cost: region records read per call, not per region --------------------------------

class _Counted(list):  # type: ignore[type-arg]
    """A region list that counts the records read from it (bisect reads by index)."""

    reads = 0

    def __getitem__(self, i: Any) -> Any:
        _Counted.reads += 1
        return super().__getitem__(i)

    def __iter__(self) -> Any:
        for x in super().__iter__():
            _Counted.reads += 1
            yield x


def _reads(n: int) -> tuple[int, int, int]:
    """Region records read by an mprotect of 8 pages in the middle of ``n`` one-page
    regions, by a fault and by a dirty query next to them (pages without a
    protection of their own: the region decides)."""
    ux = _server()
    proc = uxm.Proc(1, "p", 1, None)
    ux.procs[1], ux.pids_of_threads[1] = proc, 1
    for _ in range(n):
        _op(ux, proc, "mmap", 1)
    proc.regions = _Counted(proc.regions)
    mid = BASE + n // 2
    got = []
    for call in (lambda: _op(ux, proc, "mprotect", mid, 8, PROT_READ),
                 lambda: ux._fault(SimpleNamespace(words=(FAULT_TAG, (mid + 10) << 12, 0),
                                                   sender=1)),
                 lambda: _op(ux, proc, "dirty", mid + 11)):
        _Counted.reads = 0
        call()
        got.append(_Counted.reads)
    return got[0], got[1], got[2]


def test_region_records_read_per_call_do_not_grow_with_the_region_count() -> None:
    """One mprotect over 8 pages, one fault and one dirty query read O(log n)
    region records (a binary search, then a walk over the regions the range
    covers): 10,000 regions cost a few more reads than 100, not 100 times as many."""
    small, large = _reads(100), _reads(10_000)
    assert all(r <= 8 + 2 * 14 for r in large), large   # 8 walked + 2 log2(10^4)
    assert all(b - a <= 2 * 7 for a, b in zip(small, large)), (small, large)


def test_a_process_holds_at_most_max_regions() -> None:
    """mmap past MAX_REGIONS, and a munmap that would split a region past it, are
    ENOMEM and change nothing (Linux's vm.max_map_count); a munmap that removes
    a whole region is always allowed."""
    saved = uxm.MAX_REGIONS
    uxm.MAX_REGIONS = 3
    try:
        ux = _server()
        proc = uxm.Proc(1, "p", 1, None)
        _op(ux, proc, "mmap", 4)
        _op(ux, proc, "mmap", 1)
        _op(ux, proc, "mmap", 1)
        with pytest.raises(SyscallError) as e:
            _op(ux, proc, "mmap", 1)
        assert e.value.errno == "ENOMEM"
        with pytest.raises(SyscallError) as e:
            _op(ux, proc, "munmap", BASE + 1, 2)          # the middle of the first
        assert e.value.errno == "ENOMEM" and len(proc.regions) == 3
        _op(ux, proc, "munmap", BASE + 4, 1)
        _op(ux, proc, "munmap", BASE + 1, 2)
        assert proc.regions == [(BASE, 1), (BASE + 3, 1), (BASE + 5, 1)]
    finally:
        uxm.MAX_REGIONS = saved
