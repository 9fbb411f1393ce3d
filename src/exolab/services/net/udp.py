"""UDP (RFC 768): decode and verify a datagram, encode one with its checksum.

The checksum covers the pseudo header, the UDP header and the payload; a
received checksum of zero means the sender computed none (accepted); a sent
checksum that computes to zero is sent as 0xFFFF.

Interface::

    HEADER (8), EPHEMERAL (49152..65535)
    decode(segment, src, dst, verify=True) -> (sport, dport, payload_len)
        Drop: udp_short, udp_length, udp_cksum
    encode(sport, dport, src, dst, payload) -> bytes (the header, checksummed)
"""
from __future__ import annotations

import struct

from exolab.services.net.checksum import ones_sum, pseudo_sum
from exolab.services.net.interfaces import Drop

__all__ = ["HEADER", "EPHEMERAL", "decode", "encode"]

HEADER = 8
EPHEMERAL = range(49152, 65536)
_UDP = struct.Struct("!HHHH")
_PROTO_UDP = 17


def decode(segment: bytes, src: int, dst: int, verify: bool = True) -> tuple[int, int, int]:
    """Ports and payload length of the UDP datagram ``segment`` (exactly the IP
    payload); Drop if it is short, its length lies, or its checksum is wrong."""
    if len(segment) < HEADER:
        raise Drop("udp_short")
    sport, dport, length, ck = _UDP.unpack_from(segment)
    if length < HEADER or length > len(segment):
        raise Drop("udp_length")
    if verify and ck != 0:
        total = ones_sum(segment[:length], pseudo_sum(src, dst, _PROTO_UDP, length))
        if total != 0xFFFF:
            raise Drop("udp_cksum")
    return sport, dport, length - HEADER


def encode(sport: int, dport: int, src: int, dst: int, payload: bytes) -> bytes:
    """The 8-byte header of a datagram carrying ``payload``, checksum filled in."""
    length = HEADER + len(payload)
    head = _UDP.pack(sport, dport, length, 0)
    ck = ~ones_sum(head + payload, pseudo_sum(src, dst, _PROTO_UDP, length)) & 0xFFFF
    return _UDP.pack(sport, dport, length, ck or 0xFFFF)
