"""The ABI's rpc names on Mach: a name service handing out send rights to ports.

The monolithic kernel builds RPC from pipes because a UNIX kernel has no RPC
primitive; Mach has one, so the ABI's ``rpc_serve``/``rpc_connect``/
``rpc_call`` are Mach RPCs (each call one ``mach_msg`` that sends with a
send-once reply right and receives the reply, the server's loop a
reply-and-receive), as the papers measured each system with its own IPC.
This module is the rendezvous (Mach's name server, kept in the kernel like
the bootstrap names): ``rpc_register`` publishes a port under a name,
``rpc_lookup`` waits for one and gives a send right. It shares the
monolithic kernel's rule for a wait that can never end (its ``RpcNames``:
the idle loop fails every waiting lookup with ESRCH when nothing can run).

Interface::

    served(k, name) -> bool
    rpc_register(k, cpu, proc, name, port_name)    the caller's receive right
    rpc_lookup(k, cpu, proc, name) -> name          a send right (waits; ESRCH)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.errors import SyscallError
from exolab.kernels.mach.ports import RECEIVE, SEND
from exolab.kernels.monolithic.limits import NAME_MAX
from exolab.kernels.monolithic.rpc import Service

if TYPE_CHECKING:
    from exolab.kernels.mach.kernel import MachKernel

__all__ = ["served", "rpc_register", "rpc_lookup"]


def _name(name: Any) -> str:
    """Decode a service name (EINVAL unless a short non-empty string)."""
    if type(name) is not str or not 0 < len(name) <= NAME_MAX:
        raise SyscallError("EINVAL", "bad service name", name=name if type(name) is str
                           else None)
    return name


def served(k: "MachKernel", name: str) -> bool:
    """Whether a live task serves ``name`` through a live port."""
    port = k.rpc_ports.get(name)
    return port is not None and not port.dead and k.rpc.served(name)


def rpc_register(k: "MachKernel", cpu: Any, proc: Any, name: Any, port_name: Any) -> None:
    """Publish the port whose receive right ``port_name`` is under ``name``."""
    name = _name(name)
    port = k.ipc.space(proc).lookup(port_name, RECEIVE).obj
    if served(k, name):
        raise SyscallError("EINVAL", "name already served", name=name)
    k.rpc.services[name] = Service(name, proc)
    k.rpc_ports[name] = port
    k.rpc.registered += 1
    k.sched.wakeup(k.rpc.waiting(name))


def rpc_lookup(k: "MachKernel", cpu: Any, proc: Any, name: Any) -> int:
    """A send right to ``name``'s port, sleeping until it is served (ESRCH once
    nothing is left that could serve it)."""
    name = _name(name)
    names, me = k.rpc, cpu.current
    while not served(k, name):
        k.sched.sleep(cpu, names.waiting(name))
        if me is not None and me.tid in names.hopeless:
            names.hopeless.discard(me.tid)
            if not served(k, name):
                names.refused += 1
                raise SyscallError("ESRCH", "no thread left that could serve the name",
                                   name=name)
    names.connects += 1
    return k.ipc.space(proc).insert(k.rpc_ports[name], SEND)
