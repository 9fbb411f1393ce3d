"""Monolithic kernel RPC: a name service plus a pair of pipes per connection.

A Unix kernel has no RPC primitive; a client and a server talk through the
kernel's byte streams. This module provides the rendezvous: a server
registers a name and accepts connections; a client's connect creates a
request pipe and a reply pipe and hands one end of each to either side. The
calls themselves are ordinary ``write``/``read`` system calls made by the
C library (:mod:`exolab.kernels.monolithic.libc`), so an RPC round trip
costs four system calls, two copies each way and two context switches.

The name service is a mechanism object, :class:`RpcNames`, that owns its
state (services, the clients waiting for a name, the connects to fail) and
needs only the scheduler; the kernel holds one as ``kernel.rpc``.

Interface::

    Service(name, server)
    RpcNames(sched)                 services, waiters, hopeless, statistics() -> RpcStats
    sys_rpc_register(k, cpu, proc, name)
    sys_rpc_connect(k, cpu, proc, name) -> (req_wfd, rep_rfd)
    sys_rpc_accept(k, cpu, proc, name) -> (req_rfd, rep_wfd)
    server_exited(k, proc)        drop the connections ``proc`` never accepted
    no_server(k) -> bool          nothing can run: fail every waiting connect (ESRCH)

A connect waits for a server while anything else can run; once no thread is
ready (the idle loop found nothing to dispatch, and this kernel has no timed
sleeps or device waits, so nothing could ever serve the name), the kernel
wakes every waiting connect with ESRCH instead of letting the machine
deadlock.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exolab.errors import SyscallError
from exolab.kernels.monolithic.limits import NAME_MAX
from exolab.kernels.monolithic.pipe import MAX_FDS, Pipe, install_fd, new_pipe, release
from exolab.kernels.monolithic.proc import Process
from exolab.machine.cpu import CPU
from exolab.machine.threads import SimThread

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel

__all__ = ["Service", "RpcNames", "RpcStats", "sys_rpc_register", "sys_rpc_connect", "sys_rpc_accept",
           "server_exited", "no_server"]


@dataclass(slots=True, eq=False)
class Service:
    """A registered name; ``pending`` holds connections not yet accepted."""

    name: str
    server: Process
    pending: list[tuple[Pipe, Pipe]] = field(default_factory=list)
    accept_q: list[SimThread] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RpcStats:
    """Names served now (a level); registrations, connections, accepts and
    connects refused with ESRCH so far (counters)."""

    names: int
    registered: int
    connects: int
    accepts: int
    refused: int


class RpcNames:
    """The rendezvous state: who serves each name and who waits for one."""

    __slots__ = ("sched", "services", "waiters", "hopeless", "registered", "connects",
                 "accepts", "refused")

    def __init__(self, sched: Any) -> None:
        self.sched = sched
        self.services: dict[str, Service] = {}
        self.waiters: dict[str, list[SimThread]] = {}   # name -> connects asleep
        self.hopeless: set[int] = set()         # tids of connects to fail with ESRCH
        self.registered = self.connects = self.accepts = self.refused = 0

    def served(self, name: str) -> bool:
        """Whether a live process serves ``name``."""
        svc = self.services.get(name)
        return svc is not None and svc.server.state == "live"

    def waiting(self, name: str) -> list[SimThread]:
        """The queue of connects asleep waiting for ``name``."""
        q = self.waiters.get(name)
        if q is None:
            q = self.waiters[name] = []
        return q

    def statistics(self) -> RpcStats:
        """Return a frozen snapshot of the name service's level and counters."""
        live = sum(1 for n in self.services if self.served(n))
        return RpcStats(live, self.registered, self.connects, self.accepts, self.refused)


def _name(name: Any) -> str:
    """Decode a service name (EINVAL unless a short non-empty string)."""
    if type(name) is not str or not 0 < len(name) <= NAME_MAX:
        raise SyscallError("EINVAL", "bad service name", name=name)
    return name


def sys_rpc_register(k: "MonolithicKernel", cpu: CPU, proc: Process, name: str) -> None:
    """Register the caller as the server of ``name`` and wake waiting clients."""
    name = _name(name)
    names = k.rpc
    if names.served(name):
        raise SyscallError("EINVAL", "name already served", name=name)
    names.services[name] = Service(name, proc)
    names.registered += 1
    k.sched.wakeup(names.waiting(name))


def sys_rpc_connect(k: "MonolithicKernel", cpu: CPU, proc: Process,
                    name: str) -> tuple[int, int]:
    """Connect to ``name`` (sleeping until it is registered); return the client fds."""
    name = _name(name)
    names = k.rpc
    me = cpu.current
    while not names.served(name):
        k.sched.sleep(cpu, names.waiting(name))
        if me is not None and me.tid in names.hopeless:
            names.hopeless.discard(me.tid)
            if not names.served(name):
                names.refused += 1
                raise SyscallError("ESRCH", "no thread left that could serve the name",
                                   name=name)
    svc = names.services[name]
    if len(proc.fds) + 2 > MAX_FDS:     # decode: both descriptors and both frames, or none
        raise SyscallError("EMFILE", "too many open descriptors", limit=MAX_FDS)
    if k.frames.available() < 2:
        raise SyscallError("ENOMEM", "no frames for the connection's pipes")
    req, rep = new_pipe(k, cpu), new_pipe(k, cpu)
    fds = install_fd(proc, "pipe_w", req), install_fd(proc, "pipe_r", rep)
    svc.pending.append((req, rep))
    req.readers += 1                    # reserved for the server until it accepts
    rep.writers += 1
    names.connects += 1
    k.sched.wakeup(svc.accept_q)
    return fds


def sys_rpc_accept(k: "MonolithicKernel", cpu: CPU, proc: Process,
                   name: str) -> tuple[int, int]:
    """Take the next connection to ``name`` (sleeping until one arrives)."""
    svc = k.rpc.services.get(_name(name))
    if svc is None or svc.server is not proc:
        raise SyscallError("ESRCH", "caller does not serve this name", name=name)
    while not svc.pending:
        k.sched.sleep(cpu, svc.accept_q)
    if len(proc.fds) + 2 > MAX_FDS:     # the connection stays queued
        raise SyscallError("EMFILE", "too many open descriptors", limit=MAX_FDS)
    req, rep = svc.pending.pop(0)
    fds = install_fd(proc, "pipe_r", req), install_fd(proc, "pipe_w", rep)
    req.readers -= 1                    # the reservation becomes the descriptors
    rep.writers -= 1
    k.rpc.accepts += 1
    return fds


def no_server(k: "MonolithicKernel") -> bool:
    """Nothing can run: wake every thread waiting in connect to fail with ESRCH.
    Return whether any was woken."""
    woken = False
    for queue in k.rpc.waiters.values():
        if queue:
            k.rpc.hopeless.update(t.tid for t in queue)
            k.sched.wakeup(queue)
            woken = True
    return woken


def server_exited(k: "MonolithicKernel", proc: Process) -> None:
    """``proc`` ended: give up its reservations on connections it never accepted,
    so their clients see EPIPE and end of file instead of waiting for ever."""
    for svc in k.rpc.services.values():
        if svc.server is proc:
            for req, rep in svc.pending:
                release(k, ("pipe_r", req))
                release(k, ("pipe_w", rep))
            svc.pending.clear()
