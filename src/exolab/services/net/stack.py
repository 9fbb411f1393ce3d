"""The stack: Ethernet, ARP, IPv4, ICMP echo and UDP over one interface.

One :class:`NetStack` serves one interface (a MAC and an IPv4 address). It is
placement-neutral: frames are read from and built in a
:class:`~exolab.services.net.interfaces.PacketMemory`, leave through the
placement's ``transmit(addr, length)`` and every layer, checksum pass and copy
is reported through ``charge`` (kinds in :mod:`.interfaces`).

Receive: :meth:`NetStack.input` decodes a frame in place (decode, then
invoke): every frame is either consumed (ARP, an ICMP echo request answered
here, an echo reply or a UDP datagram returned to the caller) or dropped and
counted under exactly one reason; nothing a frame holds can raise. A UDP
datagram is returned as a :class:`Datagram` whose payload is still in the
receive buffer: the placement moves it (and charges that copy) where it goes.

Send: :meth:`udp_send` and :meth:`ping` build the frame in the transmit
buffer (one copy of the payload into it, charged, and the checksum pass)
and hand it to ``transmit``; an unresolved destination sends an ARP request
and holds the packet until the reply (:mod:`.arp`).

Protocols are dispatched by a table (``PROTOCOLS``: IP protocol -> input
method), so TCP slots in as one more entry and module.

Interface::

    NetStack(mac, ip, *, memory, transmit, tx_addr, charge=no_charge, arp_entries=64)
      mac, ip (int)                input(addr, length, integrated=False) -> Event | None
      bind(port, owner) -> port    unbind(port)        owner(port)
      udp_send(sport, dst, dport, payload) -> bool     ping(dst, ident, seq, data) -> bool
      statistics() -> NetStats     REASONS (drop counters)
    Datagram(owner, src, sport, dport, addr, length)   EchoReply(src, ident, seq, length)
    MAX_UDP_PAYLOAD (1472)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exolab.errors import SyscallError
from exolab.services.net import arp, eth, icmp, ip, udp
from exolab.services.net.interfaces import (LAYER_INSTRUCTIONS, Charge, Drop,
                                            PacketMemory, Transmit, no_charge)

__all__ = ["NetStack", "NetStats", "Datagram", "EchoReply", "REASONS", "MAX_UDP_PAYLOAD"]

MAX_UDP_PAYLOAD = 1500 - ip.HEADER - udp.HEADER     # one Ethernet MTU, no fragments

#: every reason a received frame is dropped; each has a counter
REASONS = ("runt", "not_for_us", "ethertype", "arp_malformed", "arp_not_for_us",
           "ip_short", "ip_version", "ip_ihl", "ip_length", "ip_cksum", "ip_fragment",
           "ip_not_for_us", "ip_proto", "icmp_short", "icmp_cksum", "icmp_type",
           "udp_short", "udp_length", "udp_cksum", "udp_noport")

_L = LAYER_INSTRUCTIONS


@dataclass(frozen=True, slots=True)
class Datagram:
    """A UDP datagram for ``owner``; its payload is ``length`` bytes at ``addr``."""

    owner: Any
    src: int
    sport: int
    dport: int
    addr: int
    length: int


@dataclass(frozen=True, slots=True)
class EchoReply:
    """An ICMP echo reply that arrived for this host."""

    src: int
    ident: int
    seq: int
    length: int


@dataclass(frozen=True, slots=True)
class NetStats:
    """Frames in and out, what each received frame became, and the drops by reason.

    Invariant: ``rx_frames == arp_in + echo_requests + echo_replies + udp_in +
    sum(drops)``."""

    rx_frames: int
    arp_in: int
    echo_requests: int          # answered
    echo_replies: int           # returned to the caller
    udp_in: int                 # datagrams returned to the caller
    tx_frames: int
    tx_failed: int              # the driver refused a frame (ring full)
    arp_requests: int
    arp_held_replaced: int      # a held packet replaced by a newer one
    arp_entries: int
    drops: tuple[tuple[str, int], ...]

    @property
    def dropped(self) -> int:
        """All received frames dropped, whatever the reason."""
        return sum(n for _r, n in self.drops)


class NetStack:
    """Ethernet/ARP/IPv4/ICMP/UDP for one interface; see the module docstring."""

    __slots__ = ("mac", "ip", "memory", "transmit", "tx_addr", "charge", "arp", "ports",
                 "_drops", "_ident", "_next_port", "_rx", "_arp_in", "_echo_req",
                 "_echo_rep", "_udp_in", "_tx", "_tx_failed", "_arp_req", "_replaced",
                 "PROTOCOLS")

    def __init__(self, mac: bytes, address: int, *, memory: PacketMemory,
                 transmit: Transmit, tx_addr: int, charge: Charge = no_charge,
                 arp_entries: int = 64) -> None:
        self.mac = mac                      # this interface's hardware address
        self.ip = address                   # this interface's IPv4 address (int)
        self.memory = memory                # where frames are read and built
        self.transmit = transmit            # the placement's driver
        self.tx_addr = tx_addr              # a buffer of >= 1514 bytes in memory
        self.charge = charge
        self.arp = arp.ArpCache(arp_entries)
        self.ports: dict[int, Any] = {}     # bound UDP port -> owner (placement's)
        self._drops = dict.fromkeys(REASONS, 0)
        self._ident = 0
        self._next_port = udp.EPHEMERAL.start
        self._rx = self._arp_in = self._echo_req = self._echo_rep = self._udp_in = 0
        self._tx = self._tx_failed = self._arp_req = self._replaced = 0
        self.PROTOCOLS = {ip.PROTO_UDP: self._udp_input, ip.PROTO_ICMP: self._icmp_input}

    # -- receive ----------------------------------------------------------------------

    def input(self, addr: int, length: int, integrated: bool = False) -> Any:
        """Process the frame of ``length`` bytes at ``addr``: a Datagram or
        EchoReply for the caller, or None (consumed here, or dropped and counted).
        ``integrated``: the caller copies the payload with the checksum folded in
        (charged as ``net.copy_cksum``), so no separate UDP checksum pass is charged."""
        self._rx += 1
        frame = self.memory.read(addr, length)
        try:
            self.charge("net.layer", _L["eth_in"])
            ethertype, src_mac = eth.decode(frame, self.mac)
            if ethertype == eth.ETH_IP:
                return self._ip_input(frame, addr, src_mac, integrated)
            if ethertype == eth.ETH_ARP:
                self._arp_input(frame[eth.HEADER:])
                return None
            raise Drop("ethertype")
        except Drop as d:
            self.charge("net.layer", _L["drop"])
            self._drops[d.reason] += 1
            return None

    def _ip_input(self, frame: bytes, addr: int, src_mac: bytes, integrated: bool) -> Any:
        """Validate the IPv4 header and hand the payload to its protocol."""
        self.charge("net.layer", _L["ip_in"])
        packet = frame[eth.HEADER:]
        proto, src, dst, hlen, total = ip.decode(packet)
        self.charge("net.cksum", hlen)
        if dst != self.ip:
            raise Drop("ip_not_for_us")
        handler = self.PROTOCOLS.get(proto)
        if handler is None:
            raise Drop("ip_proto")
        if self.arp.lookup(src) is None:        # learn the peer as BSD's arp does not,
            self.arp.learn(src, src_mac)        # but a reply then needs no ARP round
        return handler(packet[hlen:total], src, addr + eth.HEADER + hlen, integrated)

    def _udp_input(self, segment: bytes, src: int, addr: int, integrated: bool) -> Any:
        """Verify the datagram and return it for its port's owner."""
        self.charge("net.layer", _L["udp_in"])
        sport, dport, n = udp.decode(segment, src, self.ip)
        if not integrated:
            self.charge("net.cksum", udp.HEADER + n)
        owner = self.ports.get(dport)
        if owner is None:
            raise Drop("udp_noport")
        self._udp_in += 1
        return Datagram(owner, src, sport, dport, addr + udp.HEADER, n)

    def _icmp_input(self, message: bytes, src: int, addr: int, integrated: bool) -> Any:
        """Answer an echo request; return an echo reply; drop anything else."""
        self.charge("net.layer", _L["icmp"])
        self.charge("net.cksum", len(message))
        mtype, _code, ident, seq = icmp.decode(message)
        if mtype == icmp.ECHO_REQUEST:
            self._echo_req += 1
            data = message[icmp.HEADER:]
            self._ip_output(ip.PROTO_ICMP, src, icmp.encode(icmp.ECHO_REPLY, ident, seq,
                                                            data), len(data))
            return None
        if mtype == icmp.ECHO_REPLY:
            self._echo_rep += 1
            return EchoReply(src, ident, seq, len(message) - icmp.HEADER)
        raise Drop("icmp_type")

    def _arp_input(self, payload: bytes) -> None:
        """Learn the sender, answer a request for our address, release a held packet."""
        self.charge("net.layer", _L["arp"])
        oper, sha, spa, _tha, tpa = arp.decode(payload)
        if tpa != self.ip:
            raise Drop("arp_not_for_us")
        self._arp_in += 1
        self.arp.learn(spa, sha)
        if oper == arp.REQUEST:
            self._send_frame(sha, eth.ETH_ARP, arp.encode(arp.REPLY, self.mac, self.ip,
                                                          sha, spa), 0)
        held = self.arp.release(spa)
        if held is not None:
            self._send_frame(sha, eth.ETH_IP, held, 0)

    # -- ports ------------------------------------------------------------------------

    def bind(self, port: int, owner: Any) -> int:
        """Bind UDP ``port`` (0: the next free ephemeral port) to ``owner``; return it.
        EADDRINUSE if taken (or no ephemeral port is left)."""
        if port == 0:
            port = self._ephemeral()
        elif port in self.ports:
            raise SyscallError("EADDRINUSE", "port already bound", port=port)
        self.ports[port] = owner
        return port

    def _ephemeral(self) -> int:
        """The next unbound port of the ephemeral range, round robin."""
        span = len(udp.EPHEMERAL)
        for i in range(span):
            port = udp.EPHEMERAL.start + (self._next_port - udp.EPHEMERAL.start + i) % span
            if port not in self.ports:
                self._next_port = port + 1 if port + 1 < udp.EPHEMERAL.stop \
                    else udp.EPHEMERAL.start
                return port
        raise SyscallError("EADDRINUSE", "no ephemeral port left")

    def unbind(self, port: int) -> None:
        """Forget the owner of ``port`` (nothing if unbound)."""
        self.ports.pop(port, None)

    def owner(self, port: int) -> Any:
        """The owner bound to ``port``, or None."""
        return self.ports.get(port)

    # -- send -------------------------------------------------------------------------

    def udp_send(self, sport: int, dst: int, dport: int, payload: bytes) -> bool:
        """Send ``payload`` (at most MAX_UDP_PAYLOAD bytes) from ``sport`` to
        ``dst:dport``; False if the driver refused the frame."""
        self.charge("net.layer", _L["udp_out"])
        self.charge("net.cksum", udp.HEADER + len(payload))
        head = udp.encode(sport, dport, self.ip, dst, payload)
        return self._ip_output(ip.PROTO_UDP, dst, head + payload, len(payload))

    def ping(self, dst: int, ident: int, seq: int, data: bytes) -> bool:
        """Send an ICMP echo request to ``dst``; False if the driver refused it."""
        self.charge("net.layer", _L["icmp"])
        self.charge("net.cksum", icmp.HEADER + len(data))
        return self._ip_output(ip.PROTO_ICMP, dst,
                               icmp.encode(icmp.ECHO_REQUEST, ident, seq, data), len(data))

    def _ip_output(self, proto: int, dst: int, body: bytes, copied: int) -> bool:
        """Prefix an IPv4 header and send to ``dst``'s MAC (ARP first if unknown)."""
        self.charge("net.layer", _L["ip_out"])
        self.charge("net.cksum", ip.HEADER)
        self._ident += 1
        packet = ip.encode(proto, self.ip, dst, len(body), self._ident) + body
        mac = self.arp.lookup(dst)
        if mac is None:
            if self.arp.hold(dst, packet):
                self._replaced += 1
            self._arp_req += 1
            return self._send_frame(eth.BROADCAST, eth.ETH_ARP,
                                    arp.encode(arp.REQUEST, self.mac, self.ip,
                                               bytes(6), dst), 0)
        return self._send_frame(mac, eth.ETH_IP, packet, copied)

    def _send_frame(self, dst_mac: bytes, ethertype: int, payload: bytes,
                    copied: int) -> bool:
        """Build the frame in the transmit buffer and hand it to the driver."""
        self.charge("net.layer", _L["eth_out"])
        if copied:
            self.charge("net.copy", copied)     # the payload into the frame buffer
        frame = eth.encode(dst_mac, self.mac, ethertype) + payload
        self.memory.write(self.tx_addr, frame)
        if self.transmit(self.tx_addr, len(frame)):
            self._tx += 1
            return True
        self._tx_failed += 1
        return False

    def statistics(self) -> NetStats:
        """Return a frozen snapshot of the stack's counters."""
        return NetStats(self._rx, self._arp_in, self._echo_req, self._echo_rep,
                        self._udp_in, self._tx, self._tx_failed, self._arp_req,
                        self._replaced, self.arp.entries(),
                        tuple(self._drops.items()))
