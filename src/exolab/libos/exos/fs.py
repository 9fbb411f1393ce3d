"""ExOS's file system: ext2 (``services/ext2``, unchanged) as a library over XN.

The file ABI calls of an ExOS process run here, in the process's own
protection domain: path lookup, directories, block maps and the copying of
file data are ext2's code running at user level; the disk is reached only
through XN (:mod:`.fs_xn`), which checks every block the library reads,
allocates, frees or changes against ext2's own ownership functions
(:mod:`.fs_udf`) and keeps the ordering rules. Aegis knows nothing of ext2.

*Setup and startup* (the seed's XN walk-through): the first mount on a
machine asks XN for the root "ext2"; if XN has none it probes the disk's
superblock (XN allows reading a free block only while no root exists), or
formats an empty disk (ext2's own ``mkfs`` into the library's memory, then
every block through XN: the held-until-owned rule of :class:`~.fs_xn.XNBlocks`
orders them); installs the templates and adopts the tree as the root.

*Shared state.* The mounted file system and the open-file table are one
library instance per machine, as if kept in a segment every ExOS process
maps: a forked child shares its parent's open files and their offsets.
Descriptors live in ExOS's descriptor table (kind ``FD_FILE``; the entry's
word is the open-file number), so pipes and files share one numbering.

*The lock.* Aegis may preempt a process inside a file call (ext2's frame is
not reentrant), so the segment holds a lock word (:class:`FsLock`): every
call runs through the calling process's :class:`Session`, which takes it by
a test-and-set with no preemption point inside, points XN's client at the
process, runs the call and releases it. A waiter yields (Aegis's yield: the
holder runs on); one whose yield finds nobody runnable breaks the lock of a
holder that can no longer run. A library lock, not XN's: XN guards blocks
between library file systems; this guards one library's memory between its
own processes (docs/files.md).

Interface::

    FD_FILE, LOCK_CYCLES
    files_of(os) -> Session         ``os``'s view of the machine's instance
    Session: open, read, write, lseek, close, fsync, unlink, rename, mkdir,
             rmdir, listdir, stat, inherit     (each Files' call under the lock)
    lock_of(os) -> FsLock | None    FsLock.statistics() -> LockStats
    Files: the same calls, unlocked (mounted by the first Session call)
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from exolab.abi import O_APPEND, O_RDONLY, O_WRONLY, SEEK_CUR, SEEK_END, SEEK_SET, FileStat
from exolab.errors import DiskImageError, SyscallError, safe_str
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.fs_udf import ROOT_NAME, ROOT_TYPE, library_owns, root_block, templates
from exolab.libos.exos.fs_xn import AegisXN, XNBlocks
from exolab.services.ext2 import Ext2, MemoryDevice, SimClock, mkfs
from exolab.services.ext2.frame import _read_super

__all__ = ["FD_FILE", "LOCK_CYCLES", "Files", "FsLock", "LockStats", "Session", "files_of",
           "lock_of"]

FD_FILE = 4                     # descriptor kind (as ipc.py's FD_FILE)
MAX_OPEN = 4096                 # open files in the machine's table
_ACCESS = 3                     # O_RDONLY / O_WRONLY / O_RDWR
_EXT2_FLAGS = 0o100 | 0o200 | 0o1000 | _ACCESS   # what ext2's open takes

_instances: "weakref.WeakKeyDictionary[Any, _Shared]" = weakref.WeakKeyDictionary()
LOCK_CYCLES = 6                 # instructions of a test-and-set and its release
MAX_WAITS = 10_000              # turns for another thread of the same process


@dataclass(slots=True)
class _Open:
    """One open file: shared by every descriptor that refers to it (fork)."""

    ino: int
    offset: int
    flags: int
    refs: int


@dataclass(frozen=True, slots=True)
class LockStats:
    """Counters of one machine's file-system lock."""

    acquired: int       # outermost acquisitions
    contended: int      # of those, ones that found another thread holding it
    waits: int          # yields while waiting
    broken: int         # taken from a holder that could not run any more


class FsLock:
    """The lock word of the machine's ExOS file system, kept in the segment its
    processes share (see the module docstring): the machine thread holding it
    and how deep, taken by a test-and-set with no preemption point inside."""

    __slots__ = ("holder", "pid", "depth", "_n")

    def __init__(self) -> None:
        self.holder = 0                 # machine thread id of the holder (0: free)
        self.pid = 0                    # its ExOS process
        self.depth = 0                  # nested acquisitions by the holder
        self._n = {"acquired": 0, "contended": 0, "waits": 0, "broken": 0}

    def acquire(self, os: Any) -> None:
        """Take the lock for the running thread of ``os``, yielding while another
        holds it (the holder runs on and releases it at the end of its call)."""
        me = os.cpu.current
        if self.holder != me:
            waited = 0
            while self.holder and self.holder != me:
                waited += 1
                if not self._wait(os, waited):
                    self._n["broken"] += 1      # the holder cannot run: it is gone
                    break
            self._n["contended"] += waited > 0
            self._n["waits"] += waited
            self._n["acquired"] += 1
            self.holder, self.pid, self.depth = me, os.pid, 0   # (the test-and-set)
            os.cpu.charge(LOCK_CYCLES * os.profile.instruction)
        self.depth += 1

    def _wait(self, os: Any, waited: int) -> bool:
        """One turn for the holder; False if it cannot run (nobody else could)."""
        if self.pid == os.pid:          # another thread of this process holds it
            os.procs.thread_yield()
            return waited < MAX_WAITS
        return bool(os.procs.yield_env())

    def release(self) -> None:
        """Drop one level; the outermost frees the lock word."""
        self.depth -= 1
        if self.depth <= 0:
            self.holder, self.pid, self.depth = 0, 0, 0

    def statistics(self) -> LockStats:
        """A frozen snapshot of the counters."""
        return LockStats(**self._n)


class _Shared:
    """One machine's file-system segment: the lock word and the mounted Files."""

    __slots__ = ("lock", "files", "sessions")

    def __init__(self) -> None:
        self.lock = FsLock()
        self.files: Files | None = None
        self.sessions: "weakref.WeakKeyDictionary[Any, Session]" = \
            weakref.WeakKeyDictionary()                 # process -> its Session


class Session:
    """The file calls as one process makes them: each takes the machine's lock,
    points XN's client at this process, runs the Files call and releases."""

    __slots__ = ("shared", "_os")

    def __init__(self, shared: _Shared, os: Any) -> None:
        self.shared = shared
        self._os = weakref.ref(os)      # (weak: the session is the value of a weak-keyed
        #                               table keyed by ``os``; a strong reference kept every
        #                               process that ever made a file call alive for ever)

    @property
    def os(self) -> Any:
        """The process making the calls (alive while it can call)."""
        return self._os()

    def _run(self, name: str, args: tuple[Any, ...]) -> Any:
        """Call ``Files.name(*args)`` holding the lock (mounting on first use)."""
        sh, os = self.shared, self.os
        sh.lock.acquire(os)
        try:
            fs = sh.files
            if fs is None:
                fs = sh.files = _mount_files(os)
            fs.client.os = os               # the process making this call
            return getattr(fs, name)(*args)
        finally:
            sh.lock.release()


def _call(name: str) -> Any:
    """A Session method running ``Files.name`` under the lock."""
    def method(self: Session, *args: Any) -> Any:
        return self._run(name, args)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Files.{name}, holding the file-system lock."
    return method


def _mount_files(os: Any) -> "Files":
    """Mount the machine's file system over XN (EIO for a foreign or bad disk)."""
    try:
        return Files(os)
    except DiskImageError as ex:        # a foreign or malformed disk: refused, unchanged
        raise SyscallError("EIO", "the disk holds no usable ext2 file system",
                           reason=safe_str(ex)) from None


def files_of(os: Any) -> Session:
    """The file system of ``os``'s machine as ``os`` calls it (mounted on first use)."""
    key = os.cpu._cpu.machine           # (one segment per machine)
    sh = _instances.get(key)
    if sh is None:                      # (no preemption point between get and set)
        sh = _instances[key] = _Shared()
    s = sh.sessions.get(os)
    if s is None:
        s = sh.sessions[os] = Session(sh, os)
    return s


def lock_of(os: Any) -> FsLock | None:
    """The lock of ``os``'s machine's file system (None before any file call)."""
    sh = _instances.get(os.cpu._cpu.machine)
    return None if sh is None else sh.lock


class Files:
    """ext2 over XN with an open-file table; the ABI's file calls (Session locks)."""

    def __init__(self, os: Any) -> None:
        self.client = AegisXN(os, 0)
        self.formatted = False                  # this mount formatted an empty disk
        self.principal = os.cpu.trap(Sys.XN_PRINCIPAL, False)
        self.fs = self._mount(os)
        self.open_files: dict[int, _Open] = {}
        self._next = 1

    # -- setup and startup ------------------------------------------------------------

    def _mount(self, os: Any) -> Ext2:
        """Find (or set up) the "ext2" root with XN and mount ext2 over it."""
        c = self.client
        info = os.cpu.trap(Sys.XN_STATS)
        bs, blocks = info.block_size, info.blocks
        c.block_size = bs
        try:
            c.root(ROOT_NAME)
            raw = c.load_root(ROOT_NAME)
        except SyscallError as ex:
            if ex.errno != "ENOENT":
                raise
            raw = self._setup(os, bs, blocks - info.reserved)   # (XN's tail: its own)
        src = templates(_super_of(raw, bs), self.principal)
        for name, text in src.items():
            c.install(name, text)
        dev = XNBlocks(c, library_owns(src), root_block(bs), ROOT_TYPE, bs, blocks)
        clock = SimClock(_Cycles(os.cpu), os.profile.mhz * 1_000_000)
        fs = Ext2.mount(dev, clock=clock, charge=_charger(os))
        if self.formatted:      # a file system ExOS made starts with an empty root
            fs.rmdir("/lost+found")
            fs.sync()
        return fs

    def _setup(self, os: Any, bs: int, blocks: int) -> bytes:
        """No root yet: adopt the ext2 on the disk, or format a disk whose root block is
    all zeros; anything else is refused (DiskImageError) and nothing is written."""
        rb = root_block(bs)
        raw = os.cpu.trap(Sys.XN_PROBE, rb)
        if not any(raw):                # an empty disk: format it
            return self._format(os, bs, blocks)
        sb = _super_of(raw, bs)         # anything else must be ext2 (else refused,
        #                                 nothing written)
        for name, text in templates(sb, self.principal).items():
            self.client.install(name, text)
        os.cpu.trap(Sys.XN_ADOPT, ROOT_NAME, rb, ROOT_TYPE, sb.blocks_count)
        return bytes(raw)

    def _format(self, os: Any, bs: int, blocks: int) -> bytes:
        """mkfs in the library's memory, then every nonzero block through XN."""
        img = MemoryDevice(bs, blocks)
        mkfs(img, block_size=bs)
        self.formatted = True
        rb = root_block(bs)
        sb = _read_super(img)
        src = templates(sb, self.principal)
        for name, text in src.items():
            self.client.install(name, text)
        self.client.register(ROOT_NAME, rb, ROOT_TYPE)
        dev = XNBlocks(self.client, library_owns(src), rb, ROOT_TYPE, bs, blocks)
        order = [rb] + [b for b in range(blocks) if b != rb]
        for b in order:
            data = img.read_block(b)
            if any(data):
                dev.write_block(b, data)
        dev.flush()
        return img.read_block(rb)



    # -- descriptors -----------------------------------------------------------------------

    def _get(self, index: int) -> _Open:
        f = self.open_files.get(index)
        if f is None:
            raise SyscallError("EBADF", "bad file descriptor")
        return f

    def open(self, os: Any, path: Any, flags: Any, mode: Any) -> int:
        """open(2): ext2 resolves or creates; the descriptor names a new open file."""
        _path(path)
        if type(flags) is not int or flags & ~(_EXT2_FLAGS | O_APPEND) or \
                flags & _ACCESS == 3:
            raise SyscallError("EINVAL", "bad open flags", flags=flags)
        if len(self.open_files) >= MAX_OPEN:
            raise SyscallError("ENFILE", "too many open files", limit=MAX_OPEN)
        st = self.fs.stat(path) if type(path) is str and not flags & 0o100 else None
        if st is not None and st.mode & 0o170000 == 0o040000 and flags & _ACCESS:
            raise SyscallError("EISDIR", "is a directory", path=path)
        ino = self.fs.open(path, flags & _EXT2_FLAGS, mode)
        index = self._next
        self._next += 1
        self.open_files[index] = _Open(ino, 0, flags, 1)
        try:
            return int(os.ipc.fd_alloc(FD_FILE, index))
        except SyscallError:
            del self.open_files[index]
            self.fs.close(ino)
            raise

    def read(self, index: int, n: int) -> bytes:
        """read(2) at the open file's offset."""
        f = self._get(index)
        if f.flags & _ACCESS == O_WRONLY:
            raise SyscallError("EBADF", "descriptor not open for reading")
        data = self.fs.read(f.ino, f.offset, n)
        f.offset += len(data)
        return data

    def write(self, index: int, data: bytes) -> int:
        """write(2) at the offset (the end, with O_APPEND)."""
        f = self._get(index)
        if f.flags & _ACCESS == O_RDONLY:
            raise SyscallError("EBADF", "descriptor not open for writing")
        if f.flags & O_APPEND:
            f.offset = self.fs.fstat(f.ino).size
        n = self.fs.write(f.ino, f.offset, data)
        f.offset += n
        return int(n)

    def lseek(self, index: int, offset: Any, whence: Any) -> int:
        """lseek(2)."""
        f = self._get(index)
        if type(offset) is not int or whence not in (SEEK_SET, SEEK_CUR, SEEK_END) \
                or type(whence) is not int:
            raise SyscallError("EINVAL", "bad lseek", offset=offset, whence=whence)
        base = {SEEK_SET: 0, SEEK_CUR: f.offset, SEEK_END: 0}[whence]
        if whence == SEEK_END:
            base = self.fs.fstat(f.ino).size
        if base + offset < 0:
            raise SyscallError("EINVAL", "negative offset", offset=base + offset)
        f.offset = base + offset
        return f.offset

    def close(self, index: int) -> None:
        """The descriptor is gone; the open file goes with its last one."""
        f = self._get(index)
        f.refs -= 1
        if f.refs == 0:
            del self.open_files[index]
            self.fs.close(f.ino)

    def inherit(self, index: int, by: int = 1) -> None:
        """A forked child's descriptor refers to the same open file (-1: undone)."""
        self._get(index).refs += by

    def fsync(self, index: int) -> None:
        """fsync(2): the file's own blocks, its inode's and the new names reaching
        it are written back through XN in a safe order, then flushed."""
        self.fs.fsync(self._get(index).ino)

    def stat(self, path: Any) -> FileStat:
        """stat(2)."""
        _path(path)
        s = self.fs.stat(path)
        return FileStat(s.ino, s.mode, s.links, s.size, s.atime, s.mtime, s.ctime)

    def unlink(self, path: Any) -> None:
        """unlink(2)."""
        _path(path)
        self.fs.unlink(path)

    def rename(self, old: Any, new: Any) -> None:
        """rename(2)."""
        _path(old)
        _path(new)
        self.fs.rename(old, new)

    def mkdir(self, path: Any, mode: Any) -> None:
        """mkdir(2)."""
        _path(path)
        self.fs.mkdir(path, mode)

    def rmdir(self, path: Any) -> None:
        """rmdir(2)."""
        _path(path)
        self.fs.rmdir(path)

    def listdir(self, path: Any) -> list[str]:
        """The names in a directory."""
        _path(path)
        return sorted(self.fs.listdir(path))


for _name in ("open", "read", "write", "lseek", "close", "inherit", "fsync", "stat",
              "unlink", "rename", "mkdir", "rmdir", "listdir"):
    setattr(Session, _name, _call(_name))


def _path(p: Any) -> None:
    """EINVAL unless ``p`` is an absolute path string."""
    if type(p) is not str or not p.startswith("/"):
        raise SyscallError("EINVAL", "path must be an absolute str")


def _super_of(raw: bytes, bs: int) -> Any:
    """Decode the superblock held in root block ``raw`` (DiskImageError if none, or
    if its block size is not the disk's: XN's blocks are the file system's)."""
    image = (bytes(bs * root_block(bs)) + bytes(raw)).ljust(2048, b"\0")
    sb = _read_super(MemoryDevice(bs, len(image) // bs, image[:len(image) // bs * bs]))
    if sb.block_size != bs:
        raise DiskImageError("ext2 block size differs from the disk's block size",
                             what="block size", expected=bs, actual=sb.block_size)
    return sb


class _Cycles:
    """The cycle counter as ``SimClock`` reads it (``.now``)."""

    __slots__ = ("cpu",)

    def __init__(self, cpu: Any) -> None:
        self.cpu = cpu

    @property
    def now(self) -> int:
        return int(self.cpu.now())


def _charger(os: Any) -> Any:
    """ext2's charge kinds priced as ExOS library work on ``os``'s profile."""
    p = os.profile
    rows = {"ext2.op": 60 * p.instruction, "ext2.block_read": 20 * p.instruction,
            "ext2.block_write": 20 * p.instruction, "ext2.flush": 0,
            "ext2.dirent": 8 * p.instruction, "ext2.bitmap": p.instruction}
    cpu = os.cpu

    def charge(kind: str, count: int) -> None:
        cpu.charge(p.copy_cost(count) if kind == "ext2.copy" else rows[kind] * count)
    return charge
