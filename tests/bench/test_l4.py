"""Suite ``l4`` (bench/l4.py): L4's IPC against L3's published figures on the i486."""
from __future__ import annotations

import pytest

from exolab.bench import l4 as suite
from exolab.bench.papers import figures, suite_profile, system_kernel
from exolab.bench.registry import run_suites

PAPER = {(f.benchmark, f.system): f.value for f in figures("l4")}


def test_the_figures_file_maps_the_papers_systems() -> None:
    assert suite_profile("l4") == "i486"
    assert system_kernel("L3") == "l4" and system_kernel("Mach") == "mach"
    assert PAPER[("null_ipc", "L3")] == 5.0 and PAPER[("ipc_4096", "Mach")] == 460


@pytest.mark.parametrize("size", suite.SIZES)
def test_l4_is_within_one_and_a_half_of_l3_at_every_size(size: int) -> None:
    us = suite.l4_ipc(size, 10, "i486") / 50
    assert 1 / 1.5 <= us / PAPER[(f"ipc_{size}", "L3")] <= 1.5


def test_the_per_byte_slope_is_one_copy() -> None:
    a, b = suite.l4_ipc(1024, 10, "i486"), suite.l4_ipc(2048, 10, "i486")
    per_byte = (b - a) / 1024
    assert per_byte == pytest.approx(1.0, abs=0.05)          # copy_per_kib 1024: 1 copy
    # at 4 KB the two buffers fill the 8 KB cache and the path's lines evict some:
    # one copy plus a few line fills, never more than every source line missing
    c = suite.l4_ipc(4096, 10, "i486")
    assert 1.0 < (c - b) / 2048 < 1.0 + 12 / 16


def test_the_anatomy_adds_up_and_shows_the_misses_after_the_flush() -> None:
    a = suite.l4_anatomy("i486", 10)
    parts = [v for k, v in a.items() if k not in ("total", "tlb_misses")]
    assert sum(parts) == pytest.approx(a["total"])
    assert a["kernel entry + exit (int, iret)"] == 107
    assert a["TLB misses after the flush"] == 45 and a["tlb_misses"] == 5
    assert 172 <= a["total"] <= 250 * 1.5


def test_the_suite_runs_quick_with_paper_rows() -> None:
    rep = run_suites(["l4"], kernels=["l4"], quick=True)
    got = {r.benchmark: r.value for r in rep.results if r.kernel == "l4"}
    assert set(got) == set(suite.BENCHMARKS)
    assert got["null_rpc"] == pytest.approx(2 * got["null_ipc"], rel=0.01)
    assert 250 / 1.5 <= got["null_ipc"] * 50 <= 250 * 1.5     # the ABI's rpc on l4


def test_the_notes_give_mach_over_l4_beside_the_paper() -> None:
    from exolab.bench.results import Result
    rows = [Result("l4", "ipc_8", "l4", 5.0, "us"), Result("l4", "ipc_8", "mach", 110.0, "us")]
    assert suite._mach_over_l4(rows) == {"ipc_8": "mach/l4 = 22.0 (paper Mach/L3 22.1)"}
