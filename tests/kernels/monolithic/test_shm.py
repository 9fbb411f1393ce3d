"""Tests of exolab.kernels.monolithic.shm: segments shared between processes."""
from __future__ import annotations

from typing import Any

from exolab.abi import ABI
from exolab.kernels.monolithic.shm import MAX_SHM

from ._support import PAGE, errno, run, run_inspected


def test_two_spawned_processes_see_each_others_stores() -> None:
    def peer(os: ABI, key: int) -> int:
        va = os.shm_attach(key)
        while os.load(va) != 1:                 # wait for the creator's signal
            os.yield_()
        os.store(va + 8, 4242, 8)
        os.store(va, 2)
        return va

    def main(os: ABI) -> None:
        key = os.shm_create(PAGE)
        va = os.shm_attach(key)
        assert va % PAGE == 0 and os.load(va, 8) == 0
        pid = os.spawn(peer, key)               # a fresh address space, no fork
        os.store(va, 1)
        while os.load(va) != 2:
            os.yield_()
        os.print("peer wrote", os.load(va + 8, 8))
        os.wait(pid)

    r = run(main)
    assert r.console == ["peer wrote 4242"] and r.faults == []


def test_fork_shares_an_attached_segment_instead_of_copying_it() -> None:
    seen: list[Any] = []

    def child(os: ABI, shared: int, private: int) -> None:
        os.store(shared, 11)
        os.store(private, 22)

    def main(os: ABI) -> None:
        shared = os.shm_attach(os.shm_create(PAGE))
        private = os.mmap(PAGE)
        os.store(shared, 1)
        os.store(private, 2)
        os.wait(os.fork(child, shared, private))
        seen.append((os.load(shared), os.load(private)))

    run(main)
    assert seen == [(11, 2)]


def test_a_multi_page_segment_is_contiguous_and_bounded() -> None:
    seen: list[Any] = []

    def overrun(os: ABI, key: int) -> None:
        va = os.shm_attach(key)
        os.store(va + 4 * PAGE, 1)              # one past the last page

    def main(os: ABI) -> None:
        key = os.shm_create(3 * PAGE + 1)       # rounds up to 4 pages
        va = os.shm_attach(key)
        for i in range(4):
            os.store(va + i * PAGE + PAGE - 4, i + 1)
        seen.append(os.load_bytes(va + PAGE - 4, 4))
        seen.append(os.wait(os.spawn(overrun, key))[1])

    run(main)
    assert seen == [b"\x01\0\0\0", "SIGSEGV"]


def test_detach_unmaps_and_the_segment_persists_for_a_later_attach() -> None:
    seen: list[Any] = []

    def prog(os: ABI) -> None:
        key = os.shm_create(PAGE)
        va = os.shm_attach(key)
        os.store(va, 99)
        os.shm_detach(va)
        again = os.shm_attach(key)
        seen.append((again != va, os.load(again)))
        os.load(va)                             # the old address is gone

    def main(os: ABI) -> None:
        seen.append(os.wait(os.spawn(prog))[1])

    r = run(main)
    assert seen == [(True, 99), "SIGSEGV"]
    assert r.faults[0][1] == "SIGSEGV"


def test_bad_segment_calls_are_typed_errors() -> None:
    seen: dict[str, str] = {}

    def main(os: ABI) -> None:
        va = os.mmap(PAGE)
        seen["create 0"] = errno(os.shm_create, 0)
        seen["create negative"] = errno(os.shm_create, -1)
        seen["create huge"] = errno(os.shm_create, MAX_SHM + 1)
        seen["create not int"] = errno(os.shm_create, "4096")
        seen["attach unknown"] = errno(os.shm_attach, 77)
        seen["attach garbage"] = errno(os.shm_attach, [])
        seen["detach anonymous"] = errno(os.shm_detach, va)
        seen["detach nothing"] = errno(os.shm_detach, 0x5000_0000)
        seen["detach garbage"] = errno(os.shm_detach, None)

    run(main)
    assert seen == {
        "create 0": "EINVAL", "create negative": "EINVAL", "create huge": "EINVAL",
        "create not int": "EINVAL", "attach unknown": "ESRCH", "attach garbage": "ESRCH",
        "detach anonymous": "EINVAL", "detach nothing": "EINVAL",
        "detach garbage": "EINVAL"}


def test_segments_hold_their_frames_until_the_machine_ends() -> None:
    def main(os: ABI, k: Any) -> None:
        key = os.shm_create(2 * PAGE)
        assert k.frames.in_use() == 2           # allocated and zeroed at creation
        os.shm_attach(key)
        os.shm_attach(key)                      # attached twice: still two frames
        assert k.frames.in_use() == 2

    k = run_inspected(main)
    assert k.frames.in_use() == 2 and len(k.segments) == 1
