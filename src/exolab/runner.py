"""Run one ABI program on one kernel on a fresh machine.

The shared path of ``exolab run``, the benchmark harness and the tests: build
a :class:`~exolab.machine.Machine` with the requested profile and seed,
construct the kernel by name, boot the program, run to completion, and hand
back everything needed to report on it.

Interface::

    ProgramRun(machine, kernel, result, console, faults, verified)
    run_program(program, *args, kernel="monolithic", profile="dec5000", seed=0,
                trace=False, frames=16384, until=None, max_cycles=None,
                on_line=None, trusted=False, disk=None) -> ProgramRun
    RunInterrupted(run)     the host's ^C (a KeyboardInterrupt) with the run so far

The program is verified first (:func:`exolab.safe.load_function`: its source
and what it references; VerifyError if it is rejected) unless it was loaded
verified already or ``trusted=True`` runs it as unverified host code.

``disk`` attaches an ext2 image file as the machine's first disk (checked
first by :func:`exolab.services.ext2.image.probe`: a malformed or foreign
image is a DiskImageError and nothing is written to it; the drive's block
size is the file system's). After the run, a kernel with a ``shutdown()``
(the monolithic kernel: sync its file system) is shut down, then the machine
closes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from exolab.kernels import Kernel, make_kernel
from exolab.kernels.common.names import program_name
from exolab.machine.machine import Machine, RunResult

__all__ = ["ProgramRun", "run_program", "RunInterrupted"]


@dataclass(frozen=True, slots=True)
class ProgramRun:
    """The outcome of one run: the machine, the kernel, why it stopped, its output."""

    machine: Machine
    kernel: Kernel
    result: RunResult
    console: list[str]
    faults: list[tuple[int, str, Any]]
    verified: bool = True       # False: run with trusted=True, as unverified host code


class RunInterrupted(KeyboardInterrupt):
    """The host's ^C stopped a run; ``run`` is the ProgramRun as far as it went."""

    def __init__(self, run: ProgramRun) -> None:
        super().__init__("run interrupted")
        self.run = run


def run_program(program: Callable[..., Any], *args: Any, kernel: str = "monolithic",
                profile: str = "dec5000", seed: int = 0, trace: bool = False,
                frames: int = 16384, until: int | None = None,
                max_cycles: int | None = None,
                on_line: Callable[[str], Any] | None = None,
                trusted: bool = False, disk: str | None = None) -> ProgramRun:
    """Verify ``program`` (unless ``trusted``), boot ``program(os, *args)`` on a
    fresh machine running ``kernel``; run it (to the cycle budget ``max_cycles`` at
    most: reason ``"budget"``; each console line to ``on_line`` as it completes),
    then close the machine (it is done; closing lets it be freed). The host's ^C
    raises :class:`RunInterrupted`."""
    from exolab.safe.load import is_verified, load_function
    if not trusted:
        program = load_function(program)
    machine = Machine(profile, seed=seed, trace=trace, frames=frames,
                      max_cycles=max_cycles)
    if disk is not None:
        from exolab.services.ext2.image import probe
        machine.attach_disk(disk, block_size=probe(disk).block_size)
    k = make_kernel(kernel, machine)
    if on_line is not None and hasattr(k.console, "sink"):
        setattr(k.console, "sink", on_line)     # (a kernels.common.console.Console)
    k.boot(program, *args, name=program_name(program, "init"))
    verified = is_verified(program)
    try:
        result = k.run(until)
    except KeyboardInterrupt as ex:     # the host's: a program's own is its fault
        so_far = RunResult("interrupted", machine.cycles, len(machine.threads.live()))
        raise RunInterrupted(ProgramRun(machine, k, so_far, list(k.console),
                                        list(k.faults), verified)) from ex
    finally:
        shutdown = getattr(k, "shutdown", None)
        try:
            if callable(shutdown):
                shutdown()
        finally:
            machine.close()
    return ProgramRun(machine, k, result, list(k.console), list(k.faults), verified)
