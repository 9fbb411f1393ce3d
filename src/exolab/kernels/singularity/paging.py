"""The isolation knob's MMU side: with paging on, the kernel's and the exchange heap's
memory is reached through the TLB.

Paging off (the base), the kernel, every SIP and the exchange heap share
physical addresses and nothing here runs. Paging on, every page of the one
kernel address space is identity-mapped and the machine's TLB (64 entries,
untagged on the Athlon 64) caches the mappings; what the kernel then does on
the machine is:

- a page joining the exchange heap gets its page-table entry written
  (``sing_pte_op``); a page leaving it gets the entry cleared
  (``sing_pte_op``) and its TLB entry invalidated (``invlpg``: the
  profile's ``tlb_probe + tlb_write``);
- every read or write of a block, and every kernel record a call touches (an
  endpoint's message slot in the kernel's channel table), goes through the
  MMU page by page: a TLB hit is free (the copy or the path is charged by its
  caller), a miss is the machine's refill (``tlb_miss_entry`` and the
  kernel's ``on_tlb_miss``);
- after an address-space load (a switch to or from a SIP in its own domain)
  the TLB is empty, so those touches miss again: the refills follow as the
  accesses happen.

The touches are made in kernel mode (the kernel's own accesses on a SIP's
behalf, in ring 3 too).

Interface::

    Pager(cpu, c_pte)        c_pte: cycles of one page-table entry write
      map(frames)            unmap(frames)
      touch(frames, write)   each frame's page through the MMU
      touch_at(vaddr, write) one address's page through the MMU
      statistics() -> PagerStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exolab.machine.cpu import KERNEL

__all__ = ["Pager", "PagerStats"]


@dataclass(frozen=True, slots=True)
class PagerStats:
    """Pages mapped and unmapped, and kernel touches through the MMU."""

    mapped: int
    unmapped: int
    touches: int


class Pager:
    """The kernel's page-table and TLB work for the exchange heap and its records."""

    __slots__ = ("_cpu", "_c_pte", "_shift", "_mapped", "_unmapped", "_touches")

    def __init__(self, cpu: Any, c_pte: int) -> None:
        self._cpu = cpu
        self._c_pte = c_pte
        self._shift = cpu.memory.page_shift
        self._mapped = self._unmapped = self._touches = 0

    def map(self, frames: list[int]) -> None:
        """``frames`` join the address space: one entry written each."""
        self._cpu.charge(self._c_pte * len(frames))
        self._mapped += len(frames)

    def unmap(self, frames: list[int]) -> None:
        """``frames`` leave it: each entry cleared and its TLB entry invalidated."""
        cpu = self._cpu
        cpu.charge(self._c_pte * len(frames))
        prev, cpu.mode = cpu.mode, KERNEL
        try:
            for f in frames:
                cpu.tlb_invalidate(f, cpu.asid)     # identity map: vpn == frame
        finally:
            cpu.mode = prev
        self._unmapped += len(frames)

    def touch(self, frames: list[int], write: bool) -> None:
        """Each of ``frames``' pages through the MMU (a miss refills)."""
        cpu, shift = self._cpu, self._shift
        prev, cpu.mode = cpu.mode, KERNEL
        try:
            for f in frames:
                cpu.translate(f << shift, write)
        finally:
            cpu.mode = prev
        self._touches += len(frames)

    def touch_at(self, vaddr: int, write: bool) -> None:
        """The page of ``vaddr`` through the MMU."""
        cpu = self._cpu
        prev, cpu.mode = cpu.mode, KERNEL
        try:
            cpu.translate(vaddr, write)
        finally:
            cpu.mode = prev
        self._touches += 1

    def statistics(self) -> PagerStats:
        """A frozen snapshot of the counters."""
        return PagerStats(self._mapped, self._unmapped, self._touches)
