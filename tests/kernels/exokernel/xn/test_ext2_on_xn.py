"""ext2 as ExOS's library file system over XN.

Host level: services/ext2, unchanged, over XN (XNBlocks): every operation
keeps verify clean, XN's free map after a crash agrees with ext2's own
counts, and e2fsck accepts the image. Machine level: a program on Aegis
writes through the file ABI to an attached disk image made by mke2fs; after
fsync e2fsck -fn is clean and debugfs shows what it wrote.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exolab.abi import O_CREAT, O_RDWR
from exolab.errors import SyscallError
from exolab.kernels import make_kernel
from exolab.kernels.exokernel.xn import XN, HostPages
from exolab.libos.exos.fs_udf import ROOT_NAME, ROOT_TYPE, library_owns, root_block, templates
from exolab.libos.exos.fs_xn import DirectXN, XNBlocks, diff
from exolab.machine.machine import Machine
from exolab.services.ext2 import Ext2, MemoryDevice, mkfs, verify
from exolab.services.ext2 import O_CREAT as E_CREAT, O_RDWR as E_RDWR
from exolab.services.ext2.frame import _read_super

E2FS = shutil.which("e2fsck") and shutil.which("debugfs") and shutil.which("mke2fs")
needs_e2fs = pytest.mark.skipif(not E2FS, reason="e2fsprogs not installed")


def _over_xn(bs: int, blocks: int) -> tuple[MemoryDevice, XN, Ext2, XNBlocks]:
    dev = MemoryDevice(bs, blocks)
    mkfs(dev, block_size=bs)
    src = templates(_read_super(dev), 7)
    xn = XN(dev, HostPages())
    c = DirectXN(xn, 7)
    for name, text in src.items():
        c.install(name, text)
    xn.adopt_root(7, ROOT_NAME, root_block(bs), ROOT_TYPE)
    blk = XNBlocks(c, library_owns(src), root_block(bs), ROOT_TYPE, bs, blocks)
    return dev, xn, Ext2.mount(blk), blk


def test_diff_is_one_run() -> None:
    assert diff(b"abcdef", b"abcdef") == []
    assert diff(b"abcdef", b"aXcdYf") == [(1, b"XcdY")]


@pytest.mark.parametrize("bs", [1024, 4096])
def test_every_operation_over_xn_keeps_ext2_and_xn_exact(bs: int) -> None:
    dev, xn, fs, blk = _over_xn(bs, 4096 if bs == 1024 else 2048)
    big = bytes(range(256)) * 1200                       # through indirect blocks
    ino = fs.open("/big", E_CREAT | E_RDWR)
    fs.write(ino, 0, big)
    fs.write(ino, 5_000_000, b"tail")                    # sparse, double indirect
    fs.close(ino)
    fs.mkdir("/d")
    for i in range(40):
        f = fs.open(f"/d/{'n' * 100}{i}", E_CREAT | E_RDWR)
        fs.write(f, 0, bytes([i]) * (i * 37))
        fs.close(f)
    fs.link("/big", "/d/hard")
    fs.unlink("/d/" + "n" * 100 + "3")
    fs.rename("/d/hard", "/hard")
    ino = fs.open("/big", E_RDWR)
    fs.truncate(ino, 3000)
    fs.close(ino)
    fs.sync()
    assert blk.held() == 0 and verify(fs) == []
    assert xn.statistics().dirty == 0 and xn.statistics().pending == 0
    xn.crash()
    used = xn.recover()
    sb = Ext2.mount(MemoryDevice(bs, dev.blocks, bytes(dev.data))).sb
    assert xn.n_conflicts == 0
    assert used == sb.blocks_count - sb.free_blocks + (0 if bs == 1024 else 0)
    fs2 = Ext2.mount(MemoryDevice(bs, dev.blocks, bytes(dev.data)))
    assert verify(fs2) == []
    assert fs2.read(fs2.open("/hard", 0), 0, 4000) == big[:3000]


def test_ext2_cannot_point_at_a_block_xn_gave_away() -> None:
    dev, xn, fs, blk = _over_xn(1024, 4096)
    ino = fs.open("/a", E_CREAT | E_RDWR)
    fs.write(ino, 0, b"x" * 1024)
    fs.sync()
    # the itable block of /a now owns one data block; a forged pointer to a used
    # block (the root directory's) must be refused and leave everything as it was
    n = fs.stat("/a").ino
    itb = next(e for e in xn.reg.entries() if e.tmpl.name == "ext2 itable")
    root_dir = next(b for b, t in itb.children.items() if t == "ext2 dir")
    off = ((n - 1) % (1024 // 128)) * 128 + 40 + 4
    with pytest.raises(Exception) as ei:
        blk.c.modify(itb.block, [(off, root_dir.to_bytes(4, "little"))],
                     [(root_dir, "ext2 data")], [])
    assert getattr(ei.value, "errno", None) == "EEXIST"
    assert verify(fs) == []


def _image(tmp_path: Path, bs: int) -> Path:
    img = tmp_path / "disk.img"
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "hello.txt").write_bytes(b"hello from mke2fs\n")
    (src / "sub" / "big.bin").write_bytes(bytes(range(256)) * 300)
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext2", "-r", "1", "-b", str(bs), "-O",
                    "none,filetype,sparse_super,large_file", "-m", "0", "-d", str(src),
                    str(img), "4M"], check=True, capture_output=True)
    return img


@needs_e2fs
@pytest.mark.parametrize("bs", [1024, 4096])
def test_a_program_on_aegis_writes_an_image_e2fsck_accepts(tmp_path: Path, bs: int) -> None:
    img = _image(tmp_path, bs)
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        fd = os.open("/hello.txt", 0)
        out["hello"] = os.read(fd, 100)
        os.close(fd)
        fd = os.open("/sub/big.bin", 0)
        out["big"] = os.read(fd, 100_000)
        os.close(fd)
        os.mkdir("/made")
        fd = os.open("/made/by-exos.txt", O_CREAT | O_RDWR)
        os.write(fd, b"written by ExOS over XN\n" * 100)
        os.fsync(fd)
        os.close(fd)
        os.unlink("/hello.txt")
        fd = os.open("/made/by-exos.txt", 0)
        os.fsync(fd)
        os.close(fd)
        out["ls"] = os.listdir("/")

    m = Machine("dec5000", frames=16384)
    m.attach_disk(str(img), block_size=bs)
    k = make_kernel("exokernel", m)
    k.boot(main)
    r = k.run()
    k.shutdown()                    # the end of a run (runner.run): XN writes back
    assert r.reason == "finished" and k.faults == [], k.faults
    m.disks[0].close()
    assert out["hello"] == b"hello from mke2fs\n"
    assert out["big"] == bytes(range(256)) * 300
    assert out["ls"] == ["lost+found", "made", "sub"]
    fsck = subprocess.run(["e2fsck", "-fn", str(img)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    cat = subprocess.run(["debugfs", "-R", "cat /made/by-exos.txt", str(img)],
                         capture_output=True)
    assert cat.stdout == b"written by ExOS over XN\n" * 100
    st = k.xn.statistics()
    assert st.refused == 0 and st.disk_writes > 0


def test_a_foreign_disk_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    img = tmp_path / "foreign.img"
    junk = bytes((i * 37 + 11) % 251 for i in range(1024 * 64))
    img.write_bytes(junk)
    got: dict[str, Any] = {}

    def main(os: Any) -> None:
        try:
            os.open("/x", O_CREAT | O_RDWR)
        except Exception as ex:          # (trusted: the host exception class)
            got["errno"] = getattr(ex, "errno", None)

    m = Machine("dec5000", frames=16384)
    m.attach_disk(str(img), block_size=1024)
    k = make_kernel("exokernel", m)
    k.boot(main)
    assert k.run().reason == "finished" and k.faults == []
    m.disks[0].close()
    assert got["errno"] == "EIO"
    assert img.read_bytes() == junk


@needs_e2fs
@pytest.mark.parametrize("cut", [101_000_000, 112_345_678, 130_000_001])
def test_a_power_cut_loses_no_synced_byte(tmp_path: Path, cut: int) -> None:
    """Files written and fsynced by a program on Aegis; the power is cut at a fixed
    cycle (torn writes); every fsynced file reads back exact and e2fsck -p repairs
    whatever else without asking (leaked blocks and inodes, bitmap differences)."""
    img = _image(tmp_path, 1024)
    synced: list[int] = []

    def main(os: Any) -> None:
        for i in range(60):
            fd = os.open(f"/f{i}", O_CREAT | O_RDWR)
            os.write(fd, bytes([i % 251]) * (700 + 300 * (i % 7)))
            os.fsync(fd)
            os.close(fd)
            synced.append(i)
            if i % 3 == 0 and i:
                os.unlink(f"/f{i - 1}")
                synced.remove(i - 1)

    m = Machine("dec5000", frames=16384)
    m.attach_disk(str(img), block_size=1024)
    k = make_kernel("exokernel", m)
    k.boot(main)
    k.run(until=cut)
    m.disks[0].power_cut("tear")
    m.disks[0].close()
    assert synced, "the cut came before the first fsync: move it later"
    for i in synced[:-1]:           # (the last may be unlinked-in-flight: skip it)
        cat = subprocess.run(["debugfs", "-R", f"cat /f{i}", str(img)], capture_output=True)
        assert cat.stdout == bytes([i % 251]) * (700 + 300 * (i % 7)), i
    fix = subprocess.run(["e2fsck", "-fp", str(img)], capture_output=True, text=True)
    assert fix.returncode in (0, 1), fix.stdout + fix.stderr
    again = subprocess.run(["e2fsck", "-fn", str(img)], capture_output=True, text=True)
    assert again.returncode == 0, again.stdout


def test_the_library_keeps_its_copy_of_metadata_and_asks_xn_again_for_another_caller() -> None:
    dev, xn, fs, blk = _over_xn(4096, 2048)
    ino = fs.open("/a", E_CREAT | E_RDWR)
    fs.write(ino, 0, b"hello")
    fs.close(ino)
    reads = xn.statistics().reads
    for _ in range(5):
        assert "a" in fs.listdir("/")
    assert xn.statistics().reads == reads           # root dir, inode table: the copies
    other = DirectXN(xn, 8)                         # another principal, same memory
    blk.c = other
    with pytest.raises(SyscallError) as ex:
        fs.listdir("/")
    assert ex.value.errno == "EPERM"                # XN was asked, and refused
    blk.c = DirectXN(xn, 7)
    assert "a" in fs.listdir("/")


def test_a_block_xn_evicted_is_read_again_before_the_library_changes_it() -> None:
    dev, xn, fs, blk = _over_xn(4096, 2048)
    fs.mkdir("/d")
    fs.sync()
    for b in sorted(xn.reg._e, reverse=True):       # drop every clean leaf-most entry
        e = xn.reg.get(b)
        if e is not None and not e.dirty and not xn.reg._n_children.get(b) and b != blk.root:
            xn.reg.drop(b)
    ino = fs.open("/d/x", E_CREAT | E_RDWR)         # changes the dir and the inode table
    fs.write(ino, 0, b"y" * 10)
    fs.close(ino)
    fs.sync()
    assert verify(fs) == [] and fs.read(fs.open("/d/x", E_RDWR), 0, 10) == b"y" * 10


def test_fsync_over_xn_is_a_whole_sync_first_and_when_a_bitmap_frees(
        monkeypatch: pytest.MonkeyPatch) -> None:
    dev, xn, fs, blk = _over_xn(4096, 2048)
    answers: list[bool] = []
    inner = XNBlocks.sync_file

    def spy(self: XNBlocks, want: Any, records: Any) -> bool:
        answers.append(inner(self, want, records))
        return answers[-1]
    monkeypatch.setattr(XNBlocks, "sync_file", spy)
    a = fs.open("/a", E_CREAT | E_RDWR)
    fs.write(a, 0, b"a" * 5000)
    fs.fsync(a)                                     # no whole sync since the mount
    fs.write(a, 5000, b"b")
    fs.fsync(a)                                     # the file's set alone
    b = fs.open("/b", E_CREAT | E_RDWR)
    fs.write(b, 0, b"b" * 5000)
    fs.fsync(b)
    fs.close(b)
    fs.unlink("/b")                                 # frees: the bitmaps clear bits
    fs.write(a, 0, b"c")
    fs.fsync(a)
    assert answers == [False, True, True, False]
    assert xn.statistics().dirty == 0 and verify(fs) == []
