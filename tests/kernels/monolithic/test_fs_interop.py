"""The monolithic kernel's in-kernel ext2 against the real e2fsprogs.

An image ``mke2fs -d DIR`` made (files of many sizes, a sparse file reaching
triple-indirect blocks, 255-byte names, nested directories, a hard link) is
read by a program through the file ABI with every byte identical to DIR; an
image the program wrote is clean for ``e2fsck -fn`` and ``debugfs`` shows
what it wrote. Needs e2fsprogs (skips with the reason otherwise).
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exolab.abi import O_CREAT, O_RDONLY, O_WRONLY, SEEK_SET
from exolab.runner import run_program

TOOLS = {t: shutil.which(t) or shutil.which(f"/usr/sbin/{t}") or shutil.which(f"/sbin/{t}")
         for t in ("mke2fs", "e2fsck", "debugfs")}
pytestmark = pytest.mark.skipif(
    not all(TOOLS.values()),
    reason="e2fsprogs (mke2fs, e2fsck, debugfs) not installed: "
           "apt-get install -y e2fsprogs (.ci/run does)")
SPARSE_AT = 70_000_000


def _tree(root: Path) -> dict[str, bytes]:
    """Make the source tree; return path -> bytes for every regular file but the sparse one."""
    rng = random.Random(11)
    (root / "sub" / "deep" / "deeper").mkdir(parents=True)
    files: dict[str, bytes] = {}
    for s in (0, 1, 1023, 1024, 1025, 4096, 12 * 1024, 13 * 1024, 300_000, 1_100_000):
        files[f"/f{s}"] = rng.randbytes(s)
    files["/sub/deep/" + "L" * 255] = b"long name"
    files["/sub/deep/deeper/x"] = b"nested"
    for rel, data in files.items():
        (root / rel.lstrip("/")).write_bytes(data)
    with open(root / "sparse", "wb") as f:
        f.write(b"head")
        f.seek(SPARSE_AT)
        f.write(b"tail")
    os.link(root / "f4096", root / "sub" / "hard")
    files["/sub/hard"] = files["/f4096"]
    return files


def _mke2fs(path: Path, bs: int, src: Path | None = None, size: str = "24M") -> None:
    """``mke2fs -t ext2 -r 1 -b bs [-d src] path size``."""
    args = [str(TOOLS["mke2fs"]), "-q", "-F", "-t", "ext2", "-r", "1", "-b", str(bs)]
    args += ["-d", str(src)] if src is not None else []
    subprocess.run(args + [str(path), size], check=True, capture_output=True, timeout=60,
                   env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})


def _debugfs(path: Path, cmd: str) -> str:
    """One debugfs request on an image; its stdout."""
    res = subprocess.run([str(TOOLS["debugfs"]), "-R", cmd, str(path)], capture_output=True,
                         timeout=60)
    return res.stdout.decode("utf-8", "replace")


def e2fsck(path: str) -> tuple[int, str]:
    """``e2fsck -fn`` on an image: (exit status, report)."""
    res = subprocess.run([str(TOOLS["e2fsck"]), "-fn", path], capture_output=True,
                         text=True, timeout=60)
    return res.returncode, res.stdout + res.stderr


def _read_all(os_: Any, path: str) -> bytes:
    """Every byte of ``path`` through the ABI."""
    fd = os_.open(path, O_RDONLY, 0)
    parts = []
    while True:
        chunk = os_.read(fd, 1 << 16)
        if not chunk:
            break
        parts.append(chunk)
    os_.close(fd)
    return b"".join(parts)


@pytest.mark.parametrize("bs", [1024, 4096])
def test_an_mke2fs_image_reads_byte_identical(tmp_path: Path, bs: int) -> None:
    src = tmp_path / "src"
    src.mkdir()
    files = _tree(src)
    img = tmp_path / "img"
    _mke2fs(img, bs, src, "96M")
    out: dict[str, Any] = {}

    def main(os_: Any) -> None:
        out["files"] = {p: _read_all(os_, p) for p in files}
        out["root"] = os_.listdir("/")
        out["deep"] = os_.listdir("/sub/deep")
        a, b = os_.stat("/f4096"), os_.stat("/sub/hard")
        out["hard"] = (a.ino == b.ino, a.links, b.links)
        fd = os_.open("/sparse", O_RDONLY, 0)
        out["head"] = os_.read(fd, 8)
        os_.lseek(fd, SPARSE_AT - 4, SEEK_SET)
        out["tail"] = os_.read(fd, 100)
        os_.lseek(fd, SPARSE_AT // 2, SEEK_SET)
        out["hole"] = os_.read(fd, 4096)
        os_.close(fd)
        out["sparse"] = os_.stat("/sparse").size

    r = run_program(main, kernel="monolithic", trusted=True, disk=str(img), max_cycles=None)
    assert r.result.reason == "finished" and r.faults == [], r.faults
    assert out["files"] == files
    assert set(out["root"]) >= {"sub", "sparse", "f0", "f1100000"}
    assert out["deep"] == sorted(["L" * 255, "deeper"])
    assert out["hard"] == (True, 2, 2)
    assert out["head"] == b"head" + bytes(4) and out["tail"] == bytes(4) + b"tail"
    assert out["hole"] == bytes(4096) and out["sparse"] == SPARSE_AT + 4
    assert e2fsck(str(img))[0] == 0


@pytest.mark.parametrize("bs", [1024, 4096])
def test_what_a_program_writes_passes_e2fsck_and_debugfs_shows_it(tmp_path: Path,
                                                                 bs: int) -> None:
    img = tmp_path / "img"
    _mke2fs(img, bs, None, "16M")
    big = bytes(range(256)) * 1500                      # 384,000 bytes: indirect blocks

    def main(os_: Any) -> None:
        os_.mkdir("/docs", 0o755)
        fd = os_.open("/docs/hello.txt", O_CREAT | O_WRONLY, 0o644)
        os_.write(fd, b"hello from exolab\n")
        os_.close(fd)
        fd = os_.open("/big", O_CREAT | O_WRONLY, 0o600)
        os_.write(fd, big)
        os_.close(fd)
        for i in range(40):
            fd = os_.open(f"/docs/n{i:02d}" + "x" * 200, O_CREAT | O_WRONLY, 0o644)
            os_.write(fd, b"%d" % i * i)
            os_.close(fd)
        for i in range(0, 40, 3):
            os_.unlink(f"/docs/n{i:02d}" + "x" * 200)
        os_.rename("/docs/n01" + "x" * 200, "/moved")
        os_.mkdir("/gone", 0o755)
        os_.rmdir("/gone")

    r = run_program(main, kernel="monolithic", trusted=True, disk=str(img), max_cycles=None)
    assert r.result.reason == "finished" and r.faults == [], r.faults
    rc, report = e2fsck(str(img))
    assert rc == 0, report
    assert _debugfs(img, "cat /docs/hello.txt") == "hello from exolab\n"
    raw = subprocess.run([str(TOOLS["debugfs"]), "-R", "cat /big", str(img)],
                         capture_output=True, timeout=60).stdout
    assert raw == big
    listing = _debugfs(img, "ls -l /docs")
    assert "hello.txt" in listing and "n02" + "x" * 200 in listing
    assert "n03" + "x" * 200 not in listing and "n01" not in listing
    assert "moved" in _debugfs(img, "ls -l /") and "gone" not in _debugfs(img, "ls /")


def test_a_foreign_or_damaged_image_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    from exolab.errors import DiskImageError
    junk = tmp_path / "junk"
    junk.write_bytes(random.Random(3).randbytes(1 << 20))
    before = junk.read_bytes()
    with pytest.raises(DiskImageError, match="not an ext2 image"):
        run_program(lambda os_: None, kernel="monolithic", trusted=True, disk=str(junk))
    assert junk.read_bytes() == before
    img = tmp_path / "img"
    _mke2fs(img, 1024, None, "4M")
    data = bytearray(img.read_bytes())
    data[1024 + 4:1024 + 8] = (10 ** 9).to_bytes(4, "little")   # s_blocks_count
    img.write_bytes(bytes(data))
    with pytest.raises(DiskImageError):
        run_program(lambda os_: None, kernel="monolithic", trusted=True, disk=str(img))
    assert img.read_bytes() == bytes(data)
