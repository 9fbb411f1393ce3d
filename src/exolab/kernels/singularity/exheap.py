"""The exchange heap: message payloads in simulated memory, one owner at a time.

A block is a run of whole pages of physical memory (frames from the kernel's
:class:`~exolab.kernels.singularity.frames.FramePool`), identity-mapped in the
one kernel address space, holding one SIP's bytes. A program holds a
:class:`Block` handle; the kernel keeps what the handle names (owner,
generation, frames, length). Sending a block over a channel *transfers* it:
the kernel bumps the block's generation and hands the receiver a fresh handle
(the kernel accepts only the very handle object it issued last, so a copy is
no key), so the sender's handle is dead and any later use of it is a fault of
the sender (no two SIPs ever hold a live handle of one block). Nothing is
copied on a transfer. Blocks still owned by a SIP when it exits are
reclaimed, and their frames go back to the pool with the block's bytes
zeroed (a shorter rewrite zeroes the tail it leaves), so no later owner of a
frame sees them.

Every owner has a quota of pages (``set_quota``; ``quota`` by default), and
the heap as a whole at most ``max_pages``: an allocation or a growth past
either is ENOMEM. *Reserved* blocks (an ABI pipe's: one page each, on a
frame the pipe reserved when it was made) are outside both: they cannot fail
and cannot be starved. A send between SIPs first asks :meth:`ExchangeHeap.admit`
whether the receiver's account has room for the pages it moves (ENOMEM, to the
sender, if not: nobody can push a SIP past its quota and so starve its own
allocations); the transfer itself then moves the pages without a check.
An owner may also have an accounting principal (``set_principal``;
:mod:`.accounts`): its pages are charged up the principal's chain, an
allocation or growth past a cap on it is ENOMEM, and :meth:`admit` checks the
receiver's chain below what it shares with the sender's.

The bytes are reached through a *pager* (the kernel's, with paging on: the
isolation knob): ``map(frames)`` when frames join the heap (page-table
entries written), ``unmap(frames)`` when they leave it (entries cleared, TLB
entries invalidated) and ``touch(frames, write)`` at every read and write of a
block (each page through the MMU: a TLB miss walks the table). ``None``:
paging off, physical addresses, nothing to do.

Interface::

    Block                                a handle (opaque to programs)
    ExchangeHeap(memory, frames, max_pages, quota, pager=None)
      alloc(owner, data, reserved=False) -> Block   ENOMEM beyond the quota or the
                                         heap (reserved: on reserved frames, never)
      append(owner, handle, data) -> bool    in place, if it fits in its pages
      reserve(pages)   unreserve(pages)  frames set aside for reserved blocks
      read(owner, handle) -> bytes       write(owner, handle, data)
      size(owner, handle) -> int         free(owner, handle)
      admit(to, handles)                 ENOMEM unless ``to``'s quota holds the pages
                                         of the live blocks ``handles`` (reserved: none)
                                         and its principal's chain does
      admit_new(handles, quota, principal)    the same for a SIP being made (spawn)
      transfer(owner, handle, to) -> Block    the old handle dies
      rehome(handle, frm, to)            a queued block's account moves with its
                                         endpoint (kernel; the handle stays)
      discard(handle)                    free a live block, whoever holds it (kernel)
      address(owner, handle) -> int      where its first page is (physical = virtual)
      holds(vaddr) -> bool               whether a live block's page is at vaddr
      set_quota(owner, pages)            quota_of(owner) -> int   pages_of(owner) -> int
      set_principal(owner, principal)    who pays for ``owner``'s pages (None: nobody)
      owned_by(owner) -> int             reclaim(owner) -> int   (blocks freed)
      statistics() -> ExHeapStats
    dead_handle(what) -> ProgramFault    the fault of a dead, foreign or forged handle
      check(owner, handle)               that fault unless ``owner`` holds it
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exolab.errors import KernelPanic, ProgramFault, SyscallError
from exolab.kernels.common import principals as ledger
from exolab.kernels.common.stats import AS_LEVEL
from exolab.kernels.singularity.accounts import EXHEAP, KINDS
from exolab.kernels.singularity.handle import Handle

__all__ = ["Block", "ExchangeHeap", "ExHeapStats", "dead_handle"]


class Block(Handle):
    """A handle on an exchange-heap block: which block, and which generation."""

    __slots__ = ()
    kind = "exheap block"


class _Entry:
    """What a handle names: owner, generation, frames, length, the live handle."""

    __slots__ = ("owner", "gen", "frames", "size", "handle", "reserved")

    def __init__(self, owner: int, frames: list[int], size: int, handle: Block,
                 reserved: bool = False) -> None:
        self.owner = owner
        self.reserved = reserved            # an ABI pipe's block: reserved frames
        self.gen = 0
        self.frames = frames
        self.size = size
        self.handle = handle


@dataclass(frozen=True, slots=True)
class ExHeapStats:
    """Blocks, bytes and pages live now (levels) and events."""

    blocks_live: int = field(metadata=AS_LEVEL)
    bytes_live: int = field(metadata=AS_LEVEL)
    pages_live: int = field(metadata=AS_LEVEL)
    allocated: int
    transferred: int
    freed: int
    reclaimed: int
    dead_uses: int
    over_quota: int


def dead_handle(what: str) -> ProgramFault:
    """The fault of a SIP that used a block it does not own (dead, foreign, forged)."""
    return ProgramFault("exchange heap: use of a block the SIP does not own", use=what)


class ExchangeHeap:
    """Single-owner blocks in physical frames; see the module docstring."""

    __slots__ = ("_blocks", "_next", "_mem", "_pool", "_shift", "_page", "_max_pages",
                 "_quota", "_quotas", "_pages_of", "_pages", "_bytes", "_owned",
                 "_frame_of", "_pager", "_allocated", "_transferred", "_freed",
                 "_reclaimed", "_dead", "_over", "_pipe", "_payers")

    def __init__(self, memory: Any, frames: Any, max_pages: int, quota: int,
                 pager: Any = None) -> None:
        self._mem = memory
        self._pool = frames                     # take(n) -> [frame], give(frames)
        self._shift = memory.page_shift
        self._page = 1 << memory.page_shift
        self._max_pages = max_pages
        self._quota = quota
        self._pager = pager
        self._blocks: dict[int, _Entry] = {}
        self._owned: dict[int, set[int]] = {}   # owner -> block ids
        self._quotas: dict[int, int] = {}       # owner -> its quota, if not the default
        self._pages_of: dict[int, int] = {}     # owner -> pages it holds
        self._payers: dict[int, Any] = {}       # owner -> its principal (accounts.py)
        self._frame_of: dict[int, int] = {}     # frame -> block id (the live pages)
        self._next = 1
        self._pages = self._bytes = 0
        self._pipe = 0                          # pages of reserved (pipe) blocks
        self._allocated = self._transferred = self._freed = 0
        self._reclaimed = self._dead = self._over = 0

    # -- decode ------------------------------------------------------------------------

    def _entry(self, owner: int, handle: object, what: str) -> _Entry:
        """Decode ``handle`` for ``owner``: its entry, or the owner's fault."""
        if type(handle) is not Block:
            self._dead += 1
            raise dead_handle(what)
        entry = self._blocks.get(handle._id)
        if entry is None or entry.owner != owner or entry.handle is not handle:
            self._dead += 1                     # issued, not made; and still live
            raise dead_handle(what)
        return entry

    def _room(self, owner: int, pages: int, size: int) -> None:
        """ENOMEM unless ``owner`` may hold ``pages`` more pages."""
        if self._pages - self._pipe + pages > self._max_pages:
            raise SyscallError("ENOMEM", "exchange heap full", size=size)
        if self._pages_of.get(owner, 0) + pages > self.quota_of(owner):
            self._over += 1
            raise SyscallError("ENOMEM", "exchange-heap quota exceeded", size=size,
                               quota=self.quota_of(owner))
        try:
            ledger.check(self._payers.get(owner), EXHEAP, pages, "ENOMEM", KINDS[EXHEAP])
        except SyscallError:
            self._over += 1
            raise

    def _pages_for(self, size: int) -> int:
        """Pages a block of ``size`` bytes takes (at least one)."""
        return max(1, -(-size >> self._shift))

    # -- mechanism ---------------------------------------------------------------------

    def alloc(self, owner: int, data: bytes, reserved: bool = False) -> Block:
        """A new block of ``owner`` holding ``data`` (``reserved``: on frames ``owner``
        reserved, outside its quota and the heap's cap: it cannot fail)."""
        pages = self._pages_for(len(data))
        if not reserved:
            self._room(owner, pages, len(data))
        frames = self._pool.take(pages, reserved)   # ENOMEM: the machine is out of frames
        bid = self._next
        self._next += 1
        handle = Block(bid, 0)
        entry = self._blocks[bid] = _Entry(owner, frames, 0, handle, reserved)
        self._owned.setdefault(owner, set()).add(bid)
        self._account(owner, pages, reserved)
        for f in frames:
            self._frame_of[f] = bid
        if self._pager is not None:
            self._pager.map(frames)
        self._store(entry, data)
        self._allocated += 1
        return handle

    def _account(self, owner: int, pages: int, reserved: bool = False) -> None:
        """``owner`` holds ``pages`` more (or fewer) pages (reserved ones: outside its
        account and the cap)."""
        self._pages += pages
        if reserved:
            self._pipe += pages
        else:
            self._pages_of[owner] = self._pages_of.get(owner, 0) + pages
            payer = self._payers.get(owner)
            if pages > 0:                   # (checked before: _room, admit)
                ledger.add(payer, EXHEAP, pages)
            elif pages < 0:
                ledger.uncharge(payer, EXHEAP, -pages, KINDS[EXHEAP])

    def reserve(self, pages: int) -> None:
        """Set ``pages`` frames aside for reserved blocks (ENOMEM if the machine has
        fewer free)."""
        self._pool.reserve(pages)

    def unreserve(self, pages: int) -> None:
        """End a reservation (its blocks freed first)."""
        self._pool.unreserve(pages)

    def append(self, owner: int, handle: object, data: bytes) -> bool:
        """Add ``data`` at the end of ``owner``'s block, in place, if it fits in the
        block's pages; False (nothing done) if it does not."""
        entry = self._entry(owner, handle, "append")
        at, shift = entry.size, self._shift
        if at + len(data) > len(entry.frames) << shift:
            return False
        if self._pager is not None:
            self._pager.touch(entry.frames[at >> shift:(at + len(data) - 1 >> shift) + 1],
                              True)
        mem, page = self._mem, self._page
        i = 0
        while i < len(data):
            off = (at + i) & (page - 1)
            take = min(len(data) - i, page - off)
            mem.write((entry.frames[(at + i) >> shift] << shift) + off, data[i:i + take])
            i += take
        entry.size += len(data)
        self._bytes += len(data)
        return True

    def _store(self, entry: _Entry, data: bytes) -> None:
        """Write ``data`` into ``entry``'s frames (through the pager)."""
        if self._pager is not None:
            self._pager.touch(entry.frames[:self._pages_for(len(data))], True)
        mem, page, shift = self._mem, self._page, self._shift
        for i in range(0, len(data), page):
            mem.write(entry.frames[i >> shift] << shift, data[i:i + page])
        if len(data) < entry.size:              # the old bytes past the new end
            self._zero(entry.frames, len(data), min(entry.size, len(entry.frames) << shift))
        self._bytes += len(data) - entry.size
        entry.size = len(data)

    def _zero(self, frames: list[int], start: int, end: int) -> None:
        """Zero bytes [start, end) of the run ``frames`` (whole frames at once)."""
        mem, page, shift = self._mem, self._page, self._shift
        while start < end:
            f, off = frames[start >> shift], start & (page - 1)
            take = min(end - start, page - off)
            if take == page:
                mem.zero_frame(f)
            else:
                mem.write((f << shift) + off, bytes(take))
            start += take

    def read(self, owner: int, handle: object) -> bytes:
        """The contents of ``owner``'s block."""
        entry = self._entry(owner, handle, "read")
        if self._pager is not None:
            self._pager.touch(entry.frames[:self._pages_for(entry.size)], False)
        mem, page, shift, size = self._mem, self._page, self._shift, entry.size
        if size <= page:
            return mem.read(entry.frames[0] << shift, size)
        return b"".join(mem.read(f << shift, min(page, size - (i << shift)))
                        for i, f in enumerate(entry.frames))

    def size(self, owner: int, handle: object) -> int:
        """The length of ``owner``'s block."""
        return self._entry(owner, handle, "size").size

    def address(self, owner: int, handle: object) -> int:
        """The physical (= virtual) address of ``owner``'s block's first page."""
        return self._entry(owner, handle, "address").frames[0] << self._shift

    def holds(self, vaddr: int) -> bool:
        """Whether the page at ``vaddr`` is a live block's."""
        return (vaddr >> self._shift) in self._frame_of

    def write(self, owner: int, handle: object, data: bytes) -> None:
        """Replace the contents of ``owner``'s block (same owner, same handle); the block
        grows or shrinks by whole pages."""
        entry = self._entry(owner, handle, "write")
        grow = self._pages_for(len(data)) - len(entry.frames)
        if grow > 0:
            self._room(owner, grow, len(data))
            more = self._pool.take(grow)
            for f in more:
                self._frame_of[f] = handle._id      # type: ignore[attr-defined]
            if self._pager is not None:
                self._pager.map(more)
            entry.frames += more
        elif grow < 0:
            self._zero(entry.frames, (len(entry.frames) + grow) << self._shift,
                       entry.size)              # what the dropped pages held
            self._release(entry.frames[grow:], 0)
            del entry.frames[grow:]
        self._account(owner, grow)
        self._store(entry, data)

    def free(self, owner: int, handle: object) -> None:
        """Give ``owner``'s block back; the handle dies."""
        entry = self._entry(owner, handle, "free")
        self._owned[owner].discard(handle._id)      # type: ignore[attr-defined]
        self._drop(handle._id, entry)               # type: ignore[attr-defined]
        self._freed += 1

    def discard(self, handle: object) -> None:
        """Free a live block whoever holds it (the kernel: a payload queued at an
        endpoint that closed, never delivered); a dead handle is ignored."""
        entry = self._blocks.get(handle._id) if type(handle) is Block else None
        if entry is None or entry.handle is not handle:
            return
        self._owned[entry.owner].discard(handle._id)    # type: ignore[attr-defined]
        self._drop(handle._id, entry)                   # type: ignore[attr-defined]
        self._freed += 1

    def check(self, owner: int, handle: object) -> None:
        """Fault unless ``owner`` holds ``handle`` live (the decode of a send)."""
        self._entry(owner, handle, "send")

    def _moving(self, handles: list[Any]) -> dict[int, int]:
        """Pages of the live, unreserved blocks among ``handles``, by owner."""
        pages: dict[int, int] = {}
        for h in handles:
            entry = self._blocks.get(h._id) if type(h) is Block else None
            if entry is not None and entry.handle is h and not entry.reserved:
                pages[entry.owner] = pages.get(entry.owner, 0) + len(entry.frames)
        return pages

    def _admit(self, moving: dict[int, int], held: int, quota: int, payer: Any) -> None:
        """ENOMEM unless a receiver holding ``held`` of ``quota`` pages, paid for by
        ``payer``, may take the pages ``moving`` (by their owners now)."""
        pages = sum(moving.values())
        if pages and held + pages > quota:
            self._over += 1
            raise SyscallError("ENOMEM", "the receiver's exchange-heap quota is full",
                               pages=pages, quota=quota)
        try:
            for frm, n in sorted(moving.items()):
                ledger.check_move(self._payers.get(frm), payer, EXHEAP, n, "ENOMEM",
                                  KINDS[EXHEAP])
        except SyscallError:
            self._over += 1
            raise

    def admit(self, to: int, handles: list[Any]) -> None:
        """ENOMEM unless ``to`` may take the pages of the live blocks ``handles`` (its
        quota and its principal's chain; reserved blocks take none), before a send
        moves them there."""
        self._admit(self._moving(handles), self._pages_of.get(to, 0), self.quota_of(to),
                    self._payers.get(to))

    def admit_new(self, handles: list[Any], quota: int, principal: Any) -> None:
        """ENOMEM unless a SIP being made, with ``quota`` and ``principal``, may take
        the pages of the live blocks ``handles`` (queued behind endpoints it is given)."""
        self._admit(self._moving(handles), 0, quota, principal)

    def transfer(self, owner: int, handle: object, to: int) -> Block:
        """Move ``owner``'s block to ``to``: the old handle dies, the new one is returned."""
        entry = self._entry(owner, handle, "send")
        bid = handle._id                    # type: ignore[attr-defined]
        self._owned[owner].discard(bid)
        self._owned.setdefault(to, set()).add(bid)
        pages = len(entry.frames)
        self._account(owner, -pages, entry.reserved)
        self._account(to, pages, entry.reserved)
        entry.owner = to
        entry.gen += 1
        entry.handle = handle = Block(bid, entry.gen)
        self._transferred += 1
        return handle

    def rehome(self, handle: object, frm: int, to: int) -> None:
        """Move a live block queued at an endpoint that moved from ``frm`` to ``to``
        (the kernel: no program holds its handle yet, so the handle stays); its pages
        go to ``to``'s account without a check, as at a transfer."""
        entry = self._blocks.get(handle._id) if type(handle) is Block else None
        if entry is None or entry.handle is not handle or entry.owner != frm:
            raise KernelPanic("exheap: rehome of a block not queued for its owner",
                              owner=frm)
        bid = handle._id                    # type: ignore[attr-defined]
        self._owned[frm].discard(bid)
        self._owned.setdefault(to, set()).add(bid)
        self._account(frm, -len(entry.frames), entry.reserved)
        self._account(to, len(entry.frames), entry.reserved)
        entry.owner = to

    def set_quota(self, owner: int, pages: int) -> None:
        """``owner`` may hold at most ``pages`` pages from now on."""
        self._quotas[owner] = pages

    def set_principal(self, owner: int, principal: Any) -> None:
        """``owner``'s pages are charged to ``principal`` from now on (it holds none yet)."""
        if self._pages_of.get(owner, 0):
            raise KernelPanic("exheap: a principal set for an owner holding pages",
                              owner=owner)
        self._payers[owner] = principal

    def quota_of(self, owner: int) -> int:
        """The pages ``owner`` may hold."""
        return self._quotas.get(owner, self._quota)

    def pages_of(self, owner: int) -> int:
        """The pages ``owner`` holds."""
        return self._pages_of.get(owner, 0)

    def owned_by(self, owner: int) -> int:
        """How many live blocks ``owner`` holds."""
        return len(self._owned.get(owner, ()))

    def reclaim(self, owner: int) -> int:
        """Free every block ``owner`` still holds (it exited); how many. Its quota and
        account go."""
        ids = self._owned.pop(owner, set())
        for bid in sorted(ids):
            self._drop(bid, self._blocks[bid])
        self._reclaimed += len(ids)
        self._quotas.pop(owner, None)
        self._pages_of.pop(owner, None)
        self._payers.pop(owner, None)
        return len(ids)

    def _drop(self, bid: int, entry: _Entry) -> None:
        """Remove block ``bid``: its frames go back (unmapped, zeroed)."""
        del self._blocks[bid]
        self._bytes -= entry.size
        self._account(entry.owner, -len(entry.frames), entry.reserved)
        self._release(entry.frames, entry.size, entry.reserved)

    def _release(self, frames: list[int], used: int, reserved: bool = False) -> None:
        """``frames`` leave the heap: their first ``used`` bytes zeroed (no later owner
        sees them), unmapped, back to the pool."""
        self._zero(frames, 0, used)
        if self._pager is not None:
            self._pager.unmap(frames)
        for f in frames:
            del self._frame_of[f]
        self._pool.give(frames, reserved)

    def statistics(self) -> ExHeapStats:
        """A frozen snapshot of the heap's levels and counters."""
        return ExHeapStats(len(self._blocks), self._bytes, self._pages, self._allocated,
                           self._transferred, self._freed, self._reclaimed, self._dead,
                           self._over)
