"""Exception and TLB-miss dispatch to user-level handlers."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.kernels.exokernel import Sys
from exolab.kernels.exokernel.kernel import MAX_STRIKES
from exolab.machine.cpu import Cause

from ._support import PAGE, aegis, bystander, run


@pytest.mark.parametrize("kind", ["unalign", "overflow", "coproc", "prot"])
def test_each_exception_reaches_its_handler_and_resumes(kind: str) -> None:
    out: dict[str, Any] = {"seen": []}

    def prog(os: Any) -> None:
        os.set_exception_handler(kind, lambda os, k: out["seen"].append(k))
        os.trigger(kind)                       # warm: the save area is in the TLB
        t0 = os.time()
        os.trigger(kind)
        out["cycles"] = os.time() - t0

    r = run(prog)
    assert out["seen"] == [kind, kind]
    p = r.machine.profile
    assert out["cycles"] >= p.exception_entry + 18 + p.exception_exit
    assert out["cycles"] / p.mhz < 1.5 * 1.5       # Table 5: 1.5 us


def test_the_save_area_holds_the_three_scratch_registers() -> None:
    out: dict[str, Any] = {}

    def prog(os: Any) -> None:
        os.set_exception_handler("overflow", lambda os, k: None)
        os.trigger("overflow")
        base = 0x70000 << 12
        out["saved"] = [os.load(base + 4 * i) for i in range(3)]

    run(prog)
    assert out["saved"][0] == int(Cause.OVERFLOW)


def test_unhandled_and_unresumable_exceptions_end_only_the_process() -> None:
    out: dict[str, Any] = {}

    def overflow(os: Any) -> None:
        os.trigger("overflow")

    def unaligned(os: Any) -> None:
        os.set_exception_handler("unalign", lambda os, k: None)
        os.load(os.mmap(PAGE) + 2)             # a real unaligned load cannot resume

    def main(os: Any) -> None:
        out["a"] = os.wait(os.spawn(overflow))[1]
        out["b"] = os.wait(os.spawn(unaligned))[1]

    r = run(main)
    assert "unhandled exception OVERFLOW" in out["a"]
    assert "cannot resume" in out["b"]
    assert len(r.faults) == 2


def test_a_tlb_handler_that_never_binds_is_stopped() -> None:
    k = aegis()
    out: dict[str, Any] = {}

    def lazy(os: Any) -> None:
        os.aegis(Sys.ENV_SETUP, os.handle, {"tlb_miss": lambda va, w: None}, {}, None)
        os.load(0x0123_4000)
        out["survived"] = True

    bad = k.boot(lazy)
    k.boot(bystander, 5, out)
    assert k.run().reason == "finished"
    assert "survived" not in out and out["intact"]
    assert any(e == bad.eid and "never fixed" in w for e, w, _ in k.faults)
    assert MAX_STRIKES < 64                    # stopped before the CPU's livelock limit


def test_no_handler_at_all() -> None:
    k = aegis()
    out: dict[str, Any] = {}

    def naked(os: Any) -> None:
        os.aegis(Sys.ENV_SETUP, os.handle, {"tlb_miss": None}, {}, None)
        os.load(0x0123_4000)

    k.boot(naked)
    k.boot(bystander, 5, out)
    assert k.run().reason == "finished" and out["intact"]
    assert any("no handler" in w for _e, w, _ in k.faults)
