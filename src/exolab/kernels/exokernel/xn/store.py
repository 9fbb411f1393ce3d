"""XN's persistent state: where on the disk it lives and how it is encoded.

XN keeps three things on the disk it multiplexes, in a *region* of blocks at
the tail of the device that no library file system may own (XN holds them
USED in its free map):

    [ slot A: header, payload... ][ slot B: header, payload... ][ free map... ]

- A *catalogue slot* holds the type catalogue (each template's name and its
  source: the UDF code, verified again at every boot before XN trusts it)
  and the root catalogue (name, root block, root type, principal), as
  compressed JSON of at most :data:`PAYLOAD_BYTES`. Its header is in the
  first 40 bytes of the slot's first block (one sector, so a power cut
  leaves it old or new, never half): magic, generation, the payload's length
  and CRC-32, the geometry (block size, disk blocks, region blocks) and the
  header's own CRC-32. XN writes the other slot's payload, flushes, then its
  header: the valid slot with the highest generation is the catalogue, and a
  cut during a commit leaves the previous one.
- The *free map*: one bit per disk block (set: used or pending), in blocks
  each carrying its index and a CRC-32. It is advisory: at boot XN rebuilds
  the map from the roots by running their ownership functions and counts
  where the stored one differs.

Nothing here is trusted: every field read back is decoded at its exact type
and range, and anything malformed raises :class:`~exolab.errors.DiskImageError`
(XN then refuses the disk and writes nothing).

Interface::

    PAYLOAD_BYTES, HEADER, MAGIC
    Layout(block_size, blocks, start, slot_blocks, map_blocks)   slotted, frozen
      count  slot(i) -> range   map_block(i) -> int   __contains__(b)
    layout(block_size, blocks) -> Layout | None        (None: the disk is too small)
    encode_payload(types, roots) -> bytes        decode_payload(raw) -> (types, roots)
    header(lay, generation, payload) -> bytes    read_header(lay, block) -> (gen, n, crc) | None
    payload_blocks(lay, payload) -> list[bytes]  check_payload(n, crc, raw) -> bytes
    encode_map(lay, states) -> list[bytes]       decode_map(lay, i, block) -> bytes | None
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from exolab.errors import DiskImageError, safe_repr

__all__ = ["PAYLOAD_BYTES", "HEADER", "MAGIC", "Layout", "layout", "encode_payload",
           "decode_payload", "header", "read_header", "payload_blocks", "check_payload",
           "encode_map", "decode_map"]

MAGIC = b"XNCAT\x00v1"          # 8 bytes: a catalogue slot's header starts so
HEADER = struct.Struct("<8sQIIIIII")    # magic gen len crc bs blocks region header-crc
PAYLOAD_BYTES = 8192            # compressed catalogue bytes one slot holds
MAX_DECODED = 1 << 20           # bytes a payload may inflate to
_MAP_HEAD = struct.Struct("<II")        # crc32 of the rest, map block index
_USED = bytes([0, 1, 1]) + bytes(253)   # free-map state -> bit (used and pending: 1)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where XN's region is: the last ``count`` blocks of the disk."""

    block_size: int
    blocks: int                 # of the whole disk
    start: int                  # first block of the region
    slot_blocks: int            # a catalogue slot: header block + payload blocks
    map_blocks: int             # blocks of the stored free map

    @property
    def count(self) -> int:
        """Blocks in the region."""
        return self.blocks - self.start

    def slot(self, i: int) -> range:
        """Blocks of catalogue slot ``i`` (0 or 1), its header block first."""
        s = self.start + i * self.slot_blocks
        return range(s, s + self.slot_blocks)

    def map_block(self, i: int) -> int:
        """Disk block holding free-map block ``i``."""
        return self.start + 2 * self.slot_blocks + i

    def __contains__(self, b: object) -> bool:
        return type(b) is int and self.start <= b < self.blocks

    def bits_per_map_block(self) -> int:
        """Blocks whose state one free-map block records."""
        return (self.block_size - _MAP_HEAD.size) * 8


def layout(block_size: int, blocks: int) -> Layout | None:
    """The region of a disk of ``blocks`` blocks (None if it would take over a quarter)."""
    slot = 1 + -(-PAYLOAD_BYTES // block_size)
    per = (block_size - _MAP_HEAD.size) * 8
    maps = -(-blocks // per)
    count = 2 * slot + maps
    if count * 4 > blocks:
        return None
    return Layout(block_size, blocks, blocks - count, slot, maps)


# -- the catalogue payload ---------------------------------------------------------------

def encode_payload(types: list[tuple[str, str]], roots: list[tuple[str, int, str, int]]) -> bytes:
    """The compressed catalogue: types in installation order, roots in registration order."""
    doc = {"v": 1, "types": [list(t) for t in types], "roots": [list(r) for r in roots]}
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)


def _bad(what: str, **fields: Any) -> DiskImageError:
    return DiskImageError(f"XN catalogue on disk is malformed: {what}", what="xn catalogue",
                          **fields)


def decode_payload(raw: bytes) -> tuple[list[tuple[str, str]], list[tuple[str, int, str, int]]]:
    """Decode a payload read back: exact types everywhere (DiskImageError otherwise)."""
    try:
        z = zlib.decompressobj()
        text = z.decompress(raw, MAX_DECODED)
        if z.unconsumed_tail or not z.eof:
            raise _bad("payload does not inflate within bounds")
        doc = json.loads(text.decode())
    except (zlib.error, UnicodeDecodeError, ValueError, RecursionError):
        raise _bad("payload is not compressed JSON") from None
    if type(doc) is not dict or doc.get("v") != 1 or set(doc) != {"v", "types", "roots"}:
        raise _bad("unknown payload version")
    types, roots = doc["types"], doc["roots"]
    if type(types) is not list or type(roots) is not list:
        raise _bad("types and roots must be lists")
    out_t: list[tuple[str, str]] = []
    for t in types:
        if type(t) is not list or len(t) != 2 or type(t[0]) is not str or type(t[1]) is not str:
            raise _bad("type entry is not [name, source]", entry=safe_repr(t)[:60])
        out_t.append((t[0], t[1]))
    out_r: list[tuple[str, int, str, int]] = []
    for r in roots:
        if (type(r) is not list or len(r) != 4 or type(r[0]) is not str or type(r[1]) is not int
                or type(r[2]) is not str or type(r[3]) is not int):
            raise _bad("root entry is not [name, block, type, principal]",
                       entry=safe_repr(r)[:60])
        out_r.append((r[0], r[1], r[2], r[3]))
    return out_t, out_r


# -- slot headers and payload blocks ---------------------------------------------------------

def header(lay: Layout, generation: int, payload: bytes) -> bytes:
    """The header block of a slot holding ``payload`` at ``generation``."""
    body = HEADER.pack(MAGIC, generation, len(payload), zlib.crc32(payload),
                       lay.block_size, lay.blocks, lay.count, 0)[:-4]
    return (body + struct.pack("<I", zlib.crc32(body))).ljust(lay.block_size, b"\0")


def read_header(lay: Layout, block: bytes) -> tuple[int, int, int] | None:
    """(generation, payload length, payload crc) of a slot's header block; None if the
    block holds no header; DiskImageError if it holds a damaged or foreign one."""
    if block[:len(MAGIC)] != MAGIC:
        return None
    _m, gen, n, crc, bs, blocks, count, hcrc = HEADER.unpack_from(block, 0)
    if zlib.crc32(block[:HEADER.size - 4]) != hcrc:
        raise _bad("header checksum")
    if (bs, blocks, count) != (lay.block_size, lay.blocks, lay.count):
        raise _bad("geometry differs from this disk's", block_size=bs, blocks=blocks,
                   region=count)
    if not 0 < n <= min(PAYLOAD_BYTES, (lay.slot_blocks - 1) * lay.block_size):
        raise _bad("payload length", length=n)
    return gen, n, crc


def payload_blocks(lay: Layout, payload: bytes) -> list[bytes]:
    """The payload cut into the blocks after a slot's header."""
    bs = lay.block_size
    return [payload[i:i + bs].ljust(bs, b"\0") for i in range(0, len(payload), bs)]


def check_payload(n: int, crc: int, raw: bytes) -> bytes:
    """The first ``n`` bytes of ``raw`` if their CRC is ``crc`` (DiskImageError)."""
    data = raw[:n]
    if zlib.crc32(data) != crc:
        raise _bad("payload checksum")
    return data


# -- the free map ------------------------------------------------------------------------

def encode_map(lay: Layout, states: bytes | bytearray) -> list[bytes]:
    """The stored free map: one block per ``bits_per_map_block`` disk blocks."""
    per = lay.bits_per_map_block()
    bits = bytes(states).translate(_USED)
    out = []
    for i in range(lay.map_blocks):
        chunk = bits[i * per:(i + 1) * per]
        packed = int(chunk[::-1].translate(bytes.maketrans(b"\0\1", b"01")) or b"0", 2)
        body = struct.pack("<I", i) + packed.to_bytes(per // 8, "little")
        out.append(struct.pack("<I", zlib.crc32(body)) + body)
    return out


def decode_map(lay: Layout, i: int, block: bytes) -> bytes | None:
    """The used flags (one byte per disk block) that free-map block ``i`` records, or
    None if the block is not a valid map block ``i`` (torn, stale, never written)."""
    crc, idx = _MAP_HEAD.unpack_from(block, 0)
    body = block[4:lay.block_size]
    if idx != i or zlib.crc32(body) != crc:
        return None
    per = lay.bits_per_map_block()
    n = int.from_bytes(body[4:4 + per // 8], "little")
    flags = format(n, "b").zfill(per)[::-1].encode().translate(bytes.maketrans(b"01", b"\0\1"))
    return flags[:max(0, min(per, lay.blocks - i * per))]
