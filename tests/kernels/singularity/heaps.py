"""A small exchange heap on its own physical memory, for the unit tests."""
from __future__ import annotations

from exolab.kernels.singularity.exheap import ExchangeHeap
from exolab.kernels.singularity.frames import FramePool
from exolab.machine.costs import get_profile
from exolab.machine.memory import PhysicalMemory

FIRST = 4               # frames below: "the kernel's"


def make_heap(frames: int = 64, max_pages: int = 32, quota: int = 16,
              pager: object = None) -> tuple[ExchangeHeap, FramePool, PhysicalMemory]:
    """(heap, its frame pool, its memory): 4 KiB pages, frames [FIRST, frames)."""
    mem = PhysicalMemory(frames, 4096, get_profile("athlon64"))
    pool = FramePool(FIRST, frames)
    return ExchangeHeap(mem, pool, max_pages, quota, pager), pool, mem
