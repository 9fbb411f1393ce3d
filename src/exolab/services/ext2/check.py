"""A consistency check: recompute what the bitmaps and counts must say from the tree.

:func:`verify` walks the directory tree of a mounted file system from the
root, counts every name of every inode, collects every block each inode holds
(data and indirect) and then compares: block and inode bitmaps (padding
included), the descriptors' free counts and used-directory counts, the
superblock's free counts, each inode's link count and ``i_blocks``. It is
what the tests run after every step (e2fsck checks the same independently)
and what a placement may run after a crash. Reads go through the device and
are charged like any operation.

Interface::

    verify(fs) -> list[str]      findings; empty when everything agrees
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from exolab.services.ext2.inode import Inode, has_block_map
from exolab.services.ext2.layout import ROOT_INO, group_span, meta_blocks

if TYPE_CHECKING:
    from exolab.services.ext2.frame import Frame

__all__ = ["verify"]


def verify(fs: "Frame") -> list[str]:
    """Every disagreement between the tree and the bitmaps/counts (empty: consistent)."""
    return fs._call(_verify, fs)  # type: ignore[no-any-return]


def _verify(fs: "Frame") -> list[str]:
    """verify's body, inside one operation frame."""
    out: list[str] = []
    refs = _names(fs)
    inodes = set(refs) | set(fs._open) | set(range(1, fs.sb.first_ino))
    owner: dict[int, int] = {}
    for ino in sorted(inodes):
        node = fs._iget(ino)
        held = _blocks(fs, node, owner, out) if has_block_map(node) else 0
        if node.file_acl:
            held += 1
            _claim(owner, node.file_acl, ino, out)
        if ino >= fs.sb.first_ino or ino == ROOT_INO:
            if node.blocks != held * (fs.sb.block_size // 512):
                out.append(f"inode {ino}: i_blocks {node.blocks}, holds {held} blocks")
            if node.links != refs.get(ino, 0):
                out.append(f"inode {ino}: links {node.links}, named {refs.get(ino, 0)}")
    _bitmaps(fs, set(owner), inodes, out)
    return out


def _names(fs: "Frame") -> dict[int, int]:
    """inode -> how many directory entries name it (".", ".." included)."""
    refs: dict[int, int] = {ROOT_INO: 1}            # the root's ".." names itself
    todo, seen = [ROOT_INO], {ROOT_INO}
    while todo:
        d = fs._iget(todo.pop())
        for _, _, ino, name, _ in fs.dirs.scan(d):
            refs[ino] = refs.get(ino, 0) + 1
            if name in (b".", b".."):
                continue
            if ino not in seen and fs._iget(ino).is_dir:
                seen.add(ino)
                todo.append(ino)
    refs[ROOT_INO] -= 1
    return refs


def _claim(owner: dict[int, int], blk: int, ino: int, out: list[str]) -> None:
    """Record that ``ino`` holds ``blk``; a second holder is a finding."""
    if blk in owner:
        out.append(f"block {blk} held by inodes {owner[blk]} and {ino}")
    owner[blk] = ino


def _blocks(fs: "Frame", node: Inode, owner: dict[int, int], out: list[str]) -> int:
    """Claim every block ``node`` holds; return how many."""
    n = 0
    for slot, ptr in enumerate(node.block):
        if ptr:
            n += _tree(fs, ptr, max(0, slot - 11), node.ino, owner, out)
    return n


def _tree(fs: "Frame", ptr: int, level: int, ino: int, owner: dict[int, int],
          out: list[str]) -> int:
    """Claim ``ptr`` and, for an indirect block, everything under it."""
    _claim(owner, ptr, ino, out)
    if level == 0:
        return 1
    buf = fs.bufs.get(ptr)
    n = 1
    for i in range(0, len(buf), 4):
        child = int.from_bytes(buf[i:i + 4], "little")
        if child:
            n += _tree(fs, child, level - 1, ino, owner, out)
    return n


def _expected(nbits: int, size: int, used: set[int]) -> bytearray:
    """A bitmap of ``size`` bytes: the bits in ``used`` and every bit from ``nbits`` on."""
    bm = bytearray(size)
    for i in used:
        bm[i >> 3] |= 1 << (i & 7)
    for i in range(nbits, 8 * size):
        bm[i >> 3] |= 1 << (i & 7)
    return bm


def _differ(have: bytearray, want: bytearray, base: int) -> list[int]:
    """The first few positions (plus ``base``) where two bitmaps differ."""
    out = []
    for byte, (a, b) in enumerate(zip(have, want)):
        if a != b:
            out += [base + 8 * byte + k for k in range(8) if (a ^ b) >> k & 1]
            if len(out) >= 8:
                break
    return out[:8]


def _bitmaps(fs: "Frame", blocks: set[int], inodes: set[int], out: list[str]) -> None:
    """Compare each group's bitmaps and counts with the blocks and inodes in use."""
    sb, ipg = fs.sb, fs.sb.inodes_per_group
    itb = -(-ipg * sb.inode_size // sb.block_size)
    total_fb = total_fi = 0
    for g, gd in enumerate(fs.groups):
        first, count = group_span(sb, g)
        used = set(meta_blocks(sb, g)) | {gd.block_bitmap, gd.inode_bitmap}
        used |= set(range(gd.inode_table, gd.inode_table + itb))
        used = {b - first for b in used | blocks if first <= b < first + count}
        bm = fs.bufs.get(gd.block_bitmap)
        want = _expected(count, sb.block_size, used)
        if bm != want:
            out.append(f"group {g}: block bitmap differs at {_differ(bm, want, first)}")
        free = 8 * sb.block_size - int.from_bytes(bm, "little").bit_count()
        total_fb += free
        if free != gd.free_blocks:
            out.append(f"group {g}: free blocks {gd.free_blocks}, bitmap says {free}")
        total_fi += _inode_group(fs, g, inodes, out)
    if total_fb != sb.free_blocks or total_fi != sb.free_inodes:
        out.append(f"superblock free counts {(sb.free_blocks, sb.free_inodes)}, "
                   f"groups say {(total_fb, total_fi)}")


def _inode_group(fs: "Frame", g: int, inodes: set[int], out: list[str]) -> int:
    """Compare group ``g``'s inode bitmap and counts; return its free inodes."""
    sb, gd, ipg = fs.sb, fs.groups[g], fs.sb.inodes_per_group
    bm = fs.bufs.get(gd.inode_bitmap)
    mine = {ino - 1 - g * ipg for ino in inodes if g * ipg < ino <= (g + 1) * ipg}
    want = _expected(ipg, sb.block_size, mine)
    if bm != want:
        out.append(f"group {g}: inode bitmap differs at {_differ(bm, want, g * ipg + 1)}")
    free = 8 * sb.block_size - int.from_bytes(bm, "little").bit_count()
    if free != gd.free_inodes:
        out.append(f"group {g}: free inodes {gd.free_inodes}, bitmap says {free}")
    dirs = sum(1 for i in sorted(mine) if g * ipg + i + 1 >= sb.first_ino
               and fs._iget(g * ipg + i + 1).is_dir) + (g == 0)
    if dirs != gd.used_dirs:
        out.append(f"group {g}: used dirs {gd.used_dirs}, counted {dirs}")
    return free
