"""The superblock and the group descriptors: decode (validate), encode, place.

Revision 1 ext2 (Poirier, "The Second Extended File System"; the kernel's
Documentation/filesystems/ext2). The superblock is the 1024 bytes at byte
1024; the group descriptor table starts in the block after the superblock's
(``first_data_block + 1``). Only the fields exolab reads or writes are
decoded; every other byte of the superblock is kept as it was.

Every decode raises :class:`DiskImageError` (fields ``what``, ``expected``,
``actual``) for a malformed or foreign image and never anything else.

Interface::

    Superblock.decode(raw)     -> Superblock   (raw: the 1024 superblock bytes)
    Superblock.encode()        -> bytes        (1024 bytes)
    GroupDesc.decode(raw, sb, g) / encode(into, off)
    decode_groups(table, sb)   -> list[GroupDesc]   validated against sb
    has_super(sb, g)           does group g hold a superblock backup
    meta_blocks(sb, g)         the blocks of group g that hold sb/gdt copies
    INCOMPAT_FILETYPE, RO_SPARSE_SUPER, RO_LARGE_FILE, ...
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from exolab.errors import DiskImageError

__all__ = ["Superblock", "GroupDesc", "decode_groups", "has_super", "meta_blocks",
           "MAGIC", "SB_OFFSET", "SB_SIZE", "DESC_SIZE", "ROOT_INO", "INCOMPAT_FILETYPE",
           "RO_SPARSE_SUPER", "RO_LARGE_FILE", "COMPAT_DIR_INDEX", "bad"]

MAGIC = 0xEF53
SB_OFFSET = 1024
SB_SIZE = 1024
DESC_SIZE = 32
ROOT_INO = 2
COMPAT_RESIZE_INODE = 0x0010
COMPAT_DIR_INDEX = 0x0020
INCOMPAT_FILETYPE = 0x0002
RO_SPARSE_SUPER = 0x0001
RO_LARGE_FILE = 0x0002
INCOMPAT_OK = INCOMPAT_FILETYPE             # what exolab implements
RO_OK = RO_SPARSE_SUPER | RO_LARGE_FILE

# (name, offset, struct code) of the decoded fields
_FIELDS = (
    ("inodes_count", 0, "I"), ("blocks_count", 4, "I"), ("r_blocks_count", 8, "I"),
    ("free_blocks", 12, "I"), ("free_inodes", 16, "I"), ("first_data_block", 20, "I"),
    ("log_block_size", 24, "I"), ("blocks_per_group", 32, "I"),
    ("inodes_per_group", 40, "I"), ("mtime", 44, "I"), ("wtime", 48, "I"),
    ("mnt_count", 52, "H"), ("magic", 56, "H"), ("state", 58, "H"),
    ("rev_level", 76, "I"), ("first_ino", 84, "I"), ("inode_size", 88, "H"),
    ("feature_compat", 92, "I"), ("feature_incompat", 96, "I"),
    ("feature_ro_compat", 100, "I"),
)


def bad(what: str, expected: object, actual: object) -> DiskImageError:
    """The typed error for a malformed image."""
    return DiskImageError(f"malformed ext2 image: {what}", what=what,
                          expected=expected, actual=actual)


@dataclass(slots=True)
class Superblock:
    """The decoded superblock; owned by the mounted file system."""

    raw: bytearray              # the 1024 bytes as read (undecoded fields survive)
    inodes_count: int = 0
    blocks_count: int = 0
    r_blocks_count: int = 0
    free_blocks: int = 0        # kept exact by the allocator
    free_inodes: int = 0        # kept exact by the allocator
    first_data_block: int = 0
    log_block_size: int = 0
    blocks_per_group: int = 0
    inodes_per_group: int = 0
    mtime: int = 0
    wtime: int = 0
    mnt_count: int = 0
    magic: int = 0
    state: int = 0
    rev_level: int = 0
    first_ino: int = 11
    inode_size: int = 128
    feature_compat: int = 0
    feature_incompat: int = 0
    feature_ro_compat: int = 0

    @property
    def block_size(self) -> int:
        """Bytes per block."""
        return 1024 << self.log_block_size

    @property
    def groups(self) -> int:
        """Number of block groups."""
        return -(-(self.blocks_count - self.first_data_block) // self.blocks_per_group)

    @classmethod
    def decode(cls, raw: bytes) -> "Superblock":
        """Decode and validate the superblock bytes (geometry only; see check_device)."""
        if len(raw) != SB_SIZE:
            raise bad("superblock size", SB_SIZE, len(raw))
        sb = cls(bytearray(raw))
        for name, off, code in _FIELDS:
            setattr(sb, name, struct.unpack_from("<" + code, raw, off)[0])
        if sb.rev_level == 0:
            sb.first_ino, sb.inode_size = 11, 128
        sb._validate()
        return sb

    def _validate(self) -> None:
        """Raise DiskImageError unless the geometry is possible."""
        if self.magic != MAGIC:
            raise bad("magic", hex(MAGIC), hex(self.magic))
        if self.rev_level > 1:
            raise bad("revision", "0 or 1", self.rev_level)
        if self.log_block_size > 2:
            raise bad("block size", "1024, 2048 or 4096", 1024 << min(self.log_block_size, 20))
        bs = self.block_size
        if self.first_data_block != (1 if bs == 1024 else 0):
            raise bad("first data block", 1 if bs == 1024 else 0, self.first_data_block)
        if self.blocks_per_group != 8 * bs:
            raise bad("blocks per group", 8 * bs, self.blocks_per_group)
        if not self.first_data_block + 16 <= self.blocks_count:
            raise bad("blocks count", ">= 16", self.blocks_count)
        isz = self.inode_size
        if isz < 128 or isz > bs or isz & (isz - 1):
            raise bad("inode size", "a power of two in [128, block size]", isz)
        ipg = self.inodes_per_group
        if not 1 <= ipg <= 8 * bs:
            raise bad("inodes per group", f"1..{8 * bs}", ipg)
        if self.inodes_count != ipg * self.groups:
            raise bad("inodes count", ipg * self.groups, self.inodes_count)
        if not ROOT_INO < self.first_ino < self.inodes_count:
            raise bad("first inode", f"3..{self.inodes_count - 1}", self.first_ino)
        self._validate_counts_and_features()

    def _validate_counts_and_features(self) -> None:
        """Raise DiskImageError for impossible free counts or unknown features."""
        if self.free_blocks > self.blocks_count or self.r_blocks_count > self.blocks_count:
            raise bad("free blocks count", f"<= {self.blocks_count}", self.free_blocks)
        if self.free_inodes > self.inodes_count:
            raise bad("free inodes count", f"<= {self.inodes_count}", self.free_inodes)
        if self.feature_incompat & ~INCOMPAT_OK:
            raise bad("incompatible features", hex(INCOMPAT_OK),
                      hex(self.feature_incompat))
        if self.feature_ro_compat & ~RO_OK:
            raise bad("read-only-compatible features", hex(RO_OK),
                      hex(self.feature_ro_compat))

    def encode(self) -> bytes:
        """The 1024 superblock bytes with the decoded fields written back."""
        raw = self.raw
        for name, off, code in _FIELDS:
            struct.pack_into("<" + code, raw, off, getattr(self, name))
        return bytes(raw)

    @property
    def filetype(self) -> bool:
        """Whether directory entries carry a file type byte."""
        return bool(self.feature_incompat & INCOMPAT_FILETYPE)


@dataclass(slots=True)
class GroupDesc:
    """One block group's descriptor; owned by the mounted file system."""

    block_bitmap: int
    inode_bitmap: int
    inode_table: int
    free_blocks: int        # kept exact by the allocator
    free_inodes: int        # kept exact by the allocator
    used_dirs: int          # directories whose inode is in this group
    rest: bytes             # bytes 18..32, kept as read

    def encode(self, into: bytearray, off: int) -> None:
        """Write the descriptor's 32 bytes at ``into[off:]``."""
        struct.pack_into("<IIIHHH", into, off, self.block_bitmap, self.inode_bitmap,
                         self.inode_table, self.free_blocks, self.free_inodes,
                         self.used_dirs)
        into[off + 18:off + DESC_SIZE] = self.rest


def group_span(sb: Superblock, g: int) -> tuple[int, int]:
    """First block and block count of group ``g``."""
    first = sb.first_data_block + g * sb.blocks_per_group
    return first, min(sb.blocks_per_group, sb.blocks_count - first)


def decode_groups(table: bytes, sb: Superblock) -> list[GroupDesc]:
    """Decode the descriptor table and check every field against the superblock."""
    groups = []
    itb = -(-sb.inodes_per_group * sb.inode_size // sb.block_size)
    for g in range(sb.groups):
        bb, ib, it, fb, fi, ud = struct.unpack_from("<IIIHHH", table, g * DESC_SIZE)
        first, count = group_span(sb, g)
        for what, blk, n in (("block bitmap", bb, 1), ("inode bitmap", ib, 1),
                             ("inode table", it, itb)):
            if not sb.first_data_block <= blk or blk + n > sb.blocks_count:
                raise bad(f"group {g} {what} block", f"in [1, {sb.blocks_count})", blk)
        if fb > count or fi > sb.inodes_per_group or ud > sb.inodes_per_group - fi:
            raise bad(f"group {g} counts", f"free blocks <= {count}, free inodes <= "
                      f"{sb.inodes_per_group}", (fb, fi, ud))
        rest = bytes(table[g * DESC_SIZE + 18:(g + 1) * DESC_SIZE])
        groups.append(GroupDesc(bb, ib, it, fb, fi, ud, rest))
    return groups


def _is_power(n: int, base: int) -> bool:
    """Whether ``n`` is a power of ``base`` (1 included)."""
    while n > 1 and n % base == 0:
        n //= base
    return n == 1


def has_super(sb: Superblock, g: int) -> bool:
    """Whether group ``g`` holds a superblock and descriptor-table copy."""
    if not sb.feature_ro_compat & RO_SPARSE_SUPER or g <= 1:
        return True
    return _is_power(g, 3) or _is_power(g, 5) or _is_power(g, 7)


def gdt_blocks(sb: Superblock) -> int:
    """Blocks the group descriptor table takes."""
    return -(-sb.groups * DESC_SIZE // sb.block_size)


def meta_blocks(sb: Superblock, g: int) -> range:
    """The blocks of group ``g`` that hold the superblock and descriptor copies."""
    first, _ = group_span(sb, g)
    if not has_super(sb, g):
        return range(first, first)
    return range(first, first + 1 + gdt_blocks(sb))
