"""SPIN's in-kernel network path: the NIC driver raises Ether.PacketArrived.

The seed's Figure 5: packets are routed to application-specific endpoints
inside the kernel by raising one event per protocol layer. This module is the
bottom of it: the driver posts receive buffers in kernel frames, and on the
NIC's interrupt it raises ``Ether.PacketArrived`` with each frame's bytes (read
in place: DMA put them there, nothing is copied). Everything above is
extensions: an IP extension installs on ``Ether.PacketArrived`` guarded by
the EtherType and raises ``IP.PacketArrived``; UDP and TCP install on that,
guarded by the protocol number; endpoints install on ``UDP.PacketArrived``
guarded by their port (``examples/spin_packets.py``). Extensions declare, install
on and raise events through the kernel domain's ``Event`` interface
(:func:`event_interface`): declaring returns the owner's capability, which
raising always needs and installing needs when the event was declared closed
(the core events are closed: their capability is the kernel's, so Install
refuses them with EPERM; clients reach them through ``event_install`` and
:meth:`~.core.Core.install_for`). Install is handed its caller's Owner by the
gate (or by ``domain_call``: the calling process's), and installs only a
plain function of that caller: for an extension, one its own module defined;
for a process, one of its functions, run as that process (on its own
strands only, :meth:`~.kernel.Spin.as_program`).

Interface::

    NetDriver(kernel, nic, buffers=8)    posts buffers; interrupt() raises the event
    EventCap                             the owner's capability of a declared event
    event_interface(kernel) -> {proc: fn}   Declare, Install, Raise for the kernel domain
    CALLER_AWARE                         its procedures handed the caller's Owner first
    BUFFER                               bytes per receive buffer
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from types import FunctionType

from exolab.errors import SyscallError
from exolab.kernels.spin.bound import tid_of
from exolab.kernels.spin.dispatch import Event, Owner
from exolab.safe.sealed import Sealed

if TYPE_CHECKING:
    from exolab.kernels.spin.kernel import Spin

__all__ = ["NetDriver", "EventCap", "event_interface", "BUFFER", "CALLER_AWARE"]

BUFFER = 2048
CALLER_AWARE = frozenset({"Install"})


class EventCap(metaclass=Sealed):
    """The owner's capability of one declared event (opaque to verified code)."""

    __slots__ = ("_event",)

    def __init__(self, event: Event) -> None:
        self._event = event

    def __repr__(self) -> str:
        return "<Event.T>"


class NetDriver:
    """The kernel's Ethernet driver: receive buffers, the interrupt, the event."""

    def __init__(self, kernel: "Spin", nic: Any, buffers: int = 8) -> None:
        self.k = kernel
        self.nic = nic
        self.event = kernel.dispatcher.declare("Ether.PacketArrived", lambda pkt: None)
        self.received = 0
        shift = kernel.machine.memory.page_shift
        for _ in range(buffers):
            nic.post_rx(kernel.frames.alloc() << shift, BUFFER)

    def interrupt(self) -> None:
        """IRQ_NIC: raise Ether.PacketArrived for every frame (each raise one
        invocation under the cycle bound), repost its buffer."""
        k = self.k
        memory, tid = k.machine.memory, tid_of(k.machine.cpu)
        for paddr, length in self.nic.take_rx():
            self.received += 1
            packet = memory.read(paddr, length)
            try:
                k.meter.run(tid, k.dispatcher.raise_, (self.event, packet))
            except SyscallError:            # an unloaded handler, an overrun: contained
                pass
            self.nic.post_rx(paddr, BUFFER)
        self.nic.take_tx_done()


def _callee_code(k: "Spin", caller: Owner, fn: Any, what: str) -> Any:
    """Decode ``fn``, a handler or guard ``caller`` installs: a plain function of
    the caller (EINVAL otherwise); a process's is wrapped to run as that process."""
    if type(fn) is not FunctionType:
        raise SyscallError("EINVAL", f"the {what} must be a plain function")
    if caller.pid is None:
        if k.owner_of(fn) is not caller:
            raise SyscallError("EPERM", f"the {what} must be the installing extension's")
        return fn
    proc = k.processes.get(caller.pid)
    if proc is None:
        raise SyscallError("ESRCH", "the installing process is gone")
    return k.as_program(proc, fn, False if what == "guard" else None)


def event_interface(k: "Spin") -> dict[str, Callable[..., Any]]:
    """The kernel domain's Event interface for extensions."""
    d = k.dispatcher

    def declare(name: Any, closed: Any) -> EventCap:
        if type(closed) is not bool:
            raise SyscallError("EINVAL", "closed must be a bool")
        cap = EventCap(Event(name, lambda *a: None, None, None))   # placeholder cap
        ev = d.declare(name, lambda *a: None, cap=cap if closed else None)
        cap._event = ev
        return cap

    def install(caller: Owner, name: Any, handler: Any, guard: Any, cap: Any) -> None:
        ev = d.events.get(name) if type(name) is str else None
        if ev is None:
            raise SyscallError("ENOENT", "no such event", event=name)
        if ev.cap is not None and cap is not ev.cap:
            raise SyscallError("EPERM", "installing needs the event owner's capability",
                               event=name)
        if type(caller) is not Owner or caller.trusted:
            raise SyscallError("EPERM", "no installer named", event=name)
        h = _callee_code(k, caller, handler, "handler")
        g = None
        if guard is not None:
            g = _callee_code(k, caller, guard, "guard")
        elif caller.pid is not None:        # a process's handler: its own strands only
            g = k.as_program(k.processes[caller.pid], None, False)
        d.install(ev, h, g, cap, caller)

    def raise_(cap: Any, arg: Any) -> Any:
        if type(cap) is not EventCap or d.events.get(cap._event.name) is not cap._event:
            raise SyscallError("EPERM", "raising needs the event owner's capability")
        return d.raise_(cap._event, arg)

    return {"Declare": declare, "Install": install, "Raise": raise_}
