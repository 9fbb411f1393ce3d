"""The kernel contract: what the machine, the harness and the kit need from a kernel.

A product kernel is a class constructed as ``Kernel(machine, **options)``. The
machine calls its *vectors* (:class:`Vectors`, installed with
``cpu.install(kernel)``); the harness, the CLI and the benchmarks use the rest
of :class:`Kernel`. What a kernel legitimately does differently from the ABI
it is declared once, in its class attribute ``declaration``
(:class:`Declaration`): the ABI features it refuses with ENOSYS, its calls
beyond the ABI, the personality's raw kernel entry, the module that holds its
software path costs, and its limits. The conformance kit and the benchmark
suites read that declaration; nothing else names a kernel to decide what to
expect of it.

A refused feature is an ABI call name (``"shm_create"``) or an exception kind
as ``"exception:<kind>"`` (``set_exception_handler``/``trigger`` of that kind
fail with ENOSYS).

Interface::

    Vectors                     typing.Protocol: on_trap, on_exception, on_tlb_miss,
                                on_interrupt, on_idle, on_thread_exit
    Kernel                      typing.Protocol: Vectors + name, trap_names, declaration,
                                console, faults, boot, run, statistics
    Declaration(refuses=frozenset(), extensions=frozenset(), raw_entry=None,
                paths=None, limits={})
      refuses_exception(kind) -> bool        provides(features) -> bool
    NO_DECLARATION                            what a class without one declares
    declaration_of(kernel_or_class) -> Declaration
    VECTORS                                   the vector names, in CPU order
    contract_errors(cls) -> list[str]         what ``cls`` lacks of the contract
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Protocol

from exolab.abi import ABI, EXCEPTION_KINDS

__all__ = ["Vectors", "Kernel", "Declaration", "NO_DECLARATION", "declaration_of",
           "VECTORS", "contract_errors", "EXCEPTION_PREFIX"]

#: the prefix of a refused exception kind in :attr:`Declaration.refuses`
EXCEPTION_PREFIX = "exception:"
#: the entry points the CPU and the machine call
VECTORS = ("on_trap", "on_exception", "on_tlb_miss", "on_interrupt", "on_idle",
           "on_thread_exit")


class Vectors(Protocol):
    """The entry points the machine calls (see :mod:`exolab.machine.cpu`)."""

    def on_trap(self, cpu: Any, number: int, args: tuple[Any, ...]) -> Any:
        """A program's trap (system call): decode, run, return its result."""
        ...

    def on_exception(self, cpu: Any, cause: Any, vaddr: int, info: Any) -> None:
        """A synchronous exception of the running thread."""
        ...

    def on_tlb_miss(self, cpu: Any, vaddr: int, write: bool) -> None:
        """A TLB miss: refill the TLB, or fault the program."""
        ...

    def on_interrupt(self, cpu: Any, irq: int) -> None:
        """A device interrupt (timer, disk, NIC, software)."""
        ...

    def on_idle(self, cpu: Any) -> bool:
        """The CPU has nothing running: dispatch a thread (True) or stay idle."""
        ...

    def on_thread_exit(self, cpu: Any, thread: Any) -> None:
        """A thread's body ended."""
        ...


def _frozen_limits(limits: Mapping[str, int]) -> Mapping[str, int]:
    """A read-only copy of a limits mapping."""
    return MappingProxyType(dict(limits))


@dataclass(frozen=True, slots=True)
class Declaration:
    """How a kernel differs from the bare ABI, declared once beside its class."""

    refuses: frozenset[str] = frozenset()       # ABI calls / "exception:kind": ENOSYS
    extensions: frozenset[str] = frozenset()    # personality calls beyond the ABI
    raw_entry: str | None = None                # personality attribute: the raw trap
    paths: str | None = None                    # module holding the software path costs
    limits: Mapping[str, int] = field(default_factory=dict)   # name -> bound

    def __post_init__(self) -> None:
        object.__setattr__(self, "refuses", frozenset(self.refuses))
        object.__setattr__(self, "extensions", frozenset(self.extensions))
        object.__setattr__(self, "limits", _frozen_limits(self.limits))

    def refuses_exception(self, kind: str) -> bool:
        """Whether exceptions of ``kind`` are declared undeliverable (ENOSYS)."""
        return EXCEPTION_PREFIX + kind in self.refuses

    def provides(self, features: Iterable[str]) -> bool:
        """Whether every feature (ABI call, extension or "exception:kind") is there."""
        return all(f not in self.refuses and (f in self.extensions or _is_abi(f))
                   for f in features)


def _is_abi(feature: str) -> bool:
    """Whether ``feature`` is part of the ABI every kernel provides."""
    if feature.startswith(EXCEPTION_PREFIX):
        return feature[len(EXCEPTION_PREFIX):] in EXCEPTION_KINDS
    return callable(getattr(ABI, feature, None))


NO_DECLARATION = Declaration()


def declaration_of(kernel: Any) -> Declaration:
    """The declaration of a kernel (instance or class); NO_DECLARATION if it has none."""
    decl = getattr(kernel, "declaration", None)
    return decl if type(decl) is Declaration else NO_DECLARATION


class Kernel(Vectors, Protocol):
    """What the harness, the CLI and the tests need from a product kernel."""

    name: str
    trap_names: Mapping[int, str]       # trap number -> call name (traces)
    declaration: Declaration
    console: list[str]                  # lines the programs printed, in order
    faults: list[tuple[int, str, Any]]  # (pid, what, where) of stopped programs

    def boot(self, program: Callable[..., Any], *args: Any, name: str = "init") -> Any:
        """Create the first process running ``program(os, *args)``."""
        ...

    def run(self, until: int | None = None) -> Any:
        """Run the machine; return its RunResult."""
        ...

    def statistics(self) -> Any:
        """Return a frozen record of kernel counters (a KernelStats subclass)."""
        ...


def contract_errors(cls: type) -> list[str]:
    """What class ``cls`` lacks of the kernel contract (empty: it meets it)."""
    errors = [f"no vector {v}" for v in VECTORS if not callable(getattr(cls, v, None))]
    errors += [f"no method {m}" for m in ("boot", "run", "statistics")
               if not callable(getattr(cls, m, None))]
    if type(getattr(cls, "name", None)) is not str:
        errors.append("no name")
    names = getattr(cls, "trap_names", None)
    if not isinstance(names, Mapping) or not all(
            type(k) is int and type(v) is str for k, v in names.items()):
        errors.append("trap_names is not a mapping of int to str")
    decl = getattr(cls, "declaration", None)
    if type(decl) is not Declaration:
        errors.append("no declaration")
    else:
        errors += _declaration_errors(decl)
    return errors


def _declaration_errors(decl: Declaration) -> list[str]:
    """What is wrong with a declaration: unknown refusals, a paths module missing."""
    errors = [f"refuses {r!r}, which is not in the ABI" for r in sorted(decl.refuses)
              if not _is_abi(r)]
    errors += [f"extension {e!r} is an ABI call" for e in sorted(decl.extensions)
               if _is_abi(e)]
    errors += [f"limit {k!r} is not a positive int" for k, v in decl.limits.items()
               if type(v) is not int or v <= 0]
    if decl.paths is not None:
        try:
            importlib.import_module(decl.paths)
        except ImportError:
            errors.append(f"paths module {decl.paths!r} does not import")
    return errors
