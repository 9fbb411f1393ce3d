"""The statistics record every kernel shares, and level fields marked in the record.

A kernel's ``statistics()`` returns a frozen record. Most fields are event
counters (they only grow; the difference of two snapshots is what happened
between them); some are *levels* — how much of something exists now ("live
processes", "free frames") — whose difference means nothing. A level is
marked where it is declared, ``name: int = field(metadata=AS_LEVEL)``
(dataclass field metadata; a plain ``field`` call, so type checkers see no
default), and tools that subtract snapshots (``bench/anatomy.py``) need no
hand-kept list.

:class:`KernelStats` holds the counters every kernel keeps; a kernel's own
record subclasses it and adds its mechanisms' records.

Interface::

    AS_LEVEL                                         field metadata marking a level
    is_level(record, name) -> bool                   a (nested) field is a level
    level_names(record) -> frozenset[dotted name]    every level field, nested
    counters(record) -> [(dotted name, int)]         every int counter, levels left out
    KernelStats(syscalls, faults, processes_created, processes_live,
                process_slots, frames_in_use, frames_retained)
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["LEVEL", "AS_LEVEL", "is_level", "level_names", "counters", "KernelStats"]

#: the field-metadata key that marks a level
LEVEL = "exolab.level"


#: ``field(metadata=AS_LEVEL)`` marks a field as a level, not an event count
AS_LEVEL: Mapping[str, bool] = MappingProxyType({LEVEL: True})


def _walk(record: Any, prefix: str) -> list[tuple[str, Any, bool]]:
    """(dotted name, value, is a level) of every scalar field of a nested record."""
    rows: list[tuple[str, Any, bool]] = []
    for f in fields(record):
        value = getattr(record, f.name)
        if is_dataclass(value) and not isinstance(value, type):
            rows += _walk(value, f"{prefix}{f.name}.")
        elif type(value) in (int, float, str, bool):
            rows.append((prefix + f.name, value, bool(f.metadata.get(LEVEL))))
    return rows


def is_level(record: Any, name: str) -> bool:
    """Whether the dotted field ``name`` of ``record`` is marked as a level."""
    return name in level_names(record)


def level_names(record: Any) -> frozenset[str]:
    """Dotted names of every level field of ``record`` and the records it nests."""
    return frozenset(n for n, _v, lvl in _walk(record, "") if lvl)


def counters(record: Any) -> list[tuple[str, int]]:
    """(dotted name, value) of every int event counter: levels and non-ints left out."""
    return [(n, v) for n, v, lvl in _walk(record, "") if type(v) is int and not lvl]


@dataclass(frozen=True, slots=True)
class KernelStats:
    """Counters every kernel keeps (the machine's are in Machine.statistics())."""

    syscalls: int                       # kernel entries by programs
    faults: int                         # programs stopped by a fault
    processes_created: int              # processes (environments) ever made
    processes_live: int = field(metadata=AS_LEVEL)       # running or runnable now
    process_slots: int = field(metadata=AS_LEVEL)        # process-table entries now (live and zombie)
    frames_in_use: int = field(metadata=AS_LEVEL)        # physical frames allocated now
    frames_retained: int = field(metadata=AS_LEVEL)      # of those, held by design past every process
