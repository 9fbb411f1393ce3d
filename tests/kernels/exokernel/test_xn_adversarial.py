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
