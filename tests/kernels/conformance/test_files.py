"""The file calls (abi.FILE_CALLS with read/write/close) behave alike on every
kernel that has them; elsewhere each test skips with the declared refusal.

Each test runs one program on a fresh machine (its kernel supplies a fresh,
empty file system) and checks what the calls returned and which errno each
refused call raised.
"""
from __future__ import annotations

from typing import Any

from exolab.abi import (FILE_CALLS, O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_RDWR,
                        O_TRUNC, O_WRONLY, S_IFDIR, S_IFMT, S_IFREG, SEEK_CUR, SEEK_END,
                        SEEK_SET)
from exolab.errors import SyscallError
from exolab.runner import run_program

from .kit import needs

CALLS = tuple(sorted(FILE_CALLS))


def _run(kernel: str, body: Any) -> dict[str, Any]:
    """Run ``body(os, out)`` as a program on ``kernel``; return ``out``."""
    needs(kernel, *CALLS)
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        body(os, out)

    r = run_program(main, kernel=kernel, trusted=True)
    assert r.result.reason == "finished" and r.faults == [], (r.faults, out)
    return out


def _errno(fn: Any, *args: Any) -> str | None:
    """The errno ``fn(*args)`` raised, or None if it returned."""
    try:
        fn(*args)
    except SyscallError as ex:
        return ex.errno
    return None


def test_write_read_lseek_round_trip(kernel: str) -> None:
    def body(os: Any, out: dict[str, Any]) -> None:
        fd = os.open("/a", O_CREAT | O_RDWR, 0o644)
        out["w"] = os.write(fd, b"hello world")
        out["end"] = os.lseek(fd, 0, SEEK_CUR)
        os.lseek(fd, 6, SEEK_SET)
        out["r"] = os.read(fd, 100)
        out["eof"] = os.read(fd, 100)
        out["back"] = os.lseek(fd, -5, SEEK_END)
        out["tail"] = os.read(fd, 3)
        os.close(fd)
        st = os.stat("/a")
        out["st"] = (st.size, st.mode & S_IFMT, st.mode & 0o777, st.links, st.ino > 0)

    out = _run(kernel, body)
    assert out["w"] == 11 and out["end"] == 11
    assert out["r"] == b"world" and out["eof"] == b""
    assert out["back"] == 6 and out["tail"] == b"wor"
    assert out["st"] == (11, S_IFREG, 0o644, 1, True)


def test_holes_read_as_zeros_and_big_files_span_blocks(kernel: str) -> None:
    def body(os: Any, out: dict[str, Any]) -> None:
        fd = os.open("/sparse", O_CREAT | O_WRONLY)
        os.lseek(fd, 300_000, SEEK_SET)
        os.write(fd, b"end")
        os.close(fd)
        fd = os.open("/sparse", O_RDONLY)
        os.lseek(fd, 299_998, SEEK_SET)
        out["edge"] = os.read(fd, 10)
        os.close(fd)
        out["size"] = os.stat("/sparse").size
        big = bytes(range(256)) * 1200            # 300 KiB: indirect blocks
        fd = os.open("/big", O_CREAT | O_RDWR)
        os.write(fd, big)
        os.lseek(fd, 0, SEEK_SET)
        got = b""
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            got += chunk
        os.close(fd)
        out["big"] = got == big

    out = _run(kernel, body)
    assert out["edge"] == b"\0\0end" and out["size"] == 300_003 and out["big"]


def test_open_flags(kernel: str) -> None:
    def body(os: Any, out: dict[str, Any]) -> None:
        out["noent"] = _errno(os.open, "/none", O_RDONLY, 0o644)
        fd = os.open("/f", O_CREAT | O_EXCL | O_WRONLY, 0o600)
        os.write(fd, b"abcdef")
        os.close(fd)
        out["excl"] = _errno(os.open, "/f", O_CREAT | O_EXCL | O_WRONLY, 0o600)
        fd = os.open("/f", O_WRONLY | O_APPEND)
        os.write(fd, b"gh")
        os.close(fd)
        out["appended"] = os.stat("/f").size
        out["rdonly_write"] = _errno(lambda: os.write(os.open("/f", O_RDONLY), b"x"))
        fd = os.open("/f", O_WRONLY | O_TRUNC)
        out["wronly_read"] = _errno(os.read, fd, 1)
        os.close(fd)
        out["truncated"] = os.stat("/f").size
        out["badflags"] = _errno(os.open, "/f", 3, 0o644)
        out["relative"] = _errno(os.open, "f", O_RDONLY, 0o644)
        out["notstr"] = _errno(os.open, b"/f", O_RDONLY, 0o644)
        out["long"] = _errno(os.open, "/" + "x" * 256, O_CREAT | O_RDWR, 0o644)
        out["dirw"] = _errno(os.open, "/", O_WRONLY, 0o644)
        out["notdir"] = _errno(os.open, "/f/g", O_CREAT | O_RDWR, 0o644)

    out = _run(kernel, body)
    assert out["noent"] == "ENOENT" and out["excl"] == "EEXIST"
    assert out["appended"] == 8 and out["truncated"] == 0
    assert out["rdonly_write"] == "EBADF" and out["wronly_read"] == "EBADF"
    assert out["badflags"] == "EINVAL" and out["relative"] == "EINVAL"
    assert out["notstr"] == "EINVAL" and out["long"] == "ENAMETOOLONG"
    assert out["dirw"] == "EISDIR" and out["notdir"] == "ENOTDIR"


def test_directories(kernel: str) -> None:
    def body(os: Any, out: dict[str, Any]) -> None:
        os.mkdir("/d", 0o755)
        os.mkdir("/d/e", 0o700)
        for name in ("zeta", "alpha", "m" * 255):
            os.close(os.open("/d/" + name, O_CREAT | O_WRONLY))
        out["list"] = os.listdir("/d")
        st = os.stat("/d")
        out["dir"] = (st.mode & S_IFMT == S_IFDIR, st.is_dir, st.links)
        out["exist"] = _errno(os.mkdir, "/d", 0o755)
        out["notempty"] = _errno(os.rmdir, "/d")
        out["rmdir_file"] = _errno(os.rmdir, "/d/alpha")
        out["unlink_dir"] = _errno(os.unlink, "/d/e")
        out["list_file"] = _errno(os.listdir, "/d/alpha")
        out["root"] = _errno(os.rmdir, "/")
        out["missing_parent"] = _errno(os.mkdir, "/none/x", 0o755)
        os.rmdir("/d/e")
        out["gone"] = _errno(os.stat, "/d/e")
        out["links_after"] = os.stat("/d").links

    out = _run(kernel, body)
    assert out["list"] == sorted(["zeta", "alpha", "m" * 255, "e"])
    assert out["dir"] == (True, True, 3)
    assert out["exist"] == "EEXIST" and out["notempty"] == "ENOTEMPTY"
    assert out["rmdir_file"] == "ENOTDIR" and out["unlink_dir"] == "EISDIR"
    assert out["list_file"] == "ENOTDIR" and out["root"] == "EBUSY"
    assert out["missing_parent"] == "ENOENT" and out["gone"] == "ENOENT"
    assert out["links_after"] == 2


def test_unlink_and_rename(kernel: str) -> None:
    def body(os: Any, out: dict[str, Any]) -> None:
        fd = os.open("/a", O_CREAT | O_RDWR)
        os.write(fd, b"keep")
        os.unlink("/a")                     # open: lives until its last close
        out["after_unlink"] = _errno(os.stat, "/a")
        os.lseek(fd, 0, SEEK_SET)
        out["still"] = os.read(fd, 10)
        os.close(fd)
        out["noent"] = _errno(os.unlink, "/a")
        for name, data in (("/x", b"x"), ("/y", b"yy")):
            fd = os.open(name, O_CREAT | O_WRONLY)
            os.write(fd, data)
            os.close(fd)
        os.rename("/x", "/y")               # replaces /y
        root = os.listdir("/")
        out["renamed"] = ("x" in root, "y" in root, os.stat("/y").size)
        os.mkdir("/d", 0o755)
        os.mkdir("/d/sub", 0o755)
        out["into_itself"] = _errno(os.rename, "/d", "/d/sub/d")
        out["file_over_dir"] = _errno(os.rename, "/y", "/d")
        out["over_nonempty"] = _errno(os.rename, "/d/sub", "/d")
        os.rename("/y", "/d/sub/y")
        root = os.listdir("/")
        out["moved"] = ("y" in root, "d" in root, os.listdir("/d/sub"))
        out["missing"] = _errno(os.rename, "/nope", "/other")

    out = _run(kernel, body)
    assert out["after_unlink"] == "ENOENT" and out["still"] == b"keep"
    assert out["noent"] == "ENOENT"
    assert out["renamed"] == (False, True, 1)
    assert out["into_itself"] == "EINVAL" and out["file_over_dir"] == "EISDIR"
    assert out["over_nonempty"] in ("ENOTEMPTY", "EINVAL")
    assert out["moved"] == (False, True, ["y"]) and out["missing"] == "ENOENT"


def test_descriptors_are_shared_with_pipes_and_checked(kernel: str) -> None:
    def body(os: Any, out: dict[str, Any]) -> None:
        r, w = os.pipe()
        fd = os.open("/f", O_CREAT | O_RDWR)
        out["distinct"] = len({r, w, fd}) == 3
        out["seek_pipe"] = _errno(os.lseek, r, 0, SEEK_SET)
        out["fsync_pipe"] = _errno(os.fsync, w)
        out["badwhence"] = _errno(os.lseek, fd, 0, 7)
        out["negative"] = _errno(os.lseek, fd, -1, SEEK_SET)
        out["bool_fd"] = _errno(os.lseek, True, 0, SEEK_SET)
        os.write(fd, b"data")
        out["fsync"] = _errno(os.fsync, fd)
        os.close(fd)
        out["closed"] = [_errno(os.read, fd, 1), _errno(os.lseek, fd, 0, SEEK_SET),
                         _errno(os.fsync, fd), _errno(os.close, fd)]

    out = _run(kernel, body)
    assert out["distinct"] and out["seek_pipe"] == "ESPIPE"
    assert out["fsync_pipe"] == "EINVAL" and out["badwhence"] == "EINVAL"
    assert out["negative"] == "EINVAL" and out["bool_fd"] == "EBADF"
    assert out["fsync"] is None and out["closed"] == ["EBADF"] * 4


def test_fork_shares_the_offset(kernel: str) -> None:
    needs(kernel, "fork")

    def child(os: Any, fd: int) -> int:
        return int(os.write(fd, b"child"))

    def body(os: Any, out: dict[str, Any]) -> None:
        fd = os.open("/f", O_CREAT | O_RDWR)
        os.write(fd, b"parent,")
        pid = os.fork(child, fd)
        os.wait(pid)
        out["offset"] = os.lseek(fd, 0, SEEK_CUR)
        os.lseek(fd, 0, SEEK_SET)
        out["data"] = os.read(fd, 100)

    out = _run(kernel, body)
    assert out["offset"] == 12 and out["data"] == b"parent,child"


def test_times_are_simulated_seconds(kernel: str) -> None:
    def body(os: Any, out: dict[str, Any]) -> None:
        fd = os.open("/t", O_CREAT | O_WRONLY)
        os.close(fd)
        before = os.stat("/t")
        os.compute(2 * 25_000_000)          # two simulated seconds at 25 MHz
        fd = os.open("/t", O_WRONLY)
        os.write(fd, b"x")
        os.close(fd)
        after = os.stat("/t")
        out["t"] = (before.mtime, after.mtime, after.ctime)

    a, b, c = _run(kernel, body)["t"]
    assert b - a >= 1 and c >= b


def test_enospc_changes_nothing_else(kernel: str) -> None:
    def body(os: Any, out: dict[str, Any]) -> None:
        fd = os.open("/fill", O_CREAT | O_WRONLY)
        total, chunk = 0, b"z" * 65536
        while True:
            try:
                n = os.write(fd, chunk)
            except SyscallError as ex:
                out["err"] = ex.errno
                break
            total += n
            if n < len(chunk):
                out["short"] = True
        os.close(fd)
        out["size"] = os.stat("/fill").size == total
        os.unlink("/fill")
        fd = os.open("/again", O_CREAT | O_WRONLY)
        out["after"] = os.write(fd, b"ok")
        os.close(fd)

    out = _run(kernel, body)
    assert out["err"] == "ENOSPC" and out["size"] and out["after"] == 2
