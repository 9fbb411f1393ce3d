"""ext2's metadata types for XN: the templates ExOS's file system downloads.

Generated from the superblock's geometry (block size, groups, inodes per
group, inode size), with the owner principal written into every access
function. The types and what each owns:

    ext2 super      the descriptor table ("ext2 gdt"), every backup superblock
                    and descriptor copy and, with 1 KiB blocks, the boot block
                    ("ext2 backup")
    ext2 gdt        per descriptor: both bitmaps ("ext2 bitmap") and the inode
                    table's blocks ("ext2 itable")
    ext2 itable     per inode with a block map: i_block[0..11] ("ext2 data", or
                    "ext2 dir" for a directory), [12] "ext2 ind1 f|d",
                    [13] "ext2 ind2 f|d", [14] "ext2 ind3 f|d"; i_file_acl
    ext2 indN f|d   every nonzero pointer: level N-1 (or the data/dir leaf)
    ext2 data, ext2 dir, ext2 bitmap, ext2 backup    leaves (no ownership function)

Interface::

    ROOT_NAME = "ext2"       ROOT_TYPE = "ext2 super"
    root_block(block_size) -> int     the block holding the primary superblock
    templates(sb, owner) -> {type name: source}
    library_owns(sources) -> {type name: verified owns function or None (leaf)}
"""
from __future__ import annotations

from typing import Any

from exolab.safe import DETERMINISTIC, load_program_source

__all__ = ["ROOT_NAME", "ROOT_TYPE", "root_block", "templates", "library_owns"]

ROOT_NAME, ROOT_TYPE = "ext2", "ext2 super"

_ACL = '''

def acl(data, op, principal):
    return principal == {owner}


def size(data):
    return {bs}
'''

_SUPER = '''from struct import unpack_from


def _is_power(n, base):
    for _ in range(32):
        if n == 1:
            return True
        if n % base:
            return False
        n = n // base
    return False


def owns(data):
    out = []
    off = {sboff}
    blocks, first, bpg = unpack_from("<I", data, off + 4)[0], unpack_from("<I", data, off + 20)[0], unpack_from("<I", data, off + 32)[0]
    sparse = unpack_from("<I", data, off + 100)[0] & 1
    if bpg == 0:
        return out
    groups = (blocks - first + bpg - 1) // bpg
    gdt = (groups * 32 + {bs} - 1) // {bs}
    if first == 1:
        out.append((0, "ext2 backup"))
    for i in range({gdt}):
        if i < gdt:
            out.append((first + 1 + i, "ext2 gdt"))
    for g in range({groups}):
        if g == 0 or g >= groups:
            continue
        if sparse and not (g == 1 or _is_power(g, 3) or _is_power(g, 5) or _is_power(g, 7)):
            continue
        base = first + g * bpg
        for i in range({gdt1}):
            out.append((base + i, "ext2 backup"))
    return out
'''

_GDT = '''from struct import unpack_from


def owns(data):
    out = []
    for d in range({per}):
        bb, ib, it = unpack_from("<III", data, d * 32)
        if bb == 0:
            continue
        out.append((bb, "ext2 bitmap"))
        out.append((ib, "ext2 bitmap"))
        for i in range({itb}):
            out.append((it + i, "ext2 itable"))
    return out
'''

_ITABLE = '''from struct import unpack_from


def owns(data):
    out = []
    for n in range({per}):
        off = n * {isize}
        mode = unpack_from("<H", data, off)[0] & 0xF000
        nblocks = unpack_from("<I", data, off + 28)[0]
        acl_block = unpack_from("<I", data, off + 104)[0]
        if acl_block:
            out.append((acl_block, "ext2 data"))
        if not (mode == 0x8000 or mode == 0x4000 or
                (mode == 0xA000 and nblocks > (0 if acl_block == 0 else {sectors}))):
            continue
        k = "d" if mode == 0x4000 else "f"
        ptrs = unpack_from("<15I", data, off + 40)
        for i in range(15):
            b = ptrs[i]
            if b == 0:
                continue
            if i < 12:
                out.append((b, "ext2 dir" if k == "d" else "ext2 data"))
            else:
                out.append((b, "ext2 ind" + str(i - 11) + " " + k))
    return out
'''

_IND = '''from struct import unpack_from


def owns(data):
    out = []
    p = unpack_from("<{n}I", data, 0)
    for i in range({n}):
        if p[i]:
            out.append((p[i], "{child}"))
    return out
'''


def root_block(block_size: int) -> int:
    """The block holding the primary superblock (byte 1024)."""
    return 1024 // block_size


def templates(sb: Any, owner: int) -> dict[str, str]:
    """Every ext2 template for the geometry of superblock ``sb``, owned by ``owner``."""
    bs = sb.block_size
    acl = _ACL.format(owner=int(owner), bs=bs)
    groups = sb.groups
    gdt = (groups * 32 + bs - 1) // bs
    itb = sb.inodes_per_group * sb.inode_size // bs
    out = {
        "ext2 super": _SUPER.format(sboff=1024 % bs if bs > 1024 else 0, bs=bs,
                                    groups=groups, gdt=gdt, gdt1=gdt + 1) + acl,
        "ext2 gdt": _GDT.format(per=bs // 32, itb=itb) + acl,
        "ext2 itable": _ITABLE.format(per=bs // sb.inode_size, isize=sb.inode_size,
                                      sectors=bs // 512) + acl,
    }
    for k, leaf in (("f", "ext2 data"), ("d", "ext2 dir")):
        out[f"ext2 ind1 {k}"] = _IND.format(n=bs // 4, child=leaf) + acl
        out[f"ext2 ind2 {k}"] = _IND.format(n=bs // 4, child=f"ext2 ind1 {k}") + acl
        out[f"ext2 ind3 {k}"] = _IND.format(n=bs // 4, child=f"ext2 ind2 {k}") + acl
    for leaf in ("ext2 data", "ext2 dir", "ext2 bitmap", "ext2 backup"):
        out[leaf] = acl.lstrip("\n")
    return out


def library_owns(sources: dict[str, str]) -> dict[str, Any]:
    """The library's own verified copies of the ownership functions (None: a leaf)."""
    out: dict[str, Any] = {}
    for name, src in sources.items():
        out[name] = (load_program_source(src, f"<{name}>", "owns", DETERMINISTIC)
                     if "def owns(" in src else None)
    return out
