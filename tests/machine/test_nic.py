"""Tests of the NIC (exolab.machine.nic) and the in-process wire (exolab.machine.wire)."""
from __future__ import annotations

import math
from collections import deque
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.errors import ConfigError, NicError
from exolab.kernels.tiny import TinyKernel
from exolab.machine.cpu import CPU, IRQ_NIC
from exolab.machine.machine import Machine
from exolab.machine.nic import ETH_HEADER, Nic, NicStats, send_frame
from exolab.machine.threads import SimThread
from exolab.machine.wire import Loopback, Wire, run_together
from exolab.trace.events import Kind

SYS_NIC_POST, SYS_NIC_TX, SYS_NIC_WAIT = 20, 21, 22

PAGE = 4096
RX_PPN, TX_PPN = 100, 101          # physical frames used as DMA buffers
RX_BUF, TX_BUF = RX_PPN * PAGE, TX_PPN * PAGE
USER_VPN = 16                      # the pinger writes its frame here (-> TX_PPN)
ETHERTYPE = b"\x88\xb5"            # IEEE local experimental EtherType


class NetKernel(TinyKernel):
    """TinyKernel plus system calls to post rx buffers, transmit, and wait for a frame."""

    def __init__(self, machine: Machine, quantum: int | None = None) -> None:
        super().__init__(machine, quantum)
        self.rx_queue: deque[tuple[int, int]] = deque()   # completions not yet returned
        self.rx_waiter: SimThread | None = None           # thread blocked in NIC_WAIT
        self.tx_completions = 0

    def on_trap(self, cpu: CPU, number: int, args: tuple[Any, ...]) -> Any:
        """NIC calls, then TinyKernel's."""
        nic = self.machine.nics[0]
        if number == SYS_NIC_POST:
            return nic.post_rx(*args)
        if number == SYS_NIC_TX:
            return nic.transmit(*args)
        if number == SYS_NIC_WAIT:
            return self._wait_rx(cpu)
        return super().on_trap(cpu, number, args)

    def _wait_rx(self, cpu: CPU) -> list[tuple[int, int]]:
        """Block until at least one frame has arrived; return the completions."""
        if not self.rx_queue:
            self.rx_waiter = cpu.current
            self._block(cpu)
        out = list(self.rx_queue)
        self.rx_queue.clear()
        return out

    def on_interrupt(self, cpu: CPU, irq: int) -> None:
        """NIC: collect completions and wake the waiter; others: TinyKernel."""
        if irq != IRQ_NIC:
            super().on_interrupt(cpu, irq)
            return
        for nic in self.machine.nics:
            self.rx_queue.extend(nic.take_rx())
            self.tx_completions += nic.take_tx_done()
        if self.rx_queue and self.rx_waiter is not None:
            self.ready.append(self.rx_waiter)
            self.rx_waiter = None


def make_frame(dst: bytes, src: bytes, seq: int, length: int) -> bytes:
    """An Ethernet frame of ``length`` bytes with a sequence number and a pattern."""
    head = dst + src + ETHERTYPE + seq.to_bytes(4, "big")
    body = bytes((seq + i) & 0xFF for i in range(length - len(head)))
    return (head + body)[:length]


def pinger(cpu: CPU, kernel: NetKernel, nic: Nic, peer_mac: bytes, n: int,
           length: int, log: list[tuple[int, int, bytes, bytes]]) -> None:
    """Send ``n`` frames, each after the previous reply; log (t0, t1, sent, reply)."""
    vaddr = USER_VPN * PAGE
    cpu.trap(SYS_NIC_POST, RX_BUF, PAGE)
    for seq in range(n):
        frame = make_frame(peer_mac, nic.mac, seq, length)
        cpu.store_bytes(vaddr, frame)                   # through the MMU, into TX_PPN
        t0 = cpu.machine.cycles
        assert cpu.trap(SYS_NIC_TX, TX_BUF, length)
        done = cpu.trap(SYS_NIC_WAIT)
        t1 = cpu.machine.cycles
        (paddr, got_len), = done
        reply = cpu.machine.memory.read(paddr, got_len)
        log.append((t0, t1, frame, reply))
        cpu.trap(SYS_NIC_POST, RX_BUF, PAGE)


def ponger(cpu: CPU, n: int, seen: list[bytes]) -> None:
    """Echo ``n`` frames straight from the receive buffer (zero copy)."""
    cpu.trap(SYS_NIC_POST, RX_BUF, PAGE)
    for _ in range(n):
        (paddr, length), = cpu.trap(SYS_NIC_WAIT)
        assert cpu.trap(SYS_NIC_TX, paddr, length)
        seen.append(cpu.machine.memory.read(paddr, length))
        cpu.trap(SYS_NIC_POST, paddr, PAGE)


def ping_pong(n: int = 8, length: int = 100, latency_us: float = 40.0,
              profiles: tuple[str, str] = ("dec5000", "dec5000"),
              seeds: tuple[int, int] = (1, 2), trace: bool = False) -> dict[str, Any]:
    """Two machines on a Wire; A pings B ``n`` times. Returns everything to check."""
    wire = Wire(latency_us=latency_us)
    ma = Machine(profiles[0], seed=seeds[0], trace=trace)
    mb = Machine(profiles[1], seed=seeds[1], trace=trace)
    ka, kb = NetKernel(ma), NetKernel(mb)
    na, nb = ma.attach_nic(wire.a), mb.attach_nic(wire.b)
    log: list[tuple[int, int, bytes, bytes]] = []
    seen: list[bytes] = []
    ta = ka.spawn(pinger, ma.cpu, ka, na, nb.mac, n, length, log, name="ping")
    ka.map(ta, USER_VPN, TX_PPN)
    kb.spawn(ponger, mb.cpu, n, seen, name="pong")
    results = run_together([ma, mb])
    return dict(wire=wire, ma=ma, mb=mb, na=na, nb=nb, ka=ka, kb=kb, log=log,
                seen=seen, results=results)


def software_path(m: Machine) -> int:
    """Cycles from an rx interrupt to the woken thread's next kernel entry (see below)."""
    p = m.profile
    # interrupt entry/exit, dispatch (asid + context switch), return from NIC_WAIT,
    # entry of the next system call (NIC_TX on the ponger; none on the pinger, whose
    # share is the entry of its own NIC_TX at the start of the round trip).
    return (p.interrupt_entry + p.interrupt_exit + p.asid_switch + p.reg_save
            + p.reg_restore + p.trap_exit + p.trap_entry)


# -- the NIC on its own ------------------------------------------------------------


class Recorder:
    """A NetBackend that records (frame, cycle) of every departure."""

    def __init__(self) -> None:
        self.nic: Nic | None = None
        self.sent: list[tuple[bytes, int]] = []
        self.closed = False

    def attach(self, nic: Nic) -> None:
        self.nic = nic

    def transmit(self, frame: bytes, cycle: int) -> None:
        self.sent.append((frame, cycle))

    def close(self) -> None:
        self.closed = True


def test_mac_is_deterministic_local_unicast() -> None:
    a1 = Machine(seed=7).attach_nic()
    a2 = Machine(seed=7).attach_nic()
    m = Machine(seed=8)
    b0, b1 = m.attach_nic(), m.attach_nic()
    assert a1.mac == a2.mac and len(a1.mac) == 6
    assert len({a1.mac, b0.mac, b1.mac}) == 3
    for mac in (a1.mac, b0.mac, b1.mac):
        assert mac[0] == 0x02
    assert m.attach_nic(mac=b"\x02\x00\x00\x00\x00\x09").mac == b"\x02\x00\x00\x00\x00\x09"
    with pytest.raises(ConfigError):
        m.attach_nic(mac=b"\x01\x00\x00\x00\x00\x09")     # multicast
    with pytest.raises(ConfigError):
        m.attach_nic(mac=b"\x02\x00")
    with pytest.raises(ConfigError):
        m.attach_nic(rx_ring=0)


def test_bad_frames_raise_nic_error_with_fields() -> None:
    m = Machine()
    nic = m.attach_nic(Recorder())
    with pytest.raises(NicError) as ei:
        nic.transmit(TX_BUF, ETH_HEADER - 1)
    assert (ei.value.length, ei.value.minimum, ei.value.maximum) == (13, 14, 1514)
    with pytest.raises(NicError) as ei:
        nic.transmit(TX_BUF, m.profile.nic.max_frame + 1)
    assert ei.value.length == 1515
    with pytest.raises(NicError) as ei:
        nic.transmit(m.memory.frames * PAGE - 10, 60)       # runs off the end of memory
    assert ei.value.paddr == m.memory.frames * PAGE - 10
    with pytest.raises(NicError):
        nic.post_rx(-1, 100)
    with pytest.raises(NicError):
        nic.post_rx(RX_BUF, 0)
    assert nic.statistics().tx_queued == 0


def test_tx_ring_full_returns_false() -> None:
    m = Machine()
    rec = Recorder()
    nic = m.attach_nic(rec, tx_ring=2)
    frame = make_frame(b"\xff" * 6, nic.mac, 0, 64)
    assert send_frame(nic, TX_BUF, frame)
    assert send_frame(nic, TX_BUF, frame)
    assert not send_frame(nic, TX_BUF, frame)
    assert nic.statistics().tx_ring_full == 1
    assert nic.statistics().tx_queued == 2
    m.run()
    assert nic.take_tx_done() == 2 and nic.take_tx_done() == 0
    assert send_frame(nic, TX_BUF, frame)                   # ring drained
    s = nic.statistics()
    assert (s.tx_frames, s.tx_bytes, s.tx_ring_full) == (2, 128, 1)


def test_departures_are_serialised_with_wire_time() -> None:
    m = Machine()
    rec = Recorder()
    nic = m.attach_nic(rec)
    lengths = [14, 60, 1514]
    for i, n in enumerate(lengths):
        send_frame(nic, TX_BUF + i * 2048, bytes([i + 1]) * n)
    m.run()
    p = m.profile
    t = 0
    for (frame, cycle), n in zip(rec.sent, lengths):
        wire_us = (max(n, 60) + 8 + 4 + 12) * 8 / p.nic.wire_mbit
        t += p.us_to_cycles(wire_us) + p.nic.frame_cycles
        assert cycle == t
        assert len(frame) == max(n, 60)
    assert rec.sent[0][0] == b"\x01" * 14 + bytes(46)        # padded with zeros
    # dec5000: 10 Mb/s, 25 MHz: a minimum frame is 84 bytes = 67.2 us = 1680 cycles
    assert nic.wire_cycles(14) == 1680 + 150


def test_bytes_are_captured_at_submit_time() -> None:
    m = Machine()
    rec = Recorder()
    nic = m.attach_nic(rec)
    send_frame(nic, TX_BUF, b"A" * 80)
    m.memory.write(TX_BUF, b"B" * 80)                        # reuse the buffer at once
    m.run()
    assert rec.sent[0][0] == b"A" * 80


def test_unplugged_nic_drops_and_counts() -> None:
    m = Machine()
    rec = Recorder()
    nic = m.attach_nic(rec)
    nic.close()
    assert rec.closed and nic.backend is None
    send_frame(nic, TX_BUF, bytes(60))
    m.run()
    s = nic.statistics()
    assert (s.tx_frames, s.tx_dropped) == (0, 1)
    assert nic.take_tx_done() == 1


def loopback_machine(latency_us: float = 5.0, **kw: Any) -> tuple[Machine, NetKernel, Nic]:
    """A machine with a NetKernel and one NIC on a Loopback."""
    m = Machine(trace=kw.pop("trace", False))
    k = NetKernel(m)
    nic = m.attach_nic(Loopback(latency_us), **kw)
    return m, k, nic


def test_loopback_round_trip() -> None:
    m, k, nic = loopback_machine(latency_us=5.0, trace=True)
    frame = make_frame(nic.mac, nic.mac, 7, 90)
    got: list[Any] = []

    def body(cpu: CPU) -> None:
        cpu.trap(SYS_NIC_POST, RX_BUF, 2048)
        m.memory.write(TX_BUF, frame)
        t0 = m.cycles
        cpu.trap(SYS_NIC_TX, TX_BUF, len(frame))
        done = cpu.trap(SYS_NIC_WAIT)
        got.append((t0, done, m.memory.read(done[0][0], done[0][1])))

    k.spawn(body, m.cpu)
    assert m.run().reason == "finished"
    (t0, done, data), = got
    assert done == [(RX_BUF, 90)] and data == frame
    p = m.profile
    ev = {e.kind: e for e in m.tracer.events() if e.kind in (Kind.FRAME_TX, Kind.FRAME_RX)}
    depart = t0 + p.trap_entry + nic.wire_cycles(90)
    assert ev[Kind.FRAME_TX].cycle == depart and ev[Kind.FRAME_TX].arg == 90
    assert ev[Kind.FRAME_RX].cycle == depart + 5 * p.mhz
    s = nic.statistics()
    assert (s.tx_frames, s.rx_frames, s.rx_bytes, s.rx_posted, s.rx_buffers) == \
        (1, 1, 90, 1, 0)


def test_no_posted_buffer_drops_and_counts() -> None:
    m, k, nic = loopback_machine()
    for i in range(3):
        send_frame(nic, TX_BUF + i * 128, bytes(100))
    assert m.run().reason == "finished"
    s = nic.statistics()
    assert (s.rx_frames, s.rx_dropped) == (0, 3)
    assert nic.take_rx() == []
    assert m.cpu.statistics().interrupts == 0


def test_oversize_frame_dropped_and_buffer_kept() -> None:
    m, k, nic = loopback_machine()
    assert nic.post_rx(RX_BUF, 64)
    send_frame(nic, TX_BUF, bytes(100))                      # too big for the buffer
    send_frame(nic, TX_BUF + 256, b"\x05" * 50)              # padded to 60: fits
    m.run()
    s = nic.statistics()
    assert (s.rx_oversize, s.rx_frames, s.rx_dropped) == (1, 1, 0)
    assert list(k.rx_queue) == [(RX_BUF, 60)]
    assert m.memory.read(RX_BUF, 60) == b"\x05" * 50 + bytes(10)


def test_rx_ring_full_and_arrival_order() -> None:
    m, k, nic = loopback_machine(rx_ring=2)
    assert nic.post_rx(RX_BUF, 2048) and nic.post_rx(RX_BUF + 2048, 2048)
    assert not nic.post_rx(RX_BUF + 4096, 2048)
    send_frame(nic, TX_BUF, b"\x01" * 70)
    send_frame(nic, TX_BUF + 128, b"\x02" * 80)
    m.run()
    assert list(k.rx_queue) == [(RX_BUF, 70), (RX_BUF + 2048, 80)]
    assert nic.statistics().rx_ring_full == 1


def test_runt_from_backend_is_counted() -> None:
    m, k, nic = loopback_machine()
    nic.post_rx(RX_BUF, 2048)
    nic.deliver(b"short")
    m.run()
    assert nic.statistics().rx_runt == 1 and nic.statistics().rx_frames == 0


def test_tx_irq_only_when_enabled() -> None:
    for tx_irq, irqs in ((False, 0), (True, 1)):
        m = Machine()
        k = NetKernel(m)
        nic = m.attach_nic(Recorder(), tx_irq=tx_irq)
        send_frame(nic, TX_BUF, bytes(60))
        m.run()
        assert m.cpu.statistics().interrupts == irqs
        assert k.tx_completions == irqs


def test_bad_transmit_from_a_program_is_a_fault_not_a_crash() -> None:
    m, k, nic = loopback_machine()

    def body(cpu: CPU) -> None:
        cpu.trap(SYS_NIC_TX, TX_BUF, 5)

    t = k.spawn(body, m.cpu)
    assert m.run().reason == "finished"
    assert isinstance(t.fault, NicError) and t.fault.length == 5
    assert k.faults == [(t.tid, "PROGRAM", 0)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.integers(ETH_HEADER, 1514)),
                min_size=1, max_size=6),
       st.integers(1, 1514))
def test_property_loopback_delivers_exact_padded_bytes(
        sends: list[tuple[int, int]], bufsize: int) -> None:
    m, k, nic = loopback_machine(latency_us=1.0)
    rec: list[bytes] = []
    for i, _ in enumerate(sends):
        nic.post_rx(RX_BUF + i * PAGE, bufsize)
    depart = 0
    for i, (gap, n) in enumerate(sends):
        m.clock.now += gap                        # the host idles between submits
        frame = bytes((i * 31 + j) & 0xFF for j in range(n))
        rec.append(frame + bytes(max(0, 60 - n)))
        send_frame(nic, TX_BUF + i * 2048, frame)
        depart = max(m.clock.now, depart) + nic.wire_cycles(n)
    m.run()
    assert nic.statistics().tx_frames == len(sends)
    fits = [f for f in rec if len(f) <= bufsize]
    assert nic.statistics().rx_oversize == len(rec) - len(fits)
    assert [m.memory.read(p, n) for p, n in k.rx_queue] == fits
    assert [n for _, n in k.rx_queue] == [len(f) for f in fits]
    last_rx = m.clock.now
    assert last_rx >= depart


# -- two machines on a wire ----------------------------------------------------------


def test_ping_pong_exact_bytes() -> None:
    r = ping_pong(n=10, length=100)
    assert [x.reason for x in r["results"]] == ["finished", "finished"]
    assert len(r["log"]) == 10
    sent = [frame for _, _, frame, _ in r["log"]]
    assert r["seen"] == sent                               # the receiver saw every byte
    assert all(reply == frame for _, _, frame, reply in r["log"])
    s = r["wire"].statistics()
    assert (s.a_to_b, s.b_to_a, s.dropped, s.late) == (10, 10, 0, 0)
    assert r["na"].statistics().rx_frames == r["nb"].statistics().rx_frames == 10


def test_short_frames_arrive_padded() -> None:
    r = ping_pong(n=2, length=20)
    for _, _, frame, reply in r["log"]:
        assert reply == frame + bytes(40)


@pytest.mark.parametrize("latency_us", [5.0, 40.0, 333.0])
def test_round_trip_time_matches_cost_model(latency_us: float) -> None:
    r = ping_pong(n=5, length=100, latency_us=latency_us)
    ma, na = r["ma"], r["na"]
    p = ma.profile
    wire = na.wire_cycles(100)
    lat = math.ceil(latency_us * p.mhz)
    # one way: the NIC's wire time plus the latency; plus, per direction, the
    # software path of the receiving side up to its next kernel entry
    expected = 2 * (wire + lat) + 2 * software_path(ma)
    for t0, t1, _, _ in r["log"]:
        assert t1 - t0 == expected
    assert r["wire"].statistics().late == 0


def test_round_trip_across_profiles() -> None:
    lat_us = 20.0
    r = ping_pong(n=3, length=200, latency_us=lat_us, profiles=("dec5000", "athlon64"))
    ma, mb, na, nb = r["ma"], r["mb"], r["na"], r["nb"]
    pa, pb = ma.profile, mb.profile
    assert r["seen"] == [f for _, _, f, _ in r["log"]]
    for t0, t1, _, _ in r["log"]:
        depart_a = t0 + pa.trap_entry + na.wire_cycles(200)
        arrive_b = math.ceil(depart_a * pb.mhz / pa.mhz) + math.ceil(lat_us * pb.mhz)
        depart_b = arrive_b + software_path(mb) + nb.wire_cycles(200)
        arrive_a = math.ceil(depart_b * pa.mhz / pb.mhz) + math.ceil(lat_us * pa.mhz)
        assert t1 == arrive_a + software_path(ma) - pa.trap_entry
    assert r["wire"].statistics().late == 0


def test_run_is_deterministic() -> None:
    r1 = ping_pong(n=6, trace=True)
    r2 = ping_pong(n=6, trace=True)
    for key in ("ma", "mb"):
        assert r1[key].tracer.events() == r2[key].tracer.events()
        assert r1[key].statistics() == r2[key].statistics()
    assert r1["log"] == r2["log"]
    kinds = r1["ma"].tracer.counts()
    assert kinds[Kind.FRAME_TX] == kinds[Kind.FRAME_RX] == 6


def test_run_together_until_pauses_and_resumes() -> None:
    wire = Wire(latency_us=40.0)
    ma, mb = Machine(seed=1), Machine(seed=2)
    ka, kb = NetKernel(ma), NetKernel(mb)
    na, nb = ma.attach_nic(wire.a), mb.attach_nic(wire.b)
    log: list[Any] = []
    seen: list[bytes] = []
    ta = ka.spawn(pinger, ma.cpu, ka, na, nb.mac, 4, 100, log)
    ka.map(ta, USER_VPN, TX_PPN)
    kb.spawn(ponger, mb.cpu, 4, seen)
    first = run_together([ma, mb], until=300.0)          # microseconds
    assert first[0].reason == "paused"
    assert first[1].reason in ("paused", "deadlock")     # B may be blocked, idle
    assert all(x.cycles <= 300 * 25 + 100 for x in first)
    rest = run_together([ma, mb])
    assert [x.reason for x in rest] == ["finished", "finished"]
    assert len(log) == 4 and seen == [f for _, _, f, _ in log]
    # the same run without the stop in the middle takes exactly as long
    ref = ping_pong(n=4, length=100, latency_us=40.0)
    assert [t1 - t0 for t0, t1, _, _ in log] == [t1 - t0 for t0, t1, _, _ in ref["log"]]


def test_frame_to_unplugged_end_is_dropped() -> None:
    wire = Wire(latency_us=1.0)
    m = Machine()
    nic = m.attach_nic(wire.a)
    send_frame(nic, TX_BUF, bytes(60))
    m.run()
    assert wire.statistics().dropped == 1


def test_wire_rejects_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        Wire(latency_us=0)
    with pytest.raises(ConfigError):
        Loopback(latency_us=-1)
    wire = Wire()
    Machine().attach_nic(wire.a)
    with pytest.raises(ConfigError):
        Machine().attach_nic(wire.a)


def test_statistics_is_frozen() -> None:
    s = Machine().attach_nic().statistics()
    assert isinstance(s, NicStats)
    with pytest.raises(AttributeError):
        s.tx_frames = 3  # type: ignore[misc]


def test_a_reset_ring_takes_no_more_frames_and_forgets_untaken_ones() -> None:
    m = Machine()
    nic = m.attach_nic()
    assert nic.post_rx(RX_BUF, 1514) and nic.post_rx(RX_BUF + 2048, 1514)
    assert nic.posted_rx() == ((RX_BUF, 1514), (RX_BUF + 2048, 1514))
    nic.deliver(b"\x01" * 60)
    m.clock.fire_due()
    assert nic.posted_rx() == ((RX_BUF + 2048, 1514),)
    assert nic.reset_rx() == 1
    assert nic.posted_rx() == () and nic.take_rx() == []   # the received one: forgotten
    nic.deliver(b"\x02" * 60)
    m.clock.fire_due()
    assert m.memory.read(RX_BUF + 2048, 60) == bytes(60)   # nothing landed after the reset
    stats = nic.statistics()
    assert (stats.rx_frames, stats.rx_dropped, stats.rx_buffers) == (1, 1, 0)
