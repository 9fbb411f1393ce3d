"""Aegis software path lengths, in instructions, each with its source.

Aegis's costs are the machine's hardware primitives (trap, exception and
TLB-refill entry/exit, TLB writes, ASID loads: all from the cost profile)
plus the instructions its own paths execute, listed here. A path is charged
as ``count * profile.instruction``; nothing in Aegis charges a constant of
its own. The four counts the paper states are marked [paper]; the rest are
estimates of short loops and bookkeeping, each explained.

Sources: Engler, Kaashoek, O'Toole, "Exokernel", SOSP'95 (DEC5000/125,
25 MHz: one instruction = one cycle on a cache hit).

Interface::

    PATHS                 name -> (instructions, source)
    cycles(profile, name) -> int      the path's cost on ``profile``
    SYSCALL_FAST, SYSCALL_STACK, EXC_DISPATCH, STLB_PROBE, PCT, ...  (counts)

(A short module: it is a table.)
"""
from __future__ import annotations

from typing import Any

__all__ = ["PATHS", "cycles", "SYSCALL_FAST", "SYSCALL_STACK", "EXC_DISPATCH",
           "STLB_PROBE", "PCT", "CAP_CHECK", "BIND_ENTRY", "SLICE_SCAN", "UPCALL_ARGS"]

_T4 = "SOSP'95 Table 4 (DEC5000: Aegis null syscall 1.6 us, with stack 2.3 us)"

#: name -> (instructions, source); the aligned table of every Aegis path
PATHS: dict[str, tuple[int, str]] = {
    # [paper] 1.6 us = 40 cycles at 25 MHz, less trap_entry + trap_exit (5 + 2)
    "syscall_fast":  (33, f"[paper] {_T4}: 40 cycles - 7 cycles of trap hardware"),
    # [paper] 2.3 us = 57.5 cycles, less the same 7: calls written in C need a stack
    "syscall_stack": (50, f"[paper] {_T4}: 57.5 cycles - 7 cycles of trap hardware"),
    "exc_dispatch":  (18, "[paper] SOSP'95 §5.2: 'Aegis dispatches exceptions in 18 "
                          "instructions' (save 3 scratch registers in the agreed save "
                          "area, load EPC/BadVAddr/cause, jump to the handler)"),
    "stlb_probe":    (18, "[paper] SOSP'95 §5.3: an STLB hit takes 18 instructions "
                          "(hash, compare tag, load entry; the tlbwr is the profile's)"),
    "pct":           (30, "[paper] SOSP'95 §5.4 / Table 6: the synchronous PCT path is "
                          "30 instructions (no registers saved)"),
    "cap_check":     (8,  "estimate: hash the 64-bit handle, compare the tag, test the "
                          "object name and the rights mask"),
    "bind_entry":    (6,  "estimate: per entry of a binding call: load the vpn/flags "
                          "pair, range-check the vpn, index and store the STLB slot"),
    "slice_scan":    (3,  "estimate: per slice-vector slot examined: load owner, test "
                          "runnable, advance"),
    "upcall_args":   (4,  "estimate: per extra word an upcall or message carries"),
    "stlb_clear":    (1,  "estimate: per STLB slot cleared when the ASIDs roll over to "
                          "a new generation (one store)"),
    "xn_call":       (12, "estimate: XN decodes a block number and looks it up in the "
                          "buffer-cache registry (hash, compare, load the entry)"),
    "xn_udf":        (40, "estimate: XN runs one downloaded function (set up its "
                          "arguments, call, decode the result); its loop body is xn_owns"),
    "xn_owns":       (6,  "estimate: per (block, type) an ownership function yields: load "
                          "the pointer, test, append, compare with the expected set"),
    "xn_disk_req":   (60, "estimate: XN builds, queues and completes one disk request "
                          "(the drive's own time is the disk model's)"),
}

SYSCALL_FAST = PATHS["syscall_fast"][0]
SYSCALL_STACK = PATHS["syscall_stack"][0]
EXC_DISPATCH = PATHS["exc_dispatch"][0]
STLB_PROBE = PATHS["stlb_probe"][0]
PCT = PATHS["pct"][0]
CAP_CHECK = PATHS["cap_check"][0]
BIND_ENTRY = PATHS["bind_entry"][0]
SLICE_SCAN = PATHS["slice_scan"][0]
UPCALL_ARGS = PATHS["upcall_args"][0]


def cycles(profile: Any, name: str) -> int:
    """Return the cost in cycles of path ``name`` on ``profile``."""
    return PATHS[name][0] * profile.instruction
