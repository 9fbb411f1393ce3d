"""The network soak: random and mutated frames on the wire into both kernels' stacks.

Two machines on an Ethernet: A's client sends ``datagrams`` UDP datagrams to
B's echo server and checks every reply byte for byte, while ``frames``
hostile frames are put on B's NIC between them -- random bytes, and valid
frames (UDP to the server's port, ICMP echo, ARP, from a third host) with
bytes overwritten and tails cut. Checked, on the monolithic kernel (the
stack in the kernel) and on the exokernel (ExOS's library stack behind DPF):

- nothing escapes: both machines finish, no fault, the exchange is intact;
- every frame B's NIC took was accounted for by the kernel: the in-kernel
  stack, or Aegis's classifier (delivered to a ring or unclaimed);
- the counters are exact: a reference stack (the same code, unplaced) fed the
  same hostile frames predicts how many B delivers to UDP, answers as echo
  requests and takes as ARP (on ExOS: those DPF let through are exactly
  those), and on the monolithic kernel every drop reason's count.

Interface::

    SoakResult(kernel, frames, datagrams, delivered, expected, drops, ok, problems)
    hostile_frames(seed, n) -> list[bytes]
    soak(kernel, frames=1000, datagrams=50, seed=0) -> SoakResult
    python -m exolab.bench.soak_net [FRAMES]     both kernels (default 100,000)
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from typing import Any

from exolab.services.net import BytesMemory, NetStack, aton
from exolab.services.net import eth, icmp, ip, udp

__all__ = ["SoakResult", "hostile_frames", "soak"]

A, B, C = "10.0.0.1", "10.0.0.2", "10.0.0.3"
PORT = 7
_MAC_C = b"\x02\x00\x00\x00\x00\x0c"
START = 1_000_000           # cycle of the first hostile frame (40 ms: both stacks are up)
SPACING = 2500              # cycles between hostile frames (100 us: the wire's pace)


@dataclass(frozen=True, slots=True)
class SoakResult:
    """What one soak saw, and whether every check held."""

    kernel: str
    frames: int                 # hostile frames put on the wire
    datagrams: int              # the client's datagrams, all answered intact
    delivered: dict[str, int]   # B's counts of UDP / echo requests / ARP beyond the client's
    expected: dict[str, int]    # the reference stack's counts for the hostile frames
    drops: dict[str, int]       # B's drop counters (monolithic) / Aegis's unclaimed
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether every check held."""
        return not self.problems


def _templates(mac_b: bytes) -> list[bytes]:
    """Valid frames from host C to B: UDP to the server, an echo request, ARP."""
    src, dst = aton(C), aton(B)
    body = b"hostile payload!"
    seg = udp.encode(4000, PORT, src, dst, body) + body
    udp_f = eth.encode(mac_b, _MAC_C, eth.ETH_IP) + \
        ip.encode(ip.PROTO_UDP, src, dst, len(seg), 1) + seg
    msg = icmp.encode(icmp.ECHO_REQUEST, 5, 1, b"abcd")
    echo_f = eth.encode(mac_b, _MAC_C, eth.ETH_IP) + \
        ip.encode(ip.PROTO_ICMP, src, dst, len(msg), 2) + msg
    from exolab.services.net import arp
    arp_f = eth.encode(eth.BROADCAST, _MAC_C, eth.ETH_ARP) + \
        arp.encode(arp.REQUEST, _MAC_C, src, bytes(6), dst)
    return [udp_f, echo_f, arp_f]


def hostile_frames(seed: int, n: int, mac_b: bytes = b"\x02" + bytes(5)) -> list[bytes]:
    """``n`` frames for B: a third random bytes, the rest mutated valid frames. None
    claims to come from A's address (a mutated ARP packet saying 10.0.0.1 is at
    another MAC would poison B's cache, which ARP cannot tell from the truth, and
    the exchange the soak checks would lose its replies)."""
    rng = random.Random(seed)
    templates = _templates(mac_b)
    a = aton(A).to_bytes(4, "big")
    out: list[bytes] = []
    while len(out) < n:
        if rng.random() < 0.3:
            f = bytearray(rng.randbytes(rng.randrange(14, 200)))
        else:
            f = bytearray(rng.choice(templates))
            for _ in range(rng.choice((0, 1, 1, 2, 3))):
                f[rng.randrange(len(f))] = rng.randrange(256)
            if rng.random() < 0.2:
                del f[rng.randrange(14, len(f) + 1):]
        if f[26:30] != a and f[28:32] != a:     # IP source / ARP sender: not A
            out.append(bytes(f))
    return out


def _reference(frames: list[bytes], mac_b: bytes) -> tuple[dict[str, int], dict[str, int]]:
    """What an unplaced stack at B (port 7 bound) makes of ``frames``."""
    mem = BytesMemory(4096)
    ref = NetStack(mac_b, aton(B), memory=mem, transmit=lambda a, n: True, tx_addr=2048)
    ref.bind(PORT, "server")
    for f in frames:
        mem.write(0, f)
        ref.input(0, len(f))
    st = ref.statistics()
    return ({"udp": st.udp_in, "echo": st.echo_requests, "arp": st.arp_in},
            {r: n for r, n in st.drops if n})


def soak(kernel: str, frames: int = 1000, datagrams: int = 50, seed: int = 0) -> SoakResult:
    """Run the exchange with ``frames`` hostile frames on B's wire; check everything."""
    from exolab.kernels import make_kernel
    from exolab.machine.machine import Machine
    from exolab.machine.wire import ethernet, run_together
    wire = ethernet()
    ma, mb = Machine("dec5000", seed=seed), Machine("dec5000", seed=seed + 1)
    ma.attach_nic(wire.a)
    nic_b = mb.attach_nic(wire.b)
    ka, kb = make_kernel(kernel, ma, ip=A), make_kernel(kernel, mb, ip=B)
    hostile = hostile_frames(seed, frames, nic_b.mac)
    seen: dict[str, Any] = {}
    end = START + frames * SPACING                  # the client goes on until then
    kb.boot(_server, seen, name="server")
    ka.boot(_client, datagrams, end, seen, name="client")
    for i, f in enumerate(hostile):
        nic_b.deliver(f, START + i * SPACING)
    results = run_together([ma, mb])
    problems = [f"{m}: {r.reason}" for m, r in zip("AB", results) if r.reason != "finished"]
    problems += [f"fault: {f}" for f in list(ka.faults) + list(kb.faults)]
    sent = seen.get("sent", 0)
    if sent < datagrams or seen.get("good") != sent:
        problems.append(f"client got {seen.get('good')} good replies of {sent}")
    expected, ref_drops = _reference(hostile, nic_b.mac)
    delivered, drops = _observed(kernel, ka, kb, nic_b, seen, sent, problems)
    if delivered != expected:
        problems.append(f"delivered {delivered} != expected {expected}")
    if kernel == "monolithic" and drops != ref_drops:
        problems.append(f"drops {drops} != reference {ref_drops}")
    ma.close()
    mb.close()
    return SoakResult(kernel, frames, sent, delivered, expected, drops, tuple(problems))


def _observed(kernel: str, ka: Any, kb: Any, nic: Any, seen: dict[str, Any],
              datagrams: int, problems: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """B's counts beyond the client's own traffic, and its drop counters. A's ARP
    frames are legitimate traffic too: each one A's stack took (a reply to its
    request, or B asking for A again after hostile senders pushed A out of B's
    bounded cache) matches one A sent to B."""
    nst = nic.statistics()
    rx = nst.rx_frames
    if nst.rx_dropped or nst.rx_oversize:
        problems.append(f"the NIC dropped {nst.rx_dropped + nst.rx_oversize} frames")
    if kernel == "monolithic":
        st = kb.net.stack.statistics()
        if st.rx_frames != rx:
            problems.append(f"stack saw {st.rx_frames} frames, the NIC took {rx}")
    else:
        agg = kb.net.statistics()
        if agg.rx_frames != rx or agg.delivered + agg.unclaimed + agg.ring_full != rx:
            problems.append(f"aegis accounted {agg} for {rx} frames")
        if agg.ring_full:
            problems.append(f"{agg.ring_full} frames found a ring full")
        st = seen.get("stats")
        if st is None:
            problems.append("the server reported no stack statistics")
            return {}, {}
    legit_udp = datagrams + 2                       # the warm-up and the "done"
    client = ka.net.stack.statistics() if kernel == "monolithic" else seen.get("client")
    legit_arp = client.arp_in if client is not None else 1
    delivered = {"udp": st.udp_in - legit_udp, "echo": st.echo_requests,
                 "arp": st.arp_in - legit_arp}
    return delivered, {r: n for r, n in st.drops if n}


def _server(os: Any, seen: dict[str, Any]) -> None:
    """Echo every datagram on PORT until "done" (host code: reads its own stack)."""
    s = os.socket("udp")
    os.bind(s, PORT)
    while True:
        data, (addr, port) = os.recvfrom(s, 2048)
        if data == b"done":
            break
        if addr != C:
            os.sendto(s, data, addr, port)
    lib = getattr(os, "net", None)                  # ExOS: the library stack
    if lib is not None and hasattr(lib, "statistics"):
        seen["stats"] = lib.statistics()


def _client(os: Any, n: int, end: int, seen: dict[str, Any]) -> None:
    """Send numbered datagrams (after a warm one), at least ``n`` and until cycle
    ``end`` (the last hostile frame), and check each echo."""
    os.compute(START)               # let B's stack come up (UDP does not retransmit)
    s = os.socket("udp")
    os.sendto(s, b"warm", B, PORT)
    os.recvfrom(s, 2048)
    good = i = 0
    while i < n or os.time() < end:
        msg = f"datagram {i} ".encode() * (1 + i % 7)
        os.sendto(s, msg, B, PORT)
        data, src = os.recvfrom(s, 2048)
        good += data == msg and src == (B, PORT)
        i += 1
    seen["good"], seen["sent"] = good, i
    os.sendto(s, b"done", B, PORT)
    lib = getattr(os, "net", None)                  # ExOS: the library stack
    if lib is not None and hasattr(lib, "statistics"):
        seen["client"] = lib.statistics()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    for k in ("monolithic", "exokernel"):
        r = soak(k, frames=count, datagrams=200)
        print(f"{k}: {r.frames} hostile frames, {r.datagrams} datagrams intact; "
              f"delivered {r.delivered} (expected {r.expected}); "
              f"{'ok' if r.ok else 'PROBLEMS: ' + '; '.join(r.problems)}")
