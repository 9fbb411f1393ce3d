"""ExOS interprocess communication: descriptors, pipes, shared memory.

Nothing here enters the kernel on the fast path.

- *Pipes* are a ring in one shared page, mapped by every process holding an
  end: a header (lock, head and tail counters, reader and writer counts, the
  wake handles of a sleeping reader/writer) and 4032 bytes of data. ``read``
  and ``write`` go through ExOS's descriptor layer (a procedure call each,
  a descriptor-table lookup, then the pipe routine and a ``bcopy``); the
  *pipe'* variant (:meth:`IPC.read_inline` / :meth:`IPC.write_inline`) is the
  same ring code inlined into the caller. An empty or full pipe makes the
  caller yield (or, when nobody else can run, sleep until the peer wakes it).
- *Shared memory*: a segment is data pages plus a descriptor page listing
  their (ppn, capability); the key is a read-only capability for the
  descriptor page. Attaching makes the caller a co-owner of the pages.
- *lrpc* is in :mod:`.lrpc`.

Interface::

    PIPE_RING, FD_CONSOLE, FD_READ, FD_WRITE
    IPC(os)
      pipe() -> (r, w)       read(fd, n)    write(fd, data)    close(fd)
      read_inline(fd, n)     write_inline(fd, data)            (pipe')
      fd_alloc(kind, va)     fd_entry(fd)   open_fds()  close_all()
      inherit(fds, by=1)     wake_sleeper(slot)
      shm_create(len)        shm_attach(key)                   shm_detach(va)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.abi import as_bytes
from exolab.errors import SyscallError
from exolab.kernels.exokernel.bind import VALID, WRITABLE
from exolab.kernels.exokernel.limits import MAX_SHARE
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.layout import (
    DESC_PAGES,
    MAX_FDS,
    MAX_SHM,
    PAGE,
    SCRATCH_VPN,
    SHIFT,
    cost,
    fd_addr,
)
from exolab.safe.sealed import Sealed

if TYPE_CHECKING:
    from exolab.libos.exos.exos import ExOS

__all__ = ["IPC", "PIPE_RING", "FD_CONSOLE", "FD_READ", "FD_WRITE"]

MASK32 = 0xFFFFFFFF
FD_FREE, FD_CONSOLE, FD_READ, FD_WRITE = 0, 1, 2, 3
FD_FILE = 4             # an open file of ExOS's file system (libos/exos/fs.py)
FD_SOCKET = 5           # a socket of ExOS's network stack (libos/exos/net.py)
# pipe page header offsets
H_LOCK, H_HEAD, H_TAIL, H_READERS, H_WRITERS, H_RSLEEP, H_WSLEEP = 0, 4, 8, 12, 16, 24, 32
RING_OFF = 64
PIPE_RING = PAGE - RING_OFF
D_NEXT_PPN, D_NEXT_KEY = 4, 8            # the next descriptor page: ppn, read capability


class IPC(metaclass=Sealed):
    """One process's descriptors, pipes and shared-memory segments."""

    def __init__(self, os: "ExOS") -> None:
        self.os = os
        self.cpu = os.cpu
        p = os.profile
        self.c_call = cost(p, "proc_call")
        self.c_pipe = cost(p, "pipe_check")
        self.c_mod = cost(p, "ring_mod")
        self.c_fd = cost(p, "fd_check")
        self.attached: dict[int, int] = {}        # shm vaddr -> pages (registers)
        self.inline: dict[int, int] = {}           # pipe' ring pointers kept in registers
        self.ends: dict[int, int] = {}             # pipe ring vaddr -> our descriptors on it
        self.exiting = False                       # close_all: leave the rings to exit

    # -- descriptors ----------------------------------------------------------------

    def fd_entry(self, fd: Any) -> tuple[int, int]:
        """(kind, pipe vaddr) of descriptor ``fd`` (EBADF if not open)."""
        self.cpu.charge(self.c_fd)
        if type(fd) is not int or not 0 <= fd < MAX_FDS:
            raise SyscallError("EBADF", "bad file descriptor", fd=fd)
        a = fd_addr(fd)
        kind = self.cpu.load(a)
        if kind == FD_FREE:
            raise SyscallError("EBADF", "bad file descriptor", fd=fd)
        return kind, self.cpu.load(a + 4)

    def fd_alloc(self, kind: int, va: int) -> int:
        """Install a descriptor in the lowest free slot (EMFILE if none)."""
        for fd in range(MAX_FDS):
            a = fd_addr(fd)
            if self.cpu.load(a) == FD_FREE:
                self.cpu.store(a, kind)
                self.cpu.store(a + 4, va)
                return fd
        raise SyscallError("EMFILE", "too many open descriptors", limit=MAX_FDS)

    def open_fds(self) -> list[tuple[int, int, int]]:
        """Every open descriptor as (fd, kind, vaddr)."""
        out = []
        for fd in range(MAX_FDS):
            a = fd_addr(fd)
            kind = self.cpu.load(a)
            if kind != FD_FREE:
                out.append((fd, kind, self.cpu.load(a + 4)))
        return out

    def _count(self, va: int, field: int, delta: int) -> int:
        """Add ``delta`` to a pipe's reader or writer count; return the new value."""
        n = (self.cpu.load(va + field) + delta) & MASK32
        self.cpu.store(va + field, n)
        return n

    def inherit(self, fds: list[tuple[int, int, int]], by: int = 1) -> None:
        """A fork shares every open pipe end: count the child's references
        (``by=-1`` takes them back when the fork fails)."""
        for _fd, kind, va in fds:
            if kind == FD_READ:
                self._count(va, H_READERS, by)
            elif kind == FD_WRITE:
                self._count(va, H_WRITERS, by)
            elif kind == FD_FILE:
                self.os._files.inherit(va, by)

    def close(self, fd: Any) -> None:
        """Close descriptor ``fd``; the last end of a pipe wakes whoever waits on it."""
        kind, va = self.fd_entry(fd)
        self.cpu.store(fd_addr(fd), FD_FREE)
        self.inline.pop(fd, None)
        if kind == FD_FILE:
            self.os._files.close(va)
        elif kind == FD_READ:
            self._count(va, H_READERS, -1)
            self.wake_sleeper(va + H_WSLEEP)
            self._release_ring(va)
        elif kind == FD_WRITE:
            self._count(va, H_WRITERS, -1)
            self.wake_sleeper(va + H_RSLEEP)
            self._release_ring(va)
        elif kind == FD_SOCKET and self.os.net is not None:   # (net.py)
            self.os.net.close_socket(va)

    def _release_ring(self, va: int) -> None:
        """Our descriptor on pipe ring ``va`` closed: once none of ours names it,
        unmap the page, so our ownership ends (Aegis frees it with its last owner)."""
        if self.exiting:
            return
        left = self.ends.get(va, 1) - 1
        if left > 0:
            self.ends[va] = left
            return
        self.ends.pop(va, None)
        self.os.vm.munmap(va, PAGE)

    def adopt(self, fds: list[tuple[int, int, int]]) -> None:
        """A forked child's descriptors: count its ends of each pipe ring."""
        for _fd, kind, va in fds:
            if kind in (FD_READ, FD_WRITE):
                self.ends[va] = self.ends.get(va, 0) + 1

    def close_all(self) -> None:
        """Close every descriptor (the process is exiting: its pages go back with
        the environment, so no ring is unmapped one by one)."""
        self.ends.clear()
        self.exiting = True
        for fd, _kind, _va in self.open_fds():
            self.close(fd)

    # -- pipes --------------------------------------------------------------------------

    def pipe(self) -> tuple[int, int]:
        """Create a pipe: a shared ring page and two descriptors."""
        ppn, handle = self.os.trap(Sys.PAGE_ALLOC, None)
        va = self.os.vm.shared_run([(ppn, handle)])
        self.cpu.store(va + H_READERS, 1)
        self.cpu.store(va + H_WRITERS, 1)
        try:
            r = self.fd_alloc(FD_READ, va)
        except SyscallError:
            self.os.vm.munmap(va, PAGE)         # (EMFILE: give the ring back)
            raise
        self.ends[va] = 1
        try:
            w = self.fd_alloc(FD_WRITE, va)
        except SyscallError:
            self.close(r)                       # (EMFILE: the ring goes with it)
            raise
        self.ends[va] = 2
        return r, w

    def wake_sleeper(self, slot: int) -> None:
        """Wake the environment whose handle sleeps in ``slot`` (if any)."""
        h = self.cpu.load(slot, 8)
        if h:
            self.cpu.store(slot, 0, 8)
            try:
                self.os.trap(Sys.WAKE, h)
            except SyscallError:
                pass                            # the sleeper is gone

    def _lock(self, va: int) -> None:
        """Take the ring's lock word (uniprocessor: a flag the epilogue respects)."""
        self.cpu.load(va + H_LOCK)
        self.cpu.store(va + H_LOCK, 1)

    def _take(self, va: int, n: int) -> bytes | None:
        """One attempt to read up to ``n`` bytes; None if empty with writers left."""
        cpu = self.cpu
        self._lock(va)
        head, tail = cpu.load(va + H_HEAD), cpu.load(va + H_TAIL)
        cpu.charge(self.c_pipe)
        count = min((tail - head) & MASK32, PIPE_RING)    # (a peer may corrupt them)
        if count == 0:
            writers = cpu.load(va + H_WRITERS)
            cpu.store(va + H_LOCK, 0)
            return b"" if writers == 0 or n == 0 else None
        cpu.charge(self.c_mod)
        take, off = min(n, count), head % PIPE_RING
        first = min(take, PIPE_RING - off)
        data = cpu.load_bytes(va + RING_OFF + off, first)
        if first < take:
            data += cpu.load_bytes(va + RING_OFF, take - first)
        cpu.note_copy(take)                  # bcopy out of the ring
        cpu.store(va + H_HEAD, (head + take) & MASK32)
        self.wake_sleeper(va + H_WSLEEP)
        cpu.store(va + H_LOCK, 0)
        return data

    def _put(self, va: int, data: bytes) -> int:
        """One attempt to write a prefix of ``data``; return bytes written (EPIPE)."""
        cpu = self.cpu
        self._lock(va)
        if cpu.load(va + H_READERS) == 0:
            cpu.store(va + H_LOCK, 0)
            raise SyscallError("EPIPE", "no reader on the pipe")
        head, tail = cpu.load(va + H_HEAD), cpu.load(va + H_TAIL)
        cpu.charge(self.c_pipe)
        room = PIPE_RING - min((tail - head) & MASK32, PIPE_RING)
        cpu.charge(self.c_mod)
        put, off = min(room, len(data)), tail % PIPE_RING
        if put:
            first = min(put, PIPE_RING - off)
            cpu.store_bytes(va + RING_OFF + off, data[:first])
            if first < put:
                cpu.store_bytes(va + RING_OFF, data[first:put])
            cpu.note_copy(put)               # bcopy into the ring
            cpu.store(va + H_TAIL, (tail + put) & MASK32)
            self.wake_sleeper(va + H_RSLEEP)
        cpu.store(va + H_LOCK, 0)
        return put

    def _read_ring(self, va: int, n: int) -> bytes:
        """Read from the ring, blocking while it is empty and has writers."""
        spins = 0
        while True:
            data = self._take(va, n)
            if data is not None:
                return data
            spins += 1
            self.os.block(va + H_RSLEEP, lambda: self._readable(va), spins)

    def _readable(self, va: int) -> bool:
        """Whether a read would not block."""
        cpu = self.cpu
        return cpu.load(va + H_HEAD) != cpu.load(va + H_TAIL) or \
            cpu.load(va + H_WRITERS) == 0

    def _writable(self, va: int) -> bool:
        """Whether a write would not block."""
        cpu = self.cpu
        used = (cpu.load(va + H_TAIL) - cpu.load(va + H_HEAD)) & MASK32
        return used < PIPE_RING or cpu.load(va + H_READERS) == 0

    def _write_ring(self, va: int, data: bytes) -> int:
        """Write all of ``data``, blocking while the ring is full."""
        done = spins = 0
        while done < len(data):
            put = self._put(va, data[done:])
            done += put
            spins = 0 if put else spins + 1
            if done < len(data):
                self.os.block(va + H_WSLEEP, lambda: self._writable(va), spins)
        return done

    def read(self, fd: Any, n: Any) -> bytes:
        """read(2): descriptor layer, then the pipe routine and a bcopy."""
        if type(n) is not int or n < 0:
            raise SyscallError("EINVAL", "bad read length", n=n)
        self.cpu.charge(self.c_call)
        kind, va = self.fd_entry(fd)
        if kind == FD_CONSOLE:
            return b""
        if kind == FD_FILE:
            return self.os._files.read(va, n)
        if kind != FD_READ:
            raise SyscallError("EBADF", "descriptor not open for reading", fd=fd)
        self.cpu.charge(2 * self.c_call)            # pipe_read() and bcopy()
        return self._read_ring(va, n)

    def write(self, fd: Any, data: Any) -> int:
        """write(2): descriptor layer, then the pipe routine and a bcopy."""
        data = as_bytes(data)               # EFAULT unless bytes; a subclass is copied out
        self.cpu.charge(self.c_call)
        kind, va = self.fd_entry(fd)
        if kind == FD_CONSOLE:
            self.os.trap(Sys.CONSOLE, data)
            return len(data)
        if kind == FD_FILE:
            return self.os._files.write(va, data)
        if kind != FD_WRITE:
            raise SyscallError("EBADF", "descriptor not open for writing", fd=fd)
        self.cpu.charge(2 * self.c_call)
        return self._write_ring(va, data)

    def _inline_va(self, fd: Any, want: int) -> int:
        """The ring pointer an inlined pipe' loop keeps in a register."""
        va = self.inline.get(fd) if type(fd) is int else None
        if va is None:
            kind, va = self.fd_entry(fd)
            if kind != want:
                raise SyscallError("EBADF", "descriptor is not that end of a pipe", fd=fd)
            self.inline[fd] = va
        return va

    def read_inline(self, fd: Any, n: Any) -> bytes:
        """pipe' read: the ring code inlined in the caller (no calls, no fd lookup)."""
        if type(n) is not int or n < 0:
            raise SyscallError("EINVAL", "bad read length", n=n)
        return self._read_ring(self._inline_va(fd, FD_READ), n)

    def write_inline(self, fd: Any, data: Any) -> int:
        """pipe' write: the ring code inlined in the caller."""
        return self._write_ring(self._inline_va(fd, FD_WRITE), as_bytes(data))

    # -- shared memory ------------------------------------------------------------------

    def shm_create(self, length: Any) -> int:
        """Create a segment; its key is a read capability for its first descriptor
        page (each lists DESC_PAGES data pages, then links to the next one)."""
        if type(length) is not int or not 0 < length <= MAX_SHM * PAGE:
            raise SyscallError("EINVAL", "bad segment length", length=length)
        os = self.os
        pages = [os.trap(Sys.PAGE_ALLOC, None) for _ in range((length + PAGE - 1) >> SHIFT)]
        chunks = [pages[at:at + DESC_PAGES] for at in range(0, len(pages), DESC_PAGES)]
        nxt: tuple[int, int] | None = None
        for chunk in reversed(chunks):          # the last descriptor first: each links on
            nxt = self._describe(chunk, nxt)
        return nxt[1]  # type: ignore[index]

    def _describe(self, chunk: list[tuple[int, int]],
                  nxt: tuple[int, int] | None) -> tuple[int, int]:
        """One descriptor page listing ``chunk`` and linking to ``nxt``: (ppn, key)."""
        os, cpu = self.os, self.cpu
        dppn, dh = os.trap(Sys.PAGE_ALLOC, None)
        os.trap(Sys.TLB_WRITE, SCRATCH_VPN, dppn, dh, VALID | WRITABLE)
        base = SCRATCH_VPN << SHIFT
        cpu.store(base, len(chunk))
        if nxt is not None:
            cpu.store(base + D_NEXT_PPN, nxt[0])
            cpu.store(base + D_NEXT_KEY, nxt[1], 8)
        for i, (ppn, h) in enumerate(chunk):
            cpu.store(base + 16 + 16 * i, ppn)
            cpu.store(base + 24 + 16 * i, os.trap(Sys.CAP_DERIVE, h, ("read", "write",
                                                                      "share")), 8)
        os.trap(Sys.TLB_UNBIND, SCRATCH_VPN, 1)
        return dppn, os.trap(Sys.CAP_DERIVE, dh, ("read", "share"))

    def shm_attach(self, key: Any) -> int:
        """Map segment ``key`` read-write; the caller becomes a co-owner of its pages."""
        os = self.os
        try:
            kind, dppn, _rights, _owners = os.trap(Sys.CAP_INFO, key)
        except SyscallError:
            raise SyscallError("ESRCH", "no such segment", key=key) from None
        if kind != "page":
            raise SyscallError("ESRCH", "no such segment", key=key)
        listed: list[tuple[int, int]] = []
        link: tuple[int, int] | None = (dppn, key)
        while link is not None and len(listed) < MAX_SHM:   # (a corrupt chain ends)
            link = self._read_descriptor(link, listed)
        roots: list[int] = []
        for at in range(0, len(listed), MAX_SHARE):
            roots.extend(os.trap(Sys.PAGE_SHARE, [h for _p, h in listed[at:at + MAX_SHARE]],
                                 os.handle))
        va = os.vm.shared_run([(p, r) for (p, _h), r in zip(listed, roots)])
        self.attached[va] = len(listed)
        return va

    def _read_descriptor(self, link: tuple[int, int],
                         listed: list[tuple[int, int]]) -> tuple[int, int] | None:
        """Append one descriptor page's (ppn, handle) entries; return its link."""
        os, cpu = self.os, self.cpu
        os.trap(Sys.TLB_WRITE, SCRATCH_VPN, link[0], link[1], VALID)
        base = SCRATCH_VPN << SHIFT
        n = min(cpu.load(base), DESC_PAGES, MAX_SHM - len(listed))
        listed.extend((cpu.load(base + 16 + 16 * i), cpu.load(base + 24 + 16 * i, 8))
                      for i in range(n))
        nxt = None
        if n == DESC_PAGES:                     # a full page may link to another
            ppn, h = cpu.load(base + D_NEXT_PPN), cpu.load(base + D_NEXT_KEY, 8)
            nxt = (ppn, h) if h else None
        os.trap(Sys.TLB_UNBIND, SCRATCH_VPN, 1)
        return nxt

    def shm_detach(self, vaddr: Any) -> None:
        """Unmap the segment attached at ``vaddr`` (our ownership of it ends)."""
        n = self.attached.pop(vaddr, None) if type(vaddr) is int else None
        if n is None:
            raise SyscallError("EINVAL", "no segment attached there", vaddr=vaddr)
        self.os.vm.munmap(vaddr, n * PAGE)
