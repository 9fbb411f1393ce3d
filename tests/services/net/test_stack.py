"""The stack: UDP both ways, ARP resolution, ICMP echo, every drop reason, costs."""
from __future__ import annotations

import pytest

from exolab.errors import SyscallError
from exolab.services.net import Datagram, EchoReply, checksum, ones_sum
from exolab.services.net import eth, ip, udp
from exolab.services.net.checksum import fold
from exolab.services.net.stack import MAX_UDP_PAYLOAD

from .helpers import (IP_A, IP_B, MAC_A, MAC_B, Host, accounted, echo_frame, pair,
                      udp_frame)


def drops(host) -> dict[str, int]:
    return {r: n for r, n in host.stack.statistics().drops if n}


def test_checksum_matches_word_sum() -> None:
    data = bytes(range(1, 200))
    words = sum(int.from_bytes((data + b"\0")[i:i + 2], "big") for i in range(0, 200, 2))
    assert ones_sum(data) == fold(words)
    assert checksum(b"") == 0xFFFF
    assert checksum(b"\xff\xff") == 0


def test_udp_round_trip_between_two_stacks() -> None:
    a, b = pair()
    b.stack.bind(2000, "sock")
    assert a.stack.udp_send(1000, IP_B, 2000, b"hello")
    (frame,) = a.sent
    ev = b.receive(frame)
    assert isinstance(ev, Datagram)
    assert (ev.owner, ev.src, ev.sport, ev.dport, ev.length) == ("sock", IP_A, 1000,
                                                                  2000, 5)
    assert b.mem.read(ev.addr, ev.length) == b"hello"
    assert accounted(b.stack.statistics())


def test_unresolved_destination_arps_then_sends_the_held_packet() -> None:
    a, b = Host(MAC_A, IP_A), Host(MAC_B, IP_B)
    b.stack.bind(7, "echo")
    a.stack.udp_send(1000, IP_B, 7, b"x")
    (request,) = a.sent
    assert request[12:14] == b"\x08\x06" and request[:6] == eth.BROADCAST
    assert b.receive(request) is None               # B answers the request
    (reply,) = b.sent
    assert a.receive(reply) is None                 # A learns B, sends the held packet
    assert len(a.sent) == 2
    assert isinstance(b.receive(a.sent[1]), Datagram)
    sa = a.stack.statistics()
    assert sa.arp_requests == 1 and sa.arp_in == 1 and sa.arp_entries == 1


def test_echo_request_is_answered_and_reply_returned() -> None:
    a, b = pair()
    assert a.stack.ping(IP_B, 1, 5, b"abc")
    assert b.receive(a.sent[0]) is None
    ev = a.receive(b.sent[0])
    assert ev == EchoReply(IP_B, 1, 5, 3)
    assert b.stack.statistics().echo_requests == 1


def test_bind_errors_and_ephemeral_ports() -> None:
    a, _ = pair()
    assert a.stack.bind(53, "x") == 53
    with pytest.raises(SyscallError) as ei:
        a.stack.bind(53, "y")
    assert ei.value.errno == "EADDRINUSE"
    p1, p2 = a.stack.bind(0, "e1"), a.stack.bind(0, "e2")
    assert p1 in udp.EPHEMERAL and p2 == p1 + 1
    a.stack.unbind(53)
    assert a.stack.owner(53) is None


def _mutate(frame: bytes, offset: int, value: int) -> bytes:
    b = bytearray(frame)
    b[offset] = value
    return bytes(b)


GOOD = udp_frame(b"payload!")
CASES = {
    "runt": GOOD[:13],
    "not_for_us": b"\x02\x99" + GOOD[2:],
    "ethertype": GOOD[:12] + b"\x86\xdd" + GOOD[14:],
    "ip_short": GOOD[:14 + 19],
    "ip_version": _mutate(GOOD, 14, 0x65),
    "ip_ihl": _mutate(GOOD, 14, 0x44),
    "ip_length": _mutate(GOOD, 16, 0xFF),
    "ip_cksum": _mutate(GOOD, 14 + 8, 3),       # TTL changed, checksum stale
    "udp_cksum": _mutate(GOOD, len(GOOD) - 1, 0),
    "udp_noport": udp_frame(b"x", dport=9),
    "udp_short": None,
    "arp_malformed": eth.encode(MAC_B, MAC_A, eth.ETH_ARP) + b"\0" * 10,
}


@pytest.mark.parametrize("reason", sorted(k for k, v in CASES.items() if v is not None))
def test_each_malformed_frame_is_dropped_under_its_reason(reason: str) -> None:
    _, b = pair()
    b.stack.bind(2000, "sock")
    assert b.receive(CASES[reason]) is None
    assert drops(b) == {reason: 1}
    assert accounted(b.stack.statistics())
    assert b.sent == []


def test_fragment_and_foreign_address_and_protocol() -> None:
    _, b = pair()
    b.stack.bind(2000, "s")
    seg = b"\x00" * 8
    hdr = bytearray(ip.encode(ip.PROTO_UDP, IP_A, IP_B, len(seg), 1))
    hdr[6] = 0x20                                   # more fragments
    hdr[10:12] = b"\0\0"
    hdr[10:12] = checksum(bytes(hdr)).to_bytes(2, "big")
    b.receive(eth.encode(MAC_B, MAC_A, eth.ETH_IP) + bytes(hdr) + seg)
    b.receive(udp_frame(b"x", dst=IP_A))
    b.receive(eth.encode(MAC_B, MAC_A, eth.ETH_IP)
              + ip.encode(99, IP_A, IP_B, 4, 2) + b"abcd")
    assert drops(b) == {"ip_fragment": 1, "ip_not_for_us": 1, "ip_proto": 1}


def test_udp_length_lies_are_dropped() -> None:
    _, b = pair()
    b.stack.bind(2000, "s")
    f = bytearray(udp_frame(b"abcdef"))
    f[14 + 20 + 4:14 + 20 + 6] = (200).to_bytes(2, "big")   # longer than the packet
    b.receive(bytes(f))
    f[14 + 20 + 4:14 + 20 + 6] = (3).to_bytes(2, "big")     # shorter than a header
    b.receive(bytes(f))
    assert drops(b) == {"udp_length": 2}


def test_refused_transmit_is_counted() -> None:
    a = Host(MAC_A, IP_A, refuse=True)
    a.stack.arp.learn(IP_B, MAC_B)
    assert not a.stack.udp_send(1, IP_B, 2, b"x")
    assert a.stack.statistics().tx_failed == 1


def test_costs_are_reported_per_layer_and_byte() -> None:
    a, b = pair()
    b.stack.bind(2000, "s")
    a.stack.udp_send(1000, IP_B, 2000, b"z" * 60)
    assert a.charges["net.copy"] == 60
    assert a.charges["net.cksum"] == 8 + 60 + 20
    b.receive(a.sent[0])
    assert b.charges["net.cksum"] == 20 + 68
    c = Host(MAC_B, IP_B)
    c.stack.bind(2000, "s")
    c.receive(a.sent[0], integrated=True)
    assert c.charges["net.cksum"] == 20             # the payload pass is the copy's


def test_largest_payload_fits_one_frame() -> None:
    a, b = pair()
    b.stack.bind(2000, "s")
    a.stack.udp_send(1000, IP_B, 2000, b"m" * MAX_UDP_PAYLOAD)
    assert len(a.sent[0]) == 1514
    assert b.receive(a.sent[0]).length == MAX_UDP_PAYLOAD


def test_echo_frame_helper_round_trip() -> None:
    _, b = pair()
    b.receive(echo_frame(3))
    assert b.stack.statistics().echo_requests == 1
