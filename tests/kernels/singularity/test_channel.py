"""Channels: two endpoints, moves not copies, the conformance hook, capabilities."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.errors import ProgramFault, SyscallError
from exolab.kernels.singularity.channel import Channels, Endpoint
from exolab.kernels.singularity.contract import Catalogue
from exolab.kernels.singularity.exheap import ExchangeHeap
from tests.kernels.singularity.heaps import make_heap


class NoSched:
    """A scheduler that must never be asked to sleep (every receive finds a message)."""

    def sleep(self, cpu: Any, *queues: Any) -> None:
        raise AssertionError("slept")

    def wakeup(self, queue: list[Any]) -> None:
        queue.clear()


PINGPONG = """
contract PingPong {
  in message Ping(...);
  out message Pong(...);
  state READY: one { Ping? -> READY; Pong! -> READY; }
}
"""


def Contract() -> Any:
    """The test contract, parsed and checked by the contract language."""
    return Catalogue.parse(PINGPONG)["PingPong"]


def make() -> tuple[Channels, ExchangeHeap]:
    heap = make_heap()[0]
    return Channels(heap, NoSched(), 16), heap


def test_a_block_moves_to_the_receiver_and_the_sender_handle_dies() -> None:
    ch, heap = make()
    exp, imp = ch.create(1)
    imp2 = ch.give(1, imp, 2)                   # the other SIP holds Imp
    block = heap.alloc(1, b"payload")
    ch.send(None, 1, exp, "Data", (block, 7, True))
    name, (got, seven, flag) = ch.receive(None, 2, imp2)
    assert (name, seven, flag) == ("Data", 7, True)
    assert heap.read(2, got) == b"payload"
    with pytest.raises(ProgramFault):
        heap.read(1, block)
    assert ch.statistics().blocks_moved == 1


def test_only_scalars_blocks_and_endpoints_cross() -> None:
    ch, _heap = make()
    exp, _imp = ch.create(1)
    for bad in ([1], "text", b"bytes", 1.5, object(), type("I", (int,), {})(3)):
        with pytest.raises(ProgramFault):
            ch.send(None, 1, exp, "Data", (bad,))
    assert ch.queued(1, _imp) == 0                  # nothing was delivered


def test_endpoints_are_capabilities_that_move() -> None:
    ch, _heap = make()
    a_exp, a_imp = ch.create(1)
    b_exp, b_imp = ch.create(1)
    a_imp2 = ch.give(1, a_imp, 2)
    ch.send(None, 1, a_exp, "Here", (b_imp,))
    _n, (moved,) = ch.receive(None, 2, a_imp2)
    assert ch.side(2, moved) == "Imp"
    with pytest.raises(ProgramFault):
        ch.side(1, b_imp)                            # the sender's handle is dead
    with pytest.raises(ProgramFault):
        ch.side(2, Endpoint(moved._id, moved._gen + 1))    # forged generation
    with pytest.raises(ProgramFault):
        ch.send(None, 1, a_exp, "Self", (a_exp,))    # its own channel


def test_the_contract_refuses_before_anything_is_delivered() -> None:
    ch, heap = make()
    exp, imp = ch.create(1, Contract())
    block = heap.alloc(1, b"x")
    with pytest.raises(ProgramFault):
        ch.send(None, 1, exp, "Ping", (block,))      # Exp may only send Pong
    assert ch.queued(1, imp) == 0 and heap.read(1, block) == b"x"   # still the sender's
    ch.send(None, 1, imp, "Ping", ())
    ch.send(None, 1, exp, "Pong", ())
    assert ch.receive(None, 1, exp) == ("Ping", ())
    assert ch.receive(None, 1, imp) == ("Pong", ())
    assert ch.statistics().violations == 1


def test_closing_ends_the_peer_and_sending_then_is_epipe() -> None:
    ch, _heap = make()
    exp, imp = ch.create(1)
    ch.close(1, imp)
    with pytest.raises(SyscallError) as e:
        ch.send(None, 1, exp, "Data", (1,))
    assert e.value.errno == "EPIPE"
    assert ch.receive(None, 1, exp) is None
    assert ch.close_all(1) == 1 and ch.statistics().endpoints_live == 0


class _Thread:
    def __init__(self, tid: int) -> None:
        self.tid = tid


class _CPU:
    """Stands for the machine CPU: only its current thread matters here."""

    def __init__(self) -> None:
        self.current: Any = None

    def run(self, tid: int | None) -> None:
        self.current = None if tid is None else _Thread(tid)


def test_an_endpoint_is_owned_by_one_thread_and_a_send_moves_it() -> None:
    cpu = _CPU()
    ch = Channels(make_heap()[0], NoSched(), 16, cpu=cpu)
    cpu.run(10)                                     # thread 10 of SIP 1 makes both
    a_exp, a_imp = ch.create(1)
    b_exp, b_imp = ch.create(1)
    cpu.run(11)                                     # thread 11, same SIP: not its own
    with pytest.raises(ProgramFault):
        ch.send(None, 1, a_exp, "Hi", ())
    with pytest.raises(ProgramFault):
        ch.side(1, b_imp)
    cpu.run(10)
    ch.send(None, 1, a_exp, "Take", (b_imp,))      # moves to whoever receives it
    cpu.run(11)
    with pytest.raises(ProgramFault):               # a_imp is still thread 10's
        ch.receive(None, 1, a_imp)
    cpu.run(10)
    _n, (got,) = ch.receive(None, 1, a_imp)         # thread 10 took it: 10 owns it
    cpu.run(11)
    with pytest.raises(ProgramFault):
        ch.side(1, got)
    cpu.run(None)                                   # the kernel itself: SIP checked
    ch.claim(1, got, 11)
    cpu.run(11)
    assert ch.side(1, got) == "Imp"
    cpu.run(10)
    with pytest.raises(ProgramFault):
        ch.side(1, got)


def test_shared_endpoints_belong_to_every_thread_of_the_sip() -> None:
    cpu = _CPU()
    ch = Channels(make_heap()[0], NoSched(), 16, cpu=cpu)
    cpu.run(10)
    exp, imp = ch.create(1, shared=True)            # the ABI's pipes and rpc handles
    cpu.run(11)
    ch.send(None, 1, exp, "Data", (1,))
    cpu.run(12)
    assert ch.receive(None, 1, imp) == ("Data", (1,))
    with pytest.raises(ProgramFault):
        ch.side(2, imp)                             # still only this SIP's


def test_one_block_or_endpoint_twice_in_a_message_is_refused_before_anything_moves() -> None:
    ch, heap = make()
    exp, imp = ch.create(1)
    c_exp, c_imp = ch.create(1)
    block = heap.alloc(1, b"once")
    for args in ((block, block), (c_imp, 1, c_imp)):
        with pytest.raises(ProgramFault):
            ch.send(None, 1, exp, "Twice", args)
    assert ch.queued(1, imp) == 0 and heap.read(1, block) == b"once"
    assert ch.side(1, c_imp) == "Imp"                   # still the sender's
