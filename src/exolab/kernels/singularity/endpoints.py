"""The kernel's records of channel endpoints, and what is queued behind one.

An :class:`End` is one endpoint: its owner SIP (and owning thread), its peer,
and the messages that arrived at it and wait unreceived (:class:`Message`).
A message keeps, beside its arguments, the handles it *carries* (the
exchange-heap blocks and endpoints it moved): those are what is owned with
the endpoint while they wait.

Invariant (the channel module keeps it; :func:`cargo` checks it): whatever a
message queued at ``e`` carries is owned by ``e.owner``. A send moves the
payload to the peer's owner; moving an endpoint (in a message, at a connect,
to a new SIP) moves its cargo with it, so the blocks and endpoints queued
behind an endpoint are charged to, and freed with, whoever holds it now, not
whoever held it when they were queued.

Interface::

    Endpoint                    a handle (opaque to programs)
    End(owner, side, conformance, contract, thread, eid, limit)   one endpoint's record
    Message(name, args, carried)                                   one queued message
    cargo(end, ends) -> (endpoints, blocks)   everything queued behind ``end``,
                                              transitively (a work list; cycles once)
    SIDES, RECORD, IN_FLIGHT
"""
from __future__ import annotations

from collections import deque
from typing import Any

from exolab.errors import KernelPanic
from exolab.kernels.singularity.exheap import Block
from exolab.kernels.singularity.handle import Handle

__all__ = ["Endpoint", "End", "Message", "cargo", "SIDES", "RECORD", "IN_FLIGHT"]

SIDES = ("Exp", "Imp")
IN_FLIGHT = -1              # an endpoint's thread while it travels: nobody's yet
RECORD = 64                 # bytes of one endpoint record in the channel table


class Endpoint(Handle):
    """A handle on a channel endpoint: which endpoint, and which generation."""

    __slots__ = ()
    kind = "endpoint"


class Message:
    """One message waiting at an endpoint: its name, arguments, and the handles
    among them that moved (blocks, endpoints), owned with the endpoint."""

    __slots__ = ("name", "args", "carried")

    def __init__(self, name: str, args: tuple[Any, ...],
                 carried: tuple[Any, ...]) -> None:
        self.name = name
        self.args = args
        self.carried = carried


class End:
    """The kernel's record of one endpoint."""

    __slots__ = ("owner", "thread", "gen", "side", "peer", "queue", "sleepers",
                 "conformance", "closed", "contract", "handle", "record", "eid", "limit")

    def __init__(self, owner: int, side: str, conformance: Any, contract: str,
                 thread: int | None, eid: int, limit: int) -> None:
        self.owner = owner                  # the SIP holding it (the channel table's)
        self.eid = eid                      # its key in the table
        self.limit = limit                  # messages that may wait here (EAGAIN beyond)
        self.thread = thread                # owning thread's tid; None: the whole SIP
        self.gen = 0
        self.side = side
        self.peer: "End | None" = None
        self.queue: deque[Message] = deque()    # arrived, unreceived (owner's cargo)
        self.sleepers: list[Any] = []       # threads waiting to receive here
        self.conformance = conformance
        self.closed = False
        self.contract = contract
        self.handle: Endpoint | None = None     # the one live handle the kernel issued
        self.record = 0                         # its record's address (channel table)


def cargo(end: End, ends: dict[int, End]) -> tuple[list[End], list[Block]]:
    """The endpoints and blocks queued behind ``end``, and behind those, each once
    (``ends``: the live table); a KernelPanic if one is not ``end``'s owner's."""
    out_ends: list[End] = []
    blocks: list[Block] = []
    seen = {end.eid}
    work = [end]
    while work:
        e = work.pop()
        for msg in e.queue:
            for a in msg.carried:
                if type(a) is Block:
                    blocks.append(a)
                    continue
                got = ends.get(a._id)
                if got is None or got.handle is not a or got.eid in seen:
                    continue
                if got.owner != end.owner:
                    raise KernelPanic("channel: queued endpoint not its holder's",
                                      eid=got.eid, owner=got.owner, holder=end.owner)
                seen.add(got.eid)
                out_ends.append(got)
                work.append(got)
    return out_ends, blocks
