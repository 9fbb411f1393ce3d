"""Who pays for regenerating the classifier: the binder, in its call; never a frame.

Every DPF_BIND and DPF_UNBIND regenerates the changed path of the merged
trie's code at once (dpf_trie), charging the caller ``codegen`` cycles per
instruction emitted (dpf_rx.PATHS, VCODE's rate). The receive path only
classifies: a bystander's frames cost the same cycles whether or not another
environment keeps binding and unbinding. Structural: cycles, never host time.
"""
from __future__ import annotations

from typing import Any

import pytest

from exolab.kernels.exokernel import Aegis, dpf, dpf_rx
from exolab.kernels.exokernel.dpf_trie import COSTS, Trie
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.pfilter import Sender, bind_filter
from exolab.machine.machine import Machine
from exolab.machine.wire import Loopback


def udp_filter(port: int) -> list[tuple[Any, ...]]:
    """IPv4/UDP to ``port``, skipping a variable-length IP header."""
    return [("eq", 12, 2, 0xFFFF, 0x0800), ("shift", 14), ("eq", 9, 1, 0xFF, 17),
            ("shift", 0, 1, 0x0F, 4), ("eq", 2, 2, 0xFFFF, port)]


def udp_frame(port: int, payload: bytes = b"hello") -> bytes:
    """A minimal Ethernet/IPv4/UDP frame to ``port``."""
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    ip = bytes([0x45, 0]) + (28 + len(payload)).to_bytes(2, "big") + bytes(4) + \
        bytes([64, 17]) + bytes(2) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
    udp = (5000).to_bytes(2, "big") + port.to_bytes(2, "big") + \
        (8 + len(payload)).to_bytes(2, "big") + bytes(2)
    return eth + ip + udp + payload


def boot(program: Any) -> Aegis:
    """A machine with a loopback NIC and Aegis running ``program``."""
    m = Machine("dec5000", frames=4096)
    m.attach_nic(Loopback(latency_us=5.0))
    k = Aegis(m)
    k.boot(program)
    return k


# -- the trie: each change regenerates its path and says how much it emitted --------------

def test_insert_and_remove_regenerate_now_and_count_what_they_emit() -> None:
    t = Trie()
    e1 = t.insert(1, dpf.decode(udp_filter(7)))
    assert t.compiles == 1 and e1 > 0
    frame = udp_frame(7)
    assert t.classify(frame)[0] == 1 and t.compiles == 1       # classify never compiles
    sizes = []
    for i in range(2, 12):                  # siblings in the port group: chain, then table
        sizes.append(t.insert(i, dpf.decode(udp_filter(100 + i))))
    assert t.compiles == 11
    assert sizes[-1] > sizes[0]             # a table of 11 values: one word per entry
    assert t.remove(5) > 0 and t.compiles == 12
    assert t.classify(udp_frame(105))[0] is None and t.classify(udp_frame(106))[0] == 6
    for i in [1, 2, 3, 4] + list(range(6, 12)):
        t.remove(i)
    assert t.nodes() == 1 and t.classify(frame) == (None, COSTS["entry"][0]
                                                     + COSTS["exit"][0])


def test_regeneration_is_the_path_not_the_number_of_filters() -> None:
    def other(i: int) -> tuple[dpf.Term, ...]:
        """Filters on another field, in a second table at the root."""
        return dpf.decode([("eq", 0, 2, 0xFFFF, i)])
    small, large = Trie(), Trie()
    for i in range(5):                      # both groups tables from the start
        small.insert(i + 1, dpf.decode(udp_filter(1000 + i)))
        small.insert(100 + i, other(i))
    for i in range(400):                    # 80 times as many filters in both tables
        large.insert(i + 1, dpf.decode(udp_filter(1000 + i)))
        large.insert(1000 + i, other(i))
    new = dpf.decode(udp_filter(60000))
    # the same path, the same code: others' filters (table entries) cost nothing
    assert small.insert(999, new) == large.insert(999, new) > 0
    assert small.remove(999) == large.remove(999) > 0
    assert large.classify(udp_frame(1399))[0] == 400


# -- Aegis: the binder pays, at the call ----------------------------------------------------

def bind_costs(rounds: int, siblings: int) -> tuple[list[int], list[int], int]:
    """Cycles of each DPF_BIND and DPF_UNBIND of a bind/unbind loop with
    ``siblings`` other filters in the same port group, and the codegen charged."""
    box: dict[str, Any] = {"bind": [], "unbind": []}

    def main(os: Any) -> int:
        _ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        for i in range(siblings):
            os.aegis(Sys.DPF_BIND, udp_filter(2000 + i), [h], 0)
        k = box["k"]
        g0 = k.net.statistics().codegen_cycles
        for r in range(rounds):
            c0 = k.machine.cycles
            fid = os.aegis(Sys.DPF_BIND, udp_filter(60000 + r), [h], 0)
            c1 = k.machine.cycles
            os.aegis(Sys.DPF_UNBIND, fid)
            box["bind"].append(c1 - c0)
            box["unbind"].append(k.machine.cycles - c1)
        box["codegen"] = k.net.statistics().codegen_cycles - g0
        return 0

    k = boot(main)
    box["k"] = k
    assert k.run().reason == "finished", k.faults
    return box["bind"], box["unbind"], box["codegen"]


def shadow_emitted(rounds: int, siblings: int) -> list[tuple[int, int]]:
    """(insert, remove) instructions the same loop emits, from a trie of its own."""
    t = Trie()
    for i in range(siblings):
        t.insert(i + 1, dpf.decode(udp_filter(2000 + i)))
    out = []
    for r in range(rounds):
        ins = t.insert(10_000 + r, dpf.decode(udp_filter(60000 + r)))
        out.append((ins, t.remove(10_000 + r)))
    return out


@pytest.mark.parametrize("siblings", [0, 3, 40])
def test_a_bind_unbind_loop_pays_its_own_regeneration(
        siblings: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rounds = 4
    rate = dpf_rx.PATHS["codegen"][0] * Machine("dec5000").profile.instruction
    bind, unbind, codegen = bind_costs(rounds, siblings)
    monkeypatch.setitem(dpf_rx.PATHS, "codegen", (0, "test: regeneration free"))
    free_bind, free_unbind, free_codegen = bind_costs(rounds, siblings)
    assert free_codegen == 0 and rate > 0
    emitted = shadow_emitted(rounds, siblings)
    # each call costs exactly its regeneration more than it would if that were free
    assert [b - f for b, f in zip(bind, free_bind)] == [e[0] * rate for e in emitted]
    assert [u - f for u, f in zip(unbind, free_unbind)] == [e[1] * rate for e in emitted]
    assert codegen == sum(i + r for i, r in emitted) * rate > 0


def test_the_binder_pays_more_the_more_code_it_makes_regenerate() -> None:
    few = bind_costs(2, 0)[0][0]
    many = bind_costs(2, 40)[0][0]          # a table's code (and one entry) instead of eq
    grown = shadow_emitted(1, 40)[0][0] - shadow_emitted(1, 0)[0][0]
    assert grown > 0
    # nothing else differs: the 40 are the binder's own (no overlap comparisons)
    assert many - few == grown * dpf_rx.PATHS["codegen"][0] * \
        Machine("dec5000").profile.instruction


# -- a bystander's frames cost the same, churn or not ---------------------------------------

def bystander_frames(churn: bool, frames: int = 6) -> list[tuple[int, int]]:
    """(cycles, compiles) of each receive interrupt a bystander's frames cause, while
    another environment binds and unbinds before every frame (``churn``) or not."""
    box: dict[str, Any] = {"got": 0, "ready": False, "irqs": []}

    def bystander(os: Any) -> int:
        ring = bind_filter(os, udp_filter(7))
        box["ready"] = True
        for _ in range(frames):
            ring.recv()
            box["got"] += 1
        return 0

    def main(os: Any) -> int:
        kid = os.fork(bystander)
        while not box["ready"]:
            os.yield_()
        _ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        tx = Sender(os)
        for r in range(frames):
            if churn:
                for j in range(3):
                    fid = os.aegis(Sys.DPF_BIND, udp_filter(9000 + 10 * r + j), [h], 0)
                    os.aegis(Sys.DPF_UNBIND, fid)
            tx.send(udp_frame(7))
            while box["got"] <= r:
                os.yield_()
        os.wait(kid)
        return 0

    k = boot(main)
    real = k.net.on_irq

    def on_irq() -> None:
        c0, n0, rx0 = k.machine.cycles, k.net.classifier.compiles, k.net.statistics().rx_frames
        real()
        if k.net.statistics().rx_frames != rx0:
            box["irqs"].append((k.machine.cycles - c0, k.net.classifier.compiles - n0))

    k.net.on_irq = on_irq                   # type: ignore[method-assign]
    assert k.run().reason == "finished", k.faults
    assert box["got"] == frames
    return box["irqs"]


def test_a_bystander_pays_the_same_per_frame_whether_or_not_others_churn() -> None:
    quiet, churned = bystander_frames(False), bystander_frames(True)
    assert len(quiet) == len(churned) == 6
    assert all(compiles == 0 for _, compiles in quiet + churned)   # nothing generated here
    assert churned == quiet                 # the same cycles, frame by frame
