"""ICMP echo (RFC 792): decode a message, answer a request, build a request.

Interface::

    HEADER (8), ECHO_REPLY (0), ECHO_REQUEST (8)
    decode(message) -> (type, code, ident, seq)     Drop("icmp_short" | "icmp_cksum")
    encode(type, ident, seq, data) -> bytes         (checksummed)
"""
from __future__ import annotations

import struct

from exolab.services.net.checksum import checksum
from exolab.services.net.interfaces import Drop

__all__ = ["HEADER", "ECHO_REPLY", "ECHO_REQUEST", "decode", "encode"]

HEADER = 8
ECHO_REPLY, ECHO_REQUEST = 0, 8
_ICMP = struct.Struct("!BBHHH")


def decode(message: bytes) -> tuple[int, int, int, int]:
    """Type, code, identifier and sequence of an ICMP message; Drop if bad."""
    if len(message) < HEADER:
        raise Drop("icmp_short")
    if checksum(message) != 0:
        raise Drop("icmp_cksum")
    mtype, code, _ck, ident, seq = _ICMP.unpack_from(message)
    return mtype, code, ident, seq


def encode(mtype: int, ident: int, seq: int, data: bytes) -> bytes:
    """An echo request or reply carrying ``data``."""
    body = _ICMP.pack(mtype, 0, 0, ident & 0xFFFF, seq & 0xFFFF) + data
    ck = checksum(body)
    return body[:2] + ck.to_bytes(2, "big") + body[4:]
