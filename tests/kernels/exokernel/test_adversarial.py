"""Hostile environments: each attack fails or hurts only the attacker.

In every case a victim (or bystander) environment keeps running and finds its
memory intact; the kernel never panics.
"""
from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from exolab.abi import ERRNOS
from exolab.errors import SyscallError
from exolab.kernels.exokernel import Sys
from exolab.kernels.exokernel.bind import VALID, WRITABLE
from exolab.kernels.exokernel.syscall import TABLE
from exolab.libos.exos.layout import MISC_VPN, PT_VPN

from ._support import PAGE, aegis, bystander, errno

VPN = 0x5000


def _victim(os: Any, box: dict[str, Any], rounds: int) -> None:
    """Publish the physical name of a page (names are exposed), then guard it."""
    va = os.mmap(PAGE)
    for i in range(64):
        os.store(va + 4 * i, 0xC0DE + i)
    pt = os.vm.pt
    box["ppn"] = pt.entry(pt.find(va >> 12))[0]
    box["handle"] = os.handle
    box["slots"] = list(os.aegis(Sys.PAGE_LIST))
    for _ in range(rounds):
        os.compute(10_000)
        os.yield_()
    box["intact"] = all(os.load(va + 4 * i) == 0xC0DE + i for i in range(64))


def _run_pair(attacker: Any, rounds: int = 30) -> tuple[Any, dict[str, Any]]:
    """Boot the victim and ``attacker(os, box)``; run; return (kernel, box)."""
    k = aegis()
    box: dict[str, Any] = {}
    k.boot(_victim, box, rounds)

    def wrapped(os: Any) -> None:
        while "ppn" not in box:
            os.yield_()
        attacker(os, box)

    box["attacker"] = k.boot(wrapped).eid
    assert k.run().reason == "finished"
    assert k.machine.panic is None
    assert box["intact"], "the victim lost data"
    return k, box


def test_mapping_a_page_it_does_not_own() -> None:
    def attack(os: Any, box: dict[str, Any]) -> None:
        mine_ppn, mine = os.aegis(Sys.PAGE_ALLOC, None)
        box["own_cap"] = errno(os.aegis, Sys.TLB_WRITE, VPN, box["ppn"], mine,
                               VALID | WRITABLE)
        box["no_cap"] = errno(os.aegis, Sys.TLB_WRITE, VPN, box["ppn"], 0, VALID)
        box["take"] = errno(os.aegis, Sys.PAGE_ALLOC, box["ppn"])
        box["guarantee"] = errno(os.aegis, Sys.GUARANTEE, VPN, box["ppn"], mine, True)

    _k, box = _run_pair(attack)
    assert (box["own_cap"], box["no_cap"], box["take"], box["guarantee"]) == \
        ("EPERM", "EBADF", "EAGAIN", "EPERM")


def test_reusing_a_capability_after_revocation() -> None:
    def attack(os: Any, box: dict[str, Any]) -> None:
        ppn, root = os.aegis(Sys.PAGE_ALLOC, None)
        rw = os.aegis(Sys.CAP_DERIVE, root, ("read", "write"))
        kid = os.aegis(Sys.CAP_DERIVE, rw, ("read",))
        os.aegis(Sys.CAP_REVOKE, rw)
        box["reuse"] = errno(os.aegis, Sys.TLB_WRITE, VPN, ppn, rw, VALID)
        box["child"] = errno(os.aegis, Sys.TLB_WRITE, VPN, ppn, kid, VALID)
        os.aegis(Sys.PAGE_FREE, root)
        box["freed"] = errno(os.aegis, Sys.TLB_WRITE, VPN, ppn, root, VALID)

    _k, box = _run_pair(attack)
    assert (box["reuse"], box["child"], box["freed"]) == ("EBADF",) * 3


def test_forging_capabilities() -> None:
    def attack(os: Any, box: dict[str, Any]) -> None:
        rng = random.Random(7)
        _ppn, mine = os.aegis(Sys.PAGE_ALLOC, None)
        guesses = [rng.getrandbits(64) for _ in range(300)] + \
            [mine + d for d in (-2, -1, 1, 2)] + [box["handle"] ^ (1 << b) for b in range(64)]
        box["results"] = {errno(os.aegis, Sys.TLB_WRITE, VPN, box["ppn"], g, VALID)
                          for g in guesses}
        box["env"] = {errno(os.aegis, Sys.ENV_DESTROY, g, "die", False)
                      for g in guesses[:50]}

    _k, box = _run_pair(attack)
    assert box["results"] == {"EBADF"} and box["env"] == {"EBADF"}


def test_writing_into_another_address_space() -> None:
    def attack(os: Any, box: dict[str, Any]) -> None:
        h = box["handle"]                      # say it leaked: the full-rights handle
        box["setup"] = errno(os.aegis, Sys.ENV_SETUP, h ^ 1, {"sync": print}, {}, None)
        box["pct"] = errno(os.aegis, Sys.PCT_SYNC, h ^ 2, ())
        box["share"] = errno(os.aegis, Sys.PAGE_SHARE, [h], os.handle)
        for vpn in range(0x100, 0x110):        # its own space: the victim's vpns too
            try:
                os.store(vpn << 12, 0xBAD)
            except SyscallError:
                pass

    k, box = _run_pair(attack)
    assert box["setup"] == box["pct"] == "EBADF"
    assert box["share"] == "EINVAL"            # an env capability is not a page's


def test_ignoring_revocation_costs_only_the_attacker() -> None:
    k = aegis()
    box: dict[str, Any] = {}
    k.boot(_victim, box, 40)

    def hoarder(os: Any) -> None:
        os.aegis(Sys.ENV_SETUP, os.handle, {"revoke": None}, {}, None)
        va = os.mmap(16 * PAGE)
        for i in range(16):
            os.store(va + i * PAGE, i)
        for _ in range(40):
            os.compute(10_000)
            os.yield_()

    bad = k.boot(hoarder)
    k.run(until=k.sched.slice * 2)
    victim = next(e for e in k.envs.values() if e.eid != bad.eid)
    victim_pages = set(victim.roots)
    k.revoke_pages(bad.eid, 4, deadline_us=50)
    k.run(until=k.machine.cycles + k.sched.slice)
    assert len(bad.repossessed) == 4 and set(victim.roots) == victim_pages
    assert k.run().reason == "finished" and box["intact"]


def test_corrupting_its_own_exos_state_hurts_only_itself() -> None:
    k = aegis()
    out: dict[str, Any] = {}

    def self_harm(os: Any) -> None:
        for off in range(0, 4 * PAGE, 4):                  # scribble over the page table
            os.store((PT_VPN << 12) + off, 0xFFFF_FFFF)
        os.store((MISC_VPN << 12) + 4, 0x7FFF_FFFF)        # and its entry count
        os.mmap(PAGE)
        os.load(0x100 << 12)
        out["survived"] = True

    bad = k.boot(self_harm)
    k.boot(bystander, 20, out)
    assert k.run().reason == "finished"
    assert "survived" not in out and out["intact"]
    assert any(eid == bad.eid for eid, _what, _w in k.faults)
    assert k.machine.panic is None


RAW = [None, -1, 1 << 70, b"x", [], object(), 2.5, (1, 2), {"sync": 1}]


def test_garbage_in_every_aegis_call() -> None:
    k = aegis()
    out: dict[str, Any] = {}
    bad: list[Any] = []

    def fuzzer(os: Any) -> None:
        for number, (_h, nargs, _p) in TABLE.items():
            if number in (Sys.SLEEP, Sys.ENV_DESTROY):
                continue
            for args in itertools.islice(itertools.product(RAW, repeat=nargs), 400):
                try:
                    os.aegis(number, *args)
                except SyscallError as ex:
                    if ex.errno not in ERRNOS:
                        bad.append((number, args, ex.errno))
            with pytest.raises(SyscallError):
                os.aegis(number, *([None] * (nargs + 1)))
        for number in (-1, 0, 999, "GETRES", None):
            if errno(os.aegis, number) != "ENOSYS":
                bad.append(("number", number))
        out["fuzzed"] = True

    k.boot(fuzzer)
    k.boot(bystander, 10, out)
    assert k.run().reason == "finished"
    assert bad == [] and out["fuzzed"] and out["intact"]


# -- this session's surfaces: reused PCT contexts, reused capability slots -------------


def _pct_pair(rounds: int, fault_every: int, box: dict[str, Any]) -> Any:
    """Two environments PCT into each other recursively (to the depth limit, EAGAIN)
    while a third calls them and some entries fault; the bystander beside them."""
    k = aegis()

    def peer(name: str, other: str) -> Any:
        def body(os: Any) -> None:
            me = os.aegis(Sys.CAP_DERIVE, os.handle, ("pct",))
            calls = [0]

            def sync(n: int, *rest: Any) -> Any:
                calls[0] += 1
                box.setdefault("seen", []).append((name, n, rest))
                if fault_every and calls[0] % fault_every == 0 and n == 0:
                    raise ValueError("callee bug")
                try:
                    return os.aegis(Sys.PCT_SYNC, box[other], (n + 1,))
                except SyscallError as ex:
                    return (name, n, ex.errno)

            os.aegis(Sys.ENV_SETUP, os.handle, {"sync": sync}, {}, None)
            box[name] = me
            while not box.get("over"):
                os.aegis(Sys.SLEEP) if box.get("sleepers") else os.yield_()
        return body

    def caller(os: Any) -> None:
        while "a" not in box or "b" not in box:
            os.yield_()
        out = []
        for i in range(rounds):
            try:
                out.append(os.aegis(Sys.PCT_SYNC, box["a" if i % 2 else "b"], (0, i)))
            except SyscallError as ex:
                out.append(ex.errno)
            box["spares"] = max(box.get("spares", 0), len(k.spare_contexts))
        box["out"] = out
        box["over"] = True

    k.boot(peer("a", "b"))
    k.boot(peer("b", "a"))
    k.boot(caller)
    k.boot(bystander, 10, box)
    assert k.run().reason == "finished"
    assert k.machine.panic is None and box["intact"]
    return k


def test_recursive_pct_to_the_depth_limit_unwinds_clean_contexts() -> None:
    """A->B->A->... until EAGAIN, twenty times: every call reaches the same depth
    (no state left on a reused context), the spare pool stays at the peak depth."""
    from exolab.kernels.exokernel.limits import MAX_PCT_DEPTH
    box: dict[str, Any] = {}
    k = _pct_pair(20, 0, box)
    assert len(box["out"]) == 20
    assert all(o[2] == "EAGAIN" and o[1] == MAX_PCT_DEPTH - 1 for o in box["out"]), box["out"]
    assert len(k.spare_contexts) == box["spares"] == MAX_PCT_DEPTH
    assert all(len(r) == 0 or r == (i,) for _n, _d, r in box["seen"]
               for i in [r[0] if r else 0])
    k.caps.audit()


def test_a_callee_fault_deep_in_a_pct_chain_fails_only_its_call() -> None:
    """The outermost entry of one peer faults on its third call: that call is ESRCH
    for the caller, the faulting environment is destroyed, every later call to it is
    ESRCH, and the other peer's chains still end at the depth limit."""
    box: dict[str, Any] = {}
    k = _pct_pair(12, 3, box)
    out = box["out"]
    assert "ESRCH" in out
    first = out.index("ESRCH")
    dead = "a" if first % 2 else "b"
    later = [o for i, o in enumerate(out) if i > first and ("a" if i % 2 else "b") == dead]
    assert later and set(later) == {"EBADF"}
    assert len(k.spare_contexts) <= 32
    k.caps.audit()


def test_a_revoked_handle_stays_dead_when_its_slot_is_reused() -> None:
    """Revoke, derive again (the slot is reused last-freed-first): the old handle is
    EBADF, the new one works, a handle with the slot and a guessed check is EBADF,
    and values that only look like the handle (bool, int subclass) are EBADF."""
    from exolab.kernels.exokernel.caps import SLOT_BITS
    from tests.kernels.hostile import LyingInt

    class Sub(int):
        pass

    def attack(os: Any, box: dict[str, Any]) -> None:
        ppn, root = os.aegis(Sys.PAGE_ALLOC, None)
        olds, news = [], []
        for _ in range(50):
            h = os.aegis(Sys.CAP_DERIVE, root, ("read",))
            os.aegis(Sys.CAP_REVOKE, h)
            n = os.aegis(Sys.CAP_DERIVE, root, ("read",))
            olds.append(h)
            news.append(n)
            os.aegis(Sys.CAP_REVOKE, n)
        live = os.aegis(Sys.CAP_DERIVE, root, ("read", "write"))
        slot = live & ((1 << SLOT_BITS) - 1)
        box["same slot"] = len({h & ((1 << SLOT_BITS) - 1) for h in olds + news})
        box["stale"] = {errno(os.aegis, Sys.CAP_INFO, h) for h in olds + news}
        box["live"] = os.aegis(Sys.CAP_INFO, live)[2]
        box["guess"] = {errno(os.aegis, Sys.CAP_INFO, (c << SLOT_BITS) | slot)
                        for c in range(1, 200)}
        box["lookalike"] = {errno(os.aegis, Sys.CAP_INFO, v) for v in
                            (Sub(live), LyingInt(live), float(live), str(live), True,
                             live + (1 << 64), -live, live - (1 << 64))}
        box["derive lookalike"] = {errno(os.aegis, Sys.CAP_DERIVE, v, ("read",))
                                   for v in (Sub(live), LyingInt(live))}
        box["bad rights"] = {errno(os.aegis, Sys.CAP_DERIVE, live, r) for r in
                             (("read", 1), frozenset({"read", 2}), ("bogus", "read"),
                              "read", [LyingInt(1)], ("read",) * 17)}
        os.aegis(Sys.CAP_REVOKE, live)
        os.aegis(Sys.PAGE_FREE, root)

    k, box = _run_pair(attack)
    assert box["same slot"] == 1
    assert box["stale"] == {"EBADF"} and box["guess"] == {"EBADF"}
    assert box["live"] == ("read", "write")
    assert box["lookalike"] == {"EBADF"} and box["derive lookalike"] == {"EBADF"}
    assert box["bad rights"] <= {"EINVAL"}
    k.caps.audit()


# -- ExOS threads that never yield: preempted at slice boundaries ------------------------


_HOG_LOOPS = {
    "compute": lambda os, va: os.compute(1000),
    "load": lambda os, va: os.load(va),
    "store": lambda os, va: os.store(va, 7),
    "time": lambda os, va: os.time(),
    "getpid": lambda os, va: os.getpid(),
}


@pytest.mark.parametrize("kind", sorted(_HOG_LOOPS))
def test_threads_that_never_yield_are_preempted_by_exos(kind: str) -> None:
    """Two threads loop on one of the program's own operations until told to stop;
    the main thread waits for a child process: the epilogue at every slice end and
    ExOS's preemption points still bring it back, and the child's result is exact."""
    from exolab.runner import run_program
    step = _HOG_LOOPS[kind]
    stop: list[int] = []

    def child(os: Any) -> int:
        total = 0
        for i in range(30):
            total += i * i
            os.compute(10)
        return total % 256

    def main(os: Any) -> None:
        va = os.mmap(PAGE)

        def hog(os: Any) -> None:
            while not stop:
                step(os, va)

        for _ in range(2):
            os.thread_create(hog)
        os.print("child", os.wait(os.spawn(child))[1])
        stop.append(1)
        os.print("preempted", os.procs.preemptions > 0)

    r = run_program(main, kernel="exokernel", max_cycles=20_000_000, trusted=True)
    assert r.result.reason == "finished", (r.result, r.console, r.faults)
    assert r.console == ["child 107", "preempted True"] and r.faults == []


# os.cpu is the program's too: what it passes must be what a CPU could do
_CPU_ABUSE = {
    "negative charge": lambda os: os.cpu.charge(-10 ** 9),
    "fractional charge": lambda os: os.cpu.charge(0.5),
    "huge charge": lambda os: os.cpu.charge(1 << 80),
    "junk cause": lambda os: os.cpu.fault(object(), 5),
    "int cause": lambda os: os.cpu.fault(1, 5),
    "junk vaddr": lambda os: os.cpu.fault(_cause(), "x"),
    "junk info": lambda os: os.cpu.fault(_cause(), 0, {"write": 1}),
    "negative copy count": lambda os: os.cpu.note_copy(-10 ** 12),
    "huge random count": lambda os: os.cpu.randbytes(1 << 28),
    "negative random count": lambda os: os.cpu.randbytes(-1),
}


def _cause() -> Any:
    from exolab.machine.cpu import Cause
    return Cause.TLB_MOD


@pytest.mark.parametrize("kind", sorted(_CPU_ABUSE))
def test_lying_to_the_user_cpu_view_is_einval_and_time_never_runs_back(kind: str) -> None:
    k = aegis()
    out: dict[str, Any] = {}
    abuse = _CPU_ABUSE[kind]

    def liar(os: Any) -> None:
        before = os.time()
        try:
            abuse(os)
        except SyscallError as ex:
            out["errno"] = ex.errno
        out["forward"] = os.time() >= before

    k.boot(liar)
    k.boot(bystander, 20, out)
    assert k.run().reason == "finished"
    assert out == {"errno": "EINVAL", "forward": True, "intact": True, "done": True}
    assert type(k.machine.cycles) is int and k.machine.cycles > 0
    assert k.machine.panic is None and not k.faults


# a program may link its own library OS (program.libos, a subclass of ExOS): the class
# is the program's code, so Aegis hands it the user-mode view, never the machine's CPU
_OWN_LIBOS = '''
from exolab.libos.exos import ExOS

SEEN = []


class Mine(ExOS):
    @classmethod
    def first(cls, cpu, eid, handle, program, args):
        SEEN.append(cpu)
        return super().first(cpu, eid, handle, program, args)


def main(os):
    os.print(type(SEEN[0]).__name__)
    os.print(str(hasattr(SEEN[0], "machine")) + " " + str(hasattr(SEEN[0], "kernel")))


main.libos = Mine
'''


def test_a_programs_own_library_os_is_handed_the_user_cpu_view_at_boot() -> None:
    from exolab.safe import load_program_source
    k = aegis()
    out: dict[str, Any] = {}
    k.boot(load_program_source(_OWN_LIBOS, "own_libos"))
    k.boot(bystander, 20, out)
    assert k.run().reason == "finished"
    assert list(k.console)[:2] == ["UserCPU", "False False"], list(k.console)
    assert out == {"intact": True, "done": True} and not k.faults
