"""SPIN's path table: which alpha rows are counted from SPIN's source, what they
come to, and that a fault taken by in-kernel code pays its own extra checks."""
from __future__ import annotations

import dataclasses
from typing import Any

from exolab.kernels.monolithic import paths as mono_paths
from exolab.kernels.spin import paths
from exolab.machine.costs import get_profile
from exolab.runner import run_program

from .test_kernel import protect_and_store


def test_the_counted_rows_are_their_parts_priced_by_the_profile() -> None:
    table = paths.path_table("alpha")
    alpha = get_profile("alpha")
    counted = sorted(r for r, (_c, src) in table.items() if src.startswith("counted"))
    assert counted == sorted(paths.SPIN_PARTS)
    for row, (_source, parts) in paths.SPIN_PARTS.items():
        share = paths.SPIN_SHARE.get(row, 1)
        assert table[row][0] == mono_paths.derive(alpha, parts) // share > 0
    # a dearer load moves every counted row: they are made of the profile's prices
    dear = dataclasses.replace(alpha, load_store=alpha.load_store + 1)
    for row, (_source, parts) in paths.SPIN_PARTS.items():
        assert mono_paths.derive(dear, parts) > mono_paths.derive(alpha, parts)


def test_one_spin_row_is_calibrated_and_the_counts_are_the_sources() -> None:
    table = paths.path_table("alpha")
    assert [r for r, (_c, s) in table.items() if s.startswith("calibrated")] == [
        "spin_pipe_op"]
    # the null system call as the tree builds it: ~250 cycles beyond the PALcode,
    # against OSF/1's ~280 (both counted from their own source)
    assert 200 <= table["spin_syscall_path"][0] <= 300
    assert table["spin_syscall_path"][0] < mono_paths.path_table("alpha")[
        "mono_syscall_path"][0]
    # Checkpoint or Resume alone is a small part of one synchronisation
    assert table["spin_strand_state"][0] * 4 < table["spin_switch_path"][0]


def _inside(os: Any, n: int) -> None:
    os.spin_kernel(protect_and_store, n)


def _per_iteration(program: Any) -> float:
    a = run_program(program, 10, kernel="spin", profile="alpha", trusted=True)
    b = run_program(program, 20, kernel="spin", profile="alpha", trusted=True)
    assert b.faults == [] and a.faults == []
    return (b.result.cycles - a.result.cycles) / 10


def test_a_fault_taken_in_the_kernel_pays_the_kernel_fault_checks() -> None:
    """The same protect-and-store loop at user level and in the kernel: in the
    kernel the mprotect is a procedure call instead of a trap, and the fault adds
    the kernel-mode checks; nothing else differs."""
    r, p = paths.resolve("alpha"), get_profile("alpha")
    user, kernel = _per_iteration(protect_and_store), _per_iteration(_inside)
    trap = p.trap_entry + p.trap_exit + r["spin_syscall_path"]
    assert kernel - user == r["spin_kernel_fault"] + r["spin_proc_call"] - trap
