"""Software path costs of the Singularity kernel, one table per cost profile.

Hardware primitives (a register save, a load, the cycle counter) stay in
the machine profile; these rows are the kernel's own code paths, each with
its source. One row is calibrated (``sing_sip_create``: the paper's process
creation, minus the hardware the kernel charges beside it); every other row
is a path length estimated from what the path does, so the benchmark
figures that use them are predictions.

Interface::

    ROWS                        row -> what the path does
    path_table(profile_name) -> {row: (cycles, source)}
    resolve(profile_name, overrides=None) -> {row: cycles}
"""
from __future__ import annotations

from typing import Any

from exolab.errors import ConfigError
from exolab.kernels.common.paths import override

__all__ = ["ROWS", "path_table", "resolve"]

OSR = "Hunt & Larus, OSR 41(2) 2007"
MSPC = "Aiken et al., MSPC'06"

ROWS = {
    "sing_abi_call": "a kernel ABI call: a procedure call that pushes and pops the "
                     "GC transition record (no trap, no mode switch)",
    "sing_sched": "pick the next kernel thread and make it current (same address space)",
    "sing_channel_op": "one send or receive: contract state check, queue link, wakeup",
    "sing_bounds_check": "the safety check of one heap access (the safe-code tax)",
    "sing_sip_create": "create a SIP from its manifest: runtime, GC heap, first thread",
    "sing_sip_exit": "tear a SIP down: reclaim its heap and exchange-heap blocks",
    "sing_pte_op": "isolation knob, paging on: write one page-table entry of a new SIP",
    "sing_domain_map": "isolation knob, own domain: map the kernel into a new address space",
}


def _table(rows: list[tuple[str, int, str]]) -> dict[str, tuple[int, str]]:
    """A profile's table, checked against :data:`ROWS`."""
    table = {name: (cycles, source) for name, cycles, source in rows}
    if set(table) != set(ROWS):
        raise ConfigError("singularity path table rows differ from ROWS",
                          rows=sorted(table))
    return table


_TABLES: dict[str, dict[str, tuple[int, str]]] = {
    "athlon64": _table([
        ("sing_abi_call", 70, f"estimate: call + prologue + transition record push/pop, "
                              f"~60 instructions and a load ({MSPC} §4: an ABI call is a "
                              f"function call)"),
        ("sing_sched", 150, "estimate: ready-queue pop + thread state update, ~150 "
                            "instructions (no address-space load, no TLB flush)"),
        ("sing_channel_op", 60, f"estimate: state-machine step + message link + endpoint "
                                f"wakeup, ~60 instructions ({OSR} §2.2: messages are "
                                f"passed by pointer)"),
        ("sing_bounds_check", 2, "estimate: compare + branch per checked access"),
        ("sing_sip_create", 370_000, f"calibrated: process creation 388,162 cycles ({MSPC}, "
                                     f"Table 1) minus the abi call, switches, exit and "
                                     f"the zeroing of the last SIP's 16 heap pages "
                                     f"charged beside it"),
        ("sing_sip_exit", 3_000, "estimate: free the SIP's pages and blocks, ~3,000 "
                                 "instructions"),
        ("sing_pte_op", 20, "estimate: pte write + bookkeeping (as mono_pte_op)"),
        ("sing_domain_map", 327_680, "estimate: 64 MiB of kernel mapped into the domain, "
                                     "16,384 PTEs at 20 cycles (the kernel image and its "
                                     "GC heap; no published figure)"),
    ]),
    "dec5000": _table([
        ("sing_abi_call", 60, "estimate: as athlon64, MIPS R3000 path length"),
        ("sing_sched", 150, "estimate: as athlon64"),
        ("sing_channel_op", 60, "estimate: as athlon64"),
        ("sing_bounds_check", 2, "estimate: as athlon64"),
        ("sing_sip_create", 40_000, "estimate: as the monolithic exec path on dec5000"),
        ("sing_sip_exit", 3_000, "estimate: as athlon64"),
        ("sing_pte_op", 12, "estimate: as mono_pte_op on dec5000"),
        ("sing_domain_map", 196_608, "estimate: 16,384 PTEs at 12 cycles"),
    ]),
}


def path_table(profile_name: str) -> dict[str, tuple[int, str]]:
    """The path costs of profile ``profile_name`` with their sources."""
    table = _TABLES.get(profile_name)
    if table is None:
        raise ConfigError("no singularity path table for profile", profile=profile_name,
                          expected=sorted(_TABLES))
    return dict(table)


def resolve(profile_name: str, overrides: Any = None) -> dict[str, int]:
    """Row -> cycles for ``profile_name``, with ``overrides`` (row -> int) applied."""
    costs = {row: cycles for row, (cycles, _src) in path_table(profile_name).items()}
    return override(costs, overrides, "singularity")
