"""The slice vector: allocation, round robin, prologue/epilogue, excess time."""
from __future__ import annotations

from typing import Any

from exolab.kernels.exokernel import Sys
from exolab.kernels.exokernel.sched import MAX_OVERRUNS, SLICE_US, SLOTS

from ._support import aegis, bystander, errno, run


def test_slice_length_is_the_papers() -> None:
    k = aegis()
    assert SLICE_US == 15.625 and k.sched.slice == 390_625     # 25 MHz


def test_allocate_by_position_contiguous_or_spread() -> None:
    out: dict[str, Any] = {}

    def prog(os: Any) -> None:
        out["pos"] = os.aegis(Sys.SLICE_ALLOC, None, 40, 2, False)
        out["taken"] = errno(os.aegis, Sys.SLICE_ALLOC, None, 41, 1, False)
        out["run"] = os.aegis(Sys.SLICE_ALLOC, None, None, 3, False)
        out["spread"] = os.aegis(Sys.SLICE_ALLOC, None, None, 4, True)
        out["bad"] = errno(os.aegis, Sys.SLICE_ALLOC, None, SLOTS, 1, False)

    r = run(prog)
    assert out["pos"] == [40, 41] and out["taken"] == "EAGAIN" and out["bad"] == "EINVAL"
    run3 = out["run"]
    assert run3 == list(range(run3[0], run3[0] + 3))
    gaps = [b - a for a, b in zip(out["spread"], out["spread"][1:])]
    assert min(gaps) >= 10                         # spread over the free positions
    assert r.kernel.sched.statistics().slots_owned == 0   # type: ignore[attr-defined]


def test_round_robin_between_compute_bound_environments() -> None:
    k = aegis()
    marks: list[str] = []

    def hog(os: Any, tag: str) -> None:
        for _ in range(6):
            os.compute(200_000)                    # 8 ms: slices end mid-loop
            marks.append(tag)

    k.boot(hog, "a")
    k.boot(hog, "b")
    assert k.run().reason == "finished"
    assert marks.count("a") == marks.count("b") == 6
    switches = sum(1 for x, y in zip(marks, marks[1:]) if x != y)
    assert switches >= 3                            # the slices interleave them
    st = k.sched.statistics()
    assert st.epilogues > 0 and st.overruns == 0


def test_prologue_and_epilogue_are_upcalled() -> None:
    k = aegis()
    seen: list[str] = []

    def watcher(os: Any) -> None:
        os.aegis(Sys.ENV_SETUP, os.handle, {"prologue": lambda: seen.append("pro"),
                                            "epilogue": lambda: seen.append("epi")},
                 {}, None)
        for _ in range(4):
            os.compute(300_000)

    k.boot(watcher)
    k.boot(lambda os: [os.compute(300_000) for _ in range(4)])
    assert k.run().reason == "finished"
    assert "epi" in seen and "pro" in seen
    assert seen.index("epi") < seen.index("pro")


def test_an_overrunning_epilogue_is_charged_then_destroyed() -> None:
    k = aegis()
    out: dict[str, Any] = {}

    def slow(os: Any) -> None:
        os.aegis(Sys.ENV_SETUP, os.handle, {"epilogue": lambda: os.compute(5_000)},
                 {}, None)
        for _ in range(100):
            os.compute(200_000)
        out["slow_finished"] = True

    bad = k.boot(slow)
    k.boot(bystander, 40, out)
    k.run(until=k.sched.slice * 3)
    assert bad.excess > 0 and 0 < bad.overruns <= MAX_OVERRUNS   # charged, still alive
    assert k.run().reason == "finished"
    assert "slow_finished" not in out
    assert any(eid == bad.eid and "epilogue" in what for eid, what, _w in k.faults)
    assert bad.overruns == MAX_OVERRUNS + 1
    assert out["done"] and out["intact"]


def test_an_epilogue_that_never_ends_is_destroyed_at_the_next_boundary() -> None:
    k = aegis()
    out: dict[str, Any] = {}

    def stuck(os: Any) -> None:
        os.aegis(Sys.ENV_SETUP, os.handle,
                 {"epilogue": lambda: [os.compute(100_000) for _ in range(10 ** 6)]},
                 {}, None)
        os.compute(10 ** 7)

    bad = k.boot(stuck)
    k.boot(bystander, 20, out)
    assert k.run().reason == "finished"
    assert any(eid == bad.eid and "slice boundary" in what for eid, what, _w in k.faults)
    assert out["done"] and out["intact"]


def test_directed_yield_needs_the_right() -> None:
    k = aegis()
    box: dict[str, Any] = {}
    order: list[str] = []

    def target(os: Any) -> None:
        box["h"] = os.aegis(Sys.CAP_DERIVE, os.handle, ("yield",))
        box["wake_only"] = os.aegis(Sys.CAP_DERIVE, os.handle, ("wake",))
        os.aegis(Sys.SLEEP)
        order.append("target ran")

    def yielder(os: Any) -> None:
        while "h" not in box:
            os.yield_()
        box["no_right"] = errno(os.aegis, Sys.YIELD, box["wake_only"])
        os.aegis(Sys.WAKE, box["wake_only"])
        order.append("yield")
        assert os.aegis(Sys.YIELD, box["h"]) is True
        order.append("back")

    k.boot(target)
    k.boot(yielder)
    assert k.run().reason == "finished"
    assert box["no_right"] == "EPERM"
    assert order == ["yield", "target ran", "back"]
