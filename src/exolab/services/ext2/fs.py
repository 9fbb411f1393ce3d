"""The ext2 file system as a library: the namespace operations on top of the core.

:class:`Ext2` is what a placement mounts. It adds to :class:`FileOps` (open,
read, write, truncate, fsync) the operations on names: ``unlink``, ``link``,
``rename``, ``mkdir``, ``rmdir``, ``listdir``, ``stat``/``fstat``. Each is
decode (every errno is decided before anything changes) then invoke.

Errnos: ENOENT (a name is missing), EEXIST (the new name exists), ENOTDIR (a
component or the target is not a directory), EISDIR (unlink or link of a
directory, a file renamed over one), ENOTEMPTY (rmdir, or rename over, a
non-empty directory), EINVAL ("." or "..", a directory moved under itself,
bad arguments), EBUSY (the root), EMLINK (too many links), ENOSPC,
ENAMETOOLONG (a name over 255 bytes), EPERM (a hard link to a directory).

Interface::

    Ext2.mount(dev, *, clock=None, charge=no_charge, check_tree=True) -> Ext2
    (FileOps)  open close read write truncate fsync sync statistics
    unlink(path)   link(old, new)   rename(old, new)   mkdir(path, mode=0o755)
    rmdir(path)    listdir(path) -> list[str]   stat(path) -> Stat   fstat(ino) -> Stat
"""
from __future__ import annotations

from typing import Any

from exolab.services.ext2.core import FileOps
from exolab.services.ext2.frame import LINK_MAX, Stat, _err, _split
from exolab.services.ext2.directory import ftype_of
from exolab.services.ext2.inode import S_IFDIR, Inode
from exolab.services.ext2.layout import ROOT_INO, bad

__all__ = ["Ext2"]

_DOTS = (b".", b"..")


class Ext2(FileOps):
    """One mounted ext2 file system over a block device."""

    __slots__ = ()

    def unlink(self, path: str) -> None:
        """Remove the name ``path`` of a non-directory; free it after its last link."""
        self._call(self._unlink, path)

    def _unlink(self, path: Any) -> None:
        """unlink's body."""
        d, name = self._parent(path)
        if name in _DOTS:
            raise _err("EISDIR", "is a directory", path=path)
        node = self._iget(self._lookup(d, name))
        if node.is_dir:
            raise _err("EISDIR", "is a directory", path=path)
        self.dirs.remove(d, name)
        self._touch(d)
        self._drop_link(node)

    def _drop_link(self, node: Inode) -> None:
        """One fewer name for ``node``: free it when no name or open handle is left."""
        node.links -= 1
        self._touch(node, data=False)
        if node.links <= (1 if node.is_dir else 0):
            self._drop(self._placed, node.ino)
            if node.ino not in self._open:
                node.links = 0
                self._destroy(node)

    def link(self, old: str, new: str) -> None:
        """Give the file ``old`` the additional name ``new``."""
        self._call(self._link, old, new)

    def _link(self, old: Any, new: Any) -> None:
        """link's body."""
        node = self._resolve(old)
        d, name = self._parent(new)
        if node.is_dir:
            raise _err("EPERM", "hard link to a directory", path=old)
        if name in _DOTS or self.dirs.lookup(self._dir(d), name):
            raise _err("EEXIST", "file exists", path=new)
        if node.links >= LINK_MAX:
            raise _err("EMLINK", "too many links", path=old)
        self.dirs.add(d, name, node.ino, ftype_of(node.mode))
        node.links += 1
        self._put(self._placed, node.ino, (d.ino, False))
        self._touch(node, data=False)
        self._touch(d)

    def _dir(self, d: Inode) -> Inode:
        """``d``, which must be a directory (ENOTDIR)."""
        if not d.is_dir:
            raise _err("ENOTDIR", "not a directory", ino=d.ino)
        return d

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        """Make the directory ``path``."""
        self._call(self._mkdir, path, mode)

    def _mkdir(self, path: Any, mode: Any) -> None:
        """mkdir's body."""
        if type(mode) is not int or not 0 <= mode <= 0o7777:
            raise _err("EINVAL", "bad mode", mode=mode)
        d, name = self._parent(path)
        if name in _DOTS or self.dirs.lookup(d, name):
            raise _err("EEXIST", "file exists", path=path)
        if d.links >= LINK_MAX:
            raise _err("EMLINK", "too many links", path=path)
        self._create(d, name, S_IFDIR | mode)
        d.links += 1

    def rmdir(self, path: str) -> None:
        """Remove the empty directory ``path``."""
        self._call(self._rmdir, path)

    def _rmdir(self, path: Any) -> None:
        """rmdir's body."""
        if not _split(path):
            raise _err("EBUSY", "the root directory", path=path)
        d, name = self._parent(path)
        if name == b".":
            raise _err("EINVAL", "cannot remove '.'", path=path)
        if name == b"..":
            raise _err("ENOTEMPTY", "directory not empty", path=path)
        node = self._iget(self._lookup(d, name))
        if not node.is_dir:
            raise _err("ENOTDIR", "not a directory", path=path)
        if not self.dirs.is_empty(node):
            raise _err("ENOTEMPTY", "directory not empty", path=path)
        self.dirs.remove(d, name)
        d.links -= 1
        self._touch(d)
        self._drop_link(node)

    def rename(self, old: str, new: str) -> None:
        """Move the name ``old`` to ``new``, replacing what ``new`` named."""
        self._call(self._rename, old, new)

    def _rename(self, old: Any, new: Any) -> None:
        """rename's body: decide every errno, then add the new name, drop the old."""
        sd, sname = self._parent(old)
        dd, dname = self._parent(new)
        if sname in _DOTS or dname in _DOTS:
            raise _err("EINVAL", "cannot rename '.' or '..'", path=old)
        src = self._iget(self._lookup(sd, sname))
        dst_ino = self.dirs.lookup(dd, dname)
        if dst_ino == src.ino:
            return
        if src.is_dir:
            self._not_below(dd, src.ino)
        dst = self._iget(dst_ino) if dst_ino else None
        if dst is not None:
            self._check_replace(src, dst, new)
        if dst is not None:
            self.dirs.remove(dd, dname)
            if dst.is_dir:
                dd.links -= 1
            self._drop_link(dst)
        self.dirs.add(dd, dname, src.ino, ftype_of(src.mode))
        self.dirs.remove(sd, sname)
        self._put(self._placed, src.ino, (dd.ino, True))
        if src.is_dir and sd.ino != dd.ino:
            self.dirs.set_parent(src, dd.ino)
            sd.links -= 1
            dd.links += 1
        self._touch(src, data=False)
        self._touch(sd)
        self._touch(dd)

    def _check_replace(self, src: Inode, dst: Inode, new: Any) -> None:
        """Raise unless ``src`` may replace ``dst`` (kinds agree, a directory is empty)."""
        if src.is_dir and not dst.is_dir:
            raise _err("ENOTDIR", "not a directory", path=new)
        if dst.is_dir and not src.is_dir:
            raise _err("EISDIR", "is a directory", path=new)
        if dst.is_dir and not self.dirs.is_empty(dst):
            raise _err("ENOTEMPTY", "directory not empty", path=new)

    def _not_below(self, d: Inode, ino: int) -> None:
        """EINVAL if directory ``d`` is ``ino`` or lies under it (walking up "..")."""
        for _ in range(self.sb.inodes_count):
            if d.ino == ino:
                raise _err("EINVAL", "a directory cannot move under itself", ino=ino)
            if d.ino == ROOT_INO:
                return
            d = self._iget(self._lookup(d, b".."))
        raise bad("directory tree", "a path to the root", f"loop at inode {d.ino}")

    def listdir(self, path: str) -> list[str]:
        """The names in directory ``path`` (without "." and ".."), in directory order."""
        return self._call(self._listdir, path)  # type: ignore[no-any-return]

    def _listdir(self, path: Any) -> list[str]:
        """listdir's body."""
        d = self._dir(self._resolve(path))
        return [n.decode("utf-8", "surrogateescape")
                for _, _, _, n, _ in self.dirs.scan(d) if n not in _DOTS]

    def stat(self, path: str) -> Stat:
        """Size, mode, links, inode number and times of ``path``."""
        return self._call(lambda p: _stat(self._resolve(p)), path)  # type: ignore[no-any-return]

    def fstat(self, ino: int) -> Stat:
        """stat of an open file."""
        return self._call(lambda i: _stat(self._handle(i)), ino)  # type: ignore[no-any-return]


def _stat(n: Inode) -> Stat:
    """The Stat record of inode ``n``."""
    return Stat(n.ino, n.mode, n.links, n.size, n.blocks, n.uid, n.gid, n.atime, n.mtime,
                n.ctime)
