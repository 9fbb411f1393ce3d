"""Aegis's interface address: the NIC's MAC and the IPv4 address it was configured with.

Addresses are not a resource Aegis protects, only configuration a library OS
needs to build frames (the MAC is in the NIC's address ROM, the IPv4 address
is the machine's ``ip=`` option, as a boot parameter would give it). The
library stack reads them with one system call.

Interface::

    configure(k, ip) -> int | None       decode the ``ip=`` option (ConfigError)
    sys_net_addr(k, env) -> (mac, ip)    NET_ADDR; ENODEV without a NIC
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.errors import SyscallError
from exolab.services.net import address_option, default_address

if TYPE_CHECKING:
    from exolab.kernels.exokernel.env import Environment
    from exolab.kernels.exokernel.kernel import Aegis

__all__ = ["configure", "sys_net_addr"]


def configure(k: "Aegis", ip: Any) -> int | None:
    """The IPv4 address of ``k``'s first NIC: ``ip`` decoded, or derived from its MAC
    (None without a NIC)."""
    if not k.machine.nics:
        return None
    return default_address(k.machine.nics[0].mac) if ip is None else address_option(ip)


def sys_net_addr(k: "Aegis", env: "Environment") -> tuple[bytes, int]:
    """The interface's (MAC, IPv4 address as an int)."""
    if k.ip_address is None:
        raise SyscallError("ENODEV", "no network interface")
    return k.machine.nics[0].mac, k.ip_address
