"""Interoperability with e2fsprogs: mke2fs/debugfs images read byte-exact, exolab's
images and changes accepted by e2fsck -fn and shown by debugfs."""
from __future__ import annotations

import os
import subprocess

import pytest

from exolab.services.ext2 import O_CREAT, O_RDWR, Ext2, FileDevice, mkfs, verify

from .helpers import TOOLS, e2fsck, needs_tools

pytestmark = needs_tools


def _tree(root) -> None:
    """A source tree: many sizes, sparse and multi-level-indirect files, long names,
    nested directories, a hard link."""
    rng = __import__("random").Random(7)
    (root / "sub" / "deep" / "deeper").mkdir(parents=True)
    sizes = [0, 1, 1023, 1024, 1025, 4096, 12 * 1024, 13 * 1024, 300_000, 1_100_000]
    for s in sizes:
        (root / f"f{s}").write_bytes(rng.randbytes(s))
    (root / "sub" / "deep" / ("L" * 255)).write_bytes(b"long name")
    (root / "sub" / "deep" / "deeper" / "x").write_bytes(b"nested")
    with open(root / "sparse", "wb") as f:          # triple indirect on 1 KiB blocks
        f.write(b"head")
        f.seek(70_000_000)
        f.write(b"tail")
    os.link(root / "f4096", root / "sub" / "hard")


def _mke2fs(path, bs: int, src=None, size="24M") -> None:
    """``mke2fs -t ext2 -r 1 -b bs [-d src] path size``."""
    args = [TOOLS["mke2fs"], "-q", "-F", "-t", "ext2", "-r", "1", "-b", str(bs)]
    args += ["-d", str(src)] if src is not None else []
    subprocess.run(args + [str(path), size], check=True, capture_output=True, timeout=60,
                   env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})


def _debugfs(path, *cmds: str, write: bool = False) -> str:
    """Run debugfs commands on an image; return stdout."""
    args = [TOOLS["debugfs"]] + (["-w"] if write else [])
    for c in cmds:
        args += ["-R", c] if len(cmds) == 1 else []
    if len(cmds) > 1:
        script = "\n".join(cmds) + "\n"
        res = subprocess.run(args + ["-f", "-", str(path)], input=script, text=True,
                             capture_output=True, timeout=60)
    else:
        res = subprocess.run(args + [str(path)], text=True, capture_output=True,
                             timeout=60)
    return res.stdout


def _mount(path) -> Ext2:
    return Ext2.mount(FileDevice(path, 1024))


def _read_all(fs: Ext2, ino: int, size: int) -> bytes:
    """The file's ``size`` bytes, read by as many (short) reads as it takes."""
    out = bytearray()
    while len(out) < size:
        got = fs.read(ino, len(out), size - len(out))
        if not got:
            break
        out += got
    return bytes(out)


def _compare(fs: Ext2, host, path="/") -> int:
    """Assert every file under host dir ``host`` reads identically at ``path``; count them."""
    n = 0
    names = set(fs.listdir(path)) - ({"lost+found"} if path == "/" else set())
    assert names == set(os.listdir(host)), path
    for e in os.listdir(host):
        h, p = os.path.join(host, e), path.rstrip("/") + "/" + e
        if os.path.isdir(h):
            n += _compare(fs, h, p)
            continue
        want = open(h, "rb").read()
        st = fs.stat(p)
        assert st.size == len(want) and st.links == os.stat(h).st_nlink, p
        ino = fs.open(p)
        assert _read_all(fs, ino, len(want)) == want, p
        fs.close(ino)
        n += 1
    return n


@pytest.mark.parametrize("bs", [1024, 4096])
def test_mke2fs_d_image_reads_byte_exact_and_counts_agree(tmp_path, bs):
    src = tmp_path / "src"
    src.mkdir()
    _tree(src)
    img = tmp_path / "img"
    _mke2fs(img, bs, src, "96M")
    fs = _mount(img)
    assert _compare(fs, str(src)) == 14
    assert fs.stat("/sub/hard").ino == fs.stat("/f4096").ino
    assert verify(fs) == []


@pytest.mark.parametrize("bs", [1024, 4096])
def test_files_written_by_debugfs_read_back_exact(tmp_path, bs):
    img = tmp_path / "img"
    _mke2fs(img, bs)
    blobs = {"a": os.urandom(5000), "b": os.urandom(400_000), "c": b""}
    for k, v in blobs.items():
        (tmp_path / k).write_bytes(v)
    _debugfs(img, "mkdir dir", *(f"write {tmp_path / k} dir/{k}" for k in blobs),
             write=True)
    fs = _mount(img)
    assert sorted(fs.listdir("/dir")) == sorted(blobs)
    for k, v in blobs.items():
        assert fs.read(fs.open(f"/dir/{k}"), 0, 1 << 20) == v
    assert verify(fs) == []


def _workload(fs: Ext2) -> dict[str, bytes]:
    """Create, grow, link, rename and delete things; return what should remain."""
    fs.mkdir("/w")
    fs.mkdir("/w/" + "d" * 200)
    out = {}
    for i, size in enumerate([10, 5000, 300_000]):
        ino = fs.open(f"/w/f{i}", O_CREAT | O_RDWR)
        data = bytes([65 + i]) * size
        fs.write(ino, 0, data)
        fs.close(ino)
        out[f"/w/f{i}"] = data
    ino = fs.open("/w/sparse", O_CREAT | O_RDWR)
    fs.write(ino, 5_000_000, b"far")
    fs.close(ino)
    out["/w/sparse"] = bytes(5_000_000) + b"far"
    fs.link("/w/f1", "/w/" + "d" * 200 + "/linked")
    fs.rename("/w/f0", "/w/renamed")
    out["/w/renamed"] = out.pop("/w/f0")
    fs.unlink("/w/f2")
    del out["/w/f2"]
    fs.sync()
    return out


@pytest.mark.parametrize("bs", [1024, 4096])
@pytest.mark.parametrize("maker", ["exolab", "mke2fs"])
def test_images_exolab_changed_pass_e2fsck_and_debugfs_shows_them(tmp_path, bs, maker):
    img = tmp_path / "img"
    if maker == "mke2fs":
        _mke2fs(img, bs)
    else:
        img.write_bytes(bytes(24 << 20))
        mkfs(FileDevice(img, 1024), block_size=bs)
    fs = _mount(img)
    want = _workload(fs)
    assert verify(fs) == []
    rc, out = e2fsck(str(img))
    assert rc == 0, out
    assert _debugfs(img, "cat /w/f1").encode() == want["/w/f1"]
    ls = _debugfs(img, "ls -l /w")
    assert "renamed" in ls and "f2" not in ls and "5000003" in ls


def test_e2fsck_accepts_exolabs_fresh_images(tmp_path):
    for bs in (1024, 2048, 4096):
        img = tmp_path / f"img{bs}"
        img.write_bytes(bytes(70 << 20))        # several groups at every block size
        mkfs(FileDevice(img, 1024), block_size=bs)
        rc, out = e2fsck(str(img))
        assert rc == 0, out
