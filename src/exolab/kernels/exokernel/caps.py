"""Capabilities: Aegis's unforgeable names for the resources it protects.

A program holds an opaque 64-bit *handle*; the kernel maps it to a
:class:`Capability` entry naming an object (a physical page, an environment)
and a set of rights. Handles are drawn from the machine's seeded RNG, so a
guessed or forged value names nothing. Capabilities are data: the rights of
each object type are the table :data:`RIGHTS` (docs and tests are generated
from it). A capability may be *derived* with fewer rights; derivations form
a tree, and revoking a capability revokes everything derived from it. A
revoked handle fails exactly like a forged one (EBADF).

Each entry remembers the secure bindings made with it (hardware/software TLB
entries), so revocation can break them (see :mod:`.bind`).

Interface::

    RIGHTS                      object type -> {right: meaning}
    Capability                  slotted entry (handle, kind, obj, rights, parent, ...)
    CapTable(rng)
      mint(kind, obj, rights, holder=None) -> Capability      a root
      derive(handle, rights) -> Capability                     fewer rights, a child
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

__all__ = ["RIGHTS", "Capability", "CapTable", "CapStats", "checked", "checked_all",
           "rights_table"]

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
    bindings: set[tuple[Any, int]] | None = None       # (env, vpn) made with it, made on
    #                               the first: most capabilities never get either, and an
    #                               empty set and dict each were 280 of an ExOS process's
    #                               ~100 KB of host memory and 2 of its ~300 tracked objects
    valid: bool = True              # False once revoked

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
    """Handle -> capability map with a derivation tree."""

    __slots__ = ("rng", "_by_handle", "_minted", "_derived", "_revoked", "_lookups",
                 "_refused")

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng                                  # the machine's seeded RNG
        self._by_handle: dict[int, Capability] = {}     # live capabilities only
        self._minted = self._derived = self._revoked = 0
        self._lookups = self._refused = 0

    def _new_handle(self) -> int:
        """Draw a fresh, nonzero, unused 64-bit handle: a one-way hash of a draw, so
        the handles a program holds never reveal the generator's state (312 raw
        64-bit draws would let it predict every handle minted after them)."""
        while True:
            raw = self.rng.getrandbits(64).to_bytes(8, "little")
            h = int.from_bytes(blake2b(raw, digest_size=8, person=b"aegis cap").digest(),
                               "little")
            if h and h not in self._by_handle:
                return h

    def _check_rights(self, kind: str, rights: Iterable[str]) -> frozenset[str]:
        """Decode a rights set for ``kind`` (EINVAL for an unknown right)."""
        rs = frozenset(rights)
        table = RIGHTS.get(kind)
        if table is None or not rs <= table.keys():
            raise SyscallError("EINVAL", "unknown right", kind=kind,
                               rights=sorted(rs), expected=sorted(table or ()))
        return rs

    def mint(self, kind: str, obj: Any, rights: Iterable[str],
             holder: Any = None) -> Capability:
        """Create a root capability for ``obj`` (the kernel's act of allocation)."""
        cap = Capability(self._new_handle(), kind, obj, self._check_rights(kind, rights),
                         None, holder)
        self._by_handle[cap.handle] = cap
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
        self._by_handle[cap.handle] = cap
        self._derived += 1
        return cap

    def lookup(self, handle: Any, kind: str | None = None,
               need: Iterable[str] = ()) -> Capability:
        """Return the live capability ``handle`` names, checked for ``kind`` and rights."""
        self._lookups += 1
        cap = self._by_handle.get(handle) if type(handle) is int else None
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
        while stack:
            c = stack.pop()
            if not c.valid:
                continue
            c.valid = False
            if self._by_handle.pop(c.handle, None) is not c:
                raise KernelPanic("caps: revoked capability was not in the table",
                                  handle=c.handle)
            out.append(c)
            if c.children:
                stack.extend(c.children)
        if cap.parent is not None and cap.parent.children is not None:
            del cap.parent.children[cap]
        self._revoked += len(out)
        return out

    def live(self) -> int:
        """Number of live capabilities."""
        return len(self._by_handle)

    def audit(self) -> None:
        """Raise KernelPanic unless the table and the derivation tree agree."""
        for h, c in self._by_handle.items():
            if c.handle != h or not c.valid:
                raise KernelPanic("caps: table entry inconsistent", handle=h)
            if c.parent is not None and (not c.parent.valid or not c.rights <= c.parent.rights):
                raise KernelPanic("caps: child outlives or exceeds its parent", handle=h)

    def statistics(self) -> CapStats:
        """Return a frozen snapshot of the table's counters."""
        return CapStats(len(self._by_handle), self._minted, self._derived, self._revoked,
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
