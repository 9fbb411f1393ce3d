"""Packet classification (SOSP'95 Table 7) and the hostile-filter soak, for suite ``net``.

Table 7 timed, on a DEC5000/200, the classification of a packet by one of
ten installed TCP/IP filters: DPF 1.5 us, MPF 35.0, PATHFINDER 19.0. Here
the ten filters are ten TCP connections to one server port (IPv4 over
Ethernet, protocol TCP, the IP header skipped by its length field,
destination port 80, source port 1000 + i); a packet is classified for each
of them in turn and the cost averaged. Each classifier is the one Aegis
could run — the merged trie compiled to code (:mod:`exolab.kernels.exokernel.
dpf_trie`) and the two interpreters (:mod:`exolab.kernels.exokernel.mpf`) —
and the cost is the instructions each executes on each packet (their
sourced tables) at ``profile.instruction`` cycles each; nothing here is
fitted to the paper. The same is measured with 1,000 filters installed
(packets for every tenth one; every hundredth in a quick run): DPF's cost
is the depth of the match, the interpreters' the number of filters tried.

``net`` (netstack's suite, ``bench/net.py``) calls :func:`classification_rows`
and adds its rows and notes to its own; the paper rows are in
``bench/data/net-classify.json`` (systems DPF, MPF and PATHFINDER stand for
the exokernel's classifiers).

:func:`hostile_filters` and :func:`hostile_handlers` generate hostile filter
specifications and handler sources, bind them and check that every unsafe
one is refused at bind time and that nothing hangs (tests run a short
fixed-seed version; ``hostile_soak`` the long one).

Interface::

    BENCHMARKS, FILTERS, SMALL, LARGE
    tcp_filter(sport, dport=80) -> spec       tcp_frame(sport, dport=80, ihl=5) -> bytes
    classify_cost(kind, nfilters, step=1, profile="dec5000") -> cycles (mean)
    classification_rows(ctx) -> (list[Result], dict[benchmark, note])
    HostileStats(cases, refused, unsafe_accepted, safe_refused, removed, hangs, mismatches)
    hostile_filters(n, seed=0) -> HostileStats
    hostile_handlers(n, seed=0) -> HostileStats
    hostile_soak(filters=10_000, handlers=10_000, seed=0) -> (HostileStats, HostileStats)
                                        (``python -m exolab.bench.classify`` prints it)
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from exolab.bench.results import Result
from exolab.errors import SyscallError
from exolab.kernels.exokernel import dpf
from exolab.kernels.exokernel.dpf_trie import Naive, Trie
from exolab.kernels.exokernel.mpf import MPF, Pathfinder
from exolab.machine.costs import get_profile

__all__ = ["BENCHMARKS", "FILTERS", "SMALL", "LARGE", "tcp_filter", "tcp_frame",
           "classify_cost", "classification_rows", "HostileStats", "hostile_filters",
           "hostile_handlers", "hostile_soak"]

SMALL, LARGE = 10, 1000         # filters installed (Table 7: one of ten)
FILTERS: dict[str, Any] = {"dpf": Trie, "mpf": MPF, "pathfinder": Pathfinder}
BENCHMARKS = ("classify-dpf", "classify-mpf", "classify-pathfinder", "mpf/dpf",
              "pathfinder/dpf", "classify-dpf-1000", "classify-mpf-1000",
              "classify-pathfinder-1000", "growth-dpf", "growth-mpf", "growth-pathfinder")


def tcp_filter(sport: int, dport: int = 80) -> list[tuple[Any, ...]]:
    """One TCP connection's filter: IPv4, TCP, the IP header skipped, both ports."""
    return [("eq", 12, 2, 0xFFFF, 0x0800), ("shift", 14), ("eq", 9, 1, 0xFF, 6),
            ("shift", 0, 1, 0x0F, 4), ("eq", 2, 2, 0xFFFF, dport),
            ("eq", 0, 2, 0xFFFF, sport)]


def tcp_frame(sport: int, dport: int = 80, ihl: int = 5) -> bytes:
    """A minimum-size Ethernet/IPv4/TCP frame of that connection."""
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    ip = bytes([0x40 | ihl, 0, 0, 40]) + bytes(5) + bytes([6]) + bytes(10) + \
        bytes(4 * (ihl - 5))
    tcp = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes(16)
    return (eth + ip + tcp).ljust(60, b"\x00")


def classify_cost(kind: str, nfilters: int, step: int = 1,
                  profile: str = "dec5000") -> float:
    """Mean cycles to classify a packet of every ``step``-th of ``nfilters`` filters."""
    c = FILTERS[kind]()
    for i in range(nfilters):
        c.insert(i + 1, dpf.decode(tcp_filter(1000 + i)))
    total = count = 0
    for i in range(0, nfilters, step):
        fid, instructions = c.classify(tcp_frame(1000 + i))
        if fid != i + 1:
            raise AssertionError(f"{kind}: packet of filter {i + 1} went to {fid}")
        total += instructions
        count += 1
    return total / count * get_profile(profile).instruction


def classification_rows(ctx: Any) -> tuple[list[Result], dict[str, str]]:
    """Table 7's rows (us and ratios) and the growth to 1,000 filters, for ``ctx``'s
    suite (kernel ``exokernel``: Aegis's classifiers), with notes."""
    mhz = get_profile(ctx.profile).mhz
    step = 100 if ctx.quick else 10
    small = {k: classify_cost(k, SMALL, 1, ctx.profile) / mhz for k in FILTERS}
    large = {k: classify_cost(k, LARGE, step, ctx.profile) / mhz for k in FILTERS}
    rows = [ctx.result(f"classify-{k}", "exokernel", round(small[k], 3), "us")
            for k in FILTERS]
    rows += [ctx.result(f"{k}/dpf", "exokernel", round(small[k] / small["dpf"], 2), "x")
             for k in ("mpf", "pathfinder")]
    rows += [ctx.result(f"classify-{k}-1000", "exokernel", round(large[k], 3), "us")
             for k in FILTERS]
    rows += [ctx.result(f"growth-{k}", "exokernel", round(large[k] / small[k], 2), "x")
             for k in FILTERS]
    notes = {
        "classify-dpf": "one of 10 TCP/IP filters, mean over the 10; the trie's "
                        "generated code, instructions counted per piece (dpf_trie.COSTS)",
        "classify-mpf": "the same filters interpreted one after another (mpf.MPF_COSTS)",
        "classify-pathfinder": "cells of one pattern after another (mpf.PATHFINDER_COSTS)",
        "growth-dpf": "1,000 filters / 10: DPF's cost is the match's depth (flat)",
        "growth-mpf": "1,000 filters / 10: an interpreter tries filters in turn (linear)",
        "growth-pathfinder": "1,000 filters / 10: linear, as MPF",
    }
    return rows, notes


# -- hostile filters and handlers ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HostileStats:
    """What a hostile run found: every unsafe case refused, nothing hung."""

    cases: int
    refused: int            # refused at bind time
    unsafe_accepted: int    # unsafe by the generator's own account, yet accepted (must be 0)
    safe_refused: int       # safe by the generator's account, yet refused (must be 0)
    removed: int            # accepted handlers removed at run time (overrun, fault)
    hangs: int              # cases whose run did not finish (must be 0)
    mismatches: int         # accepted filters on which trie and naive disagreed (must be 0)
    slowest_ms: float       # the slowest case, host milliseconds


class _Liar(int):
    """An int that says something else when compared (hostile input)."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = int.__hash__


def _field(rng: random.Random) -> tuple[int, int, int]:
    """A plausible (offset, size, mask)."""
    size = rng.choice(dpf.SIZES)
    return rng.randrange(0, 64), size, rng.randrange(1, 1 << (8 * size))


def _hostile_term(rng: random.Random) -> tuple[Any, bool]:
    """A filter term and whether it is safe."""
    off, size, mask = _field(rng)
    pick = rng.randrange(14)
    if pick < 5:
        return ("eq", off, size, mask, rng.randrange(1 << 32) & mask), True
    if pick == 5:
        return ("shift", rng.randrange(1, 40)), True
    if pick == 6:
        return ("shift", off, 1, rng.choice([0x0F, 0x03]), rng.choice([1, 2, 4])), True
    bad: list[Any] = [
        ("eq", off, 3, mask, 0), ("eq", off, size, 0, 0),
        ("eq", off, size, mask, (mask | 1 << 40)), ("eq", -1, size, mask, 0),
        ("eq", 5000, size, mask, 0), ("eq", _Liar(off), size, mask, 0),
        ("eq", off, True, 1, 1), ("shift", 0), ("shift", 10 ** 6),
        ("shift", off, size, mask, 0), ("shift", off, size, mask, 9),
        ("jump", off), ("eq", off), "eq", ("eq", float(off), size, mask, 0),
        ("eq", off, size, mask, None), (), ([], 1),
    ]
    return rng.choice(bad), False


def _hostile_spec(rng: random.Random) -> tuple[Any, bool]:
    """A filter specification and whether the generator built it safe."""
    shape = rng.randrange(20)
    if shape == 0:
        return rng.choice(["x", None, 7, {"a": 1}, b"\x00"]), False
    if shape == 1:
        return [], False
    if shape == 2:
        return [("eq", 0, 1, 1, 1)] * (dpf.MAX_TERMS + 1), False
    if shape == 3:                      # shifts that reach past the largest frame
        return [("shift", 0, 1, 0xFF, 8)] * 2 + [("eq", 0, 1, 1, 1)], False
    terms, safe = [], True
    for _ in range(rng.randrange(1, 8)):
        if rng.random() < 0.3:
            t, ok = _hostile_term(rng)
        else:
            off, size, mask = _field(rng)
            t, ok = ("eq", off, size, mask, rng.randrange(1 << 32) & mask), True
        terms.append(t)
        safe = safe and ok
    if safe and not any(t[0] == "eq" for t in terms):
        safe = False                    # a filter needs an atom
    if safe:
        try:
            safe = dpf.reach(_normal(terms)) <= dpf.MAX_FRAME
        except ValueError:
            safe = False
    return (tuple(terms) if rng.random() < 0.2 else terms), safe


def _normal(spec: list[tuple[Any, ...]]) -> tuple[dpf.Term, ...]:
    """The generator's own normal form of a safe spec (independent of dpf.decode)."""
    out: list[dpf.Term] = []
    carry = 0
    for t in spec:
        if t[0] == "eq":
            out.append(dpf.Atom(carry + t[1], t[2], t[3], t[4]))
        elif len(t) == 2:
            carry += t[1]
            if carry >= dpf.MAX_FRAME:
                raise ValueError("shifted past the frame")
        else:
            out.append(dpf.Shift(carry + t[1], t[2], t[3], t[4], carry))
            carry = 0
    return tuple(out)


def hostile_filters(n: int, seed: int = 0) -> HostileStats:
    """Decode ``n`` generated filters; classify random frames with the accepted ones."""
    rng = random.Random(seed)
    trie, naive = Trie(), Naive()
    refused = unsafe_ok = safe_bad = mismatches = 0
    slowest = 0.0
    for i in range(n):
        spec, safe = _hostile_spec(rng)
        t0 = time.perf_counter()
        try:
            terms = dpf.decode(spec)
        except SyscallError:
            refused += 1
            safe_bad += safe
            continue
        finally:
            slowest = max(slowest, time.perf_counter() - t0)
        unsafe_ok += not safe
        trie.insert(i, terms)
        naive.insert(i, terms)
        if len(naive.filters) > 64:                     # keep the structure moving
            victim = rng.choice(sorted(naive.filters))
            trie.remove(victim)
            naive.remove(victim)
        if i % 16 == 0:
            for _ in range(4):
                frame = rng.randbytes(rng.randrange(0, 120))
                if trie.classify(frame)[0] != naive.classify(frame)[0]:
                    mismatches += 1
    return HostileStats(n, refused, unsafe_ok, safe_bad, 0, 0, mismatches,
                        round(slowest * 1000, 3))


_UNSAFE_BODIES = [
    "    while True:\n        pass\n",
    "    return handler(msg)\n",
    "    for i in range(10 ** 9):\n        pass\n",
    "    n = msg.length\n    for i in range(n):\n        msg.load(0, 1)\n",
    "    return msg._frame\n",
    "    return msg.__class__.__bases__\n",
    "    open('/etc/passwd')\n",
    "    eval('1')\n",
    "    return (lambda: 1)()\n",
    "    global_state = __import__('os')\n",
    "    return [x for x in iter(int, 1)]\n",
]
_UNSAFE_MODULES = ["import os\n", "from exolab.machine import machine\n", "x = (\n"]
_FAULTING_BODIES = [
    "    for i in range({n}):\n        msg.load(0, 1)\n",
    "    msg.load({n}, 2)\n",
    "    msg.copy(0, {n} + 4096, 64)\n",
    "    raise ValueError('x')\n",
    "    return 1 // (msg.length - msg.length)\n",
    "    msg.send(0, {m})\n",
    "    msg.store(0, 3, 1)\n",
    "    for i in range(5000):\n        try:\n            msg.load(0, 1)\n"
    "        except Exception:\n            pass\n",
]
_SAFE_BODIES = [
    "    msg.deliver()\n",
    "    s = msg.copy(0, 0, msg.length)\n    msg.store(2000, 2, s)\n",
    "    msg.wake()\n",
    "    x = 0\n    for i in range(8):\n        x = x + msg.load(i, 1)\n"
    "    msg.store(100, 4, x)\n",
]


def _hostile_handler(rng: random.Random) -> tuple[str, str]:
    """A handler source and what it must do: 'refused', 'removed' or 'kept'."""
    pick = rng.random()
    if pick < 0.4:
        if rng.random() < 0.2:
            return rng.choice(_UNSAFE_MODULES) + "def handler(msg):\n    pass\n", "refused"
        return "def handler(msg):\n" + rng.choice(_UNSAFE_BODIES), "refused"
    if pick < 0.75:
        body = rng.choice(_FAULTING_BODIES).format(n=rng.randrange(3000, 9000),
                                                  m=rng.randrange(0, 14))
        return "def handler(msg):\n" + body, "removed"
    return "def handler(msg):\n" + rng.choice(_SAFE_BODIES), "kept"


def hostile_handlers(n: int, seed: int = 0) -> HostileStats:
    """Bind ``n`` generated handlers in one Aegis run, one frame each; check each."""
    from exolab.kernels.exokernel import Aegis
    from exolab.libos.exos.pfilter import Sender, bind_filter
    from exolab.machine.machine import Machine
    from exolab.machine.wire import Loopback
    rng = random.Random(seed)
    cases = [_hostile_handler(rng) for _ in range(n)]
    seen: list[tuple[str, str, float]] = []

    def main(os: Any) -> int:
        tx = Sender(os)
        for i, (source, _) in enumerate(cases):
            t0 = time.perf_counter()
            ring = bind_filter(os, tcp_filter(i % 60000))
            try:
                ring.attach_handler(source)
            except SyscallError:
                seen.append(("refused", "", time.perf_counter() - t0))
                ring.close()
                continue
            tx.send(tcp_frame(i % 60000))
            os.compute(3000)
            state, _, _, why = ring.info()
            seen.append(("kept" if state == "bound" else "removed", why,
                         time.perf_counter() - t0))
            ring.close()
        return 0

    m = Machine("dec5000", frames=4096, max_cycles=400_000 * n + 10_000_000)
    m.attach_nic(Loopback(latency_us=5.0))
    k = Aegis(m)
    k.boot(main)
    result = k.run()
    m.close()
    hangs = 0 if result.reason == "finished" else n - len(seen)
    refused = sum(1 for s, _, _ in seen if s == "refused")
    unsafe_ok = sum(1 for (_, want), (got, _, _) in zip(cases, seen)
                    if want == "refused" and got != "refused")
    safe_bad = sum(1 for (_, want), (got, _, _) in zip(cases, seen)
                   if want != "refused" and got == "refused")
    wrong = sum(1 for (_, want), (got, _, _) in zip(cases, seen)
                if want != "refused" and got != want)
    removed = sum(1 for s, _, _ in seen if s == "removed")
    slowest = max((t for _, _, t in seen), default=0.0)
    return HostileStats(n, refused, unsafe_ok, safe_bad, removed, hangs, wrong,
                        round(slowest * 1000, 3))


def hostile_soak(filters: int = 10_000, handlers: int = 10_000,
                 seed: int = 0) -> tuple[HostileStats, HostileStats]:
    """The long run: 10,000 hostile filters and 10,000 hostile handlers."""
    return hostile_filters(filters, seed), hostile_handlers(handlers, seed)


if __name__ == "__main__":          # python -m exolab.bench.classify: the long soak
    for stats in hostile_soak():
        print(stats)
