"""In-process network backends: a wire between two machines, and a loopback.

A :class:`Wire` is a point-to-point cable with two ends, ``wire.a`` and
``wire.b``, each a :class:`~exolab.machine.nic.NetBackend`. A frame that
leaves the NIC on one end at sender cycle ``t`` arrives at the NIC on the
other end at the receiver cycle that corresponds to ``t`` plus
``latency_us``; the two machines may run different profiles, so times cross
the wire in microseconds (cycle 0 of every machine is microsecond 0)::

    arrival = ceil(t * mhz_rx / mhz_tx) + ceil(latency_us * mhz_rx)

(with equal profiles: ``t + latency cycles``). The arrival is scheduled on
the receiver's clock through ``nic.deliver``; if the receiver's clock is
already past it the frame arrives at its ``now`` and is counted ``late``.

Each machine has its own clock and run loop, so :func:`run_together` runs
several machines in lock-step windows of ``quantum`` microseconds (default:
the smallest lookahead among their NICs' wire ends, the conservative
lookahead of parallel discrete-event simulation: a frame submitted inside a
window cannot arrive before the window's end; the NIC hands a frame to the
wire at submit, so that is the cable's latency plus the shortest frame's
time through the NIC). Windows in which no machine can act are skipped: the
next window starts at the earliest cycle any machine acts on its own
(:meth:`Machine.next_activity`), so an idle wire costs nothing. Frames
arrive late only if a receiver overshoots a window end by one charge while
running a thread; ``late`` counts them, and the run stays deterministic
regardless.

A :class:`Loopback` sends every frame back to its own NIC after a latency,
for single-machine tests.

The LAN of the paper's era (:func:`ethernet`): 10 Mb/s Ethernet. Where each
number comes from --

- 10 Mb/s, the 8-byte preamble and start delimiter, the 4-byte FCS, the
  96-bit-time inter-frame gap and the 60..1514-byte frame (without FCS):
  IEEE 802.3 (10BASE2/10BASE5); they are the NIC's ``wire_cycles``
  (machine/nic.py) with the profile's ``nic.wire_mbit``;
- a frame is received whole (the LANCE interrupts after the FCS), so its
  receiver sees it one wire time after its first bit left, plus the cable:
  :data:`ETHERNET_PROPAGATION_US` = 1 us, a full 185 m thin-coax segment at
  0.65 c (0.95 us) rounded up for the two transceivers' few bit times;
- per frame, the NIC's descriptor and DMA work, ``profile.nic.frame_cycles``
  (dec5000: 150 cycles, 6 us, an estimate for the LANCE, machine/costs.py).

:func:`round_trip_floor_us` is the *Ethernet lower bound* of a round trip:
two frames' time on the wire and the cable, with no software at all -- what
SOSP'95 §7 measures ExOS with ASHs against ("6 us above the lower bound").

Interface::

    Wire(latency_us=10.0)
      a, b                          the two ends (NetBackend, with lookahead_us)
      latency_us                    statistics() -> WireStats
    Loopback(latency_us=0.0)        NetBackend; statistics() -> LoopbackStats
    ethernet() -> Wire              the era's LAN: ETHERNET_PROPAGATION_US latency
    round_trip_floor_us(profile, frame_len, latency_us=ETHERNET_PROPAGATION_US)
    run_together(machines, until=None, quantum=None) -> list[RunResult]
                                    until and quantum in microseconds
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterable

from exolab.errors import ConfigError
from exolab.machine.clock import INF
from exolab.machine.machine import RunResult
from exolab.machine.nic import FRAME_OVERHEAD as _FRAME_OVERHEAD

if TYPE_CHECKING:
    from exolab.machine.machine import Machine
    from exolab.machine.nic import Nic

__all__ = ["Wire", "WireEnd", "WireStats", "Loopback", "LoopbackStats", "run_together",
           "ethernet", "round_trip_floor_us", "ETHERNET_PROPAGATION_US"]

#: one-way cable delay of a 10 Mb/s Ethernet segment (see the module docstring)
ETHERNET_PROPAGATION_US = 1.0

_SETTLED = ("finished", "deadlock")


def _us_to_cycles(us: Fraction, mhz: int) -> int:
    """Whole cycles at ``mhz`` not before ``us`` microseconds (exact rational math)."""
    return math.ceil(us * mhz)


def _check_latency(latency_us: float, positive: bool) -> Fraction:
    """Return ``latency_us`` as an exact Fraction, or raise ConfigError."""
    try:
        lat = Fraction(latency_us)
    except (TypeError, ValueError):
        raise ConfigError("latency must be a number of microseconds",
                          latency_us=latency_us) from None
    if lat < 0 or (positive and lat == 0):
        raise ConfigError("wire latency out of range", latency_us=latency_us,
                          expected="> 0" if positive else ">= 0")
    return lat


@dataclass(frozen=True, slots=True)
class WireStats:
    """Frames carried each way, bytes, frames dropped (far end unplugged), late frames."""

    a_to_b: int
    b_to_a: int
    bytes: int
    dropped: int
    late: int


class WireEnd:
    """One end of a :class:`Wire`; the NIC plugged into it owns nothing here."""

    __slots__ = ("wire", "name", "peer", "nic", "frames", "nbytes", "dropped", "late")

    #: the NIC hands frames over at submit, with their departure cycle (nic.py)
    eager = True

    def __init__(self, wire: "Wire", name: str) -> None:
        self.wire = wire
        self.name = name                    # "a" or "b"
        self.peer: WireEnd | None = None    # the other end (set by Wire)
        self.nic: Nic | None = None         # plugged-in NIC, set by attach
        self.frames = self.nbytes = self.dropped = self.late = 0

    @property
    def lookahead_us(self) -> Fraction:
        """The earliest a frame submitted now can arrive, in microseconds: the
        shortest frame's time through the NIC plus the cable (eager hand-over)."""
        lat = self.wire._latency
        if self.nic is None:
            return lat
        m = self.nic.machine.profile
        return lat + Fraction(self.nic.wire_cycles(0), m.mhz)

    def attach(self, nic: "Nic") -> None:
        """Plug ``nic`` into this end (one NIC per end)."""
        if self.nic is not None and self.nic is not nic:
            raise ConfigError("wire end already has a NIC", end=self.name)
        self.nic = nic

    def close(self) -> None:
        """Unplug this end's NIC; frames sent to it are dropped."""
        self.nic = None

    def transmit(self, frame: bytes, cycle: int) -> None:
        """Carry ``frame``, sent at our NIC's ``cycle``, to the NIC on the other end."""
        rx = self.peer.nic if self.peer is not None else None
        if rx is None or self.nic is None:
            self.dropped += 1
            return
        mhz_tx = self.nic.machine.profile.mhz
        mhz_rx = rx.machine.profile.mhz
        at = -(-cycle * mhz_rx // mhz_tx) + _us_to_cycles(self.wire._latency, mhz_rx)
        if at < rx.machine.clock.now:
            self.late += 1
        self.frames += 1
        self.nbytes += len(frame)
        rx.deliver(frame, at)


class Wire:
    """A point-to-point cable between two NICs with a fixed latency."""

    __slots__ = ("latency_us", "a", "b", "_latency")

    def __init__(self, latency_us: float = 10.0) -> None:
        self._latency = _check_latency(latency_us, positive=True)
        self.latency_us = latency_us        # one-way propagation delay, microseconds
        self.a = WireEnd(self, "a")
        self.b = WireEnd(self, "b")
        self.a.peer, self.b.peer = self.b, self.a

    def statistics(self) -> WireStats:
        """Return a frozen snapshot of the wire's counters."""
        a, b = self.a, self.b
        return WireStats(a.frames, b.frames, a.nbytes + b.nbytes, a.dropped + b.dropped,
                         a.late + b.late)


def ethernet() -> Wire:
    """A point-to-point 10 Mb/s Ethernet segment of the paper's era."""
    return Wire(latency_us=ETHERNET_PROPAGATION_US)


def round_trip_floor_us(profile: Any, frame_len: int,
                        latency_us: float = ETHERNET_PROPAGATION_US) -> float:
    """Microseconds two frames of ``frame_len`` bytes (without FCS) take there and
    back with no software: wire time with framing, the NIC's per-frame work, cable."""
    nic = profile.nic
    bits = (max(frame_len, nic.min_frame) + _FRAME_OVERHEAD) * 8
    one_way = bits / nic.wire_mbit + nic.frame_cycles / profile.mhz + latency_us
    return 2 * one_way


@dataclass(frozen=True, slots=True)
class LoopbackStats:
    """Frames and bytes looped back."""

    frames: int
    bytes: int


class Loopback:
    """A backend that returns every frame to the NIC that sent it."""

    __slots__ = ("latency_us", "nic", "_latency", "_frames", "_bytes")

    def __init__(self, latency_us: float = 0.0) -> None:
        self._latency = _check_latency(latency_us, positive=False)
        self.latency_us = latency_us        # delay before the frame comes back
        self.nic: Nic | None = None
        self._frames = self._bytes = 0

    def attach(self, nic: "Nic") -> None:
        """Remember the NIC frames come back to."""
        self.nic = nic

    def close(self) -> None:
        """Forget the NIC; frames are no longer looped."""
        self.nic = None

    def transmit(self, frame: bytes, cycle: int) -> None:
        """Send ``frame`` back to our NIC ``latency_us`` after ``cycle``."""
        if self.nic is None:
            return
        self._frames += 1
        self._bytes += len(frame)
        mhz = self.nic.machine.profile.mhz
        self.nic.deliver(frame, cycle + _us_to_cycles(self._latency, mhz))

    def statistics(self) -> LoopbackStats:
        """Return a frozen snapshot of the loopback's counters."""
        return LoopbackStats(self._frames, self._bytes)


# -- running several machines together --------------------------------------------

def _lookahead(machines: list["Machine"]) -> Fraction | None:
    """The smallest lookahead_us of any NIC backend of ``machines``, or None."""
    best: Fraction | None = None
    for m in machines:
        for nic in m.nics:
            la = getattr(nic.backend, "lookahead_us", None)
            if la is not None and (best is None or Fraction(la) < best):
                best = Fraction(la)
    return best


def _settled(m: "Machine", r: RunResult) -> bool:
    """True if ``m`` can do nothing more unless another machine sends it a frame."""
    return r.reason == "halted" or (r.reason in _SETTLED and m.clock.pending() == 0)


def run_together(machines: Iterable["Machine"], until: float | None = None,
                 quantum: float | None = None) -> list[RunResult]:
    """Run ``machines`` in lock-step windows until all are settled or ``until`` (us)."""
    ms = list(machines)
    q = _lookahead(ms) if quantum is None else _check_latency(quantum, positive=True)
    end_us = None if until is None else Fraction(until)
    if q is None:                           # nothing couples them: run each alone
        return [m.run(None if end_us is None else _us_to_cycles(end_us, m.profile.mhz))
                for m in ms]
    if q <= 0:
        raise ConfigError("lock-step quantum must be positive", quantum=float(q))
    t = min(Fraction(m.cycles, m.profile.mhz) for m in ms)
    last = [RunResult("paused", m.cycles, len(m.threads.live())) for m in ms]
    while True:
        t = max(t, _earliest(ms, last)) + q
        if end_us is not None and t > end_us:
            t = end_us
        for i, m in enumerate(ms):
            limit = _us_to_cycles(t, m.profile.mhz)
            if last[i].reason != "halted" and m.cycles < limit:
                last[i] = m.run(until=limit)
        if all(_settled(m, r) for m, r in zip(ms, last)):
            return last
        if end_us is not None and t >= end_us:
            return last


def _earliest(ms: list["Machine"], last: list[RunResult]) -> Fraction:
    """The earliest microsecond at which any machine acts on its own: no frame can
    arrive anywhere before it plus the lookahead, so the windows between are skipped
    (an idle LAN costs no windows)."""
    best: Fraction | None = None
    for m, r in zip(ms, last):
        if r.reason == "halted":
            continue
        cycle = m.next_activity()
        if cycle >= INF:
            continue
        at = Fraction(cycle, m.profile.mhz)
        if best is None or at < best:
            best = at
    return best if best is not None else Fraction(0)
