"""Channels: the only IPC, two endpoints each, messages checked against a contract.

A channel has exactly two endpoints, ``Exp`` and ``Imp``. A program holds an
:class:`Endpoint` handle; the kernel's table says which SIP owns the endpoint
now and in which generation. An endpoint is a capability: sending it in a
message transfers it (the sender's handle dies, the receiver gets a fresh
one), and a handle that is dead, foreign or made up is a fault of its user: the
kernel accepts only the very handle object it issued last (a copy with the
same numbers is not it).

Within its SIP an endpoint is owned by one thread at a time (the creating
thread; for an endpoint that arrived in a message, the thread that received
it; for one handed to a new SIP or thread, that thread). A thread using an
endpoint another thread of its SIP owns faults as if the SIP did not own it.
Endpoints created ``shared`` (the ABI's pipes and rpc connections, which
live in the SIP's descriptor table like a process's files) belong to the
SIP as a whole. The current thread is read from the CPU given at
construction; with none (the kernel's own calls) only the SIP is checked.

A message is a name and arguments. Arguments are decoded before anything is
delivered: exact ``int``/``bool`` scalars are copied; an exchange-heap
:class:`~exolab.kernels.singularity.exheap.Block` or an endpoint moves to the
receiver (nothing is copied); anything else is a fault of the sender. Each
endpoint may carry a *conformance* object (the contract's state machine for
its side (:class:`~exolab.kernels.singularity.contract.Conformance`:
``check_send(name, args, is_block=, is_endpoint=)`` / ``check_receive(name)``
raise :class:`~exolab.errors.ContractViolation` without changing state when
the message or its arguments are not allowed): a send the contract
does not allow faults the sender before it is queued; a receive that would
take a message the receiver's side does not expect faults the receiver.
``None`` means no contract (ABI pipes).

Bounds (each a clean errno for the sender, nothing moved, before the
contract's check): at most ``queue`` messages wait unreceived at one
endpoint (a pipe's ends take ``create(..., queue=)``), a send past it is
EAGAIN, as Singularity's sends never block; an endpoint moving to another SIP
(in a message, at a connect, to a new SIP) is EAGAIN when that SIP holds
``max_per_owner - reserve`` endpoints, so endpoints others push at a SIP can
never take the last ``reserve`` of its own (``create`` may use them: EMFILE
past ``max_per_owner``); a send moving exchange-heap blocks (its own, or queued
behind endpoints it moves) to another SIP is ENOMEM past that SIP's quota
(:meth:`ExchangeHeap.admit`). Closing an endpoint closes, with a work list, every
endpoint queued undelivered behind it and frees the blocks queued there.

What waits at an endpoint is owned with it (:mod:`.endpoints`): a send
charges the payload to the peer's owner, and an endpoint that moves takes
everything queued behind it (blocks to the new owner's exchange-heap account,
endpoints to its table, transitively), so the room a move needs counts those
endpoints too, and none of it is charged to, or freed with, an old owner.

Each endpoint's record has a slot in the kernel's channel table, ``table``
(base address, bytes) in simulated memory, :data:`RECORD` bytes each (endpoint
``i`` at slot ``i`` modulo the slots). With paging on (the isolation knob:
``pager``, :class:`~exolab.kernels.singularity.paging.Pager`) a send writes
the peer's record (the message is linked there) and a receive reads its own
record, each through the MMU.

Interface::

    Endpoint                           a handle (opaque to programs)
    Channels(heap, sched, max_per_owner, c_op=0, cpu=None, pager=None, table=(0, 0),
             queue=64, reserve=0)      c_op: cycles of one send/receive; cpu: whose
                                       ``current`` thread owns; pager, table: below;
                                       queue, reserve: the bounds below
      create(owner, contract=None, shared=False, queue=None) -> (exp, imp)
                                       conformance from contract.endpoint(); shared:
                                       any thread of owner; queue: its ends' bound
      room(to, n)                      EAGAIN unless ``to`` may take n more endpoints
      weight(owner, ep) -> int         endpoints moving ``ep`` moves (1 + its cargo's)
      blocks_behind(owner, ep) -> list blocks queued behind it and its cargo
      claim(owner, ep, tid)            the kernel hands ``ep`` to thread ``tid``
      attach(cpu)                      as ``cpu=`` at construction
      send(cpu, owner, ep, name, args) -> int          bytes moved (0: pointers only)
      receive(cpu, owner, ep) -> (name, args) | None   None: the peer closed
      poll(owner, ep) -> bool          close(owner, ep)      side(owner, ep) -> str
      give(owner, ep, to) -> Endpoint  sleep_any(cpu, owner, eps, *queues)
      alive(owner, ep) -> bool         contract_of(owner, ep) -> str
      connected(ep) -> bool            kernel: ``ep`` and its peer both open
      held(owner) -> int               endpoints ``owner`` holds now
      queued(owner, ep) -> int         close_all(owner) -> int
      pending(owner, ep) -> (name, args) | None   the last sent, still unreceived
      statistics() -> ChannelStats
    not_owned(what) -> ProgramFault
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exolab.errors import ContractError, ProgramFault, SyscallError, safe_str
from exolab.kernels.common.args import shown
from exolab.kernels.common.stats import AS_LEVEL
from exolab.kernels.singularity.endpoints import (IN_FLIGHT, RECORD, SIDES, End,
                                                  Endpoint, Message, cargo)
from exolab.kernels.singularity.exheap import Block, ExchangeHeap

__all__ = ["Endpoint", "Channels", "ChannelStats", "not_owned", "SIDES", "RECORD"]

@dataclass(frozen=True, slots=True)
class ChannelStats:
    """Endpoints live now (level) and message events."""

    endpoints_live: int = field(metadata=AS_LEVEL)
    channels: int = 0
    sends: int = 0
    receives: int = 0
    endpoints_moved: int = 0
    blocks_moved: int = 0
    violations: int = 0
    refused: int = 0                # sends and moves refused (EAGAIN): a full queue,
    #                                 a receiver without room for more endpoints


def not_owned(what: str) -> ProgramFault:
    """The fault of a SIP that used an endpoint it does not own."""
    return ProgramFault("channel: use of an endpoint the SIP does not own", use=what)


def _violation(ex: BaseException, name: str, side: str) -> ProgramFault:
    """A contract's refusal, as the fault of the SIP that broke the contract."""
    return ProgramFault("contract violation", msg=name, side=side,
                        reason=safe_str(ex))


class Channels:
    """Every endpoint of the machine; see the module docstring."""

    __slots__ = ("_ends", "_next", "_heap", "_sched", "_max", "_per_owner", "_c_op",
                 "_channels", "_sends", "_receives", "_eps_moved", "_blocks_moved",
                 "_violations", "_cpu", "_pager", "_table", "_slots", "_queue",
                 "_incoming", "_refused")

    def __init__(self, heap: ExchangeHeap, sched: Any, max_per_owner: int,
                 c_op: int = 0, cpu: Any = None, pager: Any = None,
                 table: tuple[int, int] = (0, 0), queue: int = 64,
                 reserve: int = 0) -> None:
        self._c_op = c_op
        self._queue = queue                 # messages one endpoint may hold unreceived
        self._incoming = max_per_owner - reserve    # endpoints moved in stop here
        self._refused = 0                   # sends and moves refused: EAGAIN
        self._pager = pager                 # None: paging off, nothing goes through the MMU
        self._table = table[0]
        self._slots = max(1, table[1] // RECORD)
        self._cpu = cpu                     # its ``current`` thread is the caller
        self._ends: dict[int, End] = {}
        self._per_owner: dict[int, set[int]] = {}
        self._next = 1
        self._heap = heap
        self._sched = sched                 # sleep(cpu, queue), wakeup(queue)
        self._max = max_per_owner
        self._channels = self._sends = self._receives = 0
        self._eps_moved = self._blocks_moved = self._violations = 0

    # -- decode ----------------------------------------------------------------------

    def _end(self, owner: int, ep: object, what: str) -> End:
        """Decode ``ep`` for ``owner``: its record, or the owner's fault."""
        if type(ep) is not Endpoint:
            raise not_owned(what)
        end = self._ends.get(ep._id)
        if end is None or end.owner != owner or end.handle is not ep:   # issued, not made
            raise not_owned(what)
        if end.thread is not None and self._cpu is not None:
            t = self._cpu.current
            if t is not None and t.tid != end.thread:   # another thread of the SIP owns it
                raise not_owned(what)
        return end

    def attach(self, cpu: Any) -> None:
        """Read the calling thread from ``cpu.current`` from now on."""
        self._cpu = cpu

    def _tid(self) -> int | None:
        """The calling thread's id (None: the kernel itself, no thread)."""
        t = None if self._cpu is None else self._cpu.current
        return None if t is None else int(t.tid)

    def _decode_args(self, owner: int, args: tuple[Any, ...],
                     contracted: bool) -> list[End]:
        """Check every argument may cross (the sender's fault if not); the endpoints.
        A str (an enum member's name) crosses only where a contract typed it."""
        moving: list[End] = []
        blocks = 0
        for a in args:
            t = type(a)
            if t is int or t is bool or (t is str and contracted):
                continue
            if t is Block:
                self._heap.check(owner, a)
                blocks += 1
            elif t is Endpoint:
                moving.append(self._end(owner, a, "send an endpoint"))
            else:
                raise ProgramFault("only scalars, exchange-heap blocks and endpoints "
                                   "cross a channel", argument=shown(a))
        if (len(moving) > 1 and len(set(map(id, moving))) < len(moving)) or \
                (blocks > 1 and len({id(a) for a in args if type(a) is Block}) < blocks):
            raise ProgramFault("one block or endpoint twice in a message (it moves once)")
        return moving

    def _predicates(self, owner: int) -> tuple[Any, Any]:
        """The contract's tests of a block and an endpoint argument, for ``owner``."""
        def is_block(value: Any, param: Any) -> bool:
            return type(value) is Block          # (ownership: checked by the decode)

        def is_endpoint(value: Any, param: Any) -> bool:
            end = self._ends.get(value._id) if type(value) is Endpoint else None
            if end is None or end.handle is not value or end.owner != owner:
                return False
            if param.kind == "any":             # an elided "(...)": any endpoint
                return True
            if end.contract != param.contract or end.side != param.side:
                return False
            conf = end.conformance
            return not param.state or conf is None or bool(conf.at(param.state))
        return is_block, is_endpoint

    # -- mechanism -------------------------------------------------------------------

    def _new_end(self, owner: int, side: str, contract: Any, thread: int | None,
                 queue: int) -> tuple[End, Endpoint]:
        """A fresh endpoint owned by ``owner`` (its thread ``thread``, None: any)."""
        if len(self._per_owner.get(owner, ())) >= self._max:
            raise SyscallError("EMFILE", "too many endpoints", limit=self._max)
        conf = None if contract is None else contract.endpoint(side)
        name = "" if contract is None else safe_str(getattr(contract, "name", ""))
        eid = self._next
        self._next += 1
        end = End(owner, side, conf, name, thread, eid, queue)
        end.record = self._table + (eid % self._slots) * RECORD
        self._ends[eid] = end
        self._per_owner.setdefault(owner, set()).add(eid)
        end.handle = Endpoint(eid, 0)
        return end, end.handle

    def create(self, owner: int, contract: Any = None, shared: bool = False,
               queue: int | None = None) -> tuple[Endpoint, Endpoint]:
        """A new channel; both endpoints owned by ``owner``'s calling thread (by the
        whole SIP if ``shared``); ``queue``: messages each end may hold (None: the
        table's bound)."""
        if len(self._per_owner.get(owner, ())) + 2 > self._max:
            raise SyscallError("EMFILE", "too many endpoints", limit=self._max)
        tid = None if shared else self._tid()
        q = self._queue if queue is None else queue
        exp, h_exp = self._new_end(owner, "Exp", contract, tid, q)
        imp, h_imp = self._new_end(owner, "Imp", contract, tid, q)
        exp.peer, imp.peer = imp, exp
        self._channels += 1
        return h_exp, h_imp

    def room(self, to: int, n: int) -> None:
        """EAGAIN unless ``to`` may take ``n`` more endpoints from elsewhere: moved
        endpoints stop short of its limit by the reserve, kept for its own."""
        if n and len(self._per_owner.get(to, ())) + n > self._incoming:
            self._refused += 1
            raise SyscallError("EAGAIN", "the receiver holds too many endpoints",
                               limit=self._incoming)

    def weight(self, owner: int, ep: object) -> int:
        """How many endpoints moving ``owner``'s ``ep`` moves: it and its cargo's."""
        return 1 + len(cargo(self._end(owner, ep, "weight"), self._ends)[0])

    def blocks_behind(self, owner: int, ep: object) -> list[Any]:
        """The exchange-heap blocks queued behind ``owner``'s ``ep`` (they move with it)."""
        return list(cargo(self._end(owner, ep, "blocks"), self._ends)[1])

    def _move_end(self, end: End, to: int) -> Endpoint:
        """Give ``end`` and its cargo to ``to``: a fresh handle for ``end``; every older
        one is dead (the receiver's room was checked by the caller)."""
        ends, blocks = cargo(end, self._ends)
        frm = end.owner
        for e in (end, *ends):
            self._per_owner[frm].discard(e.eid)
            self._per_owner.setdefault(to, set()).add(e.eid)
            e.owner = to
        for b in blocks:                    # queued: nobody holds these handles yet
            self._heap.rehome(b, frm, to)
        if end.thread is not None:
            end.thread = IN_FLIGHT         # whoever takes it next owns it
        end.gen += 1
        self._eps_moved += 1
        end.handle = Endpoint(end.eid, end.gen)
        return end.handle

    def _decode_moves(self, end: End, peer: End | None, moving: list[End]) -> int:
        """How many endpoints a send moving ``moving`` to ``peer`` moves; the sender's
        fault if one of them is the channel's own or carries its receiving end (it
        would wait behind itself, for ever)."""
        if end in moving or peer in moving:
            raise ProgramFault("an endpoint cannot be sent over its own channel")
        n = len(moving)
        for m in moving:
            ends = cargo(m, self._ends)[0]
            if peer in ends:
                raise ProgramFault("an endpoint cannot be sent behind itself: it "
                                   "carries the receiving end")
            n += len(ends)
        return n

    def send(self, cpu: Any, owner: int, ep: object, name: Any,
             args: tuple[Any, ...]) -> int:
        """Queue message ``name(*args)`` at the peer; faults before anything moves."""
        end = self._end(owner, ep, "send")
        if type(name) is not str:
            raise ProgramFault("a message name is a str", name=shown(name))
        conf = end.conformance
        moving = self._decode_args(owner, args, conf is not None)
        peer = end.peer
        n_moving = self._decode_moves(end, peer, moving) if moving else 0
        if peer is None or peer.closed:
            raise SyscallError("EPIPE", "the peer endpoint is closed")
        if len(peer.queue) >= peer.limit:       # bounded: never host memory
            self._refused += 1
            raise SyscallError("EAGAIN", "the peer's queue is full", limit=peer.limit)
        if moving and peer.owner != owner:
            self.room(peer.owner, n_moving)
        if peer.owner != owner:
            self._admit_blocks(args, moving, peer.owner)
        if conf is not None:                    # last check: it advances the state
            is_block, is_endpoint = self._predicates(owner)
            try:
                conf.check_send(name, args, is_block=is_block, is_endpoint=is_endpoint)
            except ContractError as ex:         # the contract's typed refusal
                self._violations += 1
                raise _violation(ex, name, end.side) from None
        out, carried = self._invoke_args(owner, args, peer.owner)
        peer.queue.append(Message(name, out, carried))
        if self._pager is not None:
            self._pager.touch_at(peer.record, True)     # linked into the peer's record
        self._sends += 1
        if cpu is not None:
            cpu.clock.now += self._c_op     # the send path (a pointer is linked)
        if peer.sleepers:
            self._sched.wakeup(peer.sleepers)
        return 0

    def _admit_blocks(self, args: tuple[Any, ...], moving: list[End], to: int) -> None:
        """ENOMEM unless ``to``'s exchange-heap quota holds every block a send moves
        there: its arguments' and those queued behind the endpoints it moves."""
        blocks = [a for a in args if type(a) is Block]
        for m in moving:
            blocks += cargo(m, self._ends)[1]
        if blocks:
            self._heap.admit(to, blocks)

    def _invoke_args(self, owner: int, args: tuple[Any, ...],
                     dest: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """Move a decoded message's blocks and endpoints to ``dest``: (the arguments
        as delivered, the handles among them); nothing can fail here."""
        out: list[Any] = []
        carried: list[Any] = []
        for a in args:
            t = type(a)
            if t is Block:
                a = self._heap.transfer(owner, a, dest)
                self._blocks_moved += 1
                carried.append(a)
            elif t is Endpoint:
                a = self._move_end(self._ends[a._id], dest)
                carried.append(a)
            out.append(a)
        return tuple(out), tuple(carried)

    def receive(self, cpu: Any, owner: int, ep: object) -> tuple[str, tuple[Any, ...]] | None:
        """The next message at ``ep`` (waiting for one); None once the peer closed."""
        end = self._end(owner, ep, "receive")
        while not end.queue:
            if end.peer is None or end.peer.closed:
                return None
            self._sched.sleep(cpu, end.sleepers)
            end = self._end(owner, ep, "receive")
        msg = end.queue[0]
        name, args = msg.name, msg.args
        if end.conformance is not None:
            try:
                end.conformance.check_receive(name)
            except ContractError as ex:
                self._violations += 1
                raise _violation(ex, name, end.side) from None
        end.queue.popleft()
        if self._pager is not None:
            self._pager.touch_at(end.record, True)      # unlinked from its record
        tid = self._tid()
        for a in msg.carried:               # endpoints that arrived: the receiver's
            if type(a) is Endpoint:
                got = self._ends.get(a._id)
                if got is not None and got.thread is not None:
                    got.thread = tid
        self._receives += 1
        if cpu is not None:
            cpu.clock.now += self._c_op     # the receive path (a pointer is unlinked)
        return name, args

    def give(self, owner: int, ep: object, to: int) -> Endpoint:
        """The kernel hands ``owner``'s endpoint to ``to`` (a name service's connect, a
        new SIP's manifest endpoints; :meth:`claim` then names the thread); EAGAIN,
        nothing moved, past ``to``'s room."""
        end = self._end(owner, ep, "give")
        if to != owner:
            self.room(to, 1 + len(cargo(end, self._ends)[0]))
        return self._move_end(end, to)

    def claim(self, owner: int, ep: object, tid: int) -> None:
        """The kernel makes thread ``tid`` (of ``owner``) the owner of ``ep``, unless
        the whole SIP holds it."""
        end = self._ends.get(ep._id) if type(ep) is Endpoint else None
        if end is None or end.owner != owner or end.handle is not ep:
            raise not_owned("claim")
        if end.thread is not None:
            end.thread = tid

    def sleep_any(self, cpu: Any, owner: int, eps: list[Any], *extra: list[Any]) -> None:
        """Wait until a message (or a close) reaches one of ``eps`` or ``extra`` wakes."""
        queues = [self._end(owner, ep, "wait").sleepers for ep in eps]
        self._sched.sleep(cpu, *queues, *extra)

    def alive(self, owner: int, ep: object) -> bool:
        """Whether ``ep``'s peer is still open (a message may still come)."""
        end = self._end(owner, ep, "alive")
        return bool(end.queue) or (end.peer is not None and not end.peer.closed)

    def connected(self, ep: object) -> bool:
        """Whether ``ep`` (whoever holds it: the kernel asks) and its peer are both open."""
        end = self._ends.get(ep._id) if type(ep) is Endpoint else None
        return (end is not None and end.handle is ep and not end.closed
                and end.peer is not None and not end.peer.closed)

    def held(self, owner: int) -> int:
        """How many endpoints ``owner`` holds."""
        return len(self._per_owner.get(owner, ()))

    def poll(self, owner: int, ep: object) -> bool:
        """Whether a message waits at ``ep``."""
        return bool(self._end(owner, ep, "poll").queue)

    def pending(self, owner: int, ep: object) -> tuple[str, tuple[Any, ...]] | None:
        """The last message sent at ``ep`` and not yet received by its peer (None:
        none waits)."""
        peer = self._end(owner, ep, "pending").peer
        if peer is None or not peer.queue:
            return None
        last = peer.queue[-1]
        return last.name, last.args

    def queued(self, owner: int, ep: object) -> int:
        """How many messages wait at ``ep``."""
        return len(self._end(owner, ep, "queued").queue)

    def side(self, owner: int, ep: object) -> str:
        """``"Exp"`` or ``"Imp"``."""
        return self._end(owner, ep, "side").side

    def contract_of(self, owner: int, ep: object) -> str:
        """The contract name of ``ep``'s channel ("" for none)."""
        return self._end(owner, ep, "contract").contract

    def close(self, owner: int, ep: object) -> None:
        """Close ``owner``'s endpoint; the peer's receivers see the end."""
        self._close(self._end(owner, ep, "close"))

    def _close(self, first: End) -> None:
        """Drop ``first`` and every endpoint queued, undelivered, behind it (a work
        list, not a recursion: a chain may be as long as the table); blocks queued
        there are freed; each peer's receivers wake."""
        work = [first]
        while work:
            end = work.pop()
            end.closed = True
            self._per_owner.get(end.owner, set()).discard(end.eid)
            del self._ends[end.eid]
            for msg in end.queue:           # undelivered payloads: back to nobody
                for a in msg.carried:
                    if type(a) is Endpoint:
                        got = self._ends.get(a._id)
                        if got is not None and got.handle is a:
                            work.append(got)
                    else:
                        self._heap.discard(a)
            end.queue.clear()
            peer = end.peer
            if peer is not None and peer.sleepers:
                self._sched.wakeup(peer.sleepers)

    def close_all(self, owner: int) -> int:
        """Close every endpoint ``owner`` holds (it exited); how many."""
        ids = sorted(self._per_owner.pop(owner, set()))
        for eid in ids:
            end = self._ends.get(eid)
            if end is not None:
                self._close(end)
        return len(ids)

    def statistics(self) -> ChannelStats:
        """A frozen snapshot of the table's level and counters."""
        return ChannelStats(len(self._ends), self._channels, self._sends, self._receives,
                            self._eps_moved, self._blocks_moved, self._violations,
                            self._refused)
