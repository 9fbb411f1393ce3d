"""Inodes and their block maps: direct, indirect, double and triple indirect.

An inode is ``inode_size`` bytes in its group's inode table; the first 128 are
decoded, the rest (the large-inode extra fields) are kept as read.
``i_block[0..11]`` point at data blocks, ``i_block[12]`` at a block of ``p =
block_size/4`` pointers, ``[13]`` at a block of pointers to such blocks,
``[14]`` one level deeper (Poirier, "Locating data blocks"). A zero pointer
is a hole: it reads as zeros and has no block (sparse files). ``i_blocks``
counts every block the inode holds -- data and indirect -- in 512-byte units
and is kept exact by :meth:`BlockMap.ensure` and :meth:`BlockMap.truncate`.

Interface::

    Inode                         slotted record of one decoded inode (+ ino)
    InodeTable(sb, groups, bufs)  read(ino) -> Inode,  write(inode),  fresh(ino, mode, now)
    BlockMap(sb, bufs, alloc)     lookup(inode, lblk) -> pblk | 0
                                  ensure(inode, lblk) -> (pblk, new)
                                  truncate(inode, keep_blocks)
                                  blocks_of(inode) -> (all, data)  every block, the data ones
                                  max_blocks   logical blocks one inode can map
    S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, has_block_map(inode)
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from exolab.errors import SyscallError
from exolab.services.ext2.alloc import Allocator
from exolab.services.ext2.buffers import ITABLE, PTR, Buffers
from exolab.services.ext2.layout import GroupDesc, Superblock, bad

__all__ = ["Inode", "InodeTable", "BlockMap", "S_IFMT", "S_IFREG", "S_IFDIR", "S_IFLNK",
           "has_block_map"]

S_IFMT, S_IFSOCK, S_IFLNK, S_IFREG = 0o170000, 0o140000, 0o120000, 0o100000
S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO = 0o060000, 0o040000, 0o020000, 0o010000
_HEAD = struct.Struct("<HHIIIIIHHII4x15IIII")   # bytes 0..112 of an inode


@dataclass(slots=True)
class Inode:
    """One inode, decoded; owned by the operation that read it."""

    ino: int
    mode: int = 0
    uid: int = 0
    size: int = 0               # bytes; i_size | i_size_high << 32 for regular files
    atime: int = 0
    ctime: int = 0
    mtime: int = 0
    dtime: int = 0
    gid: int = 0
    links: int = 0
    blocks: int = 0             # i_blocks: 512-byte units held, indirect blocks included
    flags: int = 0
    block: list[int] = field(default_factory=lambda: [0] * 15)
    generation: int = 0
    file_acl: int = 0
    raw: bytearray = field(default_factory=bytearray)   # the whole record as read

    @property
    def is_dir(self) -> bool:
        """Whether this inode is a directory."""
        return self.mode & S_IFMT == S_IFDIR

    @property
    def is_reg(self) -> bool:
        """Whether this inode is a regular file."""
        return self.mode & S_IFMT == S_IFREG


def has_block_map(inode: Inode) -> bool:
    """Whether ``i_block`` holds block pointers (not a fast symlink or device number)."""
    kind = inode.mode & S_IFMT
    if kind in (S_IFREG, S_IFDIR):
        return True
    return kind == S_IFLNK and inode.blocks > (0 if not inode.file_acl else 1)


class InodeTable:
    """Reads and writes inode records through the operation's buffers."""

    __slots__ = ("sb", "groups", "bufs")

    def __init__(self, sb: Superblock, groups: list[GroupDesc], bufs: Buffers) -> None:
        self.sb = sb
        self.groups = groups
        self.bufs = bufs

    def _where(self, ino: int) -> tuple[int, int]:
        """(block, byte offset) of inode ``ino``'s record."""
        sb = self.sb
        if not 1 <= ino <= sb.inodes_count:
            raise bad("inode number", f"1..{sb.inodes_count}", ino)
        g, i = divmod(ino - 1, sb.inodes_per_group)
        blk, off = divmod(i * sb.inode_size, sb.block_size)
        return self.groups[g].inode_table + blk, off

    def read(self, ino: int) -> Inode:
        """Decode inode ``ino``."""
        blk, off = self._where(ino)
        raw = bytearray(self.bufs.get(blk)[off:off + self.sb.inode_size])
        v = _HEAD.unpack_from(raw, 0)
        node = Inode(ino, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
                     v[10], list(v[11:26]), v[26], v[27], raw)
        if node.is_reg:
            node.size |= v[28] << 32
        return node

    def write(self, node: Inode) -> None:
        """Encode ``node`` into its inode-table block (written at commit)."""
        blk, off = self._where(node.ino)
        raw = node.raw
        high = node.size >> 32 if node.is_reg else struct.unpack_from("<I", raw, 108)[0]
        _HEAD.pack_into(raw, 0, node.mode, node.uid, node.size & 0xFFFFFFFF, node.atime,
                        node.ctime, node.mtime, node.dtime, node.gid, node.links,
                        node.blocks, node.flags, *node.block, node.generation,
                        node.file_acl, high)
        buf = self.bufs.get(blk)
        buf[off:off + self.sb.inode_size] = raw
        self.bufs.dirty(blk, ITABLE)

    def fresh(self, ino: int, mode: int, now: int) -> Inode:
        """A new in-use inode record for ``ino`` (generation kept, +1)."""
        old = self.read(ino)
        raw = bytearray(self.sb.inode_size)
        if self.sb.inode_size >= 160:
            struct.pack_into("<H", raw, 128, 32)        # i_extra_isize, as Linux writes
        return Inode(ino, mode, 0, 0, now, now, now, 0, 0, 0, 0, 0, [0] * 15,
                     (old.generation + 1) & 0xFFFFFFFF, 0, raw)


class BlockMap:
    """Logical-to-physical block mapping of inodes; allocates and frees through alloc."""

    __slots__ = ("sb", "bufs", "alloc", "p", "sectors", "max_blocks")

    def __init__(self, sb: Superblock, bufs: Buffers, alloc: Allocator) -> None:
        self.sb = sb
        self.bufs = bufs
        self.alloc = alloc
        self.p = p = sb.block_size // 4         # pointers per indirect block
        self.sectors = sb.block_size // 512     # i_blocks units per block
        self.max_blocks = 12 + p + p * p + p * p * p

    def _path(self, lblk: int) -> tuple[int, list[int]]:
        """(i_block slot, indices through the indirect levels) of logical block ``lblk``."""
        p = self.p
        if lblk < 12:
            return lblk, []
        lblk -= 12
        if lblk < p:
            return 12, [lblk]
        lblk -= p
        if lblk < p * p:
            return 13, [lblk // p, lblk % p]
        lblk -= p * p
        if lblk < p * p * p:
            return 14, [lblk // (p * p), lblk // p % p, lblk % p]
        raise SyscallError("EFBIG", "offset beyond the largest ext2 file", block=lblk)

    def lookup(self, node: Inode, lblk: int) -> int:
        """The physical block holding logical block ``lblk`` of ``node``, or 0 (a hole)."""
        slot, idx = self._path(lblk)
        ptr = node.block[slot]
        for i in idx:
            if ptr == 0:
                return 0
            ptr = int.from_bytes(self.bufs.get(ptr)[4 * i:4 * i + 4], "little")
        return ptr

    def _new(self, node: Inode, goal: int) -> int:
        """Allocate one zeroed block for ``node`` and count it in i_blocks."""
        n = self.alloc.alloc_block(goal)
        node.blocks += self.sectors
        self.bufs.zero(n, PTR)
        return n

    def ensure(self, node: Inode, lblk: int) -> tuple[int, bool]:
        """Map ``lblk`` (allocating it and missing indirect blocks); (pblk, newly made)."""
        slot, idx = self._path(lblk)
        goal = max(node.block[slot - 1] if slot else 0, node.block[slot])
        if node.block[slot] == 0:
            node.block[slot] = self._new(node, goal or self._home(node))
            if not idx:
                return node.block[slot], True
        ptr = node.block[slot]
        for depth, i in enumerate(idx):
            buf = self.bufs.get(ptr)
            nxt = int.from_bytes(buf[4 * i:4 * i + 4], "little")
            if nxt == 0:
                leaf = depth == len(idx) - 1
                nxt = self._new(node, ptr + 1)
                buf[4 * i:4 * i + 4] = nxt.to_bytes(4, "little")
                self.bufs.dirty(ptr, PTR)
                if leaf:
                    return nxt, True
            ptr = nxt
        return ptr, False

    def blocks_of(self, node: Inode) -> tuple[list[int], list[int]]:
        """Every block ``node`` points to, at every level, and of those the data
        blocks (the leaves): (all, leaves)."""
        out: list[int] = []
        leaves: list[int] = []
        for slot in range(15):
            if node.block[slot]:
                self._gather(node.block[slot], max(0, slot - 11), out, leaves)
        return out, leaves

    def _gather(self, ptr: int, level: int, out: list[int], leaves: list[int]) -> None:
        """Append ``ptr`` and, if it is an indirect block ``level`` deep, all below it."""
        out.append(ptr)
        if level == 0:
            leaves.append(ptr)
            return
        buf = self.bufs.get(ptr)
        for i in range(self.p):
            child = int.from_bytes(buf[4 * i:4 * i + 4], "little")
            if child:
                self._gather(child, level - 1, out, leaves)

    def _home(self, node: Inode) -> int:
        """First block of ``node``'s inode group: the goal of its first block."""
        sb = self.sb
        g = (node.ino - 1) // sb.inodes_per_group
        return sb.first_data_block + g * sb.blocks_per_group

    def truncate(self, node: Inode, keep: int) -> None:
        """Free every block of ``node`` at logical index >= ``keep`` (and emptied indirects)."""
        p = self.p
        for slot in range(12):
            if slot >= keep and node.block[slot]:
                self._free(node, node.block[slot])
                node.block[slot] = 0
        base, span = 12, 1
        for slot in (12, 13, 14):
            span *= p
            if node.block[slot] and self._cut(node, node.block[slot], slot - 11,
                                              max(0, keep - base)):
                node.block[slot] = 0
            base += span

    def _cut(self, node: Inode, ptr: int, level: int, keep: int) -> bool:
        """Free below indirect block ``ptr`` (``level`` deep) from index ``keep``;
        return True if ``ptr`` itself was freed."""
        sub = self.p ** (level - 1)         # logical blocks under one pointer of ptr
        buf = self.bufs.get(ptr)
        changed = False
        for i in range(keep // sub, self.p):
            lo = i * sub
            child = int.from_bytes(buf[4 * i:4 * i + 4], "little")
            if child == 0:
                continue
            if level > 1:
                freed = self._cut(node, child, level - 1, max(0, keep - lo))
            else:
                self._free(node, child)
                freed = True
            if freed:
                buf[4 * i:4 * i + 4] = b"\0\0\0\0"
                changed = True
        if keep == 0:
            self._free(node, ptr)
            return True
        if changed:
            self.bufs.dirty(ptr, PTR)
        return False

    def _free(self, node: Inode, n: int) -> None:
        """Free block ``n`` of ``node`` and uncount it from i_blocks."""
        self.alloc.free_block(n)
        node.blocks = max(0, node.blocks - self.sectors)
