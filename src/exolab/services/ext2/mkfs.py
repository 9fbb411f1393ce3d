"""Making a fresh ext2 file system (what ``mke2fs -t ext2 -r 1 -O none,filetype,
sparse_super,large_file`` would make, without reserved blocks).

Layout of group g: [superblock + descriptor table, if g holds a backup]
block bitmap, inode bitmap, inode table, data. The bitmaps' padding bits
(past the group's last block, past the last inode) are set, as e2fsck
requires. Inodes 1..10 are reserved; the root (2) and ``lost+found`` (11)
are made with one block each. Everything written is deterministic (the UUID
comes from ``uuid_seed``).

Interface::

    mkfs(dev, *, block_size=1024, inodes=None, now=EPOCH, label="exolab",
         uuid_seed=0) -> None
"""
from __future__ import annotations

import hashlib
import struct

from exolab.errors import ConfigError
from exolab.services.ext2.interfaces import EPOCH, BlockIO, Reblocked
from exolab.services.ext2.layout import (DESC_SIZE, INCOMPAT_FILETYPE, MAGIC,
                                         RO_LARGE_FILE, RO_SPARSE_SUPER, SB_OFFSET,
                                         SB_SIZE, GroupDesc, Superblock, gdt_blocks,
                                         group_span, has_super, meta_blocks)

__all__ = ["mkfs"]

_INODE = 128
_LPF = 11


def _geometry(blocks: int, bs: int, inodes: int | None) -> Superblock:
    """The superblock of a new file system of ``blocks`` blocks of ``bs`` bytes."""
    fdb = 1 if bs == 1024 else 0
    bpg = 8 * bs
    sb = Superblock(bytearray(SB_SIZE), first_data_block=fdb, blocks_per_group=bpg,
                    log_block_size=bs.bit_length() - 11, blocks_count=blocks,
                    rev_level=1, first_ino=_LPF, inode_size=_INODE, magic=MAGIC,
                    feature_incompat=INCOMPAT_FILETYPE,
                    feature_ro_compat=RO_SPARSE_SUPER | RO_LARGE_FILE)
    per_block = bs // _INODE
    while True:
        groups = sb.groups
        want = inodes if inodes is not None else max(16, blocks * bs // 4096)
        ipg = -(-want // groups)
        ipg = min(bpg, max(per_block, -(-ipg // per_block) * per_block))
        sb.inodes_per_group, sb.inodes_count = ipg, ipg * groups
        _, last = group_span(sb, groups - 1)
        overhead = len(meta_blocks(sb, groups - 1)) + 2 + ipg // per_block
        if last >= overhead + 8 or groups == 1:
            break
        sb.blocks_count = blocks = fdb + (groups - 1) * bpg   # drop a runt last group
    return sb


def mkfs(dev: BlockIO, *, block_size: int = 1024, inodes: int | None = None,
         now: int = EPOCH, label: str = "exolab", uuid_seed: int = 0) -> None:
    """Write a fresh, empty ext2 file system over all of ``dev``."""
    if block_size not in (1024, 2048, 4096):
        raise ConfigError("ext2 block size", field="block_size",
                          expected=(1024, 2048, 4096), actual=block_size)
    fsdev = dev if dev.block_size == block_size else Reblocked(dev, block_size)
    if fsdev.blocks < 64:
        raise ConfigError("device too small for ext2", field="blocks",
                          expected=">= 64 blocks", actual=fsdev.blocks)
    sb = _geometry(fsdev.blocks, block_size, inodes)
    itb = sb.inodes_per_group * _INODE // block_size
    groups, writes = [], {}
    for g in range(sb.groups):
        first, count = group_span(sb, g)
        meta = len(meta_blocks(sb, g))
        bb = first + meta
        gd = GroupDesc(bb, bb + 1, bb + 2, count - meta - 2 - itb, sb.inodes_per_group,
                       0, bytes(14))
        groups.append(gd)
        for b in range(bb + 2, bb + 2 + itb):
            writes[b] = bytearray(block_size)
    root_blk, lpf_blk = groups[0].inode_table + itb, groups[0].inode_table + itb + 1
    groups[0].free_blocks -= 2
    groups[0].free_inodes -= _LPF
    groups[0].used_dirs = 2
    for g, gd in enumerate(groups):
        writes[gd.block_bitmap] = _block_bitmap(sb, g, gd, itb)
        writes[gd.inode_bitmap] = _inode_bitmap(sb, g)
    _bitset(writes[groups[0].block_bitmap], root_blk - sb.first_data_block, 2)
    _inodes(sb, groups[0], writes, root_blk, lpf_blk, now)
    writes[root_blk] = _dir_block(block_size, 2, 2, [(b"lost+found", _LPF)])
    writes[lpf_blk] = _dir_block(block_size, _LPF, 2, [])
    sb.free_blocks = sum(gd.free_blocks for gd in groups)
    sb.free_inodes = sum(gd.free_inodes for gd in groups)
    _super_fields(sb, now, label, uuid_seed)
    _place_super(sb, groups, writes)
    for b in sorted(writes):
        fsdev.write_block(b, bytes(writes[b]))
    fsdev.flush()


def _bitset(bm: bytearray, start: int, n: int) -> None:
    """Set bits ``start .. start+n-1`` of ``bm``."""
    for i in range(start, start + n):
        bm[i >> 3] |= 1 << (i & 7)


def _block_bitmap(sb: Superblock, g: int, gd: GroupDesc, itb: int) -> bytearray:
    """Group ``g``'s block bitmap: metadata and the padding past its end are in use."""
    bm = bytearray(sb.block_size)
    first, count = group_span(sb, g)
    _bitset(bm, 0, gd.inode_table + itb - first)
    _bitset(bm, count, 8 * sb.block_size - count)
    return bm


def _inode_bitmap(sb: Superblock, g: int) -> bytearray:
    """Group ``g``'s inode bitmap: reserved inodes and the padding are in use."""
    bm = bytearray(sb.block_size)
    if g == 0:
        _bitset(bm, 0, _LPF)
    ipg = sb.inodes_per_group
    _bitset(bm, ipg, 8 * sb.block_size - ipg)
    return bm


def _inodes(sb: Superblock, gd: GroupDesc, writes: dict[int, bytearray], root_blk: int,
            lpf_blk: int, now: int) -> None:
    """Write the root and lost+found inodes into group 0's inode table."""
    bs = sb.block_size
    for ino, mode, links, blk in ((2, 0o40755, 3, root_blk), (_LPF, 0o40700, 2, lpf_blk)):
        b, off = divmod((ino - 1) * _INODE, bs)
        struct.pack_into("<HHIIIIIHHII", writes[gd.inode_table + b], off, mode, 0, bs,
                         now, now, now, 0, 0, links, bs // 512, 0)
        struct.pack_into("<I", writes[gd.inode_table + b], off + 40, blk)


def _dir_block(bs: int, me: int, parent: int, names: list[tuple[bytes, int]]) -> bytearray:
    """A directory's first block: ".", "..", then ``names`` (all directories)."""
    buf = bytearray(bs)
    ents = [(b".", me), (b"..", parent)] + names
    off = 0
    for i, (name, ino) in enumerate(ents):
        rec = bs - off if i == len(ents) - 1 else (8 + len(name) + 3) & ~3
        struct.pack_into("<IHBB", buf, off, ino, rec, len(name), 2)
        buf[off + 8:off + 8 + len(name)] = name
        off += rec
    return buf


def _super_fields(sb: Superblock, now: int, label: str, seed: int) -> None:
    """Fill the superblock fields exolab does not decode (frag size, state, uuid...)."""
    raw = sb.raw
    sb.state, sb.wtime, sb.mtime = 1, now, 0
    struct.pack_into("<i", raw, 28, sb.log_block_size)      # fragment size = block size
    struct.pack_into("<I", raw, 36, sb.blocks_per_group)    # fragments per group
    struct.pack_into("<hHH", raw, 54, -1, 1, 0)        # max mounts, errors=continue
    struct.pack_into("<III", raw, 64, now, 0, 0)        # lastcheck, interval, Linux
    raw[104:120] = hashlib.sha256(f"exolab-ext2:{seed}".encode()).digest()[:16]
    raw[120:136] = label.encode()[:16].ljust(16, b"\0")
    struct.pack_into("<I", raw, 264, now)               # mkfs time


def _place_super(sb: Superblock, groups: list[GroupDesc],
                 writes: dict[int, bytearray]) -> None:
    """Write the superblock and descriptor table into every group that holds a copy."""
    bs = sb.block_size
    table = bytearray(gdt_blocks(sb) * bs)
    for i, gd in enumerate(groups):
        gd.encode(table, i * DESC_SIZE)
    for g in range(sb.groups):
        if not has_super(sb, g):
            continue
        first, _ = group_span(sb, g)
        struct.pack_into("<H", sb.raw, 90, g)           # s_block_group_nr
        raw = sb.encode()
        blk = writes.setdefault(first if g or bs > 1024 else 1, bytearray(bs))
        off = SB_OFFSET if g == 0 and bs > 1024 else 0
        blk[off:off + SB_SIZE] = raw
        for i in range(gdt_blocks(sb)):
            writes[first + 1 + i] = table[i * bs:(i + 1) * bs]
    struct.pack_into("<H", sb.raw, 90, 0)
