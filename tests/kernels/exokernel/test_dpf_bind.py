"""Aegis's packet-filter binding: DPF_BIND/UNBIND/INFO, the receive ring, NET_SEND."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.errors import SyscallError
from exolab.kernels.exokernel import Aegis
from exolab.kernels.exokernel.dpf_rx import SHARE
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.pfilter import Sender, bind_filter
from exolab.machine.machine import Machine
from exolab.machine.wire import Loopback


def udp_filter(port: int) -> list[tuple[Any, ...]]:
    """IPv4/UDP to ``port``, skipping a variable-length IP header."""
    return [("eq", 12, 2, 0xFFFF, 0x0800), ("shift", 14), ("eq", 9, 1, 0xFF, 17),
            ("shift", 0, 1, 0x0F, 4), ("eq", 2, 2, 0xFFFF, port)]


def udp_frame(port: int, ihl: int = 5, payload: bytes = b"hello") -> bytes:
    """A minimal Ethernet/IPv4/UDP frame to ``port`` (checksums not needed here)."""
    eth = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
    ip = bytes([0x40 | ihl, 0]) + (20 + 8 + len(payload)).to_bytes(2, "big") + \
        bytes(4) + bytes([64, 17]) + bytes(2) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
    ip += bytes(4 * (ihl - 5))
    udp = (5000).to_bytes(2, "big") + port.to_bytes(2, "big") + \
        (8 + len(payload)).to_bytes(2, "big") + bytes(2)
    return eth + ip + udp + payload


def boot(program: Any, *args: Any) -> tuple[Machine, Aegis]:
    """A machine with a loopback NIC, Aegis, ``program`` booted (trusted)."""
    m = Machine("dec5000", frames=4096)
    m.attach_nic(Loopback(latency_us=5.0))
    k = Aegis(m)
    k.boot(program, *args)
    return m, k


def test_a_bound_filter_receives_its_frames_and_nothing_else() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        ring = bind_filter(os, udp_filter(7))
        tx = Sender(os)
        tx.send(udp_frame(9))                 # nobody's: dropped by Aegis
        tx.send(udp_frame(7, ihl=6, payload=b"seven"))
        got = ring.recv()
        out["frame"] = got
        out["info"] = ring.info()
        ring.close()
        out["after"] = os.aegis(Sys.DPF_INFO, ring.fid)
        return 0

    m, k = boot(main)
    r = k.run()
    assert r.reason == "finished", k.faults
    assert out["frame"][:len(udp_frame(7, ihl=6, payload=b"seven"))] == \
        udp_frame(7, ihl=6, payload=b"seven")
    assert out["info"] == ("bound", 1, 0, "")
    assert out["after"][0] == "removed" and out["after"][3] == "unbind"
    s = k.net.statistics()
    assert (s.delivered, s.unclaimed, s.tx_frames, s.filters, s.binds) == (1, 1, 2, 0, 1)
    assert s.classify_cycles > 0


def test_overlap_with_another_environment_is_refused_unless_shared() -> None:
    out: dict[str, Any] = {}

    def child(os: Any, share: bool) -> int:
        try:
            bind_filter(os, udp_filter(7), share=share)
            out[f"child{share}"] = "bound"
        except SyscallError as ex:
            out[f"child{share}"] = ex.fields["errno"]
        return 0

    def main(os: Any, share: bool) -> int:
        bind_filter(os, udp_filter(7), share=share)
        bind_filter(os, udp_filter(7), share=share)   # we may overlap ourselves
        pid = os.spawn(child, share)
        os.wait(pid)
        return 0

    for share in (False, True):
        m, k = boot(main, share)
        assert k.run().reason == "finished", k.faults
    assert out == {"childFalse": "EBUSY", "childTrue": "bound"}


def test_ring_revocation_and_death_remove_the_filter() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        ring = bind_filter(os, udp_filter(7))
        os.munmap(ring.vaddr, 4096)               # frees the ring page: its cap dies
        tx = Sender(os)
        tx.send(udp_frame(7))
        os.compute(5000)
        os.yield_()
        out["info"] = ring.info()
        bind_filter(os, udp_filter(8))            # left bound: dies with us
        return 0

    m, k = boot(main)
    assert k.run().reason == "finished", k.faults
    assert out["info"][0] == "removed" and out["info"][3] == "ring revoked"
    s = k.net.statistics()
    assert s.filters == 0 and s.removed == 2 and s.delivered == 0


@pytest.mark.parametrize("spec, errno", [
    ("x", "EINVAL"), ([], "EINVAL"), ([("eq", 0, 3, 0xFF, 1)], "EINVAL"),
    ([("eq", 0, 1, 0x0F, 0x10)], "EINVAL"), ([("shift", 14)], "EINVAL"),
    ([("eq", 1513, 2, 0xFFFF, 1)], "EINVAL"), ([("eq", 0, 1, True, 1)], "EINVAL"),
    ([("shift", 0, 1, 0xFF, 8), ("shift", 0, 1, 0xFF, 8), ("eq", 0, 1, 1, 1)], "EINVAL"),
])
def test_malformed_filters_are_refused_at_bind(spec: Any, errno: str) -> None:
    out: list[str] = []

    def main(os: Any) -> int:
        try:
            bind_filter(os, spec)
        except SyscallError as ex:
            out.append(ex.fields["errno"])
        return 0

    m, k = boot(main)
    assert k.run().reason == "finished", k.faults
    assert out == [errno]
    assert k.net.statistics().refused == 1


def test_bind_decodes_its_ring_and_flags() -> None:
    out: list[str] = []

    def main(os: Any) -> int:
        good = udp_filter(7)
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        ro = os.aegis(Sys.CAP_DERIVE, h, ("read",))
        for ring, flags in (([h], 2), ([], 0), ([h, h], 0), ([12345], 0), ([ro], 0),
                            (h, 0), ([h], True)):
            try:
                os.aegis(Sys.DPF_BIND, good, ring, flags)
                out.append("ok")
            except SyscallError as ex:
                out.append(ex.fields["errno"])
        return 0

    m, k = boot(main)
    assert k.run().reason == "finished", k.faults
    assert out == ["EINVAL", "EINVAL", "EINVAL", "EBADF", "EPERM", "EINVAL", "EINVAL"]


def test_send_decodes_and_needs_a_nic() -> None:
    out: list[str] = []

    def main(os: Any) -> int:
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        for args in ((h, 0, 13), (h, 4000, 200), (h, -1, 60), (0, 0, 60), (h, 0, 60)):
            try:
                os.aegis(Sys.NET_SEND, *args)
                out.append("ok")
            except SyscallError as ex:
                out.append(ex.fields["errno"])
        return 0

    k = Aegis(Machine("dec5000", frames=4096))
    k.boot(main)
    assert k.run().reason == "finished", k.faults
    assert out == ["EINVAL", "EINVAL", "EINVAL", "EBADF", "ENODEV"]


def test_share_flag_is_the_only_flag() -> None:
    assert SHARE == 1
