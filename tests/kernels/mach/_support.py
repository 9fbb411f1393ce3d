"""Helpers of the mach kernel's tests: boot programs on a fresh kernel, find a port."""
from __future__ import annotations

from typing import Any, Callable

from exolab.errors import SyscallError
from exolab.kernels.mach import MachKernel
from exolab.machine.machine import Machine


def boot(main: Callable[..., Any], *args: Any, profile: str = "dec5000") -> MachKernel:
    """Run ``main(os, *args)`` to the end on a fresh Mach kernel; return the kernel."""
    k = MachKernel(Machine(profile))
    k.boot(main, *args)
    k.run()
    k.machine.close()
    return k


def lookup(os: Any, name: str) -> int:
    """The send right registered as ``name``, yielding until it is registered."""
    while True:
        try:
            return os.port_lookup(name)
        except SyscallError:
            os.yield_()
