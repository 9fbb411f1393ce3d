"""A hypothesis state machine: ext2 against an in-memory model of files and directories.

After every step the file system must agree with the model (names, sizes,
bytes, link counts) and :func:`verify` must find the bitmaps, descriptors,
superblock counts and i_blocks exact; every few steps e2fsck must accept the
image too (when e2fsprogs is installed).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.errors import SyscallError
from exolab.services.ext2 import O_CREAT, O_EXCL, O_RDWR, verify

from .helpers import TOOLS, e2fsck, fresh

NAMES = st.sampled_from(["a", "b", "c", "dd", "x" * 255])
# 5 MB reaches double indirect blocks at 1 and 4 KiB (triple: test_fs, test_interop)
OFFSETS = st.one_of(st.integers(0, 300_000), st.sampled_from([5_000_000, 12 * 1024 - 1]))
DATA = st.binary(min_size=0, max_size=3000)
FSCK_EVERY = 8


class Ext2Model(RuleBasedStateMachine):
    """Files are fids (hard links share one); dirs are paths."""

    block_size = 1024

    def __init__(self) -> None:
        super().__init__()
        self.fs, self.dev = fresh(self.block_size, kib=3072, inodes=96)
        self.files: dict[str, int] = {}         # path -> fid
        self.data: dict[int, bytearray] = {}    # fid -> contents
        self.dirs: set[str] = {"/", "/lost+found"}
        self.next_fid = 0
        self.steps = 0

    # -- helpers ---------------------------------------------------------------------

    def _dir(self, i: int) -> str:
        """One of the model's directories."""
        ds = sorted(self.dirs)
        return ds[i % len(ds)]

    def _join(self, d: str, name: str) -> str:
        return d.rstrip("/") + "/" + name

    def _file(self, i: int) -> str | None:
        fs = sorted(self.files)
        return fs[i % len(fs)] if fs else None

    def _exists(self, p: str) -> bool:
        return p in self.files or p in self.dirs

    def _expect(self, errno: str | None, fn, *args):
        """Call ``fn``; it must raise ``errno`` (or succeed when None)."""
        try:
            out = fn(*args)
        except SyscallError as ex:
            if ex.errno == "ENOSPC" and errno is None:
                return "ENOSPC"
            assert ex.errno == errno, (fn.__name__, args, ex)
            return ex.errno
        assert errno is None, (fn.__name__, args, "succeeded")
        return out

    # -- rules -----------------------------------------------------------------------

    @rule(d=st.integers(0, 50), name=NAMES)
    def create(self, d, name):
        p = self._join(self._dir(d), name)
        ino = self._expect("EEXIST" if self._exists(p) else None, self.fs.open, p,
                           O_CREAT | O_EXCL | O_RDWR)
        if type(ino) is int:
            self.fs.close(ino)
            self.files[p] = self.next_fid
            self.data[self.next_fid] = bytearray()
            self.next_fid += 1

    @rule(f=st.integers(0, 50), off=OFFSETS, data=DATA)
    def write(self, f, off, data):
        p = self._file(f)
        if p is None:
            return
        ino = self.fs.open(p, O_RDWR)
        try:
            n = self.fs.write(ino, off, data)
        except SyscallError as ex:
            assert ex.errno == "ENOSPC"
            n = 0
        finally:
            self.fs.close(ino)
        buf = self.data[self.files[p]]
        if n:
            if len(buf) < off:
                buf.extend(bytes(off - len(buf)))
            buf[off:off + n] = data[:n]

    @rule(f=st.integers(0, 50), size=st.integers(0, 300_000))
    def truncate(self, f, size):
        p = self._file(f)
        if p is None:
            return
        ino = self.fs.open(p, O_RDWR)
        self.fs.truncate(ino, size)
        self.fs.close(ino)
        buf = self.data[self.files[p]]
        del buf[size:]
        buf.extend(bytes(size - len(buf)))

    @rule(f=st.integers(0, 50))
    def unlink(self, f):
        p = self._file(f)
        if p is not None:
            self.fs.unlink(p)
            del self.files[p]
        d = self._dir(f)
        if d != "/":
            self._expect("EISDIR", self.fs.unlink, d)

    @rule(f=st.integers(0, 50), d=st.integers(0, 50), name=NAMES)
    def link(self, f, d, name):
        p = self._file(f)
        if p is None:
            return
        q = self._join(self._dir(d), name)
        if self._expect("EEXIST" if self._exists(q) else None, self.fs.link, p, q) is None:
            self.files[q] = self.files[p]

    @rule(d=st.integers(0, 50), name=NAMES)
    def mkdir(self, d, name):
        p = self._join(self._dir(d), name)
        if self._expect("EEXIST" if self._exists(p) else None, self.fs.mkdir, p) is None:
            self.dirs.add(p)

    @rule(d=st.integers(0, 50))
    def rmdir(self, d):
        p = self._dir(d)
        if p == "/":
            return
        busy = any(q.startswith(p + "/") for q in list(self.files) + list(self.dirs))
        if self._expect("ENOTEMPTY" if busy else None, self.fs.rmdir, p) is None:
            self.dirs.discard(p)

    @rule(f=st.integers(0, 50), d=st.integers(0, 50), name=NAMES)
    def rename_file(self, f, d, name):
        p = self._file(f)
        if p is None:
            return
        q = self._join(self._dir(d), name)
        err = "EISDIR" if q in self.dirs else None
        if self._expect(err, self.fs.rename, p, q) is None:
            fid = self.files[p]
            if self.files.get(q) != fid:
                del self.files[p]
                self.files[q] = fid

    @rule(s=st.integers(0, 50), d=st.integers(0, 50), name=NAMES)
    def rename_dir(self, s, d, name):
        src, dst_dir = self._dir(s), self._dir(d)
        if src in ("/", "/lost+found"):
            return
        q = self._join(dst_dir, name)
        if q == src:
            err: str | None = None                  # the same name: nothing happens
        elif dst_dir == src or dst_dir.startswith(src + "/"):
            err = "EINVAL"
        elif q in self.files:
            err = "ENOTDIR"
        elif q in self.dirs and any(x.startswith(q + "/")
                                    for x in list(self.files) + list(self.dirs)):
            err = "ENOTEMPTY"
        else:
            err = None
        if self._expect(err, self.fs.rename, src, q) is None and q != src:
            self._move(src, q)

    def _move(self, src: str, dst: str) -> None:
        """Rename every model path under ``src`` to lie under ``dst``."""
        def moved(x: str) -> str:
            return dst + x[len(src):] if x == src or x.startswith(src + "/") else x
        self.dirs = {moved(x) for x in self.dirs}
        self.files = {moved(k): v for k, v in self.files.items()}

    # -- checks ----------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self):
        for d in self.dirs:
            want = {x.rsplit("/", 1)[1] for x in list(self.files) + list(self.dirs)
                    if x != "/" and x.rsplit("/", 1)[0] == d.rstrip("/")}
            assert set(self.fs.listdir(d)) == want, d
        links: dict[int, int] = {}
        for fid in self.files.values():
            links[fid] = links.get(fid, 0) + 1
        for p, fid in self.files.items():
            st_ = self.fs.stat(p)
            assert st_.size == len(self.data[fid]) and st_.links == links[fid], p
            ino = self.fs.open(p)
            assert self.fs.read(ino, 0, st_.size) == self.data[fid], p
            self.fs.close(ino)

    @invariant()
    def counts_are_exact(self):
        assert verify(self.fs) == []
        self.steps += 1
        if TOOLS["e2fsck"] and self.steps % FSCK_EVERY == 0:
            with tempfile.TemporaryDirectory() as tmp:
                img = Path(tmp) / "img"
                img.write_bytes(bytes(self.dev.data))
                rc, out = e2fsck(str(img))
                assert rc == 0, out


class Ext2Model4K(Ext2Model):
    block_size = 4096


SETTINGS = settings(max_examples=10, stateful_step_count=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
TestExt2Model1K = Ext2Model.TestCase
TestExt2Model1K.settings = SETTINGS
TestExt2Model4K = Ext2Model4K.TestCase
TestExt2Model4K.settings = SETTINGS
