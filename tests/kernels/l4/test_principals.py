"""Accounting principals on L4 (accounts.py): one program tree cannot take all of
the kernel frames, user frames, address spaces or threads a fork, spawn or mmap
consumes, so the exact pipe bystander (tests/kernels/common.py) spawned beside
a hostile tree still starts and prints ``bystander 1275``.

The cases are a fork bomb (children blocked on a pipe read until ENOMEM), a
spawn tree of fork bombs, and an mmap hog whose forked children hold touched
pages; each failed on the code before the principals (the bystander's spawn met
ENOMEM). A hypothesis machine then builds programs of forks, spawns, mmaps,
munmaps, threads and releases, audits the ledger against the kernel's and the
server's records inside the run, and checks that every charge comes back.
"""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from exolab.errors import SyscallError
from exolab.kernels import make_kernel
from exolab.kernels.l4.accounts import KFRAMES, SPACES, THREADS, UFRAMES
from exolab.machine import Machine
from exolab.runner import run_program
from tests.kernels.common import pipe_bystander

PAGE = 4096


def _sleeper(os: Any, r: int) -> None:
    os.read(r, 1)


def bomb(os: Any, hold: int = 200) -> None:
    """Forks children blocked on a pipe read until refused; frees them after
    ``hold`` yields."""
    r, w = os.pipe()
    n = 0
    try:
        while n < 40_000:
            os.fork(_sleeper, r)
            n += 1
    except SyscallError as ex:
        os.print("bomb", n, ex.errno)
    for _ in range(hold):
        os.yield_()
    os.write(w, bytes(n))


def spawn_tree(os: Any, kids: int) -> None:
    """Spawns ``kids`` fork bombs (each a principal nested in this one's)."""
    pids = []
    for _ in range(kids):
        try:
            pids.append(os.spawn(bomb, 1000))
        except SyscallError as ex:
            os.print("tree refused", ex.errno)
            break
    for pid in pids:
        os.wait(pid)


def _hog(os: Any, r: int, pages: int) -> None:
    va = os.mmap(pages * PAGE)
    for i in range(pages):
        os.store(va + i * PAGE, i)
    os.print("hog full")
    os.read(r, 1)


def mmap_hog(os: Any, kids: int, pages: int) -> None:
    """Forks ``kids`` children that each touch ``pages`` pages, then hold them."""
    r, w = os.pipe()
    n = 0
    for _ in range(kids):
        try:
            os.fork(_hog, r, pages)
            n += 1
        except SyscallError as ex:
            os.print("hog refused", ex.errno)
            break
    for _ in range(3000):
        os.yield_()
    os.write(w, bytes(n))
    for _ in range(n):
        try:
            os.wait()
        except SyscallError:
            break


def beside(os: Any, hostile: Any, yields: int, *args: Any) -> None:
    """init: the hostile program, then (after ``yields``) the pipe bystander."""
    hp = os.spawn(hostile, *args)
    for _ in range(yields):
        os.yield_()
    try:
        os.wait(os.spawn(pipe_bystander))
    except SyscallError as ex:
        os.print("spawn bystander", ex.errno)
    os.wait(hp)


def _run(hostile: Any, yields: int, *args: Any) -> Any:
    """Run ``beside`` on L4 (dec5000, 16,384 frames); the finished kernel."""
    r = run_program(beside, hostile, yields, *args, kernel="l4")
    assert r.result.reason == "finished", (r.result, r.kernel.console[-6:])
    return r.kernel


def _zero(k: Any) -> None:
    """Every charge came back: no root holds anything, no frame is paid for."""
    assert [p.held for p in k.ux.roots] == [[0, 0, 0, 0]]
    assert k._paid == {} and k.ux.paid == {}


def test_fork_bomb_leaves_the_bystander_room() -> None:
    """The bomb took 673 children and every kernel frame, the bystander's spawn met
    ENOMEM; now the bomb stops at its principal's cap and the bystander is exact."""
    k = _run(bomb, 50)
    line = next(x for x in k.console if x.startswith("bomb "))
    assert line.split()[2] == "ENOMEM" and int(line.split()[1]) < 673
    assert "bystander 1275" in k.console
    assert k.faults == []
    _zero(k)


def test_spawn_tree_of_bombs_cannot_escape_its_cap() -> None:
    """Spawned bombs nest in the hostile's principal: together they stop at its cap
    (the first took 663 and the bystander's spawn met ENOMEM before)."""
    k = _run(spawn_tree, 100, 4)
    assert sum(int(x.split()[1]) for x in k.console if x.startswith("bomb ")) < 673
    assert "bystander 1275" in k.console
    _zero(k)


def test_mmap_hog_leaves_user_frames() -> None:
    """Children touching 15 pages each took every user frame (ENOMEM at the
    bystander's image); now the hog's tree stops at its cap (a child refused its
    page ends, a fork is refused ENOMEM) and the bystander is exact."""
    k = _run(mmap_hog, 2500, 600, 15)
    assert "hog refused ENOMEM" in k.console
    assert "hog full" in k.console
    assert k.console.index("bystander 1275") > k.console.index("hog full")
    _zero(k)


# -- the ledger machine ---------------------------------------------------------------


def _audit(os: Any) -> None:
    """The ledger matches the records: frames paid for, spaces and threads billed."""
    k = os._k
    ux = k.ux
    held = [sum(p.held[i] for p in ux.roots) for i in range(4)]
    assert held[KFRAMES] == len(k._paid)
    images = sum(len(p.image) for p in ux.procs.values() if p.alive)
    assert held[UFRAMES] == len(ux.paid) + images
    billed = [s for s in k.spaces.values() if s.principal is not None]
    assert held[SPACES] == len(billed)
    assert held[THREADS] == sum(len(s.threads) for s in billed)
    for p in ux.procs.values():
        q = p.principal
        while q is not None:
            assert all(0 <= h <= c for h, c in zip(q.held, q.caps)), (q.held, q.caps)
            q = q.parent


def _touch(os: Any, pages: int) -> int:
    va = os.mmap(pages * PAGE)
    for i in range(pages):
        os.store(va + i * PAGE, i + 1)
    return va


def _held_child(os: Any, r: int, pages: int) -> None:
    _touch(os, pages)
    _audit(os)
    os.read(r, 1)


def _spawned(os: Any, pages: int) -> None:
    _touch(os, pages)
    r, w = os.pipe()
    pid = os.fork(_held_child, r, pages)
    for _ in range(5):
        os.yield_()
    _audit(os)
    os.write(w, b"x")
    os.wait(pid)


def _thread(os: Any, pages: int) -> None:
    _touch(os, pages)


def _plan_main(os: Any, plan: list[tuple[str, int]]) -> None:
    """Runs the plan, auditing after each step; then lets every holder go."""
    holders: list[tuple[int, int]] = []
    regions: list[tuple[int, int]] = []
    for op, n in plan:
        if op == "fork":
            r, w = os.pipe()
            holders.append((os.fork(_held_child, r, n), w))
        elif op == "spawn":
            holders.append((os.spawn(_spawned, n), -1))
        elif op == "mmap":
            regions.append((_touch(os, n), n))
        elif op == "munmap" and regions:
            va, pages = regions.pop()
            os.munmap(va, pages * PAGE)
        elif op == "thread":
            os.thread_create(_thread, n)
        elif op == "release" and holders:
            pid, w = holders.pop(0)
            if w >= 0:
                os.write(w, b"x")
            os.wait(pid)
        for _ in range(3):
            os.yield_()
        _audit(os)
    for pid, w in holders:
        if w >= 0:
            os.write(w, b"x")
        os.wait(pid)


class LedgerMachine(RuleBasedStateMachine):
    """Builds a program step by step; each check runs it and audits the ledger."""

    def __init__(self) -> None:
        super().__init__()
        self.plan: list[tuple[str, int]] = []

    @rule(op=st.sampled_from(["fork", "spawn", "mmap", "munmap", "thread", "release"]),
          n=st.integers(1, 40))
    def step(self, op: str, n: int) -> None:
        """Add one operation to the program."""
        self.plan.append((op, n))

    @rule()
    def run_and_audit(self) -> None:
        """Run the program so far: audits inside; afterwards nothing is held."""
        k = make_kernel("l4", Machine("i486", frames=4096))
        k.boot(_plan_main, list(self.plan))
        res = k.run(2_000_000_000)
        assert res.reason == "finished", (res, k.faults, list(k.console)[-4:])
        assert k.faults == []
        _zero(k)


LedgerMachine.TestCase.settings = settings(
    max_examples=12, stateful_step_count=10, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestLedger = LedgerMachine.TestCase
