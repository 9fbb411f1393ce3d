"""Malformed images: a typed DiskImageError at mount (or at the operation that meets
the damage), never another exception, never a hang, and mount changes nothing."""
from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exolab.errors import DiskImageError, SyscallError
from exolab.services.ext2 import O_CREAT, O_RDWR, Ext2, MemoryDevice

from .helpers import fresh

SB = 1024                               # superblock byte offset (1 KiB blocks)


def _image() -> bytes:
    """A small 1 KiB-block image with files, directories and a multi-block directory."""
    fs, dev = fresh(1024, kib=1024, inodes=64)
    fs.mkdir("/d")
    fs.mkdir("/d/e")
    for i in range(12):
        ino = fs.open(f"/d/{'n' * 60}{i}", O_CREAT | O_RDWR)
        fs.write(ino, 0, bytes([i]) * (i * 3000))
        fs.close(ino)
    ino = fs.open("/sparse", O_CREAT | O_RDWR)
    fs.write(ino, 400_000, b"x")
    fs.close(ino)
    return bytes(dev.data)


IMAGE = _image()


def _mount(data: bytes) -> Ext2:
    return Ext2.mount(MemoryDevice(1024, len(data) // 1024, data))


def _patch(data: bytes, off: int, fmt: str, value: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, off, value)
    return bytes(buf)


def _where(path: str) -> tuple[int, int]:
    """(ino, first block) of ``path`` in IMAGE."""
    fs = _mount(IMAGE)
    node = fs._call(fs._resolve, path)
    return node.ino, node.block[0]


@pytest.mark.parametrize("what,off,fmt,value", [
    ("magic", SB + 56, "<H", 0x1234),
    ("block size", SB + 24, "<I", 9),
    ("blocks per group", SB + 32, "<I", 77),
    ("blocks count", SB + 4, "<I", 8000),                  # beyond the device
    ("inodes count", SB + 0, "<I", 3),
    ("free blocks count", SB + 12, "<I", 10 ** 8),
    ("revision", SB + 76, "<I", 7),
    ("incompatible features", SB + 96, "<I", 0x40),         # extents
    ("inode size", SB + 88, "<H", 100),
    ("first inode", SB + 84, "<I", 1),
    ("group 0 inode table block", 2048 + 8, "<I", 10 ** 7),
    ("group 0 block bitmap block", 2048 + 0, "<I", 0),
    ("group 0 counts", 2048 + 12, "<H", 60000),
])
def test_each_kind_of_damage_is_refused_at_mount(what, off, fmt, value):
    data = _patch(IMAGE, off, fmt, value)
    dev = MemoryDevice(1024, len(data) // 1024, data)
    with pytest.raises(DiskImageError) as ei:
        Ext2.mount(dev)
    assert ei.value.what == what
    assert bytes(dev.data) == data                          # nothing written


def test_a_directory_loop_is_refused_at_mount():
    e_ino, _ = _where("/d/e")
    d_ino, _ = _where("/d")
    _, e_blk = _where("/d/e")
    # /d/e's ".." entry is at offset 12: turn it into a subdirectory named ".x"
    # pointing back at /d (and keep the names valid)
    data = bytearray(IMAGE)
    off = e_blk * 1024 + 12
    struct.pack_into("<IHBB", data, off, d_ino, 1024 - 12, 2, 2)
    data[off + 8:off + 10] = b".x"
    with pytest.raises(DiskImageError) as ei:
        _mount(bytes(data))
    assert ei.value.what == "directory tree"


def test_a_zero_rec_len_is_refused_not_looped_on():
    _, root_blk = _where("/")
    data = _patch(IMAGE, root_blk * 1024 + 4, "<H", 0)
    with pytest.raises(DiskImageError) as ei:
        _mount(data)
    assert ei.value.what == "directory entry"


def test_a_device_too_small_for_the_superblock_is_refused():
    with pytest.raises(DiskImageError):
        Ext2.mount(MemoryDevice(1024, 1))
    with pytest.raises(DiskImageError):
        Ext2.mount(MemoryDevice(1024, 64))                  # all zeros: bad magic


def _exercise(fs: Ext2) -> None:
    """Touch everything reachable; only typed errors may come out."""
    todo, seen = ["/"], set()
    while todo and len(seen) < 200:
        d = todo.pop()
        for name in fs.listdir(d):
            p = d.rstrip("/") + "/" + name
            try:
                st_ = fs.stat(p)
                if st_.ino in seen:
                    continue
                seen.add(st_.ino)
                if st_.mode & 0o170000 == 0o040000:
                    todo.append(p)
                else:
                    ino = fs.open(p, O_RDWR)
                    fs.read(ino, 0, 1 << 16)
                    fs.write(ino, 100, b"w")
                    fs.truncate(ino, 10)
                    fs.close(ino)
                    fs.unlink(p)
            except SyscallError:
                pass
    ino = fs.open("/new", O_CREAT | O_RDWR)
    fs.write(ino, 0, b"n" * 20000)
    fs.mkdir("/newdir")
    fs.rename("/newdir", "/d/moved")


# byte ranges worth damaging: superblock, descriptor table, inode table, directories
_REGIONS = [(SB, SB + 1024), (2048, 3072)]
_fs0 = _mount(IMAGE)
_it = _fs0.groups[0].inode_table
_REGIONS.append((_it * 1024, (_it + 4) * 1024))
for _p in ("/", "/d"):
    _REGIONS.append((_where(_p)[1] * 1024, (_where(_p)[1] + 1) * 1024))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_REGIONS) - 1), st.integers(0, 1023),
                          st.integers(1, 255)), min_size=1, max_size=6))
def test_byte_flips_give_typed_errors_never_a_crash(flips):
    data = bytearray(IMAGE)
    for region, off, x in flips:
        lo, hi = _REGIONS[region]
        data[lo + off % (hi - lo)] ^= x
    try:
        fs = _mount(bytes(data))
    except DiskImageError:
        return
    try:
        _exercise(fs)
    except (DiskImageError, SyscallError):
        pass
