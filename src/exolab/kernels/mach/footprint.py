"""The footprint of the kernel's paths: the pages and cache lines a path touches.

Liedtke's diagnosis of first-generation IPC is as much *where* the path runs
as what it computes: Mach's message path spans many kernel modules and data
structures, so after an address-space switch (which flushes an untagged TLB)
every page it touches again misses. Here each stage of a path names the pages
it touches — kernel text pages of the modules involved, the task's name-space
table, the thread and port structures, the pages of the kernel buffer, the
user buffer — and :meth:`Footprint.touch` looks each one up in the machine's
real TLB, refilling (and charging) a miss, so the cost depends on the TLB's
size, its tagging, what ran before and the message size, never a constant.

Where the profile has a data cache (machine/cache.py: the i486's), each stage
also reads its code and data *lines* through it: the code of the stage (its
path rows' instructions at ~3 bytes each, laid out one after another in the
kernel's text), the lines of the structures it uses (the task's name space,
the port, the thread and its kernel stack), and the two copies run line by
line through it (:meth:`Footprint.copy`): the sender's buffer into the kmsg,
the kmsg into the receiver's buffer. The cache is write-through and does not
allocate on a write, so the kmsg the first copy writes is read back by the
second from outside the chip unless an earlier read left it there; whether a
line is still cached depends on everything the round trip touched — the
message, the code, the data — and each fill costs the profile's
``line_fill``. Without a cache nothing of this is charged.

Where the profile keeps the kernel in unmapped memory (MIPS kseg0, Alpha
KSEG) kernel pages take no TLB entry; user-level pages (the UX server's)
always do. On a hardware-walked TLB a miss costs ``tlb_miss_entry`` (the
walk); on a software-refilled one also the refill handler and its return.

Interface::

    KERNEL_MAPPED               profiles whose kernel runs through the TLB (x86)
    TEXT                        stage -> kernel text pages of that stage's code
    KTEXT_VPN, KDATA_VPN, SERVER_VPN, UBUF_VPN   reserved page ranges (above user space)
    TEXT_BYTES                  stage -> (offset, bytes) of its code in the kernel text
    KTEXT_PHYS, KDATA_PHYS, UBUF_PHYS   physical bases of text, structures, user buffers
    Footprint(cpu, paths)
      text(stage, asid)         touch a stage's code pages (and its code lines)
      data(vpn, asid)           touch one kernel data page
      user(vpn, asid)           touch one user-level page (always mapped)
      lines(paddr, n)           read n bytes of kernel data through the cache
      copy(dst, src, n)         a copy's lines through the cache (source read, dest written)
      ubuf(task) -> paddr       the physical base of a task's message buffer
      statistics() -> FootprintStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exolab.machine.tlb import TLBEntry

__all__ = ["KERNEL_MAPPED", "TEXT", "TEXT_BYTES", "KTEXT_VPN", "KDATA_VPN", "SERVER_VPN",
           "UBUF_VPN", "KTEXT_PHYS", "KDATA_PHYS", "UBUF_PHYS", "Footprint",
           "FootprintStats"]

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

#: bytes of code per instruction of the i386 kernel's paths (estimate: the i386's
#: variable-length instructions average about three bytes in compiled C)
CODE_BYTES = 3

#: stage -> (offset in the path's text, bytes): the code a stage runs, straight-line,
#: sized from its path rows (paths.py): trap = the Mach system-call path (800);
#: copyin = header parse 60 + item parse 35 + kmsg alloc 90; rights = name lookup
#: 45 + right check 25; queue = enqueue 70 + dequeue 90; switch = mach_switch 250;
#: copyout = copyout header 60 + name insert 70 + kmsg free 60; vm = fault 300 +
#: supply 150. (mach_msg_path, the pinned row, stands for code not itemized: no lines.)
TEXT_BYTES: dict[str, tuple[int, int]] = {}
_at = 0
for _stage, _instrs in (("trap", 800), ("copyin", 185), ("rights", 70), ("queue", 160),
                        ("switch", 250), ("copyout", 190), ("vm", 450)):
    TEXT_BYTES[_stage] = (_at, _instrs * CODE_BYTES)
    _at += _instrs * CODE_BYTES

KTEXT_PHYS = 0x1000         # the kernel's text: frames 1-7 of its reserved 64
KDATA_PHYS = 0x8000         # its structures: frames 8-15 (the kmsg zone is 16-63)
UBUF_PHYS = 0x4000_0000     # tasks' message buffers: a page-aligned 16 KB per task (the
#                             frames behind a program's buffer are not simulated; a 2 KB
#                             cache way indexes within a page, so which frame is moot)


@dataclass(frozen=True, slots=True)
class FootprintStats:
    """Pages touched and TLB misses they took; cache lines read and the fills."""

    touches: int
    misses: int
    line_reads: int = 0
    line_fills: int = 0         # all fills: code + data + copies
    text_fills: int = 0         # of which the stages' code
    copy_fills: int = 0         # of which the two copies' source lines


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
        self.cache = cpu.machine.cache                  # None: no cache modelled
        self.c_fill = p.cache.line_fill if self.cache is not None else 0
        self.line_reads = self.line_fills = self.text_fills = self.copy_fills = 0

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
        """Touch the kernel code pages of ``stage`` (nothing if the kernel is unmapped),
        and fetch its code lines through the cache (if the machine has one)."""
        if self.kernel_mapped:
            first, n = TEXT[stage]
            for i in range(n):
                self._touch(KTEXT_VPN + first + i, asid)
        if self.cache is not None:
            off, nbytes = TEXT_BYTES[stage]
            before = self.line_fills
            self.lines(KTEXT_PHYS + off, nbytes)
            self.text_fills += self.line_fills - before

    def lines(self, paddr: int, n: int) -> None:
        """Read ``n`` bytes at ``paddr`` through the cache, charging the fills."""
        if self.cache is not None:
            fills = self.cache.read(paddr, n)
            self.line_reads += (n + 15) >> 4
            self.line_fills += fills
            self.cpu.charge(fills * self.c_fill)

    def copy(self, dst: int, src: int, n: int) -> None:
        """A copy of ``n`` bytes through the cache (its cost beside the copy rate)."""
        if self.cache is not None:
            fills = self.cache.copy(dst, src, n)
            self.line_reads += (n + 15) >> 4
            self.line_fills += fills
            self.copy_fills += fills
            self.cpu.charge(fills * self.c_fill)

    @staticmethod
    def ubuf(task: Any) -> int:
        """The physical base of ``task``'s message buffer (16 KB a task)."""
        return UBUF_PHYS + ((getattr(task, "pid", 0) & 0xFFF) << 14)

    def data(self, vpn: int, asid: int) -> None:
        """Touch one kernel data page (nothing if the kernel is unmapped)."""
        if self.kernel_mapped:
            self._touch(vpn, asid)

    def user(self, vpn: int, asid: int) -> None:
        """Touch one user-level page (always through the TLB)."""
        self._touch(vpn, asid)

    def statistics(self) -> FootprintStats:
        """Return a frozen snapshot of the counters."""
        return FootprintStats(self.touches, self.misses, self.line_reads, self.line_fills,
                              self.text_fills, self.copy_fills)
