"""Anatomy on every kernel: each suite's program dissects, or is n/a as declared."""
from __future__ import annotations

import pytest

from exolab.bench import registered
from exolab.bench.anatomy import anatomy
from exolab.kernels.common.stats import level_names

BENCHMARKS = [(info.name, b) for info in registered().values() for b in info.programs
              if b in ("api_call", "pipe", "shm", "lrpc", "dirty", "pipe'", "unalign",
                       "pct", "syscall")]


@pytest.mark.parametrize("suite, benchmark", BENCHMARKS)
def test_anatomy_counts_per_iteration_or_is_declared_na(suite: str, benchmark: str,
                                                        kernel: str) -> None:
    info = registered()[suite]
    a = anatomy(benchmark, kernel)
    if not info.runs_on(benchmark, kernel):
        assert a is None
        return
    assert a is not None and a.kernel == kernel and a.per_op > 0
    assert a.counts["cycles"] > 0 and a.counts["traps"] >= 0
    assert a.iteration == info.iteration_of(benchmark)
    kernel_rows = [label.split(": ", 1)[1] for label in a.counts
                   if label.startswith(f"{kernel}: ")]
    from exolab.runner import run_program
    levels = level_names(run_program(lambda os: None, kernel=kernel).kernel.statistics())
    assert not set(kernel_rows) & levels          # levels are never differenced
