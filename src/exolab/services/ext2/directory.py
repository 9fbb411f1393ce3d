"""Directories: linked lists of variable-length entries in whole blocks.

An entry is ``inode u32, rec_len u16, name_len u8, file_type u8, name`` (with
the filetype feature; without it ``name_len`` is a u16), padded to 4 bytes;
entries never cross a block and the last one in a block stretches to its
end. Inode 0 marks an unused entry. Adding takes the first entry with enough
slack (splitting it) or appends a block; removing merges the entry into its
predecessor or, first in its block, zeroes its inode (Poirier, "Directories").
A directory that was hash-indexed (``EXT2_INDEX_FL``) is read linearly and
loses the flag when exolab changes it, as Linux's ext2 does.

Every entry is validated as it is read: a bad ``rec_len`` or ``name_len``
raises DiskImageError (so a hostile image cannot make a scan loop).

Interface::

    Directories(sb, bufs, bmap)
      scan(dir) -> iterator of (block, offset, ino, name, ftype)
      lookup(dir, name) -> ino | 0        is_empty(dir)
      add(dir, name, ino, ftype)          remove(dir, name) -> ino
      set_parent(dir, parent)             init(dir, parent)  (the first block: ".", "..")
    FT_REG, FT_DIR, ftype_of(mode)
"""
from __future__ import annotations

import struct
from typing import Iterator

from exolab.services.ext2.buffers import DIRB, Buffers
from exolab.services.ext2.inode import S_IFMT, BlockMap, Inode
from exolab.services.ext2.layout import Superblock, bad

__all__ = ["Directories", "FT_REG", "FT_DIR", "ftype_of", "INDEX_FL"]

FT_REG, FT_DIR = 1, 2
INDEX_FL = 0x1000
_FT = {0o100000: 1, 0o040000: 2, 0o020000: 3, 0o060000: 4, 0o010000: 5, 0o140000: 6,
       0o120000: 7}
_ENT = struct.Struct("<IHBB")


def ftype_of(mode: int) -> int:
    """The directory-entry file type of an inode mode."""
    return _FT.get(mode & S_IFMT, 0)


def _need(name_len: int) -> int:
    """Bytes an entry with a ``name_len``-byte name occupies."""
    return (8 + name_len + 3) & ~3


class Directories:
    """Directory-entry operations over directory inodes' blocks."""

    __slots__ = ("sb", "bufs", "bmap", "bs")

    def __init__(self, sb: Superblock, bufs: Buffers, bmap: BlockMap) -> None:
        self.sb = sb
        self.bufs = bufs
        self.bmap = bmap
        self.bs = sb.block_size

    def _block(self, d: Inode, lblk: int) -> tuple[int, bytearray]:
        """Physical number and bytes of ``d``'s logical block ``lblk`` (no holes)."""
        pblk = self.bmap.lookup(d, lblk)
        if pblk == 0:
            raise bad("directory block", "allocated", f"hole in inode {d.ino}")
        return pblk, self.bufs.get(pblk)

    def _decode(self, buf: bytearray, off: int) -> tuple[int, int, int, int]:
        """(ino, rec_len, name_len, ftype) of the entry at ``off``, validated."""
        ino, rec, nlen, ft = _ENT.unpack_from(buf, off)
        if not self.sb.filetype:
            nlen, ft = nlen | ft << 8, 0
        if rec < 8 or rec & 3 or off + rec > self.bs or (ino and _need(nlen) > rec):
            raise bad("directory entry", "a valid rec_len/name_len", (off, rec, nlen))
        if ino > self.sb.inodes_count:
            raise bad("directory entry inode", f"<= {self.sb.inodes_count}", ino)
        return ino, rec, nlen, ft

    def scan(self, d: Inode) -> Iterator[tuple[int, int, int, bytes, int]]:
        """Every used entry of ``d``: (block, offset, ino, name, ftype)."""
        if d.size % self.bs:
            raise bad("directory size", f"a multiple of {self.bs}", d.size)
        for lblk in range(d.size // self.bs):
            pblk, buf = self._block(d, lblk)
            off = 0
            while off < self.bs:
                ino, rec, nlen, ft = self._decode(buf, off)
                self.bufs.charge("ext2.dirent", 1)
                if ino:
                    yield pblk, off, ino, bytes(buf[off + 8:off + 8 + nlen]), ft
                off += rec

    def lookup(self, d: Inode, name: bytes) -> int:
        """The inode ``name`` names in ``d``, or 0."""
        for _, _, ino, n, _ in self.scan(d):
            if n == name:
                return ino
        return 0

    def is_empty(self, d: Inode) -> bool:
        """Whether ``d`` holds nothing but "." and ".."."""
        return all(n in (b".", b"..") for _, _, _, n, _ in self.scan(d))

    def _put(self, buf: bytearray, off: int, ino: int, rec: int, name: bytes,
             ft: int) -> None:
        """Write one entry at ``off``."""
        if self.sb.filetype:
            _ENT.pack_into(buf, off, ino, rec, len(name), ft)
        else:
            struct.pack_into("<IHH", buf, off, ino, rec, len(name))
        buf[off + 8:off + 8 + len(name)] = name

    def add(self, d: Inode, name: bytes, ino: int, ft: int) -> None:
        """Add entry ``name -> ino`` to ``d`` (appending a block if none has room)."""
        need = _need(len(name))
        d.flags &= ~INDEX_FL
        for lblk in range(d.size // self.bs):
            pblk, buf = self._block(d, lblk)
            off = 0
            while off < self.bs:
                e_ino, rec, nlen, _ = self._decode(buf, off)
                self.bufs.charge("ext2.dirent", 1)
                used = _need(nlen) if e_ino else 0
                if rec - used >= need:
                    if used:
                        struct.pack_into("<H", buf, off + 4, used)
                    self._put(buf, off + used, ino, rec - used, name, ft)
                    self.bufs.dirty(pblk, DIRB)
                    return
                off += rec
        pblk, _ = self.bmap.ensure(d, d.size // self.bs)
        d.size += self.bs
        self._put(self.bufs.get(pblk), 0, ino, self.bs, name, ft)
        self.bufs.dirty(pblk, DIRB)

    def remove(self, d: Inode, name: bytes) -> int:
        """Remove entry ``name`` from ``d``; return the inode it named (0 if none)."""
        d.flags &= ~INDEX_FL
        for lblk in range(d.size // self.bs):
            pblk, buf = self._block(d, lblk)
            off, prev = 0, -1
            while off < self.bs:
                e_ino, rec, nlen, _ = self._decode(buf, off)
                self.bufs.charge("ext2.dirent", 1)
                if e_ino and bytes(buf[off + 8:off + 8 + nlen]) == name:
                    if prev < 0:
                        struct.pack_into("<I", buf, off, 0)
                    else:
                        prec = struct.unpack_from("<H", buf, prev + 4)[0]
                        struct.pack_into("<H", buf, prev + 4, prec + rec)
                    self.bufs.dirty(pblk, DIRB)
                    return e_ino
                prev, off = off, off + rec
        return 0

    def set_parent(self, d: Inode, parent: int) -> None:
        """Point ``d``'s ".." entry at ``parent``."""
        for pblk, off, _, n, _ in self.scan(d):
            if n == b"..":
                struct.pack_into("<I", self.bufs.get(pblk), off, parent)
                self.bufs.dirty(pblk, DIRB)
                return
        raise bad("directory", "a '..' entry", f"none in inode {d.ino}")

    def init(self, d: Inode, parent: int) -> None:
        """Give the new directory ``d`` its first block with "." and ".."."""
        pblk, _ = self.bmap.ensure(d, 0)
        d.size = self.bs
        buf = self.bufs.get(pblk)
        self._put(buf, 0, d.ino, 12, b".", FT_DIR)
        self._put(buf, 12, parent, self.bs - 12, b"..", FT_DIR)
        self.bufs.dirty(pblk, DIRB)
