"""Helpers for the L4 tests: boot a root program on a fresh machine and run it."""
from __future__ import annotations

from typing import Any, Callable

from exolab.kernels.l4 import L4
from exolab.machine import Machine


def run(program: Callable[..., Any], *args: Any, profile: str = "i486",
        frames: int = 4096) -> L4:
    """Boot ``program(l4, *args)`` as the root task, run to the end; the kernel."""
    k = L4(Machine(profile, frames=frames))
    k.boot(program, *args)
    res = k.run()
    assert res.reason == "finished", (res, k.faults, k.console)
    return k
