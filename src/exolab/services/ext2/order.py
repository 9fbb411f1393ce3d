"""Ordered write-back: the phases in which a cache writes ext2's dirty blocks so
that a power cut at any moment leaves at most leaked blocks and inodes.

A placement that caches writes (the monolithic buffer cache) holds many
operations' changes and writes them at a sync. Writing them in ext2's
per-operation rank order is not enough across operations (a directory entry
may reach the disk before the inode it names), so :func:`plan` splits the
dirty set into phases, each to be made durable (a flush, or FUA writes)
before the next starts. The invariant: an inode that has a link count but no
name on the disk is never written (``e2fsck -p`` will not repair that).

1. bitmaps as *disk | now*: every allocation is marked before anything
   points at it; nothing is marked free yet;
2. file data, and every block that is new (its bit is clear on the disk, set
   now): nothing on the disk points at those yet;
3. inode-table blocks as the disk has them, with two kinds of record put in:
   inodes new since the disk's copy, *with a link count of 0* (so they are
   not in use until their names are reachable), and inodes whose link count
   fell (unlinked, freed: before their names go);
4. directory blocks that only gained names (FUA, so no power cut tears one)
   and the indirect blocks that were already in use;
5. inode-table blocks as they are now but new inodes still at count 0: sizes
   and pointers, so a name in a directory's new block is reachable;
6. directory blocks that lost a name (FUA): every name that moved is
   reachable at its new place before it leaves the old one;
7. inode-table blocks as they are now (new inodes come into use);
8. bitmaps, descriptors and superblock as they are now (frees last).

One cycle no order breaks: a name moved into a directory made since the
disk's copy (the old name must go after the new directory is in use, which
must come after the block holding both changes). The placement syncs before
such a rename (the monolithic kernel syncs before any rename when a
directory was made since its last sync).

With frees deferred until the sync (:attr:`Allocator.defer_frees`) no block or
inode freed since the last sync is reused, so no old pointer on the disk can
reach a new owner. A cut after phase k leaves only what ``e2fsck -p`` repairs
without asking: allocated bits with no owner, unlinked new inodes ("deleted
inode has zero dtime"), names of inodes not yet (or no longer) in use
("deleted/unused inode", cleared), link counts off by the names in flight,
free counts (docs/files.md lists them).

Interface::

    Dirty(rank, now, disk)      one dirty block: its Buffers rank, bytes now, bytes on the disk
    plan(fs, dirty) -> list[list[(block, bytes, fua)]]      the phases, in order
    PHASES                      their names
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exolab.services.ext2.buffers import BITMAP, DATA, DIRB, ITABLE, PTR, SUPER

__all__ = ["Dirty", "plan", "PHASES"]

PHASES = ("bitmaps set", "new blocks", "inodes unlinked or new (count 0)",
          "names added, pointers", "inodes (new ones at count 0)", "names removed",
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
    """The disk copy with new inodes put in at link count 0, and inodes whose link
    count fell put in as they are now (None: no such record)."""
    if d.disk is None:
        return None
    size, out, changed = fs.sb.inode_size, bytearray(d.disk), False
    for off in range(0, len(out) - size + 1, size):
        at = off + _LINKS
        was = int.from_bytes(d.disk[at:at + 2], "little")
        now = int.from_bytes(d.now[at:at + 2], "little")
        if (was == 0 and now != 0) or now < was:
            out[off:off + size] = d.now[off:off + size]
            if was == 0:
                out[at:at + 2] = b"\0\0"
            changed = True
    return bytes(out) if changed else None


def _staged_itable(fs: Any, d: Dirty) -> bytes | None:
    """The records as they are now but new inodes at link count 0 (None: no new one)."""
    if d.disk is None:
        return None
    size, out, changed = fs.sb.inode_size, bytearray(d.now), False
    for off in range(0, len(out) - size + 1, size):
        at = off + _LINKS
        if d.disk[at:at + 2] == b"\0\0" and d.now[at:at + 2] != b"\0\0":
            out[at:at + 2] = b"\0\0"
            changed = True
    return bytes(out) if changed else None


def _names(block: bytes) -> set[tuple[int, bytes]]:
    """The (inode, name) entries of a directory block (a damaged chain ends the scan)."""
    out, off, size = set(), 0, len(block)
    while off + 8 <= size:
        ino = int.from_bytes(block[off:off + 4], "little")
        rec = int.from_bytes(block[off + 4:off + 6], "little")
        nlen = block[off + 6]
        if rec < 8 or off + rec > size or 8 + nlen > rec:
            break
        if ino:
            out.add((ino, bytes(block[off + 8:off + 8 + nlen])))
        off += rec
    return out


def _loses(d: Dirty) -> bool:
    """Whether a directory block lost an entry (unknown disk copy: assume so)."""
    return d.disk is None or not _names(d.disk) <= _names(d.now)


def plan(fs: Any, dirty: dict[int, Dirty]) -> list[list[tuple[int, bytes, bool]]]:
    """The phases of writes (block, bytes, fua) that make ``dirty`` durable
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
            phases[7].append((n, d.now, False))
        elif d.rank == ITABLE:
            fresh = _early_itable(fs, d)
            if fresh is not None:
                phases[2].append((n, fresh, False))
            staged = _staged_itable(fs, d)
            if staged is not None:
                phases[4].append((n, staged, False))
                phases[6].append((n, d.now, False))
            else:
                phases[4].append((n, d.now, False))
        elif d.rank == SUPER:
            phases[7].append((n, d.now, False))
        elif d.rank == DATA or n in new:
            phases[1].append((n, d.now, False))
        elif d.rank == DIRB:
            phases[5 if _loses(d) else 3].append((n, d.now, True))
        elif d.rank == PTR:
            phases[3].append((n, d.now, False))
        else:
            phases[7].append((n, d.now, False))
    return phases
