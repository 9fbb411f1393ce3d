"""Typed trace events and the tracer that records them.

Hardware components hold ``tracer`` as ``None`` when tracing is off, so the
cost of tracing-off is one ``is not None`` test per event site. When on, the
tracer appends one tuple per event (no object construction on the hot path);
:meth:`Tracer.events` turns them into typed :class:`TraceEvent` records.

Interface::

    Kind                        IntEnum of event kinds
    TraceEvent                  frozen record: cycle, kind, cpu, tid, name, args
    Tracer(limit=None)
      emit(cycle, kind, cpu, tid, name, arg)   record one event
      name_thread(tid, name, group=None)   label a thread (and the process it
                                belongs to: (id, name)) for viewers
      events()                  list[TraceEvent]
      counts()                  {Kind: n}
      statistics()              TracerStats
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

__all__ = ["Kind", "TraceEvent", "Tracer", "TracerStats"]


class Kind(IntEnum):
    """What happened; B/E pairs are marked in :data:`BEGIN_END`."""

    TRAP = 1             # user -> kernel system call entry (name: call number)
    TRAP_RETURN = 2
    EXCEPTION = 3        # fault entry (name: cause)
    EXCEPTION_RETURN = 4
    INTERRUPT = 5        # interrupt entry (name: irq)
    INTERRUPT_RETURN = 6
    CONTEXT_SWITCH = 7   # arg: tid switched to
    TLB_MISS = 8         # arg: vaddr
    TLB_REFILL = 9       # arg: (vpn, asid, ppn)
    TLB_FLUSH = 10
    DISK_REQUEST = 11    # name: read/write/flush, arg: block
    DISK_COMPLETE = 12
    FRAME_TX = 13        # arg: length
    FRAME_RX = 14
    THREAD_START = 15
    THREAD_EXIT = 16
    FAULT = 17           # a program was stopped by a fault (name: cause)
    MARK = 18            # a kernel- or program-defined instant (name: label)
    UPCALL = 19          # kernel -> user-level handler (name: which)
    UPCALL_RETURN = 20


#: begin kind -> end kind, for viewers that draw durations
BEGIN_END = {Kind.TRAP: Kind.TRAP_RETURN, Kind.EXCEPTION: Kind.EXCEPTION_RETURN,
             Kind.INTERRUPT: Kind.INTERRUPT_RETURN, Kind.UPCALL: Kind.UPCALL_RETURN}


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One recorded event."""

    cycle: int
    kind: Kind
    cpu: int
    tid: int             # 0 = no thread (idle, hardware)
    name: str
    arg: Any


@dataclass(frozen=True, slots=True)
class TracerStats:
    """How many events were recorded and how many dropped past the limit."""

    recorded: int
    dropped: int


class Tracer:
    """An append-only, optionally bounded, log of events."""

    __slots__ = ("_log", "_limit", "_dropped", "thread_names", "thread_groups")

    def __init__(self, limit: int | None = None) -> None:
        self._log: list[tuple[int, int, int, int, str, Any]] = []
        self._limit = limit             # None: unbounded
        self._dropped = 0
        self.thread_names: dict[int, str] = {0: "idle"}
        self.thread_groups: dict[int, tuple[int, str]] = {}   # tid -> (process id, name)

    def emit(self, cycle: int, kind: Kind, cpu: int, tid: int, name: str = "",
             arg: Any = None) -> None:
        """Record one event (dropped, and counted, once the limit is reached)."""
        if self._limit is not None and len(self._log) >= self._limit:
            self._dropped += 1
            return
        self._log.append((cycle, kind, cpu, tid, name, arg))

    def name_thread(self, tid: int, name: str,
                    group: tuple[int, str] | None = None) -> None:
        """Give thread ``tid`` a display name, and the process it belongs to."""
        self.thread_names[tid] = name
        if group is not None:
            self.thread_groups[tid] = group

    def events(self) -> list[TraceEvent]:
        """Return the recorded events as typed records, in recording order."""
        return [TraceEvent(c, Kind(k), cpu, t, n, a) for c, k, cpu, t, n, a in self._log]

    def counts(self) -> dict[Kind, int]:
        """Return the number of events of each kind."""
        out: dict[Kind, int] = {}
        for rec in self._log:
            k = Kind(rec[1])
            out[k] = out.get(k, 0) + 1
        return out

    def statistics(self) -> TracerStats:
        """Return a frozen snapshot of the tracer's counters."""
        return TracerStats(len(self._log), self._dropped)
