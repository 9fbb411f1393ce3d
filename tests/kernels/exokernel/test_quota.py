"""Accounting principals (quota.py): a hostile program's tree cannot take a global
table from the programs beside it.

Each case is a hostile program that forks (or spawns) children to get past a
per-environment limit, next to the exact bystander of the monolithic hostile
tests (a pipe ping-pong with a forked child), started *after* the hostile has
taken all it can: the bystander must be spawned, print exactly its line, and
every charge must come back. On the old kernel (global tables with only
per-environment caps) each hostile takes the whole table and the bystander's
spawn (or bind) fails. A hypothesis state machine checks the ledger against
the page allocator over trees of environments that allocate, share, reserve,
free and exit.
"""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import SyscallError
from exolab.kernels.exokernel import Aegis, Sys, dpf_rx, kernel as aegis_kernel
from exolab.kernels.exokernel.env import LIVE
from exolab.kernels.exokernel.limits import (MAX_ENV_THREADS, MAX_ENVS, MAX_THREADS,
                                             PRINCIPAL_SHARE)
from exolab.kernels.exokernel.quota import (ENVS, FILTERS, FRAMES, Principals, add_context,
                                            chain, context_room)
from exolab.machine.threads import DEAD
from exolab.machine.machine import Machine
from exolab.machine.wire import Loopback

from ..monolithic.test_hostile import EXPECTED_TOTAL, bystander
from ._support import aegis

LINE = [f"bystander {EXPECTED_TOTAL}"]


def _then_bystander(os: Any, hostile: Any, box: dict[str, Any]) -> None:
    """init: spawn ``hostile``, let it take all it can, then spawn the bystander."""
    h = os.spawn(hostile)
    while "ready" not in box:
        os.yield_()
    try:
        box["bystander"] = os.wait(os.spawn(bystander))[1]
    except SyscallError as ex:
        box["bystander"] = ex.errno
    box["done"] = True
    box["hostile"] = os.wait(h)[1]


def _returned(k: Aegis) -> None:
    """Everything came back: no environment, context, frame or charge left."""
    assert k.statistics().envs_live == 0 and k.threads_live == 0
    assert k.phys.statistics().allocated == 0 and k.phys.reserved() == 0


def test_forked_children_cannot_take_every_context() -> None:
    """f10: 16 forked children of one program each make MAX_ENV_THREADS contexts
    (MAX_THREADS in all); the program's principal stops them at its share."""
    box: dict[str, Any] = {"made": 0, "errs": set(), "kids": 0}

    def parker(os: Any) -> None:
        while "done" not in box:
            os.yield_()

    def kid(os: Any) -> None:
        try:
            for _ in range(MAX_ENV_THREADS):
                os.thread_create(parker)
                box["made"] += 1
        except SyscallError as ex:
            box["errs"].add(ex.errno)
        box["kids"] += 1
        parker(os)

    def hostile(os: Any) -> None:
        pids = [os.fork(kid) for _ in range(MAX_THREADS // MAX_ENV_THREADS)]
        while box["kids"] < len(pids):
            os.yield_()
        box["ready"] = True
        for p in pids:
            os.wait(p)

    k = Aegis(Machine("dec5000", frames=65536))
    init = k.boot(_then_bystander, hostile, box)
    assert k.run().reason == "finished" and not k.faults, k.faults
    assert k.console == LINE and box["bystander"] == 0 and box["hostile"] == 0
    share = init.principal.caps[3] - MAX_THREADS // PRINCIPAL_SHARE     # the hostile's cap
    assert box["errs"] == {"EAGAIN"} and box["made"] == share - 1 - box["kids"]
    _returned(k)
    assert init.principal.live_contexts() == 0


def _udp(port: int) -> list[tuple[Any, ...]]:
    """A filter accepting UDP/IPv4 frames to ``port``."""
    return [("eq", 12, 2, 0xFFFF, 0x0800), ("shift", 14), ("eq", 9, 1, 0xFF, 17),
            ("shift", 0, 1, 0x0F, 4), ("eq", 2, 2, 0xFFFF, port)]


def test_forked_children_cannot_take_every_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    """f4b: 16 forked children of one booted program bind MAX_ENV_FILTERS-limited
    filters until the table is full; another booted program still binds one, and
    the bystander it spawns runs. (The table is made 512 filters here: every bind
    regenerates the classifier, so the real 4,096 take ~50 s of host time.)"""
    size = 512
    monkeypatch.setattr(dpf_rx, "MAX_FILTERS", size)
    monkeypatch.setattr(aegis_kernel, "MAX_FILTERS", size)
    kids = 16
    box: dict[str, Any] = {"kids": 0, "bound": 0, "errs": set()}

    def filler(os: Any, base: int) -> None:
        _p, h = os.aegis(Sys.PAGE_ALLOC, None)
        try:
            for i in range(size // kids):
                os.aegis(Sys.DPF_BIND, _udp(base + i), [h], 0)
                box["bound"] += 1
        except SyscallError as ex:
            box["errs"].add(ex.errno)
        box["kids"] += 1
        while "done" not in box:
            os.yield_()

    def hostile(os: Any) -> None:
        pids = [os.fork(filler, 1000 + 100 * j) for j in range(kids)]
        for p in pids:
            os.wait(p)

    def other(os: Any) -> None:
        while box["kids"] < kids:
            os.yield_()
        _p, h = os.aegis(Sys.PAGE_ALLOC, None)
        try:
            box["victim"] = os.aegis(Sys.DPF_BIND, _udp(7), [h], 0) > 0
            box["bystander"] = os.wait(os.spawn(bystander))[1]
        except SyscallError as ex:
            box["victim"] = ex.errno
        box["done"] = True

    m = Machine("dec5000", frames=16384)
    m.attach_nic(Loopback(latency_us=5.0))
    k = Aegis(m)
    h = k.boot(hostile)
    k.boot(other)
    assert k.run().reason == "finished" and not k.faults, k.faults
    assert box["victim"] is True and box["bystander"] == 0 and k.console == LINE
    assert box["errs"] == {"ENOMEM"} and box["bound"] == h.principal.caps[FILTERS]
    assert k.net.statistics().filters == 0 and h.principal.held == [0, 0, 0]
    _returned(k)


def _reserve_all(os: Any, call: int, box: dict[str, Any]) -> None:
    """Reserve as many free frames as ENV_ALLOC (or ENV_ALLOC_PRINCIPAL) gives."""
    n, got = 1 << 24, 0
    while n:
        try:
            os.aegis(call, "hog", n)
            got += n
        except SyscallError as ex:
            box.setdefault("errs", set()).add(ex.errno)
            n //= 2
    box["reserved"] = got
    box["ready"] = True
    while "done" not in box:
        os.yield_()


@pytest.mark.parametrize("call", [Sys.ENV_ALLOC, Sys.ENV_ALLOC_PRINCIPAL])
def test_env_alloc_cannot_reserve_every_frame(call: int) -> None:
    """f6: a program reserves every frame it can for children that never start
    (with ENV_ALLOC, or nesting principals to escape: nothing is escaped)."""
    box: dict[str, Any] = {}
    k = Aegis(Machine("dec5000", frames=16384))
    init = k.boot(_then_bystander, lambda os: _reserve_all(os, call, box), box)
    assert k.run().reason == "finished" and not k.faults, k.faults
    assert k.console == LINE and box["bystander"] == 0 and box["hostile"] == 0
    assert box["errs"] == {"EINVAL", "ENOMEM"}       # (EINVAL: more than the machine)
    assert box["reserved"] < init.principal.caps[FRAMES] - k.phys.count // PRINCIPAL_SHARE
    _returned(k)
    assert init.principal.held == [0, 0, 0]


def test_spawned_children_are_charged_to_the_spawner() -> None:
    """A spawned program's principal is nested in its spawner's: what it holds is
    charged to both, and both charges return when it exits."""
    seen: dict[str, Any] = {}
    k = Aegis(Machine("dec5000", frames=4096))

    def child(os: Any) -> int:
        va = os.mmap(64 * 4096)
        for i in range(64):
            os.store(va + i * 4096, i)
        me = k.current
        seen["chain"] = [p.pid for p in chain(me.principal)]
        seen["child_frames"] = me.principal.held[FRAMES]
        seen["parent_frames"] = me.principal.parent.held[FRAMES]
        return 5

    def main(os: Any) -> None:
        seen["alone"] = k.current.principal.held[FRAMES]
        seen["status"] = os.wait(os.spawn(child))[1]
        seen["after"] = k.current.principal.held[FRAMES]

    init = k.boot(main)
    assert k.run().reason == "finished" and not k.faults, k.faults
    assert seen["status"] == 5 and len(seen["chain"]) == 2
    assert seen["chain"][1] == init.principal.pid
    assert seen["parent_frames"] >= seen["alone"] + seen["child_frames"] > seen["alone"]
    assert seen["after"] == seen["alone"]
    _returned(k)
    assert init.principal.held == [0, 0, 0]


def test_unstarted_environments_cannot_take_the_table() -> None:
    """ENV_ALLOC without ever starting: the principal's share of MAX_ENVS ends it."""
    box: dict[str, Any] = {}

    def hostile(os: Any) -> None:
        n = 0
        try:
            while True:
                os.aegis(Sys.ENV_ALLOC, "e", 0)
                n += 1
        except SyscallError as ex:
            box["errno"], box["made"] = ex.errno, n
        box["ready"] = True
        while "done" not in box:
            os.yield_()

    k = Aegis(Machine("dec5000", frames=16384))
    init = k.boot(_then_bystander, hostile, box)
    assert k.run().reason == "finished" and not k.faults, k.faults
    assert k.console == LINE and box["bystander"] == 0 and box["errno"] == "ENOMEM"
    share = init.principal.caps[ENVS] - MAX_ENVS // PRINCIPAL_SHARE     # the hostile's cap
    assert box["made"] == share - 1
    _returned(k)


# -- the ledger against the page allocator ------------------------------------------------

FRAMES_M = 64 + 129                 # 129 frames: a frame cap step of 8
MAX_LIVE = 8
CONTEXTS_M = 32                     # a context cap step of 2 (root 30, nested 28, ...)


class _Context:
    """A stand-in for a context: the ledger reads only its state."""

    __slots__ = ("state", "env")

    def __init__(self, env: Any) -> None:
        self.state, self.env = "ready", env


class LedgerModel(RuleBasedStateMachine):
    """Trees of unstarted environments (forked: same principal; spawned: a nested
    one) allocate, reserve, share (parent to forked child) and free frames, take
    and end contexts, and exit (a destroyed environment takes its unstarted
    children with it). After every step each principal's charge is what its
    subtree holds: the frames whose first owner is in it, plus its reservations,
    its live environments and contexts; none is above its cap; and a tree that
    has exited holds nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.k = aegis(frames=FRAMES_M)
        self.k.principals = Principals(MAX_ENVS, 64, self.k.phys.count, CONTEXTS_M)
        self.envs: list[Any] = []
        self.contexts: list[_Context] = []
        self.exited: list[Any] = []     # principals whose environments are all gone

    def _live(self) -> list[Any]:
        """Environments not yet destroyed."""
        return [e for e in self.envs if e.state == LIVE]

    @precondition(lambda self: len(self._live()) < MAX_LIVE)
    @rule(data=st.data(), how=st.sampled_from(["boot", "fork", "spawn"]),
          pages=st.integers(0, 40))
    def create(self, data: st.DataObject, how: str, pages: int) -> None:
        live = self._live()
        parent = None if how == "boot" or not live else data.draw(st.sampled_from(live))
        try:
            if parent is None:
                env = self.k.new_env("e", None)
                self.envs.append(env)
                self.k.phys.reserve(env, min(pages, self.k.phys.available()))
                return
            else:
                call = Sys.ENV_ALLOC if how == "fork" else Sys.ENV_ALLOC_PRINCIPAL
                eid, _h = self.k.table[call][0](self.k, parent, "e", pages)
                env = self.k.envs[eid]
        except SyscallError as ex:
            assert ex.errno == "ENOMEM"
            return
        self.envs.append(env)

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def alloc(self, data: st.DataObject) -> None:
        env = data.draw(st.sampled_from(self._live()))
        try:
            self.k.phys.alloc(env)
        except SyscallError as ex:
            p = env.principal
            assert ex.errno == "ENOMEM"
            assert self.k.phys.available() == 0 or \
                any(q.held[FRAMES] >= q.caps[FRAMES] for q in chain(p))

    @precondition(lambda self: any(e.roots and e.children for e in self._live()))
    @rule(data=st.data())
    def share_with_fork(self, data: st.DataObject) -> None:
        env = data.draw(st.sampled_from([e for e in self._live() if e.roots and e.children]))
        kids = [c for c in env.children.values()
                if c.state == LIVE and c.principal is env.principal]
        if kids:
            ppn = data.draw(st.sampled_from(sorted(env.roots)))
            self.k.phys.share(env.roots[ppn], data.draw(st.sampled_from(kids)))

    @precondition(lambda self: any(e.roots for e in self._live()))
    @rule(data=st.data())
    def free(self, data: st.DataObject) -> None:
        env = data.draw(st.sampled_from([e for e in self._live() if e.roots]))
        ppn = data.draw(st.sampled_from(sorted(env.roots)))
        self.k.phys.free(env, env.roots[ppn])

    @precondition(lambda self: self._live())
    @rule(data=st.data(), n=st.integers(1, 12))
    def take_contexts(self, data: st.DataObject, n: int) -> None:
        env = data.draw(st.sampled_from(self._live()))
        for _ in range(n):
            full = any(sum(1 for c in self.contexts if c.state != DEAD and
                           q in chain(c.env.principal)) >= q.caps[3]
                       for q in chain(env.principal))
            try:
                context_room(env.principal)
            except SyscallError as ex:
                assert ex.errno == "EAGAIN" and full
                return
            assert not full
            c = _Context(env)
            add_context(env.principal, c)
            self.contexts.append(c)

    @precondition(lambda self: any(c.state != DEAD for c in self.contexts))
    @rule(data=st.data())
    def end_context(self, data: st.DataObject) -> None:
        c = data.draw(st.sampled_from([c for c in self.contexts if c.state != DEAD]))
        c.state = DEAD                  # (retired in user mode: the kernel is not told)

    @precondition(lambda self: self._live())
    @rule(data=st.data())
    def exit(self, data: st.DataObject) -> None:
        env = data.draw(st.sampled_from(self._live()))
        self.k.destroy(env, 0, exited=True, unwind=False)
        for c in self.contexts:         # (the stand-ins of what it and its unstarted
            if c.env.state != LIVE:     # children ran die with them)
                c.state = DEAD
        if all(e.state != LIVE for e in self.envs if env.principal in chain(e.principal)):
            self.exited.append(env.principal)

    @invariant()
    def charges_are_what_the_trees_hold(self) -> None:
        pay: dict[int, int] = {}
        for ppn, held in self.k.phys._roots.items():
            first = held[0] if type(held) is list else held
            for q in chain(first.holder.principal):
                pay[q.pid] = pay.get(q.pid, 0) + 1
        principals = {q.pid: q for e in self.envs for q in chain(e.principal)}
        for pid, q in principals.items():
            members = [e for e in self.k.envs.values() if q in chain(e.principal)]
            reserved = sum(e.reserved for e in members)
            assert q.held[FRAMES] == pay.get(pid, 0) + reserved
            assert q.held[ENVS] == len(members)
            assert q.held[FILTERS] == 0
            assert q.live_contexts() == sum(1 for c in self.contexts if c.state != DEAD
                                            and q in chain(c.env.principal)) <= q.caps[3]
            assert all(h <= c for h, c in zip(q.held, q.caps))

    @invariant()
    def an_exited_tree_holds_nothing(self) -> None:
        for p in self.exited:
            assert p.held == [0, 0, 0] and p.live_contexts() == 0


TestLedger = LedgerModel.TestCase
TestLedger.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
