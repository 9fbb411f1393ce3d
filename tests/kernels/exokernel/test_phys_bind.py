"""Exposed physical memory and secure bindings, through the raw Aegis interface."""
from __future__ import annotations

from typing import Any

from exolab.kernels.exokernel import Sys
from exolab.kernels.exokernel.bind import VALID, WRITABLE

from ._support import PAGE, errno, run

VPN = 0x5000                    # a page outside ExOS's page table (raw bindings)


def test_alloc_by_number_list_and_free() -> None:
    out: dict[str, Any] = {}

    def prog(os: Any) -> None:
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        out["lowest"] = ppn
        want = ppn + 100
        p2, h2 = os.aegis(Sys.PAGE_ALLOC, want)          # a specific physical page
        out["specific"] = p2 == want
        out["taken"] = errno(os.aegis, Sys.PAGE_ALLOC, want)
        out["bad"] = errno(os.aegis, Sys.PAGE_ALLOC, 10 ** 9)
        listed = dict(os.aegis(Sys.PAGE_LIST))
        out["listed"] = listed.get(ppn) == h and listed.get(want) == h2
        os.aegis(Sys.PAGE_FREE, h2)
        out["freed"] = want not in dict(os.aegis(Sys.PAGE_LIST))
        out["again"] = os.aegis(Sys.PAGE_ALLOC, want)[0] == want
        out["double_free"] = errno(os.aegis, Sys.PAGE_FREE, h2)

    run(prog)
    assert out["lowest"] >= 64 and out["specific"] and out["listed"]
    assert (out["taken"], out["bad"], out["double_free"]) == ("EAGAIN", "EINVAL", "EBADF")
    assert out["freed"] and out["again"]


def test_binding_needs_a_capability_for_that_page_with_the_right() -> None:
    out: dict[str, Any] = {}

    def prog(os: Any) -> None:
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        other, _h2 = os.aegis(Sys.PAGE_ALLOC, None)
        ro = os.aegis(Sys.CAP_DERIVE, h, ("read",))
        out["wrong_page"] = errno(os.aegis, Sys.TLB_WRITE, VPN, other, h, VALID)
        out["no_write"] = errno(os.aegis, Sys.TLB_WRITE, VPN, ppn, ro, VALID | WRITABLE)
        out["kernel_space"] = errno(os.aegis, Sys.TLB_WRITE, 0x90000, ppn, h, VALID)
        os.aegis(Sys.TLB_WRITE, VPN, ppn, h, VALID | WRITABLE)
        os.store(VPN * PAGE, 0xBEEF)
        os.aegis(Sys.TLB_WRITE, VPN + 1, ppn, ro, VALID)     # an alias, read-only
        out["alias"] = os.load((VPN + 1) * PAGE)
        out["info"] = os.aegis(Sys.CAP_INFO, ro)

    run(prog)
    assert (out["wrong_page"], out["no_write"], out["kernel_space"]) == \
        ("EPERM", "EPERM", "EFAULT")
    assert out["alias"] == 0xBEEF
    assert out["info"][0] == "page" and out["info"][2] == ("read",)


def test_revoking_a_derived_capability_breaks_its_bindings() -> None:
    out: dict[str, Any] = {}

    def prog(os: Any) -> None:
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        rw = os.aegis(Sys.CAP_DERIVE, h, ("read", "write"))
        os.aegis(Sys.TLB_WRITE, VPN, ppn, rw, VALID | WRITABLE)
        os.store(VPN * PAGE, 5)
        broken = os.aegis(Sys.CAP_REVOKE, rw)
        out["broken"] = broken
        out["reuse"] = errno(os.aegis, Sys.TLB_WRITE, VPN, ppn, rw, VALID)
        out["root_kept"] = os.aegis(Sys.CAP_INFO, h)[1] == ppn
        out["root_revoke"] = errno(os.aegis, Sys.CAP_REVOKE, h)

    r = run(prog)
    assert out["broken"] == 1 and out["reuse"] == "EBADF"
    assert out["root_kept"] and out["root_revoke"] == "EPERM"
    k = r.kernel
    assert all(e.vpn != VPN for e in k.stlb.slots if e is not None)  # type: ignore[attr-defined]


def test_a_capabilitys_bindings_are_recorded_one_then_many_and_all_broken() -> None:
    out: dict[str, Any] = {}

    def prog(os: Any) -> None:
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        one = os.aegis(Sys.CAP_DERIVE, h, ("read",))
        os.aegis(Sys.TLB_WRITE, VPN, ppn, one, VALID)
        os.aegis(Sys.TLB_WRITE, VPN, ppn, one, VALID)      # the same binding again
        out["one"] = os.aegis(Sys.CAP_REVOKE, one)
        many = os.aegis(Sys.CAP_DERIVE, h, ("read",))
        for k in range(3):
            os.aegis(Sys.TLB_WRITE, VPN + k, ppn, many, VALID)
        os.aegis(Sys.TLB_UNBIND, VPN + 1, 1)                # forgotten: not broken again
        out["many"] = os.aegis(Sys.CAP_REVOKE, many)
        gone = os.aegis(Sys.CAP_DERIVE, h, ("read",))
        os.aegis(Sys.TLB_WRITE, VPN + 5, ppn, gone, VALID)
        os.aegis(Sys.TLB_UNBIND, VPN + 5, 1)
        out["none"] = os.aegis(Sys.CAP_REVOKE, gone)

    r = run(prog)
    assert (out["one"], out["many"], out["none"]) == (1, 2, 0)
    k = r.kernel
    assert all(not VPN <= e.vpn <= VPN + 5 for e in k.stlb.slots  # type: ignore[attr-defined]
               if e is not None)


def test_stlb_serves_misses_without_upcalls() -> None:
    def prog(os: Any) -> None:
        va = os.mmap(200 * PAGE)
        for rnd in range(3):
            for i in range(200):
                os.store(va + i * PAGE, rnd)

    r = run(prog)
    st = r.kernel.statistics()  # type: ignore[attr-defined]
    assert st.stlb.hits > 300           # 200 pages > 64 TLB entries: refills hit the STLB
    assert st.tlb_upcalls < 260         # ExOS saw each page about once


def test_guaranteed_mappings_are_capped_and_checked() -> None:
    out: dict[str, Any] = {}

    def prog(os: Any) -> None:
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        out["forged"] = errno(os.aegis, Sys.GUARANTEE, VPN, ppn, h ^ 0xFFFF, True)
        os.aegis(Sys.GUARANTEE, VPN, ppn, h, True)
        out["bind_over"] = errno(os.aegis, Sys.TLB_WRITE, VPN, ppn, h, VALID)
        os.store(VPN * PAGE, 1)

    run(prog)
    assert out == {"forged": "EBADF", "bind_over": "EINVAL"}


def test_a_refused_guarantee_keeps_the_old_one() -> None:
    out: dict[str, Any] = {}

    def prog(os: Any) -> None:
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        other, h2 = os.aegis(Sys.PAGE_ALLOC, None)
        os.aegis(Sys.GUARANTEE, VPN, ppn, h, True)
        os.store(VPN * PAGE, 41)
        out["forged"] = errno(os.aegis, Sys.GUARANTEE, VPN, other, h ^ 0xFFFF, True)
        out["wrong_page"] = errno(os.aegis, Sys.GUARANTEE, VPN, other, h, True)
        out["kept"] = os.load(VPN * PAGE)              # still served by the guarantee
        os.aegis(Sys.GUARANTEE, VPN, other, h2, True)  # a valid replacement
        out["replaced"] = os.load(VPN * PAGE)          # the new, zeroed page

    run(prog)
    assert out == {"forged": "EBADF", "wrong_page": "EPERM", "kept": 41, "replaced": 0}
