"""Shared helpers of the exokernel tests: build a machine, run programs, catch errnos."""
from __future__ import annotations

from typing import Any, Callable

from exolab.kernels.exokernel import Aegis
from exolab.machine.machine import Machine
from exolab.runner import ProgramRun, run_program

from ..common import errno  # noqa: F401  (re-exported for the tests)

PAGE = 4096


def run(program: Callable[..., Any], *args: Any, reason: str = "finished",
        **options: Any) -> ProgramRun:
    """Run ``program`` on the exokernel; assert why the run ended."""
    r = run_program(program, *args, kernel="exokernel", **options)
    assert r.result.reason == reason, (r.result, r.console, r.faults)
    return r


def aegis(profile: str = "dec5000", frames: int = 4096) -> Aegis:
    """A fresh Aegis on a fresh machine."""
    return Aegis(Machine(profile, frames=frames))


def bystander(os: Any, rounds: int, out: dict[str, Any]) -> int:
    """A well-behaved process: fill a page, compute, yield, and check it is intact."""
    va = os.mmap(PAGE)
    for i in range(64):
        os.store(va + 4 * i, i * 7 + 1)
    for _ in range(rounds):
        os.compute(20_000)
        os.yield_()
    out["intact"] = all(os.load(va + 4 * i) == i * 7 + 1 for i in range(64))
    out["done"] = True
    return 0
