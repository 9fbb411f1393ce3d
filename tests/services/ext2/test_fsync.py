"""fsync.file_set and order.plan_file: one file's fsync writes that file's set
alone, a cut after any of its phases (or inside one) is repairable by e2fsck -p
and, once they are all written, the file reads back whole even after the
repair; the rest stays dirty, and a full sync afterwards ends at the intended
image."""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exolab.services.ext2 import Ext2, MemoryDevice, mkfs
from exolab.services.ext2.core import O_CREAT, O_RDWR
from exolab.services.ext2.fsync import file_set, records
from exolab.services.ext2.order import plan, plan_file

from .helpers import needs_tools
from .test_order import OPS, Recording, _apply, _fsck, _repairable


def _settle(rec: Recording, after: dict[int, bytes]) -> None:
    """What the buffer cache does after a file's sync: written blocks are clean or
    have a new disk copy."""
    for n, disk in after.items():
        d = rec.dirty[n]
        if disk == d.now:
            del rec.dirty[n]
        else:
            d.disk = disk


def _read(data: bytes, bs: int, path: str) -> bytes | None:
    """``path``'s bytes in image ``data`` (None if it cannot be read)."""
    from exolab.errors import DiskImageError, SyscallError
    try:
        fs = Ext2.mount(MemoryDevice(bs, len(data) // bs, data), check_tree=False)
        ino = fs.open(path)
        return fs.read(ino, 0, 1 << 20)
    except (SyscallError, DiskImageError):
        return None


@needs_tools
@settings(max_examples=int(__import__("os").environ.get("ORDER_EXAMPLES", "12")),
          deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.function_scoped_fixture])
@given(before=OPS, after=OPS, bs=st.sampled_from([1024, 4096]), which=st.integers(0, 7),
       size=st.integers(1, 30_000), where=st.sampled_from(["/", "/d1/", "/d2/"]))
@example(before=[("c", 5, 1), ("m", 2, 0), ("r", 5, 0)],   # /d2/g5 unlinked, /d2 removed:
         after=[("U", 5, 0), ("R", 2, 0)],                 # g5's record goes before /d2's
         bs=1024, which=0, size=1, where="/")
def test_one_files_fsync_is_durable_and_every_cut_repairs(
        tmp_path: Any, before: Any, after: Any, bs: int, which: int, size: int,
        where: str) -> None:
    dev = MemoryDevice(bs, (1 << 20) // bs)
    mkfs(dev, block_size=bs)
    fs = Ext2.mount(dev)
    _apply(fs, before)
    rec = Recording(dev)
    fs = Ext2.mount(rec)
    fs.alloc.defer_frees = True
    _apply(fs, after, rec)
    if where != "/":
        try:
            fs.mkdir(where.rstrip("/"))
        except Exception:
            pass
    path, data = f"{where}s{which}", bytes([which + 1]) * size
    try:
        ino = fs.open(path, O_CREAT | O_RDWR)
    except Exception:                       # /d1 exists as a file: nothing to test
        return
    fs.write(ino, 0, data)
    want = fs.fsync_set(ino)
    out = None if want is None else plan_file(fs, rec.dirty, want, records(fs, want.inodes))
    if out is None:
        return                              # the placement would sync everything
    phases, settled = out
    image = bytearray(dev.data)
    cuts = [bytes(image)]
    for phase in phases:
        for k, (n, blk, _fua) in enumerate(phase):
            image[n * bs:(n + 1) * bs] = blk
            if k == len(phase) // 2:
                cuts.append(bytes(image))
        cuts.append(bytes(image))
    for at, img in enumerate(cuts):
        ok, report = _repairable(img, tmp_path)
        assert ok, (at, report)
    assert _read(bytes(image), bs, path) == data            # durable as written
    repaired = (tmp_path / "img").read_bytes()               # and after e2fsck -p
    assert _read(repaired, bs, path) == data
    dev.data[:] = image
    _settle(rec, settled)
    fs.close(ino)
    fs.release_deferred()
    for phase in plan(fs, rec.dirty):                        # the rest, in order
        for n, blk, _fua in phase:
            dev.data[n * bs:(n + 1) * bs] = blk
    assert all(dev.data[n * bs:(n + 1) * bs] == d.now for n, d in rec.dirty.items())
    assert _fsck(bytes(dev.data), tmp_path, "-fn")[0] == 0


def test_the_set_is_the_file_and_the_new_names_that_reach_it() -> None:
    dev = MemoryDevice(1024, 2048)
    mkfs(dev, block_size=1024)
    fs = Ext2.mount(dev)
    fs.mkdir("/old")
    fs.settled()                                    # as after a full sync
    old = fs.open("/old/a", O_CREAT | O_RDWR)
    fs.write(old, 0, b"a" * 3000)
    fs.settled()
    fs.mkdir("/new")
    fs.mkdir("/new/deeper")
    ino = fs.open("/new/deeper/b", O_CREAT | O_RDWR)
    fs.write(ino, 0, b"b" * 20_000)                 # 20 blocks: indirect too
    want = fs.fsync_set(ino)
    assert want is not None
    dirs = {fs.stat(p).ino for p in ("/", "/new", "/new/deeper")}
    assert want.inodes == dirs | {ino}              # the file and its new names' dirs
    node = fs._call(fs._iget, ino)
    assert len(want.blocks - want.names) >= 21      # data + the indirect block
    assert fs._call(fs.bmap.lookup, node, 15) in want.blocks
    assert fs.fsync_set(old).inodes == {old}        # placed before the sync: alone
    fs.settled({ino})
    assert fs.fsync_set(ino).inodes == {ino}


def test_a_directory_moved_since_the_sync_means_sync_everything() -> None:
    dev = MemoryDevice(1024, 2048)
    mkfs(dev, block_size=1024)
    fs = Ext2.mount(dev)
    fs.mkdir("/a")
    fs.mkdir("/b")
    fs.settled()
    fs.rename("/a", "/b/a")
    ino = fs.open("/b/a/f", O_CREAT | O_RDWR)
    assert fs.fsync_set(ino) is None
    assert fs._call(file_set, fs, fs.stat("/b").ino) is not None   # /b did not move
