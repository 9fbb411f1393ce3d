"""Helpers for the XN tests: a device with a volatile write cache, a flat tree."""
from __future__ import annotations

import random
import struct

from exolab.kernels.exokernel.xn import XN, HostPages
from exolab.libos.flatfs.templates import ENTRY, MAGIC, NAME_MAX, templates
from exolab.services.ext2 import MemoryDevice

BS = 1024
OWNER = 5


class VolatileDevice(MemoryDevice):
    """A memory disk whose writes sit in a cache until flush; crash loses some."""

    __slots__ = ("cache",)

    def __init__(self, block_size: int, blocks: int) -> None:
        super().__init__(block_size, blocks)
        self.cache: dict[int, bytes] = {}

    def read_block(self, n: int) -> bytes:
        return self.cache[n] if n in self.cache else super().read_block(n)

    def write_block(self, n: int, data: bytes) -> None:
        self.cache[n] = bytes(data)

    def flush(self) -> None:
        for n, d in sorted(self.cache.items()):
            super().write_block(n, d)
        self.cache.clear()
        self.flushes += 1

    def power_cut(self, rng: random.Random) -> None:
        """Each unflushed write independently survives or is lost."""
        for n, d in sorted(self.cache.items()):
            if rng.random() < 0.5:
                super().write_block(n, d)
        self.cache.clear()


def flat_xn(blocks: int = 64, dev: MemoryDevice | None = None, persist: bool = False) -> XN:
    """An XN with the flat templates installed and a root 'flat' at block 1."""
    xn = XN(dev or VolatileDevice(BS, blocks), HostPages(), persist=persist)
    for name, src in templates(BS, OWNER).items():
        xn.install_type(name, src)
    xn.register_root(OWNER, "flat", 1, "flat dir")
    xn.write(OWNER, 1, [(0, MAGIC)])
    return xn


def dir_entry(slot: int, name: bytes, block: int) -> tuple[int, bytes]:
    """The modification that sets directory entry ``slot``."""
    return (ENTRY + slot * ENTRY, name.ljust(NAME_MAX, b"\0") + struct.pack("<I", block))


def ptr(slot: int, block: int) -> tuple[int, bytes]:
    """The modification that sets a file block's pointer ``slot``."""
    return (4 + slot * 4, struct.pack("<I", block))
