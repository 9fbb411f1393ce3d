"""XN: protected sharing of one disk among untrusted library file systems.

XN understands no file system. Libraries describe theirs with templates
(:mod:`.udf`) installed in the type catalogue and roots registered in the
root catalogue (:mod:`.catalog`); XN then protects every block by running
those functions:

- **Allocation** (the seed's protocol): the library names a free block ``b``,
  its parent ``m`` (cached) and the bytes that make ``m`` point to ``b``. XN
  runs ``owns(m)`` and checks ``b`` is not there, applies the change to a
  copy ``m'``, runs ``owns(m')`` and checks it is ``owns(m)`` plus exactly
  ``(b, type)``; otherwise nothing changes and the call is refused.
  :meth:`XN.modify` is the same check for a batch (blocks added and removed
  in one change of ``m``); :meth:`XN.write` is the case of none (the
  ownership answer must not move).
- **Free**: the change must remove exactly the named blocks; they and the
  subtrees under them become *pending* (:mod:`.freemap`) until the parent's
  new bytes are durable (ordering rule 2).
- **Read**: a block is cached in the registry (:mod:`.registry`) only when
  its parent is cached and owns it and the parent's access function
  consents; the library gets a capability for the page (:mod:`.pages`).
- **Write-back**: a block whose cached children are not yet durable is not
  written (ordering rule 1); :meth:`XN.flush` makes written blocks durable
  and frees pending ones; :meth:`XN.sync` writes everything in a safe order.
- **Freed bytes**: a new owner gets a block zeroed (register, alloc) or by an
  adopt, which is allowed only while XN knows no tree on the disk and never did
  (probe's window): a free block may hold bytes another principal freed.
- **Recovery**: after a crash the registry is gone and the free map is
  rebuilt by walking every root's tree on disk with the ownership functions.
- **Lifetimes**: a template or a root an *owner* (the principal that made it,
  passed when it may go away) installed lives on once the disk depends on it:
  a type once a block of it was written or found on the disk (adopt, read, the
  boot walk), a root once its block was written. When the owner is gone,
  :meth:`XN.release` forgets the roots it registered whose block never reached
  the disk (their trees freed at once: no on-disk pointer names them), then the
  types it installed that no block has, on the disk or in the registry, and
  gives back the registry pages of its trees' clean, durable blocks (nobody
  can ask for them: the access functions name only it).
- **Persistence** (``persist=True``): the catalogues and the free map live in
  a region at the tail of the disk (:mod:`.store`); at boot XN reads the
  newest valid catalogue, verifies every template again, rebuilds the free
  map from the roots and checks it against the stored one. A damaged or
  foreign catalogue raises DiskImageError and nothing is written. XN takes
  the region when the first root is registered (or adopted with a promise
  that the tree stays below it) while every block of it is free; until then,
  and for good once a tree was adopted without such a promise (it may grow
  into the region), it keeps its catalogues in memory.
  :meth:`XN.sync` commits them after the libraries' blocks are durable (the
  root catalogue points to root blocks: rule 1 again).

Costs are reported through ``charge(kind, count)``: ``xn.call``, ``xn.udf``
(functions run), ``xn.step`` (the fuel ticks they spent, each run bounded by
:data:`~.limits.UDF_FUEL`), ``xn.owns`` (entries they return), ``xn.copy`` (bytes
of modifications applied), ``xn.disk_read``, ``xn.disk_write``, ``xn.flush``.

Interface::

    MAX_MODS
    XN(dev, pages, charge=no_charge, capacity=MAX_CACHED, persist=False)
      install_type(name, source, owner=None)
      register_root(principal, name, block, type, owner=None)
      owners() -> set[int]          release(owner) -> (types, roots, pages) given back
      adopt_root(principal, name, block, type, extent=None) -> int  (a tree on disk;
                                        only while no tree was ever known: EPERM after)
      held(principal) -> int            blocks counted for it (catalog.MAX_HELD)
      layout, labelled, reserved        the region (None if not persistent), taken?
      probe(b) -> bytes        (only while no root exists)
      root(name) -> Root                load_root(principal, name) -> (ppn, handle)
      read(principal, b, parent) -> (ppn, handle)
      alloc(principal, m, mods, b, type)       free(principal, m, mods, b)
      modify(principal, m, mods, alloc=(), free=())     write(principal, b, mods)
      writeback(principal, b)    flush()    sync() -> int
      free_blocks(start, n) -> list[int]    owner(b) -> int | None (cached parent)
      crash()  (persistent: the catalogues read back from disk)
      recover() -> int (blocks reachable)    statistics() -> XNStats
"""
from __future__ import annotations

import heapq

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from exolab.errors import (DiskImageError, KernelPanic, SyscallError, VerifyError, safe_repr,
                           safe_str)
from exolab.kernels.common.stats import AS_LEVEL
from exolab.kernels.exokernel.xn.catalog import MAX_HELD, Root, RootCatalogue, TypeCatalogue
from exolab.kernels.exokernel.xn.freemap import FREE, PENDING, USED, FreeMap
from exolab.kernels.exokernel.xn.pages import Pages
from exolab.kernels.exokernel.xn.registry import (DURABLE, MAX_CACHED, UNINIT, WRITTEN,
                                                  Entry, Registry)
from exolab.kernels.exokernel.xn.store import (PAYLOAD_BYTES, check_payload, decode_map,
                                               decode_payload, encode_map, encode_payload,
                                               header, layout, payload_blocks, read_header)
from exolab.kernels.exokernel.xn.udf import Template, run_acl, run_owns, run_size

__all__ = ["XN", "XNStats", "MAX_MODS"]

MAX_MODS = 64           # (offset, bytes) pieces in one modification


def _no_charge(kind: str, count: int) -> None:
    """Charge nothing (XN without a machine)."""


@dataclass(frozen=True, slots=True)
class XNStats:
    """XN's counters."""

    block_size: int = field(metadata=AS_LEVEL)
    blocks: int = field(metadata=AS_LEVEL)
    cached: int = field(metadata=AS_LEVEL)
    dirty: int = field(metadata=AS_LEVEL)
    free: int = field(metadata=AS_LEVEL)
    used: int = field(metadata=AS_LEVEL)
    pending: int = field(metadata=AS_LEVEL)
    types: int = field(metadata=AS_LEVEL)
    roots: int = field(metadata=AS_LEVEL)
    reads: int
    writes: int
    allocs: int
    frees: int
    refused: int
    udf_runs: int
    udf_ticks: int                                  # fuel the functions spent (xn.step)
    disk_reads: int
    disk_writes: int
    flushes: int
    evictions: int
    recoveries: int
    conflicts: int
    reserved: int = field(metadata=AS_LEVEL)        # blocks of XN's region (0: none)
    persistent: int = field(metadata=AS_LEVEL)      # 1: the catalogues are on the disk
    generation: int = field(metadata=AS_LEVEL)      # of the catalogue on disk
    commits: int                                    # catalogue slots written
    map_diffs: int                                  # boot: stored map vs rebuilt


class XN:
    """One XN instance over one block device; see the module docstring."""

    def __init__(self, dev: Any, pages: Pages, charge: Callable[[str, int], None] = _no_charge,
                 capacity: int = MAX_CACHED, persist: bool = False) -> None:
        self.dev = dev                          # BlockIO: the disk XN multiplexes
        self.blocks = dev.blocks
        self.block_size = dev.block_size
        self.charge = charge
        self.types = TypeCatalogue()
        self.roots = RootCatalogue()
        self.free_map = FreeMap(self.blocks)
        self.reg = Registry(pages, self.block_size, capacity)
        self._waiting: dict[int | None, list[int]] = {}   # parent -> pending blocks it cleared
        self._cleared: list[int] = []               # pending: parent written, not flushed
        self._written: list[int] = []               # WRITTEN entries (durable at flush)
        self.n_reads = self.n_writes = self.n_allocs = self.n_frees = 0
        self.n_refused = self.n_udf = self.n_dread = self.n_dwrite = self.n_flush = 0
        self.n_recover = self.n_conflicts = self.n_commits = self.n_map_diffs = 0
        self.n_ticks = 0                        # fuel ticks template functions spent
        self.layout = layout(self.block_size, self.blocks) if persist else None
        self.labelled = False                   # the region is XN's, catalogues on it
        self._gen = 0                           # generation of the catalogue on disk
        self._slot = 1                          # the slot holding it (next: the other)
        self._cat_dirty = False                 # catalogues changed since the commit
        self._unsafe = False                    # a tree without a promise: region never taken
        self._map_disk: list[bytes | None] = []     # free-map blocks as last written
        self._known = False                     # a tree was known on this disk: no adopt
        self._holder: dict[int, int] = {}       # used block -> principal it counts for
        self._held: dict[int, int] = {}         # principal -> blocks it holds (MAX_HELD)
        self._new_types: dict[str, int] = {}    # type no block had yet -> its installer
        self._new_roots: dict[str, int] = {}    # root not yet written -> its registrant
        self.reaped = 0                         # (the caller's: exits already looked at)
        if self.layout is not None:
            self._map_disk = [None] * self.layout.map_blocks
            self._boot()

    # -- decoding --------------------------------------------------------------------------

    def _block(self, b: Any, what: str = "block") -> int:
        """Decode a block number."""
        if type(b) is not int or not 0 <= b < self.blocks:
            raise SyscallError("EINVAL", f"bad {what} number", block=safe_repr(b),
                               blocks=self.blocks)
        return b

    def _cached(self, b: Any, what: str = "block") -> Entry:
        """The registry entry of a decoded block (ENOENT if not cached)."""
        e = self.reg.get(self._block(b, what))
        self.charge("xn.call", 1)
        if e is None:
            raise SyscallError("ENOENT", f"{what} is not in the registry", block=b)
        return e

    def _mods(self, e: Entry, data: bytes, mods: Any) -> bytes:
        """Decode ``mods`` against ``e``'s size function; return the changed bytes."""
        if type(mods) not in (list, tuple) or len(mods) > MAX_MODS:
            raise SyscallError("EINVAL", "modifications must be a list of (offset, bytes)",
                               limit=MAX_MODS)
        limit = self._size(e.tmpl, data)
        out = bytearray(data)
        for m in mods:
            if (type(m) is not tuple or len(m) != 2 or type(m[0]) is not int
                    or type(m[1]) is not bytes):
                raise SyscallError("EINVAL", "modification is not (offset, bytes)",
                                   mod=safe_repr(m)[:60])
            off, piece = m
            if not 0 <= off <= off + len(piece) <= limit:
                raise SyscallError("EINVAL", "modification outside the structure",
                                   offset=off, length=len(piece), size=limit)
            out[off:off + len(piece)] = piece
            self.charge("xn.copy", len(piece))
        return bytes(out)

    def _size(self, t: Template, data: bytes) -> int:
        """Run ``t``'s size function."""
        self.n_udf += 1
        self.charge("xn.udf", 1)
        return run_size(t, data, self._spend)

    def _owns(self, t: Template, data: bytes) -> dict[int, str]:
        """Run ``t``'s ownership function: block -> type (a repeated block: EINVAL)."""
        if t.leaf:
            return {}
        self.n_udf += 1
        self.charge("xn.udf", 1)
        out = run_owns(t, data, self.blocks, self._spend)
        self.charge("xn.owns", len(out))
        d = dict(out)
        if len(d) != len(out):
            raise SyscallError("EINVAL", "ownership function names a block twice",
                               type=t.name)
        return d

    def _spend(self, ticks: int) -> None:
        """Charge the fuel one function run spent (to the calling environment)."""
        self.n_ticks += ticks
        self.charge("xn.step", ticks)

    def _allow(self, e: Entry, data: bytes, op: str, principal: int) -> None:
        """EPERM unless ``e``'s access function lets ``principal`` do ``op``."""
        self.n_udf += 1
        self.charge("xn.udf", 1)
        if not run_acl(e.tmpl, data, op, principal, self._spend):
            self.n_refused += 1
            raise SyscallError("EPERM", "access function refuses", block=e.block, op=op)

    # -- setup and startup -------------------------------------------------------------------

    def install_type(self, name: Any, source: Any, owner: int | None = None) -> str:
        """Verify and install a template in the type catalogue; return its name."""
        self.charge("xn.call", 1)
        new = type(name) is str and type(source) is str and name not in self.types
        if new and self._storing():
            self._room(extra_type=(name, source))
        t = self.types.install(name, source)
        self._cat_dirty |= new and self.labelled
        if new and owner is not None:
            self._new_types[t.name] = owner
        return t.name

    def _has(self, ty: str) -> None:
        """A block of type ``ty`` is on the disk (written, or found there): the type
        lives on (it is no one's to release)."""
        if self._new_types:
            self._new_types.pop(ty, None)

    def owners(self) -> set[int]:
        """The owners :meth:`release` has something to do for: a type or a root to
        forget, a tree with cached blocks."""
        cached = {r.principal for r in self.roots.roots() if r.block in self.reg}
        return set(self._new_types.values()) | set(self._new_roots.values()) | cached

    def release(self, owner: int) -> tuple[int, int, int]:
        """``owner`` is gone: forget the roots it registered whose block was never
        written (their trees freed at once), then the types it installed that no
        block has on the disk or in the registry, and evict its trees' clean,
        durable blocks; return (types, roots, pages) given back."""
        roots = [n for n, o in self._new_roots.items() if o == owner]
        for n in roots:
            self._drop_root(n)
        cached = {e.tmpl.name for e in self.reg.entries()}   # (unwritten blocks have them)
        types = [n for n, o in self._new_types.items() if o == owner and n not in cached]
        for n in types:
            del self._new_types[n]
            self.types.remove(n)
        self._cat_dirty |= bool(types or roots) and self.labelled
        return len(types), len(roots), self._trim(owner)

    def _trim(self, owner: int) -> int:
        """Evict the clean, durable cached blocks of ``owner``'s trees (a dirty block
        stays until it is written); return how many."""
        return self.reg.evict_trees({r.block for r in self.roots.roots()
                                     if r.principal == owner})

    def _drop_root(self, name: str) -> None:
        """Unregister a root whose block never reached the disk; free its tree at once."""
        del self._new_roots[name]
        r = self.roots.get(name)
        e = self.reg.get(r.block)
        if e is None or e.state != UNINIT:
            return                          # (written meanwhile: it persists)
        self._free_tree(r.block, r.type, None)
        for w in self._waiting.pop(None, ()):   # (pending under it: no pointer left)
            if self.free_map.state(w) == PENDING:
                self.free_map.settle(w)
        self.roots.remove(name)

    def register_root(self, principal: int, name: Any, block: Any, type_name: Any,
                      owner: int | None = None) -> Root:
        """Register a new tree: its root block (free now: taken) and root type."""
        b = self._block(block)
        t = self.types.get(type_name)
        claim = self._claim_ok()
        if self.free_map.state(b) != FREE or (claim and b in self.layout):  # type: ignore[operator]
            raise SyscallError("EBUSY", "root block is in use", block=b)
        self._quota(principal, 1)
        if claim or self.labelled:
            self._room(extra_root=(safe_str(name), b, t.name, principal))
        root = self.roots.register(name, b, t.name, principal)
        if owner is not None:
            self._new_roots[root.name] = owner
        self._known = True
        self._take_region(claim)
        self.free_map.take(b)
        self._hold(b, principal)
        self.reg.add(b, t, None, bytes(self.block_size), UNINIT, {})
        return root

    def adopt_root(self, principal: int, name: Any, block: Any, type_name: Any,
                   extent: Any = None) -> int:
        """Register a root over a tree already on disk (an existing image): every
        block it reaches must be free (EBUSY otherwise, nothing changes); return
        how many blocks it reaches. ``extent`` is the library's promise that its
        tree stays in blocks ``[0, extent)`` (None: no promise): with one below
        XN's region, XN may take the region for its catalogues.

        Adopting hands the caller the bytes on disk, so it is allowed only in the
        window ``probe`` has: while XN knows no tree on this disk and never did
        (no root now, none registered since XN started on it, no catalogue of
        XN's on it). After that, a free block may hold bytes another principal
        wrote and freed (this boot or an earlier one): EPERM, nothing changes.
        A new tree is made with ``register_root`` and ``alloc``: zeroed blocks."""
        b = self._block(block)
        t = self.types.get(type_name)
        if extent is not None and (type(extent) is not int or not 0 < extent <= self.blocks):
            raise SyscallError("EINVAL", "bad extent", extent=safe_repr(extent))
        if not self._unknown():
            self.n_refused += 1
            raise SyscallError("EPERM", "adopt after a tree is known: free blocks may "
                               "hold freed data", block=b)
        reach = self._reach(b, t.name)
        taken = [x for x in reach if self.free_map.state(x) != FREE]
        if taken:
            self.n_refused += 1
            raise SyscallError("EBUSY", "the tree reaches blocks in use", blocks=taken[:8])
        self._quota(principal, len(reach))
        lay = self.layout
        claim = (extent is not None and lay is not None and extent <= lay.start
                 and self._claim_ok() and not any(x in lay for x in reach))
        if claim or self.labelled:
            self._room(extra_root=(safe_str(name), b, t.name, principal))
        self.roots.register(name, b, t.name, principal)
        self._known = True
        self._take_region(claim)
        self._unsafe |= not self.labelled       # a tree that may grow into the region
        for x in reach:
            self.free_map.take(x)
            self._hold(x, principal)
        return len(reach)

    def _unknown(self) -> bool:
        """Whether XN knows no tree on this disk and never did: the only time a
        block's bytes on disk may be handed out unprotected (probe, adopt)."""
        return not self._known and not self.roots.roots() and not self.labelled

    # -- per-principal bound (catalog.MAX_HELD) -----------------------------------------------

    def _quota(self, principal: int, n: int) -> None:
        """ENOSPC if ``principal`` holding ``n`` blocks more would pass MAX_HELD."""
        held = self._held.get(principal, 0)
        if held + n > MAX_HELD:
            self.n_refused += 1
            raise SyscallError("ENOSPC", "principal holds its limit of blocks",
                               principal=principal, held=held, asked=n, limit=MAX_HELD)

    def _hold(self, b: int, principal: int) -> None:
        """Used block ``b`` counts for ``principal``."""
        self._holder[b] = principal
        self._held[principal] = self._held.get(principal, 0) + 1

    def _unhold(self, b: int) -> None:
        """Block ``b`` is freed: it no longer counts for anybody."""
        p = self._holder.pop(b, None)
        if p is not None:
            left = self._held[p] - 1
            if left:
                self._held[p] = left
            else:
                del self._held[p]

    def held(self, principal: int) -> int:
        """Blocks counted for ``principal``: used in trees it made (freed: not)."""
        return self._held.get(principal, 0)

    # -- the region: XN's own blocks (store.py) -------------------------------------------

    @property
    def reserved(self) -> int:
        """Blocks at the tail a library must leave to XN (0 if XN stores nothing)."""
        lay = self.layout
        return lay.count if lay is not None and (self.labelled or self._claim_ok()) else 0

    def _storing(self) -> bool:
        """Whether the catalogues are (or may become) stored on this disk."""
        return self.labelled or self._claim_ok()

    def _claim_ok(self) -> bool:
        """Whether XN may take its region now: persistent, not yet taken, all free."""
        lay = self.layout
        if lay is None or self.labelled or self._unsafe:
            return False
        st = self.free_map.state
        return all(st(x) == FREE for x in range(lay.start, lay.blocks))

    def _take_region(self, claim: bool) -> None:
        """Take the region (if ``claim``); the catalogues change (if stored)."""
        lay = self.layout
        if claim and lay is not None:
            for x in range(lay.start, lay.blocks):
                self.free_map.take(x)
            self.labelled = True
        self._cat_dirty |= self.labelled

    def _payload(self, extra_type: tuple[str, str] | None = None,
                 extra_root: tuple[str, int, str, int] | None = None) -> bytes:
        """The catalogues encoded (with one type or root more, to check room)."""
        types = [(n, self.types.get(n).source) for n in self.types.names()]
        roots = [(r.name, r.block, r.type, r.principal) for r in self.roots.roots()]
        types += [extra_type] if extra_type else []
        roots += [extra_root] if extra_root else []
        return encode_payload(types, roots)

    def _room(self, **extra: Any) -> None:
        """ENOSPC unless the catalogues with ``extra`` fit one slot on disk."""
        lay = self.layout
        assert lay is not None
        room = min(PAYLOAD_BYTES, (lay.slot_blocks - 1) * lay.block_size)
        n = len(self._payload(**extra))
        if n > room:
            raise SyscallError("ENOSPC", "XN's catalogue region is full", size=n, limit=room)

    def _reach(self, b: int, ty: str) -> set[int]:
        """Every block the on-disk tree under ``b`` reaches (EINVAL if one is reached
        twice or a function fails on what is on disk). The frontier is read lowest
        block first: ascending reads stream through the drive's read-ahead (a stack
        read an inode table backwards, a revolution per block)."""
        seen, todo = {b}, [(b, ty)]
        while todo:
            x, xty = heapq.heappop(todo)
            t = self.types.get(xty)
            self._has(xty)
            for c, cty in (self._owns(t, self._disk_read(x)).items() if not t.leaf else ()):
                if c in seen:
                    raise SyscallError("EINVAL", "the tree reaches a block twice", block=c)
                seen.add(c)
                heapq.heappush(todo, (c, cty))
        return seen

    def probe(self, b: Any) -> bytes:
        """A block's bytes while no root exists (setting up over an existing image:
        nothing is protected before the first tree is known); EPERM after (and once
        any tree was known on this disk: its freed blocks may hold its data)."""
        b = self._block(b)
        if not self._unknown():
            self.n_refused += 1
            raise SyscallError("EPERM", "probe after a root exists", block=b)
        return self._disk_read(b)

    def root(self, name: Any) -> Root:
        """The root catalogue's entry for ``name``."""
        return self.roots.get(name)

    def load_root(self, principal: int, name: Any) -> tuple[int, int]:
        """Cache a root block (read from disk if need be) if its access function consents."""
        r = self.roots.get(name)
        e = self.reg.get(r.block)
        if e is None:
            data = self._disk_read(r.block)
            t = self.types.get(r.type)
            self._has(t.name)
            e = self.reg.add(r.block, t, None, data, DURABLE, self._owns(t, data))
        self._allow(e, self.reg.data(e), "read", principal)
        self.n_reads += 1
        return self.reg.pages.grant(e.page, False)

    # -- read --------------------------------------------------------------------------------

    def read(self, principal: int, b: Any, parent: Any) -> tuple[int, int]:
        """Cache block ``b`` under its cached ``parent`` (which must own it and whose
        access function must consent); return the page's (ppn, read capability)."""
        b = self._block(b)
        p = self._cached(parent, "parent")
        ty = p.children.get(b)
        if ty is None:
            self.n_refused += 1
            raise SyscallError("EPERM", "parent does not own the block", block=b,
                               parent=p.block)
        self._allow(p, self.reg.data(p), "read", principal)
        e = self.reg.get(b)
        if e is None:
            t = self.types.get(ty)
            self._has(ty)
            data = self._disk_read(b)
            e = self.reg.add(b, t, p.block, data, DURABLE, self._owns(t, data))
        self.n_reads += 1
        return self.reg.pages.grant(e.page, False)

    def owner(self, b: int) -> int | None:
        """The cached parent ``b`` was reached through (None for a root or uncached)."""
        e = self.reg.get(b)
        return None if e is None else e.parent

    # -- modification: the allocation protocol ---------------------------------------------------

    def alloc(self, principal: int, m: Any, mods: Any, b: Any, type_name: Any) -> None:
        """The seed's allocation: ``mods`` make ``m`` point to free block ``b`` of type."""
        self.modify(principal, m, mods, ((b, type_name),), ())

    def free(self, principal: int, m: Any, mods: Any, b: Any) -> None:
        """``mods`` make ``m`` stop pointing to ``b``: ``b`` and its subtree are freed."""
        self.modify(principal, m, mods, (), (b,))

    def write(self, principal: int, b: Any, mods: Any) -> None:
        """Change cached block ``b``; what it owns must not change."""
        self.modify(principal, b, mods, (), ())

    def modify(self, principal: int, m: Any, mods: Any, alloc: Iterable[Any] = (),
               free: Iterable[Any] = ()) -> None:
        """Apply ``mods`` to cached ``m`` if its ownership answer changes by exactly
        the blocks named: ``alloc`` (block, type) pairs added, ``free`` blocks removed."""
        e = self._cached(m, "parent")
        old = self.reg.data(e)
        add, gone = self._decode_change(e, alloc, free)
        op = "alloc" if add else "free" if gone else "write"
        self._allow(e, old, op, principal)
        new = self._mods(e, old, mods)
        self.reg.reserve(len(add))          # (before anything changes: ENOMEM)
        self._quota(principal, len(add))
        after = self._owns(e.tmpl, new)
        expect = {k: v for k, v in e.children.items() if k not in gone}
        expect.update(add)
        if after != expect:
            self.n_refused += 1
            raise SyscallError("EPERM", "modification does not change ownership by "
                               "exactly the named blocks", block=e.block,
                               added=sorted(set(after) - set(e.children))[:8],
                               removed=sorted(set(e.children) - set(after))[:8])
        self._apply(e, old, new, after, add, gone, principal)

    def _decode_change(self, e: Entry, alloc: Iterable[Any],
                       free: Iterable[Any]) -> tuple[dict[int, str], set[int]]:
        """Decode the blocks an allocation adds (free, typed) and a free removes (owned)."""
        if type(alloc) not in (list, tuple) or type(free) not in (list, tuple):
            raise SyscallError("EINVAL", "alloc and free must be lists")
        add: dict[int, str] = {}
        for a in alloc:
            if type(a) is not tuple or len(a) != 2:
                raise SyscallError("EINVAL", "allocation is not (block, type)",
                                   entry=safe_repr(a)[:60])
            b = self._block(a[0])
            self.types.get(a[1])
            if b in add or b in e.children:
                self.n_refused += 1
                raise SyscallError("EEXIST", "parent already owns the block", block=b)
            st = self.free_map.state(b)
            if st != FREE:
                self.n_refused += 1
                raise SyscallError("EBUSY" if st == USED else "EAGAIN",
                                   "block is not free" if st == USED else
                                   "block is freed but may still be pointed to on disk",
                                   block=b)
            add[b] = a[1]
        gone = {self._block(b) for b in free}
        for b in gone:
            if b not in e.children or b in add:
                self.n_refused += 1
                raise SyscallError("EPERM", "parent does not own the block it frees",
                                   block=b, parent=e.block)
        return add, gone

    def _apply(self, e: Entry, old: bytes, new: bytes, after: dict[int, str],
               add: dict[int, str], gone: set[int], principal: int) -> None:
        """Commit a checked change: store the bytes, take/free blocks, cache new ones."""
        lo = next(i for i in range(len(new) + 1) if i == len(new) or new[i] != old[i])
        if lo < len(new):
            hi = len(new)
            while new[hi - 1] == old[hi - 1]:
                hi -= 1
            self.reg.store(e, lo, new[lo:hi])
        before, e.children = e.children, after
        for b, ty in add.items():
            self.free_map.take(b)
            self._hold(b, principal)
            self.reg.add(b, self.types.get(ty), e.block, bytes(self.block_size), UNINIT, {})
        for b in gone:
            self._free_tree(b, before[b], e.block)
        self.n_writes += not add and not gone
        self.n_allocs += len(add)
        self.n_frees += len(gone)

    def _free_tree(self, b: int, ty: str, parent: int | None) -> None:
        """Free ``b`` (of type ``ty``) and everything under it: at once if no on-disk
        pointer can name it (never written), else pending until ``parent``'s new
        bytes are durable. Uncached metadata in the subtree is read to find its
        children; leaf blocks never are."""
        ce = self.reg.get(b)
        at_once = ce is not None and ce.state == UNINIT
        stack = [(b, ty)]
        while stack:
            x, xty = stack.pop()
            xe = self.reg.get(x)
            if xe is not None:
                stack.extend(xe.children.items())
                self.reg.drop(x)
            elif self.free_map.state(x) == USED:
                t = self.types.get(xty)
                if not t.leaf:
                    try:
                        stack.extend(self._owns(t, self._disk_read(x)).items())
                    except SyscallError:        # garbage on disk: nothing under it
                        self.n_conflicts += 1
            if self.free_map.state(x) == USED:
                self.free_map.release(x)
                self._unhold(x)
                if at_once:
                    self.free_map.settle(x)
                else:
                    self._waiting.setdefault(parent, []).append(x)
            for w in self._waiting.pop(x, ()):      # x's own cleared pointers now wait
                self._waiting.setdefault(parent, []).append(w)   # on parent instead

    # -- write-back, flush, sync ----------------------------------------------------------------

    def writeback(self, principal: int, b: Any) -> None:
        """Write dirty cached ``b`` to disk (EAGAIN while a cached child is not durable)."""
        e = self._cached(b)
        self._allow(e, self.reg.data(e), "write", principal)
        self._writeback(e)

    def _writeback(self, e: Entry) -> None:
        """Write ``e`` if ordering rule 1 allows; its cleared frees now wait for a flush."""
        if not e.dirty:
            return
        c = self.reg.blocker(e)
        if c is not None:
            raise SyscallError("EAGAIN", "block points to a block not yet durable",
                               block=e.block, child=c)
        self._disk_write(e.block, self.reg.data(e))
        e.dirty = False
        e.state = WRITTEN
        self._has(e.tmpl.name)
        if self._new_roots and e.parent is None:    # a root block reached the disk
            for n in [n for n in self._new_roots if self.roots.get(n).block == e.block]:
                del self._new_roots[n]
        self._written.append(e.block)
        self._cleared.extend(self._waiting.pop(e.block, ()))

    def flush(self) -> None:
        """Make every write durable; free the blocks whose last pointer was cleared."""
        self.dev.flush()
        self.n_flush += 1
        self.charge("xn.flush", 1)
        for b in self._written:
            e = self.reg.get(b)
            if e is not None and e.state == WRITTEN:
                e.state = DURABLE
        self._written.clear()
        for b in self._cleared:
            if self.free_map.state(b) == PENDING:
                self.free_map.settle(b)
        self._cleared.clear()

    def sync(self) -> int:
        """Write every dirty block, children before parents, and flush; blocks written."""
        n = 0
        for _ in range(64):
            ready = [e for e in self.reg.dirty() if self.reg.blocker(e) is None]
            moving = bool(ready) or self._progress_possible()
            for e in ready:
                if self.reg.blocker(e) is None:     # (a child written just now blocks it)
                    self._writeback(e)
                    n += 1
            self.flush()
            if not self.reg.dirty():
                self._commit()
                return n
            if not moving:
                break
        raise KernelPanic("xn: sync cannot order the dirty blocks", dirty=len(self.reg.dirty()))

    def _progress_possible(self) -> bool:
        """Whether a flush can still unblock a dirty block (some child is WRITTEN)."""
        return any(e.state == WRITTEN for e in self.reg.entries())

    def free_blocks(self, start: Any, n: Any) -> list[int]:
        """Up to ``n`` (at most 1024) free blocks from ``start`` on: the free list."""
        s = self._block(start)
        if type(n) is not int or not 0 <= n <= 1024:
            raise SyscallError("EINVAL", "bad count", n=safe_repr(n))
        return self.free_map.free_blocks(s, n)

    # -- the disk, crash and recovery -------------------------------------------------------------

    def _disk_read(self, b: int) -> bytes:
        """Read block ``b`` from the device."""
        self.n_dread += 1
        self.charge("xn.disk_read", 1)
        return bytes(self.dev.read_block(b))

    def _disk_write(self, b: int, data: bytes) -> None:
        """Write block ``b`` to the device."""
        self.n_dwrite += 1
        self.charge("xn.disk_write", 1)
        self.dev.write_block(b, data)

    def crash(self) -> None:
        """Memory is lost: the registry and every pending bookkeeping go. A
        persistent XN's catalogues go too and are read back from the disk (a
        reboot in place: what was not committed is gone); a volatile XN's
        catalogues are kept (the model of a kernel whose catalogues are safe)."""
        self.reg.clear()
        self._waiting.clear()
        self._cleared.clear()
        self._written.clear()
        self._map_disk = [None] * len(self._map_disk)   # (what reached the disk: unknown)
        if self.layout is not None:
            self._new_types.clear()
            self._new_roots.clear()
            self.types, self.roots = TypeCatalogue(), RootCatalogue()
            self.labelled, self._gen, self._slot = False, 0, 1
            self._cat_dirty = self._unsafe = self._known = False
            self._boot()

    def recover(self) -> int:
        """Rebuild the free map from the roots' trees on disk; return blocks in use."""
        self.free_map.reset()
        self._holder.clear()
        self._held.clear()
        self.n_recover += 1
        lay = self.layout
        if self.labelled and lay is not None:
            for x in range(lay.start, lay.blocks):
                self.free_map.mark(x)
        for r in self.roots.roots():
            self._walk(r)
        return self.free_map.count(USED)

    def _walk(self, r: Root) -> None:
        """Mark every block reachable from root ``r`` on disk (conflicts are counted,
        and the second claimant's subtree is not followed). Leaves are marked, never
        read; metadata is read lowest block first (ascending reads stream through
        the drive's read-ahead, as ``_reach`` does)."""
        if not self.free_map.mark(r.block):
            self.n_conflicts += 1
            return
        self._hold(r.block, r.principal)
        todo = [(r.block, r.type)]
        while todo:
            b, ty = heapq.heappop(todo)
            t = self.types.get(ty)
            self._has(ty)
            if t.leaf:
                continue
            try:
                kids = self._owns(t, self._disk_read(b))
            except SyscallError:
                self.n_conflicts += 1       # garbage on disk: its subtree is not followed
                continue
            for c, cty in kids.items():
                if self.free_map.mark(c):
                    self._hold(c, r.principal)
                    heapq.heappush(todo, (c, cty))
                else:
                    self.n_conflicts += 1

    def statistics(self) -> XNStats:
        """Return a frozen snapshot of XN's counters."""
        fm = self.free_map
        return XNStats(self.block_size, self.blocks, len(self.reg), len(self.reg.dirty()), fm.count(FREE), fm.count(USED),
                       fm.count(PENDING), len(self.types.names()), len(self.roots.roots()),
                       self.n_reads, self.n_writes, self.n_allocs, self.n_frees,
                       self.n_refused, self.n_udf, self.n_ticks, self.n_dread, self.n_dwrite,
                       self.n_flush, self.reg.evictions, self.n_recover, self.n_conflicts,
                       self.reserved, int(self.labelled), self._gen, self.n_commits,
                       self.n_map_diffs)

    # -- persistence: commit and boot ---------------------------------------------------------

    def _commit(self) -> None:
        """Write the catalogues (if changed: the other slot's payload, a flush, its
        header) and the changed free-map blocks, then flush."""
        lay = self.layout
        if not self.labelled or lay is None:
            return
        wrote = False
        if self._cat_dirty:
            payload = self._payload()
            slot = lay.slot(1 - self._slot)
            for b, data in zip(slot[1:], payload_blocks(lay, payload)):
                self._disk_write(b, data)
            self.flush()
            self._disk_write(slot[0], header(lay, self._gen + 1, payload))
            self._gen += 1
            self._slot = 1 - self._slot
            self._cat_dirty = False
            self.n_commits += 1
            wrote = True
        for i, data in enumerate(encode_map(lay, self.free_map.snapshot())):
            if data != self._map_disk[i]:
                self._disk_write(lay.map_block(i), data)
                self._map_disk[i] = data
                wrote = True
        if wrote:
            self.flush()

    def _boot(self) -> None:
        """Read XN's region: load the newest valid catalogue (verifying every
        template again), rebuild the free map from the roots and check the stored
        one. DiskImageError for a damaged or foreign catalogue; nothing is written."""
        lay = self.layout
        assert lay is not None
        found: list[tuple[int, int, bytes]] = []
        bad: DiskImageError | None = None
        for i in (0, 1):
            blocks = lay.slot(i)
            try:
                h = read_header(lay, self._disk_read(blocks[0]))
                if h is None:
                    continue
                gen, n, crc = h
                raw = b"".join(self._disk_read(x)
                               for x in blocks[1:1 + -(-n // lay.block_size)])
                found.append((gen, i, check_payload(n, crc, raw)))
            except DiskImageError as ex:
                bad = ex
        if not found:
            if bad is not None:
                raise bad
            return                              # a disk XN has never stored on
        gen, slot, payload = max(found)
        self.types, self.roots = _catalogues(self.blocks, lay, *decode_payload(payload))
        self.labelled, self._gen, self._slot = True, gen, slot
        stored = []
        for i in range(lay.map_blocks):
            raw = self._disk_read(lay.map_block(i))
            self._map_disk[i] = raw
            stored.append(decode_map(lay, i, raw))
        self.recover()
        self._check_map(stored)

    def _check_map(self, stored: list[bytes | None]) -> None:
        """Count the blocks whose stored state differs from the rebuilt map (a map
        block that did not survive counts as all free)."""
        lay = self.layout
        assert lay is not None
        per = lay.bits_per_map_block()
        now = self.free_map.snapshot()
        diffs = 0
        for i, flags in enumerate(stored):
            mine = now[i * per:(i + 1) * per]
            theirs = flags if flags is not None else bytes(len(mine))
            diffs += sum(1 for a, b in zip(mine, theirs) if (a != FREE) != (b != 0))
        self.n_map_diffs = diffs


def _catalogues(blocks: int, lay: Any, types: list[tuple[str, str]],
                roots: list[tuple[str, int, str, int]]) -> tuple[TypeCatalogue, RootCatalogue]:
    """Fresh catalogues from what the disk says: every template verified again,
    every root's block and type checked (DiskImageError if anything is wrong)."""
    tc, rc = TypeCatalogue(), RootCatalogue()
    try:
        for name, source in types:
            if name in tc:
                raise DiskImageError("XN catalogue names a type twice", what="xn catalogue",
                                     type=name)
            tc.install(name, source)
        seen: set[int] = set()
        for name, b, ty, principal in roots:
            if not 0 <= b < lay.start or b in seen:
                raise DiskImageError("XN catalogue root block out of range or repeated",
                                     what="xn catalogue", root=name, block=b)
            seen.add(b)
            rc.register(name, b, tc.get(ty).name, principal)
    except (SyscallError, VerifyError) as ex:
        raise DiskImageError("XN catalogue on disk does not verify", what="xn catalogue",
                             reason=safe_str(ex)) from None
    return tc, rc
