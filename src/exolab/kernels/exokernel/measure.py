"""Host-side measurements of Aegis + ExOS at scale (for the speed bench and reports).

Each function runs a small workload and returns host seconds or bytes; none of
them reads the wall clock inside a simulation (the timer wraps whole runs).

Interface::

    yield_seconds(kernel, n=2000) -> float          host seconds per yield (2 yielders)
    lifecycle_seconds(live, n=50) -> dict           fork+wait and destroy, per op,
                                                    with ``live`` idle environments
    boot_bytes(frames) -> int                       bytes allocated by Aegis(machine)

(A short module: measurement harnesses only.)
"""
from __future__ import annotations

import time
import tracemalloc
from typing import Any

from exolab.machine.machine import Machine

__all__ = ["yield_seconds", "lifecycle_seconds", "boot_bytes"]


def yield_seconds(kernel: str = "exokernel", n: int = 2000) -> float:
    """Host seconds per ``yield_`` with two processes yielding to each other: the
    difference between runs of ``2n`` and ``n`` yields each, so booting,
    verifying and tearing down (costlier under ExOS) cancel out."""
    return (_yield_run(kernel, 2 * n) - _yield_run(kernel, n)) / (2 * n)


def _yield_run(kernel: str, n: int) -> float:
    """Host seconds of one whole run in which two processes each yield ``n`` times."""
    from exolab.runner import run_program

    def spin(os: Any, k: int) -> None:
        for _ in range(k):
            os.yield_()

    def main(os: Any, k: int) -> None:
        pid = os.spawn(spin, k)
        spin(os, k)
        os.wait(pid)

    t0 = time.perf_counter()
    run_program(main, n, kernel=kernel)
    return time.perf_counter() - t0


def lifecycle_seconds(live: int, n: int = 50) -> dict[str, float]:
    """Host seconds per ExOS fork+wait and per Aegis environment destroy while
    ``live`` other environments are alive (each holds a slice-less, idle context)."""
    from exolab.kernels.exokernel.kernel import Aegis
    k = Aegis(Machine("dec5000", frames=4096))
    for i in range(live):
        k.new_env(f"idle{i}", None)
    out: dict[str, float] = {}

    def child(os: Any) -> int:
        return 1

    def main(os: Any) -> None:
        t0 = time.perf_counter()
        for _ in range(n):
            os.wait(os.fork(child))
        out["fork_wait"] = (time.perf_counter() - t0) / n

    k.boot(main)
    k.run()
    victims = [k.new_env(f"v{i}", None) for i in range(n)]
    t0 = time.perf_counter()
    for v in victims:
        k.destroy(v, 0, exited=True, unwind=False)
    out["destroy"] = (time.perf_counter() - t0) / n
    return out


def boot_bytes(frames: int) -> int:
    """Bytes the exokernel allocates at boot on a machine of ``frames`` frames."""
    from exolab.kernels.exokernel.kernel import Aegis
    m = Machine("dec5000", frames=frames)
    tracemalloc.start()
    try:
        Aegis(m)
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
