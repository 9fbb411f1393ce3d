"""Mach-style kernel software path costs: one table per profile, a source per row.

The kernel's own paths are written as *instruction counts* of the Mach 3.0
code they stand for (``mach_*`` rows: header parsing, name translation,
rights checks, kmsg buffer management, queueing, the thread switch), turned
into cycles at the profile's ``instruction`` cost — so the same path runs on
every profile (``dec5000``, ``i486``, ``alpha``, ...). One row, and one only,
is pinned to a paper figure on one profile (:data:`PINNED`, marked in its
source): ``mach_msg_path``, on L3's Table 7 Mach row at 8 bytes on the 486;
as an instruction count it carries to every other profile as a prediction. The UX server's paths are the monolithic kernel's code placed in a
user-level server (``mono_*`` rows, from :mod:`exolab.kernels.monolithic.paths`),
so a profile needs the monolithic table too.

The paths-module contract (docs/design.md, "How to add a kernel")::

    path_table(profile_name) -> dict[row, (cycles, source)]
    resolve(profile_name, overrides=None) -> dict[row, int]

Interface::

    ROWS            mach row -> (instructions, what the path does, source)
    PINNED          row -> (profile, benchmark) it was calibrated on (one row)
    path_table(profile_name), resolve(profile_name, overrides=None)

(A short module: it is a table.)
"""
from __future__ import annotations

from typing import Any

from exolab.errors import ConfigError
from exolab.kernels.common.paths import override
from exolab.kernels.monolithic import paths as ux_paths
from exolab.machine.costs import get_profile

__all__ = ["ROWS", "PINNED", "path_table", "resolve"]

M3 = "Mach 3.0 (CMU MK), "
L3 = "Liedtke, Improving IPC by Kernel Design, SOSP'93"

#: row -> (instructions, what the path does, source)
ROWS: dict[str, tuple[int, str, str]] = {
    "mach_msg_path": (3687, "mach_msg trap: everything of the message path not itemized "
                      "below (option decode, locks, continuations, the generality of "
                      "mach_msg); a mach_msg trap also pays mach_syscall_path",
                      f"CALIBRATED, the one pinned Mach row: Mach NORMA MK13's 8-byte IPC, "
                      f"115 us = 5,750 cycles on the 486-DX50 ({L3}, Table 7), minus "
                      f"every other charge of the path (mach_syscall_path's 800 "
                      f"included), at one cycle an instruction, pinned on a machine "
                      f"without the data cache (the i486's cache fills add ~190 cycles "
                      f"at 8 bytes: 1.03x; re-pinning would move every other profile's "
                      f"Mach figures); every other row, size and profile is a prediction"),
    "mach_header_parse": (60, "check a message header: bits, size, dispositions",
                          f"estimate: {M3}ipc_kmsg_copyin_header checks"),
    "mach_name_lookup": (45, "translate one port name in a task's name space",
                         f"estimate: {M3}ipc_entry_lookup (table index + generation check)"),
    "mach_right_check": (25, "check and adjust one right (type bits, urefs)",
                         f"estimate: {M3}ipc_right_copyin"),
    "mach_item_parse": (35, "decode one typed body item (mach_msg_type_t)",
                        f"estimate: {M3}ipc_kmsg_copyin_body per descriptor"),
    "mach_kmsg_alloc": (90, "allocate and initialize a kernel message buffer",
                        f"estimate: {M3}ikm_alloc via kalloc/zalloc + ikm_init"),
    "mach_kmsg_page": (40, "each further page of a large kernel buffer",
                       f"estimate: {M3}kalloc of a larger bucket (kmem_alloc per page)"),
    "mach_kmsg_free": (60, "free a kernel message buffer", f"estimate: {M3}ikm_free"),
    "mach_enqueue": (70, "queue a message on a port (or hand it to a waiting receiver)",
                     f"estimate: {M3}ipc_mqueue_send"),
    "mach_dequeue": (90, "take a message off a port or port set, seqno",
                     f"estimate: {M3}ipc_mqueue_receive"),
    "mach_copyout_header": (60, "rewrite the header with the receiver's names",
                            f"estimate: {M3}ipc_kmsg_copyout_header"),
    "mach_name_insert": (70, "insert one received right into the receiver's space",
                         f"estimate: {M3}ipc_right_copyout / ipc_entry_alloc"),
    "mach_switch": (250, "block the sender, run the receiver (thread_invoke, pmap_activate)",
                    f"estimate: {M3}kern/sched_prim.c thread_block/thread_invoke"),
    "mach_syscall_path": (800, "Mach's kernel-trap path (every trap: thread_self, ..., and "
                          "mach_msg before its message path)",
                          "Liedtke, On u-Kernel Construction, SOSP'95, s4.1.1: Mach's "
                          "null kernel call (get_self_thread) takes ~900 cycles on the "
                          "486-50, 800 of them kernel overhead beyond int + iret (at one "
                          "cycle an instruction: 800)"),
    "mach_thread_create": (1500, "thread_create in the kernel: thread and kernel stack, "
                           "state, run queue", f"estimate: {M3}kern/thread.c thread_create "
                           "+ stack_alloc (zalloc, kernel stack, pcb init)"),
    "mach_mig_demux": (80, "a MIG server stub: demultiplex and unpack one request",
                       f"estimate: {M3}MIG-generated server routines"),
    "mach_pager_fault": (300, "vm_fault: map entry, object, page lookup, data_request",
                         f"estimate: {M3}vm/vm_fault.c up to memory_object_data_request"),
    "mach_soft_fault": (250, "vm_fault of a resident page whose pmap entry lags the map "
                        "(a lazy unprotect): map lookup, object and page lookup, pmap_enter",
                        f"estimate: {M3}vm/vm_fault.c, the resident-page path (vm_map_lookup, "
                        f"vm_page_lookup, pmap_enter), as vm_fault above less the request"),
    "mach_pmap_protect": (60, "pmap_protect taking a right away from a range, per call: the "
                          "protection switch, SPLVM and the pmap lock, the level-1 and "
                          "level-2 table walk, pmap_iterate_lev2's call, unlock (the TLB "
                          "invalidation is the machine's: one whole flush where the TLB is "
                          "untagged, one entry per page where it is tagged)",
                          f"estimate: ~60 instructions: {M3}alpha/alpha/pmap.c pmap_protect "
                          f"(A. Forin; as imported in NetBSD/alpha pmap.c 1.10, 1996): "
                          f"switch(prot), SPLVM, simple_lock, PMAP_UPDATE_TLBS (INVALIDATE_TLB "
                          f"is tbia()), pmap_pde, pmap_iterate_lev2; the mips pmap "
                          f"(mips/pmap.c rev 2.16) calls tlb_modify per writable page "
                          f"instead"),
    "mach_pmap_pte": (5, "pmap_protect's work on one page-table entry when a right is taken "
                      "away (Mach's pmap never adds one: a raise is not walked at all)",
                      f"estimate: 5 instructions: {M3}alpha pmap_make_readonly's loop body "
                      f"(load the PTE, test ALPHA_PTE_VALID, clear ALPHA_PTE_WRITE, store, "
                      f"advance)"),
    "mach_pmap_remove_pte": (30, "pmap_remove_range on one page (a protection without read "
                             "removes the mapping)",
                             f"estimate: ~30 instructions: {M3}alpha pmap_remove_range per "
                             f"PTE: fold the modify/reference bits into pmap_phys_attributes, "
                             f"clear the PTE, find and unlink its pv_entry, PV_FREE"),
    "mach_page_query": (60, "the state of one page for a task's query (the ABI's dirty "
                        "call): the map entry, the object's resident page, its modify bit",
                        f"estimate: ~60 instructions: {M3}vm_map_lookup_entry (hint hit), "
                        f"vm_page_lookup (object/offset hash), pmap_is_modified (alpha "
                        f"pmap: pmap_phys_attributes[pa_index] | the PTE's ALPHA_PTE_MOD); "
                        f"the Alpha keeps no hardware dirty bit, vm_fault sets it "
                        f"(vm_fault_dirty_handling)"),
    "mach_pager_supply": (150, "memory_object_data_supply: insert the page, resume",
                          f"estimate: {M3}vm/memory_object.c"),
    "mach_task_create": (2500, "task_create + thread_create + the server's proc setup",
                         f"estimate: {M3}task_create, thread_create, UX fork bookkeeping"),
}

#: software TLB refill handler (instructions) where the profile refills in software;
#: 0 where the hardware walks (x86: tlb_miss_entry is the walk)
REFILL = {"dec5000": (8, "R3000 UTLB refill handler: ~8 instructions (as Ultrix's)")}

#: the one calibrated row: row -> (profile, benchmark it was pinned on); its
#: instruction count holds on every profile (the same code), so elsewhere it predicts
PINNED: dict[str, tuple[str, str]] = {"mach_msg_path": ("i486", "ipc_8")}


def path_table(profile_name: str) -> dict[str, tuple[int, str]]:
    """Every path row of the kernel on ``profile_name`` (its own and the UX
    server's), with its source; ConfigError for a profile without a UX table."""
    profile = get_profile(profile_name)
    table: dict[str, tuple[int, str]] = {}
    for row, (instrs, _what, source) in ROWS.items():
        table[row] = (instrs * profile.instruction,
                      f"{source}; {instrs} instructions x {profile.instruction}")
    refill, why = REFILL.get(profile_name, (0, "hardware page walk (tlb_miss_entry)"))
    table["mach_refill"] = (refill * profile.instruction, why)
    try:
        ux = ux_paths.path_table(profile_name)
    except ConfigError:
        raise ConfigError("the mach kernel's UX server has no path table for this "
                          "profile", profile=profile_name,
                          expected=sorted(ux_paths.TABLES)) from None
    for row, (cycles, source) in ux.items():
        table[row] = (cycles, f"UX server (BSD code at user level): {source}")
    # threads are Mach's, not the server's (the monolithic code charges this
    # optional row on every profile, 0 where its own table lacks it)
    table["mono_thread_path"] = (table["mach_thread_create"][0],
                                 "Mach's own thread_create (mach_thread_create)")
    return table


def resolve(profile_name: str, overrides: Any = None) -> dict[str, int]:
    """The cycles of every row on ``profile_name``, ``overrides`` put over them."""
    paths = {row: cycles for row, (cycles, _src) in path_table(profile_name).items()}
    return override(paths, overrides, "mach")
