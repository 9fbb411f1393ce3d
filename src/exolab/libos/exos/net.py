"""ExOS's network stack: services/net as a library in the application's address space.

The same stack the monolithic kernel runs inside itself
(:mod:`exolab.services.net`) runs here in user mode, over Aegis's packet
filters (:mod:`exolab.libos.exos.pfilter`): no crossing on the receive path
but the wakeup, and one system call (``NET_SEND``) per frame sent.

- *Receive.* Each bound socket binds an exclusive DPF filter for its own
  datagrams (UDP: EtherType IPv4, protocol 17, the destination port; ICMP:
  protocol 1, echo reply, the identifier: the key
  :func:`exolab.kernels.exokernel.dpf.key` requires
  of an unshared filter) with a receive ring in pages of this process.
  The stack also binds two shared filters when it starts: ARP packets for
  this host's address, and ICMP echo requests to it (so the host answers
  ``ping`` whenever some process has a stack). Aegis copies each frame its
  filter wins into the ring and wakes the environment; the stack decodes it
  *in the ring slot* (through the MMU, like every ExOS access) and
  ``recvfrom`` copies the payload out to the caller. Nothing else runs on
  the way.
- *Send.* The stack builds the frame in a transmit page of this process (its
  one copy of the payload, and the checksum pass) and calls ``NET_SEND``.
- *Handlers.* ``bind_handler(fd, source)`` (ExOS's extension) attaches an
  ASH (:mod:`exolab.kernels.exokernel.ash`) to a bound UDP socket's filter:
  Aegis runs the verified handler in the interrupt, which may answer without
  this process being scheduled at all, or deliver the frame to the socket.
- *Waiting.* ``recvfrom`` on an empty socket services every ring of the
  process (ARP and echo too), then sleeps in Aegis until a ring is filled.

Limits: the shared ARP and echo filters go to the earliest-installed stack
on a machine (DPF's rule among equal filters), so only the first process per
machine resolves addresses and answers pings; a forked child does not
inherit its parent's sockets (the filters and rings are the parent
environment's): its copies of the descriptors are EBADF, and closing them
is harmless.

Interface::

    FD_SOCKET                   the descriptor kind of a socket (ipc.py's table)
    UserMemory(cpu)             PacketMemory over this process's own addresses
    ExosNet(os)                 socket(kind), bind(fd, port), sendto(...), recvfrom(fd, n),
                                close_socket(sid), bind_handler(fd, source), stack,
                                statistics()
    udp_filter(port), icmp_reply_filter(ident), arp_filter(ip), echo_filter(ip)
    RING_PAGES, SOCK_QUEUE
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from exolab.abi import SOCKET_KINDS, as_bytes
from exolab.errors import SyscallError, type_name
from exolab.kernels.common.args import shown
from exolab.kernels.exokernel.dpf_rx import SLOT_DATA
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.ipc import FD_SOCKET
from exolab.libos.exos.pfilter import RxRing, Sender, bind_filter
from exolab.services.net import (MAX_UDP_PAYLOAD, Datagram, EchoReply, NetStack, NetStats,
                                 aton, cycles_for, ntoa)

if TYPE_CHECKING:
    from exolab.libos.exos.exos import ExOS

__all__ = ["FD_SOCKET", "UserMemory", "ExosNet", "udp_filter", "icmp_reply_filter",
           "arp_filter", "echo_filter", "RING_PAGES", "SOCK_QUEUE"]

RING_PAGES = 8              # pages of a socket's receive ring (16 slots)
SHARED_PAGES = 2            # pages of the ARP and echo-request rings (4 slots each)
SOCK_QUEUE = 32             # datagrams queued for a socket not being read

_IP = ("eq", 12, 2, 0xFFFF, 0x0800)


def udp_filter(port: int) -> list[tuple[Any, ...]]:
    """A DPF filter for UDP datagrams to ``port``."""
    return [_IP, ("shift", 14), ("eq", 9, 1, 0xFF, 17), ("shift", 0, 1, 0x0F, 4),
            ("eq", 2, 2, 0xFFFF, port)]


def icmp_reply_filter(ident: int) -> list[tuple[Any, ...]]:
    """A DPF filter for ICMP echo replies carrying identifier ``ident``."""
    return [_IP, ("shift", 14), ("eq", 9, 1, 0xFF, 1), ("shift", 0, 1, 0x0F, 4),
            ("eq", 0, 1, 0xFF, 0), ("eq", 4, 2, 0xFFFF, ident)]


def echo_filter(ip: int) -> list[tuple[Any, ...]]:
    """A DPF filter for ICMP echo requests to address ``ip``."""
    return [_IP, ("shift", 14), ("eq", 9, 1, 0xFF, 1), ("eq", 16, 4, 0xFFFFFFFF, ip),
            ("shift", 0, 1, 0x0F, 4), ("eq", 0, 1, 0xFF, 8)]


def arp_filter(ip: int) -> list[tuple[Any, ...]]:
    """A DPF filter for ARP packets whose target is address ``ip``."""
    return [("eq", 12, 2, 0xFFFF, 0x0806), ("eq", 38, 4, 0xFFFFFFFF, ip)]


class UserMemory:
    """Packet memory at this process's own virtual addresses (loads/stores: the MMU)."""

    __slots__ = ("read", "write")

    def __init__(self, cpu: Any) -> None:
        self.read = cpu.load_bytes          # one charged access per word, as any load
        self.write = cpu.store_bytes


class _Socket:
    """One library socket: its filter's ring and the datagrams taken from it."""

    __slots__ = ("sid", "kind", "port", "ring", "queue", "closed")

    def __init__(self, sid: int, kind: str) -> None:
        self.sid = sid                  # its number in the descriptor table's entry
        self.closed = False
        self.kind = kind
        self.port: int | None = None
        self.ring: RxRing | None = None
        self.queue: deque[tuple[bytes, int, int]] = deque()   # (data, src, port)


class ExosNet:
    """One process's library stack and sockets; see the module docstring."""

    def __init__(self, os: "ExOS") -> None:
        self.os = os
        self.cpu = os.cpu
        self.profile = os.profile
        mac, ip = os.trap(Sys.NET_ADDR)                 # ENODEV without a NIC
        self.sender = Sender(os)
        self.stack = NetStack(mac, ip, memory=UserMemory(os.cpu), transmit=self._transmit,
                              tx_addr=self.sender.vaddr, charge=self._charge)
        self.arp_ring = bind_filter(os, arp_filter(ip), pages=SHARED_PAGES, share=True)
        self.echo_ring = bind_filter(os, echo_filter(ip), pages=SHARED_PAGES, share=True)
        self.socks: dict[int, _Socket] = {}             # socket id -> socket
        self.icmp: dict[int, _Socket] = {}              # echo identifier -> socket
        self._next_sid = 1
        self._next_ident = 1
        self.overflow = 0

    def _charge(self, kind: str, count: int) -> None:
        """The stack's cost hook: user-mode cycles; copies counted."""
        self.cpu.charge(cycles_for(self.profile, kind, count))
        if kind == "net.copy" or kind == "net.copy_cksum":
            self.cpu.note_copy(count)

    def _transmit(self, addr: int, length: int) -> bool:
        """Send the frame in the transmit page (False: the NIC's ring is full)."""
        try:
            self.os.trap(Sys.NET_SEND, self.sender.handle, addr - self.sender.vaddr, length)
        except SyscallError as ex:
            if ex.errno == "EAGAIN":
                return False
            raise
        return True

    # -- descriptors -------------------------------------------------------------------

    def socket(self, kind: Any) -> int:
        """A new socket of ``kind`` and its descriptor."""
        if type(kind) is not str or kind not in SOCKET_KINDS:
            raise SyscallError("EINVAL", "unknown socket kind", kind=shown(kind))
        sid = self._next_sid
        fd = self.os.ipc.fd_alloc(FD_SOCKET, sid)
        self._next_sid += 1
        self.socks[sid] = _Socket(sid, kind)
        return fd

    def _sock(self, fd: Any) -> _Socket:
        """Decode socket descriptor ``fd`` (EBADF, ENOTSOCK)."""
        kind, sid = self.os.ipc.fd_entry(fd)
        if kind != FD_SOCKET:
            raise SyscallError("ENOTSOCK", "not a socket", fd=fd)
        sock = self.socks.get(sid)
        if sock is None:                # a descriptor a fork copied: not ours
            raise SyscallError("EBADF", "socket of another environment", fd=fd)
        return sock

    def close_socket(self, sid: int) -> None:
        """The descriptor of socket ``sid`` was closed: unbind its filter and port."""
        sock = self.socks.pop(sid, None)
        if sock is None:
            return
        sock.closed = True
        if sock.port is not None:
            if sock.kind == "udp":
                self.stack.unbind(sock.port)
            else:
                self.icmp.pop(sock.port, None)
        if sock.ring is not None:
            sock.ring.close()

    # -- bind --------------------------------------------------------------------------

    def bind(self, fd: Any, port: Any) -> int:
        """Bind a socket to a local port (0: ephemeral) and its filter; return the port."""
        sock = self._sock(fd)
        if type(port) is not int or not 0 <= port <= 0xFFFF:
            raise SyscallError("EINVAL", "bad port", port=shown(port))
        if sock.port is not None:
            raise SyscallError("EINVAL", "socket already bound", fd=fd, port=sock.port)
        return self._bind(sock, port)

    def _bind(self, sock: _Socket, port: int) -> int:
        """Take the port, then bind the filter for it (undo the port if refused)."""
        if sock.kind == "udp":
            port = self.stack.bind(port, sock)
            spec = udp_filter(port)
        else:
            port = port or self._ephemeral_ident()
            if port in self.icmp:
                raise SyscallError("EADDRINUSE", "echo identifier in use", port=port)
            self.icmp[port] = sock
            spec = icmp_reply_filter(port)
        try:
            sock.ring = bind_filter(self.os, spec, pages=RING_PAGES)
        except SyscallError as ex:
            (self.stack.unbind(port) if sock.kind == "udp" else self.icmp.pop(port))
            if ex.errno == "EBUSY":     # another environment's filter holds the port
                raise SyscallError("EADDRINUSE", "port bound by another process",
                                   port=port) from None
            raise
        sock.port = port
        return port

    def _ephemeral_ident(self) -> int:
        """The next echo identifier no socket of ours uses."""
        for _ in range(65535):
            ident, self._next_ident = self._next_ident, self._next_ident % 65535 + 1
            if ident not in self.icmp:
                return ident
        raise SyscallError("EADDRINUSE", "no echo identifier left")

    # -- send and receive -----------------------------------------------------------------

    def sendto(self, fd: Any, data: Any, addr: Any, port: Any) -> int:
        """Send one datagram (or echo request) to ``addr:port``."""
        sock = self._sock(fd)
        payload = as_bytes(data)
        try:
            dst = aton(addr) if type(addr) is str else aton("")
        except ValueError:
            raise SyscallError("EINVAL", "address must be a dotted quad",
                               addr=shown(addr)) from None
        low = 0 if sock.kind == "icmp" else 1
        if type(port) is not int or not low <= port <= 0xFFFF:
            raise SyscallError("EINVAL", "bad port", port=shown(port))
        if len(payload) > MAX_UDP_PAYLOAD:
            raise SyscallError("EMSGSIZE", "datagram larger than one frame",
                               length=len(payload), limit=MAX_UDP_PAYLOAD)
        if sock.port is None:
            self._bind(sock, 0)
        self.cpu.charge(self.os.c_call)
        sport: int = sock.port                      # type: ignore[assignment]
        ok = (self.stack.udp_send(sport, dst, port, payload) if sock.kind == "udp"
              else self.stack.ping(dst, sport, port, payload))
        if not ok:
            raise SyscallError("EAGAIN", "interface queue full")
        return len(payload)

    def recvfrom(self, fd: Any, n: Any) -> tuple[bytes, tuple[str, int]]:
        """Block until a datagram is queued for ``fd``; (up to n bytes, (addr, port))."""
        sock = self._sock(fd)
        if type(n) is not int or n < 0:
            raise SyscallError("EINVAL", "bad length", n=shown(n))
        if sock.port is None:
            raise SyscallError("EINVAL", "socket not bound", fd=fd)
        while True:
            self._service(sock)
            if sock.queue:
                break
            if sock.closed:             # another thread closed it while we waited
                raise SyscallError("EBADF", "socket closed", fd=fd)
            self.os.trap(Sys.SLEEP)
        data, src, sport = sock.queue.popleft()
        return data[:n], (ntoa(src), sport)

    def _service(self, want: _Socket) -> None:
        """Run every frame waiting in the process's rings through the stack."""
        for ring in (self.arp_ring, self.echo_ring):
            self._drain(ring)
        if want.ring is not None and not want.queue:
            self._drain(want.ring)

    def _drain(self, ring: RxRing) -> None:
        """Decode each filled slot of ``ring`` in place, queue what it yields, free it."""
        cpu = self.cpu
        while True:
            at = ring._slot(ring.tail)
            length = cpu.load(at, 4)
            if length == 0:
                return
            event = self.stack.input(at + SLOT_DATA, length)
            if event is not None:
                self._deliver(event)
            cpu.store(at, 0, 4)
            ring.tail = (ring.tail + 1) % ring.slots

    def _deliver(self, event: Any) -> None:
        """Copy a datagram's payload out of the ring onto its socket's queue."""
        if type(event) is Datagram:
            sock = event.owner
            item = (self.cpu.load_bytes(event.addr, event.length), event.src, event.sport)
            self.cpu.charge(self.profile.copy_cost(event.length))
            self.cpu.note_copy(event.length)        # ring slot -> the caller's buffer
        elif type(event) is EchoReply:
            sock = self.icmp.get(event.ident)
            if sock is None:
                return
            item = (b"", event.src, event.seq)
        else:
            return
        if len(sock.queue) >= SOCK_QUEUE:
            self.overflow += 1
            return
        sock.queue.append(item)

    # -- handlers --------------------------------------------------------------------

    def bind_handler(self, fd: Any, source: Any) -> None:
        """Attach an ASH to bound UDP socket ``fd``'s filter: ``source`` defines
        ``handler(msg)``, verified by Aegis (EINVAL if refused); frames it delivers
        (``msg.deliver()``) reach the socket's ``recvfrom`` as usual."""
        sock = self._sock(fd)
        if sock.kind != "udp" or sock.ring is None:
            raise SyscallError("EINVAL", "a handler needs a bound UDP socket", fd=fd)
        if type(source) is not str:
            raise SyscallError("EINVAL", "a handler is Python source text",
                               type=type_name(source))
        sock.ring.attach_handler(source)

    def statistics(self) -> NetStats:
        """The library stack's counters."""
        return self.stack.statistics()
