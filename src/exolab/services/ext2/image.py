"""Host image files: check one before a machine attaches it, make one from a directory.

:func:`probe` opens an image read-only and mounts it (mount only reads, and
walks the whole directory tree), so a malformed or foreign image is refused
with a :class:`DiskImageError` naming what is wrong, before anything could
write to it. :func:`make_image` creates a fresh image with :func:`mkfs` and,
given a host directory, copies its tree in (regular files, directories, hard
links; runs of zeros become holes); ``mke2fs -d`` does the same with every
file type, and is the tool docs/files.md recommends for anything beyond that.

Interface::

    ImageInfo(block_size, blocks, inodes, free_blocks, free_inodes)
    probe(path) -> ImageInfo                  DiskImageError if it is not a mountable ext2
    make_image(path, size, block_size=1024, source=None) -> ImageInfo
    parse_size(text) -> int                   "8M", "64MiB", "1G", "4096" -> bytes
"""
from __future__ import annotations

import os
import stat as st
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exolab.errors import ConfigError, DiskImageError, SyscallError, safe_repr
from exolab.services.ext2.core import O_CREAT, O_WRONLY
from exolab.services.ext2.fs import Ext2
from exolab.services.ext2.interfaces import MemoryDevice
from exolab.services.ext2.layout import SB_OFFSET, SB_SIZE
from exolab.services.ext2.mkfs import mkfs

__all__ = ["ImageInfo", "probe", "make_image", "parse_size"]

_MAGIC = 0xEF53
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What a mountable image holds."""

    block_size: int
    blocks: int
    inodes: int
    free_blocks: int
    free_inodes: int


class _ReadOnly:
    """A host image as a BlockIO that refuses every write (probe changes nothing)."""

    __slots__ = ("block_size", "blocks", "_fd", "path")

    def __init__(self, path: str, block_size: int, fd: int, size: int) -> None:
        self.path, self._fd = path, fd
        self.block_size, self.blocks = block_size, size // block_size

    def read_block(self, n: int) -> bytes:
        """Block ``n`` of the file."""
        data = os.pread(self._fd, self.block_size, n * self.block_size)
        if len(data) != self.block_size:
            raise DiskImageError("short image read", path=self.path, block=n)
        return data

    def write_block(self, n: int, data: bytes) -> None:
        """Refused: probing never writes."""
        raise DiskImageError("the image is opened read-only", path=self.path)

    def flush(self) -> None:
        """Nothing to flush."""


def probe(path: str | os.PathLike[str]) -> ImageInfo:
    """Check that ``path`` is an ext2 image exolab can mount; nothing is written."""
    p = os.fspath(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as ex:
        raise DiskImageError("cannot open the image", path=p, expected="a readable file",
                             actual=ex.strerror) from None
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, SB_SIZE, SB_OFFSET)
        if len(head) < SB_SIZE or int.from_bytes(head[56:58], "little") != _MAGIC:
            raise DiskImageError("not an ext2 image (no ext2 superblock magic at byte "
                                 "1080)", path=p, expected=hex(_MAGIC),
                                 actual=hex(int.from_bytes(head[56:58], "little"))
                                 if len(head) >= 58 else "a shorter file")
        log = int.from_bytes(head[24:28], "little")
        if log > 2:
            raise DiskImageError("unsupported block size", path=p,
                                 expected="1, 2 or 4 KiB", actual=f"2**{10 + log}")
        bs = 1024 << log
        if size % bs:
            raise DiskImageError("image size is not a whole number of blocks", path=p,
                                 expected=f"a multiple of {bs}", actual=size)
        fs = Ext2.mount(_ReadOnly(p, bs, fd, size))
    finally:
        os.close(fd)
    sb = fs.sb
    return ImageInfo(bs, sb.blocks_count, sb.inodes_count, sb.free_blocks, sb.free_inodes)


def parse_size(text: str) -> int:
    """Bytes in a size like "8M", "64MiB", "1G" or "4096" (ConfigError otherwise)."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in ("K", "M", "G") else ""
    digits = t[:-1] if unit else t
    if not digits.isdigit():
        raise ConfigError("bad size", size=text, expected="e.g. 8M, 64MiB, 1G, 4096")
    return int(digits) * _UNITS[unit]


def make_image(path: str | os.PathLike[str], size: int, block_size: int = 1024,
               source: str | os.PathLike[str] | None = None, tail: int = 0) -> ImageInfo:
    """Create the image ``path`` (must not exist) of ``size`` bytes, formatted, with
    ``source``'s tree copied in, the file system ending ``tail`` blocks before the
    image does (room a disk's other owner keeps, e.g. XN's catalogues: e2fsck
    accepts a device longer than its file system); ConfigError / DiskImageError
    say what is wrong."""
    p = Path(path)
    if p.exists():
        raise ConfigError("the image file exists (refusing to overwrite it)", path=str(p))
    if block_size not in (1024, 2048, 4096):
        raise ConfigError("bad block size", block_size=block_size, expected=[1024, 2048, 4096])
    blocks = size // block_size
    if type(tail) is not int or not 0 <= tail < blocks:
        raise ConfigError("bad tail", tail=safe_repr(tail), expected=f"0 <= tail < {blocks}")
    if blocks - tail < 64:
        raise ConfigError("image too small", size=size,
                          expected=f">= {(64 + tail) * block_size}")
    dev = MemoryDevice(block_size, blocks - tail)
    mkfs(dev, block_size=block_size)
    if source is not None:
        fs = Ext2.mount(dev)
        try:
            _copy_tree(fs, Path(source))
        except SyscallError as ex:
            raise ConfigError("the directory does not fit in the image", source=str(source),
                              reason=ex.errno) from None
        fs.sync()
    try:
        with open(p, "xb") as f:
            f.write(dev.data)
            f.write(bytes(tail * block_size))
    except OSError as ex:
        raise ConfigError("cannot write the image", path=str(p), reason=ex.strerror) from None
    return probe(p)


def _copy_tree(fs: Ext2, root: Path) -> None:
    """Copy the regular files and directories under ``root`` into ``fs`` (hard links kept)."""
    if not root.is_dir():
        raise ConfigError("--from is not a directory", source=str(root))
    seen: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root)
        base = "/" + str(rel) if str(rel) != "." else ""
        for d in dirnames:
            fs.mkdir(f"{base}/{d}", st.S_IMODE(os.lstat(Path(dirpath) / d).st_mode))
        for name in sorted(filenames):
            _copy_file(fs, Path(dirpath) / name, f"{base}/{name}", seen)


def _copy_file(fs: Ext2, host: Path, path: str, seen: dict[tuple[int, int], str]) -> None:
    """Copy one regular file (a second name of a seen inode becomes a hard link)."""
    info = os.lstat(host)
    if not st.S_ISREG(info.st_mode):
        return                                  # symlinks, devices: mke2fs -d does those
    key = (info.st_dev, info.st_ino)
    if key in seen:
        fs.link(seen[key], path)
        return
    seen[key] = path
    ino = fs.open(path, O_CREAT | O_WRONLY, st.S_IMODE(info.st_mode))
    try:
        with open(host, "rb") as f:
            _copy_data(fs, ino, f, info.st_size)
    finally:
        fs.close(ino)


def _copy_data(fs: Ext2, ino: int, f: Any, size: int) -> None:
    """Write the file's non-zero chunks (zeros stay holes) and set its size."""
    chunk, off = 1 << 16, 0
    while off < size:
        data = f.read(chunk)
        if not data:
            break
        if data.count(0) != len(data):
            fs.write(ino, off, data)
        off += len(data)
    if off:
        fs.truncate(ino, off)
