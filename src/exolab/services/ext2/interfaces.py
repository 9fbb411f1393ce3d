"""The small interfaces ext2 is written against, and adapters that provide them.

The file system never sees a kernel: it reads and writes whole file-system
blocks through a :class:`BlockIO`, reads the time through a :class:`Clock`
(Unix seconds, simulated), and reports everything it does through a
``charge(kind, count)`` callable that the placement turns into cycles.

Charge kinds (count in parentheses): ``ext2.op`` (1 per file-system
operation), ``ext2.block_read`` / ``ext2.block_write`` (blocks moved through
the device), ``ext2.flush`` (1), ``ext2.copy`` (bytes copied between a caller's
buffer and a block), ``ext2.dirent`` (directory entries examined),
``ext2.bitmap`` (bitmap bytes scanned).

Interface::

    BlockIO              Protocol: block_size, blocks, read_block(n), write_block(n, b), flush()
    Clock                Protocol: now() -> int (Unix seconds)
    Charge               Callable[[str, int], None];  no_charge
    MemoryDevice(block_size, blocks, data=None)   a bytearray disk (tests, tools)
    FileDevice(path, block_size)                  a host image file (tools, interop tests)
    Reblocked(dev, block_size)                    re-block a device to the fs block size
    MachineDiskAdapter(disk, memory, paddr, wait) the machine's asynchronous BlockDevice
    ManualClock(t=...)   a clock tests advance;  SimClock(clock, hz, epoch)  cycles -> seconds
"""
from __future__ import annotations

import os
from typing import Any, Callable, Protocol

from exolab.errors import DiskImageError, DiskRequestError

__all__ = ["BlockIO", "Clock", "Charge", "no_charge", "MemoryDevice", "FileDevice",
           "Reblocked", "MachineDiskAdapter", "ManualClock", "SimClock", "EPOCH"]

EPOCH = 1_700_000_000   # simulated time 0, in Unix seconds (a fixed, past date)

Charge = Callable[[str, int], None]


def no_charge(kind: str, count: int) -> None:
    """The cost hook of an unplaced file system: charges nothing."""


class BlockIO(Protocol):
    """Synchronous whole-block access; ``0 <= n < blocks`` or DiskRequestError."""

    block_size: int
    blocks: int

    def read_block(self, n: int) -> bytes:
        """Return block ``n``'s bytes (``block_size`` of them)."""
        ...

    def write_block(self, n: int, data: bytes) -> None:
        """Write ``block_size`` bytes to block ``n`` (durable after ``flush``)."""
        ...

    def flush(self) -> None:
        """Make every completed write durable."""
        ...


class Clock(Protocol):
    """Simulated wall time."""

    def now(self) -> int:
        """Return the time in whole Unix seconds."""
        ...


def _check(n: int, blocks: int) -> None:
    """Raise DiskRequestError unless ``n`` names a block of the device."""
    if type(n) is not int or not 0 <= n < blocks:
        raise DiskRequestError("block out of range", block=n, blocks=blocks)


class MemoryDevice:
    """A disk held in a bytearray; ``data`` is the image (copied in)."""

    __slots__ = ("block_size", "blocks", "data", "flushes")

    def __init__(self, block_size: int, blocks: int, data: bytes | None = None) -> None:
        self.block_size = block_size
        self.blocks = blocks
        self.data = bytearray(data) if data is not None else bytearray(block_size * blocks)
        if len(self.data) != block_size * blocks:
            raise DiskImageError("image size does not match blocks",
                                 expected=block_size * blocks, actual=len(self.data))
        self.flushes = 0

    def read_block(self, n: int) -> bytes:
        """Return block ``n``."""
        _check(n, self.blocks)
        bs = self.block_size
        return bytes(self.data[n * bs:(n + 1) * bs])

    def write_block(self, n: int, data: bytes) -> None:
        """Store block ``n``."""
        _check(n, self.blocks)
        bs = self.block_size
        self.data[n * bs:(n + 1) * bs] = data

    def flush(self) -> None:
        """Nothing is volatile; count the call."""
        self.flushes += 1


class FileDevice:
    """A host image file read and written with pread/pwrite (no simulated time)."""

    __slots__ = ("block_size", "blocks", "path", "_fd")

    def __init__(self, path: str | os.PathLike[str], block_size: int = 1024) -> None:
        self.path = os.fspath(path)
        try:
            self._fd = os.open(self.path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except OSError as ex:
            raise DiskImageError("cannot open image read/write", path=self.path,
                                 expected="a readable, writable file",
                                 actual=ex.strerror) from None
        size = os.fstat(self._fd).st_size
        self.block_size = block_size
        self.blocks = size // block_size

    def read_block(self, n: int) -> bytes:
        """Return block ``n`` of the file."""
        _check(n, self.blocks)
        data = os.pread(self._fd, self.block_size, n * self.block_size)
        if len(data) != self.block_size:
            raise DiskImageError("short image read", path=self.path, block=n)
        return data

    def write_block(self, n: int, data: bytes) -> None:
        """Write block ``n`` of the file."""
        _check(n, self.blocks)
        os.pwrite(self._fd, data, n * self.block_size)

    def flush(self) -> None:
        """fsync the host file."""
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the host file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class Reblocked:
    """``dev`` seen with ``block_size``-byte blocks (a multiple or a divisor of its own)."""

    __slots__ = ("dev", "block_size", "blocks", "_k", "_split")

    def __init__(self, dev: BlockIO, block_size: int) -> None:
        self.dev = dev
        self.block_size = block_size
        big, small = max(block_size, dev.block_size), min(block_size, dev.block_size)
        if big % small:
            raise DiskImageError("block sizes do not divide", expected=dev.block_size,
                                 actual=block_size)
        self._k = big // small                  # device blocks per fs block, or inverse
        self._split = block_size < dev.block_size
        self.blocks = (dev.blocks * self._k if self._split
                       else dev.blocks // self._k)

    def read_block(self, n: int) -> bytes:
        """Return fs block ``n``."""
        _check(n, self.blocks)
        k = self._k
        if self._split:
            whole = self.dev.read_block(n // k)
            off = (n % k) * self.block_size
            return whole[off:off + self.block_size]
        return b"".join(self.dev.read_block(n * k + i) for i in range(k))

    def write_block(self, n: int, data: bytes) -> None:
        """Write fs block ``n`` (read-modify-write when it is part of a device block)."""
        _check(n, self.blocks)
        k, dbs = self._k, self.dev.block_size
        if self._split:
            whole = bytearray(self.dev.read_block(n // k))
            off = (n % k) * self.block_size
            whole[off:off + self.block_size] = data
            self.dev.write_block(n // k, bytes(whole))
            return
        for i in range(k):
            self.dev.write_block(n * k + i, data[i * dbs:(i + 1) * dbs])

    def flush(self) -> None:
        """Flush the device."""
        self.dev.flush()


class MachineDiskAdapter:
    """The machine's asynchronous BlockDevice as a BlockIO.

    Each request DMAs through the physical page at ``paddr`` (owned by the
    placement); ``wait(request_id)`` must return once that request completed
    (a kernel sleeps the caller; tools use :meth:`poll_wait`).
    """

    __slots__ = ("disk", "memory", "paddr", "wait", "block_size", "blocks")

    def __init__(self, disk: Any, memory: Any, paddr: int,
                 wait: Callable[[int], None]) -> None:
        self.disk = disk
        self.memory = memory
        self.paddr = paddr
        self.wait = wait
        self.block_size = disk.block_size
        self.blocks = disk.blocks

    def read_block(self, n: int) -> bytes:
        """Read block ``n`` through the page and return its bytes."""
        self.wait(self.disk.submit_read(n, self.paddr))
        return bytes(self.memory.read(self.paddr, self.block_size))

    def write_block(self, n: int, data: bytes) -> None:
        """Write block ``n`` from the page."""
        self.memory.write(self.paddr, data)
        self.wait(self.disk.submit_write(n, self.paddr))

    def flush(self) -> None:
        """Flush the drive's write cache."""
        self.wait(self.disk.submit_flush())

    @staticmethod
    def poll_wait(disk: Any, clock: Any) -> Callable[[int], None]:
        """A ``wait`` that idles ``clock`` until the request completes (no kernel)."""
        done: set[int] = set()

        def wait(rid: int) -> None:
            while rid not in done:
                done.update(disk.take_completions())
                if rid in done:
                    break
                if not clock.skip_to_next():
                    raise DiskRequestError("request never completed", request=rid)
                clock.fire_due()
            done.discard(rid)
        return wait


class ManualClock:
    """A clock tests set and advance by hand."""

    __slots__ = ("t",)

    def __init__(self, t: int = EPOCH) -> None:
        self.t = t

    def now(self) -> int:
        """Return the current time."""
        return self.t


class SimClock:
    """Simulated seconds from a cycle clock: ``epoch + clock.now // hz``."""

    __slots__ = ("clock", "hz", "epoch")

    def __init__(self, clock: Any, hz: int, epoch: int = EPOCH) -> None:
        self.clock = clock
        self.hz = hz
        self.epoch = epoch

    def now(self) -> int:
        """Return the simulated time in Unix seconds."""
        return self.epoch + self.clock.now // self.hz
