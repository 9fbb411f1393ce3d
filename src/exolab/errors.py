"""The closed error hierarchy of exolab.

Every error exolab raises derives from :class:`ExolabError` and carries
structured fields (what was wrong, what was expected, what was found) so a
test or a tool can inspect it without parsing a message.

Interface::

    ExolabError                     root; never raised directly
      ConfigError                   bad option, unknown profile, bad parameter
      MachineError                  the simulated hardware refused an operation
        PhysicalAddressError        frame or physical address out of range
        PrivilegeError              a kernel-only operation attempted in user mode
        DiskImageError              image missing, unreadable, wrong size
        DiskRequestError            block number or buffer size out of range
        NicError                    bad frame or ring misuse
      KernelPanic                   a kernel invariant broke (a bug in a kernel)
      SimulationError               the run cannot continue (deadlock, no kernel)
      SyscallError                  a kernel refused a call (an errno-style result)
      ProgramFault                  a simulated program was killed by a fault
      VerifyError                   untrusted code was rejected before it ran
      ContractError                 a channel contract is malformed (file, line, col,
                                    expected, found)
        ContractViolation           a send/receive its contract's state does not allow
                                    (contract, state, side, message, expected)

Errors a *simulated program* causes never escape as Python tracebacks to the
user: kernels turn them into :class:`SyscallError` results or
:class:`ProgramFault` records of the offending program.

Helpers (not in ``__all__``: the hierarchy stays closed): ``safe_str(x)``,
``safe_repr(x)`` and ``type_name(x)`` render a value a program handed in without running code that
may raise (a hostile ``__str__``/``__repr__``/``__format__``); an error's
``str()`` uses them for its fields, so formatting an error never raises.
``safe_repr`` runs no program code at all and is bounded: builtin values are cut
to size (``reprlib``), other objects shown by type name, so a ten-million-item
list costs what its first few items do (it rendered whole before, in kernel
mode, on error paths that then cut the text to 60 characters).
"""
from __future__ import annotations

import reprlib
from typing import Any

from exolab.hostint import host_interrupted
from exolab.safe.sealed import Sealed

__all__ = [
    "ExolabError", "ConfigError", "MachineError", "PhysicalAddressError",
    "PrivilegeError", "DiskImageError", "DiskRequestError", "NicError",
    "KernelPanic", "SimulationError", "SyscallError", "ProgramFault", "VerifyError",
    "ContractError", "ContractViolation",
]


def _render(x: Any, how: Any) -> str:
    """``how(x)`` as an exact ``str``; a placeholder if rendering raised."""
    try:
        s = how(x)
        return s if type(s) is str else "".join([s])
    except BaseException as ex:     # a program's object: anything may come out
        if type(ex) is KeyboardInterrupt and host_interrupted():
            raise
        return f"<unprintable {type_name(x)}>"


def type_name(x: Any) -> str:
    """The name of ``x``'s class, read past any metaclass trickery (never raises)."""
    try:
        name = type.__dict__["__name__"].__get__(type(x))
        return name if type(name) is str else "".join([name])
    except BaseException:
        return "object"


def safe_str(x: Any) -> str:
    """``str(x)``, or a placeholder when ``x`` cannot be rendered (never raises)."""
    return x if type(x) is str else _render(x, str)


_PLAIN = frozenset({int, bool, float, complex, str, bytes, bytearray, type(None), list,
                    tuple, dict, set, frozenset, range})


class _Bounded(reprlib.Repr):
    """reprlib's bounded rendering, dispatched on the exact type: a builtin value is
    shown cut to size, anything else (a program's class, a subclass of a builtin) as
    ``<TypeName>``, so no program code runs and a huge value costs what its shown
    part does."""

    def repr1(self, x: Any, level: int) -> str:
        if type(x) in _PLAIN:
            return super().repr1(x, level)
        return f"<{type_name(x)}>"


_BOUNDED = _Bounded()
_BOUNDED.maxstring = _BOUNDED.maxother = 240     # a long path shows whole
_BOUNDED.maxlong = 60
_BOUNDED.maxlist = _BOUNDED.maxtuple = _BOUNDED.maxset = _BOUNDED.maxfrozenset = 64
_BOUNDED.maxdict = 32                           # a table of choices shows whole


def safe_repr(x: Any) -> str:
    """``repr(x)`` of a builtin value, bounded (long strings, ints and containers
    cut, with ``...``); ``<TypeName>`` for any other object; never raises."""
    return _render(x, _BOUNDED.repr)


class ExolabError(Exception, metaclass=Sealed):
    """Root of every exolab error; ``fields`` holds the structured details."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)

    def __str__(self) -> str:
        if not self.fields:
            return self.message
        detail = ", ".join(f"{k}={safe_repr(v)}" for k, v in self.fields.items())
        return f"{safe_str(self.message)} ({detail})"


class ConfigError(ExolabError):
    """A configuration value (profile, option, size) is not acceptable."""


class MachineError(ExolabError):
    """The simulated hardware refused an operation."""


class PhysicalAddressError(MachineError):
    """A frame number or physical address lies outside physical memory."""


class PrivilegeError(MachineError):
    """A kernel-mode-only operation was attempted in user mode."""


class DiskImageError(MachineError):
    """The disk image file is missing, unreadable, or of the wrong size."""


class DiskRequestError(MachineError):
    """A disk request names a block or a buffer size out of range."""


class NicError(MachineError):
    """A frame is malformed or a NIC ring is misused."""


class KernelPanic(ExolabError):
    """A kernel invariant does not hold: a bug in the kernel, not the program."""


class SimulationError(ExolabError):
    """The simulation cannot continue (for example every thread is blocked)."""


class SyscallError(ExolabError):
    """A kernel refused a call; ``errno`` names the reason (EBADF, EFAULT, ...)."""

    def __init__(self, errno: str, message: str, **fields: Any) -> None:
        super().__init__(message, errno=errno, **fields)


class ProgramFault(ExolabError):
    """A simulated program was stopped by a fault it caused (``cause``, ``vaddr``)."""


class VerifyError(ExolabError):
    """Untrusted code was rejected by :mod:`exolab.safe` (``file``, ``line``, ``col``,
    ``construct``, ``policy``)."""

    def __init__(self, construct: str, *, file: str = "<program>", line: int = 0,
                 col: int = 0, policy: str = "program", why: str = "") -> None:
        super().__init__(f"{file}:{line}:{col}: {construct} is not allowed"
                         + (f" ({why})" if why else ""),
                         file=file, line=line, col=col, construct=construct,
                         policy=policy)

    def __str__(self) -> str:
        return safe_str(self.message) + f" [policy {safe_str(self.fields['policy'])}]"


class ContractError(ExolabError):
    """A channel contract is malformed: ``file``, ``line``, ``col`` (1-based; 0 when
    the error has no place), ``expected`` (what would have been acceptable) and
    ``found`` (what was there)."""

    def __init__(self, what: str, *, file: str = "<contract>", line: int = 0,
                 col: int = 0, expected: str = "", found: str = "") -> None:
        super().__init__(f"{file}:{line}:{col}: {what}"
                         + (f"; expected {expected}" if expected else ""),
                         file=file, line=line, col=col, expected=expected, found=found)

    def __str__(self) -> str:
        found = self.fields.get("found", "")
        return safe_str(self.message) + (f" (found {safe_str(found)})" if found else "")


class ContractViolation(ContractError):
    """A message the contract's current state does not allow, refused before anything
    moved: ``contract``, ``state`` (the endpoint's state name), ``side`` ("Exp" or
    "Imp"), ``msg`` (the message's name, rendered safely; also ``fields["message"]``:
    ``.message`` is the text, as for every error), ``op`` ("send", "receive", or
    "args" for arguments that do not match the declaration), ``expected`` (the
    messages or the argument kind allowed); ``file`` is ``"<channel>"`` and
    ``line``/``col`` 0, so a handler of ContractError reads every field it knows."""

    def __init__(self, *, contract: str, state: str, side: str, message: str, op: str,
                 expected: tuple[str, ...] | str, **more: Any) -> None:
        allowed = expected if type(expected) is str else ", ".join(expected) or "nothing"
        if op == "args":
            text = f"contract {contract}: message {message} needs {allowed}"
        else:
            text = (f"contract {contract}: {side} in state {state} may not {op} "
                    f"{message} (allowed: {allowed})")
        more.setdefault("found", message)
        ExolabError.__init__(self, text, contract=contract, state=state, side=side,
                             msg=message, op=op, expected=expected, file="<channel>",
                             line=0, col=0, **more)
        self.fields["message"] = message

    def __str__(self) -> str:
        return safe_str(self.message)
