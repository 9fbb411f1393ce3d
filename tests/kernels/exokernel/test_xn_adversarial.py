"""Two library file systems on one XN disk, and a hostile third party.

ext2 (ExOS's library file system, principal 7) and the flat file system
(principal 9) share one XN disk. Neither can read, claim or corrupt the
other's blocks, and a hostile library -- forging modifications, lying in its
ownership function, claiming a free block it does not point to, replacing a
template, taking a root -- is refused with nothing changed. The bystander
(ext2) is exact afterwards: its image is byte-identical and passes verify.
"""
from __future__ import annotations

import struct
from typing import Any

import pytest

from exolab.errors import SyscallError, VerifyError
from exolab.kernels.exokernel.xn import XN, HostPages
from exolab.libos.exos.fs_udf import ROOT_NAME, ROOT_TYPE, library_owns, root_block, templates
from exolab.libos.exos.fs_xn import DirectXN, XNBlocks
from exolab.libos.flatfs import FlatFS
from exolab.libos.flatfs import templates as flat_templates
from exolab.services.ext2 import O_CREAT, O_RDWR, Ext2, MemoryDevice, mkfs, verify
from exolab.services.ext2.frame import _read_super

BS, EXT2_BLOCKS, DISK = 1024, 2048, 4096
EXT2, FLAT, HOSTILE = 7, 9, 13


def _errno(fn: Any, *args: Any) -> str:
    with pytest.raises(SyscallError) as ei:
        fn(*args)
    return str(ei.value.errno)


@pytest.fixture()
def disk() -> dict[str, Any]:
    """One XN over one device: ext2 in blocks [0, 2048), flat from 3000 on."""
    dev = MemoryDevice(BS, DISK)
    part = MemoryDevice(BS, EXT2_BLOCKS)
    mkfs(part, block_size=BS)
    dev.data[:len(part.data)] = part.data
    xn = XN(dev, HostPages())
    e = DirectXN(xn, EXT2)
    src = templates(_read_super(part), EXT2)
    for name, text in src.items():
        e.install(name, text)
    xn.adopt_root(EXT2, ROOT_NAME, root_block(BS), ROOT_TYPE)
    fs = Ext2.mount(XNBlocks(e, library_owns(src), root_block(BS), ROOT_TYPE, BS, DISK))
    f = DirectXN(xn, FLAT)
    for name, text in flat_templates(BS, FLAT).items():
        f.install(name, text)
    flat = FlatFS.make(f, 3000, 3001, BS)
    ino = fs.open("/keep", O_CREAT | O_RDWR)
    fs.write(ino, 0, bytes(range(256)) * 40)
    fs.close(ino)
    fs.mkdir("/d")
    flat.create("notes")
    flat.write("notes", b"flat data " * 300)
    fs.sync()
    flat.sync()
    return {"xn": xn, "dev": dev, "fs": fs, "flat": flat, "image": bytes(dev.data[:BS * EXT2_BLOCKS])}


def _ext2_block(d: dict[str, Any]) -> tuple[int, int]:
    """(a data block of /keep, its parent itable block) as XN's registry knows them."""
    xn = d["xn"]
    for e in xn.reg.entries():
        if e.tmpl.name == "ext2 itable":
            for b, t in e.children.items():
                if t == "ext2 data":
                    return b, e.block
    raise AssertionError("no ext2 data block cached")


def _bystander_exact(d: dict[str, Any]) -> None:
    """ext2 is untouched: same image bytes, verify clean, the file reads back."""
    xn, fs = d["xn"], d["fs"]
    xn.sync()
    assert bytes(d["dev"].data[:BS * EXT2_BLOCKS]) == d["image"]
    assert verify(fs) == []
    ino = fs.open("/keep", O_RDWR)
    assert fs.read(ino, 0, 20000) == bytes(range(256)) * 40
    fs.close(ino)
    assert d["flat"].read("notes") == b"flat data " * 300


def test_both_file_systems_work_on_one_disk(disk: dict[str, Any]) -> None:
    xn = disk["xn"]
    assert xn.n_conflicts == 0
    xn.crash()
    used = xn.recover()
    assert xn.n_conflicts == 0
    fs2 = Ext2.mount(MemoryDevice(BS, EXT2_BLOCKS, bytes(disk["dev"].data[:BS * EXT2_BLOCKS])))
    assert verify(fs2) == [] and sorted(fs2.listdir("/")) == ["d", "keep", "lost+found"]
    sb = fs2.sb
    assert used == (sb.blocks_count - sb.free_blocks) + 1 + 1 + 3   # + flat dir, file, data


def test_neither_reads_the_others_blocks(disk: dict[str, Any]) -> None:
    xn = disk["xn"]
    b, parent = _ext2_block(disk)
    assert _errno(xn.read, FLAT, b, parent) == "EPERM"           # ext2's acl refuses
    assert _errno(xn.load_root, FLAT, ROOT_NAME) == "EPERM"
    assert _errno(xn.load_root, EXT2, "flat") == "EPERM"
    assert _errno(xn.read, FLAT, b, 3000) == "EPERM"             # 3000 does not own it
    _bystander_exact(disk)


def test_claiming_a_block_in_use_is_refused(disk: dict[str, Any]) -> None:
    xn = disk["xn"]
    b, _p = _ext2_block(disk)
    fb = disk["flat"]._file("notes")[1]
    before = xn.reg.data(xn.reg.get(fb))
    mod = [(4 + 4 * 20, struct.pack("<I", b))]
    assert _errno(xn.alloc, FLAT, fb, mod, b, "flat data") == "EBUSY"
    assert xn.reg.data(xn.reg.get(fb)) == before
    assert _errno(xn.register_root, HOSTILE, "mine", b, "flat dir") == "EBUSY"
    assert _errno(xn.register_root, HOSTILE, ROOT_NAME, 3500, "flat dir") == "EEXIST"
    _bystander_exact(disk)


def test_forged_modifications_are_refused(disk: dict[str, Any]) -> None:
    xn = disk["xn"]
    fb = disk["flat"]._file("notes")[1]
    free = xn.free_blocks(3500, 2)
    before = xn.reg.data(xn.reg.get(fb))
    stats = xn.statistics()
    # names a free block but the bytes point to nothing new: a claim it does not point to
    assert _errno(xn.alloc, FLAT, fb, [(0, b"\0\0\0\0")], free[0], "flat data") == "EPERM"
    # points to two blocks while naming one
    two = [(4 + 4 * 20, struct.pack("<II", free[0], free[1]))]
    assert _errno(xn.alloc, FLAT, fb, two, free[0], "flat data") == "EPERM"
    # writes a pointer in without allocating at all
    assert _errno(xn.write, FLAT, fb, two[:1]) == "EPERM"
    # frees what it does not own / a block of ext2
    b, parent = _ext2_block(disk)
    assert _errno(xn.free, FLAT, fb, [], b) == "EPERM"
    # changes ext2's metadata as another principal (acl) and beyond the size function
    assert _errno(xn.write, FLAT, parent, [(0, b"\xff")]) == "EPERM"
    assert _errno(xn.write, FLAT, fb, [(BS, b"x")]) == "EINVAL"
    assert xn.reg.data(xn.reg.get(fb)) == before
    after = xn.statistics()
    assert (after.free, after.used, after.allocs) == (stats.free, stats.used, stats.allocs)
    _bystander_exact(disk)


LIAR = '''
def owns(data):
    return [({victim}, "ext2 data")]


def acl(data, op, principal):
    return True


def size(data):
    return 1024
'''


def test_a_lying_ownership_function_gains_nothing(disk: dict[str, Any]) -> None:
    xn = disk["xn"]
    b, _p = _ext2_block(disk)
    xn.install_type("liar dir", LIAR.format(victim=b))
    xn.register_root(HOSTILE, "liar", 3600, "liar dir")
    # the cached root claims nothing until a change: every change shows the lie
    assert _errno(xn.write, HOSTILE, 3600, [(0, b"x")]) == "EPERM"
    assert _errno(xn.alloc, HOSTILE, 3600, [(0, b"x")], b, "ext2 data") == "EBUSY"
    assert _errno(xn.read, HOSTILE, b, 3600) == "EPERM"
    xn.sync()
    xn.crash()
    xn.recover()                                    # the liar's on-disk tree claims b too
    assert xn.n_conflicts >= 1                      # ... second: its claim is not followed
    assert xn.roots.roots()[0].name == ROOT_NAME


@pytest.mark.parametrize("source,kind", [
    ("def owns(data):\n    while True:\n        pass\n", VerifyError),
    ("def owns(data):\n    return owns(data)\n", VerifyError),
    ("S = []\ndef owns(data):\n    S.append(1)\n    return []\n", VerifyError),
    ("def owns(data):\n    return [hash(data)]\n", VerifyError),
])
def test_templates_must_be_deterministic_and_terminating(source: str, kind: type) -> None:
    xn = XN(MemoryDevice(BS, 64), HostPages())
    with pytest.raises(kind):
        xn.install_type("bad", source + "def acl(d, o, p):\n    return True\n"
                        "def size(d):\n    return 4\n")
    assert "bad" not in xn.types


def test_a_template_cannot_be_replaced_nor_a_probe_made(disk: dict[str, Any]) -> None:
    xn = disk["xn"]
    src = xn.types.get("ext2 itable").source
    assert _errno(xn.install_type, "ext2 itable", src.replace("== 7", "> 0")) == "EEXIST"
    assert xn.install_type("ext2 itable", src) == "ext2 itable"     # same source: fine
    assert _errno(xn.probe, 5) == "EPERM"


def test_a_crashing_or_ill_typed_function_is_the_library_fault(disk: dict[str, Any]) -> None:
    xn = disk["xn"]
    xn.install_type("boom dir", "def owns(data):\n    return [(1 // 0, 'x')]\n"
                    "def acl(d, o, p):\n    return True\ndef size(d):\n    return 8\n")
    xn.install_type("odd dir", "def owns(data):\n    return [('x', 1)]\n"
                    "def acl(d, o, p):\n    return True\ndef size(d):\n    return 8\n")
    xn.register_root(HOSTILE, "boom", 3700, "boom dir")
    xn.register_root(HOSTILE, "odd", 3701, "odd dir")
    assert _errno(xn.write, HOSTILE, 3700, [(0, b"x")]) == "EINVAL"
    assert _errno(xn.write, HOSTILE, 3701, [(0, b"x")]) == "EINVAL"
    _bystander_exact(disk)


def test_on_aegis_a_process_with_another_principal_is_refused() -> None:
    """A forked child that takes a fresh XN principal attacks the system's ext2
    through raw XN calls; every call is refused and the parent's file is exact."""
    from exolab.abi import O_CREAT, O_RDWR as RDWR
    from exolab.kernels.exokernel import Sys
    from exolab.runner import run_program

    out: dict[str, Any] = {}

    def attack(os: Any) -> int:
        def errno(*call: Any) -> str:
            try:
                os.aegis(*call)
            except SyscallError as ex:
                return str(ex.errno)
            return "allowed"
        os.aegis(Sys.XN_PRINCIPAL, True)
        sb, _t = os.aegis(Sys.XN_ROOT, ROOT_NAME)
        out["load_root"] = errno(Sys.XN_LOAD_ROOT, ROOT_NAME)
        out["read_gdt"] = errno(Sys.XN_READ, sb + 1, sb)
        out["write_sb"] = errno(Sys.XN_WRITE, sb, [(0, b"\0")])
        out["take_name"] = errno(Sys.XN_REGISTER, ROOT_NAME, 5000, "ext2 super")
        out["take_block"] = errno(Sys.XN_REGISTER, "mine", sb, "ext2 data")
        out["probe"] = errno(Sys.XN_PROBE, sb)
        out["open"] = errno(Sys.XN_READ, sb, sb)
        return 0

    def main(os: Any) -> None:
        fd = os.open("/secret", O_CREAT | RDWR)
        os.write(fd, b"mine" * 500)
        os.fsync(fd)
        os.close(fd)
        pid = os.fork(attack)
        os.wait(pid)
        fd = os.open("/secret", 0)
        out["after"] = os.read(fd, 4000)
        os.close(fd)

    r = run_program(main, kernel="exokernel", trusted=True)
    assert r.result.reason == "finished" and r.faults == [], r.faults
    assert out["load_root"] == out["read_gdt"] == out["write_sb"] == "EPERM"
    assert out["take_name"] == "EEXIST" and out["take_block"] == "EBUSY"
    assert out["probe"] == "EPERM" and out["open"] == "EPERM"
    assert out["after"] == b"mine" * 500


# -- adopt hands out bytes on disk: only before any tree is known (docs/xn.md) ----------

SECRET = b"TOP-SECRET-ext2-data " * 400      # 8 blocks


def _leaf_and_dir(xn: XN, who: int, blocks: list[int]) -> None:
    """A hostile library's templates: a directory owning ``blocks`` (a constant)."""
    acl = f"def acl(data, op, principal):\n    return principal == {who}\n"
    xn.install_type("h leaf", acl + "def size(data):\n    return 1024\n")
    xn.install_type("h dir", "def owns(data):\n    return ["
                    + ", ".join(f"({b}, 'h leaf')" for b in blocks) + "]\n"
                    + acl + "def size(data):\n    return 1024\n")


def test_adopting_blocks_another_library_freed_reads_nothing(disk: dict[str, Any]) -> None:
    """The prober's F2: ext2 writes then unlinks /secret; anyone settles the free
    (sync); a hostile library adopts a "tree" whose constant ownership function
    names the freed blocks. Refused (EPERM), nothing changes, and the hostile
    library's own new blocks (register, alloc) read as zeros."""
    xn, fs, dev = disk["xn"], disk["fs"], disk["dev"]
    ino = fs.open("/secret", O_CREAT | O_RDWR)
    fs.write(ino, 0, SECRET)
    fs.close(ino)
    fs.sync()
    blk = [b for b in range(EXT2_BLOCKS) if b"TOP-SECRET" in bytes(dev.data[b * BS:(b + 1) * BS])]
    assert len(blk) >= 8
    fs.unlink("/secret")
    fs.sync()
    xn.sync()
    assert all(xn.free_map.state(b) == 0 for b in blk)      # free, bytes still on disk
    disk["image"] = bytes(dev.data[:BS * EXT2_BLOCKS])
    roots, stats = xn.roots.roots(), xn.statistics()
    root = xn.free_blocks(3500, 1)[0]
    _leaf_and_dir(xn, HOSTILE, blk)
    assert _errno(xn.adopt_root, HOSTILE, "steal", root, "h dir") == "EPERM"
    assert _errno(xn.adopt_root, HOSTILE, "steal", blk[0], "h leaf") == "EPERM"
    assert _errno(xn.load_root, HOSTILE, "steal") == "ENOENT"
    assert _errno(xn.read, HOSTILE, blk[0], root) == "ENOENT"
    assert _errno(xn.probe, blk[0]) == "EPERM"
    after = xn.statistics()
    assert xn.roots.roots() == roots and xn.held(HOSTILE) == 0
    assert (after.free, after.used, after.pending) == (stats.free, stats.used, stats.pending)
    # the bystander: exact, and ext2 still allocates
    _bystander_exact(disk)
    ino = fs.open("/after", O_CREAT | O_RDWR)
    fs.write(ino, 0, b"x" * 2000)
    fs.close(ino)
    fs.sync()
    assert verify(fs) == []
    # what a hostile library may do instead: a new tree of its own, zeroed blocks
    # (register, then alloc), even over a block that held the secret on disk
    xn.sync()
    left = [b for b in blk if xn.free_map.state(b) == 0]
    assert left
    for b in left[-1:]:
        assert b"TOP-SECRET" in bytes(dev.data[b * BS:(b + 1) * BS])
        xn.register_root(HOSTILE, "mine", b, "h dir")
        xn.load_root(HOSTILE, "mine")
        assert xn.reg.data(xn.reg.get(b)) == bytes(BS)
        assert xn.held(HOSTILE) == 1


def test_adopt_is_only_for_a_disk_with_no_known_tree() -> None:
    """The probe's window: before the first root an image may be adopted; after a
    root (even one since gone from memory: a crash of a volatile XN keeps it),
    and on a disk holding XN's catalogue, adopt and probe are refused."""
    xn = XN(MemoryDevice(BS, 64), HostPages())
    _leaf_and_dir(xn, HOSTILE, [11, 12])
    assert xn.probe(10) == bytes(BS)
    assert xn.adopt_root(HOSTILE, "first", 10, "h dir") == 3
    assert _errno(xn.adopt_root, HOSTILE, "second", 20, "h leaf") == "EPERM"
    assert _errno(xn.probe, 20) == "EPERM"
    assert xn.held(HOSTILE) == 3
    xn.crash()
    xn.recover()
    assert xn.held(HOSTILE) == 3
    assert _errno(xn.adopt_root, HOSTILE, "second", 20, "h leaf") == "EPERM"


def test_a_principal_holds_at_most_max_held_blocks(disk: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Register, alloc and adopt count against the caller's bound (ENOSPC, nothing
    changes); freeing gives the blocks back."""
    from exolab.kernels.exokernel.xn import core
    xn = disk["xn"]
    for name, text in flat_templates(BS, HOSTILE, prefix="h").items():
        xn.install_type(name, text)
    monkeypatch.setattr(core, "MAX_HELD", 2)
    free = xn.free_blocks(3500, 4)
    assert _errno(xn.adopt_root, HOSTILE, "a", free[0], "h dir") == "EPERM"
    flat = FlatFS.make(DirectXN(xn, HOSTILE), free[0], free[1], BS, prefix="h")
    flat.create("f")                                     # the root and one file block
    stats = xn.statistics()
    assert xn.held(HOSTILE) == 2
    assert _errno(flat.write, "f", b"more") == "ENOSPC"
    assert _errno(xn.register_root, HOSTILE, "b", free[3], "h dir") == "ENOSPC"
    after = xn.statistics()
    assert (after.free, after.used) == (stats.free, stats.used)
    flat.delete("f")
    assert xn.held(HOSTILE) == 1
    _bystander_exact(disk)


def test_on_aegis_a_child_cannot_adopt_the_blocks_of_a_deleted_file() -> None:
    """The prober's F2b, system calls only: ExOS writes /keep and /secret, fsyncs,
    unlinks /secret; a forked child with a fresh principal settles the free
    (XN_SYNC: anyone may), lists the free blocks and adopts a "tree" whose
    ownership function names them. Refused (EPERM): it reads nothing, and XN
    holds nothing of it after it exits; ExOS's /keep reads back exact and a new
    file can still be written; no fault, no panic."""
    from exolab.abi import O_CREAT, O_RDWR as RDWR
    from exolab.kernels.exokernel import Sys
    from exolab.runner import run_program

    out: dict[str, Any] = {}
    secret = b"TOP-SECRET-deleted-bytes!" * 40

    def attack(os: Any) -> int:
        def errno(*call: Any) -> Any:
            try:
                return os.aegis(*call)
            except SyscallError as ex:
                return str(ex.errno)
        os.aegis(Sys.XN_PRINCIPAL, True)
        me = out["me"] = os.aegis(Sys.XN_PRINCIPAL, False)
        os.aegis(Sys.XN_SYNC)
        free = [b for b in os.aegis(Sys.XN_FREE_LIST, 0, 1024) if b < 400]
        root, leaves = free[-1], free[:-1]
        acl = f"def acl(data, op, principal):\n    return principal == {me}\n"
        size = "def size(data):\n    return 16\n"
        os.aegis(Sys.XN_INSTALL, "h leaf", acl + size)
        os.aegis(Sys.XN_INSTALL, "h dir", "def owns(data):\n    return ["
                 + ", ".join(f"({b}, 'h leaf')" for b in leaves) + "]\n" + acl + size)
        out["adopt"] = errno(Sys.XN_ADOPT, "steal", root, "h dir", None)
        out["adopt leaf"] = errno(Sys.XN_ADOPT, "steal", leaves[0], "h leaf", None)
        out["load"] = errno(Sys.XN_LOAD_ROOT, "steal")
        out["probe"] = errno(Sys.XN_PROBE, leaves[0])
        found = []
        for b in leaves:
            got = errno(Sys.XN_READ, b, root)
            if type(got) is str:
                out.setdefault("read", set()).add(got)
                continue
            ppn, cap = got
            os.aegis(Sys.TLB_WRITE, 0x600, ppn, cap, 1)
            page = bytes(os.load((0x600 << 12) + i, 1) for i in range(4096))
            if b"TOP-SECRET" in page:
                found.append(b)
        out["found"] = found
        return 0

    def main(os: Any) -> None:
        for name, data in (("/keep", b"keep" * 100), ("/secret", secret)):
            fd = os.open(name, O_CREAT | RDWR)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
        os.unlink("/secret")
        out["before"] = os.aegis(Sys.XN_STATS)
        out["child"] = os.wait(os.fork(attack))
        out["after"] = os.aegis(Sys.XN_STATS)
        fd = os.open("/after", O_CREAT | RDWR)
        os.write(fd, b"x" * 5000)
        os.fsync(fd)
        os.close(fd)
        fd = os.open("/keep", 0)
        out["keep"] = os.read(fd, 400)
        os.close(fd)
        fd = os.open("/after", 0)
        out["after data"] = os.read(fd, 6000)
        os.close(fd)

    r = run_program(main, kernel="exokernel", trusted=True)
    assert r.result.reason == "finished" and r.faults == [], r.faults
    assert out["child"][1] == 0
    assert out["adopt"] == out["adopt leaf"] == "EPERM" and out["probe"] == "EPERM"
    assert out["load"] == "ENOENT" and out["read"] == {"ENOENT"} and out["found"] == []
    assert out["keep"] == b"keep" * 100 and out["after data"] == b"x" * 5000
    before, after = out["before"], out["after"]
    assert after.roots == before.roots == 1
    assert after.used == before.used and after.free + after.pending == before.free + before.pending
    xn = r.kernel.xn
    assert [x.name for x in xn.roots.roots()] == [ROOT_NAME] and xn.held(out["me"]) == 0


def test_blocks_taken_under_ext2s_free_bitmap_do_not_stop_it(disk: dict[str, Any]) -> None:
    """A hostile library registers a root and allocates (its own, zeroed) many
    blocks that ext2's bitmap still calls free -- the very blocks ext2 would
    pick next. ext2 gets EBUSY from XN for each: it marks them used in its own
    bitmap (someone else's now), picks others, and a file of several blocks is
    written and read back exactly; the hostile blocks are never written by ext2
    and the only thing a check finds is those blocks: used, owned by no inode."""
    xn, fs = disk["xn"], disk["fs"]
    xn.sync()
    sb = fs.sb
    free = [b for b in range(sb.first_data_block, sb.blocks_count)
            if not fs.alloc.block_in_use(b) and xn.free_map.state(b) == 0]
    taken = free[:300]
    root = xn.free_blocks(3500, 1)[0]
    _leaf_and_dir(xn, HOSTILE, taken)
    xn.register_root(HOSTILE, "mine", root, "h dir")
    xn.modify(HOSTILE, root, [], [(b, "h leaf") for b in taken], [])
    assert xn.held(HOSTILE) == len(taken) + 1
    data = bytes((i * 7 + 3) & 0xFF for i in range(9000))      # 9 blocks
    ino = fs.open("/big", O_CREAT | O_RDWR)
    fs.write(ino, 0, data)
    fs.close(ino)
    fs.sync()
    ino = fs.open("/big", O_RDWR)
    assert fs.read(ino, 0, 20000) == data
    fs.close(ino)
    ino = fs.open("/keep", O_RDWR)
    assert fs.read(ino, 0, 20000) == bytes(range(256)) * 40
    fs.close(ino)
    xn.sync()
    assert all(xn.reg.data(xn.reg.get(b)) == bytes(BS) for b in taken if xn.reg.get(b))
    assert all(bytes(disk["dev"].data[b * BS:(b + 1) * BS]) == bytes(BS) for b in taken
               if bytes(disk["image"][b * BS:(b + 1) * BS]) == bytes(BS))
    skipped = [b for b in taken if fs.alloc.block_in_use(b)]
    assert skipped                         # marked used in ext2's own bitmap
    assert disk["fs"].dev.n_moved == len(skipped)
    # what a check finds: exactly those blocks, set in the bitmap, held by no inode
    assert verify(fs) == [f"group 0: block bitmap differs at {skipped[:8]}"]
    assert xn.held(HOSTILE) == len(taken) + 1


def test_on_aegis_blocks_a_child_takes_under_exos_free_bitmap_do_not_stop_it() -> None:
    """The same with system calls only: a forked child with a fresh principal
    registers a root and allocates (XN_MODIFY) the first 300 blocks XN lists
    free -- blocks ExOS's ext2 bitmap still calls free. ExOS then writes a file
    of several blocks, fsyncs and reads it back exact; no fault, no panic."""
    from exolab.abi import O_CREAT, O_RDWR as RDWR
    from exolab.kernels.exokernel import Sys
    from exolab.runner import run_program

    out: dict[str, Any] = {}
    data = bytes((i * 7 + 3) & 0xFF for i in range(9000))

    def attack(os: Any) -> int:
        os.aegis(Sys.XN_PRINCIPAL, True)
        me = out["me"] = os.aegis(Sys.XN_PRINCIPAL, False)
        os.aegis(Sys.XN_SYNC)
        free = os.aegis(Sys.XN_FREE_LIST, 0, 301)
        root, leaves = free[-1], free[:-1]
        out["taken"] = leaves
        acl = f"def acl(data, op, principal):\n    return principal == {me}\n"
        size = "def size(data):\n    return 16\n"
        os.aegis(Sys.XN_INSTALL, "h leaf", acl + size)
        os.aegis(Sys.XN_INSTALL, "h dir", "def owns(data):\n    return ["
                 + ", ".join(f"({b}, 'h leaf')" for b in leaves) + "]\n" + acl + size)
        os.aegis(Sys.XN_REGISTER, "mine", root, "h dir")
        os.aegis(Sys.XN_MODIFY, root, [], [(b, "h leaf") for b in leaves], [])
        os.aegis(Sys.XN_SYNC)       # (on disk: the tree outlives the child; unwritten, not)
        return 0

    def main(os: Any) -> None:
        fd = os.open("/keep", O_CREAT | RDWR)
        os.write(fd, b"keep" * 100)
        os.fsync(fd)
        os.close(fd)
        out["child"] = os.wait(os.fork(attack))
        fd = os.open("/big", O_CREAT | RDWR)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        fd = os.open("/big", 0)
        out["big"] = os.read(fd, 20000)
        os.close(fd)
        fd = os.open("/keep", 0)
        out["keep"] = os.read(fd, 400)
        os.close(fd)

    r = run_program(main, kernel="exokernel", trusted=True)
    assert r.result.reason == "finished" and r.faults == [], r.faults
    assert out["child"][1] == 0
    assert out["big"] == data and out["keep"] == b"keep" * 100
    xn = r.kernel.xn
    assert xn.held(out["me"]) == len(out["taken"]) + 1
    assert all(xn.free_map.state(b) != 0 for b in out["taken"])
