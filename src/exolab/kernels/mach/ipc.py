"""Mach IPC: the message path, send and receive, every step charged.

``mach_msg`` is one trap that may send, then receive. Sending decodes first
— the header (:func:`message.parse_header`), the destination and reply names
in the sender's space with the rights their dispositions need, every typed
body item and the rights it carries, the queue limit, a kmsg from the zone —
and only then invokes: the body is copied into the kmsg (first copy), rights
are moved or made, and the kmsg is queued on the destination port, waking a
receiver. Receiving takes the first message of a port or port set (blocking
until there is one), rewrites the header in the receiver's names, inserts
the rights it carries into the receiver's space and copies the body out
(second copy), then frees the kmsg. A reply right is a send-once right: the
one message it allows consumes it; if a kmsg holding one is destroyed (its
port died), the kernel sends a send-once notification to the reply port, so
an RPC client whose server died is woken with ``EPIPE``. A notification is a
count on its port (``Port.notices``) made into a message only when received,
so it takes no kmsg and cannot fail; a send-once message (a reply) is not
held to the queue limit (its right is its slot, as ``ipc_mqueue_send``
exempts it); a receive right may not be sent to a port whose own receive
right it (transitively) carries (``ipc_port_check_circularity``), so no
ports in flight are reachable from nothing; a receive dequeues only what the
receiver's space has room for. Each user kmsg's pages (but a thread wake's:
one per wait port, bounded by the task's threads) are charged to one principal (:mod:`.quota`: the task tree of one
program) through one task: the sender, or for a message sent on a send-once
right the task that made the right (an RPC client pays for its reply); past
``KMSG_QUOTA`` pages the send is ``EAGAIN`` and nothing changes. The charge
ends when the kmsg is freed, not when its sender exits (the message stays
queued, charged to the principal); a send whose principal is under pressure
may not take the zone's light reserve (``ENOMEM``). Kernel work a task
causes beyond its own message — a send-once notification posted, sleepers
woken by a port's or a set's change — is charged to the cpu of the task
that caused it (an enqueue's cost each).

Every stage charges its path row (:mod:`.paths`) and touches its pages
through the TLB (:mod:`.footprint`); a switch is the scheduler's (the
``mach_switch`` path, the registers, the address space).

Interface::

    NOTIFY_SEND_ONCE           msg_id of the kernel's send-once notification
    Ipc(kernel)
      space(task) -> PortSpace                 (created on first use)
      send(cpu, task, raw_header, body, privileged=False, kobject=False, wake=False)
                                               -> Kmsg
      receive(cpu, task, name, poll=False) -> Received
      send_kmsg(cpu, port, kmsg) -> None       (kernel-originated messages: the pager)
      kernel_kmsg(port, reply, reply_bits, msg_id, body, privileged=True) -> Kmsg
      consume(kmsg)              the kernel took a kmsg: its rights destroyed, freed
      kill_kernel_port(port)     a kernel-held port (a pager reply port) dies
      allocate(task) -> name      destroy(task, name)     deallocate(task, name)
      make_send(task, name) -> name
      pset_allocate(task) -> name  pset_add(task, set_name, port_name)
      adopt(task, parent)        a new task joins its creator's principal
      drop_task(task)            statistics() -> IpcStats
      quota                      the per-principal ledger of kmsg pages (quota.Quotas)
    Received                   (msg_id, reply name, data, [names of port items])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.mach import message as msg
from exolab.kernels.mach.footprint import (KDATA_PHYS, KDATA_VPN, UBUF_VPN, Footprint,
                                           FootprintStats)
from exolab.kernels.mach.limits import (HEADER_SIZE, KMSG_FIRST, KMSG_FRAMES, KMSG_LIGHT,
                                       KMSG_LIGHT_RESERVE, KMSG_QUOTA, KMSG_RESERVE)
from exolab.kernels.mach.message import Kmsg, KmsgZone, ZoneStats
from exolab.kernels.mach.quota import Quotas
from exolab.kernels.mach.ports import (DEAD, PORT_SET, RECEIVE, SEND, SEND_ONCE, Port,
                                       PortSet, PortSpace, kill_port)

if TYPE_CHECKING:
    from exolab.kernels.mach.kernel import MachKernel

__all__ = ["NOTIFY_SEND_ONCE", "IN_FLIGHT", "Ipc", "IpcStats", "Received"]

NOTIFY_SEND_ONCE = 0x47     # MACH_NOTIFY_SEND_ONCE
IN_FLIGHT = "in flight"     # the receiver of a port whose receive right is in a message

#: disposition -> (the right the sender must hold, the right the message carries)
_NEEDS = {msg.MOVE_SEND: (SEND, SEND), msg.COPY_SEND: (SEND, SEND),
          msg.MAKE_SEND: (RECEIVE, SEND), msg.MAKE_SEND_ONCE: (RECEIVE, SEND_ONCE),
          msg.MOVE_SEND_ONCE: (SEND_ONCE, SEND_ONCE), msg.MOVE_RECEIVE: (RECEIVE, RECEIVE)}


@dataclass(frozen=True, slots=True)
class Received:
    """What a receive hands the task: all names are the receiver's."""

    msg_id: int
    reply: int | None
    data: bytes
    rights: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class IpcStats:
    """Messages, ports and the kernel buffers and pages they took."""

    sent: int
    received: int
    ports: int
    dead_ports: int
    bytes_copied_in: int
    bytes_copied_out: int
    zone: ZoneStats
    footprint: FootprintStats


def _space_line(task: Any) -> int:
    """Physical address of ``task``'s name-space header and entry (two lines)."""
    return KDATA_PHYS + ((getattr(task, "pid", 0) & 63) << 6)


def _port_line(port: Port) -> int:
    """Physical address of ``port``'s lock and message queue (two lines)."""
    return KDATA_PHYS + 0x1000 + ((port.pid & 127) << 7)


def _thread_line(cpu: Any) -> int:
    """Physical address of the running thread's structure, pcb and stack top (four lines)."""
    t = cpu.current
    return KDATA_PHYS + 0x5000 + (((t.tid if t is not None else 0) & 63) << 7)


class Ipc:
    """Ports, spaces and the message path of one kernel."""

    def __init__(self, kernel: "MachKernel") -> None:
        self.k = kernel
        p = kernel.paths
        self.zone = KmsgZone(kernel.machine.memory,
                             range(KMSG_FIRST, KMSG_FIRST + KMSG_FRAMES), KMSG_RESERVE,
                             KMSG_LIGHT_RESERVE)
        self.quota = Quotas(KMSG_QUOTA, KMSG_LIGHT)
        self.fp = Footprint(kernel.machine.cpu, p)
        self.spaces: dict[int, PortSpace] = {}         # id(task) -> its space
        # a mach_msg trap: Mach's system-call path, then the message path proper
        self.c_msg = p["mach_syscall_path"] + p["mach_msg_path"]
        self.c_hdr = p["mach_header_parse"]
        self.c_name = p["mach_name_lookup"] + p["mach_right_check"]
        self.c_item, self.c_alloc = p["mach_item_parse"], p["mach_kmsg_alloc"]
        self.c_page, self.c_free = p["mach_kmsg_page"], p["mach_kmsg_free"]
        self.c_enq, self.c_deq = p["mach_enqueue"], p["mach_dequeue"]
        self.c_out, self.c_insert = p["mach_copyout_header"], p["mach_name_insert"]
        self.profile = kernel.machine.profile
        self._next_port = 1
        self.sent = self.received = self.dead = 0

    # -- objects ------------------------------------------------------------------

    def space(self, task: Any) -> PortSpace:
        """The port name space of ``task`` (created empty on first use)."""
        s = self.spaces.get(id(task))
        if s is None:
            s = self.spaces[id(task)] = PortSpace(task)
        return s

    def new_port(self, task: Any) -> Port:
        """A fresh port whose receive right ``task`` holds (not yet named)."""
        port = Port(self._next_port, task)
        self._next_port += 1
        return port

    def allocate(self, task: Any) -> int:
        """port_allocate: a new port, its receive right named in ``task``'s space."""
        return self.space(task).insert(self.new_port(task), RECEIVE)

    def destroy(self, task: Any, name: Any) -> None:
        """Destroy ``name`` in ``task``'s space; a receive right kills its port."""
        space = self.space(task)
        entry = space.lookup(name, RECEIVE | SEND | SEND_ONCE | PORT_SET | DEAD)
        space.remove(name)
        obj = entry.obj
        if entry.bits & SEND_ONCE:
            self._release_send_once(obj)
        if type(obj) is PortSet:
            for port in list(obj.members):
                port.pset = None
            obj.members.clear()
            self._wake_sleepers(obj.waiters)
        elif entry.bits & RECEIVE:
            self._kill(obj)

    def deallocate(self, task: Any, name: Any) -> None:
        """Drop one user reference of a send or dead-name right."""
        space = self.space(task)
        entry = space.lookup(name, SEND | SEND_ONCE | DEAD)
        entry.urefs -= 1
        if entry.bits & SEND_ONCE:
            self._release_send_once(entry.obj)
        if entry.urefs <= 0 or entry.bits & SEND_ONCE:
            entry.bits &= ~(SEND | SEND_ONCE | DEAD)
            if not entry.bits:
                space.remove(name)

    def make_send(self, task: Any, name: Any) -> int:
        """Add a send right to the port whose receive right ``name`` is (same name)."""
        space = self.space(task)
        port = space.lookup(name, RECEIVE).obj
        return space.insert(port, SEND)

    def pset_allocate(self, task: Any) -> int:
        """A new empty port set named in ``task``'s space."""
        return self.space(task).insert(PortSet(owner=task), PORT_SET)

    def pset_add(self, task: Any, set_name: Any, port_name: Any) -> None:
        """Move the port whose receive right ``port_name`` is into set ``set_name``."""
        space = self.space(task)
        pset = space.lookup(set_name, PORT_SET).obj
        port = space.lookup(port_name, RECEIVE).obj
        if port.pset is not None:
            port.pset.members.remove(port)
        port.pset = pset
        pset.members.append(port)
        if port.queue:
            self._wake_sleepers(pset.waiters)

    def _kill(self, port: Port) -> None:
        """The port's receive right is gone: dead names, wakeups, queued kmsgs freed."""
        self.dead += 1
        for kmsg in kill_port(port, self._wake_sleepers):
            self._discard(kmsg)

    def _discard(self, kmsg: Kmsg) -> None:
        """Destroy a kmsg never received: free it; a receive right it carried dies,
        and each send-once right it held turns into a send-once notification."""
        self._free(kmsg)
        rights, kmsg.rights, kmsg.makers = kmsg.rights, [], []
        for port, bits in rights:
            if bits & RECEIVE and port.receiver is not None:
                self._kill(port)        # a receive right in flight dies with it
            elif bits & SEND_ONCE:
                self._release_send_once(port)
        reply, kmsg.reply = kmsg.reply, None
        if kmsg.reply_bits == SEND_ONCE and reply is not None:
            self._release_send_once(reply)

    def _free(self, kmsg: Kmsg) -> None:
        """Return ``kmsg``'s pages to the zone and its charge to its payer."""
        self.quota.release(kmsg)
        self.zone.free(kmsg)

    def consume(self, kmsg: Kmsg) -> None:
        """The kernel took ``kmsg`` off one of its own ports: destroy what it carries
        (as a kmsg never received) and free it."""
        self.received += 1
        self._discard(kmsg)

    def kill_kernel_port(self, port: Port) -> None:
        """A port the kernel received on (a pager fault's reply port) is done: kill
        it, freeing what is queued there (no-op if already dead)."""
        if not port.dead:
            self._kill(port)

    def _release_send_once(self, port: Any) -> None:
        """A send-once right was destroyed unused: its port gets a send-once
        notification (so an RPC client waiting for the reply learns of it) — a
        count on the port, made a message when received: it never fails."""
        if type(port) is Port and not port.dead:
            self.k.machine.cpu.charge(self.c_enq)   # the task that dropped it pays
            self.sent += 1
            port.notices += 1
            self._wake(port)

    def adopt(self, task: Any, parent: Any) -> None:
        """``task`` was created by ``parent`` (None: the boot task): its principal."""
        self.quota.adopt(task, parent)

    def drop_task(self, task: Any) -> None:
        """A task ended: destroy every right it held (its receive rights kill ports,
        freeing what is queued there), then forget it in the ledger: kmsgs it sent
        that are still queued elsewhere stay deliverable, charged to its principal."""
        space = self.spaces.pop(id(task), None)
        if space is not None:
            for name, entry in list(space.entries.items()):
                space.remove(name)
                if entry.bits & SEND_ONCE:
                    self._release_send_once(entry.obj)
                if entry.bits & RECEIVE:
                    self._kill(entry.obj)
                elif type(entry.obj) is PortSet:
                    for port in list(entry.obj.members):
                        port.pset = None
        self.quota.task_ended(task)

    # -- sending --------------------------------------------------------------------

    def send(self, cpu: Any, task: Any, raw: Any, body: Any,
             privileged: bool = False, kobject: bool = False, wake: bool = False) -> Kmsg:
        """Decode a message from ``task`` completely, then copy it in and queue it;
        return the queued kmsg (``privileged``: the UX path, which may use the
        zone's reserve and is charged to no quota; ``kobject``: the destination is
        a port the kernel serves itself, so the kmsg is handed to the kernel's
        server, not queued; ``wake``: a thread wake to a wait port, which holds
        one (threads.py), charged to no quota)."""
        space = self.space(task)
        fp, asid = self.fp, cpu.asid            # (the trap charged mach_msg_path)
        fp.text("trap", asid)
        if type(body) is not bytes:
            raise SyscallError("EINVAL", "a message body is bytes", field="body")
        cpu.charge(self.c_hdr)
        hdr = msg.parse_header(raw, len(body))          # decode: the header
        fp.text("rights", asid)
        fp.data(KDATA_VPN + (id(space) >> 4 & 0x3FF), asid)
        fp.lines(_space_line(task), 32)                 # the space and its entry
        cpu.charge(self.c_name)
        dest_e = space.lookup(hdr.remote, _NEEDS[hdr.rbits][0])   # EBADF / EPERM
        dest = dest_e.obj
        if type(dest) is not Port or dest.dead:
            raise SyscallError("EPIPE", "the destination port is dead", name=hdr.remote)
        reply, reply_bits = None, 0
        if hdr.lbits:
            cpu.charge(self.c_name)
            need, reply_bits = _NEEDS[hdr.lbits]
            reply = space.lookup(hdr.local, need).obj
            if type(reply) is not Port or reply.dead:
                raise SyscallError("EPIPE", "the reply port is dead", name=hdr.local)
        items = msg.parse_body(body)                    # decode: the body
        cpu.charge(self.c_item * len(items))
        carried = self._decode_rights(cpu, space, items, dest)
        _check_moves(space, hdr, carried)
        once = _NEEDS[hdr.rbits][1] == SEND_ONCE
        if len(dest.queue) >= dest.qlimit and not once:
            raise SyscallError("EAGAIN", "the destination port's queue is full",
                               limit=dest.qlimit)      # (a send-once message is exempt)
        payer = None if privileged or wake else self._payer(task, dest_e, hdr.rbits, once)
        pages = self.zone.pages_for(HEADER_SIZE + len(body))
        light = wake                # (a token may take the light tier, as before)
        if payer is not None:
            self.quota.check(payer, pages)              # EAGAIN past the payer's quota
            light = self.quota.light(payer, pages)
        kmsg = self._alloc(cpu, HEADER_SIZE + len(body), privileged, light)  # or ENOMEM
        if payer is not None:
            self.quota.charge(payer, kmsg, pages)
        if reply_bits == SEND_ONCE:                     # who pays for the reply
            kmsg.reply_maker = task if hdr.lbits == msg.MAKE_SEND_ONCE else \
                space.entries[hdr.local].maker
        self._copyin(cpu, task, kmsg, raw + body)           # invoke from here on
        kmsg.dest, kmsg.reply, kmsg.reply_bits, kmsg.msg_id = dest, reply, reply_bits, hdr.msg_id
        kmsg.layout = [(t, len(d) if t == msg.TYPE_BYTES else 0) for t, d in items]
        self._move_rights(space, hdr.remote, dest_e, hdr.rbits, hdr.local, hdr.lbits)
        for name, disp, entry in carried:
            kmsg.rights.append((entry.obj, _NEEDS[disp][1]))
            kmsg.makers.append(task if disp == msg.MAKE_SEND_ONCE else
                               entry.maker if disp == msg.MOVE_SEND_ONCE else None)
            if disp == msg.MOVE_RECEIVE:
                entry.obj.transit = dest        # where its receive right now lies
            self._move_rights(space, name, entry, disp, 0, 0)
        if kobject:
            self.sent += 1
            return kmsg
        self.send_kmsg(cpu, dest, kmsg)
        return kmsg

    def _payer(self, task: Any, dest_e: Any, rbits: int, once: bool) -> Any:
        """The task a user message's pages are charged to: for a message on a
        send-once right its maker while that task lives, else the sender."""
        if once and rbits == msg.MOVE_SEND_ONCE:
            maker = dest_e.maker
            if maker is not None and self._alive(maker):
                return maker
        return task

    def _alive(self, task: Any) -> bool:
        """Whether ``task`` still has its name space (it has not ended)."""
        s = self.spaces.get(id(task))
        return s is not None and s.owner is task

    def kobject_reply(self, cpu: Any, request: Kmsg, data: bytes) -> None:
        """The kernel's server answers ``request`` in place (ipc_kobject_server): a
        reply kmsg is allocated and filled by the MIG routine, the request is
        destroyed, and the reply is queued on the request's reply port."""
        cpu.charge(self.c_alloc + self.c_free)
        reply_port = request.reply
        self._free(request)
        self.received += 1
        if type(reply_port) is not Port or reply_port.dead:
            return                          # nobody to answer (a send-once right lost)
        self.send_kmsg(cpu, reply_port, self.kernel_kmsg(reply_port, None, 0, 0, data))

    def kobject_drop(self, request: Kmsg) -> None:
        """Destroy a request the kernel's server will not answer (its caller ended)."""
        self._free(request)
        self.received += 1

    def _decode_rights(self, cpu: Any, space: PortSpace, items: list[tuple[int, Any]],
                       dest: Port) -> list[tuple[int, int, Any]]:
        """Look up every port item's name with the right its disposition needs."""
        carried = []
        for kind, name in items:
            if kind == msg.TYPE_BYTES:
                continue
            cpu.charge(self.c_name)
            entry = space.lookup(name, _NEEDS[kind][0])
            if type(entry.obj) is not Port or entry.obj.dead:
                raise SyscallError("EPIPE", "a carried right names a dead port", name=name)
            if kind == msg.MOVE_RECEIVE and _circular(entry.obj, dest):
                raise SyscallError("EINVAL", "a port's receive right cannot be sent to "
                                   "the port itself or to a port it carries", name=name)
            carried.append((name, kind, entry))
        return carried

    def _move_rights(self, space: PortSpace, rname: int, rentry: Any, rbits: int,
                     lname: int, lbits: int) -> None:
        """Consume what MOVE dispositions take from the sender's space."""
        for name, disp in ((rname, rbits), (lname, lbits)):
            if disp in (msg.MOVE_SEND, msg.MOVE_SEND_ONCE, msg.MOVE_RECEIVE):
                entry = space.entries.get(name)
                if entry is None:
                    continue
                if disp == msg.MOVE_RECEIVE:
                    entry.bits &= ~RECEIVE          # in flight: no task receives
                    entry.obj.receiver = IN_FLIGHT  # until it is received
                    _leave_set(entry.obj, self._wake_sleepers)
                elif disp == msg.MOVE_SEND_ONCE:
                    entry.bits &= ~SEND_ONCE
                else:
                    entry.urefs -= 1
                    if entry.urefs <= 0:
                        entry.bits &= ~SEND
                if not entry.bits & ~DEAD:
                    space.remove(name)

    def _alloc(self, cpu: Any, nbytes: int, privileged: bool, light: bool) -> Kmsg:
        """Take a kmsg for ``nbytes`` from the zone, charging its allocation (``light``:
        its payer is under no pressure, so it may take the light reserve)."""
        pages = self.zone.pages_for(nbytes)
        cpu.charge(self.c_alloc + self.c_page * (pages - 1))
        return self.zone.alloc(nbytes, privileged, light)

    def _copyin(self, cpu: Any, task: Any, kmsg: Kmsg, data: bytes) -> None:
        """The first copy: the sender's buffer into the kmsg, page by page."""
        fp, asid = self.fp, cpu.asid
        fp.text("copyin", asid)
        for i in range(len(kmsg.ppns)):
            fp.user(UBUF_VPN + i, asid)
            fp.data(KDATA_VPN + 0xC00 + (kmsg.ppns[i] & 0x3FF), asid)
        cpu.charge(self.profile.copy_cost(len(data)))
        self._lines_copy(kmsg, fp.ubuf(task), len(data), into_kmsg=True)
        self.zone.write(kmsg, data)

    def _lines_copy(self, kmsg: Kmsg, ubuf: int, n: int, into_kmsg: bool) -> None:
        """The copy's cache traffic, page by page of the kmsg (nothing without a cache)."""
        page, fp, done = self.zone.page, self.fp, 0
        if fp.cache is None:
            return
        for ppn in kmsg.ppns:
            take = min(page, n - done)
            if take <= 0:
                break
            kaddr = ppn * page
            if into_kmsg:
                fp.copy(kaddr, ubuf + done, take)
            else:
                fp.copy(ubuf + done, kaddr, take)
            done += take

    def kernel_kmsg(self, port: Port, reply: Port | None, reply_bits: int, msg_id: int,
                    body: bytes, privileged: bool = True, payer: Any = None) -> Kmsg:
        """A kmsg the kernel itself sends (a pager request: on behalf of the faulting
        task ``payer``, so not ``privileged``, charged to its quota and making its
        send-once reply right in that task's name; EAGAIN past the quota, ENOMEM if
        the zone is short)."""
        item = msg.item_bytes(body) if body else b""
        pages = self.zone.pages_for(HEADER_SIZE + len(item))
        light = False
        if payer is not None:
            self.quota.check(payer, pages)
            light = self.quota.light(payer, pages)
        kmsg = self.zone.alloc(HEADER_SIZE + len(item), privileged, light)
        if payer is not None:
            self.quota.charge(payer, kmsg, pages)
            kmsg.reply_maker = payer if reply_bits == SEND_ONCE else None
        self.zone.write(kmsg, bytes(HEADER_SIZE) + item)
        kmsg.dest, kmsg.reply, kmsg.reply_bits, kmsg.msg_id = port, reply, reply_bits, msg_id
        kmsg.layout = [(msg.TYPE_BYTES, len(body))] if body else []
        return kmsg

    def send_kmsg(self, cpu: Any, port: Port, kmsg: Kmsg) -> None:
        """Queue ``kmsg`` on ``port`` and wake its receivers (charged)."""
        cpu.charge(self.c_enq)
        self.fp.text("queue", cpu.asid)
        self.fp.data(KDATA_VPN + 0x400 + (port.pid & 0x3FF), cpu.asid)
        self.fp.lines(_port_line(port), 32)             # the port: lock, mqueue
        self._enqueue(port, kmsg)

    def _enqueue(self, port: Port, kmsg: Kmsg) -> None:
        """Append ``kmsg`` to ``port``'s queue; wake who waits on it or its set."""
        self.sent += 1
        port.queue.append(kmsg)
        self._wake(port)

    def _wake_sleepers(self, queue: list[Any]) -> None:
        """Wake the threads on ``queue`` for a change no message paid for (a port
        died, a set changed): the task whose call caused it pays an enqueue."""
        if queue:
            self.k.machine.cpu.charge(self.c_enq)
            self.k.sched.wakeup(queue)

    def _wake(self, port: Port) -> None:
        """Wake the threads receiving on ``port`` or on its set (on a message's
        path: its enqueue paid for it)."""
        wake = self.k.sched.wakeup
        wake(port.waiters)
        if port.pset is not None:
            wake(port.pset.waiters)

    # -- receiving ------------------------------------------------------------------

    def receive(self, cpu: Any, task: Any, name: Any, poll: bool = False) -> Received:
        """Take the next message on port or set ``name`` (blocking unless ``poll``:
        then EAGAIN), and copy it out into ``task``'s names and buffer."""
        space = self.space(task)
        cpu.charge(self.c_name)
        entry = space.lookup(name, RECEIVE | PORT_SET)
        while True:
            port = self._ready_port(entry.obj, name)
            if port is not None:
                break
            if poll:
                raise SyscallError("EAGAIN", "no message", name=name)
            waiters = entry.obj.waiters
            self.k.sched.sleep(cpu, waiters)
            self.fp.text("switch", cpu.asid)
            self.fp.lines(_thread_line(cpu), 64)    # the thread, its pcb, its stack
            if space.entries.get(name) is not entry:
                raise SyscallError("EPIPE", "the receive right went away", name=name)
        if port.queue:
            space.room(_rights_of(port.queue[0]))       # EAGAIN, the message kept
        cpu.charge(self.c_deq)
        self.fp.text("queue", cpu.asid)
        self.fp.lines(_port_line(port), 32)
        port.seqno += 1
        if not port.queue:
            return self._notice(cpu, task, space, port)
        return self._copyout(cpu, task, space, port.queue.popleft())

    def _ready_port(self, obj: Any, name: int) -> Port | None:
        """The port to dequeue from (None: nothing queued or pending); EPIPE for a
        dead port."""
        if type(obj) is Port:
            if obj.queue or obj.notices:
                return obj
            if obj.dead:
                raise SyscallError("EPIPE", "the port is dead", name=name)
            return None
        for port in obj.members:
            if port.queue or port.notices:
                return port
        return None

    def _notice(self, cpu: Any, task: Any, space: PortSpace, port: Port) -> Received:
        """Receive one pending send-once notification of ``port``: the header-only
        message is made in the receiver's buffer (copyout and copy charged as a
        kmsg's; no zone page is taken, so it cannot fail)."""
        fp, asid = self.fp, cpu.asid
        port.notices -= 1
        cpu.charge(self.c_out)
        fp.text("copyout", asid)
        fp.data(KDATA_VPN + (id(space) >> 4 & 0x3FF), asid)
        fp.lines(_space_line(task), 32)
        fp.user(UBUF_VPN, asid)
        cpu.charge(self.profile.copy_cost(HEADER_SIZE) + self.c_free)
        self.received += 1
        return Received(NOTIFY_SEND_ONCE, None, b"", ())

    def _copyout(self, cpu: Any, task: Any, space: PortSpace, kmsg: Kmsg) -> Received:
        """Rewrite the header into ``space``'s names, insert the carried rights,
        copy the body out (the second copy) and free the kmsg."""
        fp, asid = self.fp, cpu.asid
        cpu.charge(self.c_out)
        fp.text("copyout", asid)
        fp.data(KDATA_VPN + (id(space) >> 4 & 0x3FF), asid)
        fp.lines(_space_line(task), 32)
        reply = None
        if kmsg.reply is not None and not kmsg.reply.dead:   # (dead: MACH_PORT_DEAD)
            cpu.charge(self.c_insert)
            reply = space.insert(kmsg.reply, kmsg.reply_bits)
            if kmsg.reply_bits == SEND_ONCE:
                space.entries[reply].maker = kmsg.reply_maker
        names = []
        for i, (port, bits) in enumerate(kmsg.rights):
            cpu.charge(self.c_insert)
            if bits & RECEIVE:
                port.receiver, port.transit = task, None
            name = space.insert(port, bits)
            if bits & SEND_ONCE and i < len(kmsg.makers):
                space.entries[name].maker = kmsg.makers[i]
            names.append(name)
        for i in range(len(kmsg.ppns)):
            fp.data(KDATA_VPN + 0xC00 + (kmsg.ppns[i] & 0x3FF), asid)
            fp.user(UBUF_VPN + i, asid)
        cpu.charge(self.profile.copy_cost(kmsg.nbytes))
        self._lines_copy(kmsg, fp.ubuf(task), kmsg.nbytes, into_kmsg=False)
        data = self._payload(self.zone.read(kmsg, 0, kmsg.nbytes)[HEADER_SIZE:], kmsg)
        cpu.charge(self.c_free)
        self._free(kmsg)
        self.received += 1
        return Received(kmsg.msg_id, reply, data, tuple(names))

    def _payload(self, body: bytes, kmsg: Kmsg) -> bytes:
        """The bytes of the body's byte items, concatenated (port items are names)."""
        if len(kmsg.layout) == 1 and kmsg.layout[0][0] == msg.TYPE_BYTES:
            return body[4:4 + kmsg.layout[0][1]]
        out, pos = bytearray(), 0
        for kind, n in kmsg.layout:
            pos += 4
            if kind == msg.TYPE_BYTES:
                out += body[pos:pos + n]
                pos += n + (-n & 3)
            else:
                pos += 4
        return bytes(out)

    def statistics(self) -> IpcStats:
        """Return a frozen snapshot of the IPC counters."""
        if self.zone.allocated - self.zone.freed < 0:
            raise KernelPanic("ipc: more kmsgs freed than allocated")
        return IpcStats(self.sent, self.received, self._next_port - 1, self.dead,
                        self.zone.bytes_in, self.zone.bytes_out, self.zone.statistics(),
                        self.fp.statistics())


def _rights_of(kmsg: Kmsg) -> list[tuple[Any, int]]:
    """The rights a receive of ``kmsg`` inserts: its live reply right, its items."""
    reply = kmsg.reply
    if reply is None or reply.dead:
        return kmsg.rights
    return [(reply, kmsg.reply_bits), *kmsg.rights]


def _circular(port: Port, dest: Port) -> bool:
    """Whether queuing ``port``'s receive right on ``dest`` closes a cycle: ``dest``
    is ``port``, or ``dest``'s receive right lies (transitively) in ``port``'s queue."""
    d: Port | None = dest
    while d is not None:
        if d is port:
            return True
        d = d.transit if d.receiver is IN_FLIGHT else None
    return False


def _leave_set(port: Port, wake: Any) -> None:
    """Take ``port`` out of its port set (its receive right leaves the set's task)."""
    if port.pset is not None:
        port.pset.members.remove(port)
        wake(port.pset.waiters)
        port.pset = None


_MOVES = (msg.MOVE_SEND, msg.MOVE_SEND_ONCE, msg.MOVE_RECEIVE)


def _check_moves(space: PortSpace, hdr: Any, carried: list[tuple[int, int, Any]]) -> None:
    """Refuse a message that uses a right after moving it (EINVAL): a name moved
    with MOVE_RECEIVE or MOVE_SEND_ONCE appears once in the whole message, and a
    name moved with MOVE_SEND no more times than its user references."""
    uses: dict[int, list[int]] = {}
    for name, disp in ((hdr.remote, hdr.rbits), (hdr.local, hdr.lbits)):
        if disp:
            uses.setdefault(name, []).append(disp)
    for name, disp, _entry in carried:
        uses.setdefault(name, []).append(disp)
    for name, disps in uses.items():
        moved = [d for d in disps if d in _MOVES]
        if not moved or len(disps) == 1:
            continue
        sends = all(d == msg.MOVE_SEND for d in moved) and len(moved) == len(disps)
        entry = space.entries.get(name)
        if not sends or entry is None or len(moved) > entry.urefs:
            raise SyscallError("EINVAL", "a right is used after it is moved in the "
                               "same message", name=name)

