"""ext2 on XN: the block device ExOS's file system sees, and the two ways to reach XN.

ext2 (``services/ext2``, unchanged) reads and writes whole blocks through a
``BlockIO``. :class:`XNBlocks` is that device over XN: a read asks XN for the
block under the parent the library knows owns it (the root, or a block whose
ownership function named it) and reads the registry page; a write of a
metadata block is turned into one XN modification whose added and removed
blocks are what the library's own copy of the ownership function says
changed (so XN's check passes exactly when the library is honest); a write of
a block no cached parent owns yet (ext2 writes a new block before the inode
or indirect block that points to it) is held until the parent's change
allocates it. ``flush`` writes the changed blocks back in the order ext2 changed
them (flushing when XN's rule 1 needs a child durable first), then XN's sync.

Clients (the XN interface as a library sees it)::

    DirectXN(xn, principal)      XN in the same host (tools, tests, the walk-through)
    AegisXN(os)                  Aegis's XN system calls from ExOS; registry pages
                                 are mapped through the capabilities XN returns
      install, register, root, load_root, read (-> bytes), modify, write, writeback,
      flush, sync, free_list, principal

Interface::

    XNBlocks(client, owns, root_block, block_size, blocks)     a BlockIO
      read_block(n)  write_block(n, data)  flush()   held() -> int
      sync_file(want, records) -> True        one file's fsync (services/ext2/fsync.py)
      may_refuse = True    abandon(blocks)    a refused write-out (services/ext2/buffers.py)
    diff(old, new) -> list[(offset, bytes)]     one run covering every change
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.errors import DiskImageError, SyscallError
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.fs_udf import ROOT_NAME

__all__ = ["XNBlocks", "DirectXN", "AegisXN", "diff"]

WINDOW_VPN = 0x70000 + 0x200    # ExOS's private region: where registry pages are mapped
WINDOW = 16                     # registry pages mapped at once
BITMAP = "ext2 bitmap"
_KEPT = frozenset({"ext2 dir", BITMAP})  # leaves the library keeps a copy of


def diff(old: bytes, new: bytes) -> list[tuple[int, bytes]]:
    """The modification turning ``old`` into ``new``: one run, or none."""
    n = len(new)
    lo = 0
    while lo < n and old[lo] == new[lo]:
        lo += 1
    if lo == n:
        return []
    hi = n
    while new[hi - 1] == old[hi - 1]:
        hi -= 1
    return [(lo, new[lo:hi])]


class DirectXN:
    """An XN object in this host, used as ``principal``."""

    __slots__ = ("xn", "principal")

    def __init__(self, xn: Any, principal: int) -> None:
        self.xn = xn
        self.principal = principal

    def install(self, name: str, source: str) -> str:
        return self.xn.install_type(name, source)  # type: ignore[no-any-return]

    def register(self, name: str, block: int, type_name: str) -> None:
        self.xn.register_root(self.principal, name, block, type_name)

    def root(self, name: str) -> tuple[int, str]:
        r = self.xn.root(name)
        return r.block, r.type

    def _bytes(self, grant: tuple[int, int]) -> bytes:
        return self.xn.reg.pages.read(grant[0], self.xn.block_size)  # type: ignore[no-any-return]

    def load_root(self, name: str) -> bytes:
        return self._bytes(self.xn.load_root(self.principal, name))

    def read(self, b: int, parent: int) -> bytes:
        return self._bytes(self.xn.read(self.principal, b, parent))

    def modify(self, m: int, mods: list[Any], alloc: list[Any], free: list[Any]) -> None:
        self.xn.modify(self.principal, m, mods, alloc, free)

    def write(self, b: int, mods: list[Any]) -> None:
        self.xn.write(self.principal, b, mods)

    def sync(self) -> int:
        return self.xn.sync()  # type: ignore[no-any-return]

    def writeback(self, b: int) -> None:
        self.xn.writeback(self.principal, b)

    def flush(self) -> None:
        self.xn.flush()

    def free_list(self, start: int, n: int) -> list[int]:
        return self.xn.free_blocks(start, n)  # type: ignore[no-any-return]

    def who(self) -> int:
        """Who is reading: the principal."""
        return self.principal


class AegisXN:
    """Aegis's XN calls made from ExOS; registry pages mapped by guaranteed bindings."""

    __slots__ = ("os", "block_size", "_slots", "_next")

    def __init__(self, os: Any, block_size: int) -> None:
        self.os = os
        self.block_size = block_size
        self._slots: dict[tuple[int, int, int], int] = {}   # (pid, ppn, handle) -> slot
        self._next: dict[int, int] = {}                     # pid -> next slot to reuse

    def _k(self, number: int, *args: Any) -> Any:
        return self.os.cpu.trap(number, *args)

    def install(self, name: str, source: str) -> str:
        return self._k(Sys.XN_INSTALL, name, source)  # type: ignore[no-any-return]

    def register(self, name: str, block: int, type_name: str) -> None:
        self._k(Sys.XN_REGISTER, name, block, type_name)

    def root(self, name: str) -> tuple[int, str]:
        return self._k(Sys.XN_ROOT, name)  # type: ignore[no-any-return]

    def principal(self) -> int:
        return self._k(Sys.XN_PRINCIPAL)  # type: ignore[no-any-return]

    def _bytes(self, grant: tuple[int, int]) -> bytes:
        """Map the registry page (one guaranteed binding per new page) and load it."""
        ppn, handle = grant
        pid = self.os.pid
        key = (pid, ppn, handle)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._next.get(pid, 0)
            self._next[pid] = (slot + 1) % WINDOW
            for k in [k for k, s in self._slots.items() if s == slot and k[0] == pid]:
                del self._slots[k]
            self._k(Sys.GUARANTEE, WINDOW_VPN + slot, ppn, handle, False)
            self._slots[key] = slot
        va = (WINDOW_VPN + slot) << 12
        return self.os.cpu.load_bytes(va, self.block_size)  # type: ignore[no-any-return]

    def load_root(self, name: str) -> bytes:
        return self._bytes(self._k(Sys.XN_LOAD_ROOT, name))

    def read(self, b: int, parent: int) -> bytes:
        return self._bytes(self._k(Sys.XN_READ, b, parent))

    def modify(self, m: int, mods: list[Any], alloc: list[Any], free: list[Any]) -> None:
        self._k(Sys.XN_MODIFY, m, mods, alloc, free)

    def write(self, b: int, mods: list[Any]) -> None:
        self._k(Sys.XN_WRITE, b, mods)

    def sync(self) -> int:
        return self._k(Sys.XN_SYNC)  # type: ignore[no-any-return]

    def writeback(self, b: int) -> None:
        self._k(Sys.XN_WRITEBACK, b)

    def flush(self) -> None:
        self._k(Sys.XN_FLUSH)

    def free_list(self, start: int, n: int) -> list[int]:
        return self._k(Sys.XN_FREE_LIST, start, n)  # type: ignore[no-any-return]

    def who(self) -> int:
        """Who is reading: the calling process (its principal is XN's to know)."""
        return self.os.pid  # type: ignore[no-any-return]


class XNBlocks:
    """A BlockIO over XN for one library file system (see the module docstring)."""

    __slots__ = ("c", "owns", "root", "block_size", "blocks", "_type", "_parent",
                 "_held", "_copy", "_seen", "_order", "_zero", "_durable",
                 "_synced", "_fresh", "_alloc", "_moved", "n_moved")

    def __init__(self, client: Any, owns: dict[str, Callable[[bytes], Any] | None],
                 root_block: int, root_type: str, block_size: int, blocks: int) -> None:
        self.c = client
        self.owns = owns                        # type -> the library's owns (None: leaf)
        self.root = root_block
        self.block_size = block_size
        self.blocks = blocks
        self._type: dict[int, str] = {root_block: root_type}   # known blocks' types
        self._parent: dict[int, int] = {}       # block -> the block that owns it
        self._held: dict[int, bytes] = {}       # written before any parent owned them
        self._copy: dict[int, bytes] = {}       # metadata as last read or written
        self._seen: dict[int, set[Any]] = {}    # block -> callers XN let see that copy
        self._order: dict[int, None] = {}       # changed blocks, last change last
        self._zero = bytes(block_size)          # what XN holds a new block as
        self._durable: dict[int, bytes] = {}    # bitmap blocks as last made durable
        self._synced = False                    # a whole sync since the mount
        self._fresh: set[int] = set()           # leaves XN allocated, still zeros
        self._alloc: Any = None                 # ext2's allocator (attach_allocator)
        self._moved: dict[int, int] = {}        # refused block -> its replacement
        self.n_moved = 0                        # blocks replaced (another's: EBUSY)

    may_refuse = True       # XN may refuse a write: ext2 keeps what it must undo

    def abandon(self, blocks: list[int]) -> None:
        """ext2 undid a write-out that XN refused part-way (its blocks already
        written got their old bytes back): drop what is held for the blocks it
        allocated, and every replacement it made -- between ext2's write-outs
        nothing is held, so nothing else is either."""
        del blocks                          # (all of them: see above)
        self._held.clear()
        self._moved.clear()

    def held(self) -> int:
        """Blocks written that no parent owns yet."""
        return len(self._held)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call the client; on a registry full of dirty blocks (ENOMEM) or a block
        freed but not yet reusable (EAGAIN) write everything back once and retry."""
        try:
            return fn(*args)
        except SyscallError as ex:
            if ex.errno not in ("ENOMEM", "EAGAIN"):
                raise
        self.c.sync()
        return fn(*args)

    def _children(self, b: int, data: bytes) -> dict[int, str]:
        """What metadata block ``b`` owns, by the library's own function."""
        fn = self.owns.get(self._type[b])
        return dict(fn(data)) if fn is not None else {}

    def _learn(self, b: int, kids: dict[int, str]) -> None:
        """Record ``b``'s children: their types and their parent."""
        for c, ty in kids.items():
            self._type[c] = ty
            self._parent[c] = b

    def read_block(self, n: int) -> bytes:
        """Block ``n``: as held (no parent owns it yet), the library's own copy of a
        metadata or directory block, else from the registry."""
        if n in self._held:
            return self._held[n]
        data = self._copy.get(n)
        who = self.c.who()
        if data is not None and who in self._seen.get(n, ()):
            return data
        data = self._fetch(n)
        ty = self._type.get(n, "")
        if ty in _KEPT or self.owns.get(ty) is not None:
            self._copy[n] = data
            self._seen.setdefault(n, set()).add(who)
        if ty == BITMAP:
            self._durable.setdefault(n, data)
        if self.owns.get(ty) is not None:
            self._learn(n, self._children(n, data))
        return data

    def _fetch(self, n: int) -> bytes:
        """Ask XN for block ``n`` under its known parent; a parent XN has evicted
        since (ENOENT) is asked for again first, up to the root."""
        if n == self.root:
            return self._call(self.c.load_root, ROOT_NAME)  # type: ignore[no-any-return]
        p = self._parent.get(n)
        if p is None:
            raise DiskImageError("block reached through no known parent", block=n)
        try:
            return self._call(self.c.read, n, p)  # type: ignore[no-any-return]
        except SyscallError as ex:
            if ex.errno != "ENOENT":
                raise
        self._fetch(p)
        return self._call(self.c.read, n, p)  # type: ignore[no-any-return]

    def _change(self, fn: Callable[..., Any], n: int, *args: Any) -> None:
        """An XN change of block ``n``; if XN evicted it since the library last read
        it (ENOENT: clean, so what XN reads back is the library's copy) it is
        read into the registry again first."""
        try:
            self._call(fn, n, *args)
            return
        except SyscallError as ex:
            if ex.errno != "ENOENT":
                raise
        self._fetch(n)
        self._call(fn, n, *args)

    def write_block(self, n: int, data: bytes) -> None:
        """Write ``n``: a modification through XN, or hold it until a parent owns it."""
        data = bytes(data)
        if n not in self._type and n in self._moved:
            n = self._moved.pop(n)              # (refused by XN: see _elsewhere)
        if n not in self._type:
            self._held[n] = data
            return
        if self.owns.get(self._type[n]) is None:
            if n in self._fresh:
                self._fresh.discard(n)
                self._write_new(n, data)
                return
            old = self.read_block(n)
            mods = diff(old, data)
            if mods:
                self._change(self.c.write, n, mods)
                self._changed(n)
                if n in self._copy:
                    self._copy[n] = data
                    self._seen[n] = {self.c.who()}
            return
        self._write_meta(n, data)

    def _write_meta(self, n: int, data: bytes) -> None:
        """One XN change of metadata ``n``: exactly the blocks its owns() gained/lost.
        A block it gains that XN refuses as in use (EBUSY: another principal took
        it although ext2's bitmap called it free) is replaced (:meth:`_elsewhere`)."""
        old = self._copy.get(n)
        if old is None:
            old = self.read_block(n)
        before = self._children(n, old)
        while True:
            after = self._children(n, data)
            add = [(b, t) for b, t in after.items() if b not in before]
            gone = [b for b in before if b not in after]
            mods = diff(old, data)
            if not (mods or add or gone):
                break
            try:
                self._change(self.c.modify, n, mods, add, gone)
            except SyscallError as ex:
                moved = self._elsewhere(ex, n, data, dict(add))
                if moved is None:
                    raise
                data = moved
                continue
            self._changed(n)
            break
        self._copy[n] = data
        self._seen[n] = {self.c.who()}
        for b in gone:
            self._forget(b)
        self._learn(n, {b: t for b, t in add})
        for b, _t in add:                   # their bytes were written first: now they go
            pending = self._held.pop(b, None)
            if pending is not None:
                self._write_new(b, pending)
            elif self.owns.get(self._type[b]) is None and self._type[b] not in _KEPT:
                self._fresh.add(b)          # (a data block ext2 writes later)

    def attach_allocator(self, alloc: Any) -> None:
        """ext2's allocator (services/ext2/alloc.py), handed over at mount."""
        self._alloc = alloc

    def _elsewhere(self, ex: SyscallError, n: int, data: bytes,
                   add: dict[int, str]) -> bytes | None:
        """XN refused block ``b`` that ``n`` gains as in use (EBUSY): ext2's bitmap
        called it free, so another principal has taken it since. It stays marked
        used in ext2's bitmap (someone else's: ext2 never writes it) and ext2's
        allocator picks another block; ``n``'s pointer to ``b`` is changed to it,
        and ``b``'s bytes (held, or written later in this commit) go there. The
        new ``n`` to try again (XN may refuse that block too: again, until ext2's
        bitmap runs out, ENOSPC), or None if ``b`` is not such a block."""
        b = ex.fields.get("block")
        if (ex.errno != "EBUSY" or self._alloc is None or b not in add
                or b in self._type or b == self.root):
            return None
        enc = b.to_bytes(4, "little")
        at = [k for k in range(0, len(data) - 3, 4) if data[k:k + 4] == enc]
        if not at:
            return None
        alt = self._alloc.alloc_block(b)        # (b's bit stays set; ENOSPC if none)
        bm = self._alloc.block_bitmap(alt)
        if bm != self._alloc.block_bitmap(b):   # a bitmap this commit may not write:
            self.write_block(bm, bytes(self._alloc.bufs.get(bm)))   # (used early: safe)
        want = {alt if c == b else c: t for c, t in self._children(n, data).items()}
        for k in at:
            trial = data[:k] + alt.to_bytes(4, "little") + data[k + 4:]
            if self._children(n, trial) == want:
                break
        else:
            return None
        self.n_moved += 1
        pending = self._held.pop(b, None)
        if pending is not None:
            self._held[alt] = pending
        else:
            self._moved[b] = alt                # ext2 writes it later in this commit
        return trial

    def _write_new(self, b: int, data: bytes) -> None:
        """Write a block XN has just allocated: XN holds it as zeros (UNINIT), so the
        change is the one from zeros, with no read of the block first."""
        if self.owns.get(self._type[b]) is None:
            mods = diff(self._zero, data)
            if mods:
                self._change(self.c.write, b, mods)
                self._changed(b)
            if self._type[b] in _KEPT:
                self._copy[b] = data
                self._seen[b] = {self.c.who()}
            return
        self._copy[b] = self._zero
        self._write_meta(b, data)

    def _forget(self, b: int) -> None:
        """``b`` was freed: the library no longer reaches it (nor anything under it)."""
        self._type.pop(b, None)
        self._parent.pop(b, None)
        old = self._copy.pop(b, None)
        self._seen.pop(b, None)
        self._fresh.discard(b)
        if old is not None:
            for c in [c for c, p in self._parent.items() if p == b]:
                self._forget(c)

    def _changed(self, n: int) -> None:
        """Note ``n`` changed now (ext2 writes each operation's blocks in its rank
        order: data, inode tables, bitmaps, descriptors)."""
        self._order.pop(n, None)
        self._order[n] = None

    def flush(self) -> None:
        """Make everything durable, in ext2's order: each block written back after
        the blocks changed before it, a flush whenever XN's rule 1 asks for one;
        then XN's sync for anything else (blocks XN allocated and nobody wrote)."""
        for n in list(self._order):
            try:
                self.c.writeback(n)
            except SyscallError as ex:
                if ex.errno == "ENOENT":        # freed since: nothing to write
                    continue
                if ex.errno != "EAGAIN":
                    raise
                self.c.flush()
                try:
                    self.c.writeback(n)
                except SyscallError as again:
                    if again.errno != "EAGAIN":
                        raise
        self._order.clear()
        self.c.sync()
        for n, data in self._copy.items():
            if self._type.get(n) == BITMAP:
                self._durable[n] = data
        self._synced = True

    def sync_file(self, want: Any, records: dict[int, list[int]]) -> bool:
        """Make one file's set durable (services/ext2/fsync.py): its blocks, the
        inode-table blocks of its records (XN writes whole blocks: their other
        records go too) and the bitmaps, in the order ext2 changed them; a block
        XN's rule 1 holds back waits for its dirty children (written first, then
        a flush). The rest stays dirty in XN's registry. False (ext2 then syncs
        everything, in order) when a bitmap to be written frees a block since it
        was last durable: XN writes whole blocks, so that free would reach the disk
        before the inode or indirect block that still points to the block; False
        too before the first whole sync since the mount (XN commits its catalogues,
        the root among them, only in a sync: a file made durable under a root the
        disk does not know yet would not be found after a reboot)."""
        wanted = set(want.blocks) | set(records)
        todo = [n for n in self._order
                if n in wanted or self._type.get(n) == BITMAP]
        if not self._synced or any(self._frees(n) for n in todo
                                   if self._type.get(n) == BITMAP):
            return False
        done: set[int] = set()
        for n in todo:
            self._write_back(n, done, 0)
        self.c.flush()
        for n in done:
            self._order.pop(n, None)
            if n in self._durable:
                self._durable[n] = self._copy.get(n, self._durable[n])
        return True

    def _frees(self, n: int) -> bool:
        """Whether bitmap ``n`` as the library has it clears a bit set when it was
        last durable (unknown: assume so)."""
        old, now = self._durable.get(n), self._copy.get(n)
        if old is None or now is None:
            return True
        return bool(int.from_bytes(old, "little") & ~int.from_bytes(now, "little"))

    def _write_back(self, n: int, done: set[int], depth: int) -> None:
        """Write ``n`` back through XN, its dirty children first if rule 1 asks."""
        if n in done:
            return
        for attempt in range(2):
            try:
                self.c.writeback(n)
            except SyscallError as ex:
                if ex.errno == "ENOENT":        # freed since: nothing to write
                    break
                if ex.errno != "EAGAIN" or depth > 8:
                    raise
                if attempt:                     # children not yet written: them first
                    data = self._copy[n] if n in self._copy else self.read_block(n)
                    for c in self._children(n, data):   # (a zero block ext2 never
                        self._write_back(c, done, depth + 1)    # rewrote: UNINIT too)
                self.c.flush()
                continue
            break
        else:
            self.c.writeback(n)
        done.add(n)
