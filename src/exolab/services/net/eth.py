"""Ethernet II framing: decode a frame's header, encode one.

Interface::

    HEADER (14), ETH_IP (0x0800), ETH_ARP (0x0806), BROADCAST, MIN_PAYLOAD (46)
    decode(frame, mac) -> (ethertype, src_mac)   Drop("runt" | "not_for_us")
    encode(dst, src, ethertype) -> bytes          the 14-byte header
"""
from __future__ import annotations

import struct

from exolab.services.net.interfaces import Drop

__all__ = ["HEADER", "ETH_IP", "ETH_ARP", "BROADCAST", "MIN_PAYLOAD", "decode", "encode"]

HEADER = 14
ETH_IP, ETH_ARP = 0x0800, 0x0806
BROADCAST = b"\xff" * 6
MIN_PAYLOAD = 46                # 60-byte minimum frame (without FCS) minus the header
_TYPE = struct.Struct("!H")


def decode(frame: bytes, mac: bytes) -> tuple[int, bytes]:
    """The EtherType and source MAC of ``frame``, if it is addressed to ``mac``
    (or broadcast); Drop otherwise."""
    if len(frame) < HEADER:
        raise Drop("runt")
    dst = frame[0:6]
    if dst != mac and dst != BROADCAST:
        raise Drop("not_for_us")
    return _TYPE.unpack_from(frame, 12)[0], frame[6:12]


def encode(dst: bytes, src: bytes, ethertype: int) -> bytes:
    """The header of a frame from ``src`` to ``dst`` carrying ``ethertype``."""
    return dst + src + _TYPE.pack(ethertype)
