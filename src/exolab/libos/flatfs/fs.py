"""A flat file system over XN: one directory, whole-file writes, no bitmaps.

A second library file system of a different design from ext2, to share one
XN disk with it. Its root block (type ``<prefix> dir``) holds up to
``entries(bs)`` names; each file is one ``<prefix> file`` block (its size and
pointers to ``<prefix> data`` blocks). It keeps no free map of its own: it
takes free blocks from XN's free list (from ``start`` on, so it stays out of
the region another file system allocates from) and lets XN check every
allocation against its ownership functions (:mod:`.templates`). A file is
rewritten whole: new data blocks are allocated (or old ones reused), the old
surplus freed, in the order XN's rules need (children written before the
file block that points to them, by XN's sync).

Interface::

    FlatFS.make(client, root, start, prefix="flat") -> FlatFS   (new tree)
    FlatFS.open(client, prefix="flat", start) -> FlatFS          (existing tree: also
                                                 after a reboot, from XN's root catalogue)
      names() -> list[str]    create(name)    write(name, data)    read(name) -> bytes
      delete(name)            sync()
"""
from __future__ import annotations

import struct
from typing import Any

from exolab.errors import SyscallError
from exolab.libos.flatfs.templates import ENTRY, MAGIC, NAME_MAX, entries, pointers

__all__ = ["FlatFS"]


class FlatFS:
    """The flat file system of one principal on one XN."""

    def __init__(self, client: Any, root: int, start: int, prefix: str, bs: int) -> None:
        self.c = client
        self.root = root
        self.start = start                  # where to look for free blocks
        self.prefix = prefix
        self.bs = bs

    @classmethod
    def make(cls, client: Any, root: int, start: int, bs: int,
             prefix: str = "flat") -> "FlatFS":
        """Register a new, empty flat tree rooted at free block ``root``."""
        client.register(prefix, root, f"{prefix} dir")
        client.write(root, [(0, MAGIC)])
        return cls(client, root, start, prefix, bs)

    @classmethod
    def open(cls, client: Any, start: int, bs: int, prefix: str = "flat") -> "FlatFS":
        """The existing tree named ``prefix`` in XN's root catalogue."""
        root, _t = client.root(prefix)
        return cls(client, root, start, prefix, bs)

    # -- reading ---------------------------------------------------------------------

    def _dir(self) -> bytes:
        return bytes(self.c.load_root(self.prefix))

    def _entries(self) -> dict[str, tuple[int, int]]:
        """name -> (slot, file block)."""
        d, out = self._dir(), {}
        for s in range(entries(self.bs)):
            off = ENTRY + s * ENTRY
            b = struct.unpack_from("<I", d, off + NAME_MAX)[0]
            if b:
                out[d[off:off + NAME_MAX].rstrip(b"\0").decode()] = (s, b)
        return out

    def names(self) -> list[str]:
        """Every file name, sorted."""
        return sorted(self._entries())

    def _file(self, name: str) -> tuple[int, int, list[int]]:
        """(slot, file block, data blocks) of ``name`` (ENOENT)."""
        e = self._entries().get(name)
        if e is None:
            raise SyscallError("ENOENT", "no such file", name=name)
        self._dir()
        fb = bytes(self.c.read(e[1], self.root))
        n = pointers(self.bs)
        ptrs = list(struct.unpack_from(f"<{n}I", fb, 4))
        size = struct.unpack_from("<I", fb, 0)[0]
        used = (size + self.bs - 1) // self.bs
        return e[0], e[1], ptrs[:used]

    def read(self, name: str) -> bytes:
        """The whole file."""
        _s, fb, blocks = self._file(name)
        size = struct.unpack_from("<I", bytes(self.c.read(fb, self.root)), 0)[0]
        data = b"".join(bytes(self.c.read(b, fb)) for b in blocks)
        return data[:size]

    # -- changing --------------------------------------------------------------------

    def _free_block(self) -> int:
        got = self.c.free_list(self.start, 1)
        if not got:
            raise SyscallError("ENOSPC", "no free block")
        return int(got[0])

    def create(self, name: str) -> None:
        """A new empty file (EEXIST, ENAMETOOLONG, ENOSPC)."""
        raw = name.encode()
        if len(raw) > NAME_MAX or not raw:
            raise SyscallError("ENAMETOOLONG", "bad name", name=name)
        ents = self._entries()
        if name in ents:
            raise SyscallError("EEXIST", "file exists", name=name)
        used = {s for s, _b in ents.values()}
        slot = next((s for s in range(entries(self.bs)) if s not in used), None)
        if slot is None:
            raise SyscallError("ENOSPC", "directory full")
        b = self._free_block()
        entry = raw.ljust(NAME_MAX, b"\0") + struct.pack("<I", b)
        self.c.modify(self.root, [(ENTRY + slot * ENTRY, entry)],
                      [(b, f"{self.prefix} file")], [])

    def write(self, name: str, data: bytes) -> None:
        """Replace the whole file's contents."""
        _s, fb, old = self._file(name)
        need = (len(data) + self.bs - 1) // self.bs
        if need > pointers(self.bs):
            raise SyscallError("EFBIG", "file too large", size=len(data))
        for i, b in enumerate(old[need:], start=need):      # shrink: free the tail
            self.c.modify(fb, [(4 + 4 * i, bytes(4))], [], [b])
        blocks = old[:need]
        for i in range(len(blocks), need):                  # grow: one allocation each
            b = self._free_block()
            self.c.modify(fb, [(4 + 4 * i, struct.pack("<I", b))],
                          [(b, f"{self.prefix} data")], [])
            blocks.append(b)
        for i, b in enumerate(blocks):
            piece = data[i * self.bs:(i + 1) * self.bs].ljust(self.bs, b"\0")
            self.c.write(b, [(0, piece)])
        self.c.write(fb, [(0, struct.pack("<I", len(data)))])

    def delete(self, name: str) -> None:
        """Remove a file; XN frees its block and its data blocks."""
        slot, fb, _blocks = self._file(name)
        self.c.modify(self.root, [(ENTRY + slot * ENTRY, bytes(ENTRY))], [], [fb])

    def sync(self) -> None:
        """Everything durable (XN orders the writes)."""
        self.c.sync()
