"""Handles a SIP holds on kernel records: which record, and which generation.

A handle is opaque to programs: the kernel finds its record by the id and
accepts only the very handle object it issued last for that record (a copy
or a forged one is no key; a record that moves to another owner gets a new
handle and the old one dies). An exchange-heap block (:mod:`.exheap`) and a
channel endpoint (:mod:`.channel`) are handles of this one kind, told apart
by their class (decoders test ``type(x) is Block``); the kernel reads the id
as ``handle._id``.

Interface::

    Handle(record_id, gen)          subclasses set ``kind`` (shown by repr)
"""
from __future__ import annotations

__all__ = ["Handle"]


class Handle:
    """A record's id and generation, opaque to the SIP that holds it."""

    __slots__ = ("_id", "_gen")
    kind = "handle"                 # what the record is, in a subclass

    def __init__(self, record_id: int, gen: int) -> None:
        self._id = record_id        # the kernel's key of the record
        self._gen = gen             # the record's generation when this was issued

    def __repr__(self) -> str:
        return f"<{self.kind} {self._id}>"
