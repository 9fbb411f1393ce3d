"""The seed's Figure 5: packets routed through Ethernet -> IP -> UDP/TCP events to
application-specific endpoints inside the kernel, on the simulated NIC.

Covers: the kernel's NIC driver raising Ether.PacketArrived on the receive
interrupt; extensions that declare events (Event.Declare returns the owner's
capability, which Event.Raise needs), install guarded handlers on other
extensions' events (Event.Install) and raise their own; one event, several
guarded handlers (UDP and TCP on IP.PacketArrived; two UDP endpoints);
default handlers for packets no guard takes; every protocol layer a
procedure call in the kernel (no trap, no copy, no address-space switch).

Scenario: the program loads six extensions, links each against the kernel
domain and calls its Init: IP (on Ether, EtherType 0x0800), UDP and TCP (on
IP, protocol 17 and 6), an echo endpoint on UDP port 7, a "video" endpoint on
UDP port 5000 and an HTTP endpoint on TCP port 80, then ends. The wire then
delivers six frames: they climb the events to their endpoints; an ARP frame
and a UDP datagram to port 9 fall to the defaults.

Run it: ``python examples/spin_packets.py``.
"""
from __future__ import annotations

from typing import Any

#: the ABI features this example needs beyond what every kernel provides
NEEDS: tuple[str, ...] = ("domain_create", "domain_resolve", "domain_call")

_EVENTS = '{"Event.Declare": 2, "Event.Install": 4, "Event.Raise": 2, "Console.Print": 1}'

IP = '''
INTERFACE = "IP"
EXPORTS = {"Init": 0}
IMPORTS = %s
state = {}


def IsIP(frame):
    return frame[12] == 8 and frame[13] == 0


def Handle(frame):
    return Event.Raise(state["cap"], frame[14:])


def Init():
    state["cap"] = Event.Declare("IP.PacketArrived", False)
    Event.Install("Ether.PacketArrived", Handle, IsIP, None)
''' % _EVENTS


def _transport(name: str, proto: int) -> str:
    """The UDP or TCP extension: on IP.PacketArrived for ``proto``."""
    return '''
INTERFACE = "%s"
EXPORTS = {"Init": 0}
IMPORTS = %s
state = {}


def Mine(packet):
    return packet[9] == %d


def Handle(packet):
    return Event.Raise(state["cap"], packet[(packet[0] & 15) * 4:])


def Init():
    state["cap"] = Event.Declare("%s.PacketArrived", False)
    Event.Install("IP.PacketArrived", Handle, Mine, None)
''' % (name, _EVENTS, proto, name)


def _endpoint(name: str, proto: str, port: int, header: int) -> str:
    """An application endpoint: on <proto>.PacketArrived for ``port``."""
    return '''
INTERFACE = "%s"
EXPORTS = {"Init": 0}
IMPORTS = %s
seen = [0]


def Mine(segment):
    return segment[2] * 256 + segment[3] == %d


def Handle(segment):
    seen[0] += 1
    Console.Print("  [%s on %s %d] packet " + str(seen[0]) + ": " +
                  segment[%d:].decode("ascii", "replace"))
    return True


def Init():
    Event.Install("%s.PacketArrived", Handle, Mine, None)
''' % (name, _EVENTS, port, name, proto, port, header, proto)


EXTENSIONS = [("IP", IP), ("UDP", _transport("UDP", 17)), ("TCP", _transport("TCP", 6)),
              ("Echo", _endpoint("Echo", "UDP", 7, 8)),
              ("Video", _endpoint("Video", "UDP", 5000, 8)),
              ("Http", _endpoint("Http", "TCP", 80, 20))]


def main(os: Any) -> int:
    """Load and link the protocol graph's extensions; the packets come later."""
    kernel = os.domain_kernel()
    for name, source in EXTENSIONS:
        d = os.domain_create(source)
        os.domain_resolve(kernel, d)
        os.domain_call(d, f"{name}.Init")
    os.print(f"loaded {len(EXTENSIONS)} extensions; the protocol graph is in the kernel")
    return 0


def frame(ethertype: int, proto: int = 17, port: int = 0, payload: bytes = b"") -> bytes:
    """An Ethernet frame; for IPv4 a 20-byte IP header and a UDP or TCP header."""
    eth = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + ethertype.to_bytes(2, "big")
    if ethertype != 0x0800:
        return eth + payload
    l4 = (b"\x30\x39" + port.to_bytes(2, "big") + bytes(4) if proto == 17 else
          b"\x30\x39" + port.to_bytes(2, "big") + bytes(16))
    ip = bytes([0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto]) + bytes(10)
    return eth + ip + l4 + payload


if __name__ == "__main__":
    from exolab.kernels.spin import Spin
    from exolab.machine.machine import Machine
    from exolab.safe.load import load_function

    machine = Machine("alpha")
    nic = machine.attach_nic()                  # unplugged: this script is the wire
    arrivals = [frame(0x0800, 17, 7, b"ping"), frame(0x0800, 6, 80, b"GET / HTTP/1.0"),
                frame(0x0806, payload=b"who-has"), frame(0x0800, 17, 5000, b"frame-1"),
                frame(0x0800, 17, 9, b"discard me"), frame(0x0800, 17, 5000, b"frame-2")]
    for i, f in enumerate(arrivals):
        nic.deliver(f, at=2_000_000 + 100_000 * i)
    k = Spin(machine)
    k.boot(load_function(main), name="main")
    k.run()
    for line in k.console:
        print(line)
    st = k.statistics()
    d = st.dispatch
    assert d is not None
    print(f"{k.ether.received} frames received; {d.raised} events raised, "  # type: ignore[union-attr]
          f"{d.handled} handler calls, {d.guards} guards, {d.defaults} defaults; "
          f"traps {machine.statistics().cpus[0].traps}")
