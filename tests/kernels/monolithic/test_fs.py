"""The monolithic kernel's in-kernel ext2 (fs.py) and its buffer cache (bcache.py):
write-back until a sync, fsync durable across a power cut, cache hits, copies
and disk requests charged, eviction under a small cache, EIO for a bad disk."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exolab.abi import O_CREAT, O_RDONLY, O_RDWR, O_WRONLY, SEEK_SET
from exolab.errors import SyscallError
from exolab.kernels.monolithic import MonolithicKernel
from exolab.kernels.monolithic import fs as fsmod
from exolab.machine.machine import Machine
from exolab.services.ext2 import Ext2, FileDevice, verify
from exolab.services.ext2.image import make_image, probe


def _boot(img: Path, program: Any, *args: Any) -> tuple[Machine, MonolithicKernel, Any]:
    """A machine with ``img`` attached and ``program`` booted (not yet run)."""
    m = Machine("dec5000", seed=0)
    disk = m.attach_disk(str(img), block_size=probe(img).block_size)
    k = MonolithicKernel(m)
    k.boot(program, *args)
    return m, k, disk


def _read_image(img: Path, path: str) -> bytes | None:
    """``path``'s bytes in the image file (host side), None if it is not there."""
    dev = FileDevice(img, probe(img).block_size)
    try:
        fs = Ext2.mount(dev)
        try:
            ino = fs.open(path)
        except SyscallError:
            return None
        return fs.read(ino, 0, 1 << 22)
    finally:
        dev.close()


@pytest.fixture()
def img(tmp_path: Path) -> Path:
    path = tmp_path / "fs.img"
    make_image(path, 4 << 20, 1024)
    return path


def test_writes_stay_in_the_cache_until_fsync_and_fsync_survives_a_cut(img: Path) -> None:
    seen: dict[str, Any] = {}

    def main(os: Any) -> None:
        fd = os.open("/kept", O_CREAT | O_WRONLY, 0o644)
        os.write(fd, b"durable" * 100)
        seen["before_fsync"] = k.machine.disks[0].statistics().writes
        os.fsync(fd)
        seen["after_fsync"] = k.machine.disks[0].statistics().writes
        os.close(fd)
        fd = os.open("/volatile", O_CREAT | O_WRONLY, 0o644)
        os.write(fd, b"lost")
        os.close(fd)
        os.compute(1000)
        os.yield_()

    m, k, disk = _boot(img, main)
    k.run()
    disk.power_cut("drop")                  # no clean shutdown: the cache is gone
    m.close()
    disk.close()
    assert seen["before_fsync"] == 2        # the "mounted, not clean" superblock + table
    assert seen["after_fsync"] > 1
    assert _read_image(img, "/kept") == b"durable" * 100
    assert _read_image(img, "/volatile") is None


def test_a_clean_shutdown_writes_everything_and_marks_the_image_clean(img: Path) -> None:
    def main(os: Any) -> None:
        os.mkdir("/d", 0o755)
        for i in range(30):
            fd = os.open("/d/" + str(i), O_CREAT | O_WRONLY, 0o644)
            os.write(fd, bytes([i]) * (i * 97))
            os.close(fd)

    m, k, disk = _boot(img, main)
    k.run()
    k.shutdown()
    m.close()
    disk.close()
    for i in range(30):
        assert _read_image(img, f"/d/{i}") == bytes([i]) * (i * 97)
    dev = FileDevice(img, 1024)
    fs = Ext2.mount(dev)
    assert fs.sb.state & 1 and verify(fs) == []
    dev.close()


def test_cache_hits_copies_and_syscalls_are_counted(img: Path) -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        fd = os.open("/f", O_CREAT | O_RDWR, 0o644)
        os.write(fd, b"z" * 1024)
        mem, cache = k.machine.memory, k.fs.cache
        before = (mem.statistics(), cache.statistics(), k.machine.disks[0].statistics())
        os.lseek(fd, 0, SEEK_SET)
        out["data"] = os.read(fd, 1024)
        after = (mem.statistics(), cache.statistics(), k.machine.disks[0].statistics())
        out["stats"] = (before, after)
        os.close(fd)

    m, k, disk = _boot(img, main)
    k.run()
    m.close()
    disk.close()
    (mem0, c0, d0), (mem1, c1, d1) = out["stats"]
    assert out["data"] == b"z" * 1024
    assert d1.reads == d0.reads                       # served by the buffer cache
    assert c1.hits > c0.hits and c1.misses == c0.misses
    assert mem1.bytes_copied - mem0.bytes_copied >= 1024


def test_a_small_cache_evicts_and_stays_correct(img: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fsmod, "CACHE_BLOCKS", 24)
    data = bytes(range(256)) * 800                    # 200 KiB: far over 24 blocks
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        fd = os.open("/big", O_CREAT | O_RDWR, 0o644)
        os.write(fd, data)
        os.lseek(fd, 0, SEEK_SET)
        out["back"] = os.read(fd, len(data) + 10)
        os.close(fd)
        out["evictions"] = k.fs.cache.statistics().evictions

    m, k, disk = _boot(img, main)
    k.run()
    k.shutdown()
    m.close()
    disk.close()
    assert out["back"] == data and out["evictions"] > 0
    assert _read_image(img, "/big") == data


def test_a_disk_that_is_not_ext2_is_eio(tmp_path: Path) -> None:
    bad = tmp_path / "bad.img"
    bad.write_bytes(bytes(1 << 20))
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        for call, args in (("open", ("/x", O_RDONLY, 0)), ("stat", ("/",))):
            try:
                getattr(os, call)(*args)
            except SyscallError as ex:
                out[call] = ex.errno

    m = Machine("dec5000")
    disk = m.attach_disk(str(bad), block_size=1024)
    k = MonolithicKernel(m)
    k.boot(main)
    k.run()
    k.shutdown()
    m.close()
    disk.close()
    assert out == {"open": "EIO", "stat": "EIO"}
    assert bad.read_bytes() == bytes(1 << 20)


def test_fsync_writes_that_file_alone_and_another_files_blocks_stay_dirty(
        img: Path, tmp_path: Path) -> None:
    import shutil
    import subprocess
    seen: dict[str, Any] = {}

    def blocks(path: str) -> set[int]:
        fs = k.fs.mounted()
        node = fs._call(fs._resolve, path)
        return set(fs._call(fs.bmap.blocks_of, node)[0])

    def main(os: Any) -> None:
        a = os.open("/a", O_CREAT | O_WRONLY, 0o644)
        b = os.open("/b", O_CREAT | O_WRONLY, 0o644)
        os.write(a, b"A" * 20_000)                  # past 12 blocks: an indirect one
        os.write(b, b"B" * 20_000)
        dirty = set(k.fs.cache._dirty)
        seen["a_dirty"] = blocks("/a") <= dirty
        seen["b_dirty"] = blocks("/b") <= dirty
        os.fsync(a)
        dirty = set(k.fs.cache._dirty)
        seen["a_after"] = blocks("/a") & dirty
        seen["b_after"] = blocks("/b") <= dirty
        seen["stats"] = k.fs.cache.statistics()

    m, k, disk = _boot(img, main)
    k.run()
    disk.power_cut("drop")
    m.close()
    disk.close()
    assert seen["a_dirty"] and seen["b_dirty"]
    assert seen["a_after"] == set() and seen["b_after"]   # b's blocks were not written
    assert seen["stats"].file_syncs == 1 and seen["stats"].syncs == 1   # (the mount's)
    fsck = shutil.which("e2fsck") or shutil.which("/sbin/e2fsck")
    if fsck is not None:                                  # repairable, a kept whole
        rc = subprocess.run([fsck, "-fp", str(img)], capture_output=True).returncode
        assert rc in (0, 1)
        assert subprocess.run([fsck, "-fn", str(img)], capture_output=True).returncode == 0
    assert _read_image(img, "/a") == b"A" * 20_000
    assert _read_image(img, "/b") is None
