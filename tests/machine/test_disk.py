"""Tests of the simulated disk: image checks, DMA, latency model, cache, power cuts."""
from __future__ import annotations

import dataclasses
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exolab.errors import (ConfigError, DiskImageError, DiskRequestError,
                           PhysicalAddressError)
from exolab.kernels.tiny import SYS_DISK_READ, TinyKernel
from exolab.machine.cpu import IRQ_DISK
from exolab.machine.disk import SECTOR, BlockDevice
from exolab.machine.machine import Machine
from exolab.trace.events import Kind

BS = 4096
PADDR = 0x3000          # a DMA buffer in frame 3


def make(tmp_path, name="d.img", *, blocks=32, profile="dec5000", seed=0, trace=False,
         **kw):
    """A small machine with one freshly created (sparse, zeroed) disk."""
    m = Machine(profile, frames=64, seed=seed, trace=trace)
    d = m.attach_disk(str(tmp_path / name), create=True, blocks=blocks, **kw)
    return m, d


def drain(m, d):
    """Advance simulated time until the disk has nothing left to do."""
    while d.busy:
        assert m.clock.skip_to_next(), "disk busy but no event pending"
        m.clock.fire_due()


def payload(tag, block_size=BS):
    """A block whose every sector differs, tagged so versions are distinguishable."""
    return b"".join(bytes([tag, s]) * (SECTOR // 2) for s in range(block_size // SECTOR))


def write(m, d, block, data, fua=False):
    """Put ``data`` in the DMA buffer and submit a write of it."""
    m.memory.write(PADDR, data)
    return d.submit_write(block, PADDR, fua=fua)


def read(m, d, block):
    """Read ``block`` synchronously through DMA and return the bytes."""
    d.submit_read(block, PADDR)
    drain(m, d)
    return m.memory.read(PADDR, d.block_size)


def service(m, d, submit):
    """Run one request on an idle disk and return its service time in cycles."""
    before = d.statistics().busy_cycles
    submit()
    drain(m, d)
    return d.statistics().busy_cycles - before


# -- images ---------------------------------------------------------------------------

def test_missing_image(tmp_path):
    m = Machine(frames=16)
    with pytest.raises(DiskImageError) as ei:
        m.attach_disk(str(tmp_path / "nope.img"))
    assert ei.value.path.endswith("nope.img") and ei.value.actual == "missing"


@pytest.mark.parametrize("size, blocks, what", [
    (16 * BS + 100, None, "multiple"),
    (8 * BS, None, "small"),
    (20 * BS, 16, "match"),
])
def test_bad_image_sizes(tmp_path, size, blocks, what):
    path = tmp_path / "bad.img"
    path.write_bytes(bytes(size))
    with pytest.raises(DiskImageError) as ei:
        Machine(frames=16).attach_disk(str(path), blocks=blocks)
    assert what in ei.value.message and ei.value.actual == size
    assert ei.value.path == str(path)


def test_too_small_blocks_and_bad_config(tmp_path):
    m = Machine(frames=16)
    with pytest.raises(DiskImageError):
        m.attach_disk(str(tmp_path / "a.img"), create=True, blocks=8)
    assert not (tmp_path / "a.img").exists()
    with pytest.raises(ConfigError):
        m.attach_disk(str(tmp_path / "b.img"), create=True)          # no size
    with pytest.raises(ConfigError):
        m.attach_disk(str(tmp_path / "c.img"), create=True, blocks=16, block_size=1000)
    with pytest.raises(ConfigError):
        m.attach_disk(str(tmp_path / "c.img"), create=True, blocks=16, cache_blocks=-1)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can open any file")
def test_unwritable_image(tmp_path):
    path = tmp_path / "ro.img"
    path.write_bytes(bytes(16 * BS))
    path.chmod(0o444)
    with pytest.raises(DiskImageError):
        Machine(frames=16).attach_disk(str(path))


def test_create_is_sparse_and_existing_image_opens(tmp_path):
    m, d = make(tmp_path, blocks=1 << 16)
    st_ = os.stat(tmp_path / "d.img")
    assert st_.st_size == (1 << 16) * BS and st_.st_blocks * 512 < st_.st_size
    d.close()
    d2 = m.attach_disk(str(tmp_path / "d.img"), blocks=1 << 16)
    assert d2.blocks == 1 << 16 and d2.index == 1 and isinstance(d2, BlockDevice)
    d2.close()
    with pytest.raises(DiskRequestError):
        d2.submit_flush()


# -- requests -------------------------------------------------------------------------

def test_read_after_write_through_cache_and_after_flush(tmp_path):
    m, d = make(tmp_path)
    write(m, d, 5, payload(1))
    drain(m, d)
    assert d.image_block(5) == bytes(BS)                 # only in the volatile cache
    assert read(m, d, 5) == payload(1) == d.peek(5)
    assert d.statistics().cache_hits == 1
    d.submit_flush()
    drain(m, d)
    assert d.image_block(5) == payload(1)
    m.memory.write(PADDR, bytes(BS))
    assert read(m, d, 5) == payload(1)


def test_write_data_is_captured_at_submit(tmp_path):
    m, d = make(tmp_path)
    write(m, d, 3, payload(7), fua=True)
    m.memory.write(PADDR, payload(8))                    # changed before completion
    drain(m, d)
    assert d.image_block(3) == payload(7)


def test_completions_fifo_and_interrupt(tmp_path):
    m, d = make(tmp_path)
    ids = [d.submit_read(b, PADDR) for b in (9, 1, 30)] + [d.submit_flush()]
    assert d.pending() == 4 and d.busy
    drain(m, d)
    assert d.pending() == 0 and not d.busy
    assert m.cpu.pending_irqs & (1 << IRQ_DISK)
    assert d.take_completions() == ids and d.take_completions() == []


def test_bad_requests_queue_nothing(tmp_path):
    m, d = make(tmp_path)
    with pytest.raises(DiskRequestError) as ei:
        d.submit_read(32, PADDR)
    assert (ei.value.block, ei.value.blocks) == (32, 32)
    with pytest.raises(DiskRequestError):
        d.submit_write(-1, PADDR)
    with pytest.raises(PhysicalAddressError):
        d.submit_read(0, 64 * 4096 - 100)
    with pytest.raises(DiskRequestError):
        d.peek(99)
    assert d.pending() == 0 and m.clock.pending() == 0


def test_fua_bypasses_cache(tmp_path):
    m, d = make(tmp_path)
    write(m, d, 4, payload(1))
    write(m, d, 4, payload(2), fua=True)                 # supersedes the cached copy
    drain(m, d)
    s = d.statistics()
    assert d.image_block(4) == payload(2) and s.dirty_cached == 0
    assert (s.writes, s.fua_writes) == (2, 1) and d.peek(4) == payload(2)
    d.submit_flush()
    drain(m, d)
    d.power_cut("tear")
    assert d.image_block(4) == payload(2)


def test_flush_empties_cache_into_image(tmp_path):
    m, d = make(tmp_path)
    for b in (7, 2, 11):
        write(m, d, b, payload(b))
    drain(m, d)
    assert d.statistics().dirty_cached == 3
    assert all(d.image_block(b) == bytes(BS) for b in (7, 2, 11))
    d.submit_flush()
    drain(m, d)
    assert d.statistics().dirty_cached == 0 and d.statistics().flushes == 1
    assert all(d.image_block(b) == payload(b) for b in (7, 2, 11))


def test_full_cache_destages_oldest(tmp_path):
    m, d = make(tmp_path, cache_blocks=2)
    for b in (1, 2, 1, 3):                               # rewrite keeps 1 oldest
        write(m, d, b, payload(b))
    drain(m, d)
    assert d.statistics().destages == 1 and d.image_block(1) == payload(1)
    assert d.image_block(2) == bytes(BS) and d.peek(3) == payload(3)


def test_write_through_without_cache(tmp_path):
    m, d = make(tmp_path, cache_blocks=0)
    write(m, d, 6, payload(6))
    drain(m, d)
    assert d.image_block(6) == payload(6) and d.statistics().dirty_cached == 0


# -- latency model --------------------------------------------------------------------

def test_cached_write_is_cheaper_than_media_write(tmp_path):
    m, d = make(tmp_path, blocks=4096)
    cached = service(m, d, lambda: write(m, d, 2000, payload(1)))
    media = service(m, d, lambda: write(m, d, 4000, payload(1), fua=True))
    assert cached == d._c_ctrl + d._c_bus and media > cached


def test_zero_distance_seek_costs_nothing(tmp_path):
    m, d = make(tmp_path, blocks=1 << 16, readahead_blocks=0)
    assert d.seek_cycles(0) == 0 < d.seek_cycles(1) < d.seek_cycles(500)
    assert d.locate(0)[0] == 0 and d.locate(d.blocks - 1)[0] == d.cylinders - 1
    base = d._c_ctrl + d._c_xfer
    near = service(m, d, lambda: d.submit_read(1, PADDR))     # head on cylinder 0
    assert d.statistics().seeks == 0 and base <= near <= base + d._c_rot
    far = d.blocks - 1
    cost = service(m, d, lambda: d.submit_read(far, PADDR))
    seek = d.seek_cycles(d.locate(far)[0])
    assert d.statistics().seeks == 1 and base + seek <= cost <= base + seek + d._c_rot


@pytest.mark.parametrize("profile", ["dec5000", "athlon64"])
@pytest.mark.parametrize("queued", [False, True])
def test_sequential_reads_cheaper_than_random(tmp_path, profile, queued):
    m, d = make(tmp_path, blocks=1 << 16, profile=profile)
    rng = random.Random(11)

    def total(blocks):
        t0 = m.clock.now
        for b in blocks:
            d.submit_read(b, PADDR)
            if not queued:
                drain(m, d)
        drain(m, d)
        return m.clock.now - t0

    seq = total(range(1000, 1064))
    rnd = total([rng.randrange(d.blocks) for _ in range(64)])
    assert seq * 3 < rnd
    assert d.statistics().readahead_hits > 32


def test_read_ahead_never_serves_stale_data(tmp_path):
    m, d = make(tmp_path, blocks=64)
    assert read(m, d, 10) == bytes(BS)                   # starts a read-ahead stream
    write(m, d, 11, payload(3), fua=True)
    write(m, d, 12, payload(4))
    drain(m, d)
    assert read(m, d, 11) == payload(3) and read(m, d, 12) == payload(4)
    assert read(m, d, 13) == bytes(BS)
    assert d.statistics().readahead_hits == 0


def test_statistics_is_frozen(tmp_path):
    m, d = make(tmp_path)
    s = d.statistics()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.reads = 3  # type: ignore[misc]


def test_trace_events(tmp_path):
    m, d = make(tmp_path, trace=True)
    d.submit_read(3, PADDR)
    write(m, d, 4, payload(1), fua=True)
    d.submit_flush()
    drain(m, d)
    ev = [(e.kind, e.name, e.arg) for e in m.tracer.events()]
    assert ev == [(Kind.DISK_REQUEST, "read", 3), (Kind.DISK_REQUEST, "fua", 4),
                  (Kind.DISK_REQUEST, "flush", None), (Kind.DISK_COMPLETE, "read", 3),
                  (Kind.DISK_COMPLETE, "fua", 4), (Kind.DISK_COMPLETE, "flush", None)]


# -- power cuts -----------------------------------------------------------------------

def test_power_cut_loses_in_flight_requests(tmp_path):
    m, d = make(tmp_path)
    d.submit_read(1, PADDR)
    write(m, d, 2, payload(2), fua=True)
    d.power_cut()
    assert not m.clock.skip_to_next() and d.take_completions() == []
    assert d.image_block(2) == bytes(BS) and d.pending() == 0
    s = d.statistics()
    assert (s.lost_requests, s.power_cuts, s.writes) == (2, 1, 0)
    with pytest.raises(DiskRequestError):
        d.submit_read(1, PADDR)
    with pytest.raises(ConfigError):
        d.power_cut("melt")
    d.power_on()
    assert read(m, d, 2) == bytes(BS)


def _tear_run(tmp_path, seed):
    """Cache 16 writes, cut power in "tear" mode, and return the image's blocks."""
    m, d = make(tmp_path, f"tear{seed}-{random.random()}.img", blocks=16, seed=seed)
    for b in range(16):
        write(m, d, b, payload(b + 1))
    drain(m, d)
    d.power_cut("tear")
    out = [d.image_block(b) for b in range(16)]
    d.close()
    return out


def test_tear_is_deterministic_per_seed(tmp_path):
    runs = {seed: _tear_run(tmp_path, seed) for seed in range(4)}
    assert _tear_run(tmp_path, 2) == runs[2]
    assert len({tuple(r) for r in runs.values()}) > 1
    fates = set()
    for r in runs.values():
        for b, img in enumerate(r):
            new = payload(b + 1)
            fates.add("lost" if img == bytes(BS) else "written" if img == new else "torn")
    assert fates == {"lost", "written", "torn"}


class Model:
    """The reference semantics: image file, volatile cache, and durable blocks."""

    def __init__(self, blocks, block_size, cache_blocks):
        self.image = {b: bytes(block_size) for b in range(blocks)}
        self.cache: dict[int, bytes] = {}
        self.durable: dict[int, bytes] = {}   # last completed write flushed or FUA
        self.cap = cache_blocks

    def complete(self, op, block, data):
        """Apply one completed request."""
        if op == "write":
            if block not in self.cache and len(self.cache) >= self.cap:
                old = next(iter(self.cache))
                self.image[old] = self.cache.pop(old)
            self.cache[block] = data
            self.durable.pop(block, None)
        elif op == "fua":
            self.image[block] = self.durable[block] = data
            self.cache.pop(block, None)
        else:
            for b in sorted(self.cache):
                self.image[b] = self.durable[b] = self.cache[b]
            self.cache.clear()


def _is_mix(img, old, new, spb):
    """Whether ``img`` is ``old``, ``new``, or new's first k sectors over old."""
    return any(img == new[:k * SECTOR] + old[k * SECTOR:] for k in range(spb + 1))


_KINDS = ["write"] * 6 + ["fua"] + ["step"] * 4 + ["flush", "drain", "cut"]
OPS = st.lists(st.tuples(
    st.sampled_from(_KINDS),
    st.one_of(st.integers(0, 4), st.integers(0, 15)),   # block: collisions are common
    st.integers(1, 255),                                # data tag of a write
    st.integers(1, 6),                                  # events a step fires
    st.sampled_from(["drop", "tear"])), min_size=8, max_size=60)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, final=st.sampled_from(["drop", "tear"]), seed=st.integers(0, 3))
def test_power_cut_model(tmp_path_factory, ops, final, seed):
    bs, blocks, cap = 2048, 16, 3
    spb = bs // SECTOR
    m = Machine(frames=16, seed=seed)
    d = m.attach_disk(str(tmp_path_factory.mktemp("cut") / "d.img"), create=True,
                      blocks=blocks, block_size=bs, cache_blocks=cap)
    model = Model(blocks, bs, cap)
    inflight: dict[int, tuple] = {}

    def collect():
        for rid in d.take_completions():
            assert rid == next(iter(inflight))          # FIFO completion
            model.complete(*inflight.pop(rid))

    def cut(mode):
        collect()
        assert all(d.image_block(b) == model.image[b] for b in range(blocks))
        d.power_cut(mode)
        inflight.clear()
        with pytest.raises(DiskRequestError):
            d.submit_flush()
        for b in range(blocks):
            img = d.image_block(b)
            if b in model.durable:                      # (a) durable data survives
                assert img == model.durable[b]
            if mode == "tear" and b in model.cache:     # (c) old, new, or a mix
                assert _is_mix(img, model.image[b], model.cache[b], spb)
            else:                                       # (b) exactly the media state
                assert img == model.image[b]
            model.image[b] = img
        model.cache.clear()
        assert d.statistics().dirty_cached == 0
        d.power_on()

    for kind, block, tag, steps, mode in ops:
        if kind in ("write", "fua"):
            data = payload(tag, bs)
            m.memory.write(PADDR, data)
            rid = d.submit_write(block, PADDR, fua=kind == "fua")
            inflight[rid] = (kind, block, data)
        elif kind == "flush":
            inflight[d.submit_flush()] = ("flush", -1, b"")
        elif kind == "step":
            for _ in range(steps):
                if m.clock.skip_to_next():
                    m.clock.fire_due()
            collect()
        elif kind == "drain":
            drain(m, d)
            collect()
        else:
            cut(mode)
        assert d.statistics().dirty_cached == len(model.cache) or inflight
    cut(final)
    d.close()


# -- end to end with a kernel ---------------------------------------------------------

def test_tiny_kernel_thread_reads_block(tmp_path):
    path = tmp_path / "e2e.img"
    image = bytearray(32 * BS)
    image[7 * BS:8 * BS] = payload(42)
    path.write_bytes(bytes(image))
    m = Machine(frames=64, seed=3)
    m.attach_disk(str(path))
    k = TinyKernel(m)
    ppn, vpn = 5, 0x40
    shift = m.memory.page_shift
    seen = {}

    def body():
        seen["bad"] = m.cpu.trap(SYS_DISK_READ, 99, ppn << shift)
        seen["rc"] = m.cpu.trap(SYS_DISK_READ, 7, ppn << shift)
        seen["data"] = m.cpu.load_bytes(vpn << shift, BS)

    t = k.spawn(body, name="reader")
    k.map(t, vpn, ppn, writable=False)
    result = m.run()
    assert result.reason == "finished", result
    assert (seen["bad"], seen["rc"], seen["data"]) == (-1, 0, payload(42))
    cs = m.cpu.statistics()
    assert cs.interrupts == 1 and cs.idle_cycles > 0
    assert m.disks[0].statistics().reads == 1 and not k.disk_waiters
