"""XN's free map: which disk blocks are free, in use, or freed but not yet reusable.

XN, not the library file systems, keeps the free map. A block is *free*
(nobody's tree reaches it), *used* (some root's tree reaches it through
ownership functions) or *pending*: its parent dropped the pointer in the
buffer cache, but the on-disk parent may still point to it, so it must not be
handed out again (ordering rule 2, "never reuse a freed block before every
on-disk pointer to it is cleared"). A pending block becomes free when XN has
written the parent and a flush made that write durable.

The map is rebuilt from the roots after a crash (:meth:`FreeMap.reset` then
:meth:`FreeMap.mark`), so the copy XN stores on disk (:mod:`.store`) needs no
ordering of its own: it is checked against the rebuilt one at boot.

Interface::

    FREE, USED, PENDING
    FreeMap(blocks)
      state(b)            take(b)          (FREE -> USED; EBUSY / EAGAIN otherwise)
      release(b)          (USED -> PENDING)     settle(b)   (PENDING -> FREE)
      mark(b) -> bool     (recovery: FREE -> USED; False if it was already used)
      reset()             every block FREE
      free_blocks(start, n) -> list[int]      the free list a library chooses from
      count(state) -> int
      snapshot() -> bytes     the state byte of every block (what XN stores)
"""
from __future__ import annotations

from exolab.errors import KernelPanic, SyscallError

__all__ = ["FREE", "USED", "PENDING", "FreeMap"]

FREE, USED, PENDING = 0, 1, 2


class FreeMap:
    """One state byte per disk block."""

    __slots__ = ("blocks", "_state", "_counts")

    def __init__(self, blocks: int) -> None:
        self.blocks = blocks
        self._state = bytearray(blocks)         # FREE / USED / PENDING per block
        self._counts = [blocks, 0, 0]

    def state(self, b: int) -> int:
        """The state of block ``b`` (a checked block number)."""
        return self._state[b]

    def _set(self, b: int, old: int, new: int) -> None:
        """Move ``b`` from ``old`` to ``new`` (KernelPanic if it was not ``old``)."""
        if self._state[b] != old:
            raise KernelPanic("xn freemap: block in the wrong state", block=b,
                              expected=old, actual=self._state[b])
        self._state[b] = new
        self._counts[old] -= 1
        self._counts[new] += 1

    def take(self, b: int) -> None:
        """Allocate free block ``b`` (EBUSY if used, EAGAIN if still pending)."""
        s = self._state[b]
        if s == USED:
            raise SyscallError("EBUSY", "block is in use", block=b)
        if s == PENDING:
            raise SyscallError("EAGAIN", "block was freed but an on-disk pointer to it "
                               "may remain", block=b)
        self._set(b, FREE, USED)

    def release(self, b: int) -> None:
        """A used block lost its pointer in the cache: pending until that is durable."""
        self._set(b, USED, PENDING)

    def settle(self, b: int) -> None:
        """No on-disk pointer to pending ``b`` remains: free it."""
        self._set(b, PENDING, FREE)

    def mark(self, b: int) -> bool:
        """Recovery: ``b`` is reachable; False if something else reached it first."""
        if self._state[b] != FREE:
            return False
        self._set(b, FREE, USED)
        return True

    def reset(self) -> None:
        """Forget everything: every block free (before a rebuild from the roots)."""
        self._state[:] = bytes(self.blocks)
        self._counts = [self.blocks, 0, 0]

    def free_blocks(self, start: int, n: int) -> list[int]:
        """Up to ``n`` free blocks from ``start`` on (wrapping), ascending from there."""
        out: list[int] = []
        st, nb = self._state, self.blocks
        for base, end in ((start, nb), (0, start)):
            i = st.find(0, base, end)
            while i >= 0 and len(out) < n:
                out.append(i)
                i = st.find(0, i + 1, end)
        return out

    def count(self, state: int) -> int:
        """Number of blocks in ``state``."""
        return self._counts[state]

    def snapshot(self) -> bytes:
        """The state byte of every block, as XN stores its map (:mod:`.store`)."""
        return bytes(self._state)
