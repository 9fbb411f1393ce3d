"""ARP for IPv4 over Ethernet (RFC 826): packets and a bounded cache.

The cache maps IPv4 addresses (32-bit ints) to MACs. It holds at most
``capacity`` entries and evicts the oldest insertion when full (deterministic;
no timers: a simulated LAN does not renumber). A destination still being
resolved holds one waiting packet, as 4.4BSD's ``la_hold`` does: a newer one
replaces it (counted by the stack).

Interface::

    PACKET (28), REQUEST (1), REPLY (2)
    decode(payload) -> (oper, sha, spa, tha, tpa)     Drop("arp_malformed")
    encode(oper, sha, spa, tha, tpa) -> bytes
    ArpCache(capacity=64)
      lookup(ip) -> mac | None    learn(ip, mac)      hold(ip, packet) -> replaced?
      release(ip) -> packet | None                     entries() -> int
"""
from __future__ import annotations

import struct
from collections import OrderedDict

from exolab.services.net.interfaces import Drop

__all__ = ["PACKET", "REQUEST", "REPLY", "decode", "encode", "ArpCache"]

PACKET = 28
REQUEST, REPLY = 1, 2
_ARP = struct.Struct("!HHBBH6sI6sI")
_HTYPE_ETHER, _PTYPE_IP = 1, 0x0800


def decode(payload: bytes) -> tuple[int, bytes, int, bytes, int]:
    """The fields of an Ethernet/IPv4 ARP packet; Drop unless well formed."""
    if len(payload) < PACKET:
        raise Drop("arp_malformed")
    htype, ptype, hlen, plen, oper, sha, spa, tha, tpa = _ARP.unpack_from(payload)
    if (htype, ptype, hlen, plen) != (_HTYPE_ETHER, _PTYPE_IP, 6, 4) \
            or oper not in (REQUEST, REPLY) or sha[0] & 1:
        raise Drop("arp_malformed")
    return oper, sha, spa, tha, tpa


def encode(oper: int, sha: bytes, spa: int, tha: bytes, tpa: int) -> bytes:
    """An Ethernet/IPv4 ARP packet."""
    return _ARP.pack(_HTYPE_ETHER, _PTYPE_IP, 6, 4, oper, sha, spa, tha, tpa)


class ArpCache:
    """IPv4 -> MAC, bounded, oldest evicted first; one held packet per pending address."""

    __slots__ = ("capacity", "_map", "_held")

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._map: OrderedDict[int, bytes] = OrderedDict()  # ip -> mac, insertion order
        self._held: OrderedDict[int, bytes] = OrderedDict()  # ip -> one waiting packet

    def lookup(self, ip: int) -> bytes | None:
        """The MAC of ``ip``, or None if unresolved."""
        return self._map.get(ip)

    def learn(self, ip: int, mac: bytes) -> None:
        """Remember ``ip`` is at ``mac`` (the oldest entry goes if the cache is full)."""
        if ip not in self._map and len(self._map) >= self.capacity:
            self._map.popitem(last=False)
        self._map[ip] = mac

    def hold(self, ip: int, packet: bytes) -> bool:
        """Keep ``packet`` until ``ip`` resolves; True if it replaced an older one."""
        replaced = ip in self._held
        if not replaced and len(self._held) >= self.capacity:
            self._held.popitem(last=False)
        self._held[ip] = packet
        return replaced

    def release(self, ip: int) -> bytes | None:
        """The packet held for ``ip`` (now forgotten), or None."""
        return self._held.pop(ip, None)

    def entries(self) -> int:
        """How many addresses are resolved."""
        return len(self._map)
