"""Hostile SIPs beside a bystander: contract breaking, reusing a sent block, forging
endpoints, reaching another SIP's objects. Each hostile SIP is faulted (nothing it
tried is delivered); the bystander's result stays exact and every SIP is reclaimed."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.kernels.singularity import Singularity
from exolab.kernels.singularity.contract import Catalogue
from exolab.machine.machine import Machine
from exolab.safe.load import load_function

ROUNDS = 40


CATALOGUE = Catalogue.parse("""
contract PingPong {
  in message Ping(...);       // Imp -> Exp: scalars, blocks, endpoints
  out message Pong(...);      // Exp -> Imp
  state READY: one { Ping? -> READY; Pong! -> READY; }
}
""")
PP_EXP = ("peer", (("pp", "PingPong", "Exp"),))       # a manifest, as constants


def bystander(os: Any, n: int) -> None:
    """Sum squares through its own heap, yielding between steps: the exact result."""
    va = os.mmap(4096)
    for i in range(n):
        os.store(va + 8 * (i % 16), i * i, 8)
        os.yield_()
    total = sum(os.load(va + 8 * j, 8) for j in range(16))
    os.print("bystander", total, os.getpid())


def pong_peer(os: Any, ep: Any) -> None:
    """Receives what it is sent and reports it."""
    while True:
        msg = os.receive(ep)
        if msg is None:
            return
        name, args = msg
        shown = [os.exheap_read(a) if type(a) is not int else a for a in args]
        os.print("peer got", name, shown)


pong_peer.manifest = PP_EXP   # type: ignore[attr-defined]


def contract_breaker(os: Any) -> None:
    """Sends Pong from the Imp side (the contract says Ping): faulted before delivery."""
    exp, imp = os.channel("PingPong")
    os.spawn(pong_peer, exp)
    os.send(imp, "Ping", 1)
    os.yield_()
    os.send(imp, "Pong", 2)
    os.print("breaker: not reached")


contract_breaker.manifest = (   # type: ignore[attr-defined]
    "contract_breaker", (), (), (), ("PingPong",))     # makes PingPong channels


def block_reuser(os: Any) -> None:
    """Sends a block, then reads it again: its handle is dead, so it is faulted."""
    exp, imp = os.channel("PingPong")
    os.spawn(pong_peer, exp)
    block = os.exheap_new(b"mine")
    os.send(imp, "Ping", block)
    os.yield_()
    os.print("reuser read", os.exheap_read(block))


block_reuser.manifest = contract_breaker.manifest   # type: ignore[attr-defined]


def forger(os: Any) -> None:
    """Makes up an endpoint handle from a real one's type: faulted at first use."""
    exp, imp = os.channel()
    fake = type(exp)(1, 0)              # the numbers of its own first endpoint, even
    os.send(fake, "Data", 1)
    os.print("forger: not reached")


def smuggler(os: Any) -> None:
    """Tries to pass a mutable Python object over a channel: faulted, nothing sent."""
    exp, imp = os.channel()
    os.send(exp, "Data", [1, 2, 3])
    os.print("smuggler: not reached")


def reacher(os: Any) -> None:
    """Loads from every page below its own heap, looking for another SIP's data."""
    own = os.mmap(4096)
    addr = own - 4096
    while addr >= 0:
        os.load(addr, 8)
        addr -= 4096
    os.print("reacher: not reached")


def overreacher(os: Any) -> None:
    """Asks for a 2**63-byte copy that starts inside its heap: the range is checked
    before the copy is charged, so it is faulted without moving the clock."""
    va = os.mmap(4096)
    os.load_bytes(va + 4093, 1 << 63)
    os.print("overreacher: not reached")


def overwriter(os: Any) -> None:
    """Stores a page and a byte where one page is mapped: faulted, nothing written."""
    va = os.mmap(4096)
    os.store_bytes(va + 1, bytes(4096))
    os.print("overwriter: not reached")


def undeclared(os: Any) -> None:
    """Asks for an endpoint its manifest does not declare, then uses a contract name."""
    try:
        os.endpoint("nic")
    except Exception as ex:
        os.print("undeclared:", type(ex).__name__, getattr(ex, "errno", ""))
    os.channel("PingPong")


def main(os: Any, hostile: list[Any]) -> None:
    b = os.spawn(bystander, ROUNDS, name="bystander")
    pids = []
    for h in hostile:
        try:
            pids.append(os.spawn(h))
        except Exception as ex:
            os.print("refused", getattr(ex, "errno", "?"))
    statuses = {}
    for p in pids:
        statuses[p] = os.wait(p)[1]
    os.wait(b)
    for p in pids:
        os.print("status", p, "fault" in str(statuses[p]) or statuses[p] == "SIGSEGV")


def _run(*hostile: Any) -> Singularity:
    k = Singularity(Machine("athlon64", frames=4096), catalogue=CATALOGUE)
    k.boot(load_function(main), tuple(load_function(h) for h in hostile))
    res = k.run()
    assert res.reason == "finished", (res, k.console, k.faults)
    return k


def _expected_bystander() -> str:
    vals = {}
    for i in range(ROUNDS):
        vals[i % 16] = i * i
    return f"bystander {sum(vals.values())} 2"


@pytest.mark.parametrize("hostile", [contract_breaker, block_reuser, forger, smuggler,
                                     reacher, overreacher, overwriter])
def test_each_hostile_sip_is_faulted_and_the_bystander_is_exact(hostile: Any) -> None:
    k = _run(hostile)
    assert _expected_bystander() in k.console
    assert "status 3 True" in k.console
    assert not any("not reached" in line for line in k.console)
    assert 3 in {pid for pid, _w, _x in k.faults}
    st = k.statistics()
    assert st.processes_live == 0 and st.frames_in_use == 0
    assert st.exheap.blocks_live == 0 and st.channels.endpoints_live == 0


def test_the_breakers_first_message_arrives_and_the_bad_one_never_does() -> None:
    k = _run(contract_breaker)
    assert "peer got Ping [1]" in k.console
    assert not any("Pong" in line for line in k.console)
    assert k.statistics().channels.violations == 1


def test_the_sent_block_is_the_receivers_alone() -> None:
    k = _run(block_reuser)
    assert "peer got Ping [b'mine']" in k.console
    assert not any(line.startswith("reuser read") for line in k.console)


def test_all_hostile_sips_at_once() -> None:
    k = _run(contract_breaker, block_reuser, forger, smuggler, reacher)
    assert _expected_bystander() in k.console
    assert [line for line in k.console if line.startswith("status")] == \
        [f"status {p} True" for p in (3, 4, 5, 6, 7)]


def test_an_out_of_range_copy_costs_a_check_not_its_length() -> None:
    """Regression (soak seed 11): the copy cost was charged before the range check,
    so one load_bytes of 2**63 bytes jumped the clock by ~2**63 cycles."""
    k = _run(overreacher)
    assert k.machine.clock.now < 10**9
    assert _expected_bystander() in k.console


def test_an_undeclared_contract_is_refused_at_load_time() -> None:
    k = _run(undeclared)
    assert _expected_bystander() in k.console
    assert "refused ENOEXEC" in k.console     # it never started
    assert k.faults == []


def nic_thief(os: Any) -> None:
    """Reaches for the NIC its manifest does not declare."""
    try:
        os.nic_post(os.mmap(4096), 64)
    except Exception as ex:
        os.print("thief:", getattr(ex, "errno", "?"))


def test_a_device_not_in_the_manifest_is_refused() -> None:
    machine = Machine("athlon64", frames=4096)
    machine.attach_nic()
    k = Singularity(machine, catalogue=CATALOGUE)
    k.boot(load_function(main), (load_function(nic_thief),))
    assert k.run().reason == "finished"
    assert "thief: EPERM" in k.console and _expected_bystander() in k.console


# -- SIPs that never yield: the tick preempts them at their next call ----------------------


def compute_hog(os: Any) -> None:
    while True:
        os.compute(1000)


def load_hog(os: Any) -> None:
    va = os.mmap(4096)
    while True:
        os.load(va)


def clock_hog(os: Any) -> None:
    while True:
        os.time()


def call_hog(os: Any) -> None:
    while True:
        os.getpid()


def hog_main(os: Any, hog: Any) -> None:
    b = os.spawn(bystander, ROUNDS, name="bystander")
    for _ in range(2):
        os.spawn(hog)
    os.wait(b)
    os.print("bystander waited")


@pytest.mark.parametrize("hog", [compute_hog, load_hog, clock_hog, call_hog])
def test_a_sip_that_never_yields_does_not_starve_the_bystander(hog: Any) -> None:
    """Two SIPs loop for ever on one kind of call (never a yield, a block or a
    fault): every slice's end is taken at the hog's next call, so the bystander,
    which yields at every step, still finishes, exact; the hogs are still running.
    (A 20,000-cycle slice, not 10 ms: the hogs' loops are host time.)"""
    k = Singularity(Machine("athlon64", frames=4096), catalogue=CATALOGUE)
    k.tick.period = 20_000
    k.boot(load_function(hog_main), load_function(hog))
    res = k.run(until=6_000_000)
    assert _expected_bystander() in k.console and "bystander waited" in k.console
    assert res.reason == "paused" and k.faults == []
    assert k.sched.statistics().preemptions >= ROUNDS
