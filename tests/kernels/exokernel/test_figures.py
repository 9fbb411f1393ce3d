"""The paper's figures: every exokernel row within 1.5x, and the Ultrix/ExOS ratios.

A regression guard on the structure (crossings, probes, upcalls) the numbers
come from; run with modest iteration counts (the programs exclude warm-up).
"""
from __future__ import annotations

import pytest

from exolab.apps.microbench import PROGRAMS as MICRO
from exolab.bench.aegis import PROGRAMS as AEGIS
from exolab.runner import run_program

#: benchmark -> (ExOS/Aegis paper us, Ultrix paper us or None)
PAPER = {
    "pipe": (14.2, 199.0), "pipe'": (10.7, None), "shm": (5.7, 118.0),
    "lrpc": (6.3, None), "dirty": (9.8, None), "prot1": (16.9, 32.0),
    "prot100": (109.0, 102.0), "unprot100": (143.0, 102.0), "trap": (4.8, 161.0),
    "appel1": (34.0, 262.0), "appel2": (22.0, 232.0), "syscall": (1.6, 21.3),
    "unalign": (1.5, None), "overflow": (1.5, 130.0), "coproc": (1.5, None),
    "prot": (1.5, 154.0), "pct": (1.4, None),
}
N = {"prot100": 3, "unprot100": 3, "appel2": 100}


def _us(bench: str, kernel: str) -> float:
    program = AEGIS.get(bench) or MICRO[bench]
    run = run_program(program, N.get(bench, 40), kernel=kernel, frames=4096)
    line = next(x for x in run.console if x.startswith("RESULT "))
    return float(line.split()[1]) / 25.0


@pytest.mark.parametrize("bench", list(PAPER))
def test_within_a_factor_of_1_5(bench: str) -> None:
    exos_paper, ultrix_paper = PAPER[bench]
    ours = _us(bench, "exokernel")
    assert exos_paper / 1.5 <= ours <= exos_paper * 1.5, ours
    if ultrix_paper is not None:
        ratio, paper_ratio = _us(bench, "monolithic") / ours, ultrix_paper / exos_paper
        assert paper_ratio / 1.5 <= ratio <= paper_ratio * 1.5, (ratio, paper_ratio)
        assert (ratio > 1) == (paper_ratio > 1)     # the same winner
