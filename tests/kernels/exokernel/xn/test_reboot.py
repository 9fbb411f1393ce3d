"""XN's catalogues and free map on the disk: a new XN on the same disk finds them.

Host level (XN over a memory disk with a volatile write cache): the flat file
system and ext2 written, synced, the power cut, a new XN booted on the same
device; commits cut at every write; damaged and foreign catalogues refused
with nothing written; XN's region protected from every library.
"""
from __future__ import annotations

import random
from typing import Any

import pytest

from exolab.errors import DiskImageError, SyscallError
from exolab.kernels.exokernel.xn import XN, HostPages
from exolab.kernels.exokernel.xn.store import encode_payload, header, payload_blocks
from exolab.libos.exos.fs_udf import ROOT_NAME, ROOT_TYPE, library_owns, root_block, templates
from exolab.libos.exos.fs_xn import DirectXN, XNBlocks
from exolab.libos.flatfs import FlatFS
from exolab.libos.flatfs import templates as flat_templates
from exolab.services.ext2 import O_CREAT, O_RDWR, Ext2, MemoryDevice, mkfs, verify
from exolab.services.ext2.frame import _read_super
from tests.kernels.exokernel.xn._flat import BS, OWNER, VolatileDevice

EXT2, FLAT = 7, 9
DISK, EXT2_BLOCKS = 4096, 2048


def _boot(dev: Any) -> XN:
    return XN(dev, HostPages(), persist=True)


def _errno(fn: Any, *args: Any) -> str:
    with pytest.raises(SyscallError) as ei:
        fn(*args)
    return str(ei.value.errno)


def _flat(xn: XN, principal: int = OWNER, prefix: str = "flat", root: int = 1) -> FlatFS:
    c = DirectXN(xn, principal)
    for name, text in flat_templates(BS, principal, prefix).items():
        c.install(name, text)
    return FlatFS.make(c, root, root + 1, BS, prefix)


class CutDevice(VolatileDevice):
    """A volatile disk whose power goes after ``limit`` writes: later writes and
    flushes do nothing; then the cache is cut (each unflushed write kept or lost)."""

    __slots__ = ("limit", "writes")

    def __init__(self, block_size: int, blocks: int) -> None:
        super().__init__(block_size, blocks)
        self.limit: int | None = None
        self.writes = 0

    def write_block(self, n: int, data: bytes) -> None:
        self.writes += 1
        if self.limit is None or self.writes <= self.limit:
            super().write_block(n, data)

    def flush(self) -> None:
        if self.limit is None or self.writes <= self.limit:
            super().flush()


def test_flat_files_and_the_catalogues_survive_a_power_cut() -> None:
    dev = VolatileDevice(BS, 512)
    xn = _boot(dev)
    assert not xn.labelled and xn.reserved == xn.layout.count   # type: ignore[union-attr]
    fs = _flat(xn)
    assert xn.labelled                                  # the first root took the region
    for i in range(5):
        fs.create(f"f{i}")
        fs.write(f"f{i}", bytes([i]) * (300 + 700 * i))
    fs.delete("f3")
    fs.sync()
    before = xn.statistics()
    fs.create("unsynced")
    fs.write("unsynced", b"lost" * 100)
    dev.power_cut(random.Random(1))
    xn2 = _boot(dev)
    st = xn2.statistics()
    assert st.persistent == 1 and st.generation == before.generation
    assert xn2.types.names() == xn.types.names()
    assert [(r.name, r.block, r.type, r.principal) for r in xn2.roots.roots()] == [
        ("flat", 1, "flat dir", OWNER)]
    fs2 = FlatFS.open(DirectXN(xn2, OWNER), 2, BS)
    assert set(fs2.names()) - {"unsynced"} == {"f0", "f1", "f2", "f4"}
    for i in (0, 1, 2, 4):
        assert fs2.read(f"f{i}") == bytes([i]) * (300 + 700 * i)
    if "unsynced" not in fs2.names():
        assert st.used == before.used and st.conflicts == 0
    fs2.create("after")                                 # and it goes on
    fs2.write("after", b"again")
    fs2.sync()
    assert FlatFS.open(DirectXN(_boot(dev), OWNER), 2, BS).read("after") == b"again"


def test_a_commit_cut_at_any_write_leaves_the_old_catalogue_or_the_new() -> None:
    def setup() -> tuple[CutDevice, XN, FlatFS]:
        dev = CutDevice(BS, 512)
        xn = _boot(dev)
        fs = _flat(xn)
        fs.create("a")
        fs.write("a", b"A" * 3000)
        fs.sync()
        _flat(xn, FLAT, "other", 100).create("b")       # a new root and three types
        fs.create("c")
        fs.write("c", b"C" * 1500)
        return dev, xn, fs

    dev, xn, _fs = setup()
    start = dev.writes
    xn.sync()
    total = dev.writes - start
    assert xn.statistics().generation == 2 and total > 4
    seen = set()
    for k in range(total + 1):
        dev, xn, _fs = setup()
        dev.limit = dev.writes + k
        xn.sync()
        dev.limit = None
        dev.power_cut(random.Random(k))
        xn2 = _boot(dev)
        names = [r.name for r in xn2.roots.roots()]
        gen = xn2.statistics().generation
        assert (gen, names) in ((1, ["flat"]), (2, ["flat", "other"])), (k, gen, names)
        assert len(xn2.types.names()) == 3 * len(names) and xn2.n_conflicts == 0
        for r in xn2.roots.roots():                     # rule 1 for the root catalogue
            assert dev.read_block(r.block)[:4] == b"FLAT", (k, r.name)
        assert FlatFS.open(DirectXN(xn2, OWNER), 2, BS).read("a") == b"A" * 3000, k
        seen.add(gen)
    assert seen == {1, 2}


def _damage(dev: MemoryDevice, b: int, at: int = 40) -> None:
    dev.data[b * BS + at] ^= 0x55


def test_a_damaged_catalogue_falls_back_or_is_refused_and_nothing_is_written() -> None:
    dev = CutDevice(BS, 512)
    xn = _boot(dev)
    fs = _flat(xn)
    fs.sync()
    _flat(xn, FLAT, "other", 100)
    xn.sync()                                           # generation 1 in slot 0, 2 in slot 1
    lay = xn.layout
    assert lay is not None and xn.statistics().generation == 2
    _damage(dev, lay.slot(1)[1])                        # the newest payload: the older wins
    assert _boot(dev).statistics().generation == 1
    _damage(dev, lay.slot(0)[0], at=12)                 # and its header: none is valid
    image, writes = bytes(dev.data), dev.writes
    with pytest.raises(DiskImageError):
        _boot(dev)
    assert bytes(dev.data) == image and dev.writes == writes


@pytest.mark.parametrize("what", ["unverifiable", "unknown type", "root in region",
                                  "repeated type"])
def test_a_foreign_catalogue_is_refused_and_nothing_is_written(what: str) -> None:
    dev = CutDevice(BS, 512)
    lay = _boot(dev).layout
    assert lay is not None
    ok = "def acl(d, o, p):\n    return True\n\n\ndef size(d):\n    return 4\n"
    types, roots = [("t", ok)], [("r", 1, "t", 0)]
    if what == "unverifiable":
        types = [("t", "def owns(d):\n    while True:\n        pass\n" + ok)]
    elif what == "unknown type":
        roots = [("r", 1, "nope", 0)]
    elif what == "root in region":
        roots = [("r", lay.start + 1, "t", 0)]
    else:
        types = types * 2
    payload = encode_payload(types, roots)
    for b, data in zip(lay.slot(0)[1:], payload_blocks(lay, payload)):
        dev.write_block(b, data)
    dev.write_block(lay.slot(0)[0], header(lay, 1, payload))
    dev.flush()
    image, writes = bytes(dev.data), dev.writes
    with pytest.raises(DiskImageError):
        _boot(dev)
    assert bytes(dev.data) == image and dev.writes == writes


def test_xns_region_is_no_librarys() -> None:
    xn = _boot(VolatileDevice(BS, 512))
    fs = _flat(xn)
    fs.sync()
    lay = xn.layout
    assert lay is not None
    region = set(range(lay.start, lay.blocks))
    assert not region & set(xn.free_blocks(lay.start - 3, 1024))
    fs.create("x")
    fb = fs._file("x")[1]
    from tests.kernels.exokernel.xn._flat import ptr
    assert _errno(xn.alloc, OWNER, fb, [ptr(0, lay.start)], lay.start, "flat data") == "EBUSY"
    assert _errno(xn.register_root, OWNER, "r", lay.blocks - 1, "flat dir") == "EBUSY"
    assert _errno(xn.probe, lay.start) == "EPERM"
    xn2 = _boot(xn.dev)
    assert all(xn2.free_map.state(b) != 0 for b in region)


def _ext2_and_flat(dev: MemoryDevice, extent: int | None) -> tuple[XN, Ext2, FlatFS]:
    """ext2 in the first EXT2_BLOCKS (adopted, with ``extent``), flat from 3000."""
    part = MemoryDevice(BS, EXT2_BLOCKS)
    mkfs(part, block_size=BS)
    dev.data[:len(part.data)] = part.data
    xn = _boot(dev)
    e = DirectXN(xn, EXT2)
    src = templates(_read_super(part), EXT2)
    for name, text in src.items():
        e.install(name, text)
    xn.adopt_root(EXT2, ROOT_NAME, root_block(BS), ROOT_TYPE, extent)
    fs = Ext2.mount(XNBlocks(e, library_owns(src), root_block(BS), ROOT_TYPE, BS, DISK))
    return xn, fs, _flat(xn, FLAT, "flat", 3000)


def _remount(xn: XN) -> tuple[Ext2, FlatFS]:
    e = DirectXN(xn, EXT2)
    raw = e.load_root(ROOT_NAME)
    sb = _read_super(MemoryDevice(BS, 2, bytes(BS) + raw))
    src = templates(sb, EXT2)
    for name, text in src.items():
        assert e.install(name, text) == name             # the same source: reused
    fs = Ext2.mount(XNBlocks(e, library_owns(src), root_block(BS), ROOT_TYPE, BS, DISK))
    return fs, FlatFS.open(DirectXN(xn, FLAT), 3001, BS)


def test_two_library_file_systems_survive_a_reboot_and_stay_apart() -> None:
    dev = VolatileDevice(BS, DISK)
    xn, fs, flat = _ext2_and_flat(dev, EXT2_BLOCKS)
    assert xn.labelled                                  # the extent promise: region taken
    ino = fs.open("/keep", O_CREAT | O_RDWR)
    fs.write(ino, 0, bytes(range(256)) * 40)
    fs.close(ino)
    fs.mkdir("/d")
    flat.create("notes")
    flat.write("notes", b"flat data " * 300)
    fs.sync()
    flat.sync()
    used = xn.statistics().used
    dev.power_cut(random.Random(3))
    xn2 = _boot(dev)
    assert [r.name for r in xn2.roots.roots()] == [ROOT_NAME, "flat"]
    assert xn2.statistics().used == used and xn2.n_map_diffs == 0 and xn2.n_conflicts == 0
    fs2, flat2 = _remount(xn2)
    assert verify(fs2) == [] and sorted(fs2.listdir("/")) == ["d", "keep", "lost+found"]
    assert fs2.read(fs2.open("/keep", 0), 0, 20000) == bytes(range(256)) * 40
    assert flat2.read("notes") == b"flat data " * 300
    # still apart: flat cannot read the superblock's children, nor claim ext2's blocks
    xn2.load_root(EXT2, ROOT_NAME)
    gdt = root_block(BS) + 1
    assert _errno(xn2.read, FLAT, gdt, root_block(BS)) == "EPERM"
    fb = flat2._file("notes")[1]
    from tests.kernels.exokernel.xn._flat import ptr
    assert _errno(xn2.alloc, FLAT, fb, [ptr(40, gdt)], gdt, "flat data") == "EBUSY"
    assert _errno(xn2.load_root, EXT2, "flat") == "EPERM"
    # the names are still taken: nobody replaces a template or a root after a reboot
    hostile = "def acl(d, o, p):\n    return True\n\n\ndef size(d):\n    return 1024\n"
    assert _errno(xn2.install_type, "flat data", hostile) == "EEXIST"
    assert _errno(xn2.install_type, "ext2 data", hostile) == "EEXIST"
    free = xn2.free_blocks(3500, 1)[0]
    assert _errno(xn2.register_root, 13, ROOT_NAME, free, "flat dir") == "EEXIST"


def test_without_an_extent_promise_a_full_disk_keeps_xn_in_memory() -> None:
    dev = MemoryDevice(BS, DISK)
    part = MemoryDevice(BS, DISK)                       # ext2 to the last block
    mkfs(part, block_size=BS)
    dev.data[:] = part.data
    xn = _boot(dev)
    for name, text in templates(_read_super(part), EXT2).items():
        xn.install_type(name, text)
    xn.adopt_root(EXT2, ROOT_NAME, root_block(BS), ROOT_TYPE, None)
    assert not xn.labelled and xn.reserved == 0
    for name, text in flat_templates(BS, FLAT).items():
        xn.install_type(name, text)
    root = xn.free_blocks(DISK - 1, 1)[0]               # ext2's free space (its tail)
    xn.register_root(FLAT, "flat", root, "flat dir")    # a second tree: still no region
    assert not xn.labelled and xn.reserved == 0
    image = bytes(dev.data)
    xn.sync()
    image = image[:root * BS] + bytes(BS) + image[(root + 1) * BS:]   # (flat's root)
    assert bytes(dev.data) == image                    # XN wrote nothing of its own
    assert not _boot(dev).roots.roots()
