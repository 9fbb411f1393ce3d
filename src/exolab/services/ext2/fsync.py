"""What one file's fsync must make durable: the file, and the names that reach it.

``fsync(fd)`` promises that file's data and metadata survive a power cut,
not everything else dirty. :func:`file_set` names, for a placement that
caches writes, the smallest set that keeps that promise under the ordering
rules of :mod:`.order`:

- the file's inode record and every block it points to (data and indirect;
  a placement writes only the dirty ones, new blocks before the record);
- if the file got a name since the last full sync (created, linked or
  renamed: :attr:`Frame._placed`), that name's directory -- its record and
  all its blocks (so its size never covers an unwritten block) -- and, the
  same way, that directory's own new name, up to a directory already on the
  disk.

A directory *moved* since the last sync is the one case answered ``None``
(sync everything): its old and new names would both be on the disk, a
directory with two parents, which ``e2fsck -p`` does not repair. The
placement adds what only it can see (bitmaps marked first; the records of
inodes whose names leave a directory block it writes) and falls back to a
full sync where the subset cannot be ordered safely (docs/files.md).

Interface::

    FileSet(blocks, inodes, names)   frozen: blocks to write whole, inode records,
                                     which of the blocks hold directory entries
    file_set(fs, ino) -> FileSet | None     inside an operation (fs._call)
    records(fs, inodes) -> {itable block: [byte offsets]}
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exolab.services.ext2.inode import has_block_map

__all__ = ["FileSet", "file_set", "records"]


@dataclass(frozen=True, slots=True)
class FileSet:
    """The blocks (written whole) and inode records one fsync makes durable."""

    blocks: frozenset[int]      # data, indirect and directory blocks (whole)
    inodes: frozenset[int]      # inode records
    names: frozenset[int]       # the directory blocks among ``blocks``


def file_set(fs: Any, ino: int) -> FileSet | None:
    """The file ``ino``'s set (see the module docstring); None: sync everything."""
    blocks: set[int] = set()
    inodes: set[int] = set()
    names: set[int] = set()
    at = ino
    for _ in range(fs.sb.inodes_count):
        node = fs._iget(at)
        inodes.add(at)
        if has_block_map(node):
            every, leaves = fs.bmap.blocks_of(node)
            blocks.update(every)
            if node.is_dir:
                names.update(leaves)
        placed = fs._placed.get(at)
        if placed is None:
            return FileSet(frozenset(blocks), frozenset(inodes), frozenset(names))
        parent, moved = placed
        if moved and node.is_dir:
            return None
        if parent in inodes:
            return None
        at = parent
    return None


def records(fs: Any, inodes: frozenset[int]) -> dict[int, list[int]]:
    """Where the records of ``inodes`` live: inode-table block -> byte offsets."""
    out: dict[int, list[int]] = {}
    for ino in sorted(inodes):
        blk, off = fs.itab._where(ino)
        out.setdefault(blk, []).append(off)
    return out
