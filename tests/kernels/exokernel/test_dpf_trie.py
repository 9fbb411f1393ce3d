"""The merged trie and its generated code: the same verdict as the naive classifier.

A hypothesis state machine installs and removes random filters (drawn from a
small universe of fields so that they share prefixes, overlap and shift) in
the trie, the naive classifier and both interpreters, and checks that every
packet gets the same verdict from all four.
"""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, rule

from exolab.kernels.exokernel import dpf
from exolab.kernels.exokernel.dpf_trie import COSTS, Naive, Trie
from exolab.kernels.exokernel.mpf import MPF, Pathfinder


def tcp(sport: int, dport: int = 80) -> tuple[dpf.Term, ...]:
    """IPv4/TCP, a variable IP header, destination and source port."""
    return dpf.decode([("eq", 12, 2, 0xFFFF, 0x0800), ("shift", 14), ("eq", 9, 1, 0xFF, 6),
                       ("shift", 0, 1, 0x0F, 4), ("eq", 2, 2, 0xFFFF, dport),
                       ("eq", 0, 2, 0xFFFF, sport)])


def tcp_frame(sport: int, dport: int = 80, ihl: int = 5) -> bytes:
    """A frame that ``tcp(sport, dport)`` accepts."""
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    ip = bytes([0x40 | ihl, 0]) + bytes(7) + bytes([6]) + bytes(10) + bytes(4 * (ihl - 5))
    return eth + ip + sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes(16)


def test_prefixes_are_shared_and_cost_grows_with_depth_not_count() -> None:
    small, large = Trie(), Trie()
    for i in range(10):
        small.insert(i + 1, tcp(1000 + i))
    for i in range(1000):
        large.insert(i + 1, tcp(1000 + i))
    assert small.nodes() == 5 + 10 and large.nodes() == 5 + 1000   # one shared spine
    costs = {small.classify(tcp_frame(1000 + i))[1] for i in range(10)}
    costs |= {large.classify(tcp_frame(1000 + i))[1] for i in range(0, 1000, 97)}
    assert costs == {39}                    # the same instructions at 10 and 1,000
    assert small.classify(tcp_frame(1003)) == (4, 39)
    assert small.classify(tcp_frame(1003, ihl=7))[0] == 4      # the shift follows IHL
    assert small.classify(tcp_frame(999))[0] is None
    assert small.classify(b"\x00" * 13)[0] is None              # too short: no match
    assert small.compiles == 10             # one per insert (its path), none per frame


def test_generated_code_is_regenerated_once_per_change_and_elides() -> None:
    t = Trie()
    t.insert(1, tcp(1))
    src = t.compile()
    assert "& 65535" not in src             # a full mask is not emitted
    assert src.count("<= n") == 3           # IP length check covers the shift field
    assert t.compiles == 2                  # the insert's path, then everything
    t.classify(tcp_frame(1))
    t.classify(tcp_frame(2))
    assert t.compiles == 2                  # classifying generates nothing
    t.insert(2, tcp(2))
    t.remove(1)
    assert t.compiles == 4                  # at each change, not at the next frame
    assert t.classify(tcp_frame(2))[0] == 2 and t.classify(tcp_frame(1))[0] is None
    assert t.compiles == 4
    t.remove(2)
    assert t.nodes() == 1 and t.classify(tcp_frame(2)) == (None, COSTS["entry"][0]
                                                            + COSTS["exit"][0])


def test_deepest_then_earliest_wins() -> None:
    t, n = Trie(), Naive()
    general = dpf.decode([("eq", 12, 2, 0xFFFF, 0x0800)])
    for c in (t, n, MPF(), Pathfinder()):
        c.insert(5, tcp(7))
        c.insert(3, general)
        c.insert(9, tcp(7))
        assert c.classify(tcp_frame(7))[0] == 5
        assert c.classify(tcp_frame(8))[0] == 3


def test_interpreters_grow_linearly() -> None:
    for cls in (MPF, Pathfinder):
        ten, hundred = cls(), cls()
        for i in range(100):
            if i < 10:
                ten.insert(i + 1, tcp(1000 + i))
            hundred.insert(i + 1, tcp(1000 + i))
        c10 = sum(ten.classify(tcp_frame(1000 + i))[1] for i in range(10)) / 10
        c100 = sum(hundred.classify(tcp_frame(1000 + i))[1] for i in range(100)) / 100
        assert 8 < c100 / c10 < 11


# -- the state machine ---------------------------------------------------------------------

_FIELDS = [(0, 1, 0xFF), (0, 1, 0x0F), (1, 1, 0xF0), (1, 2, 0xFFFF), (2, 1, 0xFF),
           (3, 1, 0x03), (2, 4, 0xFF00FF00)]
_BYTES = st.sampled_from([0, 1, 2, 3, 4, 0x10, 0x11, 0xF0, 0xFF])


@st.composite
def terms(draw: Any) -> tuple[dpf.Term, ...]:
    """A filter over a few fields, with fixed and variable shifts."""
    spec: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["eq", "eq", "eq", "shift", "vshift"]))
        if kind == "shift":
            spec.append(("shift", draw(st.integers(1, 3))))
        elif kind == "vshift":
            spec.append(("shift", draw(st.integers(0, 2)), 1, 0x03,
                         draw(st.sampled_from([1, 2, 3]))))
        else:
            off, size, mask = draw(st.sampled_from(_FIELDS))
            spec.append(("eq", off, size, mask, draw(st.integers(0, 3)) & mask))
    spec.append(("eq", 0, 1, 0x01, draw(st.integers(0, 1))))
    return dpf.decode(spec)


def satisfying(t: tuple[dpf.Term, ...], noise: bytes) -> bytes:
    """A frame built to satisfy ``t`` (later terms may overwrite earlier ones)."""
    buf = bytearray(noise.ljust(48, b"\x00"))
    base = 0
    for term in t:
        at = base + term.offset
        if isinstance(term, dpf.Atom):
            old = int.from_bytes(buf[at:at + term.size], "big")
            buf[at:at + term.size] = ((old & ~term.mask) | term.value).to_bytes(term.size,
                                                                                "big")
        else:
            base += term.carry + (int.from_bytes(buf[at:at + term.size], "big")
                                  & term.mask) * term.scale
    return bytes(buf)


class Classifiers(RuleBasedStateMachine):
    """Trie, naive, MPF and PATHFINDER under the same installs and removals."""

    installed = Bundle("installed")

    def __init__(self) -> None:
        super().__init__()
        self.all = [Trie(), Naive(), MPF(), Pathfinder()]
        self.filters: dict[int, tuple[dpf.Term, ...]] = {}
        self.next_fid = 1

    @rule(target=installed, t=terms())
    def install(self, t: tuple[dpf.Term, ...]) -> int:
        fid = self.next_fid
        self.next_fid += 1
        for c in self.all:
            c.insert(fid, t)
        self.filters[fid] = t
        return fid

    @rule(fid=consumes(installed))
    def remove(self, fid: int) -> None:
        for c in self.all:
            c.remove(fid)
        del self.filters[fid]

    def _same(self, frame: bytes) -> None:
        verdicts = {c.classify(frame)[0] for c in self.all}
        assert len(verdicts) == 1, (verdicts, frame)

    @rule(frame=st.binary(max_size=48))
    def random_frame(self, frame: bytes) -> None:
        self._same(frame)

    @rule(data=st.data(), noise=st.lists(_BYTES, max_size=48).map(bytes))
    def built_frame(self, data: Any, noise: bytes) -> None:
        if self.filters:
            fid = data.draw(st.sampled_from(sorted(self.filters)))
            frame = satisfying(self.filters[fid], noise)
            self._same(frame)
            self._same(frame[:data.draw(st.integers(0, len(frame)))])


TestClassifiers = Classifiers.TestCase
TestClassifiers.settings = settings(max_examples=100, stateful_step_count=30,
                                    deadline=None,
                                    suppress_health_check=[HealthCheck.too_slow])


def test_overlap_is_refused_only_when_some_packet_satisfies_both() -> None:
    a, b = tcp(1), tcp(2)
    assert not dpf.may_overlap(a, b)                        # ports differ
    assert dpf.may_overlap(a, dpf.decode([("eq", 12, 2, 0xFFFF, 0x0800)]))  # a prefix
    assert dpf.may_overlap(a, tcp(1))
    udp = dpf.decode([("eq", 12, 2, 0xFFFF, 0x0800), ("shift", 14),
                      ("eq", 9, 1, 0xFF, 17)])
    assert not dpf.may_overlap(a, udp)                      # protocol differs
    arp = dpf.decode([("eq", 12, 2, 0xFFFF, 0x0806)])
    assert not dpf.may_overlap(a, arp)
    # the same bytes reached through a fixed shift written differently: still equal
    assert dpf.decode([("shift", 10), ("eq", 2, 2, 0xFFFF, 0x0800)]) == \
        dpf.decode([("eq", 12, 2, 0xFFFF, 0x0800)])
    # a filter that contradicts itself accepts nothing and overlaps nothing
    empty = dpf.decode([("eq", 0, 1, 0xFF, 1), ("eq", 0, 1, 0x0F, 2)])
    assert dpf.constraints(empty) is None and not dpf.may_overlap(empty, empty)


@settings(max_examples=300, deadline=None)
@given(a=terms(), b=terms(), noise=st.lists(_BYTES, max_size=48).map(bytes))
def test_disjoint_means_no_packet_matches_both(a: Any, b: Any, noise: bytes) -> None:
    for frame in (satisfying(a, noise), satisfying(b, noise),
                  satisfying(b, satisfying(a, noise)), satisfying(a, satisfying(b, noise))):
        if dpf.matches(a, frame) and dpf.matches(b, frame):
            assert dpf.may_overlap(a, b)
