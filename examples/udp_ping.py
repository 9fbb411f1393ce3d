"""Two machines on one Ethernet ping each other and exchange UDP, on each kernel.

Covers: the socket calls (``socket``, ``bind``, ``sendto``, ``recvfrom``,
``close``), ICMP echo through an ``"icmp"`` socket, ARP resolving the peer on
the first datagram, two simulated machines on the era's 10 Mb/s Ethernet
(``exolab.machine.wire.ethernet``) run in lock step (``run_together``), and
the same program on the monolithic kernel (the stack inside the kernel) and
on the exokernel (ExOS's library stack over Aegis's packet filters).

Scenario: machine B (10.0.0.2) runs a server that binds UDP port 7 and
answers three datagrams in upper case; its stack answers pings by itself.
Machine A (10.0.0.1) pings B twice, sends the three datagrams and prints the
replies with their source and the round-trip times in simulated
microseconds. Last, what each kernel saw: the monolithic kernel's stack
accounts for every frame (ARP, echo, UDP; none dropped); Aegis only
classified frames into the library stacks' rings (none unclaimed).

Run it: ``python examples/udp_ping.py``.
"""
from __future__ import annotations

from typing import Any

A, B = "10.0.0.1", "10.0.0.2"
WORDS = [b"hello", b"exokernel", b"world"]


def server(os: Any) -> None:
    """Answer len(WORDS) datagrams on port 7, in upper case."""
    s = os.socket("udp")
    os.bind(s, 7)
    for _ in WORDS:
        data, (addr, port) = os.recvfrom(s, 64)
        os.sendto(s, data.upper(), addr, port)
    os.close(s)


def client(os: Any) -> None:
    """Ping B twice, then exchange the words with its server."""
    p = os.socket("icmp")
    for seq in range(2):
        t0 = os.time()
        os.sendto(p, b"ping", B, seq)
        _data, (addr, got) = os.recvfrom(p, 64)
        os.print(f"echo reply from {addr} seq={got} rtt={(os.time() - t0) / 25:.0f} us")
    os.close(p)
    s = os.socket("udp")
    for word in WORDS:
        t0 = os.time()
        os.sendto(s, word, B, 7)
        data, (addr, port) = os.recvfrom(s, 64)
        os.print(f"{data.decode()} from {addr}:{port} rtt={(os.time() - t0) / 25:.0f} us")
    os.close(s)


if __name__ == "__main__":            # the host side: machines, wire, kernels
    from exolab.kernels import make_kernel
    from exolab.machine import Machine
    from exolab.machine.wire import ethernet, run_together

    def run(kernel: str) -> None:
        """Wire two machines running ``kernel``; run the client on A, the server on B."""
        wire = ethernet()
        ma, mb = Machine("dec5000", seed=1), Machine("dec5000", seed=2)
        ma.attach_nic(wire.a)
        mb.attach_nic(wire.b)
        ka, kb = make_kernel(kernel, ma, ip=A), make_kernel(kernel, mb, ip=B)
        kb.boot(server, name="server")
        ka.boot(client, name="client")
        results = run_together([ma, mb])
        print(f"== {kernel}: {[r.reason for r in results]}")
        for line in ka.console:
            print("  A:", line)
        for name, k in (("A", ka), ("B", kb)):
            print(f"  {name}: {counters(k)}")
        ma.close()
        mb.close()


    def counters(k: Any) -> str:
        """What the kernel saw of the network: its stack's counters (monolithic), or
        Aegis's packet-filter counters (the stacks were in the library OSes)."""
        if kernel_name(k) == "monolithic":
            st = k.net.stack.statistics()
            return (f"stack rx {st.rx_frames} (arp {st.arp_in}, echo requests "
                    f"{st.echo_requests}, echo replies {st.echo_replies}, udp {st.udp_in}), "
                    f"dropped {st.dropped}, tx {st.tx_frames}")
        st = k.net.statistics()
        return (f"aegis rx {st.rx_frames}, delivered to rings {st.delivered}, "
                f"unclaimed {st.unclaimed}, sent {st.tx_frames}")


    def kernel_name(k: Any) -> str:
        """The kernel's registry name."""
        return str(k.name)

    for kernel in ("monolithic", "exokernel"):
        run(kernel)
