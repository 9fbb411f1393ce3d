"""Figure 5: the NIC driver's event and extensions routing packets by guards."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from exolab.kernels.spin import Spin
from exolab.machine.machine import Machine
from exolab.safe.load import load_function

_SPEC = importlib.util.spec_from_file_location(
    "spin_packets", Path(__file__).resolve().parents[3] / "examples" / "spin_packets.py")
assert _SPEC is not None and _SPEC.loader is not None
ex: Any = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ex)

BROKEN_ECHO = ex._endpoint("Echo", "UDP", 7, 8).replace("seen[0] += 1", "seen[0] += 1 // 0")


def _run(extensions: list[tuple[str, str]], frames: list[bytes]) -> Spin:
    machine = Machine("alpha")
    nic = machine.attach_nic()
    for i, f in enumerate(frames):
        nic.deliver(f, at=2_000_000 + 50_000 * i)
    ex.EXTENSIONS[:] = extensions
    k = Spin(machine)
    k.boot(load_function(ex.main), name="main")
    k.run()
    return k


def test_packets_reach_their_endpoints_through_guarded_events() -> None:
    original = list(ex.EXTENSIONS)
    try:
        k = _run(original, [ex.frame(0x0800, 17, 7, b"a"), ex.frame(0x0800, 6, 80, b"b"),
                            ex.frame(0x0806, payload=b"arp")])
    finally:
        ex.EXTENSIONS[:] = original
    assert k.console[1:] == ["  [Echo on UDP 7] packet 1: a", "  [Http on TCP 80] packet 1: b"]
    assert k.ether is not None and k.ether.received == 3
    assert k.statistics().dispatch.defaults == 1    # the ARP frame  # type: ignore[union-attr]


def test_a_faulting_endpoint_is_unloaded_and_routing_goes_on() -> None:
    original = list(ex.EXTENSIONS)
    broken = [(n, BROKEN_ECHO if n == "Echo" else s) for n, s in original]
    try:
        k = _run(broken, [ex.frame(0x0800, 17, 7, b"x"), ex.frame(0x0800, 17, 5000, b"v"),
                          ex.frame(0x0800, 17, 7, b"y")])
    finally:
        ex.EXTENSIONS[:] = original
    assert k.console[1:] == ["  [Video on UDP 5000] packet 1: v"]
    assert k.statistics().unloaded == 1
    assert k.machine.panic is None
