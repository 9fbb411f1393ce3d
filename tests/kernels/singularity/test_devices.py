"""Driver SIPs and their devices: the disk is a manifest's system resource, read by
DMA into the driver's own heap, the CPU idle while the drive works."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from exolab.kernels.singularity import Singularity
from exolab.kernels.singularity import pipeline
from exolab.machine.machine import Machine
from exolab.safe.load import load_function


def reader(os: Any, block: int) -> None:
    """A disk driver reading one block and printing its tag."""
    size, blocks = os.disk_info()
    buf = os.mmap(size)
    os.print("read", os.disk_read(block, buf), blocks)
    os.print("tag", os.load(buf), os.load(buf + 4))
    try:
        os.disk_read(blocks, buf)
    except Exception as ex:
        os.print("past the end:", getattr(ex, "errno", "?"))


reader.manifest = ("reader", (), (), (("disk", 1),))       # type: ignore[attr-defined]


def thief(os: Any) -> None:
    """Reaches for a disk its manifest does not declare."""
    try:
        os.disk_read(0, os.mmap(4096))
    except Exception as ex:
        os.print("thief:", getattr(ex, "errno", "?"))


def two(os: Any) -> None:
    """Starts a thief beside the driver."""
    for pid in (os.spawn(thief), os.spawn(reader, 2)):
        os.wait(pid)


def _kernel(tmp_path: Path, disk: bool = True) -> Singularity:
    m = Machine("athlon64", frames=4096)
    if disk:
        img = tmp_path / "d.img"
        pipeline.image(str(img))
        m.attach_disk(str(img))
    return Singularity(m)


def test_a_driver_reads_the_disk_by_dma_into_its_heap(tmp_path: Path) -> None:
    k = _kernel(tmp_path)
    k.boot(load_function(reader), 2)
    assert k.run().reason == "finished" and k.faults == []
    assert k.console[0].startswith("read 4096 ")
    assert k.console[1] == "tag 1 0"        # block 2: file 1 (file 0 is block 1 alone)
    assert k.console[2] == "past the end: EINVAL"
    stats = k.machine.statistics()
    assert stats.disks[0].reads == 1 and stats.cpus[0].idle_cycles > 0


def test_a_disk_not_in_the_manifest_is_refused(tmp_path: Path) -> None:
    k = _kernel(tmp_path)
    k.boot(load_function(two))
    assert k.run().reason == "finished"
    assert "thief: EPERM" in k.console and k.faults == []


def test_no_disk_means_enodev_at_spawn(tmp_path: Path) -> None:
    def main(os: Any) -> None:
        try:
            os.spawn(reader, 0)
        except Exception as ex:
            os.print("spawn:", getattr(ex, "errno", "?"))
        try:
            os.disk_info()
        except Exception as ex:
            os.print("info:", getattr(ex, "errno", "?"))
    k = _kernel(tmp_path, disk=False)
    k.boot(main)
    assert k.run().reason == "finished"
    assert k.console == ["spawn: ENODEV", "info: ENODEV"]


def doomed_reader(os: Any) -> None:
    """A driver whose second thread faults while the first waits for the disk."""
    size, _blocks = os.disk_info()
    buf = os.mmap(size)
    os.thread_create(wild_thread)
    os.disk_read(3, buf)
    os.print("not reached")


def wild_thread(os: Any) -> None:
    os.load(0)                                          # outside its heap: the SIP faults


doomed_reader.manifest = ("doomed", (), (), (("disk", 1),))   # type: ignore[attr-defined]


def test_a_dma_in_flight_when_its_driver_dies_lands_in_frames_kept_aside(
        tmp_path: Path) -> None:
    k = _kernel(tmp_path)
    seen: list[Any] = []
    real = k.on_interrupt

    def spy(cpu: Any, irq: int) -> None:
        seen.append((len(k.disk.pinned), set(k.disk.orphans)))   # type: ignore[union-attr]
        real(cpu, irq)
    for cpu in k.machine.cpus:
        cpu._v_irq = spy                                # type: ignore[attr-defined]
    k.boot(load_function(doomed_reader))
    assert k.run().reason == "finished"
    assert len(k.faults) == 1 and "not reached" not in k.console
    assert seen and seen[0][0] > 0 and seen[0][1]       # held while the DMA was due
    assert k.disk.pinned == [] and not k.disk.orphans   # type: ignore[union-attr]


def test_a_second_driver_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    def main(os: Any) -> None:
        first = os.spawn(reader, 2)
        for _ in range(50):
            try:
                os.spawn(reader, 2)
            except Exception as ex:
                last = getattr(ex, "errno", "?")
        os.print("second:", last)
        os.wait(first)
    k = _kernel(tmp_path)
    k.boot(main)
    before = k._frames_left()
    assert k.run().reason == "finished"
    assert "second: EBUSY" in k.console and k.faults == []
    assert k._frames_left() >= before                   # no half-made SIP kept frames


def nic_poster(os: Any) -> None:
    """A NIC driver that posts receive buffers over its heap, tries to unmap one, and
    exits with them still posted."""
    va = os.mmap(8 * 4096)
    for i in range(16):
        os.nic_post(va + i * 2048, 1514)
    try:
        os.munmap(va, 4096)
    except Exception as ex:
        os.print("munmap posted:", getattr(ex, "errno", "?"))
    os.munmap(va + 8 * 4096, 4096)                  # past the region: nothing to do


nic_poster.manifest = ("poster", (), (), (("nic", 1),))   # type: ignore[attr-defined]


def heap_keeper(os: Any) -> None:
    """The SIP started after the driver: its memory must stay what it stored."""
    va = os.mmap(256 * 4096)
    for i in range(0, 256 * 4096, 64):
        os.store(va + i, 0x5555555555555555, 8)
    for _ in range(400):
        os.yield_()
    bad = sum(1 for i in range(0, 256 * 4096, 8) if os.load(va + i, 8) != (
        0x5555555555555555 if i % 64 == 0 else 0))
    os.print("keeper bad words", bad)


def driver_then_keeper(os: Any) -> None:
    os.wait(os.spawn(nic_poster))
    os.wait(os.spawn(heap_keeper))


def test_a_dead_drivers_receive_ring_no_longer_points_into_freed_frames() -> None:
    """Regression: the ring kept the driver's buffers after it exited, and the next
    frames from the wire were written into the heap of the SIP given those frames."""
    m = Machine("athlon64", frames=4096)
    nic = m.attach_nic()
    k = Singularity(m)
    k.boot(load_function(driver_then_keeper))
    for i in range(1, 40):
        nic.deliver(b"\xff" * 1000, at=i * 200_000)
    assert k.run().reason == "finished" and k.faults == []
    assert "munmap posted: EBUSY" in k.console
    assert "keeper bad words 0" in k.console
    stats = nic.statistics()
    assert stats.rx_frames == 0 and stats.rx_buffers == 0 and stats.rx_dropped == 39


def busy_reader(os: Any) -> None:
    """A driver whose second thread tries to unmap the buffer a read is landing in."""
    size, _blocks = os.disk_info()
    buf = os.mmap(size)
    os.thread_create(unmapper, buf)
    os.disk_read(2, buf)
    os.print("read done; tag", os.load(buf))
    os.munmap(buf, size)
    os.print("unmapped after the read")


def unmapper(os: Any, buf: int) -> None:
    try:
        os.munmap(buf, 4096)
    except Exception as ex:
        os.print("munmap in flight:", getattr(ex, "errno", "?"))


busy_reader.manifest = ("busy", (), (), (("disk", 1),))     # type: ignore[attr-defined]


def test_a_buffer_a_disk_read_is_landing_in_cannot_be_unmapped(tmp_path: Path) -> None:
    k = _kernel(tmp_path)
    k.boot(load_function(busy_reader))
    assert k.run().reason == "finished" and k.faults == []
    assert k.console == ["munmap in flight: EBUSY", "read done; tag 1",
                         "unmapped after the read"]
    assert k.disk.targets == {}                          # type: ignore[union-attr]
