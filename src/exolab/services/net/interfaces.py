"""The small interfaces the network stack is written against, and its costs.

The stack never sees a kernel. Packets live in a :class:`PacketMemory` (the
placement's: physical memory inside a kernel, a library OS's own address
space), frames leave through a ``transmit(addr, length) -> bool`` callable
(the placement's driver), and everything the stack does is reported through a
``charge(kind, count)`` hook that the placement turns into cycles.

Charge kinds (count in parentheses)::

    net.layer      instructions of protocol processing (a layer's fixed work)
    net.cksum      bytes summed by a checksum pass
    net.copy       bytes copied between buffers
    net.copy_cksum bytes copied with the checksum integrated into the copy

:func:`layer_cycles` and :data:`LAYER_INSTRUCTIONS` turn them into cycles on
a machine profile: the stack is the same code wherever it is placed, so what
it costs is the same too; only what the placement adds around it (traps,
copies, wakeups, switches) differs.

Interface::

    PacketMemory         Protocol: read(addr, n) -> bytes, write(addr, data)
    Transmit             Callable[[int, int], bool]
    Charge               Callable[[str, int], None];  no_charge
    Drop(reason)         the private signal of a decoder: the frame is dropped
    LAYER_INSTRUCTIONS   layer -> instructions (estimates, sourced)
    cycles_for(profile, kind, count) -> int
    BytesMemory(size)    a bytearray packet memory (tests, tools)
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

__all__ = ["PacketMemory", "Transmit", "Charge", "no_charge", "Drop",
           "LAYER_INSTRUCTIONS", "cycles_for", "BytesMemory"]

Charge = Callable[[str, int], None]
Transmit = Callable[[int, int], bool]


def no_charge(kind: str, count: int) -> None:
    """The cost hook of an unplaced stack: charges nothing."""


class PacketMemory(Protocol):
    """Byte access to the memory packet buffers live in (addresses are the placement's)."""

    def read(self, addr: int, n: int) -> bytes:
        """Return the ``n`` bytes at ``addr``."""
        ...

    def write(self, addr: int, data: bytes) -> None:
        """Store ``data`` at ``addr``."""
        ...


class Drop(Exception):
    """A frame fails a decoder's check; ``reason`` names the counter it goes to."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: layer -> instructions one pass through it executes (the same code everywhere);
#: estimates from 4.4BSD's path lengths as counted by Clark, Jacobson, Romkey and
#: Salwen, "An analysis of TCP processing overhead", IEEE Comm. 1989 (IP input
#: ~57 instructions, a protocol's header processing a few tens) -- an estimate
LAYER_INSTRUCTIONS: dict[str, int] = {
    "eth_in": 20,       # check length, compare destination, switch on EtherType
    "eth_out": 20,      # write two MACs and the EtherType
    "arp": 60,          # decode, cache update, maybe build a reply
    "ip_in": 60,        # version, lengths, fragment bits, address, protocol demux
    "ip_out": 50,       # build the header, TTL, identification
    "icmp": 40,         # echo: swap, retype, re-checksum
    "udp_in": 40,       # lengths, port lookup
    "udp_out": 40,      # build the header, pseudo header
    "drop": 10,         # count a dropped frame
}

#: a checksum pass costs what a copy of the same bytes costs: the R3000 loop loads
#: every word and adds it (one add per load instead of one store), so the load
#: stalls dominate both; an integrated copy+checksum costs the copy plus one add a
#: word (0.25 of a copy) -- estimates
_CKSUM_OF_COPY = 1.0
_INTEGRATED_OF_COPY = 1.25


def cycles_for(profile: Any, kind: str, count: int) -> int:
    """Cycles of ``count`` units of charge ``kind`` on machine ``profile``."""
    if kind == "net.layer":
        return count * profile.instruction
    if kind == "net.copy":
        return profile.copy_cost(count)
    if kind == "net.cksum":
        return int(profile.copy_cost(count) * _CKSUM_OF_COPY)
    if kind == "net.copy_cksum":
        return int(profile.copy_cost(count) * _INTEGRATED_OF_COPY)
    raise ValueError(f"unknown net charge kind {kind!r}")


class BytesMemory:
    """A packet memory backed by one bytearray (tests and tools)."""

    __slots__ = ("data",)

    def __init__(self, size: int) -> None:
        self.data = bytearray(size)

    def read(self, addr: int, n: int) -> bytes:
        """Return the ``n`` bytes at ``addr``."""
        return bytes(self.data[addr:addr + n])

    def write(self, addr: int, data: bytes) -> None:
        """Store ``data`` at ``addr``."""
        self.data[addr:addr + len(data)] = data
