"""The disk: a host image file behind a seek/rotation/transfer model and a write cache.

A :class:`Disk` stores its blocks in a real file (so e2fsprogs can inspect
it) read and written with ``pread``/``pwrite``. Requests are asynchronous:
``submit_*`` queues one and returns its id; the drive serves one request at a
time in FIFO order; at completion it moves the data by DMA, appends the id to
the completion list and raises :data:`IRQ_DISK`. No CPU time is charged.

Timing (``machine.profile.disk``, 512-byte sectors, linear layout: block *b*
is sectors ``b*spb ..``, track = sector // sectors_per_track, cylinder =
track // tracks_per_cylinder; track and cylinder switches inside a transfer
are free). A media access costs controller + seek(distance from the head's
cylinder) + rotational wait (platter angle = simulated time mod one
revolution, at the end of the seek) + transfer (sectors x revolution /
sectors_per_track). A write-cache hit, or a write absorbed by the cache,
costs controller + bus transfer at ``bus_mb_s``.

Read-ahead (beyond the basic model; ``readahead_blocks=0`` turns it off):
after a media read the drive keeps reading the following blocks into a
buffer at media rate, up to ``readahead_blocks`` past the last block the host
took, until a request arrives that the buffer cannot serve. A read the
buffer holds waits for its sectors if need be, then costs a bus transfer.
Without it every synchronous sequential read would miss a revolution.

Write cache (volatile, oldest first): a non-FUA write completes once in the
cache; when the cache is full the oldest dirty block is destaged to the
image first, at media cost. A FUA write goes to the image and drops any
cached copy. A flush writes every dirty block (ascending) and costs
``flush_ms`` more. Only media writes touch the image file. A write's data is
copied from physical memory *at submit*; a read's data lands at completion
(the contents then: cached copy first, else the image).

Power cut: queued and in-flight requests vanish (never complete) and the
cache is lost -- "drop": every unflushed write is lost; "tear": each dirty
block, independently and from the seeded RNG, is lost, written, or torn
(its first k sectors written). Blocks whose latest completed write was
flushed or FUA never change. The drive stays off (submits raise) until
:meth:`Disk.power_on`. Completions taken before the cut stay available.

Interface::

    BlockDevice                          the Protocol kernels program against
    Disk(machine, path, *, index=0, block_size=4096, blocks=None, create=False,
         cache_blocks=64, readahead_blocks=None)
      index, path, block_size, blocks, sectors_per_block, cylinders, powered
      submit_read(block, paddr) -> id    submit_write(block, paddr, fua=False) -> id
      submit_flush() -> id               take_completions() -> list[int]
      busy, pending()                    power_cut(mode="drop"), power_on()
      peek(block), image_block(block)    contents now, no time charged (tools, tests)
      locate(block), seek_cycles(d)      model queries, no time charged
      close()                            statistics() -> DiskStats

This module is over the 400-line guide because the latency model, the cache
and the power-cut semantics share one request queue and must stay together.
"""
from __future__ import annotations

import math
import os
import random
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from exolab.errors import (ConfigError, DiskImageError, DiskRequestError,
                           PhysicalAddressError)
from exolab.machine.clock import Event
from exolab.machine.cpu import IRQ_DISK
from exolab.trace.events import Kind

if TYPE_CHECKING:
    from exolab.machine.machine import Machine

__all__ = ["BlockDevice", "Disk", "DiskStats", "SECTOR", "MIN_BLOCKS", "CUT_MODES"]

SECTOR = 512            # bytes per sector
MIN_BLOCKS = 16         # smallest image accepted
CUT_MODES = ("drop", "tear")
_SLACK = 64             # cycles a sector may be passed by and still be caught (rounding)


@runtime_checkable
class BlockDevice(Protocol):
    """What a kernel may assume of a block device.

    Preconditions of every ``submit_*`` (violated: the call raises, nothing is
    queued): the device is powered and open (:class:`DiskRequestError`);
    ``0 <= block < blocks`` (:class:`DiskRequestError`, fields block/blocks);
    ``[paddr, paddr + block_size)`` lies in physical memory
    (:class:`PhysicalAddressError`).

    Guarantees: requests complete one at a time, in submission order; each
    completion appends its id to :meth:`take_completions` and raises
    ``IRQ_DISK``. A write's data is taken from memory when it is submitted; a
    read's data is in memory when it completes and reflects every request
    completed before it. A completed write is durable only once a later flush
    has completed, or if it was FUA; a power cut may lose anything else.
    """

    block_size: int     # bytes per block, a multiple of 512
    blocks: int         # number of blocks

    def submit_read(self, block: int, paddr: int) -> int:
        """Queue a read of ``block`` into physical memory at ``paddr``; return its id."""
        ...

    def submit_write(self, block: int, paddr: int, fua: bool = False) -> int:
        """Queue a write of the block at ``paddr`` to ``block``; return its id."""
        ...

    def submit_flush(self) -> int:
        """Queue a flush of the volatile write cache; return its id."""
        ...

    def take_completions(self) -> list[int]:
        """Return and forget the ids completed so far, in completion order."""
        ...

    def statistics(self) -> object:
        """Return a frozen record of the device's counters."""
        ...


@dataclass(frozen=True, slots=True)
class DiskStats:
    """Counters of one disk (requests count at completion)."""

    reads: int              # completed reads
    writes: int             # completed writes, FUA included
    fua_writes: int         # completed FUA writes
    flushes: int            # completed flushes
    cache_hits: int         # reads served from the write cache
    readahead_hits: int     # reads served from the read-ahead buffer
    destages: int           # dirty blocks evicted to the image by a full cache
    bytes_read: int         # bytes DMAed into memory
    bytes_written: int      # bytes accepted from memory by completed writes
    busy_cycles: int        # cycles the drive spent serving requests
    seeks: int              # head movements of non-zero distance
    power_cuts: int
    dirty_cached: int       # dirty blocks in the write cache now
    lost_requests: int      # requests that vanished in power cuts


class _Request:
    """One queued or in-flight request; owned by its disk."""

    __slots__ = ("rid", "op", "block", "paddr", "data", "start", "done_at", "event",
                 "source")

    def __init__(self, rid: int, op: str, block: int, paddr: int, data: bytes) -> None:
        self.rid = rid                  # id returned by submit_*
        self.op = op                    # "read", "write", "fua" or "flush"
        self.block = block              # target block (-1 for a flush)
        self.paddr = paddr              # DMA target of a read (-1 otherwise)
        self.data = data                # a write's bytes, captured at submit
        self.start = 0                  # cycle the drive began serving it
        self.done_at = 0                # cycle it completes
        self.event: Event | None = None  # completion event, owned by the clock
        self.source = ""                # a read's source: media, cache or ahead


def _check_config(block_size: int, blocks: int | None, cache_blocks: int,
                  readahead_blocks: int | None) -> None:
    """Raise ConfigError for a bad disk parameter."""
    # block size: whole sectors
    if not isinstance(block_size, int) or block_size <= 0 or block_size % SECTOR:
        raise ConfigError("block size must be a positive multiple of 512",
                          field="block_size", expected="k * 512", actual=block_size)
    # block count, when given: an int (its size is checked against the image)
    if blocks is not None and not isinstance(blocks, int):
        raise ConfigError("blocks must be an int", field="blocks", expected="int",
                          actual=blocks)
    # write cache: zero means write-through
    if not isinstance(cache_blocks, int) or cache_blocks < 0:
        raise ConfigError("cache_blocks must be >= 0", field="cache_blocks",
                          expected=">= 0", actual=cache_blocks)
    # read-ahead depth: None means from the profile, zero means off
    if readahead_blocks is not None and (not isinstance(readahead_blocks, int)
                                         or readahead_blocks < 0):
        raise ConfigError("readahead_blocks must be >= 0", field="readahead_blocks",
                          expected=">= 0", actual=readahead_blocks)


def _open_image(path: str, block_size: int, blocks: int | None,
                create: bool) -> tuple[int, int]:
    """Open the image read/write (creating it sparse if asked); return (fd, blocks)."""
    if blocks is not None and blocks < MIN_BLOCKS:
        raise DiskImageError("image too small", path=path,
                             expected=f">= {MIN_BLOCKS} blocks", actual=blocks)
    exists = os.path.exists(path)
    if not exists and not create:
        raise DiskImageError("image file missing", path=path,
                             expected="an existing image file", actual="missing")
    if not exists and blocks is None:
        raise ConfigError("creating an image needs blocks", path=path, field="blocks",
                          expected=f"int >= {MIN_BLOCKS}", actual=None)
    flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
    if not exists:
        flags |= os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as ex:
        raise DiskImageError("cannot open image read/write", path=path,
                             expected="a readable, writable file",
                             actual=ex.strerror) from None
    try:
        if not exists:
            os.ftruncate(fd, blocks * block_size)  # type: ignore[operator]
        size = os.lseek(fd, 0, os.SEEK_END)
    except OSError as ex:
        os.close(fd)
        raise DiskImageError("cannot size image", path=path, expected="a sizable file",
                             actual=ex.strerror) from None
    try:
        _check_size(path, size, block_size, blocks)
    except DiskImageError:
        os.close(fd)
        raise
    return fd, size // block_size


def _check_size(path: str, size: int, block_size: int, blocks: int | None) -> None:
    """Raise DiskImageError unless ``size`` bytes make a valid image."""
    # whole blocks only
    if size % block_size:
        raise DiskImageError("image size is not a multiple of the block size",
                             path=path, expected=f"a multiple of {block_size} bytes",
                             actual=size)
    # at least MIN_BLOCKS blocks
    if size < MIN_BLOCKS * block_size:
        raise DiskImageError("image too small", path=path,
                             expected=MIN_BLOCKS * block_size, actual=size)
    # the size the caller expects, if any
    if blocks is not None and blocks * block_size != size:
        raise DiskImageError("image size does not match blocks", path=path,
                             expected=blocks * block_size, actual=size)


class Disk:
    """One drive: image file, queue, head, volatile write cache, read-ahead buffer."""

    __slots__ = ("machine", "clock", "memory", "cpu", "tracer", "index", "path",
                 "block_size", "blocks", "sectors_per_block", "cylinders",
                 "cache_blocks", "readahead_blocks", "model", "rng", "powered",
                 "_fd", "_spt", "_spc", "_c_ctrl", "_c_flush", "_c_rot", "_c_xfer",
                 "_c_bus", "_queue", "_active", "_done", "_cache", "_head", "_next_id",
                 "_ra_base", "_ra_t0", "_ra_limit", "_n")

    def __init__(self, machine: "Machine", path: str | os.PathLike[str], *,
                 index: int = 0, block_size: int = 4096, blocks: int | None = None,
                 create: bool = False, cache_blocks: int = 64,
                 readahead_blocks: int | None = None) -> None:
        _check_config(block_size, blocks, cache_blocks, readahead_blocks)
        p, m = machine.profile, machine.profile.disk
        self.machine = machine
        self.clock = machine.clock
        self.memory = machine.memory
        self.cpu = machine.cpu                  # receives IRQ_DISK
        self.tracer = machine.tracer
        self.index = index
        self.path = os.fspath(path)
        self.block_size = block_size
        self._fd, self.blocks = _open_image(self.path, block_size, blocks, create)
        self.sectors_per_block = spb = block_size // SECTOR
        self.model = m
        self._spt = m.sectors_per_track
        self._spc = m.sectors_per_track * m.tracks_per_cylinder
        self.cylinders = -(-self.blocks * spb // self._spc)
        self.cache_blocks = cache_blocks        # write-cache capacity (0: write-through)
        self.readahead_blocks = (m.readahead_kib * 1024 // block_size
                                 if readahead_blocks is None else readahead_blocks)
        self.rng = random.Random(f"{machine.seed}:disk{index}")  # power-cut tearing
        self._c_ctrl = p.us_to_cycles(m.controller_ms * 1000.0)
        self._c_flush = p.us_to_cycles(m.flush_ms * 1000.0)
        self._c_rot = round(60_000_000 * p.mhz / m.rpm)       # one revolution
        self._c_xfer = -(-spb * self._c_rot // self._spt)      # one block off the media
        self._c_bus = math.ceil(block_size * p.mhz / m.bus_mb_s)
        self.powered = True
        self._queue: deque[_Request] = deque()  # submitted, not yet started
        self._active: _Request | None = None    # in service
        self._done: list[int] = []              # completed ids not yet taken
        self._cache: dict[int, bytes] = {}      # dirty blocks, oldest first
        self._head = 0                          # cylinder under the heads
        self._next_id = 1
        self._ra_base = -1                      # read-ahead streams blocks after this
        self._ra_t0 = 0                         # cycle the stream passed _ra_base's end
        self._ra_limit = -1                     # last block the stream will read
        self._n = dict.fromkeys(("reads", "writes", "fua", "flushes", "hits", "ahead",
                                 "destages", "bread", "bwritten", "busy", "seeks",
                                 "cuts", "lost"), 0)

    # -- requests: decode, then queue ----------------------------------------------

    def _decode(self, block: int | None, paddr: int | None) -> None:
        """Raise unless the drive can accept a request for ``block`` and ``paddr``."""
        # the drive is attached and powered
        if self._fd < 0:
            raise DiskRequestError("disk is closed", disk=self.index)
        if not self.powered:
            raise DiskRequestError("disk is powered off", disk=self.index,
                                   expected="powered", actual="off")
        # the block exists
        if block is not None and (not isinstance(block, int)
                                  or not 0 <= block < self.blocks):
            raise DiskRequestError("block out of range", block=block, blocks=self.blocks)
        # the DMA range lies in physical memory
        if paddr is not None:
            size = self.memory.frames << self.memory.page_shift
            if not isinstance(paddr, int) or paddr < 0 or paddr + self.block_size > size:
                raise PhysicalAddressError("DMA range out of memory", paddr=paddr,
                                           length=self.block_size, size=size)

    def submit_read(self, block: int, paddr: int) -> int:
        """Queue a read of ``block``, DMAed to ``paddr`` at completion; return its id."""
        self._decode(block, paddr)
        return self._enqueue("read", block, paddr, b"")

    def submit_write(self, block: int, paddr: int, fua: bool = False) -> int:
        """Queue a write of the bytes at ``paddr`` *now* to ``block``; return its id."""
        self._decode(block, paddr)
        data = self.memory.read(paddr, self.block_size)
        return self._enqueue("fua" if fua else "write", block, -1, data)

    def submit_flush(self) -> int:
        """Queue a flush of every dirty cached block to the image; return its id."""
        self._decode(None, None)
        return self._enqueue("flush", -1, -1, b"")

    def _enqueue(self, op: str, block: int, paddr: int, data: bytes) -> int:
        """Append a request to the queue, starting it if the drive is idle."""
        rid = self._next_id
        self._next_id += 1
        self._queue.append(_Request(rid, op, block, paddr, data))
        self._trace(Kind.DISK_REQUEST, op, block)
        if self._active is None:
            self._start(self.clock.now)
        return rid

    def _trace(self, kind: Kind, name: str, block: int) -> None:
        """Record a disk event for the CPU's current thread, if tracing is on."""
        tr = self.tracer
        if tr is not None:
            t = self.cpu.current
            tr.emit(self.clock.now, kind, self.cpu.index, 0 if t is None else t.tid,
                    name, None if block < 0 else block)

    def take_completions(self) -> list[int]:
        """Return the ids completed since the last call, in completion order."""
        done, self._done = self._done, []
        return done

    @property
    def busy(self) -> bool:
        """Whether a request is in service."""
        return self._active is not None

    def pending(self) -> int:
        """Number of requests submitted and not yet completed."""
        return len(self._queue) + (self._active is not None)

    # -- service: plan at start, apply at completion -------------------------------

    def _start(self, at: int) -> None:
        """Begin serving the oldest queued request at cycle ``at``."""
        req = self._queue.popleft()
        req.start = at
        req.done_at = at + self._plan(req, at)
        req.event = self.clock.schedule(req.done_at, self._complete, req)
        self._active = req

    def _plan(self, req: _Request, t: int) -> int:
        """Return the service cycles of ``req`` begun at ``t`` (moves the head)."""
        op, block, ctrl = req.op, req.block, self._c_ctrl
        ahead = self._ahead(block, t) if op == "read" else None
        if ahead is None:
            self._stop_readahead(t)
        if op == "read":
            if block in self._cache:
                req.source = "cache"
                return ctrl + self._c_bus
            if ahead is not None:
                req.source = "ahead"
                return max(ctrl, ahead - t) + self._c_bus
            req.source = "media"
            cost = ctrl + self._media(block, t + ctrl)
            self._ra_base, self._ra_t0 = block, t + cost
            self._ra_limit = min(block + self.readahead_blocks, self.blocks - 1)
            return cost
        if op == "fua" or (op == "write" and not self.cache_blocks):
            return ctrl + self._media(block, t + ctrl)
        cost = ctrl
        if op == "write":
            if self._must_destage(block):
                cost += self._media(next(iter(self._cache)), t + cost)
            return cost + self._c_bus
        for b in sorted(self._cache):
            cost += self._media(b, t + cost)
        return cost + self._c_flush

    def _must_destage(self, block: int) -> bool:
        """Whether caching a write to ``block`` first evicts the oldest dirty block."""
        return block not in self._cache and len(self._cache) >= self.cache_blocks

    def _media(self, block: int, t: int) -> int:
        """Move the head to ``block`` at cycle ``t``; return seek + rotation + transfer."""
        cyl, sector = self.locate(block)
        dist = abs(cyl - self._head)
        seek = self.seek_cycles(dist)
        if dist:
            self._n["seeks"] += 1
        self._head = cyl
        rot, spt = self._c_rot, self._spt
        # wait until the platter angle (time mod rot) reaches the sector's start
        gap = (sector * rot - ((t + seek) % rot) * spt) % (rot * spt)
        if gap > (rot - _SLACK) * spt:  # a few cycles late (the transfer time's
            gap = 0                     # rounding): the sector is still under the head
        return seek + -(-gap // spt) + self._c_xfer

    def _ahead(self, block: int, t: int) -> int | None:
        """Return the cycle the read-ahead stream holds ``block``, or None if it won't."""
        base = self._ra_base
        if base < 0 or not base < block <= self._ra_limit or block in self._cache:
            return None
        xfer = self._c_xfer
        if t < self._ra_t0 + (self._ra_limit - base) * xfer:   # still streaming
            self._ra_limit = min(block + self.readahead_blocks, self.blocks - 1)
        return self._ra_t0 + (block - base) * xfer

    def _stop_readahead(self, t: int) -> None:
        """End the read-ahead stream at cycle ``t``, leaving the head where it got to."""
        base = self._ra_base
        if base >= 0:
            got = min(self._ra_limit - base, max(0, (t - self._ra_t0) // self._c_xfer))
            self._head = self.locate(base + got)[0]
            self._ra_base = -1

    def _complete(self, req: _Request) -> None:
        """Clock callback: apply ``req``, record it, start the next, raise IRQ_DISK."""
        self._active = None
        self._apply(req)
        self._n["busy"] += req.done_at - req.start
        self._done.append(req.rid)
        self._trace(Kind.DISK_COMPLETE, req.op, req.block)
        if self._queue:
            self._start(req.done_at)
        self.cpu.raise_irq(IRQ_DISK)

    def _apply(self, req: _Request) -> None:
        """Make ``req``'s effect on memory, cache and image (decided as in _plan)."""
        n, block = self._n, req.block
        if req.op == "read":
            cached = self._cache.get(block)
            data = cached if cached is not None else self._read_image(block)
            self.memory.write(req.paddr, data)
            n["reads"] += 1
            n["bread"] += len(data)
            n["hits"] += req.source == "cache"
            n["ahead"] += req.source == "ahead"
            return
        if req.op == "flush":
            for b in sorted(self._cache):
                self._write_image(b, self._cache[b])
            self._cache.clear()
            n["flushes"] += 1
            return
        if req.op == "fua" or not self.cache_blocks:
            self._write_image(block, req.data)
            self._cache.pop(block, None)
            n["fua"] += req.op == "fua"
        else:
            if self._must_destage(block):
                old = next(iter(self._cache))
                self._write_image(old, self._cache.pop(old))
                n["destages"] += 1
            self._cache[block] = req.data
        n["writes"] += 1
        n["bwritten"] += len(req.data)

    # -- power ------------------------------------------------------------------------

    def power_cut(self, mode: str = "drop") -> None:
        """Cut power: pending requests vanish and the write cache is lost per ``mode``."""
        if mode not in CUT_MODES:
            raise ConfigError("unknown power-cut mode", field="mode",
                              expected=CUT_MODES, actual=mode)
        if not self.powered:
            return
        self._n["lost"] += self._drop_requests()
        if mode == "tear":
            self._tear()
        self._cache.clear()
        self._ra_base = -1
        self.powered = False
        self._n["cuts"] += 1

    def _drop_requests(self) -> int:
        """Forget queued and in-flight requests (they never complete); return how many."""
        lost = len(self._queue)
        act = self._active
        if act is not None:
            self.clock.cancel(act.event)  # type: ignore[arg-type]
            self._n["busy"] += max(0, min(self.clock.now, act.done_at) - act.start)
            self._active = None
            lost += 1
        self._queue.clear()
        return lost

    def _tear(self) -> None:
        """Resolve each dirty cached block, ascending: lost, written, or sector-torn."""
        spb = self.sectors_per_block
        for block in sorted(self._cache):
            fate = self.rng.randrange(3 if spb > 1 else 2)
            if fate == 1:
                self._write_image(block, self._cache[block])
            elif fate == 2:
                k = self.rng.randrange(1, spb)
                self._write_image(block, self._cache[block][:k * SECTOR])

    def power_on(self) -> None:
        """Restore power: the drive accepts requests again, heads at cylinder 0."""
        self.powered = True
        self._head = 0

    # -- host-side access and model queries (no simulated time) -----------------

    def _read_image(self, block: int) -> bytes:
        """Return ``block`` as the image file holds it."""
        bs = self.block_size
        try:
            data = os.pread(self._fd, bs, block * bs)
        except OSError as ex:
            raise DiskImageError("image read failed", path=self.path, block=block,
                                 expected=bs, actual=ex.strerror) from None
        if len(data) != bs:
            raise DiskImageError("short image read", path=self.path, block=block,
                                 expected=bs, actual=len(data))
        return data

    def _write_image(self, block: int, data: bytes) -> None:
        """Write ``data`` (a block, or a prefix of one) at ``block`` in the image file."""
        try:
            done = os.pwrite(self._fd, data, block * self.block_size)
        except OSError as ex:
            raise DiskImageError("image write failed", path=self.path, block=block,
                                 expected=len(data), actual=ex.strerror) from None
        if done != len(data):
            raise DiskImageError("short image write", path=self.path, block=block,
                                 expected=len(data), actual=done)

    def _check_block(self, block: int) -> None:
        """Raise DiskRequestError unless ``block`` exists and the image is open."""
        if self._fd < 0:
            raise DiskRequestError("disk is closed", disk=self.index)
        if not isinstance(block, int) or not 0 <= block < self.blocks:
            raise DiskRequestError("block out of range", block=block, blocks=self.blocks)

    def peek(self, block: int) -> bytes:
        """Return what a read of ``block`` would return after completed requests (no time)."""
        self._check_block(block)
        cached = self._cache.get(block)
        return cached if cached is not None else self._read_image(block)

    def image_block(self, block: int) -> bytes:
        """Return ``block`` as the host image file holds it (no time charged)."""
        self._check_block(block)
        return self._read_image(block)

    def locate(self, block: int) -> tuple[int, int]:
        """Return (cylinder, sector within its track) of ``block``'s first sector."""
        lba = block * self.sectors_per_block
        return lba // self._spc, lba % self._spt

    def seek_cycles(self, distance: int) -> int:
        """Cycles to move the heads ``distance`` cylinders (0 for no movement)."""
        if distance == 0:
            return 0
        m = self.model
        if distance < m.seek_boundary:
            ms = m.short_a_ms + m.short_b_ms * math.sqrt(distance)
        else:
            ms = m.long_a_ms + m.long_b_ms * distance
        return self.machine.profile.us_to_cycles(ms * 1000.0)

    def close(self) -> None:
        """Detach: pending requests vanish, unflushed writes are lost, the file closes."""
        if self._fd < 0:
            return
        self._n["lost"] += self._drop_requests()
        self._cache.clear()
        self._ra_base = -1
        os.close(self._fd)
        self._fd = -1

    def statistics(self) -> DiskStats:
        """Return a frozen snapshot of the disk's counters."""
        n = self._n
        return DiskStats(n["reads"], n["writes"], n["fua"], n["flushes"], n["hits"],
                         n["ahead"], n["destages"], n["bread"], n["bwritten"], n["busy"],
                         n["seeks"], n["cuts"], len(self._cache), n["lost"])
