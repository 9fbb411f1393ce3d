"""Accounting principals on Singularity (accounts.py): a SIP that spawns children
cannot multiply the per-SIP bounds into all of a global table or of a server's
endpoint slots, nor smuggle exchange-heap pages past a child's quota at spawn, nor
end a server by leaving before its reply.

Each case is a hostile tree started first, holding all it can while the exact
bystander of the adversarial files (tests/kernels/singularity/test_adversarial*.py:
a SIP summing through its heap, a keeper of one block, an rpc client checking 20
replies) is spawned beside it by ``init``; every case failed on the code before the
principals (the numbers: docs/singularity.md). A hypothesis machine then spawns,
threads, allocates and kills SIP trees on a kernel with small principal tables and
checks every principal's counts against the SIPs, nobody above its cap, and that
everything comes back when the trees are gone.
"""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import SyscallError
from exolab.kernels.common.principals import chain
from exolab.kernels.singularity import Singularity, accounts, kernel as sing_kernel
from exolab.kernels.singularity.accounts import EXHEAP, SIPS, THREADS
from exolab.kernels.singularity.limits import (ENDPOINT_RESERVE, EXHEAP_MAX_PAGES,
                                               MAX_ENDPOINTS, PRINCIPAL_SHARE)
from exolab.machine.machine import Machine
from exolab.safe.load import load_function
from tests.kernels.singularity.test_adversarial import CATALOGUE, bystander
from tests.kernels.singularity.test_adversarial_exheap import ROUNDS as KEEPER_ROUNDS
from tests.kernels.singularity.test_adversarial_exheap import keeper
from tests.kernels.singularity.test_adversarial_limits import (_bystander_ok,
                                                              bystander_client, server)

ROUNDS = 40


def _run(main: Any, *args: Any, frames: int = 4096, until: int = 4_000_000_000,
         ends: tuple[str, ...] = ("finished",)) -> tuple[Singularity, Any]:
    k = Singularity(Machine("athlon64", frames=frames), catalogue=CATALOGUE)
    init = k.boot(load_function(main), *args)
    res = k.run(until)
    assert res.reason in ends, (res, list(k.console), k.faults)
    return k, init


def _held(k: Singularity, prefix: str) -> list[int]:
    """The counts the hostile tree's members printed."""
    return [int(line.split()[1]) for line in k.console if line.startswith(prefix + " ")]


def _nothing_left(k: Singularity, init: Any) -> None:
    """Every charge came back: init's principal holds nothing, nor does the kernel."""
    assert init.principal.held == [0, 0, 0]
    st_ = k.statistics()
    assert st_.processes_live == 0 and st_.exheap.blocks_live == 0


def _tree(os: Any, ep: Any, which: str, kids: int) -> None:
    """Spawns ``kids`` members (``which``: a kind), waits until each holds all it can,
    tells the parent on ``ep``, and holds them until the parent closes it."""
    member = {"conn": conn_holder, "heap": heap_holder, "zombie": zombie_maker,
              "thread": thread_holder}[which]
    keep = []
    for _ in range(kids):
        exp, imp = os.channel("PingPong")
        try:
            os.spawn(member, exp)
        except Exception as ex:
            os.print("tree refused", getattr(ex, "errno", ""))
            break
        keep.append(imp)
    for imp in keep:                    # each says when it holds all it can
        os.receive(imp)
    os.send(ep, "Pong", kids)
    os.receive(ep)


_tree.manifest = ("tree", (("pp", "PingPong", "Exp"),), (), (), ("PingPong",))  # type: ignore[attr-defined]


def beside(os: Any, which: str, kids: int, victim: Any, *vargs: Any) -> None:
    """init: the hostile tree first; once it is full, the bystander (waited for)."""
    exp, imp = os.channel("PingPong")
    h = os.spawn(_tree, exp, which, kids, name="hostile")
    os.receive(imp)
    try:
        os.wait(os.spawn(victim, *vargs, name="bystander"))
    except Exception as ex:
        os.print("bystander refused", getattr(ex, "errno", ""))
    os.close_endpoint(imp)
    os.wait(h)


beside.manifest = ("beside", (), (), (), ("PingPong",))   # type: ignore[attr-defined]


# -- finding 1: a tree of clients and the server's endpoint slots -------------------


def conn_holder(os: Any, ep: Any) -> None:
    """Connects until refused (EAGAIN), then holds its connections."""
    n = 0
    while True:
        try:
            os.rpc_connect("svc")
        except Exception as ex:
            os.print("holder", n, getattr(ex, "errno", ""))
            break
        n += 1
    os.send(ep, "Pong", n)
    os.receive(ep)


conn_holder.manifest = ("conn_holder", (("pp", "PingPong", "Exp"),))  # type: ignore[attr-defined]


def conn_main(os: Any, kids: int) -> None:
    os.spawn(server, name="server")
    os.yield_()
    beside(os, "conn", kids, bystander_client)


conn_main.manifest = beside.manifest   # type: ignore[attr-defined]


def test_sixty_spawned_clients_cannot_take_a_servers_slots() -> None:
    """60 children x RPC_CONNECTIONS took all 960 slots and the bystander client met
    EAGAIN; now the hostile's tree stops at its cap (init's 900 less 60: 840, EAGAIN
    past it), the bystander is served exactly and every count goes with the tree."""
    k, init = _run(conn_main, 60, until=4_000_000_000, ends=("deadlock",))
    slots = MAX_ENDPOINTS - ENDPOINT_RESERVE
    step = slots // PRINCIPAL_SHARE
    assert sum(_held(k, "holder")) == slots - 2 * step == 840
    assert {line.split()[2] for line in k.console if line.startswith("holder ")} == {"EAGAIN"}
    assert f"bystander True {sum(range(1, 21))}" in k.console
    assert k.faults == []
    svc = k.services["svc"]
    assert svc.clients.total() == 0 and svc.clients.held(init.principal) == 0
    assert k.channels.held(svc.server) == 0


# -- finding 2: blocks queued behind an endpoint given at spawn ---------------------


def small_sink(os: Any, ep: Any, n: int) -> None:
    """A child with an 8-page exchange-heap quota: takes its n blocks, then allocates
    pages until refused."""
    for _ in range(n):
        os.receive(ep)
    more = 0
    while True:
        try:
            os.exheap_new(bytes(4096))
        except Exception:
            break
        more += 1
    os.print("sink more", more)


small_sink.manifest = ("small_sink", (("pp", "PingPong", "Exp"),), (),  # type: ignore[attr-defined]
                       (("exheap_pages", 8),))


def cargo_parent(os: Any, blocks: int, size: int) -> None:
    """Queues ``blocks`` blocks at an endpoint, then gives it to an 8-page child."""
    exp, imp = os.channel("PingPong")
    for _ in range(blocks):
        os.send(imp, "Ping", os.exheap_new(bytes(size)))
    try:
        os.wait(os.spawn(small_sink, exp, blocks))
    except Exception as ex:
        os.print("cargo refused", getattr(ex, "errno", ""), os.exheap_read(os.exheap_new(
            b"still mine")))


cargo_parent.manifest = ("cargo_parent", (), (), (), ("PingPong",))  # type: ignore[attr-defined]


def cargo_main(os: Any, blocks: int, size: int) -> None:
    b = os.spawn(bystander, ROUNDS, name="bystander")
    h = os.spawn(cargo_parent, blocks, size, name="hostile")
    os.wait(h)
    os.wait(b)


def test_blocks_behind_an_endpoint_given_at_spawn_are_charged_to_the_child() -> None:
    """A child with an 8-page quota was given 60 x 16 pages queued behind its
    endpoint (960 pages held against 8); now the spawn is ENOMEM, nothing moves and
    the parent runs on; the bystander is exact either way."""
    k, init = _run(cargo_main, 60, 16 * 4096)
    assert "cargo refused ENOMEM b'still mine'" in k.console
    assert not any(line.startswith("sink") for line in k.console)
    assert _bystander_ok(k) and k.faults == []
    _nothing_left(k, init)


def test_blocks_that_fit_move_with_the_endpoint_and_count_against_the_childs_quota() -> None:
    """Four one-page blocks fit the 8-page child: it may allocate four more."""
    k, init = _run(cargo_main, 4, 4096)
    assert "sink more 4" in k.console and _bystander_ok(k) and k.faults == []
    _nothing_left(k, init)


# -- finding 3: a client gone before its reply --------------------------------------


def slow(os: Any, word: int) -> int:
    for _ in range(20):
        os.yield_()
    return word + 1


def slow_server(os: Any) -> None:
    os.rpc_serve("svc", slow)


def quitter_call(os: Any, h: int) -> None:
    os.rpc_call(h, 1)


def quitter(os: Any) -> None:
    """Calls on one thread and exits on another before the (slow) reply."""
    h = os.rpc_connect("svc")
    os.thread_create(quitter_call, h)
    for _ in range(5):
        os.yield_()
    os.exit(0)


def epipe_main(os: Any) -> None:
    os.spawn(slow_server, name="server")
    os.yield_()
    os.wait(os.spawn(quitter, name="hostile"))
    for _ in range(100):
        os.yield_()
    os.wait(os.spawn(bystander_client, name="bystander"))


def test_a_client_gone_before_its_reply_does_not_end_the_server() -> None:
    """The reply's EPIPE ended the server (a fault) and the next client met ESRCH; now
    the connection is closed and the bystander client is served exactly."""
    k, _init = _run(epipe_main, until=2_000_000_000, ends=("deadlock",))
    assert k.faults == []
    assert f"bystander True {sum(range(1, 21))}" in k.console
    svc = k.services["svc"]
    assert k.channels.held(svc.server) == 0 and svc.clients.total() == 0


# -- finding 4: the global tables ---------------------------------------------------


def heap_holder(os: Any, ep: Any) -> None:
    """Allocates page blocks until refused, then holds them."""
    held = []
    while True:
        try:
            held.append(os.exheap_new(bytes(4096)))
        except Exception:
            break
    os.print("pages", len(held))
    os.send(ep, "Pong", len(held))
    os.receive(ep)


heap_holder.manifest = ("heap_holder", (("pp", "PingPong", "Exp"),))  # type: ignore[attr-defined]


def test_four_spawned_heap_holders_cannot_take_the_exchange_heap() -> None:
    """4 children x EXHEAP_QUOTA_PAGES took all 4,096 pages and the keeper's one-block
    allocation was ENOMEM (its fault); now the tree stops at 3,584 (init's 3,840 less
    256) and the keeper is exact."""
    k, init = _run(beside, "heap", 4, keeper, KEEPER_ROUNDS, frames=8192)
    step = EXHEAP_MAX_PAGES // PRINCIPAL_SHARE
    assert sum(_held(k, "pages")) == EXHEAP_MAX_PAGES - 2 * step
    assert f"keeper {sum(i * i for i in range(KEEPER_ROUNDS))}" in k.console
    assert k.faults == []
    _nothing_left(k, init)


def zombie(os: Any) -> None:
    return


def zombie_maker(os: Any, ep: Any) -> None:
    """Spawns children that exit at once and are never reaped, until refused."""
    n = 0
    while True:
        try:
            os.spawn(zombie)
        except Exception as ex:
            os.print("zombies", n, getattr(ex, "errno", ""))
            break
        n += 1
        os.yield_()
    os.send(ep, "Pong", n)
    os.receive(ep)


zombie_maker.manifest = ("zombie_maker", (("pp", "PingPong", "Exp"),))  # type: ignore[attr-defined]


def test_unreaped_children_cannot_fill_the_sip_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """With MAX_SIPS at 256, 253 unreaped zombies filled the table and the bystander's
    spawn was EAGAIN; now the zombie maker's own principal stops at 208 (EAGAIN: 256
    less three steps) and the bystander runs exactly."""
    monkeypatch.setattr(sing_kernel, "MAX_SIPS", 256)
    k, init = _run(beside, "zombie", 1, bystander, ROUNDS)
    step = 256 // PRINCIPAL_SHARE               # the maker is 3 deep: init, tree, it
    assert f"zombies {256 - 3 * step - 1} EAGAIN" in k.console     # 207 and itself
    assert _bystander_ok(k) and k.faults == []
    _nothing_left(k, init)


def blocked(os: Any, r: int) -> None:
    os.read(r, 1)


def thread_holder(os: Any, ep: Any) -> None:
    """Makes threads (blocked on a pipe) until refused, holds them, then lets them go."""
    r, w = os.pipe()
    n = 0
    while True:
        try:
            os.thread_create(blocked, r)
        except Exception:
            break
        n += 1
    os.print("threads", n)
    os.send(ep, "Pong", n)
    os.receive(ep)
    os.close(w)


thread_holder.manifest = ("thread_holder", (("pp", "PingPong", "Exp"),))  # type: ignore[attr-defined]


def test_spawned_thread_holders_cannot_take_every_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With MAX_THREADS at 2,048, three children took 1,023 + 1,020 + 0 threads and
    the bystander's spawn was EAGAIN; now the tree stops at 1,792 (init's 1,920 less 128)
    and the bystander runs exactly."""
    monkeypatch.setattr(sing_kernel, "MAX_THREADS", 2048)
    k, init = _run(beside, "thread", 3, bystander, ROUNDS, frames=8192)
    made = _held(k, "threads")          # the tree: it and its holders, a main thread
    assert sum(made) + 1 + len(made) == 2048 - 2 * (2048 // PRINCIPAL_SHARE)   # each
    assert _bystander_ok(k) and k.faults == []
    _nothing_left(k, init)


# -- the ledger on the kernel: a hypothesis machine ---------------------------------

SMALL = (16, 20, 32, 60)            # SIPs, threads, exchange-heap pages, rpc slots: a step
#                                     of 1, 1, 2 (PRINCIPAL_SHARE 16) so caps are met


def sleeper(os: Any) -> None:
    """Blocks for ever on a channel of its own (until killed)."""
    exp, _imp = os.channel()
    os.receive(exp)


class KernelLedger(RuleBasedStateMachine):
    """SIP trees spawned, threaded, allocating and killed from the host."""

    def __init__(self) -> None:
        super().__init__()
        self.k = Singularity(Machine("athlon64", frames=4096))
        self.k.principals = accounts.make(*SMALL)
        self.prog = load_function(sleeper)
        self.seen: list[Any] = []           # every principal ever made

    def _settle(self) -> None:
        res = self.k.run(50_000_000_000)
        assert res.reason in ("finished", "deadlock"), res
        assert self.k.faults == []

    def _live(self) -> list[Any]:
        return [s for s in self.k.sips.values() if s.state == "live" and not s.doomed]

    def _under(self, p: Any) -> list[Any]:
        return [s for s in self.k.sips.values() if p in chain(s.principal)]

    def _room(self, p: Any, kind: int, n: int) -> bool:
        return all(self._count(q, kind) + n <= q.caps[kind] for q in chain(p))

    def _count(self, p: Any, kind: int) -> int:
        under = self._under(p)
        if kind == SIPS:
            return len(under)
        if kind == THREADS:
            return sum(len(s.threads) for s in under)
        return sum(self.k.heap.pages_of(s.pid) for s in under)

    @rule(i=st.integers(0, 60))
    def spawn(self, i: int) -> None:
        live = self._live()
        parent = live[i % len(live)] if live and i else None
        deep = parent is not None and min(
            c - s for c, s in zip(parent.principal.caps, self.k.principals.step)) <= 0
        fits = parent is None or (not deep and self._room(parent.principal, SIPS, 1) and
                                  self._room(parent.principal, THREADS, 1))
        try:
            sip = self.k.spawn(parent, self.prog, (), "member")
        except SyscallError as ex:
            assert ex.errno == "EAGAIN" and not fits
            return
        assert fits
        self.seen.append(sip.principal)
        self._settle()

    @precondition(lambda self: self._live())
    @rule(i=st.integers(0, 60))
    def thread(self, i: int) -> None:
        live = self._live()
        sip = live[i % len(live)]
        fits = self._room(sip.principal, THREADS, 1)
        try:
            self.k.start_thread(sip, self.prog, ())
        except SyscallError as ex:
            assert ex.errno == "EAGAIN" and not fits
            return
        assert fits
        self._settle()

    @precondition(lambda self: self._live())
    @rule(i=st.integers(0, 60), pages=st.integers(1, 24))
    def alloc(self, i: int, pages: int) -> None:
        live = self._live()
        sip = live[i % len(live)]
        fits = self._room(sip.principal, EXHEAP, pages)
        try:
            self.k.heap.alloc(sip.pid, bytes(4096 * pages))
        except SyscallError as ex:
            assert ex.errno == "ENOMEM" and not fits
            return
        assert fits

    @precondition(lambda self: self._live())
    @rule(i=st.integers(0, 60))
    def kill(self, i: int) -> None:
        live = self._live()
        self.k.kill(live[i % len(live)], 0)
        self._settle()

    @invariant()
    def counts_are_the_sips_and_under_caps(self) -> None:
        for p in self.seen:
            for kind in (SIPS, THREADS, EXHEAP):
                assert p.held[kind] == self._count(p, kind) <= p.caps[kind]

    def teardown(self) -> None:
        for sip in self._live():
            self.k.kill(sip, 0)
        self._settle()
        assert self.k.sips == {} and self.k.threads_live == 0
        assert all(p.held == [0, 0, 0] for p in self.seen)


KernelLedger.TestCase.settings = settings(max_examples=25, stateful_step_count=30,
                                          deadline=None)
test_kernel_ledger = KernelLedger.TestCase
