"""Tests of exolab.kernels.monolithic.vm and signal: mmap, munmap, mprotect, faults."""
from __future__ import annotations

from typing import Any

from exolab.abi import ABI, PROT_NONE, PROT_READ, PROT_RW, PROT_WRITE
from exolab.kernels.monolithic.signal import MAX_NESTING
from exolab.kernels.monolithic.vm import USER_BASE, USER_TOP

from ._support import PAGE, errno, run, run_inspected


def _page(vaddr: int) -> int:
    return vaddr & ~(PAGE - 1)


def test_mmap_is_demand_zero_and_page_aligned() -> None:
    seen: dict[str, Any] = {}

    def main(os: ABI, k: Any) -> None:
        before = k.frames.in_use()
        a = os.mmap(3 * PAGE)
        b = os.mmap(1)                          # rounded up to a page
        seen["aligned"] = a % PAGE == 0 and b % PAGE == 0
        seen["disjoint"] = b >= a + 3 * PAGE and a >= USER_BASE
        seen["frames after mmap"] = k.frames.in_use() - before
        seen["zeros"] = [os.load(a + i * PAGE + 8, 8) for i in range(3)] + [os.load(b)]
        seen["frames after loads"] = k.frames.in_use() - before
        os.store(b + PAGE - 4, 0xDEADBEEF)
        seen["last word"] = os.load(b + PAGE - 4)
        seen["bytes"] = os.load_bytes(b + PAGE - 6, 6)

    run_inspected(main)
    assert seen["aligned"] and seen["disjoint"]
    assert seen["frames after mmap"] == 0           # nothing until touched
    assert seen["zeros"] == [0, 0, 0, 0]
    assert seen["frames after loads"] == 4          # one zero frame per touched page
    assert seen["last word"] == 0xDEADBEEF
    assert seen["bytes"] == b"\0\0" + (0xDEADBEEF).to_bytes(4, "little")


def test_loads_and_stores_of_every_size_are_little_endian_and_span_pages() -> None:
    seen: list[Any] = []

    def main(os: ABI) -> None:
        va = os.mmap(2 * PAGE)
        os.store(va, 0x1122334455667788, 8)
        seen.append([os.load(va, n) for n in (1, 2, 4, 8)])
        os.store(va + 8, 0x1FF, 1)              # only the low byte is stored
        seen.append(os.load(va + 8, 2))
        data = bytes(range(200))
        os.store_bytes(va + PAGE - 100, data)   # crosses into the second page
        seen.append(os.load_bytes(va + PAGE - 100, 200) == data)
        seen.append(os.load(va + PAGE, 1))

    run(main)
    assert seen == [[0x88, 0x7788, 0x55667788, 0x1122334455667788], 0xFF, True, 100]


def test_access_after_munmap_kills_with_sigsegv_at_that_address() -> None:
    seen: list[Any] = []

    def victim(os: ABI) -> None:
        va = os.mmap(2 * PAGE)
        os.store(va + PAGE, 1)
        os.munmap(va, 2 * PAGE)
        os.print("unmapped", hex(va + PAGE))
        os.load(va + PAGE)
        os.print("not reached")

    def main(os: ABI) -> None:
        pid = os.spawn(victim)
        seen.append(os.wait(pid))
        seen.append(pid)

    r = run(main)
    (wpid, status), pid = seen
    assert (wpid, status) == (pid, "SIGSEGV")
    addr = int(r.console[0].split()[1], 16)
    assert r.faults == [(pid, "SIGSEGV", addr)]
    assert r.console == [f"unmapped {hex(addr)}"]
    assert r.kernel.statistics().frames_in_use == 0


def test_munmap_of_part_of_a_mapping_keeps_the_rest() -> None:
    seen: list[Any] = []

    def main(os: ABI) -> None:
        va = os.mmap(4 * PAGE)
        os.store(va, 10)                        # touched before the hole
        os.munmap(va + PAGE, 2 * PAGE)
        seen.append(os.load(va))
        seen.append(os.load(va + 3 * PAGE))     # untouched, still demand-zero
        os.store(va + 3 * PAGE, 4)
        seen.append(os.load(va + 3 * PAGE))
        seen.append(errno(os.mprotect, va + PAGE, PAGE, PROT_READ))
        seen.append(os.dirty(va + 3 * PAGE))

    r = run(main)
    assert seen == [10, 0, 4, "EFAULT", True] and r.faults == []


def test_a_fault_handler_can_unprotect_the_page_and_the_access_resumes() -> None:
    calls: list[tuple[int, bool]] = []
    seen: list[Any] = []

    def handler(os: ABI, vaddr: int, write: bool) -> None:
        calls.append((vaddr, write))
        os.mprotect(_page(vaddr), PAGE, PROT_RW)

    def main(os: ABI) -> None:
        va = os.mmap(2 * PAGE)
        os.store(va + 16, 77)
        os.set_fault_handler(handler)
        os.mprotect(va, 2 * PAGE, PROT_NONE)
        seen.append(os.load(va + 16))           # faults once, then reads 77
        os.store(va + PAGE + 4, 5)              # faults once (write), then stores
        seen.append(os.load(va + PAGE + 4))
        os.mprotect(va, PAGE, PROT_READ)
        seen.append(os.load(va + 16))           # readable: no fault
        os.store(va + 20, 1)                    # write to read-only: faults
        seen.append(os.load(va + 20))

    r = run(main)
    assert seen == [77, 5, 77, 1]
    assert [w for _, w in calls] == [False, True, True]       # load, store, store
    assert [v % PAGE for v, _ in calls] == [16, 4, 20]
    assert _page(calls[1][0]) - _page(calls[0][0]) == PAGE == \
        _page(calls[1][0]) - _page(calls[2][0])
    assert r.faults == []
    assert r.kernel.statistics().faults == 0


def test_a_protection_fault_without_a_handler_kills_and_uninstalling_works() -> None:
    seen: list[Any] = []

    def prog(os: ABI, install_then_remove: bool) -> None:
        va = os.mmap(PAGE)
        os.mprotect(va, PAGE, PROT_READ)
        if install_then_remove:
            os.set_fault_handler(lambda os, v, w: seen.append("handler ran"))
            os.set_fault_handler(None)
        os.store(va, 1)

    def main(os: ABI) -> None:
        seen.append(os.wait(os.spawn(prog, False))[1])
        seen.append(os.wait(os.spawn(prog, True))[1])

    r = run(main)
    assert seen == ["SIGSEGV", "SIGSEGV"] and len(r.faults) == 2


def test_a_handler_that_does_not_fix_the_page_kills_its_process_only() -> None:
    calls: list[int] = []

    def stubborn(os: ABI) -> None:
        va = os.mmap(PAGE)
        os.mprotect(va, PAGE, PROT_NONE)
        os.set_fault_handler(lambda os, vaddr, write: calls.append(vaddr))
        os.load(va)

    def bystander(os: ABI) -> None:
        os.compute(20_000)
        os.print("bystander finished")

    def main(os: ABI) -> None:
        b = os.spawn(bystander)
        s = os.spawn(stubborn)
        os.print("stubborn", os.wait(s)[1])
        os.print("bystander", os.wait(b)[1])

    r = run(main)
    assert len(calls) == 1                      # no livelock: one delivery, then death
    assert r.console == ["bystander finished", "stubborn SIGSEGV", "bystander 0"]


def test_fault_handlers_nest_only_to_the_limit() -> None:
    depth: list[int] = []

    def prog(os: ABI) -> None:
        va = os.mmap(16 * PAGE)
        os.mprotect(va, 16 * PAGE, PROT_NONE)

        def handler(os: ABI, vaddr: int, write: bool) -> None:
            depth.append(vaddr)
            os.load(vaddr + PAGE)               # the next page faults too: nest
            os.mprotect(_page(vaddr), PAGE, PROT_RW)

        os.set_fault_handler(handler)
        os.load(va)

    def main(os: ABI) -> None:
        os.print(os.wait(os.spawn(prog))[1])

    r = run(main)
    assert len(depth) == MAX_NESTING
    assert [b - a for a, b in zip(depth, depth[1:])] == [PAGE] * (MAX_NESTING - 1)
    assert r.console == ["SIGSEGV"]
    assert r.faults[0][1:] == ("SIGSEGV", depth[-1] + PAGE)


def test_nesting_below_the_limit_is_fine() -> None:
    seen: list[Any] = []

    def main(os: ABI) -> None:
        va = os.mmap(3 * PAGE)
        os.store(va + 2 * PAGE, 42)
        os.mprotect(va, 3 * PAGE, PROT_NONE)

        def handler(os: ABI, vaddr: int, write: bool) -> None:
            page = _page(vaddr)
            if page - va < 2 * PAGE:
                os.load(page + PAGE)            # nests: 3 levels in all
            os.mprotect(page, PAGE, PROT_RW)

        os.set_fault_handler(handler)
        seen.append(os.load(va))
        seen.append(os.load(va + 2 * PAGE))

    r = run(main)
    assert seen == [0, 42] and r.faults == []


def test_dirty_bits_track_stores_since_mapping() -> None:
    seen: list[Any] = []

    def main(os: ABI) -> None:
        va = os.mmap(3 * PAGE)
        seen.append(os.dirty(va))               # untouched
        os.load(va)
        seen.append(os.dirty(va))               # read only
        os.store(va + 100, 1)
        seen.append(os.dirty(va + 5))           # any address in the page
        os.mprotect(va, PAGE, PROT_READ)
        seen.append(os.dirty(va))               # protection keeps the bit
        os.store_bytes(va + PAGE + 10, b"abc")
        seen.append(os.dirty(va + PAGE))
        seen.append(os.dirty(va + 2 * PAGE))
        seen.append(errno(os.dirty, va + 3 * PAGE))     # guard page: unmapped

    run(main)
    assert seen == [False, False, True, True, True, False, "EFAULT"]


def test_bad_vm_calls_are_typed_errors() -> None:
    seen: dict[str, str] = {}

    def main(os: ABI) -> None:
        va = os.mmap(2 * PAGE)
        cases: dict[str, tuple[Any, ...]] = {
            "mmap 0": (os.mmap, 0), "mmap negative": (os.mmap, -PAGE),
            "mmap huge": (os.mmap, 1 << 40), "mmap not int": (os.mmap, "4096"),
            "mmap bad prot": (os.mmap, PAGE, 4), "mmap negative prot": (os.mmap, PAGE, -1),
            "munmap unaligned": (os.munmap, va + 1, PAGE),
            "munmap zero length": (os.munmap, va, 0),
            "munmap not int": (os.munmap, "va", PAGE),
            "mprotect unaligned": (os.mprotect, va + 8, PAGE, PROT_READ),
            "mprotect bad prot": (os.mprotect, va, PAGE, 9),
            "mprotect not int": (os.mprotect, None, PAGE, PROT_READ),
            "mprotect unmapped": (os.mprotect, va + 2 * PAGE, PAGE, PROT_READ),
            "mprotect partly unmapped": (os.mprotect, va, 3 * PAGE, PROT_READ),
            "mprotect beyond": (os.mprotect, USER_TOP, PAGE, PROT_READ),
            "dirty unmapped": (os.dirty, 0), "dirty not int": (os.dirty, "x"),
            "handler not callable": (os.set_fault_handler, 3),
        }
        for name, (call, *args) in cases.items():
            seen[name] = errno(call, *args)
        os.store(va, 1)                         # nothing above changed the mapping
        os.store(va + PAGE, 1)

    r = run(main)
    efault = {"mprotect unmapped", "mprotect partly unmapped", "mprotect beyond",
              "dirty unmapped", "dirty not int"}
    for name, e in seen.items():
        assert e == ("EFAULT" if name in efault else "EINVAL"), (name, e)
    assert r.faults == []


def test_virtual_space_runs_out_with_enomem() -> None:
    seen: list[Any] = []

    def main(os: ABI) -> None:
        whole = USER_TOP - USER_BASE
        seen.append(os.mmap(whole) == USER_BASE)    # all of it, demand-zero: free
        seen.append(errno(os.mmap, PAGE))
        os.store(USER_TOP - 8, 1, 8)                # the top page is usable
        seen.append(os.load(USER_TOP - 8, 8))

    r = run(main)
    assert seen == [True, "ENOMEM", 1]
    assert r.kernel.statistics().frames_in_use == 0


def test_bad_pointers_in_read_into_and_write_from_are_efault_and_the_process_goes_on(
) -> None:
    seen: list[Any] = []
    handled: list[int] = []

    def main(os: Any) -> None:                  # the monolithic libc's pointer forms
        rfd, wfd = os.pipe()
        va = os.mmap(PAGE)
        ro = os.mmap(PAGE, PROT_READ)
        os.set_fault_handler(lambda os, v, w: handled.append(v))   # kernel faults skip it
        os.write(wfd, b"0123456789")
        seen.append(errno(os.read_into, rfd, 0x7000_0000, 4))      # unmapped
        seen.append(errno(os.read_into, rfd, va + PAGE - 2, 4))    # runs off the end
        seen.append(errno(os.read_into, rfd, ro, 4))               # not writable
        seen.append(errno(os.read_into, rfd, None, 4))
        seen.append(errno(os.write_from, wfd, 0x7000_0000, 4))
        seen.append(errno(os.write_from, wfd, va, 1 << 40))
        seen.append(errno(os.write_from, wfd, "va", 4))
        n = os.read_into(rfd, va, 100)          # the pointer forms still work
        seen.append(os.load_bytes(va, n))
        os.store_bytes(va, b"xyz")
        seen.append(os.write_from(wfd, va, 3))
        seen.append(os.read(rfd, 10))
        os.print("still running")

    r = run(main)
    assert seen[:7] == ["EFAULT"] * 7
    # the read into the read-only page had taken "0123" before its copy-out failed
    assert seen[7:] == [b"456789", 3, b"xyz"]
    assert handled == []
    assert r.console == ["still running"] and r.faults == []


def test_write_only_pages_are_not_accessible_on_this_mmu() -> None:
    seen: list[Any] = []

    def prog(os: ABI) -> None:
        va = os.mmap(PAGE, PROT_WRITE)
        os.store(va, 1)

    def main(os: ABI) -> None:
        seen.append(os.wait(os.spawn(prog))[1])

    run(main)
    assert seen == ["SIGSEGV"]


def test_frames_all_return_after_a_busy_run() -> None:
    def child(os: ABI, va: int) -> None:
        for i in range(8):
            os.store(va + i * PAGE, i)

    def main(os: ABI, k: Any) -> None:
        va = os.mmap(8 * PAGE)
        for i in range(4):
            os.store(va + i * PAGE, i)
        os.mprotect(va, 8 * PAGE, PROT_READ)    # materializes the untouched half
        os.mprotect(va, 8 * PAGE, PROT_RW)
        os.wait(os.fork(child, va))
        os.munmap(va, 2 * PAGE)
        k.vm.audit(k.processes[os.getpid()].space)

    k = run_inspected(main)
    assert k.frames.in_use() == 0
