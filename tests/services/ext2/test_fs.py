"""The file-system operations: results, errnos (nothing changes on error), times, costs."""
from __future__ import annotations

import pytest

from exolab.errors import SyscallError
from exolab.services.ext2 import (O_CREAT, O_DIRECTORY, O_EXCL, O_RDWR, O_TRUNC,
                                  O_WRONLY, ManualClock, verify)

from .helpers import fresh


def errno(fn, *args):
    """The errno ``fn(*args)`` raises."""
    with pytest.raises(SyscallError) as ei:
        fn(*args)
    return ei.value.errno


def create(fs, path, data=b""):
    """Create ``path`` holding ``data``; return its inode number."""
    ino = fs.open(path, O_CREAT | O_RDWR)
    fs.write(ino, 0, data)
    fs.close(ino)
    return ino


@pytest.fixture(params=[1024, 4096])
def fs(request):
    return fresh(request.param, kib=4096)[0]


def test_create_write_read_stat(fs):
    ino = create(fs, "/a", b"hello world")
    st = fs.stat("/a")
    assert (st.ino, st.size, st.links, st.mode) == (ino, 11, 1, 0o100644)
    assert st.blocks == fs.sb.block_size // 512
    assert fs.read(fs.open("/a"), 6, 100) == b"world"
    assert fs.listdir("/") == ["lost+found", "a"]
    assert verify(fs) == []


def test_sparse_write_leaves_a_hole_that_reads_zero_and_holds_no_block(fs):
    ino = create(fs, "/s")
    fs.write(ino, 10_000_000, b"end")
    st = fs.stat("/s")
    assert st.size == 10_000_003
    # one data block plus the indirect blocks on its path; nothing for the hole
    assert st.blocks < 8 * fs.sb.block_size // 512
    assert fs.read(ino, 0, 4096) == bytes(4096)
    assert fs.read(ino, 9_999_999, 10) == b"\0end"
    assert verify(fs) == []


def test_one_read_of_a_huge_hole_is_short_at_max_read(fs):
    """A byte written 64 MiB in costs one block; one read of the whole file used to
    build all 64 MiB of zeros in host memory in one call (a 1 GiB hole: 2 GiB)."""
    from exolab.abi import MAX_READ
    ino = create(fs, "/h")
    fs.write(ino, 4 * MAX_READ, b"!")
    got = fs.read(ino, 0, 8 * MAX_READ)
    assert len(got) == MAX_READ and not any(got)
    assert fs.read(ino, 4 * MAX_READ - 1, 8 * MAX_READ) == b"\0!"


@pytest.mark.parametrize("bs", [1024, 4096])
def test_every_indirection_level_round_trips_and_truncate_frees_it_all(bs):
    fs, _ = fresh(bs, kib=8192)
    p = bs // 4
    ino = create(fs, "/big")
    free0 = fs.sb.free_blocks
    # each write straddles a level boundary: direct/indirect/double/triple
    offsets = [0] + [(edge - 1) * bs + bs // 2 for edge in (12, 12 + p, 12 + p + p * p)]
    offsets.append((12 + p + p * p + 5) * bs)
    for i, off in enumerate(offsets):
        fs.write(ino, off, bytes([i + 1]) * (bs + 7))
    for i, off in enumerate(offsets):
        assert fs.read(ino, off, bs + 7) == bytes([i + 1]) * (bs + 7)
    assert verify(fs) == []
    fs.truncate(ino, 12 * bs + 3)
    assert fs.read(ino, 12 * bs, 10) == bytes([2]) * 3
    assert verify(fs) == []
    fs.truncate(ino, 0)
    assert fs.sb.free_blocks == free0 and fs.stat("/big").blocks == 0
    assert verify(fs) == []


def test_truncate_then_grow_reads_zeros_past_the_cut(fs):
    ino = create(fs, "/t", b"x" * 5000)
    fs.truncate(ino, 100)
    fs.truncate(ino, 5000)
    assert fs.read(ino, 0, 5000) == b"x" * 100 + bytes(4900)


def test_open_flags(fs):
    create(fs, "/f", b"data")
    assert errno(fs.open, "/f", O_CREAT | O_EXCL | O_RDWR) == "EEXIST"
    ino = fs.open("/f", O_WRONLY | O_TRUNC)
    assert fs.stat("/f").size == 0
    fs.close(ino)
    assert errno(fs.open, "/nope") == "ENOENT"
    assert errno(fs.open, "/f", O_DIRECTORY) == "ENOTDIR"
    assert errno(fs.open, "/lost+found", O_RDWR) == "EISDIR"
    assert errno(fs.open, "/f/x") == "ENOTDIR"
    assert errno(fs.open, "/f", 0o7777777) == "EINVAL"
    assert errno(fs.open, "/g", O_CREAT | O_DIRECTORY) == "EINVAL"
    assert errno(fs.open, 42) == "EINVAL"


def test_names_too_long_and_long_names_that_fit(fs):
    create(fs, "/" + "n" * 255, b"ok")
    assert fs.listdir("/")[-1] == "n" * 255
    assert errno(fs.open, "/" + "n" * 256, O_CREAT | O_RDWR) == "ENAMETOOLONG"
    assert errno(fs.mkdir, "/" + "é" * 128) == "ENAMETOOLONG"     # 256 bytes


def test_hard_links_share_the_inode_and_the_last_unlink_frees_it(fs):
    ino = create(fs, "/a", b"shared")
    fs.mkdir("/d")
    fs.link("/a", "/d/b")
    assert fs.stat("/d/b").ino == ino and fs.stat("/a").links == 2
    free = fs.sb.free_inodes
    fs.unlink("/a")
    assert fs.read(fs.open("/d/b"), 0, 10) == b"shared"
    fs.close(ino)
    fs.unlink("/d/b")
    assert fs.sb.free_inodes == free + 1
    assert errno(fs.link, "/d", "/e") == "EPERM"
    assert errno(fs.link, "/nope", "/e") == "ENOENT"
    assert verify(fs) == []


def test_unlinked_open_file_lives_until_close(fs):
    ino = create(fs, "/o", b"still here")
    ino = fs.open("/o")
    fs.unlink("/o")
    assert fs.read(ino, 0, 20) == b"still here"
    fs.close(ino)
    assert errno(fs.read, ino, 0, 1) == "EBADF"
    assert verify(fs) == []


def test_mkdir_rmdir(fs):
    dirs = fs.groups[0].used_dirs + sum(g.used_dirs for g in fs.groups[1:])
    fs.mkdir("/d")
    fs.mkdir("/d/e")
    assert fs.stat("/d").links == 3 and fs.stat("/").links == 4
    assert sum(g.used_dirs for g in fs.groups) == dirs + 2
    assert errno(fs.mkdir, "/d") == "EEXIST"
    assert errno(fs.rmdir, "/d") == "ENOTEMPTY"
    assert errno(fs.rmdir, "/d/e/.") == "EINVAL"
    assert errno(fs.rmdir, "/") == "EBUSY"
    create(fs, "/f")
    assert errno(fs.rmdir, "/f") == "ENOTDIR"
    assert errno(fs.unlink, "/d") == "EISDIR"
    fs.rmdir("/d/e")
    fs.rmdir("/d")
    assert sum(g.used_dirs for g in fs.groups) == dirs
    assert fs.stat("/").links == 3
    assert verify(fs) == []


def test_rename_rules(fs):
    fs.mkdir("/a")
    fs.mkdir("/a/b")
    fs.mkdir("/c")
    create(fs, "/f", b"1")
    create(fs, "/g", b"2")
    assert errno(fs.rename, "/a", "/a/b/x") == "EINVAL"
    assert errno(fs.rename, "/f", "/c") == "EISDIR"
    assert errno(fs.rename, "/c", "/f") == "ENOTDIR"
    assert errno(fs.rename, "/c", "/a") == "ENOTEMPTY"
    assert errno(fs.rename, "/nope", "/x") == "ENOENT"
    fs.rename("/f", "/g")                       # replaces g
    assert fs.read(fs.open("/g"), 0, 5) == b"1" and "f" not in fs.listdir("/")
    fs.rename("/a/b", "/c/b")                   # a directory changes parent
    assert fs.stat("/a").links == 2 and fs.stat("/c").links == 3
    assert fs.stat("/c/b/..").ino == fs.stat("/c").ino
    fs.rename("/c", "/a/b2")
    assert fs.listdir("/a") == ["b2"]
    assert verify(fs) == []


def test_errors_change_nothing(fs):
    create(fs, "/f", b"x")
    before = bytes(fs.dev.data)
    for fn, args in ((fs.mkdir, ("/f",)), (fs.rmdir, ("/lost+found/..",)),
                     (fs.rename, ("/f", "/lost+found")), (fs.unlink, ("/zz",)),
                     (fs.link, ("/f", "/f"))):
        errno(fn, *args)
    assert bytes(fs.dev.data) == before


def test_enospc_is_reported_and_the_image_stays_consistent():
    fs, _ = fresh(1024, kib=256, inodes=64)
    ino = create(fs, "/fill")
    n = fs.write(ino, 0, b"z" * (1 << 20))
    assert 0 < n < 1 << 20
    assert fs.sb.free_blocks == 0
    assert errno(fs.write, ino, n, b"more") == "ENOSPC"
    assert errno(fs.mkdir, "/d") == "ENOSPC"
    assert verify(fs) == []
    fs.unlink("/fill")
    assert verify(fs) == []
    for i in range(100):
        try:
            create(fs, f"/f{i}")
        except SyscallError as ex:
            assert ex.errno == "ENOSPC"
            break
    else:
        pytest.fail("inodes never ran out")
    assert verify(fs) == []


def test_times_come_from_the_clock():
    clock = ManualClock(1_000_000)
    fs, _ = fresh(1024, clock=clock)
    ino = create(fs, "/t")
    clock.t = 2_000_000
    fs.write(ino, 0, b"x")
    st = fs.stat("/t")
    assert (st.ctime, st.mtime, st.atime) == (2_000_000, 2_000_000, 1_000_000)


def test_costs_are_charged_through_the_hook():
    seen: dict[str, int] = {}

    def charge(kind, n):
        seen[kind] = seen.get(kind, 0) + n
    fs, _ = fresh(1024, charge=charge)
    ino = create(fs, "/c", b"y" * 3000)
    fs.read(ino, 0, 3000)
    fs.fsync(ino)
    st = fs.statistics()
    assert seen["ext2.copy"] == 6000 == st.bytes_copied
    assert seen["ext2.block_read"] == st.block_reads > 0
    assert seen["ext2.block_write"] == st.block_writes > 0
    assert seen["ext2.op"] == st.ops and seen["ext2.flush"] == st.flushes == 1
    assert seen["ext2.dirent"] > 0


def test_a_whole_block_overwrite_reads_nothing_and_a_partial_one_reads_once(fs):
    bs = fs.sb.block_size
    ino = create(fs, "/w", b"a" * (4 * bs))
    r0 = fs.statistics().block_reads
    fs.write(ino, 0, b"b" * (4 * bs))
    r1 = fs.statistics().block_reads
    fs.write(ino, 1, b"c")
    r2 = fs.statistics().block_reads
    # the inode-table block is read each time; data blocks only for the partial write
    assert r2 - r1 == (r1 - r0) + 1
    assert fs.read(ino, 0, 3) == b"bcb"
