"""Personality: the ABI calls every kernel provides the same way.

A kernel's personality (the monolithic kernel's libc, ExOS, ...) subclasses
:class:`Personality` and implements only what differs; what is shared is here,
decoded once:

    time, compute, print      the cycle counter, a user-mode burst, a line to fd 1
    random(n)                 bytes from the machine's seeded generator
    trigger(kind)             decode the kind, ask the kernel's cause, fault
    load, store, load_bytes, store_bytes
                              decode the operands, then the MMU (a fault is a fault)

Cost hooks a kernel may override (each returns cycles, read at construction or
per call as noted): :meth:`clock_cost` (reading the cycle counter),
:meth:`trigger_cost` (the faulting instruction), :meth:`random_cost` (per call:
reading ``n`` bytes from the random device). Kernel hook: :meth:`exception_cause`
(the CPU cause and address ``trigger`` raises; ENOSYS by default).

A subclass's ABI calls must take exactly the ABI's parameters (names, kinds,
defaults): a call with the wrong arguments is then the same Python
``TypeError`` on every kernel, raised before anything runs (docs/abi.md).
:func:`check_signatures` enforces this when a subclass is defined.

Interface::

    Personality(cpu)                    subclass of exolab.abi.ABI (still abstract)
      clock_cost() trigger_cost() random_cost(n) exception_cause(kind)
    check_signatures(cls)               ConfigError unless cls's calls match the ABI's
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Protocol

from exolab.abi import ABI, ACCESS_SIZES, MAX_COMPUTE, TRIGGERED, as_bytes
from exolab.errors import ConfigError, SyscallError, safe_str
from exolab.kernels.common.args import cycles as _cycles
from exolab.kernels.common.args import exception_kind, random_count, shown

if TYPE_CHECKING:
    from exolab.machine.cpu import Cause

__all__ = ["Personality", "ProgramCPU", "check_signatures"]


class ProgramCPU(Protocol):
    """What a personality needs of the CPU it runs on: the machine's CPU, or a
    user-mode view of it (ExOS's ``UserCPU``) with no path to physical memory."""

    profile: Any

    def charge(self, cycles: int) -> None: ...
    def now(self) -> int: ...
    def randbytes(self, n: int) -> bytes: ...
    def fault(self, cause: "Cause", vaddr: int = 0, info: Any = None) -> None: ...
    def load(self, vaddr: int, size: int = 4) -> int: ...
    def store(self, vaddr: int, value: int, size: int = 4) -> None: ...
    def load_bytes(self, vaddr: int, n: int) -> bytes: ...
    def store_bytes(self, vaddr: int, data: bytes) -> None: ...

_EXPECTED = sorted(ACCESS_SIZES)


def _params(fn: Any) -> list[tuple[str, Any, Any]]:
    """The (name, kind, default) of each parameter of ``fn`` (annotations ignored)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def _same_params(fn: Any, base: Any) -> bool:
    """Whether ``fn`` takes ``base``'s parameters (False if they cannot be read or compared)."""
    try:
        return bool(_params(fn) == _params(base))
    except Exception:               # a subclass a program wrote: anything may be in it
        return False


def check_signatures(cls: type) -> None:
    """ConfigError unless every ABI call ``cls`` defines takes the ABI's parameters."""
    for name, value in vars(cls).items():
        base = getattr(ABI, name, None)
        if name.startswith("_") or not inspect.isfunction(value) or \
                not inspect.isfunction(base):
            continue
        if not _same_params(value, base):
            raise ConfigError("a personality's call must take the ABI's parameters",
                              personality=cls.__qualname__, call=name,
                              abi=str(inspect.signature(base)))


def _bad_access(what: str, vaddr: Any, size: Any, value: Any = 0) -> SyscallError:
    """EINVAL for load/store operands that are not ints or a size not in ACCESS_SIZES."""
    return SyscallError("EINVAL", f"bad {what} operands", vaddr=shown(vaddr), size=shown(size),
                        value=shown(value), expected=_EXPECTED)


class Personality(ABI):
    """The calls every kernel provides alike, over the CPU ``cpu`` the process runs on."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        check_signatures(cls)

    def __init__(self, cpu: ProgramCPU) -> None:
        self._cpu = cpu
        self._c_clock = self.clock_cost()
        self._c_trigger = self.trigger_cost()

    # -- cost hooks --------------------------------------------------------------------

    def clock_cost(self) -> int:
        """Cycles to read the cycle counter (one instruction)."""
        return self._cpu.profile.instruction

    def trigger_cost(self) -> int:
        """Cycles of the instruction ``trigger`` executes (one instruction)."""
        return self._cpu.profile.instruction

    def random_cost(self, n: int) -> int:
        """Cycles to read ``n`` bytes from the random device: one uncached device
        load per 4-byte word, as a driver reads a hardware generator's register."""
        return self._cpu.profile.load_store * ((n + 3) >> 2)

    def exception_cause(self, kind: str) -> tuple["Cause", int]:
        """The CPU cause and faulting address with which ``trigger(kind)`` raises
        (``kind`` is decoded); ENOSYS by default: the kernel cannot raise it."""
        raise SyscallError("ENOSYS", "exception not deliverable by this kernel", kind=kind)

    # -- identity and time ---------------------------------------------------------------

    def time(self) -> int:
        self._cpu.charge(self._c_clock)
        return self._cpu.now()

    def compute(self, cycles: int) -> None:
        if type(cycles) is not int or not 0 <= cycles <= MAX_COMPUTE:   # hot: inline test,
            _cycles(cycles)                                            # the decoder's error
        self._cpu.charge(cycles)

    def print(self, *parts: Any) -> None:
        line = " ".join(safe_str(p) for p in parts) + "\n"    # (never raises)
        self.write(1, line.encode(errors="backslashreplace"))

    def random(self, n: int) -> bytes:
        n = random_count(n)
        self._cpu.charge(self.random_cost(n))
        return self._cpu.randbytes(n)

    # -- exceptions ------------------------------------------------------------------------

    def trigger(self, kind: str) -> None:
        cause, vaddr = self.exception_cause(exception_kind(kind))
        self._cpu.charge(self._c_trigger)                     # the faulting instruction
        self._cpu.fault(cause, vaddr, TRIGGERED)

    # -- the memory instructions: operands decoded inline (the hottest calls of every
    # benchmark: one exact-type test each, no decoder call), then the MMU ---------------

    def load(self, vaddr: int, size: int = 4) -> int:
        if type(vaddr) is not int or type(size) is not int or size not in ACCESS_SIZES:
            raise _bad_access("load", vaddr, size)
        return self._cpu.load(vaddr, size)

    def store(self, vaddr: int, value: int, size: int = 4) -> None:
        if type(vaddr) is not int or type(value) is not int or type(size) is not int \
                or size not in ACCESS_SIZES:
            raise _bad_access("store", vaddr, size, value)
        self._cpu.store(vaddr, value, size)

    def load_bytes(self, vaddr: int, n: int) -> bytes:
        if type(vaddr) is not int or type(n) is not int or n < 0:
            raise SyscallError("EINVAL", "load_bytes needs an int address and length >= 0",
                               vaddr=shown(vaddr), n=shown(n))
        return self._cpu.load_bytes(vaddr, n)

    def store_bytes(self, vaddr: int, data: bytes) -> None:
        if type(vaddr) is not int:
            raise SyscallError("EINVAL", "store_bytes needs an int address", vaddr=shown(vaddr))
        self._cpu.store_bytes(vaddr, data if type(data) is bytes else as_bytes(data))
