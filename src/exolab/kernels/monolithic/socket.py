"""Sockets in the monolithic kernel: the network stack placed inside the kernel.

The placement of :mod:`exolab.services.net` that 4.3BSD and Ultrix use: the
driver, the protocols and the socket buffers all live in the kernel; a
program reaches them by system calls. What a datagram costs beyond the
stack's own work comes from this placement:

- send: trap + generic path, the socket layer (``mono_sock_op``), copyin of
  the data into an mbuf, the stack builds the frame (its copy into the
  interface buffer and its checksum pass), the driver's start routine
  (``mono_if_start``);
- receive: the NIC interrupt, the driver copying the frame from the
  interface buffer into an mbuf (``mono_if_intr`` + a copy), the protocol
  software interrupt (``mono_netisr``) running the stack, the datagram queued
  on the socket and its sleeper woken; the receiver is then *scheduled* (a
  process switch) and its ``recvfrom`` copies the data out after the socket
  layer's own work (``mono_sock_op``).

The interface buffers are the last :data:`NET_FRAMES` frames of the kernel's
static region (like the LANCE's buffer memory, never allocated to
processes): 16 receive buffers of 2 KiB posted to the NIC and one transmit
buffer. A socket queues at most :data:`SOCK_QUEUE` datagrams; beyond that
arrivals are dropped and counted (``sock_overflow``), as ``sbappend`` drops
when the buffer is full.

Interface::

    NET_PATHS, path_rows(profile) -> {row: cycles}   the placement's path costs
    place_stack(kernel, machine, ip) -> NetPlacement | None   (None: no NIC)
    NetPlacement(kernel, nic, address)   interrupt(cpu), stack, statistics()
    Socket                               one socket (kind, port, queue, sleepers)
    sys_socket / sys_bind / sys_sendto / sys_recvfrom   the system calls
    release_socket(k, sock)              a descriptor reference dropped (close, exit)
    NET_FRAMES, RX_BUFFERS, SOCK_QUEUE
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exolab.abi import SOCKET_KINDS, as_bytes
from exolab.errors import SyscallError
from exolab.kernels.common.args import shown
from exolab.kernels.monolithic.limits import KERNEL_FRAMES, MAX_FDS
from exolab.machine.cpu import CPU
from exolab.machine.threads import SimThread
from exolab.services.net import (MAX_UDP_PAYLOAD, Datagram, EchoReply, NetStack, NetStats,
                                 address_option, aton, cycles_for, default_address, ntoa)

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel
    from exolab.kernels.monolithic.proc import Process
    from exolab.machine.nic import Nic

__all__ = ["place_stack", "NET_PATHS", "path_rows", "NetPlacement", "NetPlacementStats", "Socket",
           "sys_socket", "sys_bind", "sys_sendto", "sys_recvfrom", "release_socket",
           "NET_FRAMES", "RX_BUFFERS", "SOCK_QUEUE"]

RX_BUFFERS = 16             # receive buffers posted to the NIC (2 KiB each)
_BUF = 2048
NET_FRAMES = RX_BUFFERS * _BUF // 4096 + 1      # + one transmit buffer frame
SOCK_QUEUE = 32             # datagrams one socket buffers (then dropped, counted)
_ICMP_IDENTS = range(1, 65536)

EXO = "Engler, Kaashoek, O'Toole, Exokernel, SOSP'95"

#: profile -> row -> (cycles, source): this placement's software paths. Other profiles
#: use the dec5000 rows' instruction estimates at the profile's instruction cost.
NET_PATHS: dict[str, dict[str, tuple[int, str]]] = {
    "dec5000": {
        "mono_sock_op": (18_000, f"calibrated: Ultrix 60-byte UDP round trip 3400 us ({EXO}, Table 11), one per datagram sent and one per datagram received; sosend/soreceive, mbuf chains, udp_usrreq, sbappend and the select/wakeup machinery of Ultrix 4.2"),
        "mono_if_intr": (150, "estimate: LANCE receive interrupt: descriptor ring scan, mbuf allocation, enqueue on ipintrq (4.3BSD if_le.c ~150 instructions)"),
        "mono_if_start": (120, "estimate: LANCE start: descriptor fill, ownership bit, poll demand (if_le.c)"),
        "mono_netisr": (100, "estimate: schednetisr + software interrupt dispatch + ipintrq dequeue (4.3BSD)"),
    },
}
_ESTIMATES = {"mono_sock_op": 1500, "mono_if_intr": 150, "mono_if_start": 120,
              "mono_netisr": 100}     # instructions, for profiles without a table


def path_rows(profile: Any) -> dict[str, int]:
    """The cycles of this placement's paths on machine ``profile``."""
    table = NET_PATHS.get(profile.name)
    if table is not None:
        return {row: cycles for row, (cycles, _src) in table.items()}
    return {row: n * profile.instruction for row, n in _ESTIMATES.items()}


class Socket:
    """One datagram socket; its descriptors hold references (``refs``)."""

    __slots__ = ("kind", "port", "queue", "sleepers", "refs", "closed", "overflow")

    def __init__(self, kind: str) -> None:
        self.kind = kind                    # "udp" or "icmp"
        self.port: int | None = None        # bound port (ICMP: echo identifier)
        self.queue: deque[tuple[bytes, int, int]] = deque()  # (data, src, port)
        self.sleepers: list[SimThread] = []  # threads blocked in recvfrom
        self.refs = 0                       # descriptors naming it (fork shares)
        self.closed = False
        self.overflow = 0                   # datagrams dropped: queue full


@dataclass(frozen=True, slots=True)
class NetPlacementStats:
    """The stack's counters and what the placement adds."""

    stack: NetStats
    interrupts: int
    sockets: int
    sock_overflow: int


class NetPlacement:
    """The in-kernel stack on one NIC: driver, protocols, socket demultiplexing."""

    def __init__(self, kernel: "MonolithicKernel", nic: "Nic", address: int) -> None:
        self.kernel = kernel
        self.nic = nic
        m = kernel.machine
        self.profile = m.profile
        self.memory = m.memory
        self.cpu = m.cpu
        self.paths = path_rows(m.profile)
        base = (KERNEL_FRAMES - NET_FRAMES) << 12
        self.rx_bufs = [base + i * _BUF for i in range(RX_BUFFERS)]
        tx = base + RX_BUFFERS * _BUF
        self.stack = NetStack(nic.mac, address, memory=m.memory, transmit=self._transmit,
                              tx_addr=tx, charge=self._charge)
        self.icmp: dict[int, Socket] = {}       # echo identifier -> ICMP socket
        self.sockets = 0                        # live sockets
        self.interrupts = 0
        self.overflow = 0
        self._next_ident = 1
        for addr in self.rx_bufs:
            nic.post_rx(addr, _BUF)

    def _charge(self, kind: str, count: int) -> None:
        """The stack's cost hook: cycles on this CPU; copies counted."""
        self.cpu.charge(cycles_for(self.profile, kind, count))
        if kind == "net.copy" or kind == "net.copy_cksum":
            self.memory.note_copy(count)

    def _copy(self, n: int) -> None:
        """Charge and count one kernel copy of ``n`` bytes (copyin, copyout, mbufs)."""
        self.cpu.charge(self.profile.copy_cost(n))
        self.memory.note_copy(n)

    def _transmit(self, addr: int, length: int) -> bool:
        """The driver's start routine: hand the frame to the NIC."""
        self.cpu.charge(self.paths["mono_if_start"])
        return self.nic.transmit(addr, length)

    # -- receive ----------------------------------------------------------------------

    def interrupt(self, cpu: CPU) -> None:
        """NIC interrupt: copy each frame into an mbuf, repost, run IP input on it."""
        self.interrupts += 1
        self.nic.take_tx_done()
        for paddr, length in self.nic.take_rx():
            cpu.charge(self.paths["mono_if_intr"])
            self._copy(length)                  # interface buffer -> mbuf chain
            cpu.charge(self.paths["mono_netisr"])
            event = self.stack.input(paddr, length)
            self.nic.post_rx(paddr, _BUF)
            if event is not None:
                self._deliver(event, paddr)

    def _deliver(self, event: Any, paddr: int) -> None:
        """Queue a datagram (or echo reply) on its socket and wake its sleepers."""
        if type(event) is Datagram:
            sock = event.owner
            data = self.memory.read(event.addr, event.length)
            item = (data, event.src, event.sport)
        elif type(event) is EchoReply:
            sock = self.icmp.get(event.ident)
            if sock is None:
                return
            data = b""                          # (the reply's data: not kept by ping)
            item = (data, event.src, event.seq)
        else:
            return
        if len(sock.queue) >= SOCK_QUEUE:
            sock.overflow += 1
            self.overflow += 1
            return
        sock.queue.append(item)
        self.kernel.sched.wakeup(sock.sleepers)

    # -- sockets ----------------------------------------------------------------------

    def bind(self, sock: Socket, port: int) -> int:
        """Bind ``sock`` to ``port`` (0: ephemeral); return the port."""
        if sock.kind == "udp":
            sock.port = self.stack.bind(port, sock)
            return sock.port
        if port == 0:
            port = self._ephemeral_ident()
        elif port in self.icmp:
            raise SyscallError("EADDRINUSE", "echo identifier in use", port=port)
        self.icmp[port] = sock
        sock.port = port
        return port

    def _ephemeral_ident(self) -> int:
        """The next free ICMP echo identifier."""
        for _ in _ICMP_IDENTS:
            ident = self._next_ident
            self._next_ident = ident % 65535 + 1
            if ident not in self.icmp:
                return ident
        raise SyscallError("EADDRINUSE", "no echo identifier left")

    def unbind(self, sock: Socket) -> None:
        """Release ``sock``'s port and wake anyone blocked on it (they see EBADF)."""
        if sock.port is not None:
            if sock.kind == "udp":
                self.stack.unbind(sock.port)
            else:
                self.icmp.pop(sock.port, None)
        sock.closed = True
        sock.queue.clear()
        self.kernel.sched.wakeup(sock.sleepers)

    def statistics(self) -> NetPlacementStats:
        """Return a frozen snapshot of the stack's and the placement's counters."""
        return NetPlacementStats(self.stack.statistics(), self.interrupts, self.sockets,
                                 self.overflow)


def place_stack(kernel: "MonolithicKernel", machine: Any,
                ip: str | None) -> NetPlacement | None:
    """The stack on the machine's first NIC at address ``ip`` (default: from its
    MAC), or None if the machine has no NIC (then the socket calls are ENODEV)."""
    if not machine.nics:
        return None
    nic = machine.nics[0]
    return NetPlacement(kernel, nic, default_address(nic.mac) if ip is None
                        else address_option(ip))


# -- system calls -------------------------------------------------------------------------

def _net(k: "MonolithicKernel") -> NetPlacement:
    """The kernel's network placement (ENODEV on a machine without a NIC)."""
    if k.net is None:
        raise SyscallError("ENODEV", "no network interface on this machine")
    return k.net


def _sock(proc: "Process", fd: Any) -> Socket:
    """Decode socket descriptor ``fd`` (EBADF if not open, ENOTSOCK if not a socket)."""
    entry = proc.fds.get(fd) if type(fd) is int else None
    if entry is None:
        raise SyscallError("EBADF", "bad file descriptor", fd=shown(fd))
    if entry[0] != "socket":
        raise SyscallError("ENOTSOCK", "not a socket", fd=fd)
    sock: Socket = entry[1]
    return sock


def _port(port: Any, low: int) -> int:
    """Decode a port number in ``low``..65535 (EINVAL otherwise)."""
    if type(port) is not int or not low <= port <= 0xFFFF:
        raise SyscallError("EINVAL", "bad port", port=shown(port))
    return port


def sys_socket(k: "MonolithicKernel", cpu: CPU, proc: "Process", kind: Any) -> int:
    """Create a socket of ``kind`` and a descriptor for it."""
    net = _net(k)
    if type(kind) is not str or kind not in SOCKET_KINDS:
        raise SyscallError("EINVAL", "unknown socket kind", kind=shown(kind))
    fd = next((n for n in range(MAX_FDS) if n not in proc.fds), None)
    if fd is None:
        raise SyscallError("EMFILE", "too many open descriptors", limit=MAX_FDS)
    cpu.charge(net.paths["mono_sock_op"] // 8)      # socreate: a fraction of a sock op
    sock = Socket(kind)
    sock.refs = 1
    proc.fds[fd] = ("socket", sock)
    net.sockets += 1
    return fd


def sys_bind(k: "MonolithicKernel", cpu: CPU, proc: "Process", fd: Any, port: Any) -> int:
    """Bind a socket to a local port (0: ephemeral); return the port."""
    net = _net(k)
    sock = _sock(proc, fd)
    port = _port(port, 0)
    if sock.port is not None:
        raise SyscallError("EINVAL", "socket already bound", fd=fd, port=sock.port)
    return net.bind(sock, port)


def sys_sendto(k: "MonolithicKernel", cpu: CPU, proc: "Process", fd: Any, data: Any,
               addr: Any, port: Any) -> int:
    """Send one datagram (or echo request) to ``addr:port``."""
    net = _net(k)
    sock = _sock(proc, fd)
    payload = as_bytes(data)
    if type(addr) is not str:
        raise SyscallError("EINVAL", "address must be a dotted quad", addr=shown(addr))
    try:
        dst = aton(addr)
    except ValueError:
        raise SyscallError("EINVAL", "address must be a dotted quad",
                           addr=shown(addr)) from None
    port = _port(port, 0 if sock.kind == "icmp" else 1)
    if len(payload) > MAX_UDP_PAYLOAD:
        raise SyscallError("EMSGSIZE", "datagram larger than one frame",
                           length=len(payload), limit=MAX_UDP_PAYLOAD)
    if sock.port is None:
        net.bind(sock, 0)
    cpu.charge(net.paths["mono_sock_op"])
    net._copy(len(payload))                     # copyin: user buffer -> mbuf
    if sock.kind == "udp":
        ok = net.stack.udp_send(sock.port, dst, port, payload)  # type: ignore[arg-type]
    else:
        ok = net.stack.ping(dst, sock.port, port, payload)      # type: ignore[arg-type]
    if not ok:
        raise SyscallError("EAGAIN", "interface queue full")
    return len(payload)


def sys_recvfrom(k: "MonolithicKernel", cpu: CPU, proc: "Process", fd: Any,
                 n: Any) -> tuple[bytes, tuple[str, int]]:
    """Block until a datagram is queued; return (up to n bytes, (addr, port))."""
    net = _net(k)
    sock = _sock(proc, fd)
    if type(n) is not int or n < 0:
        raise SyscallError("EINVAL", "bad length", n=shown(n))
    if sock.port is None:
        raise SyscallError("EINVAL", "socket not bound", fd=fd)
    while not sock.queue:
        if sock.closed:
            raise SyscallError("EBADF", "socket closed", fd=fd)
        k.sched.sleep(cpu, sock.sleepers)
    data, src, sport = sock.queue.popleft()
    out = data[:n]
    cpu.charge(net.paths["mono_sock_op"])
    net._copy(len(out))                         # copyout: mbuf -> user buffer
    return out, (ntoa(src), sport)


def release_socket(k: "MonolithicKernel", sock: Socket) -> None:
    """One descriptor of ``sock`` closed; the last one unbinds it."""
    sock.refs -= 1
    if sock.refs == 0 and k.net is not None:
        k.net.unbind(sock)
        k.net.sockets -= 1
