"""Capabilities: Aegis's unforgeable names for the resources it protects.

A program holds an opaque 64-bit *handle*; the kernel maps it to a
:class:`Capability` entry naming an object (a physical page, an environment)
and a set of rights. A handle is a sparse capability, as Amoeba's are: the
low :data:`SLOT_BITS` bits name a slot of the kernel's table and the high
:data:`CHECK_BITS` are a check drawn from the machine's seeded RNG (hashed),
which the slot's entry must match, so a guessed or forged value names
nothing (one chance in 2**40 per guess; the slot number is no secret). Freed slots are reused last-freed
first, so a new environment's capabilities take the slots its predecessor
left, which the host has in cache; a hash table of random 64-bit names
(10,000 live ExOS processes hold 650k capabilities) put every mint, lookup
and revoke at a random place in tens of MB. Capabilities are data: the rights of
each object type are the table :data:`RIGHTS` (docs and tests are generated
from it). A capability may be *derived* with fewer rights; derivations form
a tree, and revoking a capability revokes everything derived from it. A
revoked handle fails exactly like a forged one (EBADF).

Each entry remembers the secure bindings made with it (hardware/software TLB
entries), so revocation can break them (see :mod:`.bind`).

Interface::

    RIGHTS                      object type -> {right: meaning}
    Capability                  slotted entry (handle, kind, obj, rights, parent, ...)
    SLOT_BITS, CHECK_BITS, MAX_CAPS
    CapTable(rng, capacity=MAX_CAPS)
      mint(kind, obj, rights, holder=None) -> Capability      a root
      derive(handle, rights) -> Capability                     fewer rights, a child
                                (both ENOMEM once ``capacity`` capabilities are live)
      lookup(handle, kind=None, need=()) -> Capability         EBADF/EINVAL/EPERM
      revoke(cap) -> list[Capability]                          the cap and its subtree
      live() -> int             statistics() -> CapStats
      audit()                   KernelPanic unless table and tree agree
    checked(caps, cpu, cost, handle, kind=None, need=()) -> Capability
                                one capability check, charged ``cost`` cycles
    checked_all(caps, cpu, cost, handles, kind, need) -> list[Capability]
                                each of ``handles`` so (the first refused one raises)
    rights_table() -> list[(kind, right, meaning)]
"""
from __future__ import annotations

import random
from hashlib import blake2b
from dataclasses import dataclass, field
from typing import Any, Iterable

from exolab.kernels.common.stats import AS_LEVEL
from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.exokernel.limits import MAX_CAPS

__all__ = ["RIGHTS", "Capability", "CapTable", "CapStats", "checked", "checked_all",
           "rights_table", "SLOT_BITS", "CHECK_BITS", "MAX_CAPS"]

SLOT_BITS = MAX_CAPS.bit_length() - 1   # a handle's low bits: its slot in the table
CHECK_BITS = 64 - SLOT_BITS     # the rest: a random check the slot's entry must match
_SLOT = (1 << SLOT_BITS) - 1
_CHECK = (1 << CHECK_BITS) - 1
_ONE_PAST = 1 << 64             # handles are 64-bit
#: a seeded hash of the generator's draw (handles never reveal the generator's state:
#: 312 raw 64-bit draws would let a program predict every check drawn after them);
#: copied per handle, which is cheaper than building it (0.66 against 1.04 us)
_HASH = blake2b(digest_size=8, person=b"aegis cap")

#: object type -> right -> what it allows; every capability's rights come from here
RIGHTS: dict[str, dict[str, str]] = {
    "page": {
        "read": "bind the page readable in the holder's address space",
        "write": "bind the page writable",
        "share": "make another environment a co-owner of the page",
        "free": "give the page back (root capabilities only)",
    },
    "env": {
        "pct": "protected control transfer into the environment's entry points",
        "wake": "wake the environment / send it an asynchronous message",
        "yield": "donate the rest of the caller's time slice to it",
        "control": "set its contexts, start it, give it slices, destroy it",
    },
}


#: every rights set in use, interned: a capability shares its frozenset with every
#: other of the same rights (a fresh one each was 216 bytes and a tracked object)
_RIGHTS_SETS: dict[frozenset[str], frozenset[str]] = {}


@dataclass(slots=True, eq=False)
class Capability:
    """One capability; every field is guarded by the CapTable."""

    handle: int                     # the opaque 64-bit name programs hold
    kind: str                       # object type, a key of RIGHTS
    obj: Any                        # the object: a ppn, an Environment
    rights: frozenset[str]          # subset of RIGHTS[kind]
    parent: "Capability | None"     # derived from (None: a root)
    holder: Any = None              # accountable environment of a root, or None
    children: dict["Capability", None] | None = None   # derived from this, made on the
    #                               first (insertion-ordered; a dict so that revoking one
    #                               of many children is O(1), not a list scan)
    bindings: tuple[Any, int] | set[tuple[Any, int]] | None = None    # (env, vpn) made
    #                               with it: the first alone, a set from the second (most
    #                               capabilities never get a set; an empty set and dict
    #                               each were 280 of an ExOS process's ~100 KB of host
    #                               memory and 2 of its ~300 tracked objects)
    valid: bool = True              # False once revoked
    pos: int = 0                    # a page root's index among its frame's co-owners
    #                               (phys.PhysPages keeps it; 0 for anything else)

    def allows(self, *rights: str) -> bool:
        """Whether every one of ``rights`` is held."""
        return all(r in self.rights for r in rights)


@dataclass(frozen=True, slots=True)
class CapStats:
    """Counters of the capability table."""

    live: int = field(metadata=AS_LEVEL)
    minted: int
    derived: int
    revoked: int
    lookups: int
    refused: int


class CapTable:
    """Slot table of capabilities (sparse handles) with a derivation tree."""

    __slots__ = ("rng", "capacity", "_slots", "_free", "_live", "_minted", "_derived",
                 "_revoked", "_lookups", "_refused")

    def __init__(self, rng: random.Random, capacity: int = 0) -> None:
        self.rng = rng                                  # the machine's seeded RNG
        self.capacity = capacity or MAX_CAPS            # live capabilities at most
        self._slots: list[Capability | None] = []       # slot -> live capability
        self._free: list[int] = []                      # free slots, last freed on top
        self._live = 0
        self._minted = self._derived = self._revoked = 0
        self._lookups = self._refused = 0

    def _new_handle(self) -> int:
        """Take a free slot (the last freed) and draw its nonzero check: the handle."""
        while True:
            h = _HASH.copy()
            h.update(self.rng.getrandbits(64).to_bytes(8, "little"))
            check = int.from_bytes(h.digest(), "little") & _CHECK
            if check:
                break
        if self._free:
            slot = self._free.pop()
        elif len(self._slots) < self.capacity:
            slot = len(self._slots)
            self._slots.append(None)
        else:
            raise SyscallError("ENOMEM", "capability table full", limit=self.capacity)
        return (check << SLOT_BITS) | slot

    def _enter(self, cap: Capability) -> None:
        """Put ``cap`` in the slot its handle names."""
        self._slots[cap.handle & _SLOT] = cap
        self._live += 1

    def _check_rights(self, kind: str, rights: Iterable[str]) -> frozenset[str]:
        """Decode a rights set for ``kind`` (EINVAL for an unknown right), interned."""
        rs = rights if type(rights) is frozenset else frozenset(rights)
        table = RIGHTS.get(kind)
        if table is None or not rs <= table.keys():
            raise SyscallError("EINVAL", "unknown right", kind=kind,
                               rights=sorted(rs), expected=sorted(table or ()))
        return _RIGHTS_SETS.setdefault(rs, rs)     # (at most 2**4 sets per kind)

    def mint(self, kind: str, obj: Any, rights: Iterable[str],
             holder: Any = None) -> Capability:
        """Create a root capability for ``obj`` (the kernel's act of allocation)."""
        rs = self._check_rights(kind, rights)
        cap = Capability(self._new_handle(), kind, obj, rs, None, holder)
        self._enter(cap)
        self._minted += 1
        return cap

    def derive(self, handle: int, rights: Iterable[str]) -> Capability:
        """Derive a child of ``handle`` with ``rights`` (a subset of its own)."""
        parent = self.lookup(handle)
        rs = self._check_rights(parent.kind, rights)
        if not rs <= parent.rights:
            self._refused += 1
            raise SyscallError("EPERM", "cannot derive rights the parent lacks",
                               handle=handle, held=sorted(parent.rights), asked=sorted(rs))
        cap = Capability(self._new_handle(), parent.kind, parent.obj, rs, parent)
        if parent.children is None:
            parent.children = {}
        parent.children[cap] = None
        self._enter(cap)
        self._derived += 1
        return cap

    def lookup(self, handle: Any, kind: str | None = None,
               need: Iterable[str] = ()) -> Capability:
        """Return the live capability ``handle`` names, checked for ``kind`` and rights."""
        self._lookups += 1
        cap = None
        if type(handle) is int and 0 < handle < _ONE_PAST:
            slot = handle & _SLOT
            if slot < len(self._slots):
                cap = self._slots[slot]
                if cap is not None and cap.handle != handle:
                    cap = None
        if cap is None:
            self._refused += 1
            raise SyscallError("EBADF", "no such capability", handle=handle)
        if kind is not None and cap.kind != kind:
            self._refused += 1
            raise SyscallError("EINVAL", "capability names another kind of object",
                               handle=handle, expected=kind, actual=cap.kind)
        for r in need:
            if r not in cap.rights:
                self._refused += 1
                raise SyscallError("EPERM", "capability lacks a right", handle=handle,
                                   need=r, held=sorted(cap.rights))
        return cap

    def revoke(self, cap: Capability) -> list[Capability]:
        """Revoke ``cap`` and everything derived from it; return them, root first."""
        if not cap.valid:
            return []
        out: list[Capability] = []
        stack = [cap]
        slots, free = self._slots, self._free
        while stack:
            c = stack.pop()
            if not c.valid:
                continue
            c.valid = False
            slot = c.handle & _SLOT
            if slots[slot] is not c:
                raise KernelPanic("caps: revoked capability was not in the table",
                                  handle=c.handle)
            slots[slot] = None
            free.append(slot)
            out.append(c)
            if c.children:
                stack.extend(c.children)
        if cap.parent is not None and cap.parent.children is not None:
            del cap.parent.children[cap]
        self._live -= len(out)
        self._revoked += len(out)
        return out

    def live(self) -> int:
        """Number of live capabilities."""
        return self._live

    def audit(self) -> None:
        """Raise KernelPanic unless the table, its free list and the derivation
        tree agree."""
        live = [c for c in self._slots if c is not None]
        if len(live) != self._live or len(live) + len(self._free) != len(self._slots) \
                or any(self._slots[s] is not None for s in self._free):
            raise KernelPanic("caps: slot table and free list disagree", live=self._live)
        for slot, c in enumerate(self._slots):
            if c is None:
                continue
            h = c.handle
            if h & _SLOT != slot or not h >> SLOT_BITS or not c.valid:
                raise KernelPanic("caps: table entry inconsistent", handle=h)
            if c.parent is not None and (not c.parent.valid or not c.rights <= c.parent.rights):
                raise KernelPanic("caps: child outlives or exceeds its parent", handle=h)

    def statistics(self) -> CapStats:
        """Return a frozen snapshot of the table's counters."""
        return CapStats(self._live, self._minted, self._derived, self._revoked,
                        self._lookups, self._refused)


def checked(caps: CapTable, cpu: Any, cost: int, handle: Any, kind: str | None = None,
            need: Iterable[str] = ()) -> Capability:
    """Decode ``handle`` as a system call does: one capability check, charged."""
    cpu.charge(cost)
    return caps.lookup(handle, kind, need)


def checked_all(caps: CapTable, cpu: Any, cost: int, handles: Iterable[Any],
                kind: str, need: Iterable[str]) -> list[Capability]:
    """Decode every one of ``handles`` (one charged check each, in order)."""
    return [checked(caps, cpu, cost, h, kind, need) for h in handles]


def rights_table() -> list[tuple[str, str, str]]:
    """Every (object type, right, meaning), for generated documentation."""
    return [(kind, right, meaning) for kind, rights in RIGHTS.items()
            for right, meaning in rights.items()]
