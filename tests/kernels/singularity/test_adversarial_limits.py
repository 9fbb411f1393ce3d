"""Hostile SIPs against the kernel's bounds, each beside a bystander whose result must
stay exact: half-made SIPs (one endpoint passed twice), frame fragmentation, endpoint
chains, endpoint floods at a server, unbounded queues, exchange-heap hogs, exheap
calls that were no preemption point, and elided messages carrying endpoints. Every
case here failed on the code before its fix (the probe that found it is named)."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.errors import ProgramFault, SyscallError
from exolab.kernels.singularity import Singularity
from exolab.kernels.singularity.channel import Channels
from exolab.kernels.singularity.contract import Catalogue
from exolab.kernels.singularity.limits import (ENDPOINT_RESERVE, MAX_ENDPOINTS, MAX_QUEUED,
                                              RPC_CONNECTIONS)
from exolab.machine.machine import Machine
from exolab.safe.load import load_function
from tests.kernels.singularity.heaps import make_heap
from tests.kernels.singularity.test_adversarial import (CATALOGUE, ROUNDS,
                                                        _expected_bystander, bystander)


def _kernel(frames: int = 4096, catalogue: Any = CATALOGUE) -> Singularity:
    return Singularity(Machine("athlon64", frames=frames), catalogue=catalogue)


def _run(main: Any, *args: Any, frames: int = 4096, catalogue: Any = CATALOGUE,
         until: int | None = None, ends: tuple[str, ...] = ("finished",)) -> Singularity:
    k = _kernel(frames, catalogue)
    k.boot(load_function(main), *args)
    res = k.run(until)
    assert res.reason in ends, (res, list(k.console), k.faults)
    return k


def _bystander_ok(k: Singularity) -> bool:
    """The bystander's exact line, whatever its pid."""
    want = _expected_bystander().rsplit(" ", 1)[0] + " "
    return any(line.startswith(want) for line in k.console)


def _reclaimed(k: Singularity) -> None:
    st = k.statistics()
    assert st.processes_live == 0 and st.frames_in_use == 0 and k.sips == {}
    assert st.exheap.blocks_live == 0 and st.channels.endpoints_live == 0


def beside(os: Any, hostile: Any, *args: Any) -> None:
    """The bystander and one hostile SIP; both waited for."""
    b = os.spawn(bystander, ROUNDS, name="bystander")
    h = os.spawn(hostile, *args)
    os.print("hostile status", os.wait(h)[1])
    os.wait(b)


# -- F1: one endpoint twice to spawn (probes p1, p1b) ------------------------------------


def two_ends(os: Any) -> None:
    os.print("child runs")


two_ends.manifest = ("two_ends", (("a", "PingPong", "Exp"),   # type: ignore[attr-defined]
                                  ("b", "PingPong", "Exp")))


def dup_spawner(os: Any) -> None:
    """Hands one endpoint twice to spawn, then waits for any child."""
    refused = 0
    for _ in range(50):
        exp, _imp = os.channel("PingPong")
        try:
            os.spawn(two_ends, exp, exp)
        except Exception as ex:
            refused += getattr(ex, "errno", "") == "EINVAL"
    try:
        os.wait()
    except Exception as ex:
        os.print("dup wait", getattr(ex, "errno", ""))
    os.print("dup refused", refused)


dup_spawner.manifest = ("dup_spawner", (), (), (), ("PingPong",))  # type: ignore[attr-defined]


def test_one_endpoint_twice_to_spawn_is_einval_and_makes_nothing() -> None:
    k = _run(beside, load_function(dup_spawner))
    assert "dup refused 50" in k.console and "dup wait ECHILD" in k.console
    assert _expected_bystander() in k.console and "hostile status 0" in k.console
    assert k.statistics().processes_created == 3 and k.faults == []
    _reclaimed(k)


@pytest.mark.parametrize("step", ["_isolate", "start_thread"])
def test_a_spawn_failing_after_admission_unwinds_everything(
        monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """A failure after the checks (a made-up one, before the endpoints move or after)
    leaves no SIP, no wait entry, no frames, no quota; an endpoint not yet handed
    over is still the parent's, one handed over is closed."""
    k = _kernel()
    parent = k.boot(load_function(bystander), 1)
    exp, imp = k.channels.create(parent.pid, k.catalogue["PingPong"])
    used = k.frames.in_use()

    def boom(*args: Any) -> None:
        raise SyscallError("ENOMEM", "made up")
    monkeypatch.setattr(k, step, boom)
    with pytest.raises(SyscallError):
        k.spawn(parent, load_function(pong_one), (exp,), "x")
    assert list(k.sips) == [parent.pid] and k.frames.in_use() == used
    assert k.waits.statistics().live == 1 and k.heap.quota_of(2) == k.heap.quota_of(99)
    if step == "_isolate":
        assert k.channels.side(parent.pid, exp) == "Exp"
    else:
        assert not k.channels.alive(parent.pid, imp)    # its peer went with the SIP


def pong_one(os: Any, ep: Any) -> None:
    os.print("never", ep)


pong_one.manifest = ("pong_one", (("pp", "PingPong", "Exp"),))  # type: ignore[attr-defined]


# -- F3: frame fragmentation (probe p5) -------------------------------------------------


def fragmenter(os: Any) -> None:
    """Maps two pages and gives the first back, until refused."""
    n = 0
    try:
        while True:
            va = os.mmap(2 * 4096)
            os.munmap(va, 4096)
            n += 1
    except Exception as ex:
        os.print("fragmenter", getattr(ex, "errno", ""))


def frag_main(os: Any) -> None:
    os.wait(os.spawn(fragmenter))
    os.wait(os.spawn(bystander, ROUNDS, name="bystander"))
    os.mmap(2 * 4096)
    os.print("init mapped")


def test_freed_frames_make_runs_again_after_fragmentation() -> None:
    k = _run(frag_main, frames=1024)
    assert "fragmenter ENOMEM" in k.console
    assert _bystander_ok(k) and "init mapped" in k.console


# -- F2: a chain of endpoints queued behind each other (probe p2) -------------------------


def test_closing_a_chain_of_twenty_thousand_queued_endpoints_does_not_recurse() -> None:
    heap, _pool, _mem = make_heap()
    ch = Channels(heap, None, 1 << 20)
    exp, imp = ch.create(1)
    prev = imp
    for _ in range(20_000):
        x, y = ch.create(1)
        ch.send(None, 1, prev, "Link", (x,))
        prev = y
    assert ch.close_all(1) > 0 and ch.statistics().endpoints_live == 0


CHAIN = Catalogue.parse("""
contract Chain {
  in message Link(Chain.Exp c);
  in message Go();
  state S: one { Link? -> S; Go? -> S; }
}
""")


def sink(os: Any, ep: Any) -> None:
    os.receive(ep)
    os.receive(ep)


sink.manifest = ("sink", (("c", "Chain", "Exp"),))  # type: ignore[attr-defined]


def chainer(os: Any, n: int) -> None:
    """Queues endpoint behind endpoint at a sink: stopped at the sink's room."""
    exp, imp = os.channel("Chain")
    os.spawn(sink, exp)
    prev, built = imp, 0
    try:
        for _ in range(n):
            x, y = os.channel("Chain")
            os.send(prev, "Link", x)
            if prev is not imp:
                os.close_endpoint(prev)
            prev = y
            built += 1
    except Exception as ex:
        os.print("chain stopped", built, getattr(ex, "errno", ""))
    os.send(imp, "Go")


chainer.manifest = ("chainer", (), (), (), ("Chain",))  # type: ignore[attr-defined]


def chain_main(os: Any, hostile: Any, n: int) -> None:
    b = os.spawn(bystander, ROUNDS, name="bystander")
    os.wait(os.spawn(hostile, n))
    os.wait(b)


def test_an_endpoint_chain_at_exit_is_closed_and_bounded() -> None:
    k = _run(chain_main, load_function(chainer), 20_000, catalogue=CHAIN)
    incoming = MAX_ENDPOINTS - ENDPOINT_RESERVE
    assert f"chain stopped {incoming - 1} EAGAIN" in k.console
    assert _expected_bystander() in k.console
    _reclaimed(k)


def closer(os: Any) -> None:
    """Sends blocks to its own channel and closes the end they wait at, 400 times."""
    for i in range(400):
        exp, imp = os.channel()
        for _ in range(4):
            os.send(exp, "Data", os.exheap_new(bytes(4096)))
        os.close_endpoint(imp)
        os.close_endpoint(exp)
    os.print("closer done")


def test_blocks_queued_at_a_closed_endpoint_are_freed_at_once() -> None:
    """1,600 pages sent and never received: the quota is 1,024, so without freeing
    them at the close the closer met ENOMEM."""
    k = _run(beside, load_function(closer))
    assert "closer done" in k.console and _expected_bystander() in k.console
    assert k.statistics().exheap.freed == 1600
    _reclaimed(k)


# -- F6: endpoints pushed at a server (probe p6) ----------------------------------------


def piped(os: Any, word: int) -> int:
    r, w = os.pipe()                    # the server's own work needs endpoints
    os.write(w, bytes([word & 255]))
    v = os.read(r, 1)[0]
    os.close(r)
    os.close(w)
    return v + 1


def server(os: Any) -> None:
    os.rpc_serve("svc", piped)


FLOOD_TRIES = 2_000                     # connects the flooder makes, refused or not


def bystander_client(os: Any) -> None:
    """Connects after the flood, while the flooder still holds its connections, and
    checks every reply."""
    try:
        h = os.rpc_connect("svc")
    except Exception as ex:
        os.print("bystander refused", getattr(ex, "errno", ""))
        return
    replies = [os.rpc_call(h, i) for i in range(20)]
    os.print("bystander", replies == [i + 1 for i in range(20)], sum(replies))


def flooder(os: Any) -> None:
    """Connects to one service FLOOD_TRIES times, going on after every refusal; then,
    its connections still held, lets a bystander in and calls on its own first one."""
    handles: list[int] = []
    errnos: set[str] = set()
    refused_at = -1
    for _ in range(FLOOD_TRIES):
        try:
            handles.append(os.rpc_connect("svc"))
        except Exception as ex:
            errnos.add(str(getattr(ex, "errno", "")))
            if refused_at < 0:
                refused_at = len(handles)
    os.print("flooder", len(handles), refused_at, sorted(errnos),
             FLOOD_TRIES - len(handles))
    os.wait(os.spawn(bystander_client, name="bystander"))
    os.print("flooder call", os.rpc_call(handles[0], 41) if handles else None)


def late_client(os: Any) -> None:
    """A new SIP after the flooder exited: connects up to the bound."""
    hs = [os.rpc_connect("svc") for _ in range(RPC_CONNECTIONS)]
    os.print("late", os.rpc_call(hs[-1], 6))


def flood_main(os: Any) -> None:
    os.spawn(server, name="server")
    os.yield_()
    os.wait(os.spawn(flooder, name="flooder"))
    os.wait(os.spawn(late_client, name="late"))
    os.exit(0)


def _service(k: Singularity) -> Any:
    return k.services["svc"]


def test_a_connect_flood_cannot_fill_a_servers_endpoint_table() -> None:
    """One client may hold RPC_CONNECTIONS live connections to a service (EAGAIN past
    them, however often it retries), so a bystander connecting during the flood is
    served; the flooder's count goes when it exits. Before the bound the flooder took
    all 959 slots a server lets others fill and the bystander met EAGAIN."""
    k = _run(flood_main, until=2_000_000_000, ends=("deadlock",))  # the server serves on
    assert (f"flooder {RPC_CONNECTIONS} {RPC_CONNECTIONS} ['EAGAIN'] "
            f"{FLOOD_TRIES - RPC_CONNECTIONS}") in k.console
    assert f"bystander True {sum(range(1, 21))}" in k.console
    assert "flooder call 42" in k.console and "late 7" in k.console
    assert k.faults == []
    exited = {name: status for _pid, name, status in k.exits}
    assert exited == {"bystander": 0, "flooder": 0, "late": 0, "init": 0}
    server_pid = _service(k).server
    assert _service(k).clients.total() == 0         # every client's count is gone
    assert k.channels.held(server_pid) == 0         # and its ends left the server's table


def churner(os: Any) -> None:
    """Connects, calls once, exits: the connection must not stay in the server's table."""
    h = os.rpc_connect("svc")
    os.rpc_call(h, 1)


def churn_main(os: Any) -> None:
    os.spawn(server, name="server")
    os.yield_()
    for _ in range(MAX_ENDPOINTS):              # more than the server's table holds
        os.wait(os.spawn(churner))
    os.wait(os.spawn(late_client, name="late"))
    os.exit(0)


def test_connections_of_exited_clients_leave_the_servers_table() -> None:
    """A closed connection's server end is closed when the server sees it, so a
    thousand clients one after another never fill the table (before: each left its
    end there for ever, and the 960th met EAGAIN)."""
    k = _run(churn_main, until=20_000_000_000, ends=("deadlock",))
    assert "late 7" in k.console and k.faults == []
    assert k.channels.held(_service(k).server) == 0
    assert _service(k).clients.total() == 0


def test_a_send_moving_endpoints_past_the_receivers_room_moves_nothing() -> None:
    heap, _pool, _mem = make_heap()
    ch = Channels(heap, None, 8, reserve=2)
    exp, imp = ch.create(1)
    ch.give(1, exp, 2)                          # the receiver holds 1 of its 6
    mine = [ch.create(1) for _ in range(3)]
    ch.send(None, 1, imp, "M", (mine[0][0], mine[0][1], mine[1][0], mine[1][1], mine[2][0]))
    x, y = ch.create(1)
    with pytest.raises(SyscallError) as ex:
        ch.send(None, 1, imp, "M", (x,))        # 6 of 6: EAGAIN
    assert ex.value.errno == "EAGAIN" and ch.side(1, x) == "Exp"     # still the sender's


# -- F7: unbounded queues (probe p3) ----------------------------------------------------


def flood_self(os: Any) -> None:
    exp, imp = os.channel()
    sent = 0
    try:
        for i in range(10_000):
            os.send(exp, "M", i, i + 1)
            sent += 1
    except Exception as ex:
        os.print("flood refused at", sent, getattr(ex, "errno", ""))


def test_a_send_past_the_queue_bound_is_eagain() -> None:
    k = _run(beside, load_function(flood_self))
    assert f"flood refused at {MAX_QUEUED} EAGAIN" in k.console
    assert _expected_bystander() in k.console
    _reclaimed(k)


def small_writes(os: Any) -> None:
    """A thousand one-byte writes before any read: a pipe holds 4,096 bytes."""
    r, w = os.pipe()
    for i in range(1000):
        os.write(w, bytes([i & 255]))
    got = b""
    while len(got) < 1000:
        got += os.read(r, 1000)
    os.print("pipe ok", got == bytes(i & 255 for i in range(1000)))


def test_a_pipe_still_holds_a_thousand_small_writes_in_one_block() -> None:
    k = _run(small_writes)
    assert "pipe ok True" in k.console
    assert k.statistics().exheap.allocated == 1     # appended to the waiting block


# -- F5: exheap calls as preemption points (probe p7) -----------------------------------


def read_hog(os: Any) -> None:
    b = os.exheap_new(b"x")
    while True:
        os.exheap_read(b)


def write_hog(os: Any) -> None:
    b = os.exheap_new(b"x")
    while True:
        os.exheap_write(b, b"y")


def hog_main(os: Any, hog: Any) -> None:
    b = os.spawn(bystander, ROUNDS, name="bystander")
    os.spawn(hog)
    os.wait(b)
    os.print("bystander waited")


@pytest.mark.parametrize("hog", [read_hog, write_hog])
def test_a_sip_looping_on_the_exchange_heap_is_preempted(hog: Any) -> None:
    k = _kernel()
    k.tick.period = 20_000
    k.boot(load_function(hog_main), load_function(hog))
    assert k.run(until=6_000_000).reason == "paused"
    assert _expected_bystander() in k.console and "bystander waited" in k.console
    assert k.sched.statistics().preemptions >= ROUNDS


# -- F4: exchange-heap hogs (probe p4) --------------------------------------------------


def heap_hog(os: Any) -> None:
    held = []
    try:
        while True:
            held.append(os.exheap_new(bytes(4096)))
    except Exception as ex:
        os.print("hog", len(held), getattr(ex, "errno", ""))
    while True:
        os.compute(10**6)
        os.yield_()


def big_hog(os: Any) -> None:
    heap_hog(os)


big_hog.manifest = ("big_hog", (), (), (("exheap_pages", 4096),))  # type: ignore[attr-defined]


def piper(os: Any) -> None:
    r, w = os.pipe()
    os.write(w, b"ping")
    os.print("piper", os.read(r, 4))


def starve_main(os: Any) -> None:
    try:
        os.spawn(big_hog)
    except Exception as ex:
        os.print("big hog", getattr(ex, "errno", ""))
    for _ in range(4):
        os.spawn(heap_hog)
    for _ in range(5):
        os.yield_()
    os.wait(os.spawn(piper))
    os.exit(0)


def test_heap_hogs_cannot_starve_a_pipe_and_a_manifest_cannot_ask_for_the_heap() -> None:
    k = _run(starve_main, frames=8192, until=400_000_000, ends=("paused",))
    assert "big hog ENOEXEC" in k.console
    # init's tree may hold 15/16 of the heap (accounts.py): 3 hogs at their quota, the
    # fourth stopped at 768 pages by init's principal's cap (before it: 4 x 1024)
    assert k.console.count("hog 1024 ENOMEM") == 3 and "hog 768 ENOMEM" in k.console
    assert "piper b'ping'" in k.console


# -- elided messages carry endpoints (probe p12) ----------------------------------------


def ep_receiver(os: Any, ep: Any) -> None:
    _name, (got,) = os.receive(ep)
    os.send(got, "Ping", 7)
    os.print("receiver forwarded")


ep_receiver.manifest = ("ep_receiver", (("pp", "PingPong", "Exp"),))  # type: ignore[attr-defined]


def ep_sender(os: Any) -> None:
    exp, imp = os.channel("PingPong")
    x, y = os.channel("PingPong")
    os.spawn(ep_receiver, exp)
    os.send(imp, "Ping", y)
    os.print("sender got", os.receive(x))


ep_sender.manifest = ("ep_sender", (), (), (), ("PingPong",))  # type: ignore[attr-defined]


def test_an_elided_message_carries_an_endpoint() -> None:
    k = _run(beside, load_function(ep_sender))
    assert "sender got ('Ping', (7,))" in k.console and "receiver forwarded" in k.console
    assert k.faults == [] and _expected_bystander() in k.console
    _reclaimed(k)


def test_an_endpoint_of_a_foreign_sip_is_still_refused_in_an_elided_message() -> None:
    heap, _pool, _mem = make_heap()
    ch = Channels(heap, None, 64)
    cat = CATALOGUE["PingPong"]
    exp, imp = ch.create(1, cat)
    other, _ = ch.create(2, cat)
    with pytest.raises(ProgramFault):
        ch.send(None, 1, imp, "Ping", (other,))
