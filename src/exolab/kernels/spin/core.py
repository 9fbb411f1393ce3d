"""SPIN's core services: PhysAddr, VirtAddr, Translation and Strand.

These are the seed's interfaces over the machine's real frames, page tables
and TLB. Each ``T`` is a capability (a typed kernel object an extension holds
by reference; an application, as an externalized reference):

- ``PhysAddr``: ``allocate(pages, owner) -> Frames``, ``deallocate(f)``;
  when no frame is free, the ``PhysAddr.Reclaim`` event is raised with a
  candidate (the oldest extension allocation): a handler may nominate another
  ``Frames`` it owns instead; the chosen one is revoked and reused.
- ``VirtAddr``: ``allocate(pages) -> VRange``, ``deallocate(v)``: ranges of
  the extension part of the address space (``EXT_VPN`` up to ``USER_TOP``; a
  bump pointer, then first fit in the holes deallocations left: ENOMEM when
  none fits).
- ``Translation``: ``create() -> Context`` (a page table with its own ASID),
  ``destroy(c)``, ``add_mapping(c, v, p, prot)``, ``remove_mapping(c, v)``,
  ``examine_mapping(c, v) -> prot``; the events ``PageNotPresent``,
  ``BadAddress`` and ``ProtectionFault`` (raised by the kernel's fault path
  with ``(context, vaddr, write)``; a handler returns True when it handled
  the fault). A handler installs for one context: presenting its Context.
- ``Strand``: the events ``Block``, ``Unblock``, ``Checkpoint`` and ``Resume``,
  raised by the scheduler with the strand; a handler installs for one strand
  by presenting its ``Strand`` capability (the trusted thread package's
  defaults run otherwise). An ``Unblock`` handler returning ``"front"`` puts
  its strand at the head of the ready queue: an application-specific policy.

Every core event is declared closed: installing on one needs the core's own
capability (``Core.cap``), which only the kernel holds; a client installs
through :meth:`Core.install_for`, which presents it after checking the
client's strand or context capability. What a caller makes (contexts,
ranges) is counted against its :class:`Owner` (``MAX_OWNER_CONTEXTS``,
``MAX_OWNER_RANGES``: EAGAIN past them) and given back by ``release(owner)``
(a process's at its exit).

Interface::

    Frames, VRange, Context, Strand          the capability types
    Core(kernel)
      phys_allocate(pages, owner) -> Frames    phys_deallocate(f)
      virt_allocate(pages, owner=None) -> VRange       virt_deallocate(v)
      tr_create(owner=None) -> Context   tr_destroy(c)   add_mapping(c, v, p, prot)
      remove_mapping(c, v)     examine_mapping(c, v) -> prot
      context_of(space) -> Context             strand_of(thread) -> Strand
      install_for(event_name, cap, handler, owner) -> Binding   (EPERM/EINVAL)
      fault_event(space, vaddr, write) -> Event      (which of the three)
      release(owner)   forget_space(space)   cap (the core events' capability)
      EVENTS
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from exolab.abi import PROT_NONE, PROT_RW
from exolab.errors import SyscallError
from exolab.kernels.monolithic.vm import PTE, USER_TOP, AddressSpace
from exolab.kernels.spin.dispatch import Binding, Event, Owner
from exolab.kernels.spin.limits import MAX_OWNER_CONTEXTS, MAX_OWNER_RANGES
from exolab.machine.cpu import KERNEL
from exolab.safe.sealed import Sealed

if TYPE_CHECKING:
    from exolab.kernels.spin.kernel import Spin
    from exolab.machine.threads import SimThread

__all__ = ["Frames", "VRange", "Context", "Strand", "Core", "EVENTS"]

#: event name -> what its handlers are told
EVENTS = {
    "PhysAddr.Reclaim": "(candidate) -> Frames to reclaim instead",
    "Translation.PageNotPresent": "(context, vaddr, write) -> handled",
    "Translation.BadAddress": "(context, vaddr, write) -> handled",
    "Translation.ProtectionFault": "(context, vaddr, write) -> handled",
    "Strand.Block": "(strand)", "Strand.Unblock": "(strand) -> 'front' or None",
    "Strand.Checkpoint": "(strand)", "Strand.Resume": "(strand)",
}
EXT_VPN = 0x6000_0000 >> 12     # VirtAddr hands out ranges from here up
TOP_VPN = USER_TOP >> 12        # ... to here (exclusive)


class CoreCap(metaclass=Sealed):
    """The core events' capability: installing on one presents it (kernel only)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<Core.Cap>"


class Frames(metaclass=Sealed):
    """PhysAddr.T: physical frames held by one owner."""

    __slots__ = ("_ppns", "_owner", "_live")

    def __init__(self, ppns: list[int], owner: Owner | None) -> None:
        self._ppns = tuple(ppns)    # private: verified code cannot name "_" attributes
        self._owner = owner
        self._live = True

    def __repr__(self) -> str:
        return f"<PhysAddr.T {len(self._ppns)} pages>"


class VRange(metaclass=Sealed):
    """VirtAddr.T: a range of virtual pages."""

    __slots__ = ("_base", "_pages", "_live", "_owner")

    def __init__(self, base: int, pages: int, owner: Owner | None = None) -> None:
        self._base, self._pages, self._live = base, pages, True
        self._owner = owner

    def __repr__(self) -> str:
        return f"<VirtAddr.T {self._pages} pages>"


class Context(metaclass=Sealed):
    """Translation.T: an addressing context (a page table and its ASID)."""

    __slots__ = ("_space", "_live", "_owner")

    def __init__(self, space: AddressSpace, owner: Owner | None = None) -> None:
        self._space = space
        self._live = True
        self._owner = owner         # who made it with Translation.Create (None: kernel)

    def __repr__(self) -> str:
        return "<Translation.T>"


class Strand(metaclass=Sealed):
    """Strand.T: a thread of control the scheduler runs."""

    __slots__ = ("_tid",)

    def __init__(self, tid: int) -> None:
        self._tid = tid

    def __repr__(self) -> str:
        return "<Strand.T>"


def _handled_any(results: list[Any]) -> bool:
    """Combiner of the fault events: handled if any handler says so."""
    return any(r is True for r in results)


def _front_any(results: list[Any]) -> Any:
    """Combiner of Unblock: "front" if any handler asks for it."""
    return "front" if any(r == "front" for r in results if type(r) is str) else None


class Core:
    """The core services of one SPIN kernel."""

    def __init__(self, kernel: "Spin") -> None:
        self.k = kernel
        d = kernel.dispatcher
        cap = self.cap = CoreCap()      # closed events: only install_for presents it
        self.reclaim = d.declare("PhysAddr.Reclaim", lambda cand: cand, cap=cap)
        self.faults = {name: d.declare(f"Translation.{name}", lambda c, v, w: False,
                                       combine=_handled_any, cap=cap)
                       for name in ("PageNotPresent", "BadAddress", "ProtectionFault")}
        self.strand_events = {name: d.declare(f"Strand.{name}", lambda s: None,
                                              combine=_front_any if name == "Unblock"
                                              else None, cap=cap)
                              for name in ("Block", "Unblock", "Checkpoint", "Resume")}
        self.allocations: list[Frames] = []     # extension frames, oldest first
        self._ranges: dict[int, VRange] = {}     # id -> every VRange issued and live
        self._next_vpn = EXT_VPN                 # the bump pointer (then first fit)
        self._contexts: dict[int, Context] = {}  # id(space) -> its Context
        self._strands: dict[int, Strand] = {}    # tid -> Strand
        self._held: dict[Owner, dict[int, Any]] = {}  # owner -> id -> Context/VRange

    # -- PhysAddr -------------------------------------------------------------------

    def phys_allocate(self, pages: Any, owner: Owner | None) -> Frames:
        """Allocate ``pages`` zeroed frames (reclaiming through the event if none)."""
        if type(pages) is not int or not 0 < pages <= 64:
            raise SyscallError("EINVAL", "pages must be 1..64", pages=pages)
        k, cpu = self.k, self.k.machine.cpu
        while k.frames.available() < pages:
            if not self.allocations:
                raise SyscallError("ENOMEM", "no frames to allocate or reclaim")
            victim = k.dispatcher.raise_(self.reclaim, self.allocations[0])
            if type(victim) is not Frames or not any(x is victim for x in self.allocations):
                victim = self.allocations[0]        # a nominee that is not a live grant
            self.phys_deallocate(victim)
        f = Frames([k.vm.zero_frame(cpu) for _ in range(pages)], owner)
        self.allocations.append(f)
        return f

    def _frames(self, f: Any) -> Frames:
        """Decode a live Frames the kernel issued (a copy built by ``type(f)(...)``
        is not one: identity, not contents, is the capability)."""
        if type(f) is not Frames or not f._live or \
                not any(x is f for x in self.allocations):
            raise SyscallError("EINVAL", "not a live PhysAddr.T issued by the kernel")
        return f

    def _range(self, v: Any) -> VRange:
        """Decode a live VRange the kernel issued."""
        if type(v) is not VRange or not v._live or self._ranges.get(id(v)) is not v:
            raise SyscallError("EINVAL", "not a live VirtAddr.T issued by the kernel")
        return v

    def phys_deallocate(self, f: Any) -> None:
        """Free ``f``'s frames (EINVAL unless a live Frames)."""
        f = self._frames(f)
        f._live = False
        self.allocations.remove(f)
        for ppn in f._ppns:
            self.k.frames.unref(ppn)

    # -- VirtAddr -------------------------------------------------------------------

    def virt_allocate(self, pages: Any, owner: Owner | None = None) -> VRange:
        """A range of ``pages`` virtual pages in the extension area, counted
        against ``owner`` (EAGAIN past its quota, ENOMEM when none fits)."""
        if type(pages) is not int or not 0 < pages <= 4096:
            raise SyscallError("EINVAL", "pages must be 1..4096", pages=pages)
        self._admit(owner, VRange, MAX_OWNER_RANGES)
        vpn = self._next_vpn
        if vpn + pages + 1 <= TOP_VPN:
            self._next_vpn += pages + 1
        else:
            vpn = self._first_fit(pages + 1)
        v = VRange(vpn << 12, pages, owner)
        self._ranges[id(v)] = v
        self._hold(owner, v)
        return v

    def _first_fit(self, span: int) -> int:
        """The lowest hole of ``span`` pages between live ranges (ENOMEM: none)."""
        at = EXT_VPN
        for base, pages in sorted((r._base >> 12, r._pages) for r in self._ranges.values()):
            if base - at >= span:
                return at
            at = max(at, base + pages + 1)
        if TOP_VPN - at >= span:
            return at
        raise SyscallError("ENOMEM", "no room left in the extension address area",
                           pages=span - 1)

    def virt_deallocate(self, v: Any) -> None:
        """Retire range ``v`` (its addresses may be handed out again)."""
        v = self._range(v)
        v._live = False
        del self._ranges[id(v)]
        self._drop(v._owner, v)

    # -- what an owner holds --------------------------------------------------------

    def _admit(self, owner: Owner | None, kind: type, limit: int) -> None:
        """Decode: EAGAIN if ``owner`` holds ``limit`` live objects of ``kind``."""
        held = self._held.get(owner) if owner is not None else None
        if held is not None and sum(1 for x in held.values() if type(x) is kind) >= limit:
            raise SyscallError("EAGAIN", f"too many live {kind.__name__}s for this owner",
                               owner=owner.name, limit=limit)  # type: ignore[union-attr]

    def _hold(self, owner: Owner | None, obj: Any) -> None:
        """Count ``obj`` as ``owner``'s."""
        if owner is not None:
            self._held.setdefault(owner, {})[id(obj)] = obj

    def _drop(self, owner: Owner | None, obj: Any) -> None:
        """``obj`` is no longer ``owner``'s."""
        held = self._held.get(owner) if owner is not None else None
        if held is not None:
            held.pop(id(obj), None)
            if not held:
                del self._held[owner]  # type: ignore[arg-type]

    def release(self, owner: Owner) -> None:
        """Give back every context and range ``owner`` made (its exit)."""
        for obj in list(self._held.pop(owner, {}).values()):
            if type(obj) is Context and obj._live:
                self.tr_destroy(obj)
            elif type(obj) is VRange and obj._live:
                obj._live = False
                self._ranges.pop(id(obj), None)

    def forget_space(self, space: AddressSpace) -> None:
        """A process's address space is gone: its Context is no longer live."""
        c = self._contexts.get(id(space))
        if c is not None and c._space is space:
            c._live = False
            del self._contexts[id(space)]

    # -- Translation ----------------------------------------------------------------

    def context_of(self, space: AddressSpace) -> Context:
        """The Context capability of an existing address space."""
        c = self._contexts.get(id(space))
        if c is None or c._space is not space:
            c = self._contexts[id(space)] = Context(space)
        return c

    def tr_create(self, owner: Owner | None = None) -> Context:
        """Create an empty addressing context with its own ASID, counted against
        ``owner`` (EAGAIN past its quota)."""
        self._admit(owner, Context, MAX_OWNER_CONTEXTS)
        space = AddressSpace(0)
        self.k.asid_for(space)
        c = self._contexts[id(space)] = Context(space, owner)
        self._hold(owner, c)
        return c

    def _live(self, c: Any) -> Context:
        """Decode a live Context."""
        if type(c) is not Context or not c._live or \
                self._contexts.get(id(c._space)) is not c:
            raise SyscallError("EINVAL", "not a live Translation.T issued by the kernel")
        return c

    def tr_destroy(self, c: Any) -> None:
        """Destroy context ``c``: its mappings go, its TLB entries are flushed."""
        ctx = self._live(c)
        for vpn in list(ctx._space.ptes):
            self._unmap(ctx, vpn)
        ctx._live = False
        self._contexts.pop(id(ctx._space), None)
        self._drop(ctx._owner, ctx)

    def add_mapping(self, c: Any, v: Any, p: Any, prot: Any) -> None:
        """Map range ``v`` onto frames ``p`` in ``c`` with ``prot``."""
        ctx = self._live(c)
        v, p = self._range(v), self._frames(p)
        if type(prot) is not int or prot & ~PROT_RW:
            raise SyscallError("EINVAL", "bad protection", prot=prot)
        if len(p._ppns) > v._pages:
            raise SyscallError("EINVAL", "more frames than pages")
        cpu = self.k.machine.cpu
        for i, ppn in enumerate(p._ppns):
            vpn = (v._base >> 12) + i
            cpu.charge(self.k.vm.c_pte)
            self._unmap(ctx, vpn)
            self.k.frames.ref(ppn)
            ctx._space.ptes[vpn] = PTE(ppn, prot)

    def _unmap(self, ctx: Context, vpn: int) -> None:
        """Drop ``vpn``'s PTE in ``ctx`` and its TLB entry (if any)."""
        pte = ctx._space.ptes.pop(vpn, None)
        if pte is None:
            return
        cpu = self.k.machine.cpu
        prev, cpu.mode = cpu.mode, KERNEL
        cpu.tlb_invalidate(vpn, ctx._space.asid)
        cpu.mode = prev
        self.k.frames.unref(pte.ppn)

    def remove_mapping(self, c: Any, v: Any) -> None:
        """Remove every mapping of range ``v`` from ``c``."""
        ctx, v = self._live(c), self._range(v)
        for i in range(v._pages):
            self.k.machine.cpu.charge(self.k.vm.c_pte)
            self._unmap(ctx, (v._base >> 12) + i)

    def examine_mapping(self, c: Any, v: Any) -> int:
        """The protection of ``v``'s first page in ``c`` (PROT_NONE: unmapped)."""
        ctx, v = self._live(c), self._range(v)
        self.k.machine.cpu.charge(self.k.vm.c_pte)
        pte = ctx._space.ptes.get(v._base >> 12)
        return PROT_NONE if pte is None else pte.prot

    def fault_event(self, space: AddressSpace, vaddr: int, write: bool) -> Event:
        """Which Translation event a bad access to ``vaddr`` raises."""
        vpn = vaddr >> 12
        if vpn in space.ptes:
            return self.faults["ProtectionFault"]
        region = space.region_of(vpn)
        if region is None:
            return self.faults["BadAddress"]
        return self.faults["PageNotPresent" if region.prot == PROT_NONE and not write
                           else "ProtectionFault"]

    # -- Strand ---------------------------------------------------------------------

    def strand_of(self, t: "SimThread") -> Strand:
        """The Strand capability of thread ``t``."""
        s = self._strands.get(t.tid)
        if s is None:
            s = self._strands[t.tid] = Strand(t.tid)
        return s

    def forget_strand(self, tid: int) -> None:
        """Drop a dead thread's Strand entry."""
        self._strands.pop(tid, None)

    def install_for(self, event: Any, cap: Any, handler: Callable[..., Any],
                    owner: Owner | None, extra: Callable[..., Any] | None = None) -> Binding:
        """Install ``handler`` on a core event for the strand or context ``cap``
        only (the guard is the capability's identity): EPERM for a capability of
        the wrong type, EINVAL for an unknown event. ``extra``, a guard of the
        installer's own, must hold too."""
        if type(event) is not str or event not in EVENTS or event == "PhysAddr.Reclaim":
            raise SyscallError("EINVAL", "no such per-capability event", event=event)
        ev = self.k.dispatcher.events[event]
        want = Strand if event.startswith("Strand.") else Context
        issued = self._strands.get(cap._tid) if type(cap) is Strand else \
            self._contexts.get(id(cap._space)) if type(cap) is Context else None
        if type(cap) is not want or issued is not cap:
            raise SyscallError("EPERM", "installing needs the strand's or context's "
                               "capability", event=event)
        if extra is not None and not callable(extra):
            raise SyscallError("EINVAL", "a guard must be callable")
        if want is Strand:
            def guard(s: Any) -> bool:
                return s is cap and (extra is None or extra(s) is True)
        else:
            def guard(c: Any, v: Any = None, w: Any = None) -> bool:  # type: ignore[misc]
                return c is cap and (extra is None or extra(v, w) is True)
        return self.k.dispatcher.install(ev, handler, guard, self.cap, owner)
