"""Random and mutated frames: never an exception, every frame accounted exactly."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.services.net import Datagram

from .helpers import accounted, echo_frame, pair, udp_frame

SEEDS = [udp_frame(b"hello world"), echo_frame(1), udp_frame(b"", dport=9)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1600))
def test_random_bytes_never_raise(frame: bytes) -> None:
    _, b = pair()
    b.stack.bind(2000, "s")
    b.receive(frame)
    assert accounted(b.stack.statistics())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)),
                                        max_size=6), st.integers(0, 200))
def test_mutated_frames_are_dropped_or_delivered_intact(seed, flips, cut) -> None:
    _, b = pair()
    b.stack.bind(2000, "s")
    frame = bytearray(seed)
    for off, val in flips:
        if off < len(frame):
            frame[off] = val
    frame = bytes(frame[:max(0, len(frame) - cut)] if cut < 100 else frame)
    ev = b.receive(frame)
    st_ = b.stack.statistics()
    assert accounted(st_)
    if isinstance(ev, Datagram):            # delivered: the checksum vouched for it
        assert b.mem.read(ev.addr, ev.length) in (b"hello world", b"")


def test_fixed_seed_soak_of_mutations() -> None:
    """A short fixed-seed version of the 100,000-frame soak (bench/soak_net.py)."""
    rng = random.Random(15)
    _, b = pair()
    b.stack.bind(2000, "s")
    for i in range(3000):
        frame = bytearray(rng.choice(SEEDS))
        for _ in range(rng.randrange(4)):
            frame[rng.randrange(len(frame))] = rng.randrange(256)
        if rng.random() < 0.2:
            frame = frame[:rng.randrange(len(frame) + 1)]
        if rng.random() < 0.1:
            frame = bytearray(rng.randbytes(rng.randrange(80)))
        b.receive(bytes(frame))
    s = b.stack.statistics()
    assert s.rx_frames == 3000 and accounted(s)
    assert s.udp_in > 0 and s.dropped > 0
