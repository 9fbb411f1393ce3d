"""Hostile SIPs against the exchange heap, beside a bystander that keeps a block of its
own: quota exhaustion, forged block handles, use after send, loads at another SIP's
block address. The hostile SIP gets a typed error (quota) or a fault (the rest);
the bystander's block stays exact; every page comes back."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.errors import SyscallError
from exolab.kernels.singularity import Singularity
from exolab.kernels.singularity.channel import Channels
from exolab.kernels.singularity.limits import EXHEAP_QUOTA_PAGES
from exolab.machine.machine import Machine
from exolab.safe.load import load_function
from tests.kernels.singularity.heaps import make_heap
from tests.kernels.singularity.test_adversarial import CATALOGUE, pong_peer

ROUNDS = 12


def keeper(os: Any, n: int) -> None:
    """Keeps one block across yields, rewriting and rereading it: the exact result."""
    block = os.exheap_new(bytes(8))
    total = 0
    for i in range(n):
        os.exheap_write(block, (i * i).to_bytes(8, "little"))
        os.yield_()
        total += int.from_bytes(os.exheap_read(block), "little")
    os.exheap_free(block)
    os.print("keeper", total)


def hog(os: Any) -> None:
    """Allocates page-sized blocks until refused: ENOMEM at its quota, no fault."""
    got = 0
    while True:
        try:
            os.exheap_new(bytes(4096))
        except Exception as ex:
            os.print("hog", got, getattr(ex, "errno", "?"))
            return
        got += 1


def small_hog(os: Any) -> None:
    """As hog, with a manifest asking for an 8-page quota."""
    hog(os)


small_hog.manifest = ("small_hog", (), (), (("exheap_pages", 8),))  # type: ignore[attr-defined]


def block_forger(os: Any) -> None:
    """Makes up handles from a real one's type: block 1 (the keeper's, first made)."""
    mine = os.exheap_new(b"x")
    fake = type(mine)(1, 0)
    os.print("forger read", os.exheap_read(fake))


def writer_after_send(os: Any) -> None:
    """Sends a block, then writes into it: the handle is dead."""
    exp, imp = os.channel("PingPong")
    os.spawn(pong_peer, exp)
    block = os.exheap_new(b"sent")
    os.send(imp, "Ping", block)
    os.exheap_write(block, b"changed after the send")
    os.print("writer: not reached")


writer_after_send.manifest = ("writer", (), (), (), ("PingPong",))  # type: ignore[attr-defined]


def freer_after_send(os: Any) -> None:
    """Sends a block, then frees it (the receiver's now)."""
    exp, imp = os.channel("PingPong")
    os.spawn(pong_peer, exp)
    block = os.exheap_new(b"sent")
    os.send(imp, "Ping", block)
    os.exheap_free(block)
    os.print("freer: not reached")


freer_after_send.manifest = writer_after_send.manifest  # type: ignore[attr-defined]


def twice_sender(os: Any) -> None:
    """Puts one block in a message twice (it can move once)."""
    exp, imp = os.channel("PingPong")
    os.spawn(pong_peer, exp)
    block = os.exheap_new(b"one")
    os.send(imp, "Ping", block, block)
    os.print("twice: not reached")


twice_sender.manifest = writer_after_send.manifest  # type: ignore[attr-defined]


def peeker(os: Any) -> None:
    """Loads page by page below its own heap: the first page not its own is the keeper's
    block (frames are handed out in order: the keeper's block came just before)."""
    addr = os.mmap(4096) - 4096
    while addr >= 0:
        os.load(addr, 8)
        addr -= 4096
    os.print("peeker: not reached")


def main(os: Any, hostile: Any) -> None:
    k = os.spawn(keeper, ROUNDS, name="keeper")
    os.yield_()                                     # the keeper makes its block first
    h = os.spawn(hostile)
    status = os.wait(h)[1]
    os.wait(k)
    os.print("status", status)


def _run(hostile: Any) -> tuple[Singularity, list[bool]]:
    k = Singularity(Machine("athlon64", frames=4096), catalogue=CATALOGUE)
    seen: list[bool] = []
    fault = k.fault

    def spy(sip: Any, what: str, where: Any) -> Any:
        seen.append(type(where) is int and k.heap.holds(where))
        return fault(sip, what, where)
    k.fault = spy                                   # type: ignore[method-assign]
    k.boot(load_function(main), load_function(hostile))
    res = k.run()
    assert res.reason == "finished", (res, k.console, k.faults)
    return k, seen


def _keeper_exact(k: Singularity) -> None:
    assert f"keeper {sum(i * i for i in range(ROUNDS))}" in k.console
    st = k.statistics()
    assert st.processes_live == 0 and st.frames_in_use == 0
    assert st.exheap.blocks_live == 0 and st.exheap.pages_live == 0


@pytest.mark.parametrize("hostile,quota", [(hog, EXHEAP_QUOTA_PAGES), (small_hog, 8)])
def test_a_hog_is_stopped_at_its_quota_with_enomem_and_the_keeper_is_exact(
        hostile: Any, quota: int) -> None:
    k, _seen = _run(hostile)
    assert f"hog {quota} ENOMEM" in k.console
    assert k.faults == [] and "status 0" in k.console
    assert k.statistics().exheap.over_quota == 1
    _keeper_exact(k)                                # and every page came back


@pytest.mark.parametrize("hostile", [block_forger, writer_after_send, freer_after_send,
                                     twice_sender])
def test_a_dead_or_forged_block_handle_is_a_fault_and_the_keeper_is_exact(
        hostile: Any) -> None:
    k, _seen = _run(hostile)
    assert [pid for pid, _w, _x in k.faults] == [3]
    assert not any("not reached" in line or "forger read" in line for line in k.console)
    assert "status fault" in " ".join(k.console)
    _keeper_exact(k)


def test_a_sent_block_arrives_intact_although_its_sender_then_faulted() -> None:
    k, _seen = _run(writer_after_send)
    assert "peer got Ping [b'sent']" in k.console


def test_a_load_at_another_sips_block_address_is_sigsegv() -> None:
    k, seen = _run(peeker)
    assert [(pid, what) for pid, what, _x in k.faults] == [(3, "SIGSEGV")]
    assert seen == [True]                           # the address was the keeper's block
    assert not any("not reached" in line for line in k.console)
    _keeper_exact(k)


@pytest.mark.parametrize("config", ["paging", "hip"])
def test_the_same_hostiles_under_paging_and_separate_domains(config: str) -> None:
    for hostile in (hog, writer_after_send, peeker):
        k = Singularity(Machine("athlon64", frames=4096), catalogue=CATALOGUE,
                        isolation=config)
        k.boot(load_function(main), load_function(hostile))
        assert k.run().reason == "finished"
        _keeper_exact(k)
        assert k.statistics().pager.mapped == k.statistics().pager.unmapped > 0


# -- a send cannot push another SIP past its exchange-heap quota -------------------------


def test_a_send_past_the_receivers_quota_is_enomem_and_moves_nothing() -> None:
    """Blocks sent to a SIP that does not receive them count against its quota: a send
    past it is ENOMEM to the sender (nothing moves), also for blocks queued behind an
    endpoint it moves, and the receiver's own allocations still fit. Before, the pages
    went to the receiver's account unchecked and its own next allocation met ENOMEM."""
    heap, _pool, _mem = make_heap()             # quota: 16 pages each
    ch = Channels(heap, None, 16)
    exp, imp = ch.create(1)
    ch.give(1, exp, 2)                          # SIP 2 holds the receiving end
    own = heap.alloc(2, bytes(10 * 4096))       # 10 of its 16 pages its own
    ch.send(None, 1, imp, "M", (heap.alloc(1, bytes(4 * 4096)),))  # 14 of 16
    big = heap.alloc(1, bytes(4 * 4096))
    with pytest.raises(SyscallError) as ex:
        ch.send(None, 1, imp, "M", (big,))      # 18 of 16: refused
    assert ex.value.errno == "ENOMEM" and heap.size(1, big) == 4 * 4096  # still SIP 1's
    x, y = ch.create(1)
    ch.send(None, 1, y, "M", (big,))            # queued behind x, still SIP 1's pages
    with pytest.raises(SyscallError) as ex:
        ch.send(None, 1, imp, "M", (x,))        # x would bring its 4 pages along
    assert ex.value.errno == "ENOMEM" and ch.side(1, x) == "Exp"
    assert heap.pages_of(2) == 14 and heap.pages_of(1) == 4
    assert heap.statistics().over_quota == 2
    heap.alloc(2, bytes(2 * 4096))              # the receiver's own room is intact
    heap.free(2, own)
    ch.send(None, 1, imp, "M", (x,))            # room again: x and its cargo move
    assert heap.pages_of(2) == 10 and heap.pages_of(1) == 0
