"""Mach's pmap_protect rule (kernels/mach/vm.py): a raise is lazy, a lowering walks
the range once with Mach's own pmap code and invalidates the TLB as the pmap does;
a lazily opened page is opened by its first write's fault; and a fault handler's
return (sigreturn) is an RPC to the UX server."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.abi import PROT_READ, PROT_RW

from tests.kernels.mach._support import boot

PAGE = 4096


def _timed(os: Any, va: int, pages: int, prot: int) -> int:
    t0 = os.time()
    os.mprotect(va, pages * PAGE, prot)
    return os.time() - t0


def test_unprotect_does_no_per_page_work_and_protect_does() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        va = os.mmap(100 * PAGE, PROT_RW)
        for i in range(100):
            os.store(va + i * PAGE, i)
        out["prot1"] = _timed(os, va, 1, PROT_READ)
        out["unprot1"] = _timed(os, va, 1, PROT_RW)
        out["prot100"] = _timed(os, va, 100, PROT_READ)
        out["unprot100"] = _timed(os, va, 100, PROT_RW)
        return 0

    k = boot(main, profile="alpha")
    # one pmap_protect call either way; 99 more PTEs of pmap_make_readonly (give or
    # take a TLB walk of the path's footprint: the tbia before left other entries)
    assert abs(out["prot100"] - out["prot1"] - 99 * k.paths["mach_pmap_pte"]) < 100
    assert out["unprot100"] == out["unprot1"]           # nothing per page


def _protect_costs(profile: str, paths: dict[str, int] | None = None
                   ) -> tuple[int, Any, Any]:
    """(cycles of read-protecting 8 written pages, TLB stats before, after)."""
    from exolab.kernels.mach import MachKernel
    from exolab.machine.machine import Machine
    out: dict[str, Any] = {}
    k = MachKernel(Machine(profile), paths=paths)

    def main(os: Any) -> int:
        va = os.mmap(8 * PAGE, PROT_RW)
        for i in range(8):
            os.store(va + i * PAGE, i)
        out["before"] = k.machine.cpu.tlb.statistics()
        out["t"] = _timed(os, va, 8, PROT_READ)
        out["after"] = k.machine.cpu.tlb.statistics()
        return 0

    k.boot(main)
    k.run()
    k.machine.close()
    assert not k.faults
    return out["t"], out["before"], out["after"]


def test_a_lowering_flushes_an_untagged_tlb_once_and_a_tagged_one_per_page() -> None:
    _t, before, after = _protect_costs("alpha")         # the Alpha pmap's tbia
    assert after.flushes == before.flushes + 1
    _t, before, after = _protect_costs("dec5000")       # the mips pmap's tlb_modify
    assert after.flushes == before.flushes
    assert after.invalidations - before.invalidations == 8


def test_the_per_page_work_is_machs_pmap_not_the_monolithic_kernels() -> None:
    base, _b, _a = _protect_costs("alpha")
    assert _protect_costs("alpha", {"mono_pte_op": 10 ** 6})[0] == base
    more, _b, _a = _protect_costs("alpha", {"mach_pmap_pte": 1005})
    assert more - base == 8 * 1000


def test_a_lazily_opened_page_is_opened_by_its_first_write() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        va = os.mmap(2 * PAGE, PROT_RW)
        os.store(va, 1)
        os.store(va + PAGE, 2)
        os.mprotect(va, 2 * PAGE, PROT_READ)
        os.load(va)                                     # a read-only entry again
        os.mprotect(va, 2 * PAGE, PROT_RW)              # lazy: the pmap lags
        out["lazy"] = k.vm.lazy_pages(k.processes[os.getpid()].space)
        out["read"] = os.load(va + PAGE)                # reads need no fault
        out["after_read"] = k.vm.soft_faults
        os.store(va, 7)                                 # the soft fault
        os.store(va, 8)                                 # an ordinary page now
        out["after_writes"] = k.vm.soft_faults
        out["value"] = os.load(va)
        return 0

    from exolab.kernels.mach import MachKernel
    from exolab.machine.machine import Machine
    k = MachKernel(Machine("dec5000"))
    k.boot(main)
    k.run()
    k.machine.close()
    assert not k.faults
    assert out["lazy"] == 2 and out["read"] == 2
    assert out["after_read"] == 0 and out["after_writes"] == 1
    assert out["value"] == 8


def test_a_lowering_after_a_lazy_raise_still_protects() -> None:
    faults: list[int] = []

    def main(os: Any) -> int:
        va = os.mmap(PAGE, PROT_RW)
        os.store(va, 1)

        def handler(os: Any, vaddr: int, write: bool) -> None:
            faults.append(vaddr)
            os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)

        os.set_fault_handler(handler)
        os.mprotect(va, PAGE, PROT_READ)
        os.mprotect(va, PAGE, PROT_RW)                  # lazy
        os.mprotect(va, PAGE, PROT_READ)                # lowered again: now
        os.store(va, 2)                                 # the handler's fault
        return 0

    k = boot(main)
    assert not k.faults and len(faults) == 1


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["ro", "rw", "store"])),
                min_size=1, max_size=12))
def test_a_store_faults_exactly_when_the_map_forbids_it(ops: list[tuple[int, str]]) -> None:
    """Whatever the pmap lags, a store reaches the handler iff the map is read-only."""
    faults: list[int] = []
    expected: list[int] = []

    def main(os: Any) -> int:
        va = os.mmap(3 * PAGE, PROT_RW)
        for i in range(3):
            os.store(va + i * PAGE, i)
        prot = [PROT_RW] * 3

        def handler(os: Any, vaddr: int, write: bool) -> None:
            page = (vaddr - va) // PAGE
            faults.append(page)
            prot[page] = PROT_RW
            os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)

        os.set_fault_handler(handler)
        for page, op in ops:
            if op == "store":
                if prot[page] != PROT_RW:
                    expected.append(page)
                os.store(va + page * PAGE, 9)
                assert os.load(va + page * PAGE) == 9
            else:
                prot[page] = PROT_READ if op == "ro" else PROT_RW
                os.mprotect(va + page * PAGE, PAGE, prot[page])
        return 0

    k = boot(main)
    assert not k.faults
    assert faults == expected


def test_sigreturn_is_a_unix_call_to_the_server() -> None:
    def main(os: Any) -> int:
        va = os.mmap(PAGE, PROT_RW)
        os.store(va, 1)
        os.set_fault_handler(lambda os, vaddr, write: os.mprotect(va, PAGE, PROT_RW))
        os.mprotect(va, PAGE, PROT_READ)
        os.store(va, 2)
        return 0

    k = boot(main)
    calls = k.ux.statistics().calls
    # mmap, set_fault_handler: kernel or server calls; the fault adds sigreturn
    assert not k.faults and calls >= 1

    def no_fault(os: Any) -> int:
        va = os.mmap(PAGE, PROT_RW)
        os.store(va, 1)
        os.set_fault_handler(lambda os, vaddr, write: None)
        os.mprotect(va, PAGE, PROT_READ)
        os.mprotect(va, PAGE, PROT_RW)
        os.store(va, 2)
        return 0

    assert calls == boot(no_fault).ux.statistics().calls + 1


def test_the_pmap_counters_show_a_lowering_walk_and_a_lazy_page() -> None:
    def main(os: Any) -> int:
        va = os.mmap(4 * PAGE, PROT_RW)
        for i in range(4):
            os.store(va + i * PAGE, i)
        os.mprotect(va, 4 * PAGE, PROT_READ)            # one walk
        os.mprotect(va, 4 * PAGE, PROT_RW)              # none: four lazy pages
        os.store(va, 9)                                 # one of them opened
        return 0

    k = boot(main, profile="alpha")
    vm = k.statistics().vm
    assert not k.faults
    assert (vm.pmap_calls, vm.soft_faults) == (1, 1)


def test_a_page_query_is_machs_lookup_and_tells_written_from_clean() -> None:
    from exolab.kernels.mach import MachKernel
    from exolab.machine.machine import Machine
    out: dict[str, Any] = {}

    def run(paths: dict[str, int] | None) -> int:
        k = MachKernel(Machine("alpha"), paths=paths)

        def main(os: Any) -> int:
            va = os.mmap(2 * PAGE, PROT_RW)
            os.store(va, 1)
            out["written"], out["clean"] = os.dirty(va), os.dirty(va + PAGE)
            t0 = os.time()
            os.dirty(va)
            out["t"] = os.time() - t0
            return 0

        k.boot(main)
        k.run()
        k.machine.close()
        assert not k.faults
        return int(out["t"])

    base = run(None)
    assert out["written"] is True and out["clean"] is False
    assert run({"mono_pte_op": 10 ** 6}) == base         # not the monolithic PTE op
    assert run({"mach_page_query": 1060}) - base == 1000
