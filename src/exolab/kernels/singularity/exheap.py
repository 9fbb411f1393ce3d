"""The exchange heap: message payloads with exactly one owner at a time.

A block is bytes held by one SIP. A program holds a :class:`Block` handle; the
kernel keeps what the handle names (owner, generation, contents). Sending a
block over a channel *transfers* it: the kernel bumps the block's
generation and hands the receiver a fresh handle (the kernel accepts only the
very handle object it issued last, so a copy is no key), so the sender's handle is
dead and any later use of it is a fault of the sender (no two SIPs ever hold
a live handle of one block). Nothing is copied on a transfer. Blocks still
owned by a SIP when it exits are reclaimed.

Interface::

    Block                                a handle (opaque to programs)
    ExchangeHeap(max_blocks, max_bytes)
      alloc(owner, data) -> Block        ENOMEM beyond the limits
      read(owner, handle) -> bytes       write(owner, handle, data)
      size(owner, handle) -> int         free(owner, handle)
      transfer(owner, handle, to) -> Block    the old handle dies
      owned_by(owner) -> int             reclaim(owner) -> int   (blocks freed)
      statistics() -> ExHeapStats
    dead_handle(what) -> ProgramFault    the fault of a dead, foreign or forged handle
      check(owner, handle)               that fault unless ``owner`` holds it
"""
from __future__ import annotations

from dataclasses import dataclass, field

from exolab.errors import ProgramFault, SyscallError
from exolab.kernels.common.stats import AS_LEVEL

__all__ = ["Block", "ExchangeHeap", "ExHeapStats", "dead_handle"]


class Block:
    """A handle on an exchange-heap block: which block, and which generation."""

    __slots__ = ("_id", "_gen")

    def __init__(self, block_id: int, gen: int) -> None:
        self._id = block_id
        self._gen = gen

    def __repr__(self) -> str:
        return f"<exheap block {self._id}>"


@dataclass(frozen=True, slots=True)
class ExHeapStats:
    """Blocks and bytes live now (levels) and events."""

    blocks_live: int = field(metadata=AS_LEVEL)
    bytes_live: int = field(metadata=AS_LEVEL)
    allocated: int
    transferred: int
    freed: int
    reclaimed: int
    dead_uses: int


def dead_handle(what: str) -> ProgramFault:
    """The fault of a SIP that used a block it does not own (dead, foreign, forged)."""
    return ProgramFault("exchange heap: use of a block the SIP does not own", use=what)


class ExchangeHeap:
    """Single-owner blocks; see the module docstring."""

    __slots__ = ("_blocks", "_next", "_max_blocks", "_max_bytes", "_bytes", "_owned",
                 "_allocated", "_transferred", "_freed", "_reclaimed", "_dead")

    def __init__(self, max_blocks: int, max_bytes: int) -> None:
        self._blocks: dict[int, list] = {}      # id -> [owner, gen, bytearray, handle]
        self._owned: dict[int, set[int]] = {}   # owner -> block ids
        self._next = 1
        self._max_blocks = max_blocks
        self._max_bytes = max_bytes
        self._bytes = 0
        self._allocated = self._transferred = self._freed = 0
        self._reclaimed = self._dead = 0

    def _entry(self, owner: int, handle: object, what: str) -> list:
        """Decode ``handle`` for ``owner``: its entry, or the owner's fault."""
        if type(handle) is not Block:
            self._dead += 1
            raise dead_handle(what)
        entry = self._blocks.get(handle._id)
        if entry is None or entry[0] != owner or entry[3] is not handle:  # issued, not made
            self._dead += 1
            raise dead_handle(what)
        return entry

    def alloc(self, owner: int, data: bytes) -> Block:
        """A new block of ``owner`` holding ``data``."""
        if len(self._blocks) >= self._max_blocks or \
                self._bytes + len(data) > self._max_bytes:
            raise SyscallError("ENOMEM", "exchange heap full", size=len(data))
        bid = self._next
        self._next += 1
        handle = Block(bid, 0)
        self._blocks[bid] = [owner, 0, bytearray(data), handle]
        self._owned.setdefault(owner, set()).add(bid)
        self._bytes += len(data)
        self._allocated += 1
        return handle

    def read(self, owner: int, handle: object) -> bytes:
        """The contents of ``owner``'s block."""
        return bytes(self._entry(owner, handle, "read")[2])

    def size(self, owner: int, handle: object) -> int:
        """The length of ``owner``'s block."""
        return len(self._entry(owner, handle, "size")[2])

    def write(self, owner: int, handle: object, data: bytes) -> None:
        """Replace the contents of ``owner``'s block (same owner, same handle)."""
        entry = self._entry(owner, handle, "write")
        grow = len(data) - len(entry[2])
        if self._bytes + grow > self._max_bytes:
            raise SyscallError("ENOMEM", "exchange heap full", size=len(data))
        entry[2] = bytearray(data)
        self._bytes += grow

    def free(self, owner: int, handle: object) -> None:
        """Give ``owner``'s block back; the handle dies."""
        entry = self._entry(owner, handle, "free")
        self._drop(handle._id, entry)       # type: ignore[attr-defined]
        self._freed += 1

    def check(self, owner: int, handle: object) -> None:
        """Fault unless ``owner`` holds ``handle`` live (the decode of a send)."""
        self._entry(owner, handle, "send")

    def transfer(self, owner: int, handle: object, to: int) -> Block:
        """Move ``owner``'s block to ``to``: the old handle dies, the new one is returned."""
        entry = self._entry(owner, handle, "send")
        bid = handle._id                    # type: ignore[attr-defined]
        self._owned[owner].discard(bid)
        self._owned.setdefault(to, set()).add(bid)
        entry[0] = to
        entry[1] += 1
        entry[3] = handle = Block(bid, entry[1])
        self._transferred += 1
        return handle

    def owned_by(self, owner: int) -> int:
        """How many live blocks ``owner`` holds."""
        return len(self._owned.get(owner, ()))

    def reclaim(self, owner: int) -> int:
        """Free every block ``owner`` still holds (it exited); how many."""
        ids = self._owned.pop(owner, set())
        for bid in ids:
            self._drop(bid, self._blocks[bid], keep_index=True)
        self._reclaimed += len(ids)
        return len(ids)

    def _drop(self, bid: int, entry: list, keep_index: bool = False) -> None:
        """Remove block ``bid`` (and, unless told, its owner's index entry)."""
        del self._blocks[bid]
        self._bytes -= len(entry[2])
        if not keep_index:
            self._owned[entry[0]].discard(bid)

    def statistics(self) -> ExHeapStats:
        """A frozen snapshot of the heap's levels and counters."""
        return ExHeapStats(len(self._blocks), self._bytes, self._allocated,
                           self._transferred, self._freed, self._reclaimed, self._dead)
