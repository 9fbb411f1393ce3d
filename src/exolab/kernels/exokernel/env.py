"""Environments: Aegis's processor environments (the unit of protection).

An environment is what Aegis knows of a library OS and its application: the
four contexts of the paper (§5.1) plus the resources it is accountable for.

- *exception context*: a user-mode handler entry per exception cause, the
  TLB-miss handler (called when the STLB misses), and the save area where
  the kernel leaves the three scratch registers it clobbers on dispatch;
- *interrupt context*: the prologue and epilogue entries upcalled when a
  time slice starts and ends, and the revocation entry (visible revocation);
- *protected-entry context*: the synchronous and asynchronous PCT entries;
- *addressing context*: the ASID and the guaranteed mappings the kernel
  itself serves on a TLB miss (the libOS's page table, handler code, save
  area), so that a handler never takes a miss it cannot serve.

Execution state is a stack of :class:`Context` records: the bottom is the
environment's own thread of control; a synchronous PCT into the environment
pushes the caller's (borrowed) thread, popped when the callee replies.

Interface::

    Context(thread, sleeping, borrowed)  Message(kind, words, sender)
    Repossession(ppn, handle, when, why)
    ENTRY_NAMES                          the settable entry points
    Environment(eid, name, asid, parent, cap, ..., principal)
      top, runnable, alive
    EnvStats                             LIVE, DYING, DEAD_ENV
    Exits(kept=EXITS_KEPT)               the log of environments that ended: append,
                                         len (all that ended), [i] / [a:b] / iter (the
                                         first ``kept`` of them)

(A short module: it only declares the records the mechanisms share.)
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from exolab.kernels.exokernel.caps import Capability
from exolab.kernels.exokernel.quota import Principal
from exolab.machine.threads import DEAD, SimThread

__all__ = ["Context", "Message", "Repossession", "Environment", "EnvStats", "Exits",
           "ENTRY_NAMES", "LIVE", "DYING", "DEAD_ENV", "EXITS_KEPT"]

LIVE, DYING, DEAD_ENV = "live", "dying", "dead"

#: (eid, name, status) records an Exits log keeps: the first ones, as many as a run's
#: summary lists before "... and N more" (cli.SHOWN_EXITS); the rest are only counted
EXITS_KEPT = 16

#: entry points a library OS sets with env_setup (exceptions are per cause)
ENTRY_NAMES = ("tlb_miss", "prologue", "epilogue", "sync", "async", "revoke",
               "repossessed")


@dataclass(slots=True, eq=False)
class Context:
    """A thread of control of an environment; guarded by the scheduler."""

    thread: SimThread                   # the greenlet carrying it (may be borrowed)
    sleeping: bool = False              # blocked in sleep until a message or wake
    borrowed: bool = False              # a PCT caller's thread running our entry
    depth: int = 0                      # synchronous PCTs nested on that thread


@dataclass(frozen=True, slots=True)
class Message:
    """An asynchronous message waiting for an environment's async entry."""

    kind: str                           # "pct" (from an environment) or "notice" (kernel)
    words: tuple[Any, ...]              # the registers it carries
    sender: int                         # eid of the sender (0: the kernel)


@dataclass(frozen=True, slots=True)
class Repossession:
    """One resource the abort protocol took by force (the repossession vector)."""

    ppn: int                            # the physical page taken
    handle: int                         # the root capability that was revoked
    when: int                           # cycle of the repossession
    why: str                            # "abort" (deadline passed) or "destroy"


@dataclass(slots=True, eq=False)
class Environment:
    """A processor environment; every field is guarded by Aegis unless noted."""

    eid: int                            # kernel-assigned id (> 0)
    name: str
    asid: int                           # addressing context: the hardware ASID
    parent: "Environment | None"        # creator: receives the death notice
    asid_gen: int = -1                  # asid is valid while this is Aegis's generation
    cap: Capability | None = None       # root capability naming this environment
    # exception context (written by env_setup; read by dispatch)
    exc_handlers: dict[int, Callable[..., Any]] = field(default_factory=dict)
    save_area: tuple[int, int] | None = None   # (vpn, ppn) of the guaranteed save area
    # interrupt, protected-entry and revocation entries, by ENTRY_NAMES
    entries: dict[str, Callable[..., Any]] = field(default_factory=dict)
    # addressing context (bind.py)
    guaranteed: dict[int, Any] = field(default_factory=dict)   # vpn -> TLBEntry
    bound: dict[int, Capability] = field(default_factory=dict)  # vpn -> cap of its binding
    cached: set[int] = field(default_factory=set)   # vpns it ever put in the STLB (destroy)
    # resources this environment is accountable for
    roots: dict[int, Capability] = field(default_factory=dict)  # ppn -> root page cap
    slots: list[int] = field(default_factory=list)             # slice positions owned
    # execution (sched.py / pct.py)
    ctx: list[Context] = field(default_factory=list)           # context stack, top last
    threads: list[SimThread] = field(default_factory=list)     # every context created
    inbox: deque[Message] = field(default_factory=deque)       # async messages pending
    wake_pending: bool = False          # a wake arrived while not asleep
    in_call: int = 0                    # synchronous PCTs this environment is waiting in
    exc_depth: int = 0                  # exception/TLB-miss upcalls nested (exc.py)
    # accounting (sched.py, revoke.py)
    excess: int = 0                     # excess time counter: epilogue overrun, cycles
    overruns: int = 0                   # epilogues that overran their bound
    repossessed: list[Repossession] = field(default_factory=list)  # repossession vector
    revoke_due: int = 0                 # pages asked back and not yet returned
    reserved: int = 0                   # free pages held back for it (phys.py: env_alloc)
    principal: Principal | None = None  # who pays for what it holds (quota.py; None: the
    #                                     kernel's own, as XN's frame holder)
    # life
    state: str = LIVE                   # LIVE -> DYING -> DEAD_ENV
    status: Any = None                  # exit status or fault description
    notified: bool = False              # parent already told of its end
    children: dict[int, "Environment"] = field(default_factory=dict)  # eid -> not yet dead
    queued: bool = False                # in the scheduler's queue of slice-less runnables
    personality: Any = None             # the library OS instance (boot only; untrusted)

    def trace_track(self) -> tuple[int, str]:
        """The environment's track in a trace viewer: (eid, label)."""
        return self.eid, f"env {self.eid}: {self.name}"

    @property
    def top(self) -> Context | None:
        """The context to resume when the environment runs, or None."""
        return self.ctx[-1] if self.ctx else None

    @property
    def alive(self) -> bool:
        """Whether the environment can still run."""
        return self.state == LIVE

    @property
    def runnable(self) -> bool:
        """Live, with a context that is neither asleep nor waiting in a PCT."""
        if self.state != LIVE or self.in_call or not self.ctx:
            return False
        t = self.ctx[-1]
        return not t.sleeping and t.thread.state != DEAD


@dataclass(frozen=True, slots=True)
class EnvStats:
    """What an environment holds and how it has behaved."""

    eid: int
    name: str
    state: str
    pages: int
    slots: int
    excess: int
    overruns: int
    repossessed: int


class Exits:
    """The environments that ended, as (eid, name, status): the first ``kept`` are
    kept, every one is counted. Nobody can ask for a later one by eid (a parent
    learns of its child's end by the death notice), so a run of a million
    programs holds ``kept`` records, not a million; ``len`` is the count."""

    __slots__ = ("kept", "_first", "ended")

    def __init__(self, kept: int = EXITS_KEPT) -> None:
        self.kept = kept
        self._first: list[tuple[int, str, Any]] = []
        self.ended = 0                  # environments that ended (XN's reap counter)

    def append(self, record: tuple[int, str, Any]) -> None:
        """Count an ending; keep its record if it is among the first ``kept``."""
        self.ended += 1
        if len(self._first) < self.kept:
            self._first.append(record)

    def __len__(self) -> int:
        """Every environment that ended (kept or not)."""
        return self.ended

    def __getitem__(self, i: Any) -> Any:
        """A kept record, or a list of them for a slice."""
        return self._first[i]

    def __iter__(self) -> Any:
        """The kept records, oldest first."""
        return iter(self._first)

    def __repr__(self) -> str:
        return f"Exits({self._first!r}, ended={self.ended})"
