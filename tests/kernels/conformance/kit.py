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
    needs(kernel, *features)        skip the calling test (reason: the refused feature)
                                    unless ``kernel`` provides every feature (ABI call,
                                    extension or "exception:<kind>"; a typo is an error)
    refused(kernel, *features) -> list[str]      the features ``kernel`` declares refused
    SAMPLED                         the calls sample_args has arguments for
    exception_kind(feature) -> str | None        "exception:<kind>" -> kind
    sample_args(os, call) -> tuple  valid arguments for ABI ``call`` (the refusal test
                                    calls each refused call with them)
    leftovers(k) -> dict            what a finished run left: processes, frames beyond
                                    those kept by design (all zero when nothing leaked)
"""
from __future__ import annotations

from typing import Any

import pytest

from exolab.abi import O_CREAT, O_RDWR, PROT_RW, SEEK_SET
from exolab.errors import SyscallError
from exolab.kernels import Declaration, KernelStats, declaration, kernel_names
from exolab.kernels.common.contract import EXCEPTION_PREFIX, NO_DECLARATION
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


def refused(kernel: str, *features: str) -> list[str]:
    """The ``features`` that ``kernel`` declares it refuses (ENOSYS), in order."""
    unknown = [f for f in features if not NO_DECLARATION.provides([f])
               and f not in declared(kernel).extensions]
    assert not unknown, f"not an ABI call, extension or exception kind: {unknown}"
    return [f for f in features if f in declared(kernel).refuses]


def needs(kernel: str, *features: str) -> None:
    """Skip the calling test unless ``kernel`` provides every one of ``features``.

    The refusal itself is what ``test_refused_calls_are_enosys`` and
    ``test_refused_exceptions_are_enosys_and_the_others_are_delivered`` prove.
    """
    missing = refused(kernel, *features)
    if missing:
        pytest.skip(f"{kernel} declares it refuses {', '.join(missing)} (ENOSYS)")


def _nothing(os: Any, *args: Any) -> None:
    """A program or handler that does nothing."""


def _page(os: Any) -> int:
    """A mapped page of the caller (0 if the kernel refuses mmap)."""
    try:
        return int(os.mmap(4096))
    except SyscallError:
        return 0


def _socket(os: Any) -> int:
    """A bound UDP socket of the caller (3 if the kernel has no sockets here)."""
    try:
        fd = int(os.socket("udp"))
        os.bind(fd, 0)
        return fd
    except SyscallError:
        return 3


#: call -> builds valid arguments on a running personality
_SAMPLES: dict[str, Any] = {
    "fork": lambda os: (_nothing,),
    "spawn": lambda os: (_nothing,),
    "thread_create": lambda os: (_nothing,),
    "shm_create": lambda os: (8192,),
    "shm_attach": lambda os: (1,),
    "shm_detach": lambda os: (_page(os),),
    "mmap": lambda os: (4096,),
    "munmap": lambda os: (_page(os), 4096),
    "mprotect": lambda os: (_page(os), 4096, PROT_RW),
    "dirty": lambda os: (_page(os),),
    "set_fault_handler": lambda os: (_nothing,),
    "pipe": lambda os: (),
    # the file calls (abi.FILE_CALLS): valid calls; where files exist each fails,
    # if at all, with an errno other than ENOSYS
    "open": lambda os: ("/kit-sample", O_CREAT | O_RDWR, 0o644),
    "lseek": lambda os: (0, 0, SEEK_SET),
    "fsync": lambda os: (0,),
    "unlink": lambda os: ("/kit-sample",),
    "rename": lambda os: ("/kit-none", "/kit-none2"),
    "mkdir": lambda os: ("/kit-dir", 0o755),
    "rmdir": lambda os: ("/kit-dir",),
    "listdir": lambda os: ("/",),
    "stat": lambda os: ("/",),
    "socket": lambda os: ("udp",),
    "bind": lambda os: (_socket(os), 0),
    "sendto": lambda os: (_socket(os), b"x", "10.0.0.1", 7),
    "recvfrom": lambda os: (_socket(os), 0),
}


SAMPLED = tuple(sorted(_SAMPLES))


def sample_args(os: Any, call: str) -> tuple[Any, ...]:
    """Valid arguments for ABI ``call`` on personality ``os`` (a table per call)."""
    build = _SAMPLES.get(call)
    assert build is not None, f"no sample arguments for {call!r}: add them to kit._SAMPLES"
    args: tuple[Any, ...] = build(os)
    return args


def exception_kind(feature: str) -> str | None:
    """The kind of an "exception:<kind>" feature, or None for a call."""
    return feature[len(EXCEPTION_PREFIX):] if feature.startswith(EXCEPTION_PREFIX) else None
