"""Shared helpers of the monolithic-kernel tests: run a program, catch an errno."""
from __future__ import annotations

from typing import Any, Callable

from exolab.kernels.monolithic import MonolithicKernel
from exolab.machine.machine import Machine
from exolab.runner import ProgramRun, run_program

from ..common import errno  # noqa: F401  (re-exported for the tests)

PAGE = 4096


def run(program: Callable[..., Any], *args: Any, reason: str = "finished",
        **options: Any) -> ProgramRun:
    """Run ``program`` on the monolithic kernel; assert why the run ended."""
    r = run_program(program, *args, kernel="monolithic", **options)
    assert r.result.reason == reason, (r.result, r.console, r.faults)
    return r


def run_inspected(program: Callable[..., Any], *args: Any,
                  reason: str = "finished") -> MonolithicKernel:
    """Run ``program(os, kernel, *args)`` — handing the program its own kernel so a
    test can look at kernel state mid-run — and return the kernel."""
    k = MonolithicKernel(Machine("dec5000"))
    k.boot(program, k, *args)
    result = k.run()
    assert result.reason == reason, (result, k.console, k.faults)
    return k
