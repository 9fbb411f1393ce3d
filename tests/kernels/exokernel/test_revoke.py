"""Visible revocation and the abort protocol."""
from __future__ import annotations

from typing import Any

from exolab.kernels.exokernel import Sys
from exolab.libos.exos.layout import P_LOST

from ._support import PAGE, aegis, bystander


def _reader(os: Any, out: dict[str, Any], rounds: int) -> None:
    """Touch 8 pages by reading (clean), then work and yield."""
    va = os.mmap(8 * PAGE)
    for i in range(8):
        os.load(va + i * PAGE)
    out["va"] = va
    for _ in range(rounds):
        os.compute(20_000)
        os.yield_()
    out["zeros"] = all(os.load(va + i * PAGE) == 0 for i in range(8))


def test_a_cooperative_library_os_gives_pages_back() -> None:
    k = aegis()
    out: dict[str, Any] = {}
    env = k.boot(_reader, out, 30)
    k.boot(bystander, 30, {})
    k.run(until=k.sched.slice * 2)
    held = len(env.roots)
    k.revoke_pages(env.eid, 2, deadline_us=2000)
    assert k.run().reason == "finished"
    st = k.revoker.statistics()
    assert (st.requests, st.honoured, st.aborts) == (1, 1, 0)
    assert env.repossessed == [] and out["zeros"]
    assert held > 2


def test_ignoring_a_request_triggers_the_abort_protocol() -> None:
    k = aegis()
    out: dict[str, Any] = {}
    seen: list[Any] = []

    def stubborn(os: Any) -> None:
        os.aegis(Sys.ENV_SETUP, os.handle, {"revoke": None}, {}, None)
        va = os.mmap(8 * PAGE)
        for i in range(8):
            os.store(va + i * PAGE, 100 + i)
        out["va"] = va
        for _ in range(40):
            os.compute(20_000)
            os.yield_()
        pt = os.vm.pt
        seen.extend(pt.entry(pt.find((va >> 12) + i))[1] & P_LOST for i in range(8))

    bad = k.boot(stubborn)
    by: dict[str, Any] = {}
    good = k.boot(bystander, 40, by)
    k.run(until=k.sched.slice * 2)
    before_good = dict(good.roots)
    k.revoke_pages(bad.eid, 3, deadline_us=100)
    assert k.run().reason == "finished"
    st = k.revoker.statistics()
    assert st.aborts == 1 and st.pages_taken == 3
    assert [r.why for r in bad.repossessed] == ["abort"] * 3
    assert sum(1 for x in seen if x) >= 1              # ExOS was told: PTEs marked lost
    assert by["intact"] and all(p in good.roots or good.state != "live"
                                for p in before_good)
