"""The monolithic kernel's file system: services/ext2 placed in the kernel.

The file calls (abi.FILE_CALLS, and read/write/close on a file's descriptor)
are system calls; each decodes its arguments here (exact types, path form,
a free descriptor) and then runs one ext2 operation inside the kernel over
the buffer cache (:mod:`.bcache`: write-back, ordered sync). Descriptors are
``("file", OpenFile)`` entries of the process's table, shared with pipes;
fork shares the OpenFile (and its offset), as Unix does.

The disk is the machine's first (``exolab run --disk IMAGE``); a machine
without one gets, at the first file call, a fresh 8 MiB ext2 scratch disk
(4 KiB blocks) made on the host, as if the machine came with it formatted.
Mount failures (a malformed or foreign image) and disk errors are EIO.

Costs (cycles, on the calling thread): the system-call path; per ext2
operation ``FS_PATHS['op']`` instructions (namei/vnode dispatch), per
directory entry examined and per bitmap byte scanned their rows, per block
looked up in the cache ``FS_PATHS['getblk']``; bytes copied between the
caller and the cache at the profile's copy rate (each a counted copy); the
disk's own latency model for every request. ``fsync`` writes that file's
set (services/ext2/fsync.py: its blocks, its record, the new names reaching
it) in the phases of services/ext2/order.py, or, where a subset cannot be
ordered, syncs everything dirty (docs/files.md); a rename after a mkdir
since the last sync syncs first (the one cycle the phases cannot order).

Interface::

    FS_PATHS, SCRATCH_BLOCKS, SCRATCH_BLOCK_SIZE, OpenFile
    FileSystem(kernel)     sync(), fsync(ino), shutdown(), mounted() -> Ext2 | None,
                           statistics()
      read(cpu, f, n) / write(cpu, f, data) / release(f)     (pipe.py's descriptor paths)
    sys_open sys_lseek sys_fsync sys_unlink sys_rename sys_mkdir sys_rmdir
    sys_listdir sys_stat   (k, cpu, proc, *args): the system calls
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from exolab.abi import (O_APPEND, O_CREAT, O_EXCL, O_RDWR, O_TRUNC, O_WRONLY, PATH_MAX,
                        SEEK_CUR, SEEK_END, SEEK_SET, FileStat)
from exolab.errors import DiskImageError, DiskRequestError, SyscallError, safe_str
from exolab.kernels.monolithic.limits import KERNEL_FRAMES, MAX_FDS

if TYPE_CHECKING:           # ext2 and the cache are imported at the first mount: a
    from exolab.kernels.monolithic.bcache import BufferCache, CacheStats   # kernel that
    from exolab.services.ext2 import Ext2   # never opens a file never loads them
    from exolab.kernels.monolithic.kernel import MonolithicKernel
    from exolab.kernels.monolithic.proc import Process
    from exolab.machine.cpu import CPU

__all__ = ["FS_PATHS", "SCRATCH_BLOCKS", "SCRATCH_BLOCK_SIZE", "OpenFile", "FileSystem",
           "FsStats", "sys_open", "sys_lseek", "sys_fsync", "sys_unlink", "sys_rename",
           "sys_mkdir", "sys_rmdir", "sys_listdir", "sys_stat"]

#: instructions of the kernel's file-system paths (4.4BSD FFS/UFS as the guide)
FS_PATHS = {
    "op": 400,          # vnode-layer entry, namei setup, locking (per operation)
    "dirent": 12,       # compare one directory entry (ufs_lookup's loop)
    "bitmap": 2,        # scan one bitmap byte (ffs_alloc's loop)
    "getblk": 60,       # hash lookup + LRU move in the buffer cache, per block
}
SCRATCH_BLOCK_SIZE = 4096
SCRATCH_BLOCKS = 2048           # 8 MiB
CACHE_BLOCKS = 2048             # blocks the buffer cache holds
DMA_FRAME = KERNEL_FRAMES - 1   # the kernel static page disk requests DMA through
_STACK = 80                     # Python frames an ext2 operation may need
_FLAGS = O_WRONLY | O_RDWR | O_CREAT | O_EXCL | O_TRUNC | O_APPEND


@dataclass(frozen=True, slots=True)
class FsStats:
    """The file system's counters: operations, syncs, and its cache's."""

    mounted: bool
    ops: int
    syncs: int
    open_files: int
    cache: CacheStats | None


class OpenFile:
    """One open of a file: inode, offset, access; shared by the descriptors forked from it."""

    __slots__ = ("ino", "offset", "readable", "writable", "append", "refs")

    def __init__(self, ino: int, flags: int) -> None:
        self.ino = ino
        self.offset = 0
        acc = flags & 3
        self.readable = acc != O_WRONLY
        self.writable = acc != 0
        self.append = bool(flags & O_APPEND)
        self.refs = 1


def _probe(n: int) -> None:
    """Recurse ``n`` frames: RecursionError now, before anything changes."""
    if n:
        _probe(n - 1)


def _path(path: Any) -> str:
    """Decode a path: an absolute str of at most PATH_MAX bytes (EINVAL, ENAMETOOLONG)."""
    if type(path) is not str or not path.startswith("/") or "\0" in path:
        raise SyscallError("EINVAL", "a path is an absolute str", type=type(path).__name__)
    try:
        size = len(path.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        raise SyscallError("EINVAL", "path is not encodable") from None
    if size > PATH_MAX:
        raise SyscallError("ENAMETOOLONG", "path longer than PATH_MAX", length=size)
    return path


class FileSystem:
    """The kernel's one mounted ext2 (mounted at the first file call)."""

    __slots__ = ("k", "fs", "cache", "error", "ops", "syncs", "open_files", "_cost",
                 "scratch", "new_dirs")

    def __init__(self, kernel: "MonolithicKernel") -> None:
        self.k = kernel
        self.fs: Ext2 | None = None
        self.cache: BufferCache | None = None
        self.error: str | None = None           # why the disk could not be mounted
        self.ops = self.syncs = self.open_files = 0
        self.scratch: Any = None                # the scratch disk this made, if any
        self.new_dirs = False                   # a directory was made since the last sync
        ins = kernel.machine.profile.instruction
        self._cost = {f"ext2.{kind}": n * ins for kind, n in FS_PATHS.items()}

    # -- mount ---------------------------------------------------------------------

    def mounted(self) -> Ext2 | None:
        """The mounted file system, or None if nothing was mounted yet."""
        return self.fs

    def _mount(self) -> Ext2:
        """Mount the machine's first disk (a scratch disk if it has none); EIO if bad."""
        if self.fs is not None:
            return self.fs
        if self.error is not None:
            raise SyscallError("EIO", "the disk could not be mounted", reason=self.error)
        from exolab.kernels.monolithic.bcache import BufferCache
        from exolab.services.ext2 import Ext2, SimClock
        from exolab.services.ext2.order import plan, plan_file
        m = self.k.machine
        self._cost = {f"ext2.{kind}": n * m.profile.instruction
                      for kind, n in FS_PATHS.items()}
        try:
            if m.disks:
                disk = m.disks[0]
            else:
                disk = self.scratch = _scratch(m)
            cache = BufferCache(disk, m.memory, m.clock, DMA_FRAME << m.memory.page_shift,
                                CACHE_BLOCKS, self._charge_cycles,
                                FS_PATHS["getblk"] * m.profile.instruction)
            fs = Ext2.mount(cache, clock=SimClock(m.clock, m.profile.mhz * 1_000_000),
                            charge=self._charge)
        except (DiskImageError, DiskRequestError) as ex:
            self.error = safe_str(ex)
            raise SyscallError("EIO", "the disk could not be mounted",
                               reason=self.error) from None
        fs.alloc.defer_frees = True             # order.py: no reuse before a sync
        cache.planner = lambda dirty: plan(fs, dirty)
        cache.file_planner = lambda dirty, want, recs: plan_file(fs, dirty, want, recs)
        self.fs, self.cache = fs, cache
        if self.scratch is None:                # a real disk: "mounted, not clean"
            fs.set_clean(False)                 # is durable before anything else
            self.sync()
        return fs

    # -- costs ----------------------------------------------------------------------

    def _charge_cycles(self, cycles: int) -> None:
        """Advance the caller's time (no preemption inside the file system)."""
        self.k.machine.clock.now += cycles

    def _charge(self, kind: str, count: int) -> None:
        """ext2's cost hook: its events at this kernel's rates."""
        if kind == "ext2.copy":
            m = self.k.machine
            m.clock.now += m.profile.copy_cost(count)
            m.memory.note_copy(count)
            return
        c = self._cost.get(kind)
        if c:
            self.k.machine.clock.now += c * count

    # -- operations ----------------------------------------------------------------

    def op(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(fs, *args)``, one file-system operation: stack proven first, a
        damaged disk as EIO, a sync after it when the cache is under pressure."""
        _probe(_STACK)
        fs = self._mount()
        self.ops += 1
        try:
            out = fn(fs, *args)
        except (DiskImageError, DiskRequestError) as ex:
            raise SyscallError("EIO", "disk error", reason=safe_str(ex)) from None
        except SyscallError as ex:
            if ex.errno != "ENOSPC" or not fs.alloc.held():
                raise
            self.sync()                         # held frees become free: retry once
            out = fn(fs, *args)
        if self.cache is not None and self.cache.pressure:
            self.sync()
        return out

    def sync(self) -> None:
        """Release the held frees and write everything dirty, in order, durably."""
        fs, cache = self.fs, self.cache
        if fs is None or cache is None:
            return
        self.syncs += 1
        self.new_dirs = False
        try:
            if fs.alloc.held():
                fs.release_deferred()
            cache.sync()
            fs.settled()
        except (DiskImageError, DiskRequestError) as ex:
            raise SyscallError("EIO", "disk error", reason=safe_str(ex)) from None

    def fsync(self, ino: int) -> None:
        """Make one open file durable: its set alone (services/ext2/fsync.py) when
        the cache can order it, else everything (:meth:`sync`)."""
        want = self.op(lambda fs: fs.fsync_set(ino))
        if want is None or not self._sync_file(want):
            self.sync()

    def _sync_file(self, want: Any) -> bool:
        """Write one file's set through the cache; False if it must sync everything."""
        from exolab.services.ext2.fsync import records
        fs, cache = self.fs, self.cache
        if fs is None or cache is None:
            return True
        if fs.dev is not cache:             # re-blocked: its block numbers are not ours
            return False
        try:
            done = cache.sync_file(want, records(fs, want.inodes))
        except (DiskImageError, DiskRequestError) as ex:
            raise SyscallError("EIO", "disk error", reason=safe_str(ex)) from None
        self.syncs += done
        if done:
            fs.settled(want.inodes)
        return done

    def shutdown(self) -> None:
        """The end of a run: sync a real disk (a clean unmount); a scratch disk
        is closed instead (nobody will read it)."""
        if self.scratch is not None:
            self.scratch.close()
            return
        if self.fs is not None and self.k.machine.disks[0].powered:
            self.fs.set_clean(True)
            self.sync()

    # -- descriptor paths (pipe.py calls these for "file" entries) --------------------

    def read(self, cpu: "CPU", f: OpenFile, n: int) -> bytes:
        """Read up to ``n`` bytes at ``f``'s offset (EBADF unless readable)."""
        if not f.readable:
            raise SyscallError("EBADF", "descriptor not open for reading")
        data: bytes = self.op(lambda fs: fs.read(f.ino, f.offset, n))
        f.offset += len(data)
        return data

    def write(self, cpu: "CPU", f: OpenFile, data: bytes) -> int:
        """Write ``data`` at ``f``'s offset (the end with O_APPEND); the count."""
        if not f.writable:
            raise SyscallError("EBADF", "descriptor not open for writing")

        def body(fs: Ext2) -> int:
            at = fs.fstat(f.ino).size if f.append else f.offset
            got = fs.write(f.ino, at, data)
            if got < len(data) and fs.alloc.held():     # short: held frees may help
                self.sync()
                got += fs.write(f.ino, at + got, data[got:])
            f.offset = at + got
            return int(got)
        return int(self.op(body))

    def release(self, f: OpenFile) -> None:
        """Drop one descriptor's reference; the last closes the file in ext2."""
        f.refs -= 1
        if f.refs == 0:
            self.open_files -= 1
            self.op(lambda fs: fs.close(f.ino))

    def statistics(self) -> FsStats:
        """Return a frozen snapshot."""
        return FsStats(self.fs is not None, self.ops, self.syncs, self.open_files,
                       None if self.cache is None else self.cache.statistics())


def _scratch(m: Any) -> Any:
    """A fresh formatted scratch disk attached to machine ``m`` (its file unlinked)."""
    from exolab.services.ext2 import FileDevice, mkfs
    fd, path = tempfile.mkstemp(prefix="exolab-scratch-", suffix=".img")
    try:
        os.ftruncate(fd, SCRATCH_BLOCKS * SCRATCH_BLOCK_SIZE)
        os.close(fd)
        dev = FileDevice(path, SCRATCH_BLOCK_SIZE)
        try:
            mkfs(dev, block_size=SCRATCH_BLOCK_SIZE)
        finally:
            dev.close()
        return m.attach_disk(path, block_size=SCRATCH_BLOCK_SIZE)
    finally:
        os.unlink(path)                 # the disk keeps its descriptor


# -- the system calls --------------------------------------------------------------------

def _file(proc: "Process", fd: Any) -> OpenFile:
    """Descriptor ``fd`` as an open file (EBADF if not open; ESPIPE/EINVAL by caller)."""
    entry = proc.fds.get(fd) if type(fd) is int else None
    if entry is None:
        raise SyscallError("EBADF", "bad file descriptor", fd=fd)
    if entry[0] != "file":
        raise SyscallError("ESPIPE", "not a file", fd=fd)
    f: OpenFile = entry[1]
    return f


def sys_open(k: "MonolithicKernel", cpu: "CPU", proc: "Process", path: Any, flags: Any,
             mode: Any) -> int:
    """Open (or create) ``path``; the lowest free descriptor."""
    path = _path(path)
    if type(flags) is not int or flags & ~_FLAGS or flags & 3 == 3:
        raise SyscallError("EINVAL", "bad open flags", flags=flags)
    if type(mode) is not int or not 0 <= mode <= 0o7777:
        raise SyscallError("EINVAL", "bad mode", mode=mode)
    fd = next((i for i in range(MAX_FDS) if i not in proc.fds), None)
    if fd is None:
        raise SyscallError("EMFILE", "too many open descriptors", limit=MAX_FDS)

    def body(fs: Ext2) -> int:
        if flags & 3:                           # writing a directory: EISDIR
            try:
                st = fs.stat(path)
            except SyscallError:
                st = None
            if st is not None and st.mode & 0o170000 == 0o040000:
                raise SyscallError("EISDIR", "is a directory", path=path)
        return int(fs.open(path, flags & ~O_APPEND, mode))
    ino = k.fs.op(body)
    proc.fds[fd] = ("file", OpenFile(ino, flags))
    k.fs.open_files += 1
    return fd


def sys_lseek(k: "MonolithicKernel", cpu: "CPU", proc: "Process", fd: Any, offset: Any,
              whence: Any) -> int:
    """Move an open file's offset; the new offset."""
    f = _file(proc, fd)
    if type(offset) is not int or type(whence) is not int or whence not in (
            SEEK_SET, SEEK_CUR, SEEK_END):
        raise SyscallError("EINVAL", "bad offset or whence", whence=whence)
    base = 0 if whence == SEEK_SET else f.offset if whence == SEEK_CUR else \
        k.fs.op(lambda fs: fs.fstat(f.ino).size)
    new = base + offset
    if new < 0:
        raise SyscallError("EINVAL", "negative offset", offset=new)
    f.offset = new
    return new


def sys_fsync(k: "MonolithicKernel", cpu: "CPU", proc: "Process", fd: Any) -> None:
    """Make the file durable (its own blocks and the names reaching it)."""
    try:
        f = _file(proc, fd)
    except SyscallError as ex:
        if ex.errno == "ESPIPE":
            raise SyscallError("EINVAL", "fsync of a pipe or the console", fd=fd) from None
        raise
    _probe(_STACK)
    k.fs.fsync(f.ino)


def sys_unlink(k: "MonolithicKernel", cpu: "CPU", proc: "Process", path: Any) -> None:
    """Remove a name."""
    p = _path(path)
    k.fs.op(lambda fs: fs.unlink(p))


def sys_rename(k: "MonolithicKernel", cpu: "CPU", proc: "Process", old: Any,
               new: Any) -> None:
    """Move a name."""
    a, b = _path(old), _path(new)
    if k.fs.new_dirs:               # order.py: a name moved into a directory made since
        k.fs.sync()                 # the last sync would be a cycle: sync first
    k.fs.op(lambda fs: fs.rename(a, b))


def sys_mkdir(k: "MonolithicKernel", cpu: "CPU", proc: "Process", path: Any,
              mode: Any) -> None:
    """Make a directory."""
    p = _path(path)
    k.fs.op(lambda fs: fs.mkdir(p, mode))
    k.fs.new_dirs = True


def sys_rmdir(k: "MonolithicKernel", cpu: "CPU", proc: "Process", path: Any) -> None:
    """Remove an empty directory."""
    p = _path(path)
    k.fs.op(lambda fs: fs.rmdir(p))


def sys_listdir(k: "MonolithicKernel", cpu: "CPU", proc: "Process", path: Any) -> list[str]:
    """The sorted names of a directory; each is copied out."""
    p = _path(path)
    names: list[str] = sorted(k.fs.op(lambda fs: fs.listdir(p)))
    n = sum(len(x) + 1 for x in names)
    cpu.charge(k.machine.profile.copy_cost(n))
    k.machine.memory.note_copy(n)
    return names


def sys_stat(k: "MonolithicKernel", cpu: "CPU", proc: "Process", path: Any) -> FileStat:
    """Size, mode, links, inode number and times of ``path``."""
    p = _path(path)
    st = k.fs.op(lambda fs: fs.stat(p))
    return FileStat(st.ino, st.mode, st.links, st.size, st.atime, st.mtime, st.ctime)
