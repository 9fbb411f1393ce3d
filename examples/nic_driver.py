"""A NIC driver SIP and a network-stack SIP talking over the seed's contracts.

Covers: Singularity's contract-based channels used directly (``os.channel``,
``os.send``, ``os.receive``), the shipped contracts ``NicDevice`` and
``NicEvents`` (``kernels/singularity/contracts``), an endpoint sent as a
capability (``RegisterForEvents``), packet buffers moved through the exchange
heap (``os.exheap_new``: the owner changes, nothing is copied), manifests in
their plain-constant form, and a contract violation refused before delivery.

Scenario: the stack (the first SIP) makes a ``NicDevice`` channel and starts
the driver SIP with the channel's Exp end, the one endpoint the driver's
manifest declares. The driver announces itself (``DeviceInfo``); the stack
registers for events by sending the Exp end of a new ``NicEvents`` channel,
sets parameters and starts I/O; it hands the driver an empty receive buffer
(``PacketForReceive``); the driver posts a DMA buffer in its own heap to
the simulated NIC (its manifest declares the NIC as a system resource),
sleeps until the NIC's interrupt says a frame arrived from the wire, puts it
in the stack's buffer, signals ``NicEvent(ReceiveEvent)`` and gives the
buffer back on ``GetReceivedPacket``.
Last, the driver tries to send ``Success`` where the contract expects a
request: the kernel refuses it and faults the driver; the stack sees the
channel close and runs on.

Run it: ``python examples/nic_driver.py``.
"""
from __future__ import annotations

from typing import Any

FRAME = b"\x00\x1b\x21\x3a\x4f\x50 hello from the wire"  # what the wire delivers


def driver(os: Any, nic: Any) -> None:
    """The NIC driver: serves NicDevice on ``nic`` (its Exp end)."""
    os.send(nic, "DeviceInfo", 1000)
    _name, (events,) = os.receive(nic)                      # RegisterForEvents
    _name, (mtu,) = os.receive(nic)                         # SetParameters
    os.send(nic, "Success")
    os.receive(nic)                                         # StartIO
    _name, (buffer,) = os.receive(nic)                      # PacketForReceive
    ring = os.mmap(4096)                                    # its own heap: DMA target
    os.nic_post(ring, mtu)
    os.send(nic, "Success")
    (addr, length), = os.nic_wait()                         # the NIC's interrupt
    os.exheap_write(buffer, os.load_bytes(addr, length))    # into the stack's buffer
    os.send(events, "NicEvent", "ReceiveEvent")
    os.receive(events)                                      # AckEvent
    os.receive(nic)                                         # GetReceivedPacket
    os.send(nic, "ReceivedPacket", buffer)
    os.send(nic, "Success")                                 # not allowed here


driver.manifest = ("driver", (("nic", "NicDevice", "Exp"),),   # type: ignore[attr-defined]
                   (), (("nic", 1),))                     # system resource: the NIC


def stack(os: Any) -> None:
    """The network stack: configures the NIC, receives one packet."""
    nic_exp, nic = os.channel("NicDevice")
    pid = os.spawn(driver, nic_exp, name="nic-driver")
    name, (speed,) = os.receive(nic)
    os.print("stack: got", name, speed, "Mb/s")
    ev_exp, events = os.channel("NicEvents")
    os.send(nic, "RegisterForEvents", ev_exp)
    os.send(nic, "SetParameters", 1500)
    os.print("stack: configure ->", os.receive(nic)[0])
    os.send(nic, "StartIO")
    os.send(nic, "PacketForReceive", os.exheap_new(bytes(64)))
    os.print("stack: buffer handed over ->", os.receive(nic)[0])
    name, (kind,) = os.receive(events)
    os.print("stack: event", name, kind)
    os.send(events, "AckEvent")
    os.send(nic, "GetReceivedPacket")
    name, (packet,) = os.receive(nic)
    os.print("stack:", name, os.exheap_read(packet)[6:])
    os.print("stack: then", os.receive(nic))
    os.print("stack: driver ended:", os.wait(pid)[1].split(" (")[0])


stack.manifest = ("stack", (), (), (), ("NicDevice", "NicEvents"))   # type: ignore[attr-defined]


if __name__ == "__main__":
    from exolab.kernels.singularity import Singularity
    from exolab.kernels.singularity.contract import Catalogue
    from exolab.machine.machine import Machine
    from exolab.safe.load import load_function

    machine = Machine("athlon64")
    nic = machine.attach_nic()                  # unplugged: the script is the wire
    nic.deliver(FRAME, at=1_000_000)            # a frame arrives at cycle 1,000,000
    k = Singularity(machine, catalogue=Catalogue.shipped())
    k.boot(load_function(stack), name="stack")
    result = k.run()
    for line in k.console:
        print(line)
    st = k.statistics()
    print(f"run: {result.reason}; faults: {[(pid, w.split(':')[0]) for pid, w, _ in k.faults]}")
    print(f"channels: {st.channels.sends} sends, {st.channels.receives} receives, "
          f"{st.channels.blocks_moved} blocks and {st.channels.endpoints_moved} endpoints "
          f"moved, {st.channels.violations} violation; traps: "
          f"{k.machine.statistics().cpus[0].traps}; NIC: "
          f"{nic.statistics().rx_frames} frame received by DMA")
