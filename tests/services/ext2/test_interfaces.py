"""The device, clock and cost interfaces: re-blocking, host files, the machine's disk."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.errors import ConfigError, DiskRequestError
from exolab.machine.machine import Machine
from exolab.services.ext2 import (O_CREAT, O_RDWR, Ext2, FileDevice, MachineDiskAdapter,
                                  MemoryDevice, Reblocked, SimClock, mkfs, verify)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([(512, 4096), (4096, 1024), (1024, 1024), (1024, 2048)]),
       st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=20))
def test_reblocked_reads_what_it_wrote(sizes, writes):
    dev_bs, fs_bs = sizes
    dev = MemoryDevice(dev_bs, 64 * 4096 // dev_bs)
    rb = Reblocked(dev, fs_bs)
    assert rb.blocks * fs_bs == dev.blocks * dev_bs
    model = {}
    for n, tag in writes:
        n %= rb.blocks
        rb.write_block(n, bytes([tag]) * fs_bs)
        model[n] = bytes([tag]) * fs_bs
    for n, want in model.items():
        assert rb.read_block(n) == want
        assert bytes(dev.data[n * fs_bs:(n + 1) * fs_bs]) == want
    with pytest.raises(DiskRequestError):
        rb.read_block(rb.blocks)


def test_a_1k_file_system_on_a_4k_device_and_back():
    dev = MemoryDevice(4096, 512)
    mkfs(dev, block_size=1024)
    fs = Ext2.mount(dev)
    assert fs.sb.block_size == 1024 and fs.dev.block_size == 1024
    ino = fs.open("/x", O_CREAT | O_RDWR)
    fs.write(ino, 0, b"q" * 9000)
    again = Ext2.mount(MemoryDevice(1024, 2048, bytes(dev.data)))
    assert again.read(again.open("/x"), 0, 9000) == b"q" * 9000
    assert verify(again) == []


def test_mkfs_refuses_bad_parameters():
    with pytest.raises(ConfigError):
        mkfs(MemoryDevice(1024, 1024), block_size=3000)
    with pytest.raises(ConfigError):
        mkfs(MemoryDevice(1024, 10))


def test_file_device_round_trip(tmp_path):
    p = tmp_path / "img"
    p.write_bytes(bytes(1 << 20))
    dev = FileDevice(p, 1024)
    mkfs(dev)
    fs = Ext2.mount(dev)
    fs.mkdir("/dir")
    dev.close()
    fs2 = Ext2.mount(FileDevice(p, 4096))       # a different device block size
    assert fs2.listdir("/") == ["lost+found", "dir"]


def test_on_the_machines_disk_requests_take_simulated_time(tmp_path):
    m = Machine("dec5000", frames=64, seed=0)
    disk = m.attach_disk(str(tmp_path / "d.img"), create=True, blocks=512)
    dev = MachineDiskAdapter(disk, m.memory, 0x3000,
                             MachineDiskAdapter.poll_wait(disk, m.clock))
    mkfs(dev, block_size=4096)
    t0 = m.clock.now
    fs = Ext2.mount(dev, clock=SimClock(m.clock, m.profile.mhz * 1_000_000))
    ino = fs.open("/f", O_CREAT | O_RDWR)
    fs.write(ino, 0, b"disk" * 3000)
    fs.fsync(ino)
    assert fs.read(ino, 0, 12000) == b"disk" * 3000
    s = disk.statistics()
    assert s.writes >= fs.statistics().block_writes > 0 and s.flushes >= 1
    assert m.clock.now > t0
    assert verify(fs) == []
    # the image file on the host now holds the file system the machine wrote
    disk.close()
    fs2 = Ext2.mount(FileDevice(tmp_path / "d.img", 4096))
    assert fs2.read(fs2.open("/f"), 0, 4) == b"disk"
