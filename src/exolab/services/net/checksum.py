"""The Internet checksum (RFC 1071): the ones'-complement sum of 16-bit words.

Every checksum in the stack (the IPv4 header, ICMP, UDP with its pseudo
header) is this one function. The caller charges the pass: the stack reports
``net.cksum`` with the number of bytes summed, so a placement that integrates
the checksum into a copy (an ASH) can charge one pass instead of two.

Interface::

    ones_sum(data, start=0) -> int      16-bit ones'-complement sum of data, folded
    checksum(data, start=0) -> int      the complement: the value a header carries
    fold(total) -> int                  fold a wide sum to 16 bits
    pseudo_sum(src, dst, proto, length) the IPv4 pseudo header's partial sum
"""
from __future__ import annotations

__all__ = ["ones_sum", "checksum", "fold", "pseudo_sum"]


def fold(total: int) -> int:
    """Fold a non-negative sum of 16-bit words into 16 bits (end-around carry)."""
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def ones_sum(data: bytes, start: int = 0) -> int:
    """The folded ones'-complement sum of ``data`` (odd length: padded with a zero
    byte) added to the partial sum ``start``."""
    n = len(data)
    if n & 1:
        data = bytes(data) + b"\x00"
    # one big-endian integer per 16-bit word is slow in Python; summing the whole
    # buffer as a big integer modulo 0xFFFF gives the same folded result
    # (2**16 == 1 mod 0xFFFF), except that a sum of all zeros stays 0
    total = int.from_bytes(data, "big") % 0xFFFF if n else 0
    if total == 0 and any(data):
        total = 0xFFFF
    return fold(total + start)


def checksum(data: bytes, start: int = 0) -> int:
    """The Internet checksum of ``data`` over the partial sum ``start``."""
    return ~ones_sum(data, start) & 0xFFFF


def pseudo_sum(src: int, dst: int, proto: int, length: int) -> int:
    """The partial sum of the IPv4 pseudo header (addresses as 32-bit ints)."""
    return fold((src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF)
                + proto + length)
