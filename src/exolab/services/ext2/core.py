"""The file operations of a mounted ext2: open, close, read, write, truncate, fsync.

Open files are named by inode number (the placement's fd table maps fds and
offsets onto them). Each operation runs in the :class:`Frame` (charged, then
every changed block written) and is decode -- check the arguments, raise
SyscallError with a POSIX errno, change nothing -- then invoke. A write that
fills the disk part-way returns a short count. Times come from the clock (no
atime updates: noatime).

Interface::

    FileOps(Frame)
      open(path, flags=O_RDONLY, mode=0o644) -> ino     close(ino)
      read(ino, offset, n) -> bytes      write(ino, offset, data) -> int
      truncate(ino, size)    fsync(ino)    fsync_set(ino) -> FileSet | None
    O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_DIRECTORY
"""
from __future__ import annotations

from typing import Any

from exolab.abi import MAX_READ
from exolab.errors import SyscallError
from exolab.services.ext2.directory import ftype_of
from exolab.services.ext2.frame import Frame, _err, _nat
from exolab.services.ext2.fsync import FileSet, file_set, records
from exolab.services.ext2.inode import S_IFDIR, S_IFREG, Inode

__all__ = ["FileOps", "O_RDONLY", "O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_TRUNC",
           "O_DIRECTORY"]

O_RDONLY, O_WRONLY, O_RDWR, O_ACCMODE = 0, 1, 2, 3
O_CREAT, O_EXCL, O_TRUNC, O_DIRECTORY = 0o100, 0o200, 0o1000, 0o200000
_FLAGS = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_DIRECTORY


class FileOps(Frame):
    """The file operations of a mounted ext2: open, close, read, write, truncate, fsync."""

    __slots__ = ()

    # -- open, close, read, write, truncate -------------------------------------------

    def open(self, path: str, flags: int = O_RDONLY, mode: int = 0o644) -> int:
        """Open (or with O_CREAT create) ``path``; return its inode number."""
        return self._call(self._open_op, path, flags, mode)  # type: ignore[no-any-return]

    def _open_op(self, path: Any, flags: Any, mode: Any) -> int:
        """open's body."""
        if (type(flags) is not int or flags & ~_FLAGS or flags & O_ACCMODE == 3
                or flags & (O_CREAT | O_DIRECTORY) == O_CREAT | O_DIRECTORY):
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
        self._put(self._open, node.ino, self._open.get(node.ino, 0) + 1)
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
        self._put(self._placed, ino, (d.ino, False))
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
        if self._open[ino] == 1:
            self._drop(self._open, ino)
            if node.links == 0:
                self._destroy(node)
        else:
            self._put(self._open, ino, self._open[ino] - 1)

    def read(self, ino: int, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes of the file at ``offset`` (fewer at its end; at most
        MAX_READ: the rest is the next read's)."""
        return self._call(self._read, ino, offset, n)  # type: ignore[no-any-return]

    def _read(self, ino: Any, offset: Any, n: Any) -> bytes:
        """read's body."""
        node = self._handle(ino)
        offset, n = _nat(offset, "offset"), _nat(n, "count")
        if node.is_dir:
            raise _err("EISDIR", "is a directory", ino=ino)
        n = max(0, min(n, node.size - offset, MAX_READ))
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
                pblk, new = self.bmap.ensure(node, lblk)
                # a whole-block overwrite need not read the old contents
                buf = self.bufs.overwrite(pblk) if take == bs and not new else self.bufs.get(pblk)
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

    def fsync(self, ino: int) -> None:
        """Make the file durable: only its own set (:mod:`.fsync`) when the device
        can write a subset in order (``sync_file``), else everything written."""
        want = self.fsync_set(ino)
        some = getattr(self.dev, "sync_file", None)
        if want is not None and some is not None:
            self._n["flushes"] += 1
            self.charge("ext2.flush", 1)
            if some(want, records(self, want.inodes)):
                self.settled(want.inodes)
                return
        self.sync()

    def fsync_set(self, ino: int) -> FileSet | None:
        """One operation: what fsync of open file ``ino`` writes (None: everything)."""
        return self._call(self._fsync_set, ino)  # type: ignore[no-any-return]

    def _fsync_set(self, ino: Any) -> FileSet | None:
        """fsync_set's body."""
        self._handle(ino)
        return file_set(self, ino)
