"""The mapping database: L4's recursive address spaces (grant, map, flush).

Every page a space holds came from another space, back to sigma0, which
holds all of free physical memory at the start (frame ``ppn`` at virtual page
``ppn``). The database records where each mapping came from as a tree per
frame (Liedtke, "On micro-Kernel Construction", SOSP'95, section 3.2):

* **map** gives the receiver a page it shares with the mapper: a new child
  of the mapper's node, with the mapper's rights or fewer;
* **grant** moves the granter's node to the receiver: the page leaves the
  granter, its place in the tree (its parent and its children) does not change;
* **flush** takes the page back from every space that received it from the
  flusher, directly or indirectly: the node's whole subtree goes (or, with
  ``write_only``, loses write rights); the flusher keeps the page, and
  **unmap** removes the flusher's own node as well (sigma0 keeps its pages).

Decode then invoke: every call checks the source exists, the rights and the
destination before anything changes (a :class:`SyscallError`, nothing
changed). Every change to a space's view calls ``on_change(space, vpn, ppn,
writable)`` (``ppn`` None: removed), which the kernel turns into a page-table
store and a TLB invalidation. Invariant (:meth:`check`): each node holds its
parent's frame with no more rights than its parent, one level below it; every
root is sigma0's.

Cost: nothing walks more of a tree than the operation touches. A map or grant
into an empty destination is O(1): the mapper's node is found by its (space,
vpn) key and the child hangs below it (a node's children are an insertion-ordered
dict, so a removal is O(1) too, not a scan of its siblings). The one walk decode
needs is the cycle check when the destination already holds a mapping of the
*same* frame from *higher* in the tree: replacing it would remove the source
itself if it is the source's ancestor (refused, EINVAL). That test climbs from
the source towards the destination's depth and, in step, walks the destination's
subtree (which the replacement removes anyway), stopping when either answers:
O(min(depth gap, subtree)). ``statistics().walked`` counts the nodes it visits.
flush and unmap visit exactly the subtree they remove (or, ``write_only``, that
they restrict); statistics() is O(1).

Interface::

    MappingDB(sigma0, frames, on_change)      frames: the range of ppns sigma0 holds
      lookup(space, vpn) -> (ppn, writable) | None
      map(src, svpn, dst, dvpn, writable) -> ppn
      grant(src, svpn, dst, dvpn, writable) -> ppn
      flush(space, vpn, write_only=False) -> spaces' pages affected
      unmap(space, vpn) -> pages removed (the node and its subtree)
      drop_space(space) -> pages removed       pages(space) -> [vpn, ...]
      held(space) -> pages it got from others
      derived(space, vpn) -> [(space, vpn), ...]   the subtree below a node
      check()                                   KernelPanic if an invariant broke
      statistics() -> MapDBStats
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.common.stats import AS_LEVEL

__all__ = ["MappingDB", "MapNode", "MapDBStats"]

OnChange = Callable[[int, int, "int | None", bool], None]


class MapNode:
    """One space's mapping of one frame, with where it came from."""

    __slots__ = ("space", "vpn", "ppn", "writable", "parent", "children", "depth")

    def __init__(self, space: int, vpn: int, ppn: int, writable: bool,
                 parent: "MapNode | None") -> None:
        self.space = space                  # holder (space id); guarded by the db
        self.vpn = vpn                      # virtual page in the holder
        self.ppn = ppn                      # frame (the root's, all the way down)
        self.writable = writable            # rights: never more than the parent's
        self.parent = parent                # the mapper (None: a sigma0 root)
        self.children: dict[MapNode, None] = {}  # spaces this one mapped the page to
        #   (insertion-ordered: mapping order; a dict, so a removal is O(1))
        self.depth: int = 0 if parent is None else parent.depth + 1  # fixed: a grant
        #   keeps the node's place in the tree, a removal takes its subtree


@dataclass(frozen=True, slots=True)
class MapDBStats:
    """Mappings held and operations made."""

    nodes: int = field(metadata=AS_LEVEL)   # mappings outside sigma0's untouched roots, now
    maps: int
    grants: int
    flushes: int
    removed: int                # mappings taken away by flush/unmap/drop
    walked: int = 0             # nodes map/grant's cycle check visited (0 per map
                                # into an empty destination, whatever the depth)


class MappingDB:
    """Trees of mappings per frame, rooted in sigma0; see the module docstring."""

    __slots__ = ("sigma0", "frames", "on_change", "_nodes", "_gone", "_maps",
                 "_grants", "_flushes", "_removed", "_by_space", "_derived",
                 "_walked")

    def __init__(self, sigma0: int, frames: range, on_change: OnChange) -> None:
        if type(frames) is not range or frames.step != 1:
            raise KernelPanic("mapdb: sigma0's frames must be a contiguous range")
        self.sigma0 = sigma0                        # the space that holds all at start
        self.frames = frames                        # sigma0's frames (identity-mapped; a
                                                    # range: O(1) membership, no per-frame set)
        self.on_change = on_change                  # the kernel's page-table hook
        self._nodes: dict[tuple[int, int], MapNode] = {}   # (space, vpn) -> node
        self._gone: set[int] = set()                # sigma0 frames granted away
        self._by_space: dict[int, set[int]] = {}    # space -> vpns it holds (index)
        self._maps = self._grants = self._flushes = self._removed = 0
        self._derived = 0                           # nodes with a parent (statistics)
        self._walked = 0                            # nodes the cycle check visited

    # -- lookups -------------------------------------------------------------------

    def _node(self, space: int, vpn: int) -> MapNode | None:
        """The node at (space, vpn), making sigma0's root on first use."""
        node = self._nodes.get((space, vpn))
        if node is None and space == self.sigma0 and vpn in self.frames \
                and vpn not in self._gone:
            node = self._nodes[(space, vpn)] = MapNode(space, vpn, vpn, True, None)
            self._index(space, vpn)
        return node

    def _index(self, space: int, vpn: int) -> None:
        """Record that ``space`` holds a node at ``vpn``."""
        got = self._by_space.get(space)
        if got is None:
            got = self._by_space[space] = set()
        got.add(vpn)

    def _unindex(self, space: int, vpn: int) -> None:
        """Forget ``space``'s node at ``vpn``."""
        got = self._by_space.get(space)
        if got is not None:
            got.discard(vpn)
            if not got:
                del self._by_space[space]

    def lookup(self, space: int, vpn: int) -> tuple[int, bool] | None:
        """(ppn, writable) that ``space`` holds at ``vpn``, or None."""
        node = self._node(space, vpn)
        return None if node is None else (node.ppn, node.writable)

    def pages(self, space: int) -> list[int]:
        """The virtual pages ``space`` holds (sigma0's untouched roots not listed)."""
        return sorted(self._by_space.get(space, ()))

    def held(self, space: int) -> int:
        """How many pages ``space`` holds from another space (not roots)."""
        return sum(1 for v in self._by_space.get(space, ())
                   if self._nodes[(space, v)].parent is not None)

    def derived(self, space: int, vpn: int) -> list[tuple[int, int]]:
        """Every (space, vpn) that holds the page because ``space`` mapped it."""
        node = self._node(space, vpn)
        return [] if node is None else [(n.space, n.vpn) for n in _below(node)]

    # -- decode --------------------------------------------------------------------

    def _source(self, space: int, vpn: int) -> MapNode:
        """The node a map or grant gives from, or ESRCH/EFAULT-style refusal."""
        node = self._node(space, vpn)
        if node is None:
            raise SyscallError("EFAULT", "the sender holds no page there",
                               space=space, vpn=vpn)
        return node

    def _destination(self, src: MapNode, dst: int, dvpn: int) -> MapNode | None:
        """The node a map/grant would replace; refused if it is the source or above it."""
        if type(dvpn) is not int or dvpn < 0:
            raise SyscallError("EINVAL", "bad destination page", vpn=dvpn)
        if dst == self.sigma0:
            raise SyscallError("EPERM", "nothing is mapped into sigma0", vpn=dvpn)
        old = self._nodes.get((dst, dvpn))
        if old is not None and (old is src or (
                old.ppn == src.ppn and old.depth < src.depth and self._above(old, src))):
            raise SyscallError("EINVAL", "the destination is the source's own origin",
                               space=dst, vpn=dvpn)
        return old

    def _above(self, old: MapNode, node: MapNode) -> bool:
        """Whether ``old`` is an ancestor of ``node`` (same frame, ``old`` shallower).

        Climbs from ``node`` towards ``old``'s depth and, a step at a time, walks
        ``old``'s subtree: the climb answers yes at ``old``'s depth, the subtree walk
        answers no when it ends without meeting ``node``. Either bound suffices, so
        the cost is the smaller: O(min(depth gap, size of ``old``'s subtree))."""
        up, gap = node, node.depth - old.depth
        stack = [iter(old.children)]                # the subtree walk, lazily
        walked = 0
        try:
            while True:
                if gap == 0:
                    return up is old
                parent = up.parent
                if parent is None:                  # not reached: depths say old is above
                    return False
                up, gap = parent, gap - 1
                walked += 1
                while stack:
                    n = next(stack[-1], None)
                    if n is None:
                        stack.pop()
                        continue
                    walked += 1
                    if n is node:
                        return True
                    stack.append(iter(n.children))
                    break
                else:
                    return False                    # the subtree ended: not in it
        finally:
            self._walked += walked

    # -- invoke --------------------------------------------------------------------

    def map(self, src: int, svpn: int, dst: int, dvpn: int, writable: bool) -> int:
        """Share ``src``'s page with ``dst`` (rights at most the source's); the ppn."""
        node = self._source(src, svpn)
        old = self._destination(node, dst, dvpn)
        if old is not None:
            self._remove(old)
        child = MapNode(dst, dvpn, node.ppn, bool(writable) and node.writable, node)
        node.children[child] = None
        self._derived += 1
        self._nodes[(dst, dvpn)] = child
        self._index(dst, dvpn)
        self._maps += 1
        self.on_change(dst, dvpn, child.ppn, child.writable)
        return child.ppn

    def grant(self, src: int, svpn: int, dst: int, dvpn: int, writable: bool) -> int:
        """Move ``src``'s page to ``dst``: it leaves ``src``; its subtree stays; the ppn."""
        node = self._source(src, svpn)
        old = self._destination(node, dst, dvpn)
        if src == dst and svpn == dvpn:
            raise SyscallError("EINVAL", "a grant to the same page", vpn=dvpn)
        if old is not None:
            self._remove(old)
        del self._nodes[(src, svpn)]
        self._unindex(src, svpn)
        if node.parent is None and src == self.sigma0:
            self._gone.add(node.ppn)                # sigma0 no longer has it
        self.on_change(src, svpn, None, False)
        node.space, node.vpn = dst, dvpn
        self._nodes[(dst, dvpn)] = node
        self._index(dst, dvpn)
        self._grants += 1
        self.on_change(dst, dvpn, node.ppn, node.writable)
        if not writable and node.writable:
            self._restrict(node)
        return node.ppn

    def flush(self, space: int, vpn: int, write_only: bool = False) -> int:
        """Revoke the page from every space that got it from ``space``; how many."""
        node = self._source(space, vpn)
        self._flushes += 1
        if write_only:
            below = [n for n in _below(node) if n.writable]
            for n in below:
                n.writable = False
                self.on_change(n.space, n.vpn, n.ppn, False)
            return len(below)
        return sum(self._remove(child) for child in list(node.children))

    def unmap(self, space: int, vpn: int) -> int:
        """Remove ``space``'s own mapping and its subtree; pages removed."""
        node = self._source(space, vpn)
        if node.parent is None:
            raise SyscallError("EPERM", "a frame's root cannot be unmapped (flush it)",
                               vpn=vpn)
        self._flushes += 1
        return self._remove(node)

    def drop_space(self, space: int) -> int:
        """Remove every mapping ``space`` holds (it is being destroyed); pages removed."""
        if space == self.sigma0:
            raise KernelPanic("mapdb: sigma0 cannot be dropped")
        return sum(self._remove(self._nodes[(space, v)]) for v in self.pages(space)
                   if (space, v) in self._nodes)

    def _restrict(self, node: MapNode) -> None:
        """Take write rights from ``node`` and everything below it."""
        for n in [node, *_below(node)]:
            if n.writable:
                n.writable = False
                self.on_change(n.space, n.vpn, n.ppn, False)

    def _remove(self, node: MapNode) -> int:
        """Remove ``node`` and its subtree (leaves first); the number removed."""
        gone = [*_below(node), node]
        if node.parent is not None:
            del node.parent.children[node]
        for n in reversed(gone[:-1]):
            n.children = {}
        for n in gone:
            del self._nodes[(n.space, n.vpn)]
            self._unindex(n.space, n.vpn)
            if n.parent is None:            # a granted root of a dropped space:
                self._gone.discard(n.ppn)   # the frame goes back to sigma0
            else:
                self._derived -= 1
            self.on_change(n.space, n.vpn, None, False)
        node.children = {}
        self._removed += len(gone)
        return len(gone)

    # -- invariants and statistics ---------------------------------------------------

    def check(self) -> None:
        """Raise KernelPanic unless every node agrees with its parent and the index."""
        roots: set[int] = set()
        derived = 0
        for (space, vpn), n in self._nodes.items():
            if (n.space, n.vpn) != (space, vpn) or vpn not in self._by_space.get(space, ()):
                raise KernelPanic("mapdb: index disagrees", space=space, vpn=vpn)
            p = n.parent
            if p is None:
                if n.ppn not in self.frames or n.ppn in roots or \
                        (space == self.sigma0) != (n.ppn not in self._gone):
                    raise KernelPanic("mapdb: a frame with a bad root", space=space,
                                      vpn=vpn)
                if n.depth != 0:
                    raise KernelPanic("mapdb: a root below the top", space=space, vpn=vpn)
                roots.add(n.ppn)
                continue
            derived += 1
            if self._nodes.get((p.space, p.vpn)) is not p or n not in p.children:
                raise KernelPanic("mapdb: a node whose source lost the page",
                                  space=space, vpn=vpn)
            if n.depth != p.depth + 1:
                raise KernelPanic("mapdb: a node at the wrong depth", space=space, vpn=vpn)
            if n.ppn != p.ppn or (n.writable and not p.writable):
                raise KernelPanic("mapdb: more than the source has", space=space, vpn=vpn)
        for (space, vpn), n in self._nodes.items():     # every child link points back
            for c in n.children:
                if c.parent is not n or self._nodes.get((c.space, c.vpn)) is not c:
                    raise KernelPanic("mapdb: a child that is not the node's",
                                      space=space, vpn=vpn)
        if sum(len(v) for v in self._by_space.values()) != len(self._nodes):
            raise KernelPanic("mapdb: the per-space index holds stale pages")
        if derived != self._derived:
            raise KernelPanic("mapdb: the count of mappings is stale")

    def statistics(self) -> MapDBStats:
        """Return a frozen snapshot of the database's counters."""
        return MapDBStats(self._derived, self._maps, self._grants, self._flushes,
                          self._removed, self._walked)


def _below(node: MapNode) -> list[MapNode]:
    """Every node below ``node``, parents before children."""
    out: list[MapNode] = []
    stack = list(reversed(node.children))
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(n.children))
    return out
