"""exolab.kernels: one package per kernel design, and the registry of them.

Every product kernel satisfies :class:`Kernel` (the contract,
:mod:`exolab.kernels.common.contract`): it is constructed on a
:class:`~exolab.machine.Machine`, installs the vectors the CPU calls, boots a
first program written against :mod:`exolab.abi`, runs, and reports console
output, faults and a :class:`KernelStats` record; its ``declaration`` says
what it refuses (ENOSYS), what it adds, its path costs and its limits.
``tiny`` is a machine test driver, not a product kernel, and is not listed.
A new kernel is its own package plus one line in :data:`KERNELS`.

Interface::

    Kernel, Vectors, Declaration        the contract (typing.Protocol / record)
    KernelStats, AS_LEVEL               the common statistics record, level marks
    KERNELS                             name -> "module:Class"
    kernel_names() -> list[str]
    kernel_class(name) -> type          declaration(name) -> Declaration
    make_kernel(name, machine, **options) -> Kernel
"""
from __future__ import annotations

import importlib
from typing import Any

from exolab.errors import ConfigError
from exolab.kernels.common.contract import (Declaration, Kernel, Vectors,
                                            declaration_of)
from exolab.kernels.common.stats import AS_LEVEL, KernelStats

__all__ = ["Kernel", "Vectors", "Declaration", "KernelStats", "AS_LEVEL", "KERNELS",
           "kernel_names", "kernel_class", "declaration", "make_kernel"]

#: kernel name -> "module:Class"; later kernels add one line each
KERNELS: dict[str, str] = {
    "monolithic": "exolab.kernels.monolithic:MonolithicKernel",
    "exokernel": "exolab.kernels.exokernel:Aegis",
    "singularity": "exolab.kernels.singularity:Singularity",
    "mach": "exolab.kernels.mach:MachKernel",
    "l4": "exolab.kernels.l4.system:L4System",
    "spin": "exolab.kernels.spin:Spin",
}


def kernel_names() -> list[str]:
    """Names of the product kernels, in registry order."""
    return list(KERNELS)


def kernel_class(name: str) -> type:
    """The class registered as ``name`` (ConfigError for an unknown name)."""
    target = KERNELS.get(name)
    if target is None:
        raise ConfigError("unknown kernel", name=name, expected=kernel_names())
    module, _, cls = target.partition(":")
    found: type = getattr(importlib.import_module(module), cls)
    return found


def declaration(name: str) -> Declaration:
    """What kernel ``name`` declares it refuses, adds and bounds."""
    return declaration_of(kernel_class(name))


def make_kernel(name: str, machine: Any, **options: Any) -> Kernel:
    """Construct kernel ``name`` on ``machine`` (ConfigError for an unknown name)."""
    kernel: Kernel = kernel_class(name)(machine, **options)
    return kernel
