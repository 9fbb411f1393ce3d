"""Hostile filters and handlers: every unsafe one refused at bind, nothing hangs.

A short fixed-seed run of ``exolab.bench.classify.hostile_filters`` /
``hostile_handlers`` (the long one is ``hostile_soak``: 10,000 of each).
"""
from __future__ import annotations

import random
from typing import Any

from exolab.bench.classify import hostile_filters, hostile_handlers
from exolab.errors import SyscallError
from exolab.kernels.exokernel import dpf
from exolab.libos.exos.pfilter import Sender, bind_filter

from .test_dpf_bind import boot, udp_filter, udp_frame


def test_hostile_filters_are_refused_and_the_accepted_classify_alike() -> None:
    s = hostile_filters(400, seed=7)
    assert s.refused > 100 and s.cases - s.refused > 100
    assert (s.unsafe_accepted, s.safe_refused, s.hangs, s.mismatches) == (0, 0, 0, 0)


def test_hostile_handlers_are_refused_removed_or_kept_as_generated() -> None:
    s = hostile_handlers(60, seed=7)
    assert s.refused > 10 and s.removed > 10
    assert (s.unsafe_accepted, s.safe_refused, s.hangs, s.mismatches) == (0, 0, 0, 0)


class _Lying(int):
    def __index__(self) -> int:
        return 5000

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = int.__hash__


def test_lying_and_odd_values_are_refused_by_type() -> None:
    for spec in ([("eq", _Lying(1), 1, 0xFF, 1)], [("eq", 0, 1, 0xFF, _Lying(1))],
                 [["eq", 0, 1, 0xFF, 1]], [("eq", 0, 1, 0xFF, 1.0)], (("shift", 14),),
                 [("eq", 0, 1, 0xFF, 1)] * (dpf.MAX_TERMS + 1)):
        try:
            dpf.decode(spec)
        except SyscallError as ex:
            assert ex.fields["errno"] == "EINVAL"
        else:
            raise AssertionError(spec)


def test_random_frames_to_a_bound_filter_never_crash_the_kernel() -> None:
    out: dict[str, Any] = {}
    rng = random.Random(3)
    frames = [rng.randbytes(rng.randrange(14, 200)) for _ in range(40)]
    frames += [udp_frame(7)[:n] for n in range(14, 43)] + [udp_frame(7, ihl=15)]

    def main(os: Any) -> int:
        ring = bind_filter(os, udp_filter(7), pages=16)
        tx = Sender(os)
        for f in frames:
            tx.send(f)
            os.compute(3000)
        got = 0
        while ring.poll() is not None:
            got += 1
        out["got"] = got
        return 0

    m, k = boot(main)
    assert k.run().reason == "finished", k.faults
    s = k.net.statistics()
    assert s.rx_frames == len(frames) and out["got"] == s.delivered
    assert s.delivered + s.unclaimed + s.ring_full == len(frames)
    assert s.delivered >= 2           # the whole frame and the long-header one


def test_random_arguments_to_every_network_call_only_ever_raise_errnos() -> None:
    from exolab.kernels.exokernel.syscall import Sys
    rng = random.Random(11)
    junk: list[Any] = [None, 0, -1, 1 << 70, 3.5, "x", b"\x00", [], (), [1, 2], {"a": 1},
                       _Lying(3), True, [("eq", 0, 1, 1, 1)], ("eq", 0, 1, 1, 1),
                       [[("eq",)]], [("shift", 0, 1, 0xFF, 8)] * 40, "def handler(m):\n"]
    calls = [(Sys.DPF_BIND, 3), (Sys.DPF_UNBIND, 1), (Sys.DPF_INFO, 1),
             (Sys.NET_SEND, 3), (Sys.ASH_BIND, 3)]
    leaks: list[str] = []
    done: dict[str, int] = {}

    def main(os: Any) -> int:
        ring = bind_filter(os, udp_filter(7))
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        pool = junk + [ring.fid, h, [h]]
        for _ in range(600):
            number, nargs = rng.choice(calls)
            args = [rng.choice(pool) for _ in range(nargs)]
            try:
                os.aegis(number, *args)
            except SyscallError:
                pass
            except Exception as ex:         # anything else escaping is a kernel bug
                leaks.append(f"{number} {type(ex).__name__}: {ex}")
        done["ok"] = 1
        return 0

    m, k = boot(main)
    assert k.run().reason == "finished", k.faults
    assert done == {"ok": 1} and leaks == []
