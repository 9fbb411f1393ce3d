"""Run one ABI program on one kernel on a fresh machine.

The shared path of ``exolab run``, the benchmark harness and the tests: build
a :class:`~exolab.machine.Machine` with the requested profile and seed,
construct the kernel by name, boot the program, run to completion, and hand
back everything needed to report on it.

Interface::

    ProgramRun(machine, kernel, result, console, faults, verified)
    run_program(program, *args, kernel="monolithic", profile="dec5000", seed=0,
                trace=False, frames=16384, until=None, trusted=False) -> ProgramRun

The program is verified first (:func:`exolab.safe.load_function`: its source
and what it references; VerifyError if it is rejected) unless it was loaded
verified already or ``trusted=True`` runs it as unverified host code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from exolab.kernels import Kernel, make_kernel
from exolab.machine.machine import Machine, RunResult

__all__ = ["ProgramRun", "run_program"]


@dataclass(frozen=True, slots=True)
class ProgramRun:
    """The outcome of one run: the machine, the kernel, why it stopped, its output."""

    machine: Machine
    kernel: Kernel
    result: RunResult
    console: list[str]
    faults: list[tuple[int, str, Any]]
    verified: bool = True       # False: run with trusted=True, as unverified host code


def run_program(program: Callable[..., Any], *args: Any, kernel: str = "monolithic",
                profile: str = "dec5000", seed: int = 0, trace: bool = False,
                frames: int = 16384, until: int | None = None,
                trusted: bool = False) -> ProgramRun:
    """Verify ``program`` (unless ``trusted``), boot ``program(os, *args)`` on a fresh
    machine running ``kernel``; run it."""
    from exolab.safe.load import is_verified, load_function
    if not trusted:
        program = load_function(program)
    machine = Machine(profile, seed=seed, trace=trace, frames=frames)
    k = make_kernel(kernel, machine)
    k.boot(program, *args, name=getattr(program, "__name__", "init"))
    result = k.run(until)
    return ProgramRun(machine, k, result, list(k.console), list(k.faults),
                      is_verified(program))
