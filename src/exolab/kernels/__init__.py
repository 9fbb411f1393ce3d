"""exolab.kernels: one package per kernel design, and the registry of them.

Every product kernel satisfies :class:`Kernel`: it is constructed on a
:class:`~exolab.machine.Machine`, boots a first program written against
:mod:`exolab.abi`, runs, and reports console output, faults and statistics.
``tiny`` is a machine test driver, not a product kernel, and is not listed.

Interface::

    Kernel                      typing.Protocol every product kernel meets
    KERNELS                     name -> "module:Class"
    kernel_names() -> list[str]
    make_kernel(name, machine, **options) -> Kernel
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Protocol

from exolab.errors import ConfigError

__all__ = ["Kernel", "KERNELS", "kernel_names", "make_kernel"]

#: kernel name -> "module:Class"; later kernels add one line each
KERNELS: dict[str, str] = {
    "monolithic": "exolab.kernels.monolithic:MonolithicKernel",
    "exokernel": "exolab.kernels.exokernel:Aegis",
}


class Kernel(Protocol):
    """What the harness, the CLI and the tests need from a kernel."""

    name: str
    console: list[str]                  # lines the programs printed, in order
    faults: list[tuple[int, str, Any]]  # (pid, what, where) of stopped programs

    def boot(self, program: Callable[..., Any], *args: Any, name: str = "init") -> Any:
        """Create the first process running ``program(os, *args)``."""
        ...

    def run(self, until: int | None = None) -> Any:
        """Run the machine; return its RunResult."""
        ...

    def statistics(self) -> Any:
        """Return a frozen record of kernel counters."""
        ...


def kernel_names() -> list[str]:
    """Names of the product kernels, in registry order."""
    return list(KERNELS)


def make_kernel(name: str, machine: Any, **options: Any) -> Kernel:
    """Construct kernel ``name`` on ``machine`` (ConfigError for an unknown name)."""
    target = KERNELS.get(name)
    if target is None:
        raise ConfigError("unknown kernel", name=name, expected=kernel_names())
    module, _, cls = target.partition(":")
    kernel: Kernel = getattr(importlib.import_module(module), cls)(machine, **options)
    return kernel
