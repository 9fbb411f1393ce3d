"""ExOS's side of Aegis's packet filters: bind a filter, read its receive ring, send.

A library OS receives from the network by binding a DPF filter
(:mod:`exolab.kernels.exokernel.dpf`) with a receive ring in pages it
allocates and maps itself; the kernel copies every frame the filter wins
into the ring (layout in :mod:`exolab.kernels.exokernel.dpf_rx`) and wakes
the environment. This module is that protocol at user level, untrusted like
the rest of ExOS: it reads and frees ring slots with ordinary loads and
stores through its own page table, and sends by naming a page of its own.

Interface::

    RxRing(os, fid, vaddr, slots, frames)      (made by bind_filter)
      fid, vaddr, slots
      poll() -> bytes | None     the next frame, its slot freed; None if empty
      recv() -> bytes            poll, sleeping in Aegis until a frame comes
      info() -> (state, delivered, dropped, reason)     Aegis's DPF_INFO
      attach_handler(source, window_pages=1) -> window vaddr   (ASH_BIND)
      close()                    unbind the filter, unmap and free the ring (and window)
    bind_filter(os, spec, pages=1, share=False) -> RxRing
                                 unshared: the filter must fix its key (dpf.key: a
                                 UDP/TCP port, an ICMP type and identifier; EPERM
                                 if broader) and wins every frame it accepts;
                                 shared: any filter, outranked by every key's owner
    Sender(os)                   one transmit page: send(frame)
    UDP_ECHO                     an ASH (source) that answers a UDP datagram from the
                                 interrupt: addresses swapped, IP checksum recomputed,
                                 the UDP checksum integrated into the payload's copy
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.abi import as_bytes
from exolab.errors import SyscallError
from exolab.kernels.exokernel.dpf_rx import RING_SLOT, SHARE, SLOT_DATA
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.layout import P_READ, P_WRITE, SHIFT

if TYPE_CHECKING:
    from exolab.libos.exos.exos import ExOS

__all__ = ["RxRing", "bind_filter", "Sender", "UDP_ECHO"]

#: an ASH that echoes an IPv4/UDP datagram (no IP options) to its sender; anything
#: else it hands to the ring. The reply is built in the handler's window.
UDP_ECHO = """
def fold(s):
    s = (s & 65535) + (s >> 16)
    return (s & 65535) + (s >> 16)

def handler(msg):
    n = msg.length
    if n < 42 or msg.load(14, 1) != 69:
        msg.deliver()
        return
    total = msg.load(16, 2)
    ulen = msg.load(38, 2)
    if 14 + total > n or ulen < 8 or 34 + ulen > 14 + total:
        msg.deliver()
        return
    msg.copy(6, 0, 6)
    msg.copy(0, 6, 6)
    msg.copy(12, 12, 2)
    msg.copy(14, 14, 12)
    msg.copy(30, 26, 4)
    msg.copy(26, 30, 4)
    msg.store(22, 1, 64)
    msg.store(24, 2, 0)
    msg.store(24, 2, 65535 - msg.wsum(14, 20))
    msg.copy(34, 36, 2)
    msg.copy(36, 34, 2)
    msg.store(38, 2, ulen)
    msg.store(40, 2, 0)
    payload = msg.copy(42, 42, ulen - 8)
    s = fold(msg.wsum(26, 8) + 17 + ulen + msg.wsum(34, 8) + payload)
    c = 65535 - s
    msg.store(40, 2, 65535 if c == 0 else c)
    msg.send(0, 14 + total)
"""


def _map_pages(os: "ExOS", npages: int) -> tuple[int, list[tuple[int, int]]]:
    """Allocate and map ``npages`` fresh read-write pages; (vaddr, [(ppn, handle)])."""
    vpn = os.vm.reserve(npages)
    frames = [os.trap(Sys.PAGE_ALLOC, None) for _ in range(npages)]
    os.vm.map_fixed(vpn, frames, P_READ | P_WRITE)
    return vpn << SHIFT, frames


class RxRing:
    """A bound filter's receive ring, mapped in this library OS's address space."""

    def __init__(self, os: "ExOS", fid: int, vaddr: int, slots: int,
                 frames: list[tuple[int, int]]) -> None:
        self.os, self.fid, self.vaddr, self.slots = os, fid, vaddr, slots
        self.frames = frames
        self.tail = 0                           # the next slot to consume
        self.window = 0                         # an ASH's window, once attached
        self.window_pages = 0

    def _slot(self, i: int) -> int:
        """Virtual address of slot ``i``."""
        return self.vaddr + (i >> 1) * (1 << SHIFT) + (i & 1) * RING_SLOT

    def poll(self) -> bytes | None:
        """Take the next frame out of the ring (its slot freed), or None if empty."""
        cpu = self.os.cpu
        at = self._slot(self.tail)
        n = cpu.load(at, 4)
        if n == 0:
            return None
        frame = bytes(cpu.load_bytes(at + SLOT_DATA, n))
        cpu.note_copy(n)
        cpu.store(at, 0, 4)
        self.tail = (self.tail + 1) % self.slots
        return frame

    def recv(self) -> bytes:
        """The next frame, sleeping in Aegis until one arrives."""
        while True:
            frame = self.poll()
            if frame is not None:
                return frame
            self.os.trap(Sys.SLEEP)

    def info(self) -> tuple[str, int, int, str]:
        """Aegis's record of the filter: (state, delivered, dropped, reason)."""
        return self.os.trap(Sys.DPF_INFO, self.fid)  # type: ignore[no-any-return]

    def attach_handler(self, source: str, window_pages: int = 1) -> int:
        """Download an ASH (Python source defining ``handler(msg)``) for this filter,
        with a window of fresh pages mapped here; return the window's address."""
        vaddr, frames = _map_pages(self.os, window_pages)
        try:
            self.os.trap(Sys.ASH_BIND, self.fid, source, [h for _, h in frames])
        except SyscallError:
            self.os.munmap(vaddr, window_pages << SHIFT)
            raise
        self.window, self.window_pages = vaddr, window_pages
        return vaddr

    def close(self) -> None:
        """Unbind the filter (if still bound) and give the ring's pages back."""
        try:
            self.os.trap(Sys.DPF_UNBIND, self.fid)
        except SyscallError:
            pass                                # already removed by the kernel
        self.os.munmap(self.vaddr, len(self.frames) << SHIFT)
        if self.window:
            self.os.munmap(self.window, self.window_pages << SHIFT)
            self.window = 0


def bind_filter(os: "ExOS", spec: Any, pages: int = 1, share: bool = False) -> RxRing:
    """Bind filter ``spec`` (exclusive unless ``share``) with a ring of ``pages``
    fresh pages; return the ring."""
    vaddr, frames = _map_pages(os, pages)
    try:
        fid = os.trap(Sys.DPF_BIND, spec, [h for _, h in frames], SHARE if share else 0)
    except SyscallError:
        os.munmap(vaddr, pages << SHIFT)
        raise
    return RxRing(os, fid, vaddr, 2 * pages, frames)


class Sender:
    """One page this library OS transmits from (the NIC captures a frame at submit)."""

    def __init__(self, os: "ExOS") -> None:
        self.os = os
        self.vaddr, frames = _map_pages(os, 1)
        self.handle = frames[0][1]

    def send(self, frame: Any) -> None:
        """Transmit ``frame`` (14..1514 bytes): store it in the page, then NET_SEND."""
        data = as_bytes(frame)
        self.os.cpu.store_bytes(self.vaddr, data)
        self.os.trap(Sys.NET_SEND, self.handle, 0, len(data))
