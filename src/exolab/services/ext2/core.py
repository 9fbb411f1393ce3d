"""The core of a mounted ext2: the operation frame, name lookup, the file operations.

A mounted file system (:class:`exolab.services.ext2.fs.Ext2`, built on this) names open files by inode number (the placement's fd
table maps fds and offsets onto it). Every operation is decode (check the
arguments and the names, raise SyscallError with a POSIX errno, change
nothing) then invoke (mutate through the allocator, block map and
directories), and ends by writing every block it changed through the
device (see :mod:`buffers`): the image is consistent after each call.
``fsync``/``sync`` then flush the device. A malformed image raises
DiskImageError (at mount, or when a later operation meets the bad block).

Costs: each operation charges ``ext2.op``; see :mod:`interfaces` for the rest.
Times come from the clock (no atime updates: noatime).

Interface::

    FileOps.mount(dev, *, clock=None, charge=no_charge, check_tree=True)
    open(path, flags=O_RDONLY, mode=0o644) -> ino     close(ino)
    read(ino, offset, n) -> bytes      write(ino, offset, data) -> int (short on ENOSPC)
    truncate(ino, size)    fsync(ino)    sync()
    statistics() -> Ext2Stats          sb, groups, alloc, bmap, dirs  (checks, tools)
    Stat, Ext2Stats
    O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_DIRECTORY
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from exolab.errors import DiskImageError, SyscallError
from exolab.services.ext2.alloc import Allocator
from exolab.services.ext2.buffers import SUPER, Buffers
from exolab.services.ext2.directory import FT_DIR, Directories, ftype_of
from exolab.services.ext2.inode import (S_IFDIR, S_IFREG, BlockMap, Inode, InodeTable,
                                        has_block_map)
from exolab.services.ext2.interfaces import (BlockIO, Charge, Clock, ManualClock,
                                             Reblocked, no_charge)
from exolab.services.ext2.layout import (DESC_SIZE, ROOT_INO, SB_OFFSET, SB_SIZE,
                                         GroupDesc, Superblock, bad, decode_groups,
                                         gdt_blocks)

__all__ = ["FileOps", "Stat", "Ext2Stats", "O_RDONLY", "O_WRONLY", "O_RDWR", "O_CREAT",
           "O_EXCL", "O_TRUNC", "O_DIRECTORY", "NAME_MAX", "LINK_MAX"]

O_RDONLY, O_WRONLY, O_RDWR, O_ACCMODE = 0, 1, 2, 3
O_CREAT, O_EXCL, O_TRUNC, O_DIRECTORY = 0o100, 0o200, 0o1000, 0o200000
_FLAGS = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_DIRECTORY
NAME_MAX = 255
LINK_MAX = 65000
_F = TypeVar("_F", bound="FileOps")


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


class FileOps:
    """A mounted ext2 file system: the frame, name lookup and the file operations."""

    __slots__ = ("dev", "clock", "charge", "sb", "groups", "bufs", "alloc", "itab",
                 "bmap", "dirs", "_nodes", "_dirty", "_open", "_n")

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
        """Run one operation: charge it, then write what it changed (even on error)."""
        self._n["ops"] += 1
        self.charge("ext2.op", 1)
        try:
            out = fn(*args)
        except DiskImageError:
            self.bufs.abort()
            self._nodes.clear()
            self._dirty.clear()
            raise
        except BaseException:
            self._commit()
            raise
        self._commit()
        return out

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

    # -- open, close, read, write, truncate -------------------------------------------

    def open(self, path: str, flags: int = O_RDONLY, mode: int = 0o644) -> int:
        """Open (or with O_CREAT create) ``path``; return its inode number."""
        return self._call(self._open_op, path, flags, mode)  # type: ignore[no-any-return]

    def _open_op(self, path: Any, flags: Any, mode: Any) -> int:
        """open's body."""
        if type(flags) is not int or flags & ~_FLAGS or flags & O_ACCMODE == 3:
            raise _err("EINVAL", "bad open flags", flags=flags)
        if type(mode) is not int or not 0 <= mode <= 0o7777:
            raise _err("EINVAL", "bad mode", mode=mode)
        if flags & O_CREAT:
            d, name = self._parent(path)
            ino = self.dirs.lookup(d, name)
            if ino and flags & O_EXCL:
                raise _err("EEXIST", "file exists", path=path)
            node = self._iget(ino) if ino else self._create(d, name, S_IFREG | mode)
        else:
            node = self._resolve(path)
        writing = flags & O_ACCMODE != O_RDONLY or flags & O_TRUNC
        if node.is_dir and writing:
            raise _err("EISDIR", "is a directory", path=path)
        if flags & O_DIRECTORY and not node.is_dir:
            raise _err("ENOTDIR", "not a directory", path=path)
        if flags & O_TRUNC and node.is_reg and node.size:
            self._truncate(node, 0)
        self._open[node.ino] = self._open.get(node.ino, 0) + 1
        return node.ino

    def _create(self, d: Inode, name: bytes, mode: int) -> Inode:
        """A new inode of ``mode`` linked as ``name`` in ``d``."""
        if name in (b".", b".."):
            raise _err("EEXIST", "file exists", name=name)
        is_dir = mode & S_IFDIR == S_IFDIR
        ino = self.alloc.alloc_inode(d.ino, is_dir)
        node = self._nodes[ino] = self.itab.fresh(ino, mode, self.clock.now())
        node.links = 1
        self._dirty.add(ino)
        try:
            if is_dir:
                node.links = 2
                self.dirs.init(node, d.ino)
            self.dirs.add(d, name, ino, ftype_of(mode))
        except SyscallError:
            self._destroy(node)
            raise
        finally:
            self._dirty.add(d.ino)
        self._touch(d)
        return node

    def close(self, ino: int) -> None:
        """Drop one open reference; a file with no links and no opens is freed."""
        self._call(self._close, ino)

    def _close(self, ino: Any) -> None:
        """close's body."""
        node = self._handle(ino)
        if ino not in self._open:
            raise _err("EBADF", "not an open file", ino=ino)
        self._open[ino] -= 1
        if self._open[ino] == 0:
            del self._open[ino]
            if node.links == 0:
                self._destroy(node)

    def read(self, ino: int, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes of the file at ``offset`` (fewer at its end)."""
        return self._call(self._read, ino, offset, n)  # type: ignore[no-any-return]

    def _read(self, ino: Any, offset: Any, n: Any) -> bytes:
        """read's body."""
        node = self._handle(ino)
        offset, n = _nat(offset, "offset"), _nat(n, "count")
        if node.is_dir:
            raise _err("EISDIR", "is a directory", ino=ino)
        n = max(0, min(n, node.size - offset))
        bs, out = self.sb.block_size, []
        pos, end = offset, offset + n
        while pos < end:
            lblk, off = divmod(pos, bs)
            take = min(bs - off, end - pos)
            pblk = self.bmap.lookup(node, lblk)
            if pblk == 0:
                out.append(bytes(take))
            else:
                blk = self.bufs.peek(pblk)
                out.append(blk if take == bs else blk[off:off + take])
            pos += take
        self._copied(n)
        return b"".join(out)

    def _copied(self, n: int) -> None:
        """Charge and count ``n`` bytes copied."""
        if n:
            self._n["copied"] += n
            self.charge("ext2.copy", n)

    def write(self, ino: int, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset`` (growing, leaving holes); return bytes written."""
        return self._call(self._write, ino, offset, data)  # type: ignore[no-any-return]

    def _write(self, ino: Any, offset: Any, data: Any) -> int:
        """write's body; a short count when the disk fills part-way."""
        node = self._handle(ino)
        offset = _nat(offset, "offset")
        if type(data) not in (bytes, bytearray):
            raise _err("EINVAL", "data must be bytes", argument="data")
        if node.is_dir:
            raise _err("EISDIR", "is a directory", ino=ino)
        bs, end = self.sb.block_size, offset + len(data)
        if end > self.bmap.max_blocks * bs:
            raise _err("EFBIG", "file too large", end=end)
        pos = offset
        try:
            while pos < end:
                lblk, off = divmod(pos, bs)
                take = min(bs - off, end - pos)
                pblk, _ = self.bmap.ensure(node, lblk)
                buf = self.bufs.get(pblk)
                buf[off:off + take] = data[pos - offset:pos - offset + take]
                self.bufs.dirty(pblk)
                pos += take
        except SyscallError:
            if pos == offset:
                raise
        finally:
            node.size = max(node.size, pos) if pos > offset else node.size
            self._touch(node)
        self._copied(pos - offset)
        return pos - offset

    def truncate(self, ino: int, size: int) -> None:
        """Set the file's size: shrinking frees blocks, growing leaves a hole."""
        self._call(self._truncate_op, ino, size)

    def _truncate_op(self, ino: Any, size: Any) -> None:
        """truncate's body."""
        node = self._handle(ino)
        size = _nat(size, "size")
        if node.is_dir:
            raise _err("EISDIR", "is a directory", ino=ino)
        if size > self.bmap.max_blocks * self.sb.block_size:
            raise _err("EFBIG", "file too large", size=size)
        self._truncate(node, size)

    def _truncate(self, node: Inode, size: int) -> None:
        """Cut or extend ``node`` to ``size`` bytes; the cut tail reads as zeros later."""
        bs = self.sb.block_size
        if size < node.size:
            self.bmap.truncate(node, -(-size // bs))
            if size % bs:
                pblk = self.bmap.lookup(node, size // bs)
                if pblk:
                    buf = self.bufs.get(pblk)
                    buf[size % bs:] = bytes(bs - size % bs)
                    self.bufs.dirty(pblk)
        node.size = size
        self._touch(node)

    def _destroy(self, node: Inode) -> None:
        """Free ``node``'s blocks and its inode (its last link and open are gone)."""
        if has_block_map(node):
            self.bmap.truncate(node, 0)
        node.size, node.links = 0, 0
        node.dtime = max(1, self.clock.now())
        self._dirty.add(node.ino)
        self.alloc.free_inode(node.ino, node.is_dir)

    def fsync(self, ino: int) -> None:
        """Make the file (and everything written before) durable."""
        self._call(self._handle, ino)
        self.sync()

    def sync(self) -> None:
        """Flush the device: every completed operation becomes durable."""
        self._n["flushes"] += 1
        self.charge("ext2.flush", 1)
        self.dev.flush()

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

