"""The run-time hooks verified code calls: fuel ticks and the program's stack depth.

``tick()`` counts loop iterations. Every :data:`FUEL` ticks it looks at the
active machine's clock; if simulated time has not advanced since the last
look, the program is stopped with :class:`Exhausted` ("loop made no progress
in simulated time"). A tick never charges a cycle, so no cycle count changes.

Verified functions count their frames per greenlet (one greenlet per
simulated thread, so the count follows the thread through every switch for
free) in a dict, inlined by :mod:`exolab.safe.instrument`; ``enter()`` and
``leave()`` do the same as calls. Program code may use at most :data:`PROGRAM_DEPTH` frames; while a
machine runs, the interpreter's limit is raised to leave
:data:`KERNEL_HEADROOM` frames above that for kernel paths, which run on the
program's stack.

:class:`Exhausted` derives from ``BaseException`` on purpose, like the
CPU's ``ThreadExit``: verified code cannot name ``BaseException`` nor write
a bare ``except``, so it cannot catch it; the CPU's fault boundary turns it
into a fault of the program.

Interface::

    FUEL, PROGRAM_DEPTH, KERNEL_HEADROOM
    Exhausted(message)                 a program ran out of fuel or of stack
    tick() -> True; look() -> True; enter(); leave(); deep()
    guard_pow(a, b), guard_shl(a, b), guard_rep(a, b)   `**`, `<<`, sequence `*`
                                       with constant-time size checks (MAX_BITS, MAX_ITEMS)
    metered(machine)                   context manager: Machine.run activates its meter
    namespace(name) -> dict            fresh globals for verified code
"""
from __future__ import annotations

import builtins
import importlib
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from greenlet import getcurrent

from exolab.safe.policy import IMPORTS, PROGRAM, Policy

__all__ = ["FUEL", "PROGRAM_DEPTH", "KERNEL_HEADROOM", "Exhausted", "tick", "look", "deep", "enter", "guard_pow", "guard_shl", "guard_rep",
           "MAX_BITS", "MAX_ITEMS",
           "leave", "metered", "namespace", "MARKER"]

FUEL = 5_000_000            # ticks between two looks at the clock
PROGRAM_DEPTH = 256         # verified frames a simulated thread may hold
KERNEL_HEADROOM = 4000      # interpreter frames left for kernel paths above that
MARKER = "__exolab_verified__"  # in the globals of every verified function

_NO_LOOK = object()


class Exhausted(BaseException):
    """A verified program ran out of fuel or of stack; uncatchable by verified code."""


class _Meter:
    """The fuel state: ticks left, the clock to watch, what it read last."""

    __slots__ = ("left", "clock", "seen")

    def __init__(self) -> None:
        self.left = FUEL
        self.clock: Any = None
        self.seen: Any = _NO_LOOK


_meter = _Meter()


def tick() -> bool:
    """Count one loop iteration; every FUEL ticks, stop a program making no progress."""
    m = _meter
    m.left -= 1
    if m.left > 0:
        return True
    return _look(m)


def look() -> bool:
    """The slow half of an inlined tick: the fuel ran down (see :func:`_look`)."""
    return _look(_meter)


def _look(m: _Meter) -> bool:
    """Refuel if the clock advanced since the last look, else raise Exhausted."""
    now = m.clock.now if m.clock is not None else None
    m.left = FUEL
    if now == m.seen:
        raise Exhausted(f"loop made no progress in simulated time ({FUEL:,} iterations)")
    m.seen = now
    return True


_depths: dict[Any, int] = {}     # greenlet -> verified frames it holds


def deep() -> None:
    """Stop a program whose stack passed PROGRAM_DEPTH verified frames."""
    raise Exhausted(f"program stack deeper than {PROGRAM_DEPTH} frames")


def enter() -> None:
    """Count one more verified frame on this thread (Exhausted past PROGRAM_DEPTH)."""
    g = getcurrent()
    d = _depths.get(g, 0) + 1
    if d > PROGRAM_DEPTH:
        deep()
    _depths[g] = d


def leave() -> None:
    """Count one verified frame less on this thread."""
    g = getcurrent()
    _depths[g] -= 1


MAX_BITS = 1 << 26          # largest int `**` or `<<` may build (8 MiB)
MAX_ITEMS = 1 << 24         # largest sequence repetition may build (items)
_SEQUENCES = (str, bytes, bytearray, list, tuple)


def _too_large(op: str, size: int) -> None:
    """Fault the program: one operation would build a value of ``size`` bits or items."""
    from exolab.errors import ProgramFault
    raise ProgramFault(f"{op} would build a value too large for the host", op=op, size=size)


def guard_pow(a: Any, b: Any) -> Any:
    """``a ** b``, faulting before an int result would exceed MAX_BITS (constant time)."""
    if isinstance(a, int) and type(b) is int and b > 1:
        bits = int.bit_length(a)
        if bits > 1 and bits * b > MAX_BITS:
            _too_large("**", bits * b)
    return a ** b


def guard_shl(a: Any, b: Any) -> Any:
    """``a << b``, faulting before the result would exceed MAX_BITS (constant time)."""
    if isinstance(a, int) and type(b) is int and b > 0 and a and int.bit_length(a) + b > MAX_BITS:
        _too_large("<<", int.bit_length(a) + b)
    return a << b


def guard_rep(a: Any, b: Any) -> Any:
    """``a * b``, faulting before a repeated sequence would exceed MAX_ITEMS."""
    seq, n = (a, b) if type(a) in _SEQUENCES else (b, a)
    if type(seq) in _SEQUENCES and isinstance(n, int) and n > 1 \
            and len(seq) * n > MAX_ITEMS:
        _too_large("*", len(seq) * n)
    return a * b


def guard_builtin_pow(a: Any, b: Any, mod: Any = None) -> Any:
    """The builtin ``pow`` for verified code: two-argument powers are guarded."""
    return guard_pow(a, b) if mod is None else pow(a, b, mod)


def _stack_depth() -> int:
    """The number of Python frames below the caller."""
    n, f = 0, sys._getframe(1)
    while True:
        n, back = n + 1, f.f_back
        if back is None:
            return n
        f = back


@contextmanager
def metered(machine: Any) -> Iterator[None]:
    """Watch ``machine``'s clock for fuel, with kernel headroom on the stack, while inside."""
    m = _meter
    saved = (m.left, m.clock, m.seen)
    m.left, m.clock, m.seen = FUEL, machine.clock, _NO_LOOK
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _stack_depth() + PROGRAM_DEPTH + KERNEL_HEADROOM))
    try:
        yield
    finally:
        m.left, m.clock, m.seen = saved
        sys.setrecursionlimit(limit)
        _depths.clear()     # (a paused thread's frames still count down from their own)


def _importer(policy: Policy) -> Any:
    """An ``__import__`` that admits only the policy's allowlisted names."""
    def restricted_import(name: str, globals: Any = None, locals: Any = None,
                          fromlist: Any = (), level: int = 0) -> Any:
        allowed = IMPORTS.get(name) if type(name) is str and level == 0 else None
        names = tuple(fromlist or ())
        if allowed is None or not names or not all(
                type(n) is str and not n.startswith("_")
                and (n in allowed or "*" in allowed) for n in names):
            from exolab.errors import VerifyError
            raise VerifyError(f"import of {name!r}", why="not on the allowlist")
        return importlib.import_module(name)
    return restricted_import


def namespace(name: str, policy: Policy = PROGRAM) -> dict[str, Any]:
    """Fresh module globals for verified code: restricted builtins, the hooks, the marker."""
    b = {n: getattr(builtins, n) for n in policy.builtins if hasattr(builtins, n)}
    b["__build_class__"] = builtins.__build_class__
    if "pow" in b:
        b["pow"] = guard_builtin_pow
    b["__import__"] = _importer(policy)
    return {"__name__": name, "__builtins__": b, MARKER: True,
            "__exolab_tick__": tick, "__exolab_enter__": enter,
            "__exolab_leave__": leave, "__exolab_fuel__": _meter, "__exolab_look__": look,
            "__exolab_current__": getcurrent, "__exolab_depths__": _depths,
            "__exolab_deep__": deep, "__exolab_pow__": guard_pow,
            "__exolab_shl__": guard_shl, "__exolab_rep__": guard_rep}
