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
   fell (unlinked, freed: before their names go) but for removed directories;
4. directory blocks that only gained names (FUA, so no power cut tears one)
   and the indirect blocks that were already in use;
5. inode-table blocks as they are now but new inodes still at count 0: sizes
   and pointers, so a name in a directory's new block is reachable; removed
   directories go out of use here, after the records of the inodes whose names
   their blocks held on the disk (in one phase with them, a directory's
   record could reach the disk alone and leave a linked inode that no name
   reaches: "unattached inode", which ``e2fsck -p`` does not repair);
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

*One file's fsync* (:func:`plan_file`) runs the same phases over a subset:
the blocks of :func:`.fsync.file_set` that are dirty, inode-table blocks as
on the disk with only the chosen records as they are now, and the bitmaps as
*disk | now* (allocations only: phase 8 is dropped, so deferred frees stay
deferred and other files' frees stay unwritten). A directory block in the
subset that lost a name brings the record of the inode named (its link count
fell: written in phase 3, before the name goes); if that inode is a removed
directory, so do the records of the inodes its blocks named on the disk (at
count 0 now), written in a first phase of their own. A name that moved
elsewhere, a still-linked inode, or a removed directory holding a directory
or an indirect block on the disk cannot be ordered without the other blocks
and the answer is None (the placement syncs everything). What else is dirty
stays dirty, its disk copy unchanged; the written records and bitmaps
advance their blocks' disk copies.

Interface::

    Dirty(rank, now, disk)      one dirty block: its Buffers rank, bytes now, bytes on the disk
    plan(fs, dirty) -> list[list[(block, bytes, fua)]]      the phases, in order
    plan_file(fs, dirty, blocks, records) -> (phases, {block: bytes on the disk after}) | None
    PHASES                      their names
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exolab.services.ext2.buffers import BITMAP, DATA, DIRB, ITABLE, PTR, SUPER

__all__ = ["Dirty", "plan", "plan_file", "PHASES"]

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
    count fell put in as they are now, but for removed directories (None: no such
    record)."""
    if d.disk is None:
        return None
    size, out, changed = fs.sb.inode_size, bytearray(d.disk), False
    for off in range(0, len(out) - size + 1, size):
        at = off + _LINKS
        was = int.from_bytes(d.disk[at:at + 2], "little")
        now = int.from_bytes(d.now[at:at + 2], "little")
        if now == 0 and _is_dir(d, off):
            continue                    # after its contents' records: phase 5
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


Phases = list[list[tuple[int, bytes, bool]]]
_BLOCKS = ((4, 8), (28, 32), (40, 100), (108, 112))     # i_size, i_blocks, i_block, high


def plan_file(fs: Any, dirty: dict[int, Dirty], want: Any,
              records: dict[int, list[int]]) -> tuple[Phases, dict[int, bytes]] | None:
    """The phases that make one file's set ``want`` (a :class:`.fsync.FileSet`)
    durable and each written block's bytes on the disk after them; None: it
    cannot be ordered alone (sync everything). See the module docstring."""
    sub = {n: dirty[n] for n in want.blocks if n in dirty and dirty[n].rank != ITABLE}
    recs = {blk: list(offs) for blk, offs in records.items()}
    stubs: dict[int, list[int]] = {}
    kids: dict[int, list[int]] = {}
    for n in sorted(want.names & sub.keys()):
        if not _lost_ok(fs, dirty, sub[n], recs, kids) \
                or not _gained(fs, dirty, sub[n], stubs):
            return None
    first: list[tuple[int, bytes, bool]] = []
    after: dict[int, bytes] = {}
    size = fs.sb.inode_size
    for blk in sorted(recs.keys() | stubs.keys() | kids.keys()):
        d = dirty.get(blk)
        if d is None:
            continue
        if d.disk is None:
            return None
        base = d.disk
        mine = recs.get(blk, [])
        early = [off for off in stubs.get(blk, ()) if off not in mine]
        if early or blk in kids:
            base = _records(d, _stubbed(d, early, size), kids.get(blk, ()), size)
            after[blk] = base
            first.append((blk, base, False))
        part = _records(d, base, mine, size)
        if part != base:
            sub[blk] = Dirty(ITABLE, part, base)
    for n, d in dirty.items():
        if d.rank == BITMAP and d.disk is not None:
            bits = bytes(a | b for a, b in zip(d.disk, d.now))
            if bits != d.disk:
                sub[n] = Dirty(BITMAP, bits, d.disk)
    phases = plan(fs, sub)
    phases[7] = []                      # frees and counts wait for a full sync
    after.update((n, d.now) for n, d in sub.items())
    return [first] + phases, after


def _records(d: Dirty, base: bytes, offs: Any, size: int) -> bytes:
    """Inode-table block ``base`` with the records at ``offs`` as ``d`` has them now."""
    out = bytearray(base)
    for off in offs:
        out[off:off + size] = d.now[off:off + size]
    return bytes(out)


def _stubbed(d: Dirty, offs: list[int], size: int) -> bytes:
    """``d``'s disk copy with a stub at each of ``offs``: the record as now, at link
    count 0 and without blocks (a name written before its inode then reads as a
    deleted inode of the right type, which e2fsck -p clears)."""
    assert d.disk is not None
    out = bytearray(d.disk)
    for off in offs:
        rec = bytearray(d.now[off:off + size])
        rec[_LINKS:_LINKS + 2] = b"\0\0"
        for a, b in _BLOCKS:
            rec[a:b] = bytes(b - a)
        out[off:off + size] = rec
    return bytes(out)


def _links(blk: bytes, off: int) -> int:
    """The link count of the record at ``off`` of inode-table bytes ``blk``."""
    return int.from_bytes(blk[off + _LINKS:off + _LINKS + 2], "little")


def _where(fs: Any, ino: int) -> tuple[int, int] | None:
    """(inode-table block, offset) of ``ino``'s record (None: no such inode)."""
    if not 1 <= ino <= fs.sb.inodes_count:
        return None
    return fs.itab._where(ino)  # type: ignore[no-any-return]


def _lost_ok(fs: Any, dirty: dict[int, Dirty], d: Dirty, recs: dict[int, list[int]],
             kids: dict[int, list[int]]) -> bool:
    """Whether directory block ``d`` may be written in a subset: every inode whose
    name it lost now has a link count of 0 (its record joins ``recs``) and, if it
    is a removed directory, so has every inode named in its blocks on the disk
    (those records join ``kids``: written before the directory's)."""
    if d.disk is None:
        return d.rank == PTR            # a new block (nothing on the disk to lose)
    gone = {i for i, _ in _names(d.disk)} - {i for i, _ in _names(d.now)}
    for ino in sorted(gone):
        at = _unlinked(fs, dirty, ino)
        if at is None or not _emptied(fs, dirty, dirty[at[0]], at[1], kids):
            return False
        if at[1] not in recs.setdefault(at[0], []):
            recs[at[0]].append(at[1])
    return True


def _unlinked(fs: Any, dirty: dict[int, Dirty], ino: int) -> tuple[int, int] | None:
    """Where ``ino``'s record is, if it is dirty and now at link count 0 (else None)."""
    at = _where(fs, ino)
    it = None if at is None else dirty.get(at[0])
    if at is None or it is None or _links(it.now, at[1]):
        return None
    return at


def _emptied(fs: Any, dirty: dict[int, Dirty], it: Dirty, off: int,
             kids: dict[int, list[int]]) -> bool:
    """Note in ``kids`` the records of the inodes a removed directory (the record at
    ``off`` of ``it`` on the disk) names there; False: one is still linked, is a
    directory, or a block's disk copy is unknown (sync everything)."""
    if it.disk is None:
        return False
    rec = it.disk[off:off + fs.sb.inode_size]
    if int.from_bytes(rec[0:2], "little") & 0xF000 != 0x4000:
        return True                     # not a directory: it names nothing
    ptrs = [int.from_bytes(rec[a:a + 4], "little") for a in range(40, 100, 4)]
    if any(ptrs[12:]):
        return False                    # indirect blocks: not followed here
    for n in filter(None, ptrs):
        blk = dirty.get(n)
        if blk is None:
            continue                    # unchanged: as empty on the disk as now
        if blk.disk is None:
            return False
        for ino, name in sorted(_names(blk.disk)):
            if name in (b".", b".."):
                continue
            at = _unlinked(fs, dirty, ino)
            if at is None or _is_dir(dirty[at[0]], at[1]):
                return False
            if at[1] not in kids.setdefault(at[0], []):
                kids[at[0]].append(at[1])
    return True


def _is_dir(it: Dirty, off: int) -> bool:
    """Whether the record at ``off`` of ``it`` is a directory, on the disk or now."""
    return any(b is not None and int.from_bytes(b[off:off + 2], "little") & 0xF000 == 0x4000
               for b in (it.disk, it.now))


def _gained(fs: Any, dirty: dict[int, Dirty], d: Dirty, stubs: dict[int, list[int]]) -> bool:
    """Note a stub for every inode named anew in directory block ``d`` that is not
    in use on the disk yet (False: a name of no inode: sync everything)."""
    old = set() if d.disk is None else {i for i, _ in _names(d.disk)}
    for ino in sorted({i for i, _ in _names(d.now)} - old):
        at = _where(fs, ino)
        if at is None:
            return False
        it = dirty.get(at[0])
        if it is None or it.disk is None or _links(it.disk, at[1]):
            continue
        if at[1] not in stubs.setdefault(at[0], []):
            stubs[at[0]].append(at[1])
    return True
