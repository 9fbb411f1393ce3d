"""Ports, port sets and each task's port name space (Mach 3.0's ipc_space).

A *port* is a kernel message queue with exactly one receiver; tasks name it
only through *rights* held in their own name space: a receive right (one in
the whole system), send rights (counted user references) and send-once
rights (consumed by the one message they allow, the reply port of an RPC).
A *port set* is a receive-side aggregate: a receive on the set takes the
first message of any member. A name means something only in the space that
holds it, so a forged or stale name is ``EBADF`` (KERN_INVALID_NAME) and
nothing else. Destroying a receive right kills the port: queued messages are
discarded, waiting receivers and senders are woken with ``EPIPE``, and every
send right elsewhere becomes a dead name.

Rights are data (:data:`RIGHTS`), so docs and tests read them from here.

Interface::

    RECEIVE, SEND, SEND_ONCE, PORT_SET, DEAD      right bits of an entry
    RIGHTS                                        bit -> name
    Port, PortSet, Entry                          slotted kernel objects
    PortSpace(owner)                              one task's names
      lookup(name, need) -> Entry                 decode: EBADF / EPERM
      insert(obj, bits) -> name                   add a right (merging send rights)
      room(rights) -> None                        EAGAIN unless the rights would fit
      remove(name), names(), statistics()
    kill_port(port, wake)                         the receive right died
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.common.args import shown
from exolab.kernels.mach.limits import MAX_NAMES, QUEUE_LIMIT

__all__ = ["RECEIVE", "SEND", "SEND_ONCE", "PORT_SET", "DEAD", "RIGHTS", "Port",
           "PortSet", "Entry", "PortSpace", "SpaceStats", "kill_port"]

RECEIVE = 1
SEND = 2
SEND_ONCE = 4
PORT_SET = 8
DEAD = 16

#: right bit -> its Mach name (docs and errors)
RIGHTS: dict[int, str] = {RECEIVE: "receive", SEND: "send", SEND_ONCE: "send-once",
                          PORT_SET: "port-set", DEAD: "dead-name"}


@dataclass(slots=True, eq=False)
class Port:
    """A message queue; guarded by the kernel (ipc.py mutates it)."""

    pid: int                            # kernel identity (never shown to tasks)
    receiver: Any                       # the Task holding the receive right; None: dead
    queue: deque[Any] = field(default_factory=deque)     # queued Kmsgs, FIFO
    waiters: list[Any] = field(default_factory=list)     # threads blocked receiving
    pset: "PortSet | None" = None       # the set this port is a member of
    seqno: int = 0                      # messages dequeued so far
    qlimit: int = QUEUE_LIMIT           # queued messages before a send fails
    holders: dict[int, "PortSpace"] = field(default_factory=dict)  # id -> space naming it
    notices: int = 0                    # send-once notifications pending (ipc.py: made
                                        # into a message only when received)
    transit: "Port | None" = None       # while the receive right is in flight: the port
                                        # whose queue holds the kmsg carrying it

    @property
    def dead(self) -> bool:
        """Whether the receive right is gone."""
        return self.receiver is None


@dataclass(slots=True, eq=False)
class PortSet:
    """A set of ports received from together; guarded by the kernel."""

    members: list[Port] = field(default_factory=list)
    waiters: list[Any] = field(default_factory=list)     # threads blocked on the set
    owner: Any = None                   # the Task whose space names it


@dataclass(slots=True, eq=False)
class Entry:
    """One name in a space: the object and the rights held on it."""

    obj: Any                            # a Port or a PortSet
    bits: int                           # right bits (RECEIVE | SEND | ...)
    urefs: int = 0                      # user references of SEND (and DEAD) rights
    maker: Any = None                   # SEND_ONCE: the task that made the right (it
                                        # pays for the one message the right allows)


@dataclass(frozen=True, slots=True)
class SpaceStats:
    """Names in one space and name operations so far."""

    names: int
    inserted: int
    removed: int
    lookups: int
    invalid: int                        # lookups of names the space does not hold


class PortSpace:
    """One task's port name space: name -> Entry, and port -> name for merging."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner                      # the Task
        self.entries: dict[int, Entry] = {}     # name -> entry
        self.by_port: dict[int, int] = {}       # port.pid -> name holding send/receive
        self.naming: dict[int, list[int]] = {}  # port.pid -> every name on it here
        self._next = 0x103                      # Mach's first names look like this
        self.inserted = self.removed = self.lookups = self.invalid = 0

    def lookup(self, name: Any, need: int) -> Entry:
        """Decode ``name``: EBADF unless this space holds it, EPERM unless it holds
        one of the rights in ``need`` (EPIPE if it needs a send right and the name
        is dead: its port died)."""
        self.lookups += 1
        entry = self.entries.get(name) if type(name) is int else None
        if entry is None:
            self.invalid += 1
            raise SyscallError("EBADF", "no such port name in this task", name=shown(name))
        if not entry.bits & need:
            if entry.bits & DEAD and need & (SEND | SEND_ONCE):
                raise SyscallError("EPIPE", "the name's port is dead", name=name)
            raise SyscallError("EPERM", "the name does not carry the right needed",
                               name=name, held=_bits(entry.bits), needed=_bits(need))
        return entry

    def insert(self, obj: Any, bits: int) -> int:
        """Add rights ``bits`` on ``obj``; send and receive rights on a port the space
        already names merge into that name (Mach's rule); return the name."""
        if type(obj) is Port and bits & (SEND | RECEIVE):
            name = self.by_port.get(obj.pid)
            if name is not None:
                entry = self.entries[name]
                entry.bits = (entry.bits & ~DEAD) | bits
                entry.urefs += 1 if bits & SEND else 0
                return name
        if len(self.entries) >= MAX_NAMES:
            raise SyscallError("EAGAIN", "the task's port name space is full",
                               limit=MAX_NAMES)
        name = self._next
        self._next += 4                         # names are index << 2 | generation in
        self.entries[name] = Entry(obj, bits, 1 if bits & SEND else 0)   # Mach 3
        if type(obj) is Port:
            names = self.naming.get(obj.pid)
            if names is None:                   # the space's first name on the port
                names = self.naming[obj.pid] = []
                obj.holders[id(self)] = self
            names.append(name)
            if bits & (SEND | RECEIVE):
                self.by_port[obj.pid] = name
        self.inserted += 1
        return name

    def room(self, rights: list[tuple[Any, int]]) -> None:
        """EAGAIN unless inserting every (obj, bits) of ``rights`` would fit the space
        (a right that merges into a name the space has takes no new one)."""
        fresh, merged = 0, set()
        for obj, bits in rights:
            if type(obj) is Port and bits & (SEND | RECEIVE):
                if obj.pid in self.by_port or obj.pid in merged:
                    continue
                merged.add(obj.pid)
            fresh += 1
        if fresh and len(self.entries) + fresh > MAX_NAMES:
            raise SyscallError("EAGAIN", "the task's port name space is full",
                               limit=MAX_NAMES)

    def remove(self, name: int) -> Entry:
        """Drop ``name`` (the caller decoded it); return its entry."""
        entry = self.entries.pop(name)
        obj = entry.obj
        if type(obj) is Port:
            if self.by_port.get(obj.pid) == name:
                del self.by_port[obj.pid]
            names = self.naming[obj.pid]
            names.remove(name)
            if not names:                       # its last name here: no longer a holder
                del self.naming[obj.pid]
                del obj.holders[id(self)]
        self.removed += 1
        return entry

    def names(self) -> list[tuple[int, str]]:
        """(name, rights) of every name, in name order (for docs and tests)."""
        return [(n, _bits(e.bits)) for n, e in sorted(self.entries.items())]

    def statistics(self) -> SpaceStats:
        """Return a frozen snapshot of this space's counters."""
        return SpaceStats(len(self.entries), self.inserted, self.removed, self.lookups,
                          self.invalid)


def _bits(bits: int) -> str:
    """The rights in ``bits`` as '+'-joined Mach names."""
    return "+".join(n for b, n in RIGHTS.items() if bits & b) or "none"


def kill_port(port: Port, wake: Callable[[list[Any]], None]) -> list[Any]:
    """The receive right of ``port`` died: mark it dead, turn every send right on
    it into a dead name, drop it from its set, wake its receivers (they find it
    dead) and return the queued kmsgs for the caller to free."""
    if port.receiver is None:
        raise KernelPanic("kill_port: already dead", port=port.pid)
    port.receiver = None
    for space in port.holders.values():
        for name in space.naming[port.pid]:
            entry = space.entries[name]
            if entry.bits & (SEND | SEND_ONCE):
                entry.bits = DEAD
        space.by_port.pop(port.pid, None)
    if port.pset is not None:
        port.pset.members.remove(port)
        wake(port.pset.waiters)
        port.pset = None
    wake(port.waiters)
    dropped = list(port.queue)
    port.queue.clear()
    port.notices, port.transit = 0, None
    return dropped
