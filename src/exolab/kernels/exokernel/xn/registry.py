"""XN's buffer-cache registry: the disk blocks cached in pages XN tracks.

Every cached block has an :class:`Entry`: the page holding its bytes, its
metadata type, the parent it was reached through, the blocks it owns (its
ownership function's answer for the cached bytes, kept current by every
change XN applies), whether it is dirty, and where its contents stand with
respect to the disk:

- ``UNINIT``: allocated, never written: no on-disk pointer may name it yet;
- ``WRITTEN``: written to the drive, not yet made durable by a flush;
- ``DURABLE``: on stable storage (every block read from disk starts here).

Ordering rule 1 ("never persist a pointer to an uninitialised block") is a
question this registry answers: :meth:`Registry.blocker` names a cached
child of a block that is not yet ``DURABLE``. Eviction takes the least
recently used clean, durable entry with no cached child; dirty or
uninitialised blocks are never evicted.

Interface::

    UNINIT, WRITTEN, DURABLE, MAX_CACHED
    Entry(block, tmpl, page, parent, children, size, dirty, state)
    Registry(pages, block_size, capacity=MAX_CACHED)
      get(b) -> Entry | None      peek(b) -> Entry | None (not marked used)
      __contains__(b)    __len__    entries()     evict(b) -> bool (if clean, durable, no child)
      evict_trees(roots) -> int  every evictable entry under those root blocks, children first
      add(block, tmpl, parent, data, state, children) -> Entry   (evicts if full)
      reserve(n)                 room for n more entries, or ENOMEM before any change
      data(e) -> bytes           store(e, off, data)
      drop(b)                    blocker(e) -> int | None
      dirty() -> list[Entry]     clear()
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from exolab.errors import SyscallError
from exolab.kernels.exokernel.xn.pages import Pages
from exolab.kernels.exokernel.xn.udf import Template

__all__ = ["UNINIT", "WRITTEN", "DURABLE", "MAX_CACHED", "Entry", "Registry"]

UNINIT, WRITTEN, DURABLE = "uninit", "written", "durable"
MAX_CACHED = 1024       # blocks the registry caches at once (one page each)


@dataclass(slots=True, eq=False)
class Entry:
    """One cached block; every field is guarded by XN."""

    block: int                          # disk block number
    tmpl: Template                      # its metadata type
    page: int                           # the page holding its bytes
    parent: int | None                  # block it was reached through (None: a root)
    children: dict[int, str]            # what owns() says for the cached bytes
    size: int                           # bytes of the block (the device's block size)
    dirty: bool = False                 # cached bytes differ from the disk's
    state: str = DURABLE                # UNINIT / WRITTEN / DURABLE


class Registry:
    """Block number -> cached entry, least recently used first."""

    __slots__ = ("pages", "block_size", "capacity", "_e", "evictions", "_n_children")

    def __init__(self, pages: Pages, block_size: int, capacity: int = MAX_CACHED) -> None:
        self.pages = pages
        self.block_size = block_size
        self.capacity = capacity
        self._e: OrderedDict[int, Entry] = OrderedDict()
        self._n_children: dict[int, int] = {}   # block -> cached entries whose parent it is
        self.evictions = 0

    def get(self, b: int) -> Entry | None:
        """The entry for ``b`` (marked recently used), or None."""
        e = self._e.get(b)
        if e is not None:
            self._e.move_to_end(b)
        return e

    def peek(self, b: int) -> Entry | None:
        """The entry for ``b`` without marking it used, or None."""
        return self._e.get(b)

    def __contains__(self, b: object) -> bool:
        return b in self._e

    def __len__(self) -> int:
        return len(self._e)

    def entries(self) -> list[Entry]:
        """Every entry, least recently used first."""
        return list(self._e.values())

    def add(self, block: int, tmpl: Template, parent: int | None, data: bytes,
            state: str, children: dict[int, str]) -> Entry:
        """Cache ``data`` as block ``block`` in a fresh page (evicting if full)."""
        if len(self._e) >= self.capacity:
            self._evict()
        page = self.pages.alloc()
        if any(data):
            self.pages.write(page, 0, data)
        e = Entry(block, tmpl, page, parent, children, self.block_size,
                  state == UNINIT, state)
        self._e[block] = e
        if parent is not None:
            self._n_children[parent] = self._n_children.get(parent, 0) + 1
        return e

    def reserve(self, n: int) -> None:
        """Make room for ``n`` more entries now (ENOMEM, nothing changed, if it can't)."""
        while len(self._e) + n > self.capacity:
            self._evict()

    def _evictable(self, b: int, e: Entry) -> bool:
        """Whether ``e`` may go: clean, durable, no cached child."""
        return not e.dirty and e.state == DURABLE and not self._n_children.get(b)

    def evict(self, b: int) -> bool:
        """Drop block ``b`` if it is evictable; whether it was."""
        e = self._e.get(b)
        if e is None or not self._evictable(b, e):
            return False
        self.drop(b)
        self.evictions += 1
        return True

    def evict_trees(self, roots: set[int]) -> int:
        """Evict every evictable entry reached from one of ``roots`` (root blocks),
        children first; return how many went."""
        under: list[tuple[int, int]] = []
        for e in self._e.values():
            depth, x = 0, e
            while x.parent is not None:
                up = self._e.get(x.parent)
                if up is None:
                    break
                depth, x = depth + 1, up
            if x.parent is None and x.block in roots:
                under.append((-depth, e.block))
        under.sort()
        return sum(self.evict(b) for _, b in under)

    def _evict(self) -> None:
        """Drop the least recently used clean, durable block with no cached child."""
        for b, e in self._e.items():
            if self._evictable(b, e):
                self.drop(b)
                self.evictions += 1
                return
        raise SyscallError("ENOMEM", "registry full of dirty or pinned blocks",
                           limit=self.capacity)

    def data(self, e: Entry) -> bytes:
        """The cached bytes of ``e``."""
        return self.pages.read(e.page, e.size)

    def store(self, e: Entry, off: int, data: bytes) -> None:
        """Change cached bytes of ``e`` (the caller has checked the change)."""
        self.pages.write(e.page, off, data)
        e.dirty = True

    def drop(self, b: int) -> None:
        """Forget block ``b`` and free its page (its grants are revoked with it)."""
        e = self._e.pop(b)
        self.pages.free(e.page)
        if e.parent is not None:
            n = self._n_children[e.parent] - 1
            if n:
                self._n_children[e.parent] = n
            else:
                del self._n_children[e.parent]

    def blocker(self, e: Entry) -> int | None:
        """A cached child of ``e`` that is not durable yet (ordering rule 1), or None."""
        for c in e.children:
            ce = self._e.get(c)
            if ce is not None and ce.state != DURABLE:
                return c
        return None

    def dirty(self) -> list[Entry]:
        """Dirty entries, least recently used first."""
        return [e for e in self._e.values() if e.dirty]

    def clear(self) -> None:
        """Forget every entry (a crash: memory is gone)."""
        for b in list(self._e):
            self.drop(b)
