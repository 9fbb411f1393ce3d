"""L4 kernel objects: address spaces, thread control blocks, endpoints, notifications.

*Thread ids are endpoints* (L4): a thread id names one thread, carries a
version, and a message sent to it waits in that thread's queue. The
evolution seL4 made is here too: an **endpoint** is an object of its own (any
thread holding its capability may receive on it, so a server's id stays
private), and a **notification** is a word of bits that senders OR into
without blocking; bound to a thread, it wakes that thread even while it
waits for a message, so one thread serves clients and interrupts at once.
Capabilities to them live in a per-space table (:attr:`Space.caps`), indexed
by small integers: an index a space was never given names nothing.

Interface::

    ANY, NIL, IRQ_BASE, NTFN_BADGE          special ids
    make_id(number, version), id_number(tid), id_version(tid)
    KIP                                     the kernel interface page (well-known ids)
    Message(words, string, maps, data, objs)        what a sender hands in (decoded)
    Received(sender, words, nbytes, mapped, bits, data, objs)   what a receiver gets
    RecvBuffer(vaddr, size, window)         where a long message / mapped pages land
    Space, TCB, Endpoint, Notification      slotted kernel records
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ANY", "NIL", "IRQ_BASE", "NTFN_BADGE", "KIP", "make_id", "id_number", "id_version",
           "Message", "MapItem", "Received", "RecvBuffer", "NO_BUFFER", "EMPTY", "Space", "TCB", "Endpoint",
           "Notification", "READY", "RUNNING", "SENDING", "RECEIVING", "DEAD"]

ANY = -1                    # receive from anybody
NIL = 0                     # no thread (an id is never 0)
IRQ_BASE = 1 << 40          # interrupt pseudo-thread ids: IRQ_BASE + irq
NTFN_BADGE = 1 << 41        # a notification delivered to a receive: sender id
_VERSION_BITS = 8

READY, RUNNING, SENDING, RECEIVING, DEAD = "ready", "running", "sending", "receiving", "dead"
INACTIVE = "inactive"       # created, not started (L4 X.2: ThreadControl, then ExchangeRegisters)


def make_id(number: int, version: int) -> int:
    """A thread id: TCB number and version (a stale or guessed id names nothing)."""
    return (number << _VERSION_BITS) | (version & ((1 << _VERSION_BITS) - 1))


def id_number(tid: int) -> int:
    """The TCB number of a thread id."""
    return tid >> _VERSION_BITS


def id_version(tid: int) -> int:
    """The version of a thread id."""
    return tid & ((1 << _VERSION_BITS) - 1)


@dataclass(frozen=True, slots=True)
class KIP:
    """The kernel interface page: the well-known ids and tags every space can read."""

    sigma0: int                         # sigma0's thread id
    irq_base: int                       # interrupt pseudo-thread ids start here
    ntfn_badge: int                     # sender of a bound notification's wake-up
    fault_tag: int                      # first word of a page-fault message
    pages_tag: int                      # first word of a page request to sigma0
    any: int = ANY                      # receive from anybody


@dataclass(frozen=True, slots=True)
class MapItem:
    """Send pages [vpn, vpn + pages) of the sender, mapped or granted (L4 fpage)."""

    vpn: int
    pages: int
    writable: bool
    grant: bool


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded message: register words, a long string, map items."""

    words: tuple[int, ...]              # message registers (short part, zero copy)
    string: tuple[int, int] | None      # (vaddr, length) in the sender's space
    maps: tuple[MapItem, ...]
    data: bytes = b""                   # bytes a library hands in from its own buffer
    objs: tuple[Any, ...] = ()          # program images and their arguments (spawn)


EMPTY = Message((), None, ())


@dataclass(frozen=True, slots=True)
class RecvBuffer:
    """Where a receiver takes a long message (vaddr, size) and mapped pages (window)."""

    vaddr: int
    size: int
    window: int                         # first vpn mapped pages land on (-1: none)


NO_BUFFER = RecvBuffer(0, 0, -1)


@dataclass(frozen=True, slots=True)
class Received:
    """What a receive returns: who sent, the words, string bytes, pages, bits."""

    sender: int
    words: tuple[int, ...]
    nbytes: int
    mapped: tuple[int, ...]             # vpns mapped into the receiver
    bits: int = 0                       # a notification's bits (sender NTFN_BADGE)
    data: bytes = b""                   # the sender's buffer bytes (copied once)
    objs: tuple[Any, ...] = ()


@dataclass(slots=True, eq=False)
class Space:
    """An address space: its page directory, ASID, mappings' owner id, capabilities."""

    sid: int                            # space id (the mapping database's key)
    name: str
    asid: int                           # TLB tag (untagged TLBs flush on every load)
    directory: int                      # page-directory frame (x86 format)
    creator: int                        # space that created it (may add threads)
    code_vpn: int                       # code and stack pages (touched on return)
    stack_vpn: int
    kframes: list[int] = field(default_factory=list)   # kernel frames it uses
    threads: set[int] = field(default_factory=set)     # TCB numbers living here
    caps: dict[int, Any] = field(default_factory=dict)  # cap index -> object
    next_cap: int = 1
    alive: bool = True
    number: int = 0                     # space number (the TLB tag is derived from it)
    pid: int = 0                        # the ABI process it holds (0: none; traces)
    children: set[int] = field(default_factory=set)    # spaces it created, alive
    principal: Any = None               # who pays for its kernel objects (accounts.py)

    def trace_track(self) -> tuple[int, str]:
        """The space's track in a trace viewer: its process, else the space."""
        if self.pid:
            return self.pid, f"pid {self.pid}: {self.name}"
        return -self.sid - 1, f"space {self.sid}: {self.name}"


@dataclass(slots=True, eq=False)
class TCB:
    """One thread's control block (a virtual TCB: one page of kernel memory)."""

    tid: int                            # id (number + version)
    space: Space
    sim: Any                            # the SimThread that runs it
    pager: int                          # thread id page faults are sent to
    tcb_vaddr: int                      # kernel virtual address of the TCB page
    utcb_vaddr: int                     # user page of its message registers
    state: str = READY
    partner: int = NIL                  # receiving: from whom (ANY); sending: to whom
    waiting_on: Any = None              # the Endpoint a blocked thread queues on
    out: Message = EMPTY                # message a blocked sender hands over
    call: bool = False                  # the blocked send is a call (then receive)
    rbuf: RecvBuffer = NO_BUFFER        # where a blocked receiver takes a message
    result: Any = None                  # Received, or an error set by the partner
    timer: Any = None                   # pending timeout event
    senders: deque["TCB"] = field(default_factory=deque)   # queued on this thread
    bound: "Notification | None" = None  # seL4 bound notification
    irqs: set[int] = field(default_factory=set)             # attached interrupts
    fault_vpn: int = -1                 # page of an outstanding page fault
    frames: tuple[int, ...] = ()        # its TCB and UTCB frames (kernel memory)
    serial: int = 0                     # creation order (the kernel's scans follow it)
    closed_on: int = NIL                # the partner whose closed-receive index holds it


@dataclass(slots=True, eq=False)
class Endpoint:
    """seL4-style endpoint: senders and receivers meet here, not at a thread id."""

    eid: int
    badge_of: dict[int, int] = field(default_factory=dict)  # (unused: badges = cap)
    senders: deque[TCB] = field(default_factory=deque)
    receivers: deque[TCB] = field(default_factory=deque)


@dataclass(slots=True, eq=False)
class Notification:
    """seL4-style notification: a word of bits; signal ORs, wait takes and clears."""

    nid: int
    bits: int = 0
    waiter: TCB | None = None           # a thread blocked in wait on it
    bound: TCB | None = None            # a thread whose receives it also wakes
