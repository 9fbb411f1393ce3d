"""Shared memory, protections, dirty bits and fault handlers on L4 (kernels/l4/ux.py,
personality.py, system.py): every one flows through the pager (the UNIX server)
as map items, flushes, access bits and an upcall."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.abi import PROT_NONE, PROT_READ, PROT_RW
from exolab.errors import SyscallError
from exolab.kernels import make_kernel
from exolab.kernels.l4.system import MAX_NESTING
from exolab.kernels.l4.ux import EAGER_PAGES, MAX_SHM
from exolab.machine import Machine

PAGE = 4096


def _run(program: Any, *args: Any, profile: str = "i486", frames: int = 4096) -> Any:
    k = make_kernel("l4", Machine(profile, frames=frames))
    k.boot(program, *args)
    assert k.run().reason == "finished", (k.console, k.faults)
    return k


def _err(fn: Any, *args: Any) -> str:
    try:
        fn(*args)
    except SyscallError as ex:
        return str(ex.errno)
    return "ok"


def test_an_attached_segment_is_mapped_page_by_page_by_the_pager() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        key = os.shm_create(3 * PAGE)
        va = os.shm_attach(key)
        mapped = os._k.ipc.pages_mapped
        os.store(va + 2 * PAGE, 5)                  # one fault, one map item
        out["items"] = os._k.ipc.pages_mapped - mapped
        vb = os.shm_attach(key)                     # a second attach: a new address
        out["same"] = (vb != va, os.load(vb + 2 * PAGE))

    k = _run(main)
    assert out == {"items": 1, "same": (True, 5)}
    assert k.ux.statistics()["segments"] == 1 and k.ux.statistics()["segment_pages"] == 3


def test_fork_keeps_a_segment_shared_and_private_memory_copied() -> None:
    out: dict[str, Any] = {}

    def child(os: Any, seg: int, priv: int, w: int) -> int:
        os.store(seg, 77)                           # shared: the parent sees it
        os.store(priv, 88)                          # private: copied on write
        os.write(w, b"!")
        return 0

    def main(os: Any) -> None:
        seg = os.shm_attach(os.shm_create(PAGE))
        priv = os.mmap(PAGE)
        os.store(seg, 1)
        os.store(priv, 2)
        r, w = os.pipe()
        pid = os.fork(child, seg, priv, w)
        os.read(r, 1)
        out["seen"] = (os.load(seg), os.load(priv))
        os.store(seg, 3)
        os.wait(pid)

    _run(main)
    assert out["seen"] == (77, 2)


def test_detach_unmaps_only_the_detacher_and_the_segment_persists() -> None:
    out: dict[str, Any] = {}

    def late(os: Any, key: int) -> int:
        return os.load(os.shm_attach(key))

    def main(os: Any) -> None:
        key = os.shm_create(PAGE)
        a, b = os.shm_attach(key), os.shm_attach(key)
        os.store(a, 41)
        os.shm_detach(a)
        out["b"] = os.load(b)                       # the other attach faults back in
        out["twice"] = _err(os.shm_detach, a)
        os.shm_detach(b)
        out["late"] = os.wait(os.spawn(late, key))[1]   # nobody attached: still there

    k = _run(main)
    assert out == {"b": 41, "twice": "EINVAL", "late": 41}
    assert [f for f in k.faults] == []


def test_a_detached_address_faults() -> None:
    def main(os: Any) -> None:
        va = os.shm_attach(os.shm_create(PAGE))
        os.store(va, 1)
        os.shm_detach(va)
        os.load(va)

    k = make_kernel("l4", Machine("i486", frames=4096))
    k.boot(main)
    k.run()
    assert [f[1] for f in k.faults] == ["SIGSEGV"]


def test_segment_limits_and_out_of_memory_leave_nothing() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        out["zero"] = _err(os.shm_create, 0)
        out["big"] = _err(os.shm_create, MAX_SHM + 1)
        free = len(os._k.ux.free)
        out["enomem"] = _err(os.shm_create, MAX_SHM)   # more than this machine has
        out["kept"] = len(os._k.ux.free) >= free and not os._k.ux.seg_frames
        out["ok"] = os.shm_create(PAGE) > 0

    _run(main, frames=1024)
    assert out == {"zero": "EINVAL", "big": "EINVAL", "enomem": "ENOMEM", "kept": True,
                   "ok": True}


@pytest.mark.parametrize("pages", [1, EAGER_PAGES + 4])
def test_mprotect_takes_rights_back_by_flush_and_gives_them_back(pages: int) -> None:
    out: dict[str, Any] = {"faults": []}

    def main(os: Any) -> None:
        va = os.mmap(pages * PAGE)
        for i in range(pages):
            os.store(va + i * PAGE, i + 1)

        def handler(os: Any, vaddr: int, write: bool) -> None:
            out["faults"].append(((vaddr - va) // PAGE, write))
            os.mprotect(va, pages * PAGE, PROT_RW)

        os.set_fault_handler(handler)
        os.mprotect(va, pages * PAGE, PROT_READ)
        out["read"] = [os.load(va + i * PAGE) for i in range(pages)]
        os.store(va + (pages - 1) * PAGE + 4, 50)   # write-protected: the handler
        os.mprotect(va, pages * PAGE, PROT_NONE)
        out["none"] = os.load(va)                   # protected: the handler again
        out["last"] = os.load(va + (pages - 1) * PAGE + 4)

    _run(main)
    assert out["read"] == list(range(1, pages + 1))
    assert out["faults"] == [(pages - 1, True), (0, False)]
    assert (out["none"], out["last"]) == (1, 50)


def test_an_unprotect_of_a_few_held_pages_maps_them_in_the_reply() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        va = os.mmap(2 * PAGE)
        os.store(va, 1)
        os.store(va + PAGE, 2)
        os.mprotect(va, 2 * PAGE, PROT_NONE)
        before = os._k.page_faults
        os.mprotect(va, 2 * PAGE, PROT_RW)
        os.store(va, 3)
        os.store(va + PAGE, 4)
        out["faults"] = os._k.page_faults - before

    _run(main)
    assert out == {"faults": 0}


def test_mprotect_decodes_the_whole_range_first() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        va = os.mmap(2 * PAGE)
        os.store(va, 9)
        out["beyond"] = _err(os.mprotect, va, 8 * PAGE, PROT_NONE)   # runs past the end
        out["still"] = os.load(va)                                    # nothing changed
        out["unaligned"] = _err(os.mprotect, va + 4, PAGE, PROT_NONE)
        out["prot"] = _err(os.mprotect, va, PAGE, 9)
        out["zero"] = _err(os.mprotect, va, 0, PROT_NONE)

    k = _run(main)
    assert out == {"beyond": "EFAULT", "still": 9, "unaligned": "EINVAL", "prot": "EINVAL",
                   "zero": "EINVAL"}
    assert k.faults == []


def test_mmap_protection_is_kept() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        va = os.mmap(PAGE, PROT_READ)
        out["read"] = os.load(va)
        os.set_fault_handler(lambda os, v, w: out.setdefault("handled", (v - va, w)))
        os.store(va, 1)                             # not fixed: the process ends

    k = make_kernel("l4", Machine("i486", frames=4096))
    k.boot(main)
    k.run()
    assert out == {"read": 0, "handled": (0, True)}
    assert [f[1] for f in k.faults] == ["SIGSEGV"]


@pytest.mark.parametrize("profile", ["i486", "dec5000"])
def test_dirty_is_the_kernels_access_bits_even_after_a_switch(profile: str) -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        va = os.mmap(3 * PAGE)
        os.load(va)                                 # faulted in by a read
        os.load(va + PAGE)
        out["clean"] = os.dirty(va)
        os.getpid()                                 # two address-space switches
        os.store(va, 1)                             # a store through the read's entry
        os.getpid()
        out["after"] = os.dirty(va)
        out["other"] = os.dirty(va + PAGE)
        out["untouched"] = os.dirty(va + 2 * PAGE)  # never faulted in: the pager says no
        os.mprotect(va, PAGE, PROT_READ)            # new rights, the same page
        out["kept"] = os.dirty(va)
        out["outside"] = _err(os.dirty, va + 64 * PAGE)
        out["junk"] = _err(os.dirty, "x")

    _run(main, profile=profile)
    assert out == {"clean": False, "after": True, "other": False, "untouched": False,
                   "kept": True, "outside": "EFAULT", "junk": "EFAULT"}


def test_a_handler_that_faults_itself_nests_to_the_limit_then_the_process_ends() -> None:
    depth: list[int] = []

    def victim(os: Any) -> None:
        va = os.mmap(PAGE)
        os.mprotect(va, PAGE, PROT_NONE)

        def handler(os: Any, vaddr: int, write: bool) -> None:
            depth.append(1)
            os.load(va)                             # faults again, inside the handler

        os.set_fault_handler(handler)
        os.load(va)

    def main(os: Any) -> None:
        print_status = os.wait(os.spawn(victim))[1]
        os.print("victim", print_status)

    k = _run(main)
    assert len(depth) == MAX_NESTING
    assert k.console == ["victim SIGSEGV"]


def test_a_handler_that_raises_ends_its_process_with_that_fault() -> None:
    def victim(os: Any) -> None:
        va = os.mmap(PAGE)
        os.mprotect(va, PAGE, PROT_NONE)

        def handler(os: Any, vaddr: int, write: bool) -> None:
            raise ValueError("no")

        os.set_fault_handler(handler)
        os.load(va)

    def main(os: Any) -> None:
        os.print(os.wait(os.spawn(victim))[1])

    k = _run(main)
    assert k.console == ["fault: ValueError: no"]


def test_a_fork_child_inherits_the_fault_handler() -> None:
    def on_fault(os: Any, vaddr: int, write: bool) -> None:
        os.print("handled")
        os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)

    def child(os: Any, va: int) -> int:
        os.store(va, 7)
        return os.load(va)

    def main(os: Any) -> None:
        os.set_fault_handler(on_fault)
        va = os.mmap(PAGE)
        os.mprotect(va, PAGE, PROT_NONE)
        os.print("child", os.wait(os.fork(child, va))[1])

    k = _run(main)
    assert k.console == ["handled", "child 7"]


def test_set_fault_handler_decodes_its_argument() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        out["bad"] = _err(os.set_fault_handler, 5)
        out["none"] = _err(os.set_fault_handler, None)

    _run(main)
    assert out == {"bad": "EINVAL", "none": "ok"}
