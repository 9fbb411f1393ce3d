"""SPIN software path costs: one table per profile, a source per row.

Hardware primitives (PALcode entry/exit, register save/restore, TLB writes,
copy rates) live in the machine's profiles; the instructions SPIN's own
paths execute live here. Two kinds of rows:

- SPIN's mechanisms: the cross-domain procedure call through a resolved
  import, the dispatcher's raise of an event, the SAL's fault decode, a
  strand switch and a strand creation by the default thread package.
- The UNIX server's rows: the server is an extension set inside the kernel
  whose code is the monolithic kernel's process/VM/pipe code placed there,
  so the inherited code reads its ``mono_*`` names; :data:`UNIX_SERVER`
  maps each to the SPIN row it charges.

On ``alpha`` one row is calibrated (``spin_pipe_op`` on SPIN's
cross-address-space call, marked); every other row is an estimate with its
reasoning. On ``dec5000``, ``athlon64`` and any other profile the monolithic
kernel has a table for (SPIN never ran there) the UNIX server's rows equal
the monolithic kernel's own table on that profile and SPIN's mechanisms are
instruction-count estimates.

Contract (docs/design.md, "How to add a kernel")::

    ROWS, UNIX_SERVER, TABLES
    path_table(profile_name) -> {row: (cycles, source)}
    resolve(profile_name, overrides=None) -> {row: cycles}  (UNIX_SERVER aliases added;
        any other monolithic row the server's code reads: the monolithic value)
"""
from __future__ import annotations

from typing import Any

from exolab.errors import ConfigError
from exolab.kernels.common.paths import override
from exolab.kernels.monolithic import paths as mono_paths

__all__ = ["ROWS", "UNIX_SERVER", "TABLES", "path_table", "resolve"]

SPIN = "Bershad et al., SPIN, SOSP'95 (the SPIN group's benchmark page, Dec 1996)"

#: row -> what the path does
ROWS: dict[str, str] = {
    "spin_syscall_path": "trap to the UNIX server: SAL saves state; the Syscall event's one "
                         "trusted handler (the server) is bound as a direct call",
    "spin_proc_call": "a procedure call across domains, through a resolved import",
    "spin_raise": "the dispatcher's own work per raised event (handler list, guards)",
    "spin_fault_path": "SAL fault decode: frame, MMCSR, context lookup, fault record",
    "spin_switch_path": "a strand switch: Checkpoint/Resume to the thread package, pick",
    "spin_strand_create": "a strand from the default thread package: stack, descriptor",
    "spin_upcall_path": "deliver an exception to a user-level handler (signal frame)",
    "spin_exec_path": "the UNIX server builds a process: Translation.Create, image",
    "spin_pte_op": "Translation: one PTE operation (pmap level)",
    "spin_refill": "software part of a TLB refill (PALcode DTB miss)",
    "spin_pipe_op": "the UNIX server's pipe/socket bookkeeping per read or write",
    "spin_vm_op": "per-call VirtAddr lookup + Translation call of the UNIX server's VM",
    "spin_cthread_op": "the integrated thread package's work per call: decode, descriptor, "
                       "queue",
    "spin_strand_state": "the trusted package's Checkpoint (or Resume) of one strand, part "
                         "of spin_switch_path: what a package that handles the event "
                         "itself does instead",
}

#: the monolithic row names the inherited UNIX-server code reads -> the SPIN row
UNIX_SERVER: dict[str, str] = {
    "mono_syscall_path": "spin_syscall_path", "mono_switch_path": "spin_switch_path",
    "mono_signal_path": "spin_upcall_path", "mono_exec_path": "spin_exec_path",
    "mono_thread_path": "spin_strand_create", "mono_pte_op": "spin_pte_op",
    "mono_refill": "spin_refill", "mono_pipe_op": "spin_pipe_op",
    "mono_vm_op": "spin_vm_op",
}


def _table(rows: list[tuple[str, int, str]]) -> dict[str, tuple[int, str]]:
    """Build a table from (row, cycles, source); every row of ROWS exactly once."""
    table = {row: (cycles, source) for row, cycles, source in rows}
    if len(table) != len(rows) or set(table) != set(ROWS):
        raise ConfigError("incomplete SPIN path table",
                          missing=sorted(set(ROWS) - set(table)),
                          extra=sorted(set(table) - set(ROWS)))
    return table


def _elsewhere(profile: str, proc_call: int, raise_: int, fault: int,
               strand: int) -> dict[str, tuple[int, str]]:
    """A table for a machine SPIN never ran on: the UNIX server's rows from the
    monolithic kernel's table there, SPIN's mechanisms from instruction counts."""
    mono = mono_paths.path_table(profile)
    same = "the UNIX server runs the monolithic kernel's code: its row on this profile"
    rows = [(spin, mono.get(m, (0, ""))[0], same) for m, spin in UNIX_SERVER.items()]
    rows += [
        ("spin_proc_call", proc_call, "estimate: ~12 instructions (load import slot, call, prologue/epilogue)"),
        ("spin_raise", raise_, "estimate: ~25 instructions (handler list, one guard test)"),
        ("spin_fault_path", fault, "estimate: ~150 instructions of fault decode and context lookup"),
        ("spin_cthread_op", 80, "estimate: ~80 instructions (descriptor and queue work)"),
        ("spin_strand_state", mono.get("mono_switch_path", (0, ""))[0] // 4, "estimate: the trusted package's Checkpoint or Resume of one strand, a quarter of the switch path (as on alpha: 250 of 1,050)"),
    ]
    rows = [(r, c if r != "spin_strand_create" else strand, s) for r, c, s in rows]
    return _table(rows)


#: profile name -> {row: (cycles, source)}
TABLES: dict[str, dict[str, tuple[int, str]]] = {
    # DEC 3000/400, 133 MHz Alpha 21064: the SPIN paper's machine
    "alpha": _table([
        # row                cycles  source
        ("spin_syscall_path",  420, "estimate: the SAL saves the callee-saved frame and enters the Syscall event's one trusted handler (the UNIX server, bound as a direct call), ~420 instructions"),
        ("spin_proc_call",      17, "estimate: a Modula-3 call through a resolved import: load the slot, jsr, save/restore ra and fp, ret (~17 instructions)"),
        ("spin_raise",          30, "estimate: the dispatcher loads the event's handler list and tests it (~30 instructions); a guard or handler is one spin_proc_call each"),
        ("spin_fault_path",    750, "estimate: the SAL's memory-fault path: full frame, MMCSR/VA decode, the faulting context's translation lookup, the fault record (~750 instructions)"),
        ("spin_switch_path",  1050, "estimate: Checkpoint and Resume raised to the trusted thread package, the scheduler's queue work, the strand's stack switch (~1,050 instructions)"),
        ("spin_strand_create", 600, "estimate: a strand from the thread package's cache of stacks and descriptors, Unblock to the scheduler (~600 instructions)"),
        ("spin_upcall_path",  1500, "estimate: an exception handed to a user-level handler: a signal-style frame on the user stack and the upcall (~1,500 instructions)"),
        ("spin_exec_path",  150000, "estimate: the UNIX server builds a process: Translation.Create, image mapping, UNIX process state (~1.1 ms, no published figure)"),
        ("spin_pte_op",        250, "estimate: SPIN's Translation rewrites one PTE and invalidates it (tbis PALcode call), ~250 cycles"),
        ("spin_refill",         10, "estimate: the same PALcode DTB-miss routine as OSF/1's (SPIN runs on the same PALcode)"),
        ("spin_pipe_op",      1860, f"calibrated: SPIN cross-address-space call 89 us ({SPIN}): system calls and in-kernel cross-domain calls"),
        ("spin_cthread_op",   120, "estimate: the integrated C-Threads package per call: the reference's decode, the descriptor, one queue operation (~120 instructions)"),
        ("spin_strand_state", 250, "estimate: the part of spin_switch_path that is the trusted package's Checkpoint or Resume of one strand: save (restore) the state a general strand may use, callee-saved integer and floating-point registers, PC/PS, FP enable, into (from) its descriptor (~250 instructions of the ~1,050)"),
        ("spin_vm_op",        1700, "estimate: the VirtAddr range lookup and the Translation call of a protection change (~1,700 instructions)"),
    ]),
    "dec5000": _elsewhere("dec5000", proc_call=12, raise_=25, fault=150, strand=300),
    "athlon64": _elsewhere("athlon64", proc_call=12, raise_=25, fault=150, strand=300),
}


def path_table(profile_name: str) -> dict[str, tuple[int, str]]:
    """Every path row of SPIN on ``profile_name``, with its source."""
    table = TABLES.get(profile_name)
    if table is None:
        if profile_name not in mono_paths.TABLES:
            raise ConfigError("SPIN has no path table for this profile",
                              profile=profile_name, expected=sorted(TABLES))
        table = _elsewhere(profile_name, proc_call=12, raise_=25, fault=150, strand=300)
    return dict(table)


def resolve(profile_name: str, overrides: Any = None) -> dict[str, int]:
    """The cycles of every row on ``profile_name`` with ``overrides`` put over them,
    plus the UNIX server's ``mono_*`` aliases."""
    paths = {row: cycles for row, (cycles, _src) in path_table(profile_name).items()}
    override(paths, overrides, "spin")
    for mono, spin in UNIX_SERVER.items():
        paths[mono] = paths[spin]
    if profile_name in mono_paths.TABLES:   # a server row SPIN does not re-price (one
        for row, cycles in mono_paths.resolve(profile_name).items():   # added later)
            paths.setdefault(row, cycles)   # costs what the monolithic code costs
    return paths
