"""Aegis's network multiplexing: filters bound to receive rings, the NIC driver.

Aegis owns the network interface only to protect it (SOSP'95 §3, seed 001
"Example #2"): a library OS *binds* a packet filter (:mod:`.dpf`, data the
kernel checks) together with a receive ring in pages it owns; on each
arrival the kernel classifies the frame with the merged filters of every
environment (:mod:`.dpf_trie`: code generated per change) and copies it into
the winner's ring, without entering any library OS; a frame nobody's filter
accepts is dropped and counted. Sending is a capability-checked DMA from a
page the sender may read. Everything a program hands in is decoded at its
exact type before anything changes.

The system calls (numbers in :mod:`.syscall`; ``ExOS`` wrappers in
:mod:`exolab.libos.exos.pfilter`)::

    DPF_BIND(filter, ring, flags) -> fid
        filter  a list of term tuples (see :mod:`.dpf`)
        ring    a list of 1..MAX_RING_PAGES page capability handles with the
                ``write`` right: the receive ring lives in those frames
        flags   0: an *exclusive* filter, which must fix its demultiplexing key
                (:func:`.dpf.key`: IPv4, the IP protocol, the UDP/TCP destination
                port or the ICMP type and identifier) and then wins every frame it
                accepts; or SHARE: any filter, which others may overlap and which
                gets only what no exclusive filter takes (the deepest shared wins)
        EINVAL  a malformed filter (the term is named), a bad ring or flags
        EPERM   an unshared filter broader than one key (``missing`` names the
                field it leaves open: bind it SHARE); or a ring handle that is
                not a writable page capability (also EBADF)
        EBUSY   this filter is unshared and another environment's unshared
                filter accepts packets this one would (the same key)
        ENOMEM  past MAX_FILTERS installed, MAX_ENV_FILTERS for the caller, or the
                caller's principal's share of the table (quota.py)
    DPF_UNBIND(fid)               remove one of the caller's filters (ENOENT)
    DPF_INFO(fid) -> (state, delivered, dropped, reason)
        state "bound" or "removed" (reason: "unbind", "ring revoked",
        "handler fault: ...", "handler overran its bound"); ENOENT if the
        fid is not, and never was, the caller's
    ASH_BIND(fid, source, window)  attach a handler (see :mod:`.ash`)
    NET_SEND(handle, offset, length)  transmit the frame at ``offset`` in
        the page ``handle`` names (``read`` right), 14..1514 bytes, inside
        the page; EAGAIN if the NIC's transmit ring is full; ENODEV without
        a NIC

The receive ring: ``2 * len(ring)`` slots of :data:`RING_SLOT` (2048) bytes,
slot ``i`` at byte ``(i % 2) * 2048`` of ring page ``i // 2``. A slot's first
word (32-bit, little-endian, the machine's order) is the frame's length, 0
while the slot is free; the frame's bytes follow at :data:`SLOT_DATA`. The
kernel fills slots in order 0, 1, ... wrapping around, writing the bytes
before the length; the library OS consumes them in the same order and frees
each by storing 0 in its length word. A frame that finds its next slot
still full is dropped (``ring_full``). After filling a slot the kernel
wakes the environment (a sleeping one becomes runnable; otherwise the wake
is remembered).

Regeneration: every change to the classifier regenerates its code at once
(only the changed filter's path, :mod:`.dpf_trie`), in the call that made it:
``DPF_BIND`` or ``DPF_UNBIND`` charges the caller ``codegen`` cycles per
instruction emitted. The receive path only classifies: a frame costs the
same whatever others bound or unbound before it.

Removal: ``DPF_UNBIND``; the death of the environment (at once: Aegis's
destroy calls :meth:`NetFilters.forget`); or the revocation of any ring
page capability (a freed or repossessed page is never written again: every
write first checks the ring's capabilities). Removal of a revoked binding is
lazy: it happens at the next frame the filter accepts and at the next bind
(before the overlap check); that frame is dropped, never delivered elsewhere.
(The regeneration that lazy removal causes at a frame is charged in that
interrupt: the one case the receive path pays for code; it is one path.)
An environment whose binding is removed by the kernel (not by its own
unbind) is told with an asynchronous notice ``("filter", fid, reason)``.

Interface::

    RING_SLOT, SLOT_DATA, MAX_RING_PAGES, MAX_FILTERS, MAX_ENV_FILTERS, SHARE
    PATHS                     the mechanism's path lengths, with sources
    Binding                   one installed filter (guarded by NetFilters)
    NetFilters(k)
      attach(nic)             drive ``nic`` (Aegis attaches the machine's first NIC)
      bind(env, spec, ring, flags) -> fid      unbind(env, fid)
      info(env, fid) -> tuple                  send(env, handle, offset, length)
      mine(env, fid) -> Binding                note_tx(), note_handler_failure()
      remove(binding, reason)    forget(env)   on_irq()       purge()
      classifier              the merged classifier (insert/remove/classify)
      statistics() -> NetStats
    sys_dpf_bind, sys_dpf_unbind, sys_dpf_info, sys_net_send   (the table's handlers)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exolab.errors import SyscallError, type_name
from exolab.kernels.common.stats import AS_LEVEL
from exolab.kernels.exokernel import dpf
from exolab.kernels.exokernel.caps import Capability, checked, checked_all
from exolab.kernels.exokernel.env import Environment, Message
from exolab.kernels.exokernel.limits import MAX_ENV_FILTERS, MAX_FILTERS, MAX_INBOX
from exolab.kernels.exokernel.quota import FILTERS, charge, uncharge

if TYPE_CHECKING:
    from exolab.kernels.exokernel.kernel import Aegis
    from exolab.machine.nic import Nic

__all__ = ["RING_SLOT", "SLOT_DATA", "MAX_RING_PAGES", "MAX_FILTERS", "MAX_ENV_FILTERS",
           "SHARE", "PATHS", "Binding", "NetFilters", "NetStats", "sys_dpf_bind",
           "sys_dpf_unbind", "sys_dpf_info", "sys_net_send", "RX_FIRST", "RX_BUFFERS"]

RING_SLOT = 2048            # bytes per ring slot: a length word and the largest frame
SLOT_DATA = 4               # the frame's bytes start after the length word
MAX_RING_PAGES = 16         # pages of one receive ring (32 slots)
SHARE = 1                   # DPF_BIND flag: others may overlap this filter
RX_FIRST = 48               # kernel frames 48.. hold the NIC's receive buffers
RX_BUFFERS = 16             # buffers of RING_SLOT bytes posted (2 per frame)

#: name -> (instructions, source): the mechanism's software paths (Aegis's
#: convention: charged as count * profile.instruction; estimates, explained)
PATHS: dict[str, tuple[int, str]] = {
    "nic_rx":   (14, "estimate: per received frame: read the completion (address, "
                     "length), range-check it, repost the buffer descriptor"),
    "ring_put": (12, "estimate: check the ring's capabilities are live (2 loads), load "
                     "the slot's length word, store the length, advance the head"),
    "nic_tx":   (10, "estimate: fill a transmit descriptor (address, length), "
                     "advance the ring, poke the NIC's transmit-demand register"),
    "bind_term": (6, "estimate: per filter term at bind: check kind, size, mask, "
                     "value and reach, and (unshared) find the key's bytes among the "
                     "constraints the terms set (a table walk, not on the receive path)"),
    "bind_overlap": (8, "estimate: per installed unshared filter of another environment "
                        "compared at an unshared bind: walk its byte constraints beside "
                        "the new filter's"),
    # DPF (SIGCOMM'96) gives no figure for the cost of inserting a filter; it
    # generates its code with VCODE, whose paper gives the rate: "an approximate
    # cost of six to ten instructions per generated instruction" (Engler, PLDI'96,
    # abstract). The upper end: DPF also merges the filter and sizes its tables.
    "codegen":  (10, "[paper] Engler, VCODE, PLDI'96: 6-10 instructions per instruction "
                     "generated; per instruction the trie's regeneration emits "
                     "(dpf_trie: the changed path's nodes), charged to the environment "
                     "whose bind or unbind changed the classifier, in that call"),
}


def _cost(k: "Aegis", name: str) -> int:
    """Cycles of path ``name`` on ``k``'s profile."""
    return PATHS[name][0] * k.machine.profile.instruction


@dataclass(slots=True, eq=False)
class Binding:
    """One installed filter and its receive ring; guarded by NetFilters."""

    fid: int                            # kernel-assigned, never reused
    env: Environment                    # the owner (accountable, told of removal)
    terms: tuple[dpf.Term, ...]         # the normal form (dpf.decode)
    share: bool                         # others may overlap; outranked by exclusive
    ring: list[Capability]              # the ring's page capabilities (write right)
    head: int = 0                       # next slot the kernel fills
    handler: Any = None                 # an ASH (ash.py), or None
    state: str = "bound"                # "bound" -> "removed"
    reason: str = ""                    # why it was removed
    delivered: int = 0                  # frames put in the ring or handled
    cons: Any = None                    # dpf.constraints(terms), for overlap checks
    dropped: int = 0                    # frames accepted but dropped (ring full)

    @property
    def slots(self) -> int:
        """Slots in the ring."""
        return 2 * len(self.ring)

    def live(self) -> bool:
        """Whether the owner lives and every ring capability is still valid."""
        return self.env.alive and all(c.valid for c in self.ring)


@dataclass(frozen=True, slots=True)
class NetStats:
    """Counters of Aegis's network multiplexing."""

    filters: int = field(metadata=AS_LEVEL)     # installed now
    binds: int                  # DPF_BIND calls that installed a filter
    refused: int                # DPF_BIND calls refused
    removed: int                # filters removed (unbind, death, revocation, fault)
    rx_frames: int              # frames the driver took from the NIC
    delivered: int              # frames put in a ring (or handled by an ASH)
    unclaimed: int              # frames no filter accepted (dropped)
    ring_full: int              # accepted frames dropped: the next slot was full
    tx_frames: int              # frames queued by NET_SEND or a handler
    handler_failures: int       # handlers removed for an overrun or a fault (frame dropped)
    classify_cycles: int        # cycles charged for classification, in total
    codegen_cycles: int         # cycles charged for regenerating the classifier, in total


class NetFilters:
    """Filters, rings and the NIC driver of one Aegis; see the module docstring.

    Takes the kernel (it wakes and notifies environments through the
    scheduler and their inboxes, and reads the profile and memory)."""

    def __init__(self, k: "Aegis", classifier: Any = None) -> None:
        from exolab.kernels.exokernel.dpf_trie import Trie
        self.k = k
        self.memory = k.machine.memory
        self.classifier = Trie() if classifier is None else classifier
        self.bindings: dict[int, Binding] = {}      # fid -> installed binding
        self.gone: dict[int, Binding] = {}          # fid -> removed (for DPF_INFO)
        self.per_env: dict[int, int] = {}           # eid -> filters installed
        self.nic: "Nic | None" = None
        self._next_fid = 1
        self._binds = self._refused = self._removed = 0
        self._rx = self._delivered = self._unclaimed = self._ring_full = 0
        self._tx = self._classify_cycles = self._handler_failures = 0
        self._codegen_cycles = 0
        self.c_instr = k.machine.profile.instruction
        self.c_rx, self.c_put, self.c_tx = (_cost(k, n) for n in ("nic_rx", "ring_put",
                                                                    "nic_tx"))
        self.c_gen = _cost(k, "codegen")

    # -- the device ----------------------------------------------------------------

    def attach(self, nic: "Nic") -> None:
        """Drive ``nic``: post the kernel's receive buffers (once)."""
        if self.nic is not None:
            return
        self.nic = nic
        page = self.memory.page_size
        for i in range(RX_BUFFERS):
            nic.post_rx(((RX_FIRST + i // 2) * page) + (i % 2) * RING_SLOT, RING_SLOT)

    def _device(self) -> "Nic | None":
        """The NIC, attached on first use if the machine has one."""
        if self.nic is None and self.k.machine.nics:
            self.attach(self.k.machine.nics[0])
        return self.nic

    # -- bind / unbind ---------------------------------------------------------------

    def _decode_ring(self, ring: Any) -> list[Capability]:
        """Decode the ring's page handles (each needs ``write``; no page twice)."""
        if type(ring) not in (list, tuple) or not 0 < len(ring) <= MAX_RING_PAGES:
            raise SyscallError("EINVAL", "a ring is a list of 1 to MAX_RING_PAGES page "
                               "handles", type=type_name(ring), limit=MAX_RING_PAGES)
        caps = checked_all(self.k.caps, self.k.cpu, self.k.c_cap, ring, "page", ("write",))
        if len({c.obj for c in caps}) != len(caps):
            raise SyscallError("EINVAL", "a ring names a page twice")
        return caps

    def _conflict(self, env: Environment, terms: tuple[dpf.Term, ...],
                  share: bool) -> Binding | None:
        """An installed filter of another environment this one may not overlap: an
        unshared one, when this one is unshared too (a shared filter overlaps
        anything: an exclusive filter outranks it on every frame they share)."""
        if share:
            return None
        mine = dpf.constraints(terms)
        compared = 0
        for b in self.bindings.values():
            if b.env is env or b.share:
                continue
            compared += 1
            if dpf.overlap(b.cons, mine):
                self.k.cpu.charge(compared * _cost(self.k, "bind_overlap"))
                return b
        self.k.cpu.charge(compared * _cost(self.k, "bind_overlap"))
        return None

    def bind(self, env: Environment, spec: Any, ring: Any, flags: Any) -> int:
        """Decode and check a filter and its ring, then install it; return its fid."""
        if type(flags) is not int or flags & ~SHARE:
            raise SyscallError("EINVAL", "bad flags", flags=flags)
        try:
            terms = dpf.decode(spec)
            self.k.cpu.charge(len(terms) * _cost(self.k, "bind_term"))
            if not flags & SHARE:
                dpf.key(terms)                  # EPERM: broader than one key
            caps = self._decode_ring(ring)
            if len(self.bindings) >= MAX_FILTERS:
                raise SyscallError("ENOMEM", "too many filters", limit=MAX_FILTERS)
            if self.per_env.get(env.eid, 0) >= MAX_ENV_FILTERS:
                raise SyscallError("ENOMEM", "too many filters in the environment",
                                   limit=MAX_ENV_FILTERS)
            self.purge()
            other = self._conflict(env, terms, bool(flags & SHARE))
            if other is not None:
                raise SyscallError("EBUSY", "another environment's unshared filter "
                                   "accepts packets this one would", fid=other.fid)
            charge(env.principal, FILTERS, 1)   # (last: _install cannot fail)
        except SyscallError:
            self._refused += 1
            raise
        return self._install(env, terms, caps, bool(flags & SHARE))

    def _install(self, env: Environment, terms: tuple[dpf.Term, ...],
                 caps: list[Capability], share: bool) -> int:
        """Invoke: record the binding and merge its filter into the classifier."""
        b = Binding(self._next_fid, env, terms, share, caps, cons=dpf.constraints(terms))
        self._next_fid += 1
        self.bindings[b.fid] = b
        self.per_env[env.eid] = self.per_env.get(env.eid, 0) + 1
        self._regenerated(self.classifier.insert(b.fid, terms, not share))
        self._binds += 1
        self._device()
        return b.fid

    def _regenerated(self, emitted: int | None) -> None:
        """Charge the running caller for the code the classifier just regenerated
        (``emitted`` instructions; None from a classifier that generates nothing)."""
        cycles = (emitted or 0) * self.c_gen
        self._codegen_cycles += cycles
        self.k.cpu.charge(cycles)

    def mine(self, env: Environment, fid: Any) -> Binding:
        """The caller's binding ``fid`` (ENOENT if it is not one)."""
        b = self.bindings.get(fid) if type(fid) is int else None
        if b is None or b.env is not env:
            raise SyscallError("ENOENT", "no such filter of yours", fid=fid)
        return b

    def unbind(self, env: Environment, fid: Any) -> None:
        """Remove one of ``env``'s filters."""
        self.remove(self.mine(env, fid), "unbind", tell=False)

    def remove(self, b: Binding, reason: str, tell: bool = True) -> None:
        """Take binding ``b`` out of the classifier; tell its owner unless it asked."""
        if b.state != "bound":
            return
        b.state, b.reason = "removed", reason
        del self.bindings[b.fid]
        self.gone[b.fid] = b
        self.per_env[b.env.eid] -= 1
        if not self.per_env[b.env.eid]:
            del self.per_env[b.env.eid]
        uncharge(b.env.principal, FILTERS, 1)
        self._regenerated(self.classifier.remove(b.fid))
        self._removed += 1
        if tell and b.env.alive and len(b.env.inbox) < MAX_INBOX:
            b.env.inbox.append(Message("notice", ("filter", b.fid, reason), 0))
            self.k.sched.wake(b.env)

    def forget(self, env: Environment) -> None:
        """Remove every filter of a dying environment (nobody is told)."""
        if self.per_env.get(env.eid):
            for b in [b for b in self.bindings.values() if b.env is env]:
                self.remove(b, "owner died", tell=False)

    def purge(self) -> int:
        """Remove every binding whose owner died or whose ring was revoked."""
        dead = [b for b in self.bindings.values() if not b.live()]
        for b in dead:
            self.remove(b, "ring revoked" if b.env.alive else "owner died")
        return len(dead)

    def info(self, env: Environment, fid: Any) -> tuple[str, int, int, str]:
        """(state, delivered, dropped, reason) of one of ``env``'s filters."""
        b = self.bindings.get(fid) if type(fid) is int else None
        if b is None:
            b = self.gone.get(fid) if type(fid) is int else None
        if b is None or b.env is not env:
            raise SyscallError("ENOENT", "no such filter of yours", fid=fid)
        return b.state, b.delivered, b.dropped, b.reason

    # -- transmit ------------------------------------------------------------------------

    def send(self, env: Environment, handle: Any, offset: Any, length: Any) -> None:
        """Transmit ``length`` bytes at ``offset`` of the page ``handle`` names."""
        cap = checked(self.k.caps, self.k.cpu, self.k.c_cap, handle, "page", ("read",))
        page = self.memory.page_size
        if type(offset) is not int or type(length) is not int or \
                not 14 <= length <= dpf.MAX_FRAME or not 0 <= offset <= page - length:
            raise SyscallError("EINVAL", "a frame is 14..1514 bytes inside its page",
                               offset=offset, length=length)
        nic = self._device()
        if nic is None:
            raise SyscallError("ENODEV", "no network interface")
        self.k.cpu.charge(self.c_tx)
        if not nic.transmit(cap.obj * page + offset, length):
            raise SyscallError("EAGAIN", "transmit ring full")
        self._tx += 1

    def note_tx(self) -> None:
        """Count a frame a handler transmitted."""
        self._tx += 1

    def note_handler_failure(self) -> None:
        """Count a handler removed for an overrun or a fault."""
        self._handler_failures += 1

    # -- receive -----------------------------------------------------------------------------

    def on_irq(self) -> None:
        """The NIC interrupted: classify each received frame and deliver it."""
        nic = self.nic
        if nic is None:
            return
        cpu, memory = self.k.cpu, self.memory
        for paddr, n in nic.take_rx():
            cpu.charge(self.c_rx)
            self._rx += 1
            frame = memory.read(paddr, n)
            nic.post_rx(paddr, RING_SLOT)
            fid, instructions = self.classifier.classify(frame)
            cycles = instructions * self.c_instr
            self._classify_cycles += cycles
            cpu.charge(cycles)
            b = self.bindings.get(fid) if fid is not None else None
            if b is None:
                self._unclaimed += 1
            elif not b.live():
                self.remove(b, "ring revoked" if b.env.alive else "owner died")
                self._unclaimed += 1
            elif b.handler is not None:
                b.handler.run(self, b, frame)
            else:
                self.put(b, frame)

    def put(self, b: Binding, frame: bytes) -> bool:
        """Copy ``frame`` into ``b``'s ring and wake its owner; False if the ring is full."""
        cpu, memory = self.k.cpu, self.memory
        cpu.charge(self.c_put)
        slot = b.head
        cap = b.ring[slot >> 1]
        off = (slot & 1) * RING_SLOT
        if memory.load_word(cap.obj, off) != 0:
            b.dropped += 1
            self._ring_full += 1
            return False
        n = len(frame)
        memory.write(cap.obj * memory.page_size + off + SLOT_DATA, frame)
        memory.store_word(cap.obj, off, n)
        cpu.charge(self.k.machine.profile.copy_cost(n))
        memory.note_copy(n)
        b.head = (slot + 1) % b.slots
        b.delivered += 1
        self._delivered += 1
        self.k.sched.wake(b.env)
        return True

    def statistics(self) -> NetStats:
        """Return a frozen snapshot of the counters (changes nothing)."""
        return NetStats(len(self.bindings), self._binds, self._refused, self._removed,
                        self._rx, self._delivered, self._unclaimed, self._ring_full,
                        self._tx, self._handler_failures, self._classify_cycles,
                        self._codegen_cycles)


# -- the system-call handlers (the table is syscall.py) ------------------------------------

def sys_dpf_bind(k: "Aegis", env: Environment, spec: Any, ring: Any, flags: Any) -> int:
    """Install a packet filter with a receive ring in the caller's pages; return its fid."""
    return k.net.bind(env, spec, ring, flags)


def sys_dpf_unbind(k: "Aegis", env: Environment, fid: Any) -> None:
    """Remove one of the caller's packet filters."""
    k.net.unbind(env, fid)


def sys_dpf_info(k: "Aegis", env: Environment, fid: Any) -> tuple[str, int, int, str]:
    """(state, delivered, dropped, reason) of one of the caller's filters."""
    return k.net.info(env, fid)


def sys_net_send(k: "Aegis", env: Environment, handle: Any, offset: Any,
                 length: Any) -> None:
    """Transmit a frame from a page the caller may read."""
    k.net.send(env, handle, offset, length)
