"""IPv4 (RFC 791): decode and validate a header, encode one with its checksum.

No fragmentation or reassembly: a fragment is dropped (``ip_fragment``); the
stack sends only datagrams that fit one frame. Options are accepted on input
(skipped by IHL) and never sent.

Interface::

    HEADER (20), PROTO_ICMP (1), PROTO_UDP (17), PROTO_TCP (6), DEFAULT_TTL (64)
    decode(packet) -> (proto, src, dst, header_len, total_len)
        Drop: ip_short, ip_version, ip_ihl, ip_length, ip_cksum, ip_fragment
    encode(proto, src, dst, payload_len, ident, ttl=64) -> bytes (checksummed)
    aton(text) -> int,  ntoa(ip) -> str
    default_address(mac) -> int     10.m3.m4.m5 of a MAC (a kernel's default)
    address_option(text) -> int     a kernel's ``ip=`` option (ConfigError if bad)
"""
from __future__ import annotations

import struct

from exolab.errors import ConfigError
from exolab.services.net.checksum import checksum
from exolab.services.net.interfaces import Drop

__all__ = ["HEADER", "PROTO_ICMP", "PROTO_UDP", "PROTO_TCP", "DEFAULT_TTL", "decode",
           "encode", "aton", "ntoa", "default_address", "address_option"]

HEADER = 20
PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17
DEFAULT_TTL = 64
_IP = struct.Struct("!BBHHHBBHII")
_MF, _OFFSET = 0x2000, 0x1FFF


def decode(packet: bytes) -> tuple[int, int, int, int, int]:
    """Validate the IPv4 header at the start of ``packet``; Drop if it is bad."""
    if len(packet) < HEADER:
        raise Drop("ip_short")
    vihl, _tos, total, _ident, frag, _ttl, proto, _ck, src, dst = _IP.unpack_from(packet)
    if vihl >> 4 != 4:
        raise Drop("ip_version")
    hlen = (vihl & 0xF) * 4
    if hlen < HEADER or hlen > len(packet):
        raise Drop("ip_ihl")
    if total < hlen or total > len(packet):
        raise Drop("ip_length")
    if checksum(packet[:hlen]) != 0:
        raise Drop("ip_cksum")
    if frag & (_MF | _OFFSET):
        raise Drop("ip_fragment")
    return proto, src, dst, hlen, total


def encode(proto: int, src: int, dst: int, payload_len: int, ident: int,
           ttl: int = DEFAULT_TTL) -> bytes:
    """A 20-byte header for ``payload_len`` bytes of ``proto``, checksum filled in."""
    total = HEADER + payload_len
    head = _IP.pack(0x45, 0, total, ident & 0xFFFF, 0, ttl, proto, 0, src, dst)
    ck = checksum(head)
    return head[:10] + ck.to_bytes(2, "big") + head[12:]


def aton(text: str) -> int:
    """A dotted quad as a 32-bit int; ValueError if it is not one."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) < 256
                                  for p in parts):
        raise ValueError(f"not an IPv4 address: {text!r}")
    a, b, c, d = (int(p) for p in parts)
    return (a << 24) | (b << 16) | (c << 8) | d


def ntoa(ip: int) -> str:
    """A 32-bit int as a dotted quad."""
    return f"{ip >> 24 & 255}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}"


def default_address(mac: bytes) -> int:
    """10.x.y.z from the last three octets of ``mac`` (z never 0 or 255)."""
    z = mac[5] if mac[5] not in (0, 255) else 1
    return (10 << 24) | (mac[3] << 16) | (mac[4] << 8) | z


def address_option(text: object) -> int:
    """Decode a kernel's ``ip=`` option; ConfigError unless a dotted quad."""
    try:
        return aton(text) if type(text) is str else aton("")
    except ValueError:
        raise ConfigError("ip must be a dotted quad", ip=text) from None
