"""order.plan: a cut after any phase, or inside one, leaves an image that
e2fsck -p repairs without asking (and nothing that e2fsck -fn calls worse);
with deferred frees nothing freed is reused before the sync.

A recording device (a write-back cache in miniature) collects the dirty
blocks of a random sequence of operations; every prefix of the plan's writes
is applied to the old image and checked.
"""
from __future__ import annotations

import subprocess
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exolab.services.ext2 import Ext2, MemoryDevice, mkfs
from exolab.services.ext2.buffers import BITMAP, DIRB, ITABLE
from exolab.services.ext2.core import O_CREAT, O_RDWR
from exolab.services.ext2.order import PHASES, Dirty, plan

from .helpers import TOOLS, needs_tools


class Recording:
    """BlockIO over a memory image whose writes are held dirty (with the disk copy)."""

    def __init__(self, dev: MemoryDevice) -> None:
        self.dev, self.block_size, self.blocks = dev, dev.block_size, dev.blocks
        self.dirty: dict[int, Dirty] = {}

    def read_block(self, n: int) -> bytes:
        d = self.dirty.get(n)
        return d.now if d is not None else self.dev.read_block(n)

    def write_block(self, n: int, data: bytes) -> None:
        self.write_ranked(n, data, 0)

    def write_ranked(self, n: int, data: bytes, rank: int) -> None:
        d = self.dirty.get(n)
        if d is None:
            disk = self.dev.read_block(n) if rank in (BITMAP, ITABLE, DIRB) else None
            self.dirty[n] = Dirty(rank, data, disk)
        else:
            d.now, d.rank = data, max(d.rank, rank)

    def flush(self) -> None:
        pass

    def sync(self, fs: Ext2) -> None:
        """Write everything dirty to the image (as an ordered sync ends)."""
        fs.release_deferred()
        for n, d in self.dirty.items():
            self.dev.write_block(n, d.now)
        self.dirty.clear()


def _fsck(data: bytes, tmp: Any, *flags: str) -> tuple[int, str]:
    """e2fsck ``flags`` on an image holding ``data``: (status, output)."""
    p = tmp / "img"
    p.write_bytes(data)
    res = subprocess.run([str(TOOLS["e2fsck"]), *flags, str(p)], capture_output=True,
                         text=True, timeout=60)
    return res.returncode, res.stdout


def _repairable(data: bytes, tmp: Any) -> tuple[bool, str]:
    """Whether e2fsck -fn accepts the image, or e2fsck -p repairs it (then clean)."""
    rc, out = _fsck(data, tmp, "-fn")
    if rc == 0:
        return True, ""
    p = tmp / "img"
    p.write_bytes(data)
    raw = bytearray(data)
    raw[1024 + 58] &= 0xFE                      # s_state: not clean, so -p checks it
    p.write_bytes(bytes(raw))
    prc = subprocess.run([str(TOOLS["e2fsck"]), "-p", str(p)], capture_output=True,
                         timeout=60).returncode
    after = subprocess.run([str(TOOLS["e2fsck"]), "-fn", str(p)], capture_output=True,
                           timeout=60).returncode
    return prc in (0, 1) and after == 0, out


OPS = st.lists(st.tuples(st.sampled_from("cwuUmrRl"), st.integers(0, 7),
                         st.integers(0, 40_000)), min_size=1, max_size=14)


def _apply(fs: Ext2, ops: list[tuple[str, int, int]], rec: Any = None) -> None:
    """Run a sequence of operations, ignoring the ones that fail with an errno; with a
    recording device, a rename after a mkdir first syncs (as the placement does)."""
    from exolab.errors import SyscallError
    made = False
    for op, i, size in ops:
        if op == "r" and made and rec is not None:
            rec.sync(fs)
            made = False
        made = made or op == "m"
        try:
            if op == "c":
                ino = fs.open(f"/f{i}", O_CREAT | O_RDWR)
                fs.write(ino, 0, bytes([i + 1]) * size)
                fs.close(ino)
            elif op == "w":
                ino = fs.open(f"/f{i}", O_CREAT | O_RDWR)
                fs.write(ino, size, b"w" * 100)
                fs.close(ino)
            elif op == "u":
                fs.unlink(f"/f{i}")
            elif op == "U":
                fs.unlink(f"/d{i % 3}/g{i}")
            elif op == "m":
                fs.mkdir(f"/d{i % 3}")
            elif op == "r":
                fs.rename(f"/f{i}", f"/d{i % 3}/g{i}")
            elif op == "R":
                fs.rmdir(f"/d{i % 3}")
            else:
                fs.link(f"/f{i}", f"/f{(i + 1) % 8}")
        except SyscallError:
            pass


@needs_tools
@settings(max_examples=int(__import__("os").environ.get("ORDER_EXAMPLES", "12")), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(before=OPS, after=OPS, bs=st.sampled_from([1024, 4096]))
@example(before=[("m", 1, 0), ("c", 0, 1), ("c", 1, 1), ("c", 2, 1), ("c", 3, 1),
                 ("c", 4, 50), ("r", 4, 0)],        # /d1 (inode 12) holds g4 (inode 17)
         after=[("U", 4, 0), ("R", 1, 0)], bs=1024)  # 17's record goes before 12's
def test_a_cut_anywhere_in_the_plan_is_repairable(tmp_path: Any, before: Any, after: Any,
                                                  bs: int) -> None:
    dev = MemoryDevice(bs, (1 << 20) // bs)
    mkfs(dev, block_size=bs)
    fs = Ext2.mount(dev)
    _apply(fs, before)                      # the state on the disk
    rec = Recording(dev)
    fs = Ext2.mount(rec)
    fs.alloc.defer_frees = True
    _apply(fs, after, rec)                  # held in the cache
    fs.release_deferred()
    phases = plan(fs, rec.dirty)
    assert len(phases) == len(PHASES)
    old = bytes(dev.data)
    image = bytearray(old)
    cuts = [bytes(image)]
    for phase in phases:
        for k, (n, data, _fua) in enumerate(phase):
            image[n * bs:(n + 1) * bs] = data
            if k == len(phase) // 2:
                cuts.append(bytes(image))   # a cut inside the phase
        cuts.append(bytes(image))           # a cut after it
    for at, data in enumerate(cuts):
        ok, report = _repairable(data, tmp_path)
        assert ok, (at, report)
    final = bytearray(old)
    for n, d in rec.dirty.items():
        final[n * bs:(n + 1) * bs] = d.now
    assert bytes(image) == bytes(final)     # the phases end at exactly the new state
    assert _fsck(bytes(final), tmp_path, "-fn")[0] == 0


def test_deferred_frees_are_not_reused_until_released() -> None:
    dev = MemoryDevice(1024, 1024)
    mkfs(dev, block_size=1024)
    fs = Ext2.mount(dev)
    fs.alloc.defer_frees = True
    ino = fs.open("/a", O_CREAT | O_RDWR)
    fs.write(ino, 0, b"x" * 5000)
    fs.close(ino)
    blocks = set(_blocks(fs, "/a"))
    old_ino = fs.stat("/a").ino
    fs.unlink("/a")
    assert fs.alloc.held() == len(blocks) + 1
    ino = fs.open("/b", O_CREAT | O_RDWR)
    fs.write(ino, 0, b"y" * 5000)
    fs.close(ino)
    assert not blocks & set(_blocks(fs, "/b")) and fs.stat("/b").ino != old_ino
    assert fs.release_deferred() == len(blocks) + 1 and fs.alloc.held() == 0
    from exolab.services.ext2 import verify
    assert verify(fs) == []


def _blocks(fs: Ext2, path: str) -> list[int]:
    """The data blocks of ``path``."""
    node = fs._call(fs._resolve, path)
    return [b for b in (fs._call(fs.bmap.lookup, node, i) for i in range(8)) if b]
