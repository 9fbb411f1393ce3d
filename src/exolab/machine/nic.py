"""The network interface: an Ethernet NIC with DMA descriptor rings.

The NIC moves whole frames between simulated physical memory and a
*backend* (the wire). It knows nothing about the wire: a backend is anything
with ``attach``/``transmit``/``close`` (:class:`NetBackend`); the in-process
:class:`~exolab.machine.wire.Wire`, the :class:`~exolab.machine.wire.Loopback`
and a Linux TAP device all fit. There is no address filtering: every frame
that arrives is received (a kernel's packet filter decides what to keep).

Receive: the kernel posts buffers by physical address (:meth:`Nic.post_rx`).
A frame that arrives is DMA-written into the oldest posted buffer, a
completion ``(paddr, length)`` is recorded and :data:`IRQ_NIC` is raised.
With no buffer posted the frame is dropped (``rx_dropped``); a frame larger
than the oldest buffer is dropped too (``rx_oversize``) and the buffer stays
posted.

Transmit: :meth:`Nic.transmit` captures the frame's bytes from physical
memory at submit time and queues it. Frames leave one after another; each
occupies the NIC for its wire time plus ``profile.nic.frame_cycles``::

    wire_us = (max(len, min_frame) + 8 preamble + 4 FCS + 12 gap) * 8 / wire_mbit

At departure the padded frame goes to ``backend.transmit(frame, cycle)``
(``cycle`` is the exact departure cycle, even when the clock event that
notices it fires at a later charge point); with no backend it is dropped
(``tx_dropped``). A backend with ``eager = True`` (the in-process wire) is
handed the frame at submit instead, with its future departure cycle, so it
can schedule the arrival at once (a frame on the wire then can no longer be
recalled by unplugging the sender): the lock-step runner's lookahead grows
from the cable's latency to a minimum frame's time on the wire. A tx completion is counted, and raises :data:`IRQ_NIC` only
if ``tx_irq`` is set. The NIC charges no CPU cycles: the kernel pays for its
own descriptor handling.

Interface::

    NetBackend                      Protocol: attach(nic), transmit(frame, cycle), close()
    Nic(machine, backend, *, index=0, rx_ring=64, tx_ring=64, mac=None, tx_irq=False)
      mac -> bytes (6)              index, machine, backend, tx_irq
      post_rx(paddr, size) -> bool  False if the rx ring is full
      take_rx() -> [(paddr, len)]   completed receives, in arrival order
      posted_rx() -> ((paddr, size),...)  posted buffers not yet filled, oldest first
      reset_rx() -> int             the driver's ring reset: forget posted buffers and
                                    untaken receives (no DMA lands there after); how many
      transmit(paddr, len) -> bool  False if the tx ring is full; NicError if malformed
      take_tx_done() -> int         tx completions since the last call
      deliver(frame, at=None)       backend entry: a frame arrives (at: receiver cycle)
      wire_cycles(length) -> int    cycles one frame occupies the NIC
      close()                       unplug: close and forget the backend
      statistics() -> NicStats
    send_frame(nic, paddr, frame)   test helper: write frame at paddr, then transmit
    ETH_HEADER                      14, the shortest frame accepted
    FRAME_OVERHEAD                  24: preamble, FCS and gap bytes each frame adds on the wire
"""
from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from exolab.errors import ConfigError, KernelPanic, NicError
from exolab.machine.cpu import IRQ_NIC
from exolab.trace.events import Kind

if TYPE_CHECKING:
    from exolab.machine.machine import Machine

__all__ = ["Nic", "NicStats", "NetBackend", "send_frame", "ETH_HEADER", "FRAME_OVERHEAD"]

ETH_HEADER = 14         # destination MAC, source MAC, EtherType
FRAME_OVERHEAD = 8 + 4 + 12     # preamble + FCS + inter-frame gap, in bytes (IEEE 802.3)
_FRAME_OVERHEAD = FRAME_OVERHEAD


class NetBackend(Protocol):
    """What a NIC needs from the wire it is plugged into."""

    def attach(self, nic: "Nic") -> None:
        """Called once by the NIC it is plugged into; inbound frames go to nic.deliver."""

    def transmit(self, frame: bytes, cycle: int) -> None:
        """A frame has finished leaving the NIC at the sender's cycle ``cycle``."""

    def close(self) -> None:
        """The NIC is unplugged; deliver nothing more to it."""


@dataclass(frozen=True, slots=True)
class NicStats:
    """Frame and byte counters of one NIC (bytes as on the wire, without FCS)."""

    tx_frames: int          # frames handed to the backend
    tx_bytes: int
    rx_frames: int          # frames written into a posted buffer
    rx_bytes: int
    rx_dropped: int         # arrived with no buffer posted
    rx_oversize: int        # larger than the oldest buffer (or than max_frame)
    tx_ring_full: int       # transmit() refused: ring full
    rx_posted: int          # buffers accepted by post_rx(), since power-on
    tx_dropped: int         # departed with no backend (unplugged)
    rx_runt: int            # arrived shorter than an Ethernet header
    rx_ring_full: int       # post_rx() refused: ring full
    rx_buffers: int         # buffers posted and not yet filled, now
    tx_queued: int          # frames submitted and not yet departed, now


def _default_mac(seed: int, index: int) -> bytes:
    """A locally administered unicast MAC derived from the machine seed and NIC index."""
    digest = hashlib.blake2b(f"exolab-nic:{seed}:{index}".encode(), digest_size=5)
    return b"\x02" + digest.digest()


def _check_mac(mac: Any) -> bytes:
    """Return ``mac`` as 6 bytes, or raise ConfigError if it is not a unicast MAC."""
    if not isinstance(mac, (bytes, bytearray)) or len(mac) != 6:
        raise ConfigError("MAC must be 6 bytes", mac=mac)
    if mac[0] & 1:
        raise ConfigError("MAC must be unicast (bit 0 of octet 0 clear)", mac=bytes(mac))
    return bytes(mac)


class Nic:
    """One Ethernet interface with rx/tx DMA rings; see the module docstring."""

    __slots__ = ("machine", "backend", "index", "rx_ring", "tx_ring", "tx_irq", "_mac",
                 "_clock", "_memory", "_cpu", "_model", "_mem_size", "_rx_free",
                 "_rx_done", "_tx_queue", "_wire_free", "_tx_done", "_tx_frames",
                 "_tx_bytes", "_rx_frames", "_rx_bytes", "_rx_dropped", "_rx_oversize",
                 "_tx_ring_full", "_rx_posted", "_tx_dropped", "_rx_runt",
                 "_rx_ring_full")

    def __init__(self, machine: "Machine", backend: NetBackend | None = None, *,
                 index: int = 0, rx_ring: int = 64, tx_ring: int = 64,
                 mac: bytes | None = None, tx_irq: bool = False) -> None:
        if not (isinstance(rx_ring, int) and isinstance(tx_ring, int)
                and rx_ring > 0 and tx_ring > 0):
            raise ConfigError("NIC rings need at least one slot", rx_ring=rx_ring,
                              tx_ring=tx_ring)
        self.machine = machine
        self.index = index
        self.rx_ring = rx_ring              # capacity: posted, unfilled buffers
        self.tx_ring = tx_ring              # capacity: submitted, undeparted frames
        self.tx_irq = tx_irq                # raise IRQ_NIC on tx completion too
        self._mac = _default_mac(machine.seed, index) if mac is None else _check_mac(mac)
        self._clock = machine.clock
        self._memory = machine.memory
        self._cpu = machine.cpu             # the CPU the interrupt line is wired to
        self._model = machine.profile.nic
        self._mem_size = machine.memory.frames << machine.memory.page_shift
        self._rx_free: deque[tuple[int, int]] = deque()   # (paddr, size), NIC-owned
        self._rx_done: list[tuple[int, int]] = []         # (paddr, len), driver-owned
        self._tx_queue: deque[tuple[int, bytes, bool]] = deque()  # (depart, frame, sent)
        self._wire_free = 0                 # cycle at which the last queued frame leaves
        self._tx_done = 0                   # completions not yet taken
        self._tx_frames = self._tx_bytes = self._rx_frames = self._rx_bytes = 0
        self._rx_dropped = self._rx_oversize = self._tx_ring_full = self._rx_posted = 0
        self._tx_dropped = self._rx_runt = self._rx_ring_full = 0
        self.backend = backend
        if backend is not None:
            backend.attach(self)

    @property
    def mac(self) -> bytes:
        """This interface's 6-byte hardware address."""
        return self._mac

    def close(self) -> None:
        """Unplug the NIC: close the backend; queued frames will be dropped."""
        if self.backend is not None:
            backend, self.backend = self.backend, None
            backend.close()

    # -- decode helpers ----------------------------------------------------------

    def _check_range(self, what: str, paddr: int, length: int) -> None:
        """Raise NicError unless [paddr, paddr + length) lies in physical memory."""
        if paddr < 0 or paddr + length > self._mem_size:
            raise NicError(f"{what} buffer outside physical memory", paddr=paddr,
                           length=length, memory=self._mem_size)

    def wire_cycles(self, length: int) -> int:
        """Cycles a frame of ``length`` bytes (before padding) occupies the NIC."""
        m = self._model
        bits = (max(length, m.min_frame) + _FRAME_OVERHEAD) * 8
        return self.machine.profile.us_to_cycles(bits / m.wire_mbit) + m.frame_cycles

    # -- receive -----------------------------------------------------------------

    def post_rx(self, paddr: int, size: int) -> bool:
        """Give the NIC a receive buffer; False (and counted) if the rx ring is full."""
        if size <= 0:
            raise NicError("rx buffer size must be positive", paddr=paddr, size=size)
        self._check_range("rx", paddr, size)
        if len(self._rx_free) >= self.rx_ring:
            self._rx_ring_full += 1
            return False
        self._rx_free.append((paddr, size))
        self._rx_posted += 1
        return True

    def take_rx(self) -> list[tuple[int, int]]:
        """Return and forget the completed receives ``(paddr, length)``, oldest first."""
        done, self._rx_done = self._rx_done, []
        return done

    def posted_rx(self) -> tuple[tuple[int, int], ...]:
        """The receive buffers posted and not yet filled, ``(paddr, size)``, oldest first."""
        return tuple(self._rx_free)

    def reset_rx(self) -> int:
        """Reset the receive ring: the posted buffers and the completed receives not yet
        taken are forgotten, so no later frame is written there; how many buffers."""
        n = len(self._rx_free)
        self._rx_free.clear()
        self._rx_done = []
        return n

    def deliver(self, frame: bytes, at: int | None = None) -> None:
        """Backend entry: ``frame`` arrives at receiver cycle ``at`` (None or past: now)."""
        now = self._clock.now
        cycle = now if at is None or at < now else at
        self._clock.schedule(cycle, self._arrive, (cycle, bytes(frame)))

    def _arrive(self, arg: tuple[int, bytes]) -> None:
        """Clock callback: DMA the frame into the oldest posted buffer and interrupt."""
        cycle, frame = arg
        n = len(frame)
        if n < ETH_HEADER:
            self._rx_runt += 1
            return
        if not self._rx_free:
            self._rx_dropped += 1
            return
        paddr, size = self._rx_free[0]
        if n > size or n > self._model.max_frame:
            self._rx_oversize += 1
            return
        self._rx_free.popleft()
        self._memory.write(paddr, frame)
        self._rx_done.append((paddr, n))
        self._rx_frames += 1
        self._rx_bytes += n
        if self.machine.tracer is not None:
            self.machine.tracer.emit(cycle, Kind.FRAME_RX, self._cpu.index, 0,
                                     f"nic{self.index}", n)
        self._cpu.raise_irq(IRQ_NIC)

    # -- transmit ----------------------------------------------------------------

    def transmit(self, paddr: int, length: int) -> bool:
        """Queue the frame at ``paddr`` for departure; False if the tx ring is full."""
        m = self._model
        if not ETH_HEADER <= length <= m.max_frame:     # decode: a whole Ethernet frame
            raise NicError("frame length out of range", length=length,
                           minimum=ETH_HEADER, maximum=m.max_frame)
        self._check_range("tx", paddr, length)          # decode: DMA source in memory
        if len(self._tx_queue) >= self.tx_ring:
            self._tx_ring_full += 1
            return False
        frame = self._memory.read(paddr, length)        # invoke: capture at submit
        if length < m.min_frame:
            frame += bytes(m.min_frame - length)
        depart = max(self._clock.now, self._wire_free) + self.wire_cycles(length)
        self._wire_free = depart
        early = self.backend is not None and getattr(self.backend, "eager", False)
        if early:                                       # the backend schedules arrival now
            self.backend.transmit(frame, depart)        # type: ignore[union-attr]
        entry = (depart, frame, early)
        self._tx_queue.append(entry)
        self._clock.schedule(depart, self._depart, entry)
        return True

    def take_tx_done(self) -> int:
        """Return the number of transmissions completed since the last call."""
        n, self._tx_done = self._tx_done, 0
        return n

    def _depart(self, entry: tuple[int, bytes, bool]) -> None:
        """Clock callback: the head frame has left; hand it to the backend."""
        q = self._tx_queue
        if not q or q[0] is not entry:
            raise KernelPanic("nic: tx departs out of order", nic=self.index,
                              cycle=entry[0])
        q.popleft()
        cycle, frame, early = entry
        if self.machine.tracer is not None:
            self.machine.tracer.emit(cycle, Kind.FRAME_TX, self._cpu.index, 0,
                                     f"nic{self.index}", len(frame))
        if early:                       # handed over at submit: it is on the wire
            self._tx_frames += 1
            self._tx_bytes += len(frame)
        elif self.backend is None:
            self._tx_dropped += 1
        else:
            self._tx_frames += 1
            self._tx_bytes += len(frame)
            self.backend.transmit(frame, cycle)
        self._tx_done += 1
        if self.tx_irq:
            self._cpu.raise_irq(IRQ_NIC)

    def statistics(self) -> NicStats:
        """Return a frozen snapshot of this NIC's counters."""
        return NicStats(self._tx_frames, self._tx_bytes, self._rx_frames, self._rx_bytes,
                        self._rx_dropped, self._rx_oversize, self._tx_ring_full,
                        self._rx_posted, self._tx_dropped, self._rx_runt,
                        self._rx_ring_full, len(self._rx_free), len(self._tx_queue))


def send_frame(nic: Nic, paddr: int, frame: bytes) -> bool:
    """Test helper: write ``frame`` to physical ``paddr``, then ``nic.transmit`` it."""
    nic.machine.memory.write(paddr, frame)
    return nic.transmit(paddr, len(frame))
