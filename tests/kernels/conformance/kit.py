"""The conformance kit's support: which kernels it runs on, and their declared differences.

Every test of this package takes a ``kernel`` argument and runs on every kernel
of the registry (:data:`exolab.kernels.KERNELS`) plus :data:`THROWAWAY`, a
kernel built from an existing one under another name and registered only while
the kit runs: the proof that a new kernel is covered unchanged. What a kernel
legitimately does differently is read from its declaration
(:class:`exolab.kernels.Declaration`), never decided from its name.

Interface::

    THROWAWAY, Throwaway            the throwaway kernel's name and class
    kit_kernels() -> list[str]      registered kernels + the throwaway
    declared(kernel) -> Declaration
    raw_entry(os, kernel) -> callable | None     the personality's raw kernel entry
    leftovers(k) -> dict            what a finished run left: processes, frames beyond
                                    those kept by design (all zero when nothing leaked)
"""
from __future__ import annotations

from typing import Any

from exolab.kernels import Declaration, KernelStats, declaration, kernel_names
from exolab.kernels.monolithic import MonolithicKernel

THROWAWAY = "mono2"


class Throwaway(MonolithicKernel):
    """The monolithic kernel under another name: a "new" kernel the kit must cover."""

    name = THROWAWAY


def kit_kernels() -> list[str]:
    """The kernels every kit test runs on: the registry's, then the throwaway."""
    return [k for k in kernel_names() if k != THROWAWAY] + [THROWAWAY]


def declared(kernel: str) -> Declaration:
    """What ``kernel`` declares it refuses, adds and bounds."""
    return declaration(kernel)


def raw_entry(os: Any, kernel: str) -> Any:
    """The personality's raw kernel entry (its declaration names it), or None."""
    name = declared(kernel).raw_entry
    return None if name is None else getattr(os, name)


def leftovers(k: Any) -> dict[str, int]:
    """What a finished run left behind, from the kernel's common statistics."""
    st = k.statistics()
    assert isinstance(st, KernelStats), type(st)
    return {"processes": st.process_slots, "live": st.processes_live,
            "frames": st.frames_in_use - st.frames_retained}
