"""Doing and undoing for ever never runs out, on every kernel.

A program that maps and unmaps, or makes and closes pipes, many more times
than the machine has address space or frames goes on for as long as it likes:
what it undoes is reused. Two defects this pins: ExOS kept each pipe's ring
page until the process exited (the 4,000th pipe of a 4,096-frame machine got
ENOMEM), and ExOS and L4's UNIX server placed every mmap at a bump pointer that
never came back (the 224th 8 MB map-and-unmap got ENOMEM).
"""
from __future__ import annotations

from typing import Any

from exolab.kernels import make_kernel
from exolab.machine.machine import Machine

from .kit import leftovers, needs

MB = 1 << 20


def _run(kernel: str, main: Any, frames: int) -> Any:
    """Boot ``main`` (host code) on ``kernel``; it must finish without a fault."""
    k = make_kernel(kernel, Machine("dec5000", frames=frames))
    k.boot(main)
    assert k.run().reason == "finished", (k.console, k.faults)
    assert k.faults == []
    return k


def test_mapping_and_unmapping_past_the_address_space_never_runs_out(kernel: str) -> None:
    needs(kernel, "mmap", "munmap", "store", "load")
    size, rounds = 8 * MB, 520              # 4.3 GB in all: more than any 32-bit space
    seen: list[int] = []

    def main(os: Any) -> None:
        for i in range(rounds):
            a = os.mmap(size)
            os.store(a + size - 4, i)       # a real mapping, its last page touched
            seen.append(os.load(a + size - 4))
            os.munmap(a, size)

    k = _run(kernel, main, frames=4096)     # (L4 keeps a space's emptied page tables:
    assert seen == list(range(rounds))      # at most one per 4 MB of the mmap area)
    assert leftovers(k) == {"processes": 0, "live": 0, "frames": 0}


def test_pipes_made_and_closed_past_the_frame_count_never_run_out(kernel: str) -> None:
    needs(kernel, "pipe", "close")
    frames, rounds = 1024, 1500             # more pipes than the machine has frames
    got: list[bytes] = []

    def main(os: Any) -> None:
        for i in range(rounds):
            r, w = os.pipe()
            os.write(w, bytes([i & 0xFF]))
            got.append(os.read(r, 1))
            os.close(w)
            got.append(os.read(r, 1))       # end of file once the writer is gone
            os.close(r)

    k = _run(kernel, main, frames=frames)
    assert got == [x for i in range(rounds) for x in (bytes([i & 0xFF]), b"")]
    assert leftovers(k) == {"processes": 0, "live": 0, "frames": 0}
