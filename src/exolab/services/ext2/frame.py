"""The frame of a mounted ext2: mount, the operation frame, inodes, path lookup.

:class:`Frame` holds one mounted file system's state (superblock, descriptors,
buffers, allocator, inode table, block map, directories) and runs every
operation inside :meth:`Frame._call`: charge it, run its body, then write
every block it changed through the device (see :mod:`buffers`), so the
image is consistent after each call. A malformed image raises DiskImageError
(at mount, or when an operation meets the bad block) and nothing is written.

An operation is atomic: if its body raises (an errno, ENOSPC half-way through
an allocation, a damaged block) or its write-out fails part-way (the device
refuses a block), everything it changed is undone -- its buffers are dropped
(the written ones restored, :mod:`buffers`), the allocator's counts and held
frees rolled back (:meth:`Allocator.rollback`), the superblock fields it set,
the open counts and the names-since-sync it recorded restored (a journal of
each change, :meth:`Frame._put`/:meth:`Frame._drop`) -- and the error goes
on, so the file system is exactly as before the call.

Interface::

    Frame.mount(dev, *, clock=None, charge=no_charge, check_tree=True)
    _call(fn, *args)      run one operation (atomic)  _iget(ino) -> Inode (shared)
    _put(map, key, v)     _drop(map, key)    a journaled change of _open / _placed
    _resolve(path)        _parent(path) -> (dir, name)      _handle(ino) -> Inode
    _destroy(node)        free an inode with no names and no opens
    sync()   settled(inodes=None)    statistics() -> Ext2Stats
    release_deferred()    free what deferred frees hold (a write-back placement)
    set_clean(clean)      the superblock's cleanly-unmounted bit
    Stat, Ext2Stats, NAME_MAX, LINK_MAX
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from exolab.errors import SyscallError
from exolab.services.ext2.alloc import Allocator
from exolab.services.ext2.buffers import SUPER, Buffers
from exolab.services.ext2.directory import FT_DIR, Directories
from exolab.services.ext2.inode import BlockMap, Inode, InodeTable, has_block_map
from exolab.services.ext2.interfaces import (BlockIO, Charge, Clock, ManualClock,
                                             Reblocked, no_charge)
from exolab.services.ext2.layout import (DESC_SIZE, ROOT_INO, SB_OFFSET, SB_SIZE,
                                         GroupDesc, Superblock, bad, decode_groups,
                                         gdt_blocks)

__all__ = ["Frame", "Stat", "Ext2Stats", "NAME_MAX", "LINK_MAX"]

NAME_MAX = 255
LINK_MAX = 65000
_GONE = object()        # the journal's "the key was absent"
_F = TypeVar("_F", bound="Frame")

@dataclass(frozen=True, slots=True)
class Stat:
    """What stat reports of one inode."""

    ino: int
    mode: int
    links: int
    size: int
    blocks: int         # 512-byte units held (i_blocks)
    uid: int
    gid: int
    atime: int
    mtime: int
    ctime: int


@dataclass(frozen=True, slots=True)
class Ext2Stats:
    """Counters of one mounted file system."""

    ops: int            # operations started
    block_reads: int    # blocks read through the device
    block_writes: int   # blocks written through the device
    bytes_copied: int   # bytes copied between callers and blocks
    flushes: int        # device flushes (fsync, sync)


def _err(errno: str, what: str, **fields: Any) -> SyscallError:
    """A SyscallError with the errno first in its message."""
    return SyscallError(errno, f"{errno}: {what}", **fields)


def _name(comp: str) -> bytes:
    """A path component as directory-entry bytes (ENAMETOOLONG, EINVAL)."""
    raw = comp.encode("utf-8", "surrogateescape")
    if len(raw) > NAME_MAX:
        raise _err("ENAMETOOLONG", "name longer than 255 bytes", length=len(raw))
    if b"\0" in raw:
        raise _err("EINVAL", "name contains NUL")
    return raw


def _split(path: Any) -> list[bytes]:
    """The components of ``path`` (an exact str), empty ones dropped."""
    if type(path) is not str:
        raise _err("EINVAL", "path must be a str")
    try:
        return [_name(c) for c in path.split("/") if c]
    except UnicodeEncodeError:
        raise _err("EINVAL", "path is not encodable") from None


def _nat(x: Any, what: str) -> int:
    """``x`` as a non-negative exact int (EINVAL otherwise)."""
    if type(x) is not int or x < 0:
        raise _err("EINVAL", f"{what} must be an int >= 0", argument=what)
    return x


class Frame:
    """One mounted ext2 file system: its state, the operation frame, name lookup."""

    __slots__ = ("dev", "clock", "charge", "sb", "groups", "bufs", "alloc", "itab",
                 "bmap", "dirs", "_nodes", "_dirty", "_open", "_n", "_placed", "_journal")

    def __init__(self, dev: BlockIO, sb: Superblock, groups: list[GroupDesc],
                 clock: Clock, charge: Charge) -> None:
        self.dev = dev                  # fs-block-sized view of the device
        self.clock = clock
        self.charge = charge
        self.sb = sb
        self.groups = groups
        self.bufs = Buffers(dev, charge, sb.blocks_count)
        self.alloc = Allocator(sb, groups, self.bufs)
        self.itab = InodeTable(sb, groups, self.bufs)
        self.bmap = BlockMap(sb, self.bufs, self.alloc)
        self.dirs = Directories(sb, self.bufs, self.bmap)
        self._nodes: dict[int, Inode] = {}     # inodes read this operation
        self._dirty: set[int] = set()          # of those, the changed ones
        self._open: dict[int, int] = {}        # ino -> open count (deferred delete)
        self._n = {"ops": 0, "copied": 0, "flushes": 0}
        # ino -> (directory, moved): names given since the last full sync (fsync.py)
        self._placed: dict[int, tuple[int, bool]] = {}
        # the running operation's changes of _open and _placed: (map, key, old value)
        self._journal: list[tuple[dict[int, Any], int, Any]] = []

    # -- mount -----------------------------------------------------------------------

    @classmethod
    def mount(cls: type[_F], dev: BlockIO, *, clock: Clock | None = None,
              charge: Charge = no_charge, check_tree: bool = True) -> _F:
        """Mount the ext2 image on ``dev``; DiskImageError if it is malformed."""
        sb = _read_super(dev)
        if sb.blocks_count * sb.block_size > dev.blocks * dev.block_size:
            raise bad("blocks count", f"<= device size {dev.blocks * dev.block_size}",
                      sb.blocks_count * sb.block_size)
        fsdev = dev if dev.block_size == sb.block_size else Reblocked(dev, sb.block_size)
        table = b"".join(fsdev.read_block(sb.first_data_block + 1 + i)
                         for i in range(gdt_blocks(sb)))
        groups = decode_groups(table, sb)
        sb.free_blocks = sum(g.free_blocks for g in groups)     # as Linux does at mount
        sb.free_inodes = sum(g.free_inodes for g in groups)
        fs = cls(fsdev, sb, groups, clock or ManualClock(), charge)
        root = fs._call(fs._iget, ROOT_INO)
        if not root.is_dir or root.links < 2:
            raise bad("root inode", "a directory", oct(root.mode))
        if check_tree:
            fs._call(fs._walk)
        return fs

    def _walk(self) -> None:
        """Visit every directory once from the root; a second visit is a loop."""
        seen, todo = {ROOT_INO}, [ROOT_INO]
        while todo:
            d = self._iget(todo.pop())
            if not d.is_dir:
                raise bad("directory inode", "a directory", d.ino)
            for _, _, ino, name, ft in self.dirs.scan(d):
                if name in (b".", b".."):
                    continue
                if ft not in (0, FT_DIR) or not (ft or self._iget(ino).is_dir):
                    continue
                if ino in seen:
                    raise bad("directory tree", "no loops", f"inode {ino} reached twice")
                seen.add(ino)
                todo.append(ino)
            self._nodes.clear()

    # -- the operation frame ---------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one operation: charge it, run its body, write what it changed; if
        either fails, undo everything it changed (:meth:`_rollback`) and raise."""
        self._n["ops"] += 1
        self.charge("ext2.op", 1)
        sb = self.sb
        saved = (sb.state, sb.mnt_count, sb.wtime)
        self._journal.clear()
        self.alloc.begin()
        try:
            out = fn(*args)
            self._commit()
        except BaseException:
            self._rollback(saved)
            raise
        return out

    def _rollback(self, saved: tuple[int, int, int]) -> None:
        """Undo the running operation: buffers, counts, held frees, journal, superblock."""
        self.bufs.abort()
        self._nodes.clear()
        self._dirty.clear()
        self.alloc.rollback()
        for mapping, key, old in reversed(self._journal):
            if old is _GONE:
                mapping.pop(key, None)
            else:
                mapping[key] = old
        self._journal.clear()
        self.sb.state, self.sb.mnt_count, self.sb.wtime = saved

    def _put(self, mapping: dict[int, Any], key: int, value: Any) -> None:
        """``mapping[key] = value``, journaled (``mapping`` is _open or _placed)."""
        self._journal.append((mapping, key, mapping.get(key, _GONE)))
        mapping[key] = value

    def _drop(self, mapping: dict[int, Any], key: int) -> None:
        """``mapping.pop(key)``, journaled."""
        if key in mapping:
            self._journal.append((mapping, key, mapping.pop(key)))

    def _commit(self) -> None:
        """Encode changed inodes, descriptors and superblock; write every dirty block."""
        for ino in sorted(self._dirty):
            self.itab.write(self._nodes[ino])
        if self.alloc.meta_dirty:
            self._put_meta()
            self.alloc.meta_dirty = False
        self.bufs.commit()
        self._nodes.clear()
        self._dirty.clear()

    def _put_meta(self) -> None:
        """Write the primary superblock and descriptor table into their blocks."""
        sb, bs = self.sb, self.sb.block_size
        sb.wtime = self.clock.now()
        sblk, soff = divmod(SB_OFFSET, bs)
        buf = self.bufs.get(sblk)
        buf[soff:soff + SB_SIZE] = sb.encode()
        self.bufs.dirty(sblk, SUPER)
        per = bs // DESC_SIZE
        for i in range(gdt_blocks(sb)):
            blk = sb.first_data_block + 1 + i
            buf = self.bufs.get(blk)
            for j, gd in enumerate(self.groups[i * per:(i + 1) * per]):
                gd.encode(buf, j * DESC_SIZE)
            self.bufs.dirty(blk, SUPER)

    def _iget(self, ino: int) -> Inode:
        """Inode ``ino``, shared by everything in this operation."""
        node = self._nodes.get(ino)
        if node is None:
            node = self._nodes[ino] = self.itab.read(ino)
        return node

    def _touch(self, node: Inode, data: bool = True) -> None:
        """Mark ``node`` changed now (ctime, and mtime if ``data``)."""
        t = self.clock.now()
        node.ctime = t
        if data:
            node.mtime = t
        self._dirty.add(node.ino)

    # -- names -----------------------------------------------------------------------

    def _lookup(self, d: Inode, name: bytes) -> int:
        """The inode ``name`` names in directory ``d`` (ENOTDIR, ENOENT)."""
        if not d.is_dir:
            raise _err("ENOTDIR", "not a directory", ino=d.ino)
        ino = self.dirs.lookup(d, name)
        if ino == 0:
            raise _err("ENOENT", "no such file or directory", name=name)
        return ino

    def _resolve(self, path: Any) -> Inode:
        """The inode ``path`` names."""
        node = self._iget(ROOT_INO)
        for comp in _split(path):
            node = self._iget(self._lookup(node, comp))
        if path.endswith("/") and not node.is_dir:
            raise _err("ENOTDIR", "not a directory", path=path)
        return node

    def _parent(self, path: Any) -> tuple[Inode, bytes]:
        """(directory, last name) of ``path``; EINVAL for "/" itself."""
        comps = _split(path)
        if not comps:
            raise _err("EINVAL", "the root has no parent", path=path)
        d = self._iget(ROOT_INO)
        for comp in comps[:-1]:
            d = self._iget(self._lookup(d, comp))
        if not d.is_dir:
            raise _err("ENOTDIR", "not a directory", path=path)
        return d, comps[-1]

    def _handle(self, ino: Any) -> Inode:
        """The in-use inode an open handle names (EBADF otherwise)."""
        if type(ino) is not int or not 1 <= ino <= self.sb.inodes_count:
            raise _err("EBADF", "not an open file", ino=ino)
        node = self._iget(ino)
        if node.mode == 0 or (node.links == 0 and ino not in self._open):
            raise _err("EBADF", "not an open file", ino=ino)
        return node

    def _copied(self, n: int) -> None:
        """Charge and count ``n`` bytes copied."""
        if n:
            self._n["copied"] += n
            self.charge("ext2.copy", n)

    def _destroy(self, node: Inode) -> None:
        """Free ``node``'s blocks and its inode (its last link and open are gone)."""
        if has_block_map(node):
            self.bmap.truncate(node, 0)
        node.size, node.links = 0, 0
        node.dtime = max(1, self.clock.now())
        self._dirty.add(node.ino)
        self._drop(self._placed, node.ino)
        self.alloc.free_inode(node.ino, node.is_dir)

    def set_clean(self, clean: bool) -> None:
        """One operation: mark the superblock's state cleanly unmounted (``clean``)
        or mounted and possibly inconsistent (Linux's EXT2_VALID_FS bit; a checker
        run with -p checks an image only when it is not marked clean)."""
        def mark() -> None:
            self.sb.state = self.sb.state | 1 if clean else self.sb.state & ~1
            if not clean:
                self.sb.mnt_count = (self.sb.mnt_count + 1) & 0xFFFF
            self.alloc.meta_dirty = True
        self._call(mark)

    def release_deferred(self) -> int:
        """One operation: free the blocks and inodes held by deferred frees
        (``alloc.defer_frees``); return how many."""
        return int(self._call(self.alloc.release_deferred))

    def sync(self) -> None:
        """Flush the device: every completed operation becomes durable."""
        self._n["flushes"] += 1
        self.charge("ext2.flush", 1)
        self.dev.flush()
        self.settled()

    def settled(self, inodes: Any = None) -> None:
        """Forget the names given since the last full sync (a placement calls this
        after its own full sync: they are all on the disk now), or only those of
        ``inodes`` (after one file's sync wrote them)."""
        if inodes is None:
            self._placed.clear()
        for ino in inodes or ():
            self._placed.pop(ino, None)

    def statistics(self) -> Ext2Stats:
        """A frozen snapshot of the counters."""
        n = self._n
        return Ext2Stats(n["ops"], self.bufs.reads, self.bufs.writes, n["copied"],
                         n["flushes"])


def _read_super(dev: BlockIO) -> Superblock:
    """Read and decode the primary superblock from ``dev`` (any block size)."""
    bs = dev.block_size
    if dev.blocks * bs < SB_OFFSET + SB_SIZE:
        raise bad("device size", f">= {SB_OFFSET + SB_SIZE} bytes", dev.blocks * bs)
    first, last = SB_OFFSET // bs, (SB_OFFSET + SB_SIZE - 1) // bs
    raw = b"".join(dev.read_block(b) for b in range(first, last + 1))
    off = SB_OFFSET - first * bs
    return Superblock.decode(raw[off:off + SB_SIZE])

