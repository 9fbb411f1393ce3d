"""A first binder takes only its own key: broad filters are shared and outranked.

Before: an unprivileged environment bound ``[EtherType IPv4]`` unshared; every
other environment's IPv4 bind was then EBUSY and every IPv4 frame went to its
ring. Now an unshared filter must fix a demultiplexing key (:func:`dpf.key`),
a broader one binds only shared, and an exclusive filter outranks every
shared one, however deep (:func:`dpf.rank`).
"""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exolab.errors import SyscallError
from exolab.kernels.exokernel import Aegis, dpf
from exolab.kernels.exokernel.dpf_trie import Naive, Trie
from exolab.libos.exos.net import arp_filter, echo_filter, icmp_reply_filter
from exolab.libos.exos.pfilter import Sender, bind_filter
from exolab.machine.machine import Machine
from exolab.machine.wire import Loopback

from .test_dpf_bind import udp_filter, udp_frame
from .test_dpf_trie import satisfying, terms

IPV4 = ("eq", 12, 2, 0xFFFF, 0x0800)
ALL_IPV4 = [IPV4]
ALL_UDP = [IPV4, ("shift", 14), ("eq", 9, 1, 0xFF, 17)]
ALL_ICMP = [IPV4, ("shift", 14), ("eq", 9, 1, 0xFF, 1)]
PORT_RANGE = [IPV4, ("shift", 14), ("eq", 9, 1, 0xFF, 17), ("shift", 0, 1, 0x0F, 4),
              ("eq", 2, 2, 0xFF00, 0)]                      # ports 0..255 by mask
FROM_HOST = [IPV4, ("eq", 26, 4, 0xFFFFFFFF, 0x0A000001)]    # source 10.0.0.1 only


def tcp_filter(dport: int, sport: int | None = None) -> list[tuple[Any, ...]]:
    """IPv4/TCP to ``dport`` (and from ``sport``)."""
    spec = [IPV4, ("shift", 14), ("eq", 9, 1, 0xFF, 6), ("shift", 0, 1, 0x0F, 4),
            ("eq", 2, 2, 0xFFFF, dport)]
    return spec + ([("eq", 0, 2, 0xFFFF, sport)] if sport is not None else [])


def run_pair(broad: list[tuple[Any, ...]], broad_first: bool) -> dict[str, Any]:
    """A squatter binds ``broad`` (unshared; shared when refused) before or after a
    victim binds UDP port 7; both frames sent; what each ring got."""
    box: dict[str, Any] = {}

    def squatter(os: Any) -> int:
        while not broad_first and "victim" not in box:
            os.yield_()
        try:
            ring = bind_filter(os, broad)
            box["unshared"] = "bound"
        except SyscallError as ex:
            box["unshared"] = (ex.errno, ex.fields.get("missing"))
            padded = broad + [broad[-1]] * (dpf.MAX_TERMS - len(broad))   # deepest
            try:
                ring = bind_filter(os, padded, share=True)
            except SyscallError as ex2:
                box["squat"] = box["squat_got"] = ex2.errno     # (the old rule)
                return 0
        box["squat"] = ring
        while "sent" not in box:
            os.yield_()
        for _ in range(20):
            os.yield_()
        box["squat_got"] = [ring.poll(), ring.poll()]
        return 0

    def victim(os: Any) -> int:
        while broad_first and "squat" not in box:
            os.yield_()
        try:
            ring = bind_filter(os, udp_filter(7))
            box["victim"] = "bound"
        except SyscallError as ex:
            box["victim"] = ex.errno
            box["sent"] = True
            return 0
        while "squat" not in box:
            os.yield_()
        tx = Sender(os)
        tx.send(udp_frame(7, payload=b"for the victim"))
        tx.send(udp_frame(9, payload=b"nobody's port"))
        for _ in range(20):
            os.yield_()
        box["victim_got"] = ring.poll()
        box["sent"] = True
        return 0

    m = Machine("dec5000", frames=4096, max_cycles=20_000_000)
    m.attach_nic(Loopback(latency_us=5.0))
    k = Aegis(m)
    k.boot(squatter)
    k.boot(victim)
    assert k.run().reason == "finished", k.faults
    return box


@pytest.mark.parametrize("broad, missing", [
    (ALL_IPV4, "IP protocol"), (ALL_UDP, "UDP destination port"),
    (PORT_RANGE, "UDP destination port"), (FROM_HOST, "IP protocol"),
])
@pytest.mark.parametrize("broad_first", [True, False])
def test_a_broad_filter_cannot_take_the_victims_port(broad: list[tuple[Any, ...]],
                                                     missing: str,
                                                     broad_first: bool) -> None:
    box = run_pair(broad, broad_first)
    assert box["unshared"][0] == "EPERM" and missing in box["unshared"][1]
    assert box["victim"] == "bound"
    frame7 = udp_frame(7, payload=b"for the victim")
    assert (box["victim_got"] or b"")[:len(frame7)] == frame7
    got = [f for f in box["squat_got"] if f is not None]
    assert all(f[:len(frame7)] != frame7 for f in got)      # never the victim's frame
    assert len(got) == 1 and b"nobody's port" in got[0]      # the leftovers: shared


def test_all_icmp_unshared_is_refused_and_udp_is_untouched() -> None:
    box = run_pair(ALL_ICMP, broad_first=True)
    assert box["unshared"][0] == "EPERM" and "ICMP type" in box["unshared"][1]
    assert box["victim"] == "bound" and b"for the victim" in (box["victim_got"] or b"")
    assert box["squat_got"] == [None, None]


def test_key_names_what_an_owned_filter_fixes() -> None:
    d = dpf.decode
    assert dpf.key(d(udp_filter(7))) == ("udp", 7)
    assert dpf.key(d(tcp_filter(80, 1234))) == ("tcp", 80)
    assert dpf.key(d(icmp_reply_filter(3))) == ("icmp", 0, 3)
    split = udp_filter(7)[:-1] + [("eq", 2, 1, 0xFF, 0), ("eq", 3, 1, 0xFF, 7)]
    assert dpf.key(d(split)) == ("udp", 7)                  # the same bytes, two atoms
    assert dpf.key(d([("eq", 0, 1, 0xFF, 1), ("eq", 0, 1, 0xFF, 2)])) is None
    for spec, missing in [
        (ALL_IPV4, "IP protocol"), (ALL_UDP, "UDP destination port"),
        (tcp_filter(80)[:-1], "TCP destination port"),
        (PORT_RANGE, "UDP destination port"), (FROM_HOST, "IP protocol"),
        (echo_filter(0x0A000002), "ICMP identifier"), (arp_filter(0x0A000002), "IPv4"),
        ([("eq", 36, 2, 0xFFFF, 7)], "EtherType"),
        (ALL_IPV4 + [("eq", 23, 1, 0xFF, 47)], "keyed IP protocol"),
        (ALL_UDP[:1] + [("eq", 23, 1, 0xFF, 17), ("eq", 36, 2, 0xFFFF, 7)],
         "UDP destination port"),                           # assumes IHL 5: no
    ]:
        with pytest.raises(SyscallError) as ex:
            dpf.key(d(spec))
        assert ex.value.errno == "EPERM" and missing in ex.value.fields["missing"], spec


def test_exclusive_outranks_a_deeper_shared_filter_at_no_cost() -> None:
    padded = dpf.decode(ALL_IPV4 * dpf.MAX_TERMS)
    port7 = dpf.decode(udp_filter(7))
    costs = []
    for exclusive in (False, True):
        t, n = Trie(), Naive()
        for c in (t, n):
            c.insert(1, padded)
            c.insert(2, port7, exclusive)
        want = 2 if exclusive else 1
        assert t.classify(udp_frame(7))[0] == n.classify(udp_frame(7))[0] == want
        assert t.classify(udp_frame(8))[0] == 1
        costs.append(t.classify(udp_frame(7))[1])
        t.remove(2)
        assert t.classify(udp_frame(7))[0] == 1
    assert costs[0] == costs[1]                             # nothing more per packet


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(terms(), st.booleans()), min_size=1, max_size=6),
       st.lists(st.integers(0, 255), max_size=48).map(bytes))
def test_trie_and_naive_agree_with_exclusive_filters(filters: Any, noise: bytes) -> None:
    t, n = Trie(), Naive()
    for fid, (f, exclusive) in enumerate(filters, 1):
        t.insert(fid, f, exclusive)
        n.insert(fid, f, exclusive)
    for f, _ in filters:
        frame = satisfying(f, noise)
        assert t.classify(frame)[0] == n.classify(frame)[0]


# -- the property: admitted unshared filters with different keys never overlap -----------

_ETH = [None, (12, 2, 0xFFFF, 0x0806), (12, 2, 0xFF00, 0x0800), (12, 1, 0xFF, 0x08)]
_PROTO = [(9, 1, 0xFF, 6), (9, 1, 0xFF, 1), None, (9, 1, 0xF0, 0x10)]


def usually(draw: Any, common: Any, others: list[Any]) -> Any:
    """``common`` three times in four, else one of ``others``."""
    return common if draw(st.integers(0, 3)) else draw(st.sampled_from(others))


_IP = [(12, 4, 0xFFFFFFFF, 0x0A000001), (16, 4, 0xFFFFFFFF, 0x0A000002),
       (0, 1, 0xF0, 0x40), (8, 1, 0xFF, 64)]
_PORT = st.sampled_from([7, 8, 9, 0x0107])


@st.composite
def header_filter(draw: Any) -> list[tuple[Any, ...]]:
    """A filter of atoms on the Ethernet, IPv4 and UDP/ICMP header fields."""
    spec: list[tuple[Any, ...]] = []
    eth = usually(draw, (12, 2, 0xFFFF, 0x0800), _ETH)
    if eth is not None:
        spec.append(("eq", *eth))
    if draw(st.booleans()):
        spec.append(("eq", 26, 4, 0xFFFFFFFF, 0x0A000001))           # IP source
    spec.append(("shift", 14))
    proto = usually(draw, (9, 1, 0xFF, 17), _PROTO)
    if proto is not None:
        spec.append(("eq", *proto))
    spec += [("eq", *f) for f in draw(st.lists(st.sampled_from(_IP), max_size=2))]
    if draw(st.integers(0, 3)):                                      # past the IP header
        spec.append(("shift", 0, 1, 0x0F, 4))
        offsets = [2] if draw(st.integers(0, 2)) else []             # mostly a dport
        for off in offsets + draw(st.lists(st.sampled_from([0, 4]), unique=True)):
            mask = usually(draw, 0xFFFF, [0xFF00, 0x00FF, 0x0001])
            spec.append(("eq", off, 2, mask, draw(_PORT) & mask))
    else:                                                            # IHL 5 assumed
        for off in draw(st.lists(st.sampled_from([20, 22]), max_size=2)):
            spec.append(("eq", off, 2, 0xFFFF, draw(_PORT)))
    if not any(t[0] == "eq" for t in spec):
        spec.append(("eq", 0, 1, 0xFF, 2))
    return spec


def admitted(spec: list[tuple[Any, ...]]) -> tuple[tuple[dpf.Term, ...], Any] | None:
    """(terms, key) if the unshared rule admits ``spec``, else None."""
    t = dpf.decode(spec)
    try:
        return t, dpf.key(t)
    except SyscallError as ex:
        assert ex.errno == "EPERM"
        return None


@settings(max_examples=500, deadline=None)
@given(header_filter(), header_filter(), _PORT)
def test_admitted_filters_with_different_keys_never_overlap(a: Any, b: Any,
                                                            port: int) -> None:
    victim = dpf.decode(udp_filter(port))
    for f in (a, b):                    # nobody else's admitted filter takes port traffic
        k = admitted(f)
        if k is not None and k[1] != ("udp", port):
            assert not dpf.may_overlap(k[0], victim), f
            assert not dpf.matches(k[0], udp_frame(port)), f
    ka, kb = admitted(a), admitted(b)
    if ka is not None and kb is not None and ka[1] != kb[1]:
        assert not dpf.may_overlap(ka[0], kb[0]), (a, b)
