"""L4 software path costs: the instructions of each kernel path, a source per row.

Nothing here is calibrated. A row is an instruction count taken from the
papers' own anatomy of the path (L3 Table 3 lists the 20 instructions of the
null IPC), charged at ``profile.instruction`` cycles each; the hardware
primitives the paths take (``int``/``iret``, the cr3 load, TLB walks, copies)
come from the machine profile and are charged where they happen. One row is
hardware the profile does not model: the 486's segment registers, which L3
reloads on every kernel entry and exit (x86 profiles only; 0 elsewhere).

The contract every kernel's paths module meets (docs/design.md)::

    path_table(profile_name) -> dict[row, (cycles, source)]
    resolve(profile_name, overrides=None) -> dict[row, int]

Interface::

    ROWS                     row -> (instructions, source)
    SEGMENT_LOAD, SEGMENT_LOADS, SEGMENT_CHECK
    path_table(profile_name), resolve(profile_name, overrides=None)
"""
from __future__ import annotations

from typing import Any

from exolab.kernels.common.paths import override
from exolab.machine.costs import get_profile

__all__ = ["ROWS", "SEGMENT_LOAD", "SEGMENT_LOADS", "SEGMENT_CHECK", "path_table",
           "resolve"]

L3 = "Liedtke, Improving IPC by Kernel Design, SOSP'93"
L4C = "Liedtke, On micro-Kernel Construction, SOSP'95"

#: row -> (instructions, source); cycles are instructions x profile.instruction
ROWS: dict[str, tuple[int, str]] = {
    "l4_ipc_user": (3, f"{L3}, Table 3: load id of B (2 ld), set msg len (ld), before int"),
    "l4_ipc_access": (4, f"{L3}, Table 3: access B's TCB (2 cmp + jmp)"),
    "l4_ipc_load_id": (2, f"{L3}, Table 3: load id of A (2 ld)"),
    "l4_stack_switch": (4, f"{L3}, Table 3: switch stack (st sp, ld sp, add+st)"),
    "l4_as_switch": (1, f"{L3}, Table 3: ld of B's page directory (the mov cr3 is the profile's)"),
    "l4_inspect": (2, f"{L3}, Table 3: inspect msg (cmp + jmp), in the receiver"),
    "l4_long_setup": (35, f"{L3}, Table 4: temporary mapping of a long message, 35 execution cycles (its TLB part is walked)"),
    "l4_copy_loop": (6, "estimate: per page of a long message, set the window PTE and advance (a few st/add)"),
    "l4_map_item": (25, f"estimate: one map item, mapping-database insert + PTE store ({L4C}, 3.2)"),
    "l4_block": (12, f"estimate: enqueue in a partner's queue and leave the CPU (lazy scheduling, {L3}, 5.4)"),
    "l4_wake": (6, "estimate: dequeue a partner and mark it runnable"),
    "l4_fault_ipc": (15, "estimate: build the page-fault message (address, ip, access) to the pager"),
    "l4_irq_ipc": (15, "estimate: turn an interrupt into a message from its pseudo-thread"),
    "l4_tick": (20, "estimate: the timer interrupt's handler: acknowledge the PIC, end the slice, look at the ready queue"),
    "l4_notify": (8, "estimate: or bits into a notification word, wake its waiter (seL4)"),
    "l4_syscall": (10, "estimate: decode a kernel call other than IPC (ids, rights)"),
    "l4_flush_page": (12, f"estimate: per mapping removed by flush: tree unlink + PTE clear + invlpg share ({L4C}, 3.2)"),
    "l4_thread_create": (200, "estimate: TCB init, UTCB map, enter the scheduler"),
    "l4_space_create": (300, "estimate: page directory, kernel region link, code/stack pages"),
}

SEGMENT_LOAD = 9        # cycles per segment-register load on the 486 (L3, 5)
SEGMENT_LOADS = 8       # ds, es, fs, gs reloaded on entry and again on exit (estimate)
SEGMENT_CHECK = 10      # segment checking on the IPC path (L3, 5: 10 cycles)


def _segments(profile: Any) -> tuple[int, str]:
    """The segment-register row: x86 profiles reload them; other machines have none."""
    if profile.mmu != "x86":
        return 0, "this machine has no segment registers"
    cycles = SEGMENT_LOADS * SEGMENT_LOAD + SEGMENT_CHECK
    return cycles, (f"{L3}, 5: segment-register load 9 cycles x {SEGMENT_LOADS} (4 data "
                    f"segments in, 4 out; estimate) + segment checking 10; 7: a 486 "
                    f"without segments would save 80 cycles")


def path_table(profile_name: str) -> dict[str, tuple[int, str]]:
    """Every path row of L4 on ``profile_name`` in cycles, with its source."""
    profile = get_profile(profile_name)
    table = {row: (n * profile.instruction, src) for row, (n, src) in ROWS.items()}
    table["l4_segments"] = _segments(profile)
    return table


def resolve(profile_name: str, overrides: Any = None) -> dict[str, int]:
    """The cycles of every row on ``profile_name``, ``overrides`` put over them."""
    paths = {row: c for row, (c, _src) in path_table(profile_name).items()}
    return override(paths, overrides, "l4")
