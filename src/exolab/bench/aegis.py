"""Suite ``aegis``: the exokernel's primitives (SOSP'95 Tables 4, 5 and 6).

Each benchmark is an ABI program run on every registered kernel on a fresh
``dec5000`` machine; a kernel that cannot provide an operation reports n/a
(its declaration refuses the exception kind, or lacks the PCT extension).
Values are microseconds per operation.

- ``syscall``   the cheapest kernel call (``api_call``: Aegis's null call,
                Ultrix's generic path as getpid takes it), Table 4
- ``unalign``, ``overflow``, ``coproc``, ``prot``   one exception raised
                with ``trigger`` and handled by a null handler installed with
                ``set_exception_handler``, round trip (raise, dispatch, handler,
                resume), Table 5; Ultrix delivers only overflow (SIGFPE) and
                prot (SIGSEGV), through its signal path
- ``pct``       a bare synchronous protected control transfer into another
                address space and back, halved (one direction), Table 6; needs
                ExOS's ``pct_call`` (n/a elsewhere)

Interface::

    BENCHMARKS, PROGRAMS
    measure(benchmark, kernel, profile, seed, n) -> cycles per operation | None
    run_aegis(ctx) -> SuiteOutput                (registered as ``aegis``)
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.abi import ABI
from exolab.apps.microbench import api_call, report
from exolab.bench.papers import paper_rows, suite_profile
from exolab.bench.registry import (ALL_KERNELS, SuiteContext, SuiteOutput, get_suite,
                                   microsecond_rows, run_benchmark, suite)
from exolab.errors import SyscallError

__all__ = ["BENCHMARKS", "PROGRAMS", "ITERATION", "NEEDS", "measure", "run_aegis"]

BENCHMARKS = ("syscall", "unalign", "overflow", "coproc", "prot", "pct")
_N = (1000, 20)                 # iterations: full run, quick run


def _null_handler(os: ABI, kind: str) -> None:
    """A handler that does nothing: the exception is dispatched and resumed."""


def _exception(kind: str) -> Callable[[ABI, int], None]:
    """The Table 5 program for exception ``kind``."""
    def program(os: ABI, n: int) -> None:
        os.set_exception_handler(kind, _null_handler)
        os.trigger(kind)                        # warm: handler state in the TLB
        t0 = os.time()
        for _ in range(n):
            os.trigger(kind)
        report(os, (os.time() - t0) / n)
    program.__name__ = kind
    return program


def _null_server(os: ABI, n: int) -> None:
    """Serve ``n`` bare PCTs (ExOS: a null entry that bumps a counter)."""
    os.rpc_serve("aegis-null", None, n)  # type: ignore[arg-type]


def pct(os: Any, n: int) -> None:
    """A bare PCT to another address space and back; one direction (Table 6)."""
    if not hasattr(os, "pct_call"):
        raise SyscallError("ENOSYS", "no bare protected control transfer")
    pid = os.spawn(_null_server, n + 1, name="null-server")
    h = os.rpc_connect("aegis-null")
    os.pct_call(h)
    t0 = os.time()
    for _ in range(n):
        os.pct_call(h)
    report(os, (os.time() - t0) / n / 2)
    os.wait(pid)


#: what one loop iteration does where it is not one operation (``exolab explain``)
ITERATION = {"pct": "a call and its return: two transfers"}
#: benchmark -> what it needs beyond the ABI (a kernel lacking it: n/a)
NEEDS = {"pct": frozenset({"pct_call"}),
         **{kind: frozenset({f"exception:{kind}"})
            for kind in ("unalign", "overflow", "coproc", "prot")}}

PROGRAMS: dict[str, Callable[..., None]] = {
    "syscall": api_call, "pct": pct,   # null syscall: the api_call program
    **{kind: _exception(kind) for kind in ("unalign", "overflow", "coproc", "prot")},
}


def measure(benchmark: str, kernel: str, profile: str, seed: int, n: int) -> float | None:
    """Run one program; return its cycles per operation (None: n/a on this kernel)."""
    return run_benchmark(get_suite("aegis"), benchmark, kernel, profile, seed, n)


@suite("aegis", kernels=(ALL_KERNELS,), default_profile=suite_profile("aegis"),
       description="aegis: null system call, exception dispatch, PCT (SOSP'95 T4-T6)",
       programs=PROGRAMS, iteration=ITERATION, unit="us", sizes={}, default_size=_N,
       needs=NEEDS)
def run_aegis(ctx: SuiteContext) -> SuiteOutput:
    """Measure every Aegis primitive on every requested kernel, in microseconds."""
    results, notes = microsecond_rows(ctx, BENCHMARKS)
    return SuiteOutput(results, paper_rows(ctx.suite), notes)
