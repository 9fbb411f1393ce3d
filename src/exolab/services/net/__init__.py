"""The network stack, written once, placed by each kernel: Ethernet, ARP, IPv4,
ICMP echo, UDP.

The stack talks only to a packet memory, a transmit callable and a cost hook
(see :mod:`.interfaces`); the monolithic kernel places it inside the kernel
behind sockets, ExOS in the application's own address space over Aegis's
packet filters. docs/network.md describes it.

Modules, one mechanism each::

    interfaces   PacketMemory, Transmit, charge kinds and their cycles, Drop
    checksum     the Internet checksum and the IPv4 pseudo header
    eth          Ethernet II header
    arp          ARP packets and the bounded cache with one held packet per address
    ip           IPv4 header: validate, encode; dotted quads
    icmp         ICMP echo
    udp          UDP header and checksum
    stack        NetStack: input (demux, drop counters), bind, udp_send, ping
"""
from exolab.services.net.checksum import checksum, ones_sum, pseudo_sum
from exolab.services.net.interfaces import (LAYER_INSTRUCTIONS, BytesMemory, Charge, Drop,
                                            PacketMemory, Transmit, cycles_for, no_charge)
from exolab.services.net.ip import address_option, aton, default_address, ntoa
from exolab.services.net.stack import (MAX_UDP_PAYLOAD, REASONS, Datagram, EchoReply,
                                       NetStack, NetStats)

__all__ = ["NetStack", "NetStats", "Datagram", "EchoReply", "REASONS", "MAX_UDP_PAYLOAD",
           "PacketMemory", "Transmit", "Charge", "no_charge", "Drop", "BytesMemory",
           "LAYER_INSTRUCTIONS", "cycles_for", "checksum", "ones_sum", "pseudo_sum",
           "aton", "ntoa", "default_address", "address_option"]
