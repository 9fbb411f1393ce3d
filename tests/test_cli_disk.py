"""`exolab mkfs`, `exolab run --disk` and `exolab crash`: images made, attached,
synced; foreign or damaged images refused with one line and left unchanged."""
from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exolab.cli import app

runner = CliRunner()
E2FSCK = shutil.which("e2fsck") or shutil.which("/usr/sbin/e2fsck") or shutil.which("/sbin/e2fsck")
needs_e2fsck = pytest.mark.skipif(E2FSCK is None, reason="e2fsprogs (e2fsck) not installed: "
                                  "apt-get install -y e2fsprogs (.ci/run does)")

PROGRAM = '''
from exolab.abi import ABI, O_CREAT, O_RDONLY, O_WRONLY

def main(os: ABI, name: str = "note") -> int:
    names = os.listdir("/")
    fd = os.open("/" + name, O_CREAT | O_WRONLY, 0o644)
    os.write(fd, b"written by exolab")
    os.close(fd)
    fd = os.open("/src/a.txt", O_RDONLY, 0)
    os.print("read", os.read(fd, 100))
    os.close(fd)
    os.print("names", names)
    return 0
'''


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "dir"
    (src / "src").mkdir(parents=True)
    (src / "src" / "a.txt").write_bytes(b"from the host")
    (src / "big").write_bytes(random.Random(1).randbytes(200_000))
    (src / "src" / "b.txt").hardlink_to(src / "src" / "a.txt")
    return src


def test_mkfs_from_a_directory_then_run_on_it(tmp_path: Path, tree: Path) -> None:
    img, prog = tmp_path / "fs.img", tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    res = runner.invoke(app, ["mkfs", str(img), "--size", "4M", "--from", str(tree)])
    assert res.exit_code == 0, res.output
    assert "4,077 blocks of 1024 bytes" in res.output      # 4 MiB less XN's 19
    res = runner.invoke(app, ["run", str(prog), "hello", "--disk", str(img)])
    assert res.exit_code == 0, res.output
    assert "read b'from the host'" in res.output and "'big'" in res.output
    res = runner.invoke(app, ["run", str(prog), "again", "--disk", str(img)])
    assert "'hello'" in res.output                    # the first run's file is there
    if E2FSCK is not None:
        done = subprocess.run([E2FSCK, "-fn", str(img)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout


def test_mkfs_refuses_an_existing_file_and_bad_sizes(tmp_path: Path) -> None:
    img = tmp_path / "x.img"
    img.write_bytes(b"keep")
    res = runner.invoke(app, ["mkfs", str(img), "--size", "4M"])
    assert res.exit_code == 2 and "exists" in res.output and img.read_bytes() == b"keep"
    res = runner.invoke(app, ["mkfs", str(tmp_path / "y.img"), "--size", "lots"])
    assert res.exit_code == 2 and "bad size" in res.output
    res = runner.invoke(app, ["mkfs", str(tmp_path / "y.img"), "--size", "4M", "-b", "3000"])
    assert res.exit_code == 2 and "block size" in res.output


@pytest.mark.parametrize("damage", ["foreign", "truncated", "bad count", "missing"])
def test_run_refuses_a_bad_image_with_one_line_and_changes_nothing(
        tmp_path: Path, damage: str) -> None:
    img, prog = tmp_path / "fs.img", tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    if damage != "missing":
        assert runner.invoke(app, ["mkfs", str(img), "--size", "2M"]).exit_code == 0
        data = bytearray(img.read_bytes())
        if damage == "foreign":
            data[:] = random.Random(2).randbytes(len(data))
        elif damage == "truncated":
            data = data[:len(data) - 300]
        else:
            data[1024 + 4:1024 + 8] = (1 << 30).to_bytes(4, "little")
        img.write_bytes(bytes(data))
    before = img.read_bytes() if img.exists() else None
    res = runner.invoke(app, ["run", str(prog), "--disk", str(img)])
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: ") and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) <= 2
    assert (img.read_bytes() if img.exists() else None) == before


@needs_e2fsck
def test_crash_soak_short() -> None:
    res = runner.invoke(app, ["crash", "-n", "10", "--seed", "5"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())             # (rich wraps long lines)
    assert "0 rejected" in text and "0 bytes lost" in text
    assert "0 images with findings beyond" in text


@needs_e2fsck
def test_mkfs_leaves_xn_its_region_so_the_exokernel_keeps_its_catalogues(tmp_path: Path) -> None:
    """An image `exolab mkfs` made ends where XN's region begins: the exokernel's
    second boot finds the root XN committed on the first, and e2fsck stays clean."""
    from exolab.abi import O_CREAT, O_RDONLY, O_WRONLY
    from exolab.kernels import make_kernel
    from exolab.kernels.exokernel.xn.store import layout
    from exolab.machine.machine import Machine

    img = tmp_path / "x.img"
    res = runner.invoke(app, ["mkfs", str(img), "--size", "4M"])
    assert res.exit_code == 0 and "XN's region" in res.output, res.output
    lay = layout(1024, 4096)
    assert lay is not None

    def write(os: object) -> None:
        fd = os.open("/kept", O_CREAT | O_WRONLY, 0o644)   # type: ignore[attr-defined]
        os.write(fd, b"across reboots")                      # type: ignore[attr-defined]
        os.close(fd)                                         # type: ignore[attr-defined]

    got: list[bytes] = []

    def read(os: object) -> None:
        fd = os.open("/kept", O_RDONLY, 0)                   # type: ignore[attr-defined]
        got.append(os.read(fd, 100))                         # type: ignore[attr-defined]

    stats = []
    for main in (write, read):
        m = Machine("dec5000", frames=16384)
        m.attach_disk(str(img), block_size=1024)
        k = make_kernel("exokernel", m)
        k.boot(main)
        assert k.run().reason == "finished" and k.faults == []
        k.shutdown()
        stats.append(k.xn.statistics())
        m.disks[0].close()
    assert got == [b"across reboots"]
    assert stats[0].reserved == lay.count and stats[1].persistent == 1 and stats[1].roots == 1
    assert subprocess.run([E2FSCK, "-fn", str(img)], capture_output=True).returncode == 0
