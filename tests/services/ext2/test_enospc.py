"""A full disk: a call that fails with ENOSPC changes nothing, and nothing after it is poisoned.

The disk fills in several ways (one big write, many small files, a directory
that must grow, an indirect block needed at the edge) and, on a device that
may refuse writes as XN does, a write-out is refused part-way at every point.
Each time the failed call's errno is ENOSPC, the image is byte-identical to
what it was before the call (but for the bytes of blocks it took and gave back
after a refused write-out: they are free), existing data reads back exact, a call that
needs no new block still works, unlink then a write that fits succeeds, and
verify/e2fsck find nothing. A hypothesis state machine does the same with
create/write/truncate/unlink and random refusals on a tiny image, against a
model of name -> bytes and the bitmaps' own popcount.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.errors import SyscallError
from exolab.services.ext2 import (O_CREAT, O_RDWR, Ext2, ManualClock, MemoryDevice,
                                  mkfs, verify)
from exolab.services.ext2.layout import group_span

from .helpers import TOOLS, fresh, fsck_bytes, needs_tools

BS = 1024


class Refusing:
    """A memory device whose writes may be refused, as XN's are: once armed with
    ``k``, the k-th write from then raises ENOSPC (and the device disarms)."""

    may_refuse = True

    def __init__(self, dev: MemoryDevice) -> None:
        self.dev = dev
        self.block_size = dev.block_size
        self.blocks = dev.blocks
        self.armed: int | None = None
        self.refused = 0

    def read_block(self, n: int) -> bytes:
        return self.dev.read_block(n)

    def write_block(self, n: int, data: bytes) -> None:
        if self.armed is not None:
            if self.armed == 0:
                self.armed = None
                self.refused += 1
                raise SyscallError("ENOSPC", "refused", block=n)
            self.armed -= 1
        self.dev.write_block(n, data)

    def flush(self) -> None:
        self.dev.flush()


def _in_use(fs: Ext2, data: bytes) -> bytes:
    """``data`` (an image of ``fs``'s layout) with every block its own bitmap calls
    free zeroed: a block the failed call took and gave back may keep its bytes."""
    sb, out = fs.sb, bytearray(data)
    for g, gd in enumerate(fs.groups):
        first, count = group_span(sb, g)
        bm = data[gd.block_bitmap * BS:(gd.block_bitmap + 1) * BS]
        for i in range(count):
            if not bm[i >> 3] >> (i & 7) & 1:
                out[(first + i) * BS:(first + i + 1) * BS] = bytes(BS)
    return bytes(out)


def _errno(fn: Callable[..., Any], *args: Any) -> str:
    with pytest.raises(SyscallError) as ei:
        fn(*args)
    return str(ei.value.errno)


def _unchanged(fs: Ext2, dev: MemoryDevice, clock: ManualClock,
               fn: Callable[..., Any], *args: Any) -> None:
    """``fn(*args)`` fails with ENOSPC and the image is byte-identical (the clock
    moved first, so a stray touch of any inode would show)."""
    clock.t += 100
    before = bytes(dev.data)
    free = (fs.sb.free_blocks, fs.sb.free_inodes)
    assert _errno(fn, *args) == "ENOSPC"
    assert bytes(dev.data) == before
    assert (fs.sb.free_blocks, fs.sb.free_inodes) == free
    assert verify(fs) == []


def _make(fs: Ext2, path: str, data: bytes) -> None:
    ino = fs.open(path, O_CREAT | O_RDWR)
    assert fs.write(ino, 0, data) == len(data)
    fs.close(ino)


def _cat(fs: Ext2, path: str) -> bytes:
    ino = fs.open(path)
    try:
        return fs.read(ino, 0, 1 << 20)
    finally:
        fs.close(ino)


def _setup(kib: int = 256, inodes: int | None = None) -> tuple[Ext2, MemoryDevice,
                                                               ManualClock]:
    clock = ManualClock()
    fs, dev = fresh(BS, kib=kib, inodes=inodes, clock=clock)
    _make(fs, "/keep", bytes(range(256)) * 20)
    return fs, dev, clock


KEEP = bytes(range(256)) * 20


def _after(fs: Ext2, dev: MemoryDevice, tmp_path: Any) -> None:
    """Existing data exact; unlink the filler, then a write that fits succeeds."""
    assert _cat(fs, "/keep") == KEEP
    ino = fs.open("/keep", O_RDWR)
    assert fs.write(ino, 100, b"in place") == 8         # needs no new block
    fs.write(ino, 100, KEEP[100:108])
    fs.close(ino)
    fs.unlink("/big")
    _make(fs, "/after", b"fits" * 1000)
    assert _cat(fs, "/after") == b"fits" * 1000 and _cat(fs, "/keep") == KEEP
    assert verify(fs) == []
    if all(TOOLS.values()):
        rc, out = fsck_bytes(tmp_path, dev.data)
        assert rc == 0, out


def test_one_big_write_fills_the_disk_and_the_next_write_changes_nothing(tmp_path):
    fs, dev, clock = _setup()
    big = fs.open("/big", O_CREAT | O_RDWR)
    n = fs.write(big, 0, b"B" * (1 << 20))
    assert 0 < n < 1 << 20 and fs.sb.free_blocks == 0        # short: the disk is full
    _unchanged(fs, dev, clock, fs.write, big, n, b"more")
    _unchanged(fs, dev, clock, fs.write, big, 5 << 20, b"far")     # a hole, then full
    _unchanged(fs, dev, clock, fs.mkdir, "/d")
    fs.close(big)
    _after(fs, dev, tmp_path)


def test_many_small_files_until_nothing_is_left(tmp_path):
    fs, dev, clock = _setup(kib=192, inodes=48)
    _make(fs, "/big", b"b" * 20_000)
    made = 0
    for i in range(200):
        p = f"/s{i:03d}"
        try:
            ino = fs.open(p, O_CREAT | O_RDWR)
        except SyscallError as ex:
            assert ex.errno == "ENOSPC"
            _unchanged(fs, dev, clock, fs.open, p, O_CREAT | O_RDWR)
            break
        if fs.write(ino, 0, bytes([i]) * 1500) < 1500:
            _unchanged(fs, dev, clock, fs.write, ino, 1500, b"x")
        made += 1
        fs.close(ino)
    else:
        pytest.fail("the disk never filled")
    assert made > 10
    for i in range(made):
        data = _cat(fs, f"/s{i:03d}")
        assert data == bytes([i]) * len(data)
    _after(fs, dev, tmp_path)


def test_a_directory_that_must_grow_on_a_full_disk_takes_no_inode(tmp_path):
    fs, dev, clock = _setup()
    fs.mkdir("/d")
    big = fs.open("/big", O_CREAT | O_RDWR)
    fs.write(big, 0, b"B" * (1 << 20))
    fs.close(big)
    assert fs.sb.free_blocks == 0
    names = 0
    while True:                     # 255-byte names: four fill a directory block
        p = f"/d/{names:03d}" + "n" * 252
        try:
            fs.close(fs.open(p, O_CREAT | O_RDWR))
        except SyscallError as ex:
            assert ex.errno == "ENOSPC"
            break
        names += 1
    _unchanged(fs, dev, clock, fs.open, p, O_CREAT | O_RDWR)
    _unchanged(fs, dev, clock, fs.mkdir, "/d/sub" + "m" * 250)
    _unchanged(fs, dev, clock, fs.link, "/keep", "/d/k" + "k" * 250)
    _unchanged(fs, dev, clock, fs.rename, "/keep", "/d/r" + "r" * 250)
    assert len(fs.listdir("/d")) == names and _cat(fs, "/keep") == KEEP
    _after(fs, dev, tmp_path)
    fs.close(fs.open(p, O_CREAT | O_RDWR))          # room now
    assert len(fs.listdir("/d")) == names + 1


def test_an_indirect_block_needed_at_the_edge_is_not_kept(tmp_path):
    """One block free; a write at block 12 needs an indirect block and a data
    block: ENOSPC, and the one free block is still free for another file."""
    fs, dev, clock = _setup()
    _make(fs, "/twelve", b"t" * (12 * BS))
    _make(fs, "/one", b"1" * BS)
    big = fs.open("/big", O_CREAT | O_RDWR)
    fs.write(big, 0, b"B" * (1 << 20))
    fs.close(big)
    fs.unlink("/one")
    assert fs.sb.free_blocks == 1
    tw = fs.open("/twelve", O_RDWR)
    _unchanged(fs, dev, clock, fs.write, tw, 12 * BS, b"x")
    _unchanged(fs, dev, clock, fs.write, tw, (12 + 256) * BS, b"y")   # double indirect
    fs.close(tw)
    assert fs.sb.free_blocks == 1
    _make(fs, "/one", b"2" * BS)                    # the block is still there to take
    assert _cat(fs, "/twelve") == b"t" * (12 * BS)
    fs.unlink("/one")
    _after(fs, dev, tmp_path)


# -- write-outs refused part-way ----------------------------------------------------------

def _base() -> MemoryDevice:
    """A small image with a file of 12 blocks, a directory and a second file."""
    dev = MemoryDevice(BS, 512)
    mkfs(dev, block_size=BS)
    fs = Ext2.mount(dev, clock=ManualClock())
    _make(fs, "/f", bytes(range(256)) * 48)
    fs.mkdir("/d")
    _make(fs, "/d/g", b"g" * 3000)
    return dev


def _w_grow(fs: Ext2) -> Any:
    ino = fs.open("/f", O_RDWR)
    try:        # a whole-block overwrite, a partial one, an indirect block, new blocks
        return fs.write(ino, BS, b"\xaa" * BS + b"\xbb" * (14 * BS + 7))
    finally:
        fs.close(ino)


OPS: dict[str, Callable[[Ext2], Any]] = {
    "write": _w_grow,
    "create": lambda fs: fs.open("/d/new", O_CREAT | O_RDWR),
    "mkdir": lambda fs: fs.mkdir("/d/e"),
    "rename": lambda fs: fs.rename("/d/g", "/g2"),
    "unlink": lambda fs: fs.unlink("/f"),
    "link": lambda fs: fs.link("/f", "/d/f2"),
}


def _writes_of(op: Callable[[Ext2], Any], base: bytes) -> tuple[int, bytes, Any]:
    """(device writes of ``op`` alone, the image after it, its result) on a copy."""
    dev = MemoryDevice(BS, 512)
    dev.data[:] = base
    counting = Refusing(dev)
    fs = Ext2.mount(counting, clock=ManualClock())
    counting.armed = 1 << 30
    out = op(fs)
    return (1 << 30) - counting.armed, bytes(dev.data), out


@pytest.mark.parametrize("name", sorted(OPS))
def test_a_write_out_refused_at_any_point_is_undone(name: str) -> None:
    """The k-th block of ``name``'s write-out is refused, for every k: ENOSPC,
    the image byte-identical to before, and the same call then succeeds with
    exactly the image a run without the refusal made."""
    op, base = OPS[name], bytes(_base().data)
    n, want, result = _writes_of(op, base)
    assert n >= 2
    for k in range(n):
        dev = MemoryDevice(BS, 512)
        dev.data[:] = base
        ref = Refusing(dev)
        fs = Ext2.mount(ref, clock=ManualClock())
        ref.armed = k
        assert _errno(op, fs) == "ENOSPC" and ref.refused == 1
        assert _in_use(fs, bytes(dev.data)) == _in_use(fs, base), (name, k)
        assert verify(fs) == []
        assert op(fs) == result
        assert bytes(dev.data) == want, (name, k)
        assert verify(fs) == []


@needs_tools
def test_after_a_refused_write_out_e2fsck_finds_nothing(tmp_path) -> None:
    dev = _base()
    ref = Refusing(dev)
    fs = Ext2.mount(ref, clock=ManualClock())
    for k in (0, 3, 6, 9):
        ref.armed = k
        assert _errno(_w_grow, fs) == "ENOSPC"
        rc, out = fsck_bytes(tmp_path, dev.data, f"img{k}")
        assert rc == 0, out
    assert _cat(fs, "/f") == bytes(range(256)) * 48
    assert _w_grow(fs) == 15 * BS + 7
    rc, out = fsck_bytes(tmp_path, dev.data)
    assert rc == 0, out


# -- a state machine on a tiny image ------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "d", "e", "f"])


def _bitmap_free(fs: Ext2) -> tuple[int, int]:
    """(free blocks, free inodes) counted from the bitmaps on the device."""
    sb, fb, fi = fs.sb, 0, 0
    for g, gd in enumerate(fs.groups):
        _, count = group_span(sb, g)
        bm = int.from_bytes(fs.dev.read_block(gd.block_bitmap), "little")
        fb += count - bin(bm & ((1 << count) - 1)).count("1")
        im = int.from_bytes(fs.dev.read_block(gd.inode_bitmap), "little")
        fi += sb.inodes_per_group - bin(im & ((1 << sb.inodes_per_group) - 1)).count("1")
    return fb, fi


class FullDisk(RuleBasedStateMachine):
    """create/write/truncate/unlink on a 96 KiB image where ENOSPC is common, some
    write-outs refused part-way; the model is name -> bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.mem = MemoryDevice(BS, 96)
        mkfs(self.mem, block_size=BS, inodes=16)
        self.dev = Refusing(self.mem)
        self.clock = ManualClock()
        self.fs = Ext2.mount(self.dev, clock=self.clock)
        self.model: dict[str, bytes] = {}

    def _try(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one call; an ENOSPC must have changed nothing at all."""
        self.clock.t += 1
        before = bytes(self.mem.data)
        try:
            return fn(*args)
        except SyscallError as ex:
            assert ex.errno == "ENOSPC", ex
            assert _in_use(self.fs, bytes(self.mem.data)) == _in_use(self.fs, before)
            return ex

    @rule(k=st.integers(0, 12))
    def refuse_soon(self, k):
        self.dev.armed = k

    @rule(name=NAMES)
    def create(self, name):
        out = self._try(self.fs.open, "/" + name, O_CREAT | O_RDWR)
        if type(out) is int:
            self.fs.close(out)
            self.model.setdefault(name, b"")

    @rule(name=NAMES, offset=st.integers(0, 20 * BS), size=st.integers(1, 9 * BS),
          byte=st.integers(1, 255))
    def write(self, name, offset, size, byte):
        if name not in self.model:
            return
        ino = self.fs.open("/" + name, O_RDWR)
        data = bytes([byte]) * size
        got = self._try(self.fs.write, ino, offset, data)
        self.fs.close(ino)
        if type(got) is int:
            old = self.model[name]
            new = bytearray(old.ljust(offset, b"\0"))
            new[offset:offset + got] = data[:got]
            self.model[name] = bytes(new) if got else old

    @rule(name=NAMES, size=st.integers(0, 16 * BS))
    def truncate(self, name, size):
        if name not in self.model:
            return
        ino = self.fs.open("/" + name, O_RDWR)
        out = self._try(self.fs.truncate, ino, size)
        self.fs.close(ino)
        if out is None:
            self.model[name] = self.model[name][:size].ljust(size, b"\0")

    @rule(name=NAMES)
    def unlink(self, name):
        if name not in self.model:
            return
        if self._try(self.fs.unlink, "/" + name) is None:
            del self.model[name]

    @invariant()
    def agrees(self):
        self.dev.armed, armed = None, self.dev.armed
        try:
            assert sorted(n for n in self.fs.listdir("/") if n != "lost+found") == \
                sorted(self.model)
            for name, data in self.model.items():
                assert _cat(self.fs, "/" + name) == data, name
            assert verify(self.fs) == []
            assert _bitmap_free(self.fs) == (self.fs.sb.free_blocks, self.fs.sb.free_inodes)
        finally:
            self.dev.armed = armed

    def teardown(self):
        if all(TOOLS.values()):
            import tempfile
            from pathlib import Path
            with tempfile.TemporaryDirectory() as d:
                rc, out = fsck_bytes(Path(d), self.mem.data)
            assert rc == 0, out


TestFullDisk = FullDisk.TestCase
TestFullDisk.settings = settings(max_examples=25, stateful_step_count=30, deadline=None,
                                 suppress_health_check=[HealthCheck.too_slow])


# -- through the kernels: a hostile filler next to a bystander ----------------------------

def test_on_exos_a_refused_write_out_poisons_nothing_after_it() -> None:
    """ExOS's ext2 over XN, system calls only: a forked child with its own XN
    principal takes every block ext2's bitmap still calls free, so ExOS's next
    write-out is refused by XN part-way (ENOSPC). The bystander's calls after it
    -- open, read, stat, an in-place overwrite -- are exact (before: every one
    was ENOSPC), and after an unlink a write fits, survives fsync, reads back."""
    from exolab.abi import SEEK_SET
    from exolab.kernels.exokernel import Sys
    from exolab.runner import run_program

    out: dict[str, Any] = {}

    def attack(os: Any) -> int:
        os.aegis(Sys.XN_PRINCIPAL, True)
        me = os.aegis(Sys.XN_PRINCIPAL, False)
        os.aegis(Sys.XN_SYNC)
        free = os.aegis(Sys.XN_FREE_LIST, 0, 1000)
        root, leaves = free[-1], free[:-1]
        out["taken"] = len(leaves)
        acl = f"def acl(data, op, principal):\n    return principal == {me}\n"
        size = "def size(data):\n    return 16\n"
        os.aegis(Sys.XN_INSTALL, "h leaf", acl + size)
        os.aegis(Sys.XN_INSTALL, "h dir", "def owns(data):\n    return ["
                 + ", ".join(f"({b}, 'h leaf')" for b in leaves) + "]\n" + acl + size)
        os.aegis(Sys.XN_REGISTER, "mine", root, "h dir")
        os.aegis(Sys.XN_MODIFY, root, [], [(b, "h leaf") for b in leaves], [])
        os.aegis(Sys.XN_SYNC)       # (on disk: the tree outlives the child; unwritten, not)
        return 0

    def err(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except SyscallError as ex:
            return ex.errno

    def main(os: Any) -> None:
        fd = os.open("/keep", O_CREAT | O_RDWR)
        os.write(fd, b"keep" * 100)
        os.fsync(fd)
        os.close(fd)
        fd = os.open("/big", O_CREAT | O_RDWR)
        for _ in range(110):                # fewer blocks left than the child takes
            os.write(fd, b"G" * 65536)
        os.fsync(fd)
        os.close(fd)
        out["child"] = os.wait(os.fork(attack))
        fd = os.open("/f", O_CREAT | O_RDWR)
        out["refused"] = err(os.write, fd, b"F" * 9000)
        os.close(fd)
        k = err(os.open, "/keep", O_RDWR)
        out["open"] = k
        out["read"] = err(os.read, k, 400)
        os.lseek(k, 0, SEEK_SET)
        out["overwrite"] = err(os.write, k, b"KEEP")
        os.close(k)
        out["stat"] = err(lambda: os.stat("/keep").size)
        os.unlink("/big")
        fd = os.open("/g", O_CREAT | O_RDWR)
        out["after"] = err(os.write, fd, b"H" * 3000)
        os.fsync(fd)
        os.close(fd)
        fd = os.open("/g", 0)
        out["g"] = os.read(fd, 4000)
        os.close(fd)

    r = run_program(main, kernel="exokernel", trusted=True)
    assert r.result.reason == "finished" and r.faults == [], r.faults
    assert out["child"][1] == 0 and out["taken"] > 100
    assert out["refused"] == "ENOSPC"
    assert type(out["open"]) is int and out["read"] == b"keep" * 100
    assert out["overwrite"] == 4 and out["stat"] == 400
    assert out["after"] == 3000 and out["g"] == b"H" * 3000


@needs_tools
def test_on_the_monolithic_kernel_a_filler_leaves_a_bystander_exact(tmp_path) -> None:
    """A child fills the monolithic kernel's disk (a big write, then small files
    until ENOSPC); the parent, a bystander with its own file, gets ENOSPC only
    for a call that needs a new block, its file stays exact, and after it
    unlinks the filler's big file its append fits; e2fsck accepts the image."""
    from exolab.abi import O_WRONLY, SEEK_SET
    from exolab.kernels.monolithic import MonolithicKernel
    from exolab.machine.machine import Machine
    from exolab.services.ext2.image import make_image

    img = tmp_path / "fs.img"
    make_image(img, 512 << 10, BS)
    out: dict[str, Any] = {}
    mine = bytes(range(256)) * 12

    def filler(os: Any) -> int:
        fd = os.open("/big", O_CREAT | O_WRONLY, 0o644)
        n = os.write(fd, b"B" * (1 << 20))
        os.close(fd)
        for i in range(100):
            try:
                fd = os.open(f"/s{i}", O_CREAT | O_WRONLY, 0o644)
                os.write(fd, b"s" * 3000)
            except SyscallError as ex:
                return 0 if ex.errno == "ENOSPC" and n < 1 << 20 else 1
            finally:
                os.close(fd)
        return 2

    def main(os: Any) -> None:
        fd = os.open("/mine", O_CREAT | O_RDWR, 0o644)
        os.write(fd, mine)
        out["child"] = os.wait(os.fork(filler))
        try:
            os.write(fd, b"more" * 1000)
        except SyscallError as ex:
            out["append"] = ex.errno
        os.lseek(fd, 10, SEEK_SET)
        out["overwrite"] = os.write(fd, b"HERE")
        os.lseek(fd, 0, SEEK_SET)
        out["read"] = os.read(fd, 1 << 16)
        os.unlink("/big")
        out["after"] = os.write(fd, b"more" * 1000)
        os.close(fd)

    m = Machine("dec5000", seed=0)
    disk = m.attach_disk(str(img), block_size=BS)
    k = MonolithicKernel(m)
    k.boot(main)
    assert k.run().reason == "finished" and k.faults == []
    k.shutdown()
    m.close()
    disk.close()
    assert out["child"][1] == 0 and out["append"] == "ENOSPC"
    assert out["overwrite"] == 4
    assert out["read"] == mine[:10] + b"HERE" + mine[14:]
    assert out["after"] == 4000
    rc, text = fsck_bytes(tmp_path, img.read_bytes(), "check")
    assert rc == 0, text


def test_on_xn_a_refused_write_out_leaves_ext2_and_its_image_exact(tmp_path) -> None:
    """ext2 over XN (XNBlocks, DirectXN): a hostile principal takes every block
    ext2's bitmap calls free; ext2's write of a new file is refused half-way
    (ENOSPC) and undone: the next calls work (before: ENOSPC for each, even a
    stat), verify finds nothing (before: the taken blocks marked used), and after
    an unlink a write fits and the synced image passes e2fsck."""
    from exolab.kernels.exokernel.xn import XN, HostPages
    from exolab.libos.exos.fs_udf import (ROOT_NAME, ROOT_TYPE, library_owns,
                                          root_block, templates)
    from exolab.libos.exos.fs_xn import DirectXN, XNBlocks
    from exolab.services.ext2.frame import _read_super

    ext2_blocks, me, hostile = 2048, 7, 13
    dev, part = MemoryDevice(BS, 4096), MemoryDevice(BS, ext2_blocks)
    mkfs(part, block_size=BS)
    dev.data[:len(part.data)] = part.data
    xn = XN(dev, HostPages())
    src = templates(_read_super(part), me)
    client = DirectXN(xn, me)
    for name, text in src.items():
        client.install(name, text)
    xn.adopt_root(me, ROOT_NAME, root_block(BS), ROOT_TYPE)
    blocks = XNBlocks(client, library_owns(src), root_block(BS), ROOT_TYPE, BS, 4096)
    fs = Ext2.mount(blocks)
    _make(fs, "/keep", KEEP)
    _make(fs, "/big", b"G" * 1_500_000)
    fs.sync()
    xn.sync()
    free = [b for b in range(fs.sb.first_data_block, fs.sb.blocks_count)
            if not fs.alloc.block_in_use(b) and xn.free_map.state(b) == 0]
    acl = f"def acl(data, op, principal):\n    return principal == {hostile}\n"
    xn.install_type("h leaf", acl + "def size(data):\n    return 1024\n")
    xn.install_type("h dir", "def owns(data):\n    return ["
                    + ", ".join(f"({b}, 'h leaf')" for b in free) + "]\n" + acl
                    + "def size(data):\n    return 1024\n")
    root = xn.free_blocks(3500, 1)[0]
    xn.register_root(hostile, "mine", root, "h dir")
    xn.modify(hostile, root, [], [(b, "h leaf") for b in free], [])
    counts = (fs.sb.free_blocks, fs.sb.free_inodes)
    ino = fs.open("/f", O_CREAT | O_RDWR)
    assert _errno(fs.write, ino, 0, b"F" * 9000) == "ENOSPC"
    assert blocks.n_moved > 0 and blocks.held() == 0
    assert (fs.sb.free_blocks, fs.sb.free_inodes + 1) == counts
    assert fs.stat("/f").size == 0 and fs.stat("/keep").size == len(KEEP)
    assert _cat(fs, "/keep") == KEEP and verify(fs) == []
    fs.close(ino)
    fs.unlink("/big")
    _make(fs, "/g", b"H" * 3000)
    assert _cat(fs, "/g") == b"H" * 3000 and verify(fs) == []
    fs.sync()
    xn.sync()
    if all(TOOLS.values()):
        rc, out = fsck_bytes(tmp_path, dev.data[:ext2_blocks * BS])
        assert rc == 0, out
