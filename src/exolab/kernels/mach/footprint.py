"""The TLB footprint of the kernel's paths: the pages a path touches, through the TLB.

Liedtke's diagnosis of first-generation IPC is as much *where* the path runs
as what it computes: Mach's message path spans many kernel modules and data
structures, so after an address-space switch (which flushes an untagged TLB)
every page it touches again misses. Here each stage of a path names the pages
it touches — kernel text pages of the modules involved, the task's name-space
table, the thread and port structures, the pages of the kernel buffer, the
user buffer — and :meth:`Footprint.touch` looks each one up in the machine's
real TLB, refilling (and charging) a miss, so the cost depends on the TLB's
size, its tagging, what ran before and the message size, never a constant.

Where the profile keeps the kernel in unmapped memory (MIPS kseg0, Alpha
KSEG) kernel pages take no TLB entry; user-level pages (the UX server's)
always do. On a hardware-walked TLB a miss costs ``tlb_miss_entry`` (the
walk); on a software-refilled one also the refill handler and its return.

Interface::

    KERNEL_MAPPED               profiles whose kernel runs through the TLB (x86)
    TEXT                        stage -> kernel text pages of that stage's code
    KTEXT_VPN, KDATA_VPN, SERVER_VPN, UBUF_VPN   reserved page ranges (above user space)
    Footprint(cpu, paths)
      text(stage, asid)         touch a stage's code pages
      data(vpn, asid)           touch one kernel data page
      user(vpn, asid)           touch one user-level page (always mapped)
      statistics() -> FootprintStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exolab.machine.tlb import TLBEntry

__all__ = ["KERNEL_MAPPED", "TEXT", "KTEXT_VPN", "KDATA_VPN", "SERVER_VPN", "UBUF_VPN",
           "Footprint", "FootprintStats"]

#: profiles whose kernel address space is mapped through the (untagged) TLB (and any
#: profile whose ``mmu`` is the x86 walker)
KERNEL_MAPPED = frozenset({"i486", "athlon64", "modern"})

KTEXT_VPN = 0xC0000         # kernel text (3 GB up, as i386 Mach and Linux)
KDATA_VPN = 0xC1000         # kernel data: per-task, per-thread, per-port pages
SERVER_VPN = 0xB0000        # the UX server's text and data (its own space)
UBUF_VPN = 0xBF000          # a task's message buffer pages (its emulator's region)

#: stage -> number of kernel text pages its code spans (Mach 3.0 source modules:
#: mach_msg.c + ipc_kmsg.c copyin; ipc_entry.c + ipc_right.c; ipc_mqueue.c;
#: sched_prim.c + pmap; ipc_kmsg.c copyout + ipc_object.c) — estimates by module
TEXT: dict[str, tuple[int, int]] = {     # stage -> (first page, pages)
    "trap": (0, 1),
    "copyin": (1, 2),
    "rights": (3, 2),
    "queue": (5, 1),
    "switch": (6, 2),
    "copyout": (8, 2),
    "vm": (10, 3),
}


@dataclass(frozen=True, slots=True)
class FootprintStats:
    """Pages touched and TLB misses they took."""

    touches: int
    misses: int


class Footprint:
    """Touches pages through the CPU's TLB, charging the misses."""

    def __init__(self, cpu: Any, paths: dict[str, int]) -> None:
        p = cpu.profile
        self.cpu = cpu
        self.tlb = cpu.tlb
        self.kernel_mapped = p.name in KERNEL_MAPPED or getattr(p, "mmu", "") == "x86"
        refill = paths["mach_refill"]
        self.c_miss = p.tlb_miss_entry + (refill + p.exception_exit + p.tlb_write
                                          if refill else 0)
        self.touches = self.misses = 0

    def _touch(self, vpn: int, asid: int) -> None:
        """Look (vpn, asid) up; on a miss charge the refill and install it."""
        self.touches += 1
        if self.tlb.lookup(vpn, asid) is not None:     # (held: valid or not)
            return
        self.misses += 1
        self.cpu.charge(self.c_miss)
        # The entry takes a real slot (evicting a user translation, which is the
        # footprint's effect) but is never valid: a program's access to these
        # addresses misses and faults as any unmapped address does.
        self.tlb.write_random(TLBEntry(vpn, asid, 0, valid=False, writable=False))

    def text(self, stage: str, asid: int) -> None:
        """Touch the kernel code pages of ``stage`` (nothing if the kernel is unmapped)."""
        if self.kernel_mapped:
            first, n = TEXT[stage]
            for i in range(n):
                self._touch(KTEXT_VPN + first + i, asid)

    def data(self, vpn: int, asid: int) -> None:
        """Touch one kernel data page (nothing if the kernel is unmapped)."""
        if self.kernel_mapped:
            self._touch(vpn, asid)

    def user(self, vpn: int, asid: int) -> None:
        """Touch one user-level page (always through the TLB)."""
        self._touch(vpn, asid)

    def statistics(self) -> FootprintStats:
        """Return a frozen snapshot of the counters."""
        return FootprintStats(self.touches, self.misses)
