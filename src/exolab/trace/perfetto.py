"""Chrome trace-event / Perfetto export of a :class:`~exolab.trace.events.Tracer`.

Writes the JSON *object* format of the Chrome trace-event spec, which
Perfetto (ui.perfetto.dev) and ``chrome://tracing`` open directly:

- one track per simulated thread (tid = simulated thread id; 0 = idle loop /
  hardware), grouped under the kernel's process it belongs to (pid = the
  kernel's process or environment id, from ``tracer.thread_groups``), or
  under the machine (pid 0) when it belongs to none; named by ``M`` metadata
  events from ``tracer.thread_names``;
- kernel entries (TRAP, EXCEPTION, INTERRUPT, UPCALL) and their ``*_RETURN``
  partners (:data:`~exolab.trace.events.BEGIN_END`) become ``B``/``E``
  duration slices on the thread's track; every other event is a
  thread-scoped instant (``i``, ``"s": "t"``);
- timestamps are microseconds: ``ts = round(cycle / profile.mhz, 3)``; the
  exact cycle is kept in ``args.cycle``.

B/E are balanced per track in the output: an ``E`` with no open ``B`` of its
kind is dropped; slices still open when a thread exits are closed at its
exit (a thread killed inside a fault handler never returns from it), and any
left at the end are closed at the last timestamp. Serialization is
deterministic (sorted keys, compact separators): same seed, same bytes.

Interface::

    to_chrome_trace(tracer, profile, *, process_name="exolab", trap_names=None) -> dict
    write_chrome_trace(tracer, profile, path, *, process_name="exolab", trap_names=None)
    dumps(obj) -> str                   the canonical serialization
    CATEGORY                            Kind -> category ("trap", "tlb", ...)
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping

from exolab.machine.costs import CostProfile, get_profile
from exolab.trace.events import BEGIN_END, Kind, TraceEvent, Tracer

__all__ = ["to_chrome_trace", "write_chrome_trace", "dumps", "CATEGORY", "PID"]

PID = 0                                       # the machine's own "process" track

#: the category ("cat") of every event kind: its family
CATEGORY: dict[Kind, str] = {
    Kind.TRAP: "trap", Kind.TRAP_RETURN: "trap",
    Kind.EXCEPTION: "exception", Kind.EXCEPTION_RETURN: "exception",
    Kind.FAULT: "exception",
    Kind.INTERRUPT: "interrupt", Kind.INTERRUPT_RETURN: "interrupt",
    Kind.UPCALL: "upcall", Kind.UPCALL_RETURN: "upcall",
    Kind.CONTEXT_SWITCH: "sched",
    Kind.TLB_MISS: "tlb", Kind.TLB_REFILL: "tlb", Kind.TLB_FLUSH: "tlb",
    Kind.DISK_REQUEST: "disk", Kind.DISK_COMPLETE: "disk",
    Kind.FRAME_TX: "net", Kind.FRAME_RX: "net",
    Kind.THREAD_START: "thread", Kind.THREAD_EXIT: "thread",
    Kind.MARK: "mark",
}

#: what an event's ``arg`` means, per kind (key in "args"; default "arg")
_ARG_KEY: dict[Kind, str] = {
    Kind.TRAP: "args", Kind.EXCEPTION: "vaddr", Kind.INTERRUPT: "irq",
    Kind.CONTEXT_SWITCH: "to_tid", Kind.TLB_MISS: "vaddr",
    Kind.TLB_REFILL: "vpn_asid_ppn", Kind.TLB_FLUSH: "asid",
    Kind.DISK_REQUEST: "block", Kind.DISK_COMPLETE: "block",
    Kind.FRAME_TX: "length", Kind.FRAME_RX: "length",
    Kind.THREAD_EXIT: "status", Kind.FAULT: "detail",
}

#: argument keys shown in hexadecimal (addresses)
_HEX_KEYS = frozenset({"vaddr"})

#: end kind -> begin kind
_END_BEGIN = {end: begin for begin, end in BEGIN_END.items()}


def dumps(obj: Any) -> str:
    """Serialize ``obj`` canonically (sorted keys, no whitespace)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


#: the memory address in a default repr: it differs from run to run
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _json_safe(value: Any) -> Any:
    """Return ``value`` with tuples as lists and non-JSON objects as strings."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return _ADDRESS.sub("", str(value))     # "<function f at 0x7f...>" -> "<function f>"


def _label(kind: Kind, name: str) -> str:
    """The display name of an event: kind name, plus ``": name"`` when present."""
    return f"{kind.name}: {name}" if name else kind.name


class _Builder:
    """Turns typed events into trace-event dicts, keeping B/E balanced per tid."""

    __slots__ = ("mhz", "trap_names", "pids", "out", "open", "last_ts")

    def __init__(self, mhz: int, trap_names: Mapping[int, str] | None = None,
                 pids: Mapping[int, int] | None = None) -> None:
        self.mhz = mhz
        self.pids = dict(pids or {})            # tid -> its process's pid (else PID)
        self.trap_names = {str(n): s for n, s in (trap_names or {}).items()}
        self.out: list[dict[str, Any]] = []
        self.open: dict[int, list[tuple[Kind, str]]] = {}   # tid -> open B stack
        self.last_ts = 0.0

    def ts(self, cycle: int) -> float:
        """Microseconds of ``cycle``, rounded to nanoseconds."""
        return round(cycle / self.mhz, 3)

    def add(self, ev: TraceEvent) -> None:
        """Translate one event (begin, end or instant)."""
        ts = self.ts(ev.cycle)
        self.last_ts = max(self.last_ts, ts)
        if ev.kind in BEGIN_END:
            self._begin(ev, ts)
        elif ev.kind in _END_BEGIN:
            self._end(ev.tid, _END_BEGIN[ev.kind], ts)
        else:
            if ev.kind == Kind.THREAD_EXIT:
                self.close_all(ev.tid, ts)
            self._instant(ev, ts)

    def _args(self, ev: TraceEvent) -> dict[str, Any]:
        """The ``args`` of an event: its cycle, CPU, and its argument if any."""
        args: dict[str, Any] = {"cycle": ev.cycle, "cpu": ev.cpu}
        if ev.arg is not None:
            key = _ARG_KEY.get(ev.kind, "arg")
            hexed = key in _HEX_KEYS and isinstance(ev.arg, int)
            args[key] = hex(ev.arg) if hexed else _json_safe(ev.arg)
        return args

    def _begin(self, ev: TraceEvent, ts: float) -> None:
        """Open a duration slice on the event's thread (a trap named by its call)."""
        name = self.trap_names.get(ev.name, ev.name) if ev.kind is Kind.TRAP else ev.name
        label = _label(ev.kind, name)
        self.open.setdefault(ev.tid, []).append((ev.kind, label))
        self.out.append({"name": label, "cat": CATEGORY[ev.kind], "ph": "B", "ts": ts,
                         "pid": self.pids.get(ev.tid, PID), "tid": ev.tid,
                         "args": self._args(ev)})

    def _end(self, tid: int, begin: Kind, ts: float) -> None:
        """Close the innermost open slice of kind ``begin`` (and any inside it)."""
        stack = self.open.get(tid, [])
        if not any(kind == begin for kind, _ in stack):
            return                          # an E with no open B: dropped
        while True:
            kind, label = stack.pop()
            self._emit_end(tid, kind, label, ts)
            if kind == begin:
                return

    def _emit_end(self, tid: int, kind: Kind, label: str, ts: float) -> None:
        """Append one ``E`` event."""
        self.out.append({"name": label, "cat": CATEGORY[kind], "ph": "E", "ts": ts,
                         "pid": self.pids.get(tid, PID), "tid": tid})

    def close_all(self, tid: int, ts: float) -> None:
        """Close every slice still open on ``tid`` at ``ts``."""
        stack = self.open.get(tid, [])
        while stack:
            kind, label = stack.pop()
            self._emit_end(tid, kind, label, ts)

    def _instant(self, ev: TraceEvent, ts: float) -> None:
        """Append a thread-scoped instant event."""
        self.out.append({"name": _label(ev.kind, ev.name), "cat": CATEGORY[ev.kind],
                         "ph": "i", "s": "t", "ts": ts, "pid": self.pids.get(ev.tid, PID),
                         "tid": ev.tid, "args": self._args(ev)})


def _metadata(tracer: Tracer, tids: set[int], process_name: str) -> list[dict[str, Any]]:
    """Process names (the machine's, each kernel process's), thread names, sort order."""
    names, groups = dict(tracer.thread_names), tracer.thread_groups
    out: list[dict[str, Any]] = [{"name": "process_name", "ph": "M", "ts": 0, "pid": PID,
                                  "tid": 0, "args": {"name": process_name}}]
    for pid, label in sorted(set(groups.values())):
        out.append({"name": "process_name", "ph": "M", "ts": 0, "pid": pid, "tid": 0,
                    "args": {"name": label}})
        out.append({"name": "process_sort_index", "ph": "M", "ts": 0, "pid": pid,
                    "tid": 0, "args": {"sort_index": pid}})
    for tid in sorted(tids | set(names)):
        label = names.get(tid, f"t{tid}")
        if tid == 0:
            label = f"{label} / hardware"
        pid = groups[tid][0] if tid in groups else PID
        out.append({"name": "thread_name", "ph": "M", "ts": 0, "pid": pid, "tid": tid,
                    "args": {"name": label}})
        out.append({"name": "thread_sort_index", "ph": "M", "ts": 0, "pid": pid,
                    "tid": tid, "args": {"sort_index": tid}})
    return out


def to_chrome_trace(tracer: Tracer, profile: CostProfile | str, *,
                    process_name: str = "exolab",
                    trap_names: Mapping[int, str] | None = None) -> dict[str, Any]:
    """Return the trace as a Chrome trace-event JSON object (a plain dict); traps are
    labelled with ``trap_names[number]`` (the kernel's call names) where given."""
    prof = profile if isinstance(profile, CostProfile) else get_profile(profile)
    b = _Builder(prof.mhz, trap_names,
                 {tid: pid for tid, (pid, _name) in tracer.thread_groups.items()})
    events = tracer.events()
    for ev in events:
        b.add(ev)
    for tid in sorted(b.open):
        b.close_all(tid, b.last_ts)
    stats = tracer.statistics()
    tids = {ev.tid for ev in events}
    return {
        "traceEvents": _metadata(tracer, tids, process_name) + b.out,
        "displayTimeUnit": "ns",
        "otherData": {"profile": prof.name, "cycles_per_us": prof.mhz,
                      "events_recorded": stats.recorded,
                      "events_dropped": stats.dropped},
    }


def write_chrome_trace(tracer: Tracer, profile: CostProfile | str,
                       path: str | os.PathLike[str], *,
                       process_name: str = "exolab",
                       trap_names: Mapping[int, str] | None = None) -> None:
    """Write the trace to ``path`` as canonical JSON (deterministic bytes)."""
    text = dumps(to_chrome_trace(tracer, profile, process_name=process_name,
                                 trap_names=trap_names))
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.write("\n")
