"""What is queued behind an endpoint moves with it (kernels/singularity/endpoints.py).

A SIP queues exchange-heap blocks (and an endpoint) at a channel end, then sends
that end to another SIP and exits. The new holder reads every block and
receives on the queued endpoint; the old owner's quota is freed when the end
leaves it; a bystander beside them computes its exact result.
"""
from __future__ import annotations

from typing import Any

import pytest

from exolab.kernels.singularity import Singularity
from exolab.machine.machine import Machine
from exolab.safe.load import load_function

from .test_adversarial import CATALOGUE, PP_EXP, ROUNDS, _expected_bystander, bystander


def holder(os: Any, ep: Any) -> None:
    """Receive E, let its sender go, then read what was queued at E."""
    e = os.receive(ep)[1][0]
    for _ in range(50):
        os.yield_()
    got = []
    for _ in range(3):
        got.append(os.exheap_read(os.receive(e)[1][0])[:1])
    inner = os.receive(e)[1][0]
    got.append(os.exheap_read(os.receive(inner)[1][0]))
    os.print("holder read", got)


holder.manifest = PP_EXP


def sender(os: Any, stay: int) -> None:
    """Queue three blocks and an endpoint carrying a block at E, send E away."""
    e_exp, e_imp = os.channel("PingPong")
    for i in range(3):
        os.send(e_imp, "Ping", os.exheap_new(bytes([65 + i]) * 4096))
    f_exp, f_imp = os.channel("PingPong")
    os.send(f_imp, "Ping", os.exheap_new(b"inner"))
    os.send(e_imp, "Ping", f_exp)
    x_exp, x_imp = os.channel("PingPong")
    os.spawn(holder, x_exp, name="holder")
    os.send(x_imp, "Ping", e_exp)
    if stay:
        os.exheap_new(bytes(4096 * 1022))        # all its quota but two pages
        os.print("sender quota free")
        for _ in range(200):
            os.yield_()


sender.manifest = ("sender", (), (), (), ("PingPong",))


def cargo_main(os: Any, who: Any, stay: int) -> None:
    b = os.spawn(bystander, ROUNDS, name="bystander")
    os.wait(os.spawn(who, stay, name="sender"))
    os.wait(b)


@pytest.mark.parametrize("stay", [0, 1], ids=["sender-exits", "sender-stays"])
def test_blocks_and_endpoints_queued_at_an_endpoint_move_with_it(stay: int) -> None:
    k = Singularity(Machine("athlon64", frames=4096), catalogue=CATALOGUE)
    k.boot(load_function(cargo_main), load_function(sender), stay)
    res = k.run()
    assert res.reason == "finished", (res, k.console, k.faults)
    assert k.faults == []
    assert "holder read [b'A', b'B', b'C', b'inner']" in k.console
    assert _expected_bystander() in k.console
    assert ("sender quota free" in k.console) == bool(stay)
    heap = k.statistics().exheap
    assert heap.blocks_live == 0 and heap.dead_uses == 0


def self_sender(os: Any, _stay: int) -> None:
    """Send a channel's receiving end through that same channel."""
    e_exp, e_imp = os.channel("PingPong")
    os.send(e_imp, "Ping", e_exp)
    os.print("self_sender went on")


self_sender.manifest = ("self_sender", (), (), (), ("PingPong",))


def test_an_endpoint_sent_behind_itself_faults_the_sender_only() -> None:
    k = Singularity(Machine("athlon64", frames=4096), catalogue=CATALOGUE)
    k.boot(load_function(cargo_main), load_function(self_sender), 0)
    res = k.run()
    assert res.reason == "finished", (res, k.console, k.faults)
    assert len(k.faults) == 1 and "self_sender went on" not in k.console
    assert _expected_bystander() in k.console
    heap = k.statistics().exheap
    assert heap.blocks_live == 0
