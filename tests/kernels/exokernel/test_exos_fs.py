"""ExOS's file system over XN (libos/exos/fs.py, fs_xn.py): processes sharing it
take its lock, so four of them racing in one directory leave an image e2fsck
accepts (and without the lock they do not); one file's fsync
writes that file's blocks back through XN and leaves another file's dirty
blocks dirty in XN's registry (unless the two share an inode-table block: XN
writes whole blocks, and its rule 1 writes a block's dirty children first);
the file survives a crash of XN's cache."""
from __future__ import annotations

import subprocess
from typing import Any

import pytest

from exolab.abi import O_WRONLY
from exolab.kernels import make_kernel
from exolab.libos.exos.fs import FsLock, lock_of
from exolab.libos.exos.fs_xn import XNBlocks
from exolab.machine.machine import Machine
from exolab.services.ext2 import Ext2, MemoryDevice
from exolab.services.ext2 import O_CREAT, O_RDWR
from exolab.services.ext2.image import make_image

from tests.kernels.exokernel.xn.test_ext2_on_xn import _over_xn, needs_e2fs


def _data_blocks(fs: Ext2, ino: int) -> list[int]:
    """The data blocks of open file ``ino``."""
    node = fs._call(fs._iget, ino)
    return fs._call(fs.bmap.blocks_of, node)[1]  # type: ignore[no-any-return]


def test_fsync_of_one_file_leaves_another_files_blocks_dirty() -> None:
    dev, xn, fs, blk = _over_xn(1024, 4096)
    assert isinstance(blk, XNBlocks)
    fs.sync()
    a = fs.open("/a", O_CREAT | O_RDWR)
    for i in range(8):              # b's record in another inode-table block: XN
        fs.close(fs.open(f"/pad{i}", O_CREAT | O_RDWR))   # writes whole blocks
    b = fs.open("/b", O_CREAT | O_RDWR)
    assert fs.itab._where(a)[0] != fs.itab._where(b)[0]
    fs.write(a, 0, b"A" * 5000)
    fs.write(b, 0, b"B" * 5000)
    dirty = {e.block for e in xn.reg.dirty()}
    assert set(_data_blocks(fs, a)) <= dirty and set(_data_blocks(fs, b)) <= dirty
    fs.fsync(a)
    dirty = {e.block for e in xn.reg.dirty()}
    assert not set(_data_blocks(fs, a)) & dirty             # written back
    assert set(_data_blocks(fs, b)) <= dirty                # still dirty
    xn.crash()                                              # the registry is lost
    img = MemoryDevice(1024, dev.blocks, bytes(dev.data))
    after = Ext2.mount(img, check_tree=False)
    assert after.read(after.open("/a"), 0, 6000) == b"A" * 5000


def _race(tmp_path: Any, bs: int, n: int = 40) -> tuple[tuple[Any, ...], list[str]]:
    """Four ExOS processes create, write and unlink files in one directory at once
    (Aegis's time slices interleave them inside file calls); (run result, lock
    statistics, e2fsck -fn status, its report, the directory's names)."""
    img = tmp_path / "race.img"
    make_image(img, 4 << 20, bs)
    seen: dict[str, Any] = {}

    def worker(os: Any, tag: str, n: int) -> None:
        for i in range(n):
            fd = os.open(f"/d/{tag}{i}", O_CREAT | O_WRONLY, 0o644)
            os.write(fd, bytes([i % 200 + 1]) * (300 + 37 * i))
            os.close(fd)
            if i % 5 == 4:
                os.unlink(f"/d/{tag}{i - 2}")

    def main(os: Any, n: int) -> None:
        os.mkdir("/d", 0o755)
        kids = [os.fork(worker, t, n) for t in ("a", "b", "c")]
        worker(os, "p", n)
        for _ in kids:
            os.wait()
        seen["names"] = os.listdir("/d")
        seen["lock"] = lock_of(os)

    m = Machine("dec5000", frames=16384)
    m.attach_disk(str(img), block_size=bs)
    k = make_kernel("exokernel", m)
    k.boot(main, n)
    result = k.run()
    k.shutdown()
    m.disks[0].close()
    fsck = subprocess.run(["e2fsck", "-fn", str(img)], capture_output=True, text=True)
    lock = seen.get("lock")
    return (result, k.faults, lock.statistics() if lock else None, fsck.returncode,
            fsck.stdout), seen.get("names", [])


@needs_e2fs
@pytest.mark.parametrize("bs", [1024, 4096])
def test_processes_sharing_the_file_system_interleave_safely(tmp_path: Any, bs: int) -> None:
    (result, faults, lock, rc, report), names = _race(tmp_path, bs)
    assert result.reason == "finished" and faults == []
    assert lock.contended > 0 and lock.broken == 0      # they did meet inside a call
    assert rc == 0, report
    kept = {f"{t}{i}" for t in "abcp" for i in range(40) if not (i % 5 == 2 and i < 38)}
    assert set(names) == kept


@needs_e2fs
def test_without_the_lock_the_same_race_corrupts(tmp_path: Any,
                                                 monkeypatch: Any) -> None:
    monkeypatch.setattr(FsLock, "acquire", lambda self, os: None)
    monkeypatch.setattr(FsLock, "release", lambda self: None)
    (result, faults, lock, rc, report), names = _race(tmp_path, 1024)
    assert faults or rc != 0                            # the lock is what prevents it


def test_mounting_a_large_1k_image_fits_the_default_budget(tmp_path: Any) -> None:
    """The reproducer of a run that hit the budget: ExOS's first mount of an existing
    32 MiB image of 1 KiB blocks has XN adopt it, reading its 1,033 metadata blocks;
    read lowest block first they stream through the drive's read-ahead (backwards,
    each cost a revolution: 375M cycles, past the 200M budget of `exolab run`)."""
    from exolab.cli import DEFAULT_MAX_CYCLES
    from exolab.runner import run_program

    def main(os: Any) -> None:
        os.print(len(os.listdir("/")))

    img = tmp_path / "big1k.img"
    make_image(img, 32 << 20, 1024)
    run = run_program(main, kernel="exokernel", disk=str(img), trusted=True,
                      max_cycles=DEFAULT_MAX_CYCLES)
    assert run.result.reason == "finished" and run.console == ["1"]
    disk = run.machine.statistics().disks[0]
    assert disk.reads > 1000 and disk.readahead_hits > 0.9 * disk.reads
    assert run.result.cycles < DEFAULT_MAX_CYCLES // 2


class _FakeOS:
    """What FsLock uses of an ExOS process: its thread, pid, CPU charge, yields."""

    class _Profile:
        instruction = 1

    def __init__(self, pid: int, on_yield: Any) -> None:
        self.pid, self.profile, self.on_yield = pid, self._Profile(), on_yield
        self.cpu = self
        self.current = 100 + pid
        self.procs = self
        self.charged = 0

    def charge(self, n: int) -> None:
        self.charged += n

    def yield_env(self) -> bool:
        return bool(self.on_yield())

    def thread_yield(self) -> None:
        self.on_yield()


def test_the_lock_waits_for_its_holder_nests_and_breaks_a_dead_holders() -> None:
    lock = FsLock()
    a = _FakeOS(1, lambda: None)
    lock.acquire(a)
    lock.acquire(a)                             # the holder re-enters
    assert (lock.holder, lock.depth) == (101, 2) and a.charged == 6
    turns: list[int] = []

    def a_runs_and_releases() -> bool:          # b's yield lets a finish its call
        turns.append(1)
        if len(turns) == 2:
            lock.release()
            lock.release()
        return True

    b = _FakeOS(2, a_runs_and_releases)
    lock.acquire(b)
    assert lock.holder == 102 and len(turns) == 2
    lock.release()
    assert lock.holder == 0
    st = lock.statistics()
    assert (st.acquired, st.contended, st.waits, st.broken) == (2, 1, 2, 0)
    lock.acquire(a)
    c = _FakeOS(3, lambda: False)               # nobody else can run: a is gone
    lock.acquire(c)
    assert lock.holder == 103 and lock.statistics().broken == 1
