"""What a hostile library can make XN spend: host work per call, kernel memory per program.

- A template's functions run on XN's fuel (limits.UDF_FUEL ticks a run), their ticks
  charged to the caller (limits.UDF_STEP instructions each); a run past the bound
  fails that call with EINVAL, the template stays usable on other bytes; the
  bystander's output is exact.
- What a short-lived program leaves in XN when it exits does not grow with the
  number of programs: types no block has, roots never written, the pages of its
  trees, its principal-table entry. What reached the disk persists.
"""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from exolab.abi import O_CREAT, O_RDWR
from exolab.errors import SyscallError
from exolab.kernels.exokernel import Aegis, Sys
from exolab.kernels.exokernel.xn import XN, HostPages
from exolab.kernels.exokernel.xn.limits import UDF_FUEL, UDF_STEP
from exolab.libos.flatfs import templates as flat_templates
from exolab.machine.machine import Machine
from exolab.runner import run_program
from exolab.safe import DETERMINISTIC, Exhausted, allowance, load_program_source
from exolab.services.ext2 import MemoryDevice
from tests.kernels.monolithic.test_hostile import EXPECTED_TOTAL, bystander

ACL = "def acl(data, op, principal):\n    return True\n"


def _looping(steps: int, when: str = "True") -> str:
    """A template whose size function loops ``steps`` times when ``when`` holds."""
    return (f"def size(data):\n    if {when}:\n        for i in range({steps}):\n"
            f"            x = i\n    return 64\n" + ACL)


def _errno(fn: Any, *args: Any) -> str:
    """``fn(*args)``: "ok" or the errno it failed with."""
    try:
        fn(*args)
    except SyscallError as ex:
        return str(ex.errno)
    return "ok"


# -- the fuel of one function run ---------------------------------------------------------

def test_the_allowance_is_the_codes_own_and_leaves_the_outer_one() -> None:
    """Verified code under an allowance spends its own ticks and stops past them
    (Exhausted); the enclosing allowance sees only its own code's ticks."""
    src = ("def f(n):\n    for i in range(4000):\n        if i == n:\n            return i\n"
           "    return 0\n")
    loop = load_program_source(src, "<t>", "f", DETERMINISTIC)
    with allowance(10_000) as outer:
        with allowance(500) as inner:
            loop(400)
        loop(300)
        with pytest.raises(Exhausted):
            with allowance(100) as over:
                loop(1_000)
    assert 400 <= inner.ticks < 420 and 300 <= outer.ticks < 320
    assert over.ticks >= 100


def test_a_watchdog_steal_pending_at_entry_is_not_counted_as_the_codes() -> None:
    """The host watchdog may have taken the outer window's ticks (a forced look
    pending) when an allowance starts: the code's count is what it spent alone,
    and the forced look is still pending after. Before, the pending steal was
    read as the code's own at exit: its charge depended on host timing."""
    from exolab.safe import runtime
    src = "def f(n):\n    for i in range(300):\n        x = i\n    return n\n"
    loop = load_program_source(src, "<t>", "f", DETERMINISTIC)
    m = runtime._meter
    with allowance(10_000) as calm:
        loop(300)
    outer = m.left
    m.stolen, m.left = outer, 0                         # the watchdog's steal
    try:
        with allowance(10_000) as stolen:
            loop(300)
        assert stolen.ticks == calm.ticks > 0
        assert m.left == 0 and m.stolen == outer        # the forced look still comes
    finally:
        m.stolen, m.left = None, outer


@settings(max_examples=25, deadline=None)
@given(steps=st.integers(0, 2 * UDF_FUEL))
def test_a_run_is_charged_its_ticks_and_stopped_at_the_bound(steps: int) -> None:
    """Every run's ticks are counted (at least one per loop step); a run that needs
    UDF_FUEL or more fails the call with EINVAL and changes nothing."""
    charged: list[int] = []
    xn = XN(MemoryDevice(1024, 64), HostPages(),
            lambda kind, n: charged.append(n) if kind == "xn.step" else None)
    xn.install_type("t", _looping(steps))
    xn.register_root(5, "r", 3, "t")
    before = xn.n_ticks
    err = _errno(xn.write, 5, 3, [(0, b"\1")])
    spent = xn.n_ticks - before
    assert sum(charged) == xn.n_ticks
    if steps >= UDF_FUEL:
        assert err == "EINVAL" and spent >= UDF_FUEL
        assert xn.reg.data(xn.reg.get(3))[:1] == b"\0"          # nothing changed
    elif steps <= UDF_FUEL - 16:
        assert err == "ok" and spent >= steps


def test_a_slow_function_fails_its_call_and_the_bystander_stays_exact() -> None:
    """On Aegis: a template whose size function would take 65,536 steps on some
    bytes. That call fails (EINVAL) and is charged at least UDF_FUEL ticks; the
    template still works on a block where it is quick; a function of 4,000 steps
    costs the caller at least 3,000 ticks more than one of 1,000. The bystander's
    ping-pong is exact."""
    out: dict[str, Any] = {}

    def hostile(os: Any) -> int:
        os.aegis(Sys.XN_PRINCIPAL, True)
        os.aegis(Sys.XN_INSTALL, "slow", _looping(65536, "data[0]"))
        os.aegis(Sys.XN_INSTALL, "n1000", _looping(1000))
        os.aegis(Sys.XN_INSTALL, "n4000", _looping(4000))
        b1, b2, b3, b4 = os.aegis(Sys.XN_FREE_LIST, 100, 4)
        for name, b in (("slow", b1), ("slow2", b2), ("n1000", b3), ("n4000", b4)):
            os.aegis(Sys.XN_REGISTER, name, b, name.rstrip("2"))

        def write(b: int) -> tuple[str, int]:
            c0 = os.cpu.now()
            e = _errno(os.aegis, Sys.XN_WRITE, b, [(0, b"\1")])
            return e, os.cpu.now() - c0
        out["first"] = write(b1)                # quick: the block is all zero
        t0 = os.aegis(Sys.XN_STATS).udf_ticks
        out["slow"] = write(b1)                 # data[0] == 1 now: 65,536 steps
        out["ticks"] = os.aegis(Sys.XN_STATS).udf_ticks - t0
        out["other"] = write(b2)                # the template is still usable
        out["n1000"], out["n4000"] = write(b3), write(b4)
        return 0

    def init(os: Any) -> None:
        b = os.spawn(bystander)
        h = os.spawn(hostile)
        out["hostile"] = os.wait(h)[1]
        out["bystander"] = os.wait(b)[1]

    k = Aegis(Machine("dec5000", frames=16384))
    k.boot(init)
    assert k.run().reason == "finished" and k.faults == []
    assert k.console == [f"bystander {EXPECTED_TOTAL}"] and out["hostile"] == 0
    tick = UDF_STEP * k.machine.profile.instruction
    assert out["first"][0] == "ok" and out["other"][0] == "ok"
    assert out["slow"][0] == "EINVAL" and out["ticks"] >= UDF_FUEL
    assert out["slow"][1] >= UDF_FUEL * tick
    assert out["n1000"][0] == out["n4000"][0] == "ok"
    assert out["n4000"][1] - out["n1000"][1] >= 3000 * tick


# -- what a program leaves behind ------------------------------------------------------------

def _file_user(os: Any, i: int) -> int:
    """An ExOS file user: a file written, synced and removed."""
    fd = os.open(f"/t{i}", O_CREAT | O_RDWR)
    os.write(fd, b"x" * 3000)
    os.fsync(fd)
    os.close(fd)
    os.unlink(f"/t{i}")
    return 0


def _library(os: Any, root: bool, sync: bool = False) -> int:
    """A library FS of a fresh principal: templates; a root (synced: on the disk),
    then a file and a data block (not synced)."""
    os.aegis(Sys.XN_PRINCIPAL, True)
    me = os.aegis(Sys.XN_PRINCIPAL, False)
    pre = f"lib{me}"
    for name, src in flat_templates(1024, me, pre).items():
        os.aegis(Sys.XN_INSTALL, name, src)
    if not root:
        return 0
    r, f, d = os.aegis(Sys.XN_FREE_LIST, 4000, 3)
    os.aegis(Sys.XN_REGISTER, pre, r, f"{pre} dir")
    if sync:
        os.aegis(Sys.XN_SYNC)
    entry = b"f" * 28 + f.to_bytes(4, "little")
    os.aegis(Sys.XN_ALLOC, r, [(0, b"FLAT"), (32, entry)], f, f"{pre} file")
    os.aegis(Sys.XN_ALLOC, f, [(4, d.to_bytes(4, "little"))], d, f"{pre} data")
    os.aegis(Sys.XN_WRITE, d, [(0, b"data")])
    return 0


def _programs(n: int) -> dict[str, Any]:
    """Run ``n`` short-lived XN users one after another; what XN holds after."""
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        fd = os.open("/keep", O_CREAT | O_RDWR)
        os.write(fd, b"k" * 2000)
        os.fsync(fd)
        os.close(fd)
        bad = []
        for i in range(n):
            pid = os.fork(_file_user, i) if i % 3 == 0 else os.fork(_library, i % 3 == 1)
            bad += [os.wait(pid)[1]]
        out["bad"] = [s for s in bad if s != 0]
        out["stats"] = os.aegis(Sys.XN_STATS)

    r = run_program(main, kernel="exokernel", trusted=True)
    assert r.result.reason == "finished" and r.faults == [] and out["bad"] == []
    k, xn, s = r.kernel, r.kernel.xn, out["stats"]
    return {"types": s.types, "roots": s.roots, "cached": s.cached, "used": s.used,
            "frames": k.phys.statistics().allocated, "principals": len(k.xn_principals),
            "held": len(xn._held), "holders": len(xn._holder), "new": len(xn.owners())}


def test_what_programs_leave_in_xn_does_not_grow_with_their_number() -> None:
    """20 and 60 short-lived programs (ExOS file users; libraries with their own
    principal, templates and an unwritten tree; libraries that only install
    templates) leave XN holding exactly the same."""
    assert _programs(20) == _programs(60)


def test_a_tree_on_the_disk_outlives_its_program_and_its_pages_go_back() -> None:
    """A library that synced its root exits: the root, its types (two of them had
    only unwritten blocks when it exited) and its blocks persist; a sync writes
    the rest; the next exit gives back every page of the tree; the volatile XN's
    recovery walk still finds the whole tree."""
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        out["lib"] = os.wait(os.fork(_library, True, True))[1]
        me = out["me"] = 1000                   # (the first principal handed out)
        out["root"] = os.aegis(Sys.XN_ROOT, f"lib{me}")
        os.aegis(Sys.XN_SYNC)
        out["other"] = os.wait(os.fork(_library, False))[1]
        out["stats"] = os.aegis(Sys.XN_STATS)

    r = run_program(main, kernel="exokernel", trusted=True)
    assert r.result.reason == "finished" and r.faults == [], r.faults
    xn, me = r.kernel.xn, out["me"]
    assert out["lib"] == out["other"] == 0
    root, ty = out["root"]
    assert ty == f"lib{me} dir" and xn.held(me) == 3
    assert all(f"lib{me} {t}" in xn.types for t in ("dir", "file", "data"))
    assert not any(n.startswith(f"lib{me + 1} ") for n in xn.types.names())
    assert root not in xn.reg and xn.statistics().dirty == 0
    xn.crash()
    used = xn.recover()
    assert xn.n_conflicts == 0 and xn.held(me) == 3 and used == xn.statistics().used
