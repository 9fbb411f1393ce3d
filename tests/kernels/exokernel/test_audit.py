"""The audit's holes in Aegis and ExOS (issue 9 §2): each test fails on the code
the audit found and passes since the fix."""
from __future__ import annotations

from typing import Any

from exolab.kernels.exokernel import Sys
from exolab.kernels.exokernel.bind import VALID, WRITABLE

from exolab.runner import run_program

from ._support import PAGE, aegis, bystander, errno

SAVE_VPN = 0x60000                      # a save area of the test's own choosing


def _turns(os: Any, box: dict[str, Any], key: str, limit: int = 200) -> None:
    """Yield until ``key`` is in ``box``."""
    for _ in range(limit):
        if key in box:
            return
        os.yield_()
    raise AssertionError(f"never saw {key}")


def test_a_freed_save_area_is_never_written_again() -> None:
    """Hole 1: the save area is bound to the environment's guaranteed mapping."""
    k, box = aegis(), {}

    def owner(os: Any) -> None:
        os.set_exception_handler("overflow", lambda os, kind: None)
        ppn, h = os.aegis(Sys.PAGE_ALLOC, 4000)     # (a frame no boot takes)
        os.aegis(Sys.GUARANTEE, SAVE_VPN, ppn, h, True)
        os.aegis(Sys.ENV_SETUP, os.handle, {}, {}, SAVE_VPN)
        os.aegis(Sys.PAGE_FREE, h)              # breaks the guarantee: unbinds the area
        box["ppn"] = ppn
        _turns(os, box, "ready")
        os.trigger("overflow")                  # must not write into the new owner's page
        box["fired"] = True

    def other(os: Any) -> None:
        _turns(os, box, "ppn")
        ppn, h = os.aegis(Sys.PAGE_ALLOC, box["ppn"])
        os.aegis(Sys.TLB_WRITE, 0x500, ppn, h, VALID | WRITABLE)
        for i in range(3):
            os.store((0x500 << 12) + 4 * i, 0xABCD0000 + i)
        box["ready"] = True
        _turns(os, box, "fired")
        box["words"] = [os.load((0x500 << 12) + 4 * i) for i in range(3)]

    k.boot(owner)
    k.boot(other)
    assert k.run().reason == "finished"
    assert not k.faults, k.faults
    assert box["words"] == [0xABCD0000, 0xABCD0001, 0xABCD0002]


class _Liar(int):
    """An int whose comparisons lie."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return int(self)


class _Raiser:
    """An object whose comparisons raise."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    __hash__ = None                             # type: ignore[assignment]


def test_hostile_messages_cannot_kill_or_fool_the_parent() -> None:
    """Hole 2: a child's garbage is dropped; a forged exit status is ignored."""
    box: dict[str, Any] = {}

    def sibling(os: Any) -> int:
        _turns(os, box, "forged")
        return 7

    def liar(os: Any, sib: int) -> None:
        garbage = [("exit",), ("exit", [sib], 1), ("exit", {sib: 1}, 1),
                   ("exit", _Liar(sib), "forged"), ("exit", _Raiser(), 1),
                   (_Raiser(), sib, 1), ("exit", sib, "forged"), ([1], 2, 3),
                   ("exit", os.pid, "early")]
        for words in garbage:
            os.aegis(Sys.PCT_ASYNC, os.parent, words, True)
        box["forged"] = True
        os.compute(10_000)

    def parent(os: Any) -> None:
        sib = os.spawn(sibling)
        bad = os.fork(liar, sib)
        box["sib"] = os.wait(sib)
        box["bad"] = os.wait(bad)
        box["dropped"] = os.dropped

    r = run_program(parent, kernel="exokernel")
    assert r.result.reason == "finished", r.faults
    assert not r.faults, r.faults
    assert box["sib"][1] == 7 and box["bad"][1] == 0
    assert box["dropped"] >= 8
