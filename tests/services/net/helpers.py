"""Two stacks over byte memories, and frame builders for the tests."""
from __future__ import annotations

from exolab.services.net import BytesMemory, NetStack, aton
from exolab.services.net import eth, icmp, ip, udp

MAC_A, MAC_B = b"\x02\x00\x00\x00\x00\x0a", b"\x02\x00\x00\x00\x00\x0b"
IP_A, IP_B = aton("10.0.0.1"), aton("10.0.0.2")
RX, TX = 0, 4096


class Host:
    """A stack whose transmitted frames are collected in ``sent``."""

    def __init__(self, mac: bytes, address: int, refuse: bool = False) -> None:
        self.mem = BytesMemory(8192)
        self.sent: list[bytes] = []
        self.refuse = refuse
        self.charges: dict[str, int] = {}
        self.stack = NetStack(mac, address, memory=self.mem, transmit=self._tx,
                              tx_addr=TX, charge=self._charge)

    def _tx(self, addr: int, length: int) -> bool:
        if self.refuse:
            return False
        self.sent.append(self.mem.read(addr, length))
        return True

    def _charge(self, kind: str, count: int) -> None:
        self.charges[kind] = self.charges.get(kind, 0) + count

    def receive(self, frame: bytes, integrated: bool = False):
        """Put ``frame`` in the receive buffer and run the stack's input on it."""
        self.mem.write(RX, frame)
        return self.stack.input(RX, len(frame), integrated)


def udp_frame(payload: bytes, src=IP_A, dst=IP_B, sport=1000, dport=2000,
              smac=MAC_A, dmac=MAC_B) -> bytes:
    """A well-formed UDP frame."""
    seg = udp.encode(sport, dport, src, dst, payload) + payload
    return eth.encode(dmac, smac, eth.ETH_IP) + ip.encode(ip.PROTO_UDP, src, dst,
                                                            len(seg), 7) + seg


def echo_frame(seq: int, data: bytes = b"ping", src=IP_A, dst=IP_B, smac=MAC_A,
               dmac=MAC_B) -> bytes:
    """A well-formed ICMP echo request frame."""
    msg = icmp.encode(icmp.ECHO_REQUEST, 1, seq, data)
    return eth.encode(dmac, smac, eth.ETH_IP) + ip.encode(ip.PROTO_ICMP, src, dst,
                                                            len(msg), 9) + msg


def pair() -> tuple[Host, Host]:
    """Hosts A and B, each knowing the other's MAC."""
    a, b = Host(MAC_A, IP_A), Host(MAC_B, IP_B)
    a.stack.arp.learn(IP_B, MAC_B)
    b.stack.arp.learn(IP_A, MAC_A)
    return a, b


def accounted(stats) -> bool:
    """Every received frame went to exactly one outcome."""
    return stats.rx_frames == (stats.arp_in + stats.echo_requests + stats.echo_replies
                               + stats.udp_in + stats.dropped)
