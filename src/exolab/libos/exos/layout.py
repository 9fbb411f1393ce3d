"""ExOS's address-space layout, page-table format and software path lengths.

ExOS keeps everything that matters in its own simulated memory, in a region
Aegis maps for it with *guaranteed mappings* (so its handlers never take a
TLB miss they would have to handle themselves):

    EXOS_VPN + 0        save area: the 3 scratch registers Aegis saves on an
                        exception, then ExOS's fault frame (vaddr, write, cause)
    EXOS_VPN + 1        misc: pid, page-table entry count, fault depth,
                        handler slots, and the descriptor table (at FD_OFF)
    EXOS_VPN + 2 ...    the page table: a linear vector of PTEs sorted by vpn
    CAPV_VPN ...        the capability handle of each PTE (same index)
    SCRATCH_VPN         two pages for copying a frame (copy-on-write)

A PTE is 16 bytes: vpn (4), ppn (4), flags (4), reserved (4); its 64-bit
capability handle is 8 bytes in the parallel vector.

Costs: everything ExOS does is charged by the machine as it happens (each
probe of the page-table search is a real load, each crossing a real trap);
the few pure-computation stretches are the instruction counts in
:data:`PATHS`, each with its source.

Interface::

    PAGE, SHIFT                     the page size and log2 of it
    EXOS_VPN, MISC_VPN, PT_VPN, PT_PAGES, CAPV_VPN, CAPV_PAGES, SCRATCH_VPN,
    GUARANTEED_PAGES, PT_MAX_PAGES, CAPV_MAX_PAGES, PTES_PER_PAGE, boot_vpns()
    SAVE_VA, MISC_VA                addresses of the save area and the misc page
    SAVE_FAULT, SAVE_FRAME, SAVE_CALLEE   offsets in the save area
    PTE_SIZE, MAX_PTES, P_* flag bits, MISC_* offsets, FD_OFF, FD_SIZE, MAX_FDS,
    MAX_SHM, DESC_PAGES, MAX_FAULT_DEPTH    ExOS's limits
    fd_addr(fd) -> int              a descriptor's entry
    USER_BASE, USER_TOP, IMAGE_VPN, IMAGE_PAGES, EXOS_TEXT_PAGES, STACK_VPN,
    STACK_PAGES
    PATHS, cost(profile, name), CALLEE_SAVED

(A short module: constants and a table.)
"""
from __future__ import annotations

from typing import Any

from exolab.abi import IMAGE_PAGES  # a program's text+data unless it says otherwise
from exolab.kernels.common.image import IMAGE_VPN  # program image at 0x0040_0000

__all__ = ["EXOS_VPN", "MISC_VPN", "PT_VPN", "PT_PAGES", "CAPV_VPN", "CAPV_PAGES",
           "PT_MAX_PAGES", "CAPV_MAX_PAGES", "PTES_PER_PAGE", "boot_vpns",
           "MAX_SHM", "DESC_PAGES", "MAX_FAULT_DEPTH",
           "SCRATCH_VPN", "PTE_SIZE", "MAX_PTES", "P_PRESENT", "P_READ", "P_WRITE",
           "P_DIRTY", "P_COW", "P_SHARED", "P_LOST", "USER_BASE", "USER_TOP",
           "IMAGE_VPN", "IMAGE_PAGES", "EXOS_TEXT_PAGES", "STACK_VPN", "STACK_PAGES",
           "FD_OFF", "FD_SIZE", "MAX_FDS", "PATHS", "cost", "GUARANTEED_PAGES",
           "MISC_PID", "MISC_COUNT", "MISC_DEPTH", "MISC_HANDLER", "MISC_EXC",
           "MISC_PCT_COUNT", "PAGE", "SHIFT", "SAVE_VA", "MISC_VA", "SAVE_FAULT",
           "SAVE_FRAME", "SAVE_CALLEE", "CALLEE_SAVED", "fd_addr"]

PAGE, SHIFT = 4096, 12
EXOS_VPN = 0x70000              # 0x7000_0000: ExOS's private, guaranteed region
MISC_VPN = EXOS_VPN + 1
PT_VPN = EXOS_VPN + 2
PT_PAGES = 8                    # 2048 PTEs at boot; the table grows on demand to
PT_MAX_PAGES = 64               # 16384 PTEs (64 MiB mapped)
CAPV_VPN = PT_VPN + PT_MAX_PAGES
CAPV_PAGES = 4                  # 2048 handles at boot (one page per 512 PTEs)
CAPV_MAX_PAGES = PT_MAX_PAGES // 2
GUARANTEED_PAGES = 2 + PT_PAGES + CAPV_PAGES      # what a process is built with
SCRATCH_VPN = EXOS_VPN + 0x100  # two pages, bound only while copying
PTE_SIZE = 16
PTES_PER_PAGE = PAGE // PTE_SIZE
MAX_PTES = PT_MAX_PAGES * PTES_PER_PAGE
SAVE_VA = EXOS_VPN << SHIFT     # the save area (Aegis's 3 scratch registers at 0, 4, 8)
MISC_VA = MISC_VPN << SHIFT     # the misc page

# offsets in the save area, after Aegis's 3 scratch registers
SAVE_FAULT = 16                 # fault frame: vaddr (4), write (4)
SAVE_FRAME = 32                 # the 3 scratch registers, moved here for a user handler
SAVE_CALLEE = 64                # lrpc's spill of the CALLEE_SAVED registers

# PTE flag bits
P_PRESENT = 1                   # has a physical page (else demand-zero on first touch)
P_READ = 2                      # PROT_READ as the program set it
P_WRITE = 4                     # PROT_WRITE
P_DIRTY = 8                     # written since mapped (tracked by write faults)
P_COW = 16                      # shared with a fork relative until written
P_SHARED = 32                   # shared memory: a fork shares it, never copies
P_LOST = 64                     # repossessed by the abort protocol

# offsets in the misc page
MISC_PID = 0
MISC_COUNT = 4                  # number of PTEs in the vector
MISC_DEPTH = 8                  # nested user fault handlers running
MISC_HANDLER = 12               # nonzero when a user fault handler is installed
MISC_EXC = 16                   # 4 words: nonzero when an exception handler is set
MISC_PCT_COUNT = 32             # calls served by a bare (handler None) rpc service
FD_OFF = 1024                   # descriptor table: MAX_FDS entries of FD_SIZE bytes
FD_SIZE = 16                    # kind (4), pipe vaddr (4), flags (4), reserved (4)
MAX_FDS = 64

# ExOS's limits (with Aegis's in kernels/exokernel/limits.py; docs/exokernel.md)
MAX_SHM = 4096                  # pages per shm segment (16 MiB, docs/abi.md)
DESC_PAGES = 255                # pages one shm descriptor page lists (then a link)
MAX_FAULT_DEPTH = 4             # nested user fault handlers before the process dies

USER_BASE = 0x0010_0000         # lowest address mmap hands out
USER_TOP = 0x6FFF_0000          # user mappings stay below ExOS's region
EXOS_TEXT_PAGES = 32            # ExOS itself, linked into every application
STACK_VPN = 0x6FFE0             # user stack pages (demand-zero)
STACK_PAGES = 2

#: name -> (instructions, source): the pure-computation stretches of ExOS
PATHS: dict[str, tuple[int, str]] = {
    "proc_call": (7, "SOSP'95 Table 4: a null procedure call is 0.28 us = 7 cycles "
                     "on the DEC5000 (call, return, frame)"),
    "bsearch_probe": (37, "one probe of bsearch(3) with a comparator, besides the "
                          "load of the entry's vpn: the R3000's integer MULT for "
                          "base + mid*size (12 cycles, Kane 1988), the comparator call "
                          "and return (7, Table 4), its load of the key through the "
                          "pointer (2), compare and sign test (4), loop control (7), "
                          "unfilled load/branch delay slots (5)"),
    "ring_mod": (35, "ring index modulo the ring size (4032 bytes, not a power of "
                     "two): one R3000 DIVU, 35 cycles (Kane 1988)"),
    "handler_return": (2, "return from an exception to the application without the "
                          "kernel: jr to the EPC with rfe-free restore (R3000)"),
    "pte_update": (4, "mask and merge protection bits, test COW/present (estimate)"),
    "pipe_check": (6, "ring arithmetic: count = tail - head, compare with size, "
                      "wrap (estimate)"),
    "fd_check": (4, "descriptor bounds check and kind test (estimate)"),
    "rpc_dispatch": (6, "lrpc single entry: bounds-check the service number, "
                        "jump (estimate)"),
}

#: callee-saved registers the lrpc stubs save and restore (MIPS o32: s0-s8, gp, sp, ra)
CALLEE_SAVED = 12


def boot_vpns() -> list[int]:
    """The guaranteed pages a process is built with: save area, misc, the first
    PT_PAGES of the page table and CAPV_PAGES of its handle vector."""
    return [EXOS_VPN + i for i in range(2 + PT_PAGES)] + \
        [CAPV_VPN + i for i in range(CAPV_PAGES)]


def fd_addr(fd: int) -> int:
    """Address of descriptor ``fd``'s entry in the misc page's descriptor table."""
    return MISC_VA + FD_OFF + fd * FD_SIZE


def cost(profile: Any, name: str) -> int:
    """Cycles of ExOS path ``name`` on ``profile``."""
    return PATHS[name][0] * profile.instruction
