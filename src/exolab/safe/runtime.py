"""The run-time hooks verified code calls: fuel ticks and the program's stack depth.

``tick()`` counts loop iterations. Every :data:`FUEL` ticks it looks at the
active machine's clock; if simulated time has not advanced since the last
look, the program is stopped with :class:`Exhausted` ("loop made no progress
in simulated time"). A tick never charges a cycle, so no cycle count changes.

A loop of long C operations (``while True: big.count(0)``) ticks too rarely
for that rule to come soon, so a watchdog thread takes the fuel back every
:data:`WATCH_PERIOD` s: the next tick looks, gives the ticks back (the tick
windows, and the deterministic rule, are unchanged) and applies the host rule
alone: a clock that stood still for :data:`HOST_STALL` s of host CPU time
stops the program. That rule is the one fault that depends on the host's
speed; no program that makes simulated progress more often than every 10 s of
host CPU ever meets it. The watchdog also reads the process's resident
memory: past :data:`HOST_MEMORY` (three quarters of the host's), the next
look stops the running program (a program that grows host memory without
simulated progress is the one running), and the limit moves above what is
left, so the next program is stopped only if memory keeps growing.

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

A kernel that runs downloaded code inside one of its calls (XN's templates)
runs it under :func:`allowance`: the code gets ``n`` ticks of its own, is
stopped with :class:`Exhausted` when they run out (whatever the clock did),
and the kernel learns how many it spent (to charge them); the enclosing
program's fuel window is left as it was.

Interface::

    FUEL, PROGRAM_DEPTH, KERNEL_HEADROOM, HOST_STALL, WATCH_PERIOD
    Exhausted(message)                 a program ran out of fuel or of stack
    tick() -> True; look() -> True; enter(); leave(); deep()
    charge(n)                          spend n ticks at once (exolab.safe.guards)
    allowance(n) -> Spent              context manager: at most n ticks; Spent.ticks after
    statistics() -> dict               looks, forced_looks, host_stalls, host_memory
    host_memory() -> int | None        this process's resident bytes; HOST_MEMORY
    metered(machine)                   context manager: Machine.run activates its meter
    namespace(name) -> dict            fresh globals for verified code
"""
from __future__ import annotations

import builtins
import importlib
import os
import sys
import threading
import time
import types
from contextlib import contextmanager
from typing import Any, Iterator

from greenlet import getcurrent

from exolab.safe.policy import IMPORTS, PROGRAM, Policy

__all__ = ["FUEL", "PROGRAM_DEPTH", "KERNEL_HEADROOM", "Exhausted", "tick", "look", "deep", "enter", "charge", "statistics",
           "HOST_STALL", "WATCH_PERIOD", "HOST_MEMORY", "host_memory",
           "leave", "metered", "namespace", "MARKER", "allowance", "Spent"]

FUEL = 5_000_000            # ticks between two looks at the clock
HOST_STALL = 10.0           # host CPU seconds the clock may stand still (the watchdog)
WATCH_PERIOD = 0.25         # how often the watchdog makes the next tick look (s)
WATCHDOG = True             # (tests turn it off to compare)
PROGRAM_DEPTH = 256         # verified frames a simulated thread may hold
KERNEL_HEADROOM = 4000      # interpreter frames left for kernel paths above that
MARKER = "__exolab_verified__"  # in the globals of every verified function

_NO_LOOK = object()


class Exhausted(BaseException):
    """A verified program ran out of fuel or of stack; uncatchable by verified code."""


class _Meter:
    """The fuel state: ticks left, the clock to watch, what it read last; and the
    watchdog's share: the ticks it took back (``stolen``), the clock at its last
    look and the host CPU time since which that clock stood still."""

    __slots__ = ("left", "clock", "seen", "stolen", "host_seen", "host_since",
                 "pressure", "mem_limit", "capped")

    def __init__(self) -> None:
        self.left = FUEL
        self.clock: Any = None
        self.seen: Any = _NO_LOOK
        self.stolen: int | None = None
        self.host_seen: Any = _NO_LOOK
        self.host_since = 0.0
        self.pressure = False               # the host's memory passed mem_limit
        self.mem_limit = 0                  # raised past HOST_MEMORY after a stop
        self.capped = 0                     # inside an allowance: its size (0: none)


_meter = _Meter()
_counts = {"looks": 0, "forced_looks": 0, "host_stalls": 0, "host_memory": 0}


def statistics() -> dict[str, int]:
    """Looks at the clock so far in this process: by fuel, forced by the watchdog;
    programs the host rules stopped (a still clock, the host's memory)."""
    return dict(_counts)


def tick() -> bool:
    """Count one loop iteration; every FUEL ticks, stop a program making no progress."""
    m = _meter
    m.left -= 1
    if m.left > 0:
        return True
    return _look(m)


def charge(n: int) -> None:
    """Spend ``n`` ticks at once (a guarded operation's work, :mod:`exolab.safe.guards`)."""
    if n > 0:
        m = _meter
        m.left -= n
        if m.left <= 0:
            _look(m)


def look() -> bool:
    """The slow half of an inlined tick: the fuel ran down (see :func:`_look`)."""
    return _look(_meter)


def _look(m: _Meter) -> bool:
    """Refuel if the clock advanced since the last look, else raise Exhausted. A look
    the watchdog forced gives its ticks back first and checks only the host rule,
    so the tick windows, and every fault they decide, stay deterministic."""
    stolen = m.stolen
    if stolen is not None:
        m.stolen = None
        m.left += stolen
        if m.clock is not None:     # (a steal that raced the end of a run is void)
            _counts["forced_looks"] += 1
            _host_look(m)
        if m.left > 0:
            return True
    if m.capped:
        raise Exhausted(f"over its allowance of {m.capped:,} ticks")
    now = m.clock.now if m.clock is not None else None
    m.left = FUEL
    _counts["looks"] += 1
    if now == m.seen:
        raise Exhausted(f"loop made no progress in simulated time ({FUEL:,} iterations)")
    m.seen = now
    return True


def _host_look(m: _Meter) -> None:
    """Raise Exhausted if the host's memory is over its limit, or if the clock has
    stood still for HOST_STALL s of host CPU time."""
    if m.pressure:
        m.pressure = False
        rss = host_memory()
        if rss is not None and rss > max(m.mem_limit, HOST_MEMORY):
            m.mem_limit = rss + HOST_MEMORY // 8   # the next program is not the culprit
            _counts["host_memory"] += 1             # unless memory keeps growing
            raise Exhausted(f"host memory over {HOST_MEMORY / 2 ** 30:.1f} GiB "
                            f"({rss / 2 ** 30:.1f} GiB)")
    now = m.clock.now if m.clock is not None else None
    t = time.process_time()
    if now != m.host_seen:
        m.host_seen, m.host_since = now, t
    elif t - m.host_since >= HOST_STALL:
        _counts["host_stalls"] += 1
        raise Exhausted(f"no progress in simulated time for {HOST_STALL:g} s of host time")


def _watch() -> None:
    """The watchdog thread: every WATCH_PERIOD s, take the running meter's fuel back so
    the next tick looks (a loop of long C operations ticks too rarely to look soon)."""
    m = _meter
    while True:
        time.sleep(WATCH_PERIOD)
        if not WATCHDOG or m.clock is None:
            continue
        rss = host_memory()             # (reads /proc: the run may end meanwhile)
        if rss is not None:
            if rss < HOST_MEMORY:
                m.mem_limit = 0
            elif rss > max(m.mem_limit, HOST_MEMORY):
                m.pressure = True
        if m.clock is not None and m.stolen is None:    # (no call, so no switch point,
            m.stolen, m.left = m.left, 0                # from the test to the steal)


def host_memory() -> int | None:
    """This process's resident memory in bytes (None where /proc cannot say)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def _host_memory_limit() -> int:
    """Three quarters of the host's physical memory (4 GiB where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 3 // 4)
    except (OSError, ValueError, AttributeError):
        return 4 << 30


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
HOST_MEMORY = _host_memory_limit()  # resident bytes past which the running program stops


_watchdog: list[threading.Thread] = []


def _start_watchdog() -> None:
    """Start the watchdog thread once per process."""
    if not _watchdog:
        t = threading.Thread(target=_watch, name="exolab-fuel-watchdog", daemon=True)
        _watchdog.append(t)
        t.start()


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
    _start_watchdog()
    saved = (m.left, m.clock, m.seen, m.stolen)
    m.stolen, m.host_seen = None, _NO_LOOK
    m.left, m.clock, m.seen = FUEL, machine.clock, _NO_LOOK
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _stack_depth() + PROGRAM_DEPTH + KERNEL_HEADROOM))
    try:
        yield
    finally:
        m.left, m.clock, m.seen, m.stolen = saved
        m.host_seen = _NO_LOOK      # (an outer run's clock stood still while the inner
                                    # one ran: its host-time count starts again)
        sys.setrecursionlimit(limit)
        _depths.clear()     # (a paused thread's frames still count down from their own)


class Spent:
    """What code run under an :func:`allowance` spent: ``ticks`` (set on leaving)."""

    __slots__ = ("ticks",)

    def __init__(self) -> None:
        self.ticks = 0


@contextmanager
def allowance(n: int) -> Iterator[Spent]:
    """Run verified code on ``n`` ticks of its own (Exhausted when they run out); the
    ticks it spent are in the yielded record afterwards; the outer meter is as it was."""
    m = _meter
    pending = m.stolen                  # a steal of the outer window the watchdog made
    saved = m.left + (pending or 0)     # before we entered: kept for after, not counted
    cap, m.stolen = m.capped, None
    m.left, m.capped = n, n
    spent = Spent()
    try:
        yield spent
    finally:
        stolen = m.stolen               # a steal while inside: of this window
        left = m.left + (stolen or 0)
        spent.ticks = n - left if left < n else 0
        m.capped = cap
        if stolen is not None or pending is not None:
            m.stolen, m.left = saved, 0     # the watchdog's forced look still comes
        else:
            m.left = saved


def _importer(policy: Policy) -> Any:
    """An ``__import__`` that admits only the policy's allowlisted names, and hands
    back a fresh namespace holding just them (guarded where :data:`guards.IMPORTED`
    says so) in place of the module."""
    def restricted_import(name: str, globals: Any = None, locals: Any = None,
                          fromlist: Any = (), level: int = 0) -> Any:
        allowed = IMPORTS.get(name) if type(name) is str and level == 0 else None
        names = tuple(fromlist or ())
        if allowed is None or not names or not all(
                type(n) is str and not n.startswith("_")
                and (n in allowed or "*" in allowed) for n in names):
            from exolab.errors import VerifyError
            raise VerifyError(f"import of {name!r}", why="not on the allowlist")
        from exolab.safe.guards import IMPORTED
        module = importlib.import_module(name)
        return types.SimpleNamespace(**{
            n: IMPORTED.get((name, n), getattr(module, n))
            for n in names if hasattr(module, n)})
    return restricted_import


def namespace(name: str, policy: Policy = PROGRAM) -> dict[str, Any]:
    """Fresh module globals for verified code: restricted builtins (the guarded ones of
    :mod:`exolab.safe.guards` in place of ``range``, ``pow``, ``sum``...), the hooks,
    the marker."""
    from exolab.safe import guards
    from exolab.safe import instrument as names
    b = {n: getattr(builtins, n) for n in policy.builtins if hasattr(builtins, n)}
    b["__build_class__"] = builtins.__build_class__
    b.update({n: g for n, g in guards.BUILTINS.items() if n in b})
    b["__import__"] = _importer(policy)
    return {"__name__": name, "__builtins__": b, MARKER: True,
            names.TICK: tick, names.ENTER: enter, names.LEAVE: leave,
            names.FUEL: _meter, names.LOOK: look, names.CURRENT: getcurrent,
            names.DEPTHS: _depths, names.DEEP: deep, names.RANGE: builtins.range,
            names.POW: guards.guard_pow, names.SHL: guards.guard_shl,
            names.MUL: guards.guard_mul, names.ADD: guards.guard_add,
            names.IADD: guards.guard_iadd, names.IMUL: guards.guard_imul,
            names.DIV: guards.guard_div, names.MOD: guards.guard_mod,
            names.CALL: guards.guard_call, names.ATTR: guards.guard_attr,
            names.FMT: guards.guard_format, names.BUILT: guards.guard_built,
            names.UNPACK: guards.guard_unpack, names.SLICED: guards.guard_slice_value,
            names.LAMBDA: names.counted_lambda}
