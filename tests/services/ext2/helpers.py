"""Shared helpers of the ext2 tests: fresh file systems and the e2fsprogs tools."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from exolab.services.ext2 import Ext2, ManualClock, MemoryDevice, mkfs

TOOLS = {t: shutil.which(t) or shutil.which(f"/usr/sbin/{t}") or shutil.which(f"/sbin/{t}")
         for t in ("mke2fs", "e2fsck", "debugfs")}
needs_tools = pytest.mark.skipif(
    not all(TOOLS.values()),
    reason="e2fsprogs (mke2fs, e2fsck, debugfs) not installed: "
           "apt-get install -y e2fsprogs (.ci/run does)")


def fresh(block_size: int = 1024, kib: int = 2048, inodes: int | None = None,
          clock: ManualClock | None = None, charge=None) -> tuple[Ext2, MemoryDevice]:
    """A new file system of ``kib`` KiB on a memory device, mounted."""
    dev = MemoryDevice(block_size, kib * 1024 // block_size)
    mkfs(dev, block_size=block_size, inodes=inodes)
    kw = {} if charge is None else {"charge": charge}
    return Ext2.mount(dev, clock=clock or ManualClock(), **kw), dev


def e2fsck(path: str) -> tuple[int, str]:
    """Run ``e2fsck -fn`` on an image file; (exit status, output)."""
    res = subprocess.run([TOOLS["e2fsck"], "-fn", path], capture_output=True, text=True,
                         timeout=60)
    return res.returncode, res.stdout + res.stderr


def fsck_bytes(tmp_path, data: bytes, name: str = "img") -> tuple[int, str]:
    """Write ``data`` to an image file and e2fsck it."""
    p = tmp_path / name
    p.write_bytes(bytes(data))
    return e2fsck(str(p))
