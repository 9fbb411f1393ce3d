"""Block and inode allocation over the group bitmaps, with every count kept exact.

Each group has a block bitmap (bit i: block ``first_data_block + g*bpg + i``)
and an inode bitmap (bit i: inode ``g*ipg + i + 1``). Allocating or freeing
flips one bit and adjusts the group's and the superblock's free count (and
the group's used-directory count for directory inodes) in the same step, so
bitmaps, descriptors and superblock always agree. Policy: blocks first-fit
from a goal block (the file's previous block, else its inode's group); a new
directory's inode goes to the group with the most free inodes, a file's to
its parent's group first (Poirier, "Allocating").

Errors: ENOSPC (SyscallError) when nothing is free; DiskImageError when a
bitmap contradicts the descriptors (a bit claimed free beyond the group, a
double free) -- the image is corrupt.

Interface::

    Allocator(sb, groups, bufs)
      alloc_block(goal) -> n        free_block(n)
      alloc_inode(parent, is_dir) -> ino        free_inode(ino, is_dir)
      block_in_use(n), inode_in_use(ino)        bitmap queries (checks, tests)
      block_bitmap(n) -> the bitmap block holding block n's bit
      meta_dirty                    descriptors/superblock changed since the last commit
      begin()   rollback()          an operation's journal: rollback restores every
                                    count, held free and meta_dirty as begin found them
                                    (bitmap bytes live in the operation's buffers)
      defer_frees                   True: frees are held (not reusable) until
      release_deferred() -> int     clears their bits (a placement calls it when
                                    every on-disk pointer to them is cleared)

A device with ``attach_allocator(allocator)`` (a placement that may refuse a block
the bitmap calls free: another library took it, see libos/exos/fs_xn.py) is
handed the allocator at mount.

Deferred frees are the second ordering rule of issue 14 for a placement that
writes back lazily: a block or inode freed since the last durable sync is not
handed out again (its old owner may still point at it on the disk), and its
free bit is set only in the operation that releases it.

The journal makes a failed operation atomic (the frame calls :meth:`begin` as
it starts and :meth:`rollback` when it fails, even half-way through its
write-out): the first change of a group's counts saves them, a held free is
logged, a release saves the held sets; nothing is copied for an operation
that changes nothing.
"""
from __future__ import annotations

from exolab.errors import SyscallError
from exolab.services.ext2.buffers import BITMAP, Buffers
from exolab.services.ext2.layout import GroupDesc, Superblock, bad, group_span

__all__ = ["Allocator"]


def _first_clear(bm: bytearray, start: int, limit: int) -> int:
    """Index of the first clear bit in ``[start, limit)`` of ``bm``, else -1."""
    while start < limit:
        byte = start >> 3
        if start & 7 == 0:
            tail = bm[byte:(limit + 7) >> 3]
            skip = len(tail) - len(tail.lstrip(b"\xff"))
            start = (byte + skip) << 3
            if start >= limit:
                return -1
            byte = start >> 3
        if not bm[byte] >> (start & 7) & 1:
            return start
        start += 1
    return -1


class Allocator:
    """The free maps of one mounted file system; owns the descriptors' counts."""

    __slots__ = ("sb", "groups", "bufs", "meta_dirty", "defer_frees", "_held_blocks",
                 "_held_inodes", "_saved", "_log", "_released", "_meta0")

    def __init__(self, sb: Superblock, groups: list[GroupDesc], bufs: Buffers) -> None:
        self.sb = sb
        self.groups = groups
        self.bufs = bufs
        self.meta_dirty = False     # set by every count change; cleared by the fs
        self.defer_frees = False    # hold frees until release_deferred (write-back)
        self._held_blocks: set[int] = set()
        self._held_inodes: dict[int, bool] = {}     # ino -> is_dir
        # the journal of the running operation (begin/rollback)
        self._saved: dict[int, tuple[int, int, int]] = {}  # group -> counts at begin
        self._log: list[tuple[str, int]] = []       # held frees added ("b"/"i", n)
        self._released: tuple[set[int], dict[int, bool]] | None = None
        self._meta0 = False                         # meta_dirty at begin
        attach = getattr(bufs.dev, "attach_allocator", None)   # (fs_xn.XNBlocks)
        if attach is not None:
            attach(self)

    # -- blocks ----------------------------------------------------------------------

    def alloc_block(self, goal: int) -> int:
        """Allocate a free block, the first at or after ``goal`` if possible."""
        sb = self.sb
        if not sb.first_data_block <= goal < sb.blocks_count:
            goal = sb.first_data_block
        g0 = (goal - sb.first_data_block) // sb.blocks_per_group
        n = len(self.groups)
        for k in range(n + 1):
            g = (g0 + k) % n
            if self.groups[g].free_blocks == 0:
                continue
            start = goal - group_span(sb, g)[0] if k == 0 else 0
            got = self._take_block(g, start)
            if got < 0 and k == 0:
                continue
            if got >= 0:
                return got
        raise SyscallError("ENOSPC", "no free block")

    def _take_block(self, g: int, start: int) -> int:
        """Set the first clear bit at/after ``start`` in group ``g``; its block or -1."""
        gd = self.groups[g]
        first, count = group_span(self.sb, g)
        bm = self.bufs.get(gd.block_bitmap)
        self.bufs.charge("ext2.bitmap", max(1, (count - start) >> 3))
        i = _first_clear(bm, start, count)
        if i < 0:
            if start == 0:
                raise bad(f"group {g} block bitmap", "a free bit", "none free")
            return -1
        bm[i >> 3] |= 1 << (i & 7)
        self.bufs.dirty(gd.block_bitmap, BITMAP)
        self._note(g)
        gd.free_blocks -= 1
        self.sb.free_blocks -= 1
        self.meta_dirty = True
        return first + i

    def free_block(self, n: int) -> None:
        """Return block ``n`` to its group's free map (held, if frees are deferred)."""
        sb = self.sb
        if not sb.first_data_block <= n < sb.blocks_count:
            raise bad("freed block", f"in [{sb.first_data_block}, {sb.blocks_count})", n)
        if self.defer_frees:
            if n in self._held_blocks or not self.block_in_use(n):
                raise bad("freed block", "an allocated block", n)
            self._held_blocks.add(n)
            self._log.append(("b", n))
            return
        self._clear_block(n)

    def _clear_block(self, n: int) -> None:
        """Clear block ``n``'s bit and count it free."""
        sb = self.sb
        g, i = divmod(n - sb.first_data_block, sb.blocks_per_group)
        gd = self.groups[g]
        bm = self.bufs.get(gd.block_bitmap)
        if not bm[i >> 3] >> (i & 7) & 1:
            raise bad("freed block", "an allocated block", n)
        bm[i >> 3] &= ~(1 << (i & 7)) & 0xFF
        self.bufs.dirty(gd.block_bitmap, BITMAP)
        self._note(g)
        gd.free_blocks += 1
        sb.free_blocks += 1
        self.meta_dirty = True

    def block_bitmap(self, n: int) -> int:
        """The block bitmap block that holds block ``n``'s bit."""
        g = (n - self.sb.first_data_block) // self.sb.blocks_per_group
        return self.groups[g].block_bitmap

    def block_in_use(self, n: int) -> bool:
        """Whether block ``n``'s bitmap bit is set."""
        sb = self.sb
        g, i = divmod(n - sb.first_data_block, sb.blocks_per_group)
        return bool(self.bufs.get(self.groups[g].block_bitmap)[i >> 3] >> (i & 7) & 1)

    # -- inodes ----------------------------------------------------------------------

    def alloc_inode(self, parent: int, is_dir: bool) -> int:
        """Allocate an inode (a directory's where most inodes are free)."""
        ipg, n = self.sb.inodes_per_group, len(self.groups)
        if is_dir:
            order = sorted(range(n), key=lambda g: (-self.groups[g].free_inodes, g))
        else:
            p = (parent - 1) // ipg
            order = [(p + k) % n for k in range(n)]
        for g in order:
            if self.groups[g].free_inodes:
                return self._take_inode(g, is_dir)
        raise SyscallError("ENOSPC", "no free inode")

    def _take_inode(self, g: int, is_dir: bool) -> int:
        """Set the first clear bit of group ``g``'s inode bitmap; return its inode."""
        sb, gd = self.sb, self.groups[g]
        ipg = sb.inodes_per_group
        bm = self.bufs.get(gd.inode_bitmap)
        start = sb.first_ino - 1 - g * ipg if g * ipg < sb.first_ino - 1 else 0
        i = _first_clear(bm, start, ipg)
        if i < 0:
            raise bad(f"group {g} inode bitmap", "a free bit", "none free")
        bm[i >> 3] |= 1 << (i & 7)
        self.bufs.dirty(gd.inode_bitmap, BITMAP)
        self._note(g)
        gd.free_inodes -= 1
        sb.free_inodes -= 1
        gd.used_dirs += is_dir
        self.meta_dirty = True
        return g * ipg + i + 1

    def free_inode(self, ino: int, is_dir: bool) -> None:
        """Return inode ``ino`` to its group's free map (held, if frees are deferred)."""
        if self.defer_frees:
            if ino in self._held_inodes or not self.inode_in_use(ino):
                raise bad("freed inode", "an allocated inode", ino)
            self._held_inodes[ino] = is_dir
            self._log.append(("i", ino))
            return
        self._clear_inode(ino, is_dir)

    def _clear_inode(self, ino: int, is_dir: bool) -> None:
        """Clear inode ``ino``'s bit and count it free."""
        sb = self.sb
        g, i = divmod(ino - 1, sb.inodes_per_group)
        gd = self.groups[g]
        bm = self.bufs.get(gd.inode_bitmap)
        if not bm[i >> 3] >> (i & 7) & 1:
            raise bad("freed inode", "an allocated inode", ino)
        bm[i >> 3] &= ~(1 << (i & 7)) & 0xFF
        self.bufs.dirty(gd.inode_bitmap, BITMAP)
        self._note(g)
        gd.free_inodes += 1
        sb.free_inodes += 1
        gd.used_dirs -= is_dir
        self.meta_dirty = True

    def inode_in_use(self, ino: int) -> bool:
        """Whether inode ``ino``'s bitmap bit is set."""
        g, i = divmod(ino - 1, self.sb.inodes_per_group)
        return bool(self.bufs.get(self.groups[g].inode_bitmap)[i >> 3] >> (i & 7) & 1)

    # -- deferred frees --------------------------------------------------------------

    def held(self) -> int:
        """How many blocks and inodes are freed but held (deferred)."""
        return len(self._held_blocks) + len(self._held_inodes)

    def release_deferred(self) -> int:
        """Clear the bits of every held block and inode (inside an operation frame);
        return how many were released."""
        n = self.held()
        if self._released is None:
            self._released = (set(self._held_blocks), dict(self._held_inodes))
        for blk in sorted(self._held_blocks):
            self._clear_block(blk)
        for ino, is_dir in sorted(self._held_inodes.items()):
            self._clear_inode(ino, is_dir)
        self._held_blocks.clear()
        self._held_inodes.clear()
        return n

    # -- the journal of one operation ------------------------------------------------

    def begin(self) -> None:
        """Start an operation's journal (forgetting the last one's)."""
        self._saved.clear()
        self._log.clear()
        self._released = None
        self._meta0 = self.meta_dirty

    def _note(self, g: int) -> None:
        """Save group ``g``'s counts before this operation first changes them."""
        if g not in self._saved:
            gd = self.groups[g]
            self._saved[g] = (gd.free_blocks, gd.free_inodes, gd.used_dirs)

    def rollback(self) -> None:
        """Undo every count change and held free since :meth:`begin`."""
        sb = self.sb
        for g, (fb, fi, ud) in self._saved.items():
            gd = self.groups[g]
            sb.free_blocks += fb - gd.free_blocks
            sb.free_inodes += fi - gd.free_inodes
            gd.free_blocks, gd.free_inodes, gd.used_dirs = fb, fi, ud
        if self._released is not None:
            self._held_blocks, self._held_inodes = self._released
        for kind, n in reversed(self._log):
            if kind == "b":
                self._held_blocks.discard(n)
            else:
                self._held_inodes.pop(n, None)
        self.meta_dirty = self._meta0
        self.begin()
