"""Ordered write-back: the phases in which a cache writes ext2's dirty blocks so
that a power cut at any moment leaves at most leaked blocks and inodes.

A placement that caches writes (the monolithic buffer cache) holds many
operations' changes and writes them at a sync. Writing them in ext2's
per-operation rank order is not enough across operations (a directory entry
may reach the disk before the inode it names), so :func:`plan` splits the
dirty set into phases, each to be made durable (a flush, or FUA writes)
before the next starts:

1. bitmaps as *disk | now*: every allocation is marked before anything
   points at it; nothing is marked free yet;
2. file data, and every block that is new (its bit is clear on the disk, set
   now): nothing on the disk points at those yet;
3. inode-table blocks as *disk + the records of inodes that are free on the
   disk and in use now*: a new inode exists before any name for it;
4. the directory and indirect blocks that were already in use (names added
   and removed; pointers set to phase-2 blocks or cleared), directory blocks
   FUA so no power cut tears one;
5. inode-table blocks as they are now (sizes, pointers, link counts, freed
   inodes: after every name for them is gone);
6. bitmaps, descriptors and superblock as they are now (frees last).

With frees deferred until the sync (:attr:`Allocator.defer_frees`) no block or
inode freed since the last sync is reused, so no old pointer on the disk can
reach a new owner. A cut after phase k leaves: (1) allocated bits with no
owner, (2-3) unreachable new blocks and unnamed inodes, (4) inodes whose link
counts or sizes are not yet updated, (5) freed things still marked in use --
leaks and counts that ``e2fsck -p`` repairs (docs/files.md lists them).

Interface::

    Dirty(rank, now, disk)      one dirty block: its Buffers rank, bytes now, bytes on the disk
    plan(fs, dirty) -> list[list[(block, bytes, fua)]]      the phases, in order
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exolab.services.ext2.buffers import BITMAP, DATA, DIRB, ITABLE, PTR, SUPER

__all__ = ["Dirty", "plan", "PHASES"]

PHASES = ("bitmaps set", "new blocks", "new inodes", "names and pointers",
          "inodes", "frees and counts")
_LINKS = 26                 # i_links_count: a u16 at this offset of an inode record


@dataclass(slots=True)
class Dirty:
    """One dirty cached block."""

    rank: int               # the Buffers rank it was written with (its kind)
    now: bytes              # its bytes now
    disk: bytes | None      # its bytes on the disk (None: not known / never read)


def _bit(bm: bytes | None, i: int) -> bool:
    """Bit ``i`` of bitmap ``bm`` (False when unknown)."""
    return bm is not None and bool(bm[i >> 3] >> (i & 7) & 1)


def _new_blocks(fs: Any, dirty: dict[int, Dirty]) -> set[int]:
    """The blocks whose bit is clear in a dirty bitmap's disk copy and set now."""
    sb, new = fs.sb, set()
    for g, gd in enumerate(fs.groups):
        d = dirty.get(gd.block_bitmap)
        if d is None or d.disk is None:
            continue
        base = sb.first_data_block + g * sb.blocks_per_group
        for byte, (a, b) in enumerate(zip(d.disk, d.now)):
            gained = b & ~a
            while gained:
                low = gained & -gained
                new.add(base + byte * 8 + low.bit_length() - 1)
                gained ^= low
    return new


def _early_itable(fs: Any, d: Dirty) -> bytes | None:
    """The disk copy with the records of inodes newly in use put in (None: no such)."""
    if d.disk is None:
        return None
    size, out, changed = fs.sb.inode_size, bytearray(d.disk), False
    for off in range(0, len(out), size):
        was = int.from_bytes(d.disk[off + _LINKS:off + _LINKS + 2], "little")
        now = int.from_bytes(d.now[off + _LINKS:off + _LINKS + 2], "little")
        if was == 0 and now != 0:
            out[off:off + size] = d.now[off:off + size]
            changed = True
    return bytes(out) if changed else None


def plan(fs: Any, dirty: dict[int, Dirty]) -> list[list[tuple[int, bytes, bool]]]:
    """The six phases of writes (block, bytes, fua) that make ``dirty`` durable
    safely; ``fs`` is the mounted Ext2 (its superblock and group descriptors)."""
    new = _new_blocks(fs, dirty)
    phases: list[list[tuple[int, bytes, bool]]] = [[] for _ in PHASES]
    for n in sorted(dirty):
        d = dirty[n]
        if d.rank == BITMAP:
            if d.disk is not None:
                early = bytes(a | b for a, b in zip(d.disk, d.now))
                if early != d.disk:
                    phases[0].append((n, early, False))
            phases[5].append((n, d.now, False))
        elif d.rank == ITABLE:
            fresh = _early_itable(fs, d)
            if fresh is not None:
                phases[2].append((n, fresh, False))
            phases[4].append((n, d.now, False))
        elif d.rank == SUPER:
            phases[5].append((n, d.now, False))
        elif d.rank == DATA or n in new:
            phases[1].append((n, d.now, False))
        elif d.rank in (DIRB, PTR):
            phases[3].append((n, d.now, d.rank == DIRB))
        else:
            phases[5].append((n, d.now, False))
    return phases
