"""The UX server: the UNIX personality as a user-level task reached by Mach RPC.

Mach 3.0 moved 4.3BSD out of the kernel into a server task; a program's UNIX
call became a MIG remote procedure call to it. Here the server's code is the
monolithic kernel's (the BSD code, *placed* at user level, as docs/design.md
"Services are placed, not rewritten" asks), and what the placement costs is
what Mach does for every call:

1. the client's ``mach_msg`` trap sends a request — a real header and typed
   body marshalled from the arguments — to the server's port, with a
   send-once reply right made from the client's reply port (header parse,
   name lookups, rights checks, kmsg, first copy, queue);
2. the switch to the server: the scheduler path, the registers, the server's
   address space (an untagged TLB is flushed);
3. the server receives (second copy, names inserted), its MIG stub
   demultiplexes and unpacks, and the BSD handler runs;
4. the server's reply ``mach_msg`` trap, the switch back, the client's
   receive of the reply — the same path again.

A message a task sends the server's port by hand (it holds the send right
every task is given) is no request of this path: the server answers it
``MIG_BAD_ID`` through its reply right, if it has one, and drops it.

A reply is a send-once message, which no queue limit refuses (a client that
fills its own reply port still gets its answers); if a reply cannot be sent
at all (its port died), the server destroys the right, so no name is left
in its space, and the client gets the error.

Data larger than an inline message (``MAX_MSG``) travels out of line, as
MIG sends large arrays: its pages are mapped, not copied, through the kmsg.

A read's byte count is a MIG integer word in the request: the stub refuses
a count past :data:`.limits.MAX_IO_COUNT` (SSIZE_MAX) with ``EINVAL`` before
the handler runs, so ``read(r, 10**20000)`` on an empty pipe fails at once
instead of sleeping for data it could never be given (``READ_COUNTS``).

Simplification, stated: the server's handler runs on the calling thread's
host stack (a server thread per client, handed off to), so a call that
blocks in the server (a read of an empty pipe, a wait) blocks the caller
exactly as a blocked server thread answering it would; the handler reaches
the client's memory in the client's address space, standing for the
server's copyin/copyout through its emulator's shared pages.

Interface::

    READ_COUNTS                      call -> the argument that is a read's byte count
    UxServer(kernel)
      task                           the server's task record (its space, ASID)
      connect(proc) -> name          give a new task a send right to the server
      call(cpu, proc, number, args)  one UNIX call as an RPC; its result or error
      drain(cpu)                     answer messages sent to the server by hand
    KernelServer(kernel)             the same path for ports the kernel serves itself
      statistics() -> UxStats
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exolab.errors import SyscallError
from exolab.kernels.mach import message as msg
from exolab.kernels.mach.footprint import SERVER_VPN
from exolab.kernels.mach.limits import HEADER_SIZE, MAX_IO_COUNT, MAX_MSG
from exolab.kernels.mach.ports import SEND
from exolab.kernels.monolithic.syscall import Sys, dispatch
from exolab.kernels.monolithic.vm import AddressSpace
from exolab.machine.threads import ThreadExit

if TYPE_CHECKING:
    from exolab.kernels.mach.kernel import MachKernel

__all__ = ["UxServer", "KernelServer", "UxStats", "ServerTask", "MIG_BAD_ID", "READ_COUNTS"]

_Q = struct.Struct("<q")
MIG_BAD_ID = 0xFFFFFED1     # MIG_BAD_ID (-303) as a header word
_ERR_WORD = _Q.pack(0)      # an error reply's data (the error itself is the client's)
_SERVER_PAGES = 3           # MIG stubs, the server's dispatch, its proc table page
#: UNIX call -> the index of its argument that is a read's byte count (a word)
READ_COUNTS = {int(Sys.READ): 1, int(Sys.READ_INTO): 2}


def unpack_counts(number: Any, args: tuple[Any, ...]) -> None:
    """The MIG stub's check of a read's count: an int past MAX_IO_COUNT is EINVAL
    (anything else not a count the handler refuses itself)."""
    at = READ_COUNTS.get(number) if type(number) is int else None
    if at is not None and len(args) > at:
        n = args[at]
        if type(n) is int and n > MAX_IO_COUNT:
            raise SyscallError("EINVAL", "read count past SSIZE_MAX", limit=MAX_IO_COUNT)


@dataclass(slots=True, eq=False)
class ServerTask:
    """The server's task: its own address space (and so its ASID)."""

    name: str
    space: AddressSpace


@dataclass(frozen=True, slots=True)
class UxStats:
    """UNIX calls served and the calls that failed."""

    calls: int
    errors: int
    out_of_line: int                    # requests or replies whose data went by mapping


#: containers nested deeper than this inside one argument go by reference
MAX_DEPTH = 8
#: values one marshal walks at most (as many as an inline message has bytes)
MAX_VALUES = MAX_MSG
_STR_CHUNK = 4096               # code points encoded at a time when only counted
_HANDLE = bytes(8)              # an object passed by reference
_END: Any = object()            # no more items


def marshal(args: tuple[Any, ...]) -> tuple[bytes, int]:
    """Pack call arguments as a request body's data: ints and None as 8-byte words,
    bytes and str inline, an exact tuple or list as its items in order, any other
    object (a program, a handler) as an 8-byte handle the stub passes by reference.
    Return the data (while it fits an inline message) and its length in bytes.

    Nothing a program hands in drives the work: the walk is iterative (no host
    recursion), only exact types are looked into (no program method runs), a
    container already being packed (a cycle), nested past MAX_DEPTH, or longer
    than what is left of MAX_VALUES values goes by reference as its handle, and
    no more than MAX_MSG bytes are copied: past that the data goes out of line,
    which needs only its length (so a list naming one 64 KiB buffer 100,000 times
    costs a word, not 6.5 GB of host memory). The handler then decodes the
    arguments themselves and refuses what its call does not take."""
    out = bytearray()
    total = 0
    budget = MAX_VALUES
    stack: list[Any] = [iter(args)]
    path: list[int] = [id(args)]
    while stack:
        a: Any = next(stack[-1], _END)
        if a is _END:
            stack.pop()
            path.pop()
            continue
        budget -= 1
        t = type(a)
        if t is bytes:
            n, data = len(a), a
        elif t is str:
            n, data = _utf8(a, total > MAX_MSG)
        elif t is int and -(1 << 63) <= a < 1 << 63:
            n, data = 8, _Q.pack(a)
        elif (t is tuple or t is list) and len(stack) <= MAX_DEPTH \
                and len(a) <= budget and id(a) not in path:
            stack.append(iter(a))
            path.append(id(a))
            continue
        else:
            n, data = 8, _HANDLE
        total += n
        if total <= MAX_MSG:
            out += data
    return (bytes(out) if total <= MAX_MSG else b""), total



def _utf8(s: str, count_only: bool) -> tuple[int, bytes]:
    """The UTF-8 length of ``s`` (lone surrogates replaced) and, unless
    ``count_only`` or it is longer than an inline message, its bytes."""
    if s.isascii():
        return len(s), (b"" if count_only or len(s) > MAX_MSG else s.encode("ascii"))
    if not count_only and len(s) <= MAX_MSG:
        data = s.encode("utf-8", "replace")
        return len(data), data
    n = 0
    for i in range(0, len(s), _STR_CHUNK):
        n += len(s[i:i + _STR_CHUNK].encode("utf-8", "replace"))
    return n, b""


class UxServer:
    """The UNIX server task and the RPC path every UNIX call takes."""

    def __init__(self, kernel: "MachKernel") -> None:
        self.k = kernel
        self.task = ServerTask("ux", AddressSpace(0))
        kernel.asid_for(self.task.space)
        self.ipc = kernel.ipc
        self.port_name = self.ipc.allocate(self.task)       # its receive right
        self.port = self.ipc.space(self.task).entries[self.port_name].obj
        p, prof = kernel.paths, kernel.machine.profile
        self.c_demux = p["mach_mig_demux"]
        self.c_switch = p["mach_switch"] + prof.reg_save + prof.reg_restore
        self.c_reply_trap = prof.trap_entry + prof.trap_exit + self.ipc.c_msg
        self.calls = self.errors = self.ool = 0

    def connect(self, proc: Any) -> int:
        """A send right to the server in ``proc``'s space (its bootstrap right)."""
        return self.ipc.space(proc).insert(self.port, SEND)

    def call(self, cpu: Any, proc: Any, number: Any, args: tuple[Any, ...],
             ux_name: int, reply_name: int) -> Any:
        """Run one UNIX call as request, server work and reply; return the result
        (or raise the handler's error) in the client."""
        ipc, client_asid = self.ipc, cpu.asid
        raw, body = self._request(cpu, number, args, ux_name, reply_name)
        cpu.charge(ipc.c_msg)
        sent = ipc.send(cpu, proc, raw, body, True)         # 1: the request
        server_asid = self._switch(cpu, self.task.space)    # 2: to the server
        while self.port.queue and self.port.queue[0] is not sent:
            self._refuse(cpu)           # a message someone sent the server by hand
        got = ipc.receive(cpu, self.task, self.port_name, poll=True)   # 3
        self._server_pages(cpu, server_asid)
        cpu.charge(self.c_demux)
        self.calls += 1
        cpu.asid = client_asid          # the handler reaches the client's memory
        try:
            unpack_counts(number, args)
            result, err = dispatch(self.k, cpu, number, args), None
        except SyscallError as ex:
            result, err = None, ex
            self.errors += 1
        except (ThreadExit, RecursionError):
            cpu.asid = self.k.asid_for(proc.space)
            raise
        cpu.asid = server_asid
        self._reply(cpu, proc, got.reply, result, err, reply_name)   # 4
        if err is not None:
            raise err
        return result

    def _reply(self, cpu: Any, proc: Any, reply: int | None, result: Any,
               err: SyscallError | None, reply_name: int) -> None:
        """The server's reply trap, the switch back, the client's receive."""
        ipc = self.ipc
        cpu.charge(self.c_reply_trap)
        data = _ERR_WORD if err is not None else self._inline(cpu, *marshal((result,)))
        body = msg.item_bytes(data) if data else b""
        raw = msg.header(reply if reply is not None else 0, 0, HEADER_SIZE + len(body),
                         msg.MOVE_SEND_ONCE)
        try:
            ipc.send(cpu, self.task, raw, body, True)
        except SyscallError:            # no reply can be queued (the reply port died,
            self._forget(reply)         # the zone is empty): the right goes, the
            self._switch(cpu, proc.space)   # client runs on and learns the error
            raise
        self._switch(cpu, proc.space)
        ipc.receive(cpu, proc, reply_name, poll=True)

    def _forget(self, reply: int | None) -> None:
        """Destroy the server's reply right ``reply`` after its message could not be
        sent (if it still names something), so no name stays behind."""
        space = self.ipc.space(self.task)
        if reply is not None and reply in space.entries and reply != self.port_name:
            self.ipc.destroy(self.task, reply)

    def drain(self, cpu: Any) -> None:
        """Answer every message a task sent the server's port by hand (the server
        thread, waiting on its port, takes each at once)."""
        while self.port.queue:
            self._refuse(cpu)

    def _refuse(self, cpu: Any) -> None:
        """Receive a message that is no UNIX call of this path and answer it as
        MIG answers an unknown request (MIG_BAD_ID), if it has a reply right."""
        got = self.ipc.receive(cpu, self.task, self.port_name, poll=True)
        self.errors += 1
        if got.reply is not None:
            raw = msg.header(got.reply, 0, HEADER_SIZE, msg.MOVE_SEND_ONCE, 0, MIG_BAD_ID)
            try:
                self.ipc.send(cpu, self.task, raw, b"", True)
            except SyscallError:        # (a reply right to a dead port, say): dropped
                self._forget(got.reply)
        space = self.ipc.space(self.task)
        for name in got.rights:             # rights it carried are dropped
            if name in space.entries and name != self.port_name:
                self.ipc.destroy(self.task, name)

    def _request(self, cpu: Any, number: Any, args: tuple[Any, ...], ux_name: int,
                 reply_name: int) -> tuple[bytes, bytes]:
        """The request message of call ``number``: its header (to ``ux_name``, a
        send-once reply right on ``reply_name``, the call number as the message id
        when it is a word) and its body (the marshalled arguments, inline)."""
        req = self._inline(cpu, *marshal(args))
        body = msg.item_bytes(req) if req else b""
        raw = msg.header(ux_name, reply_name, HEADER_SIZE + len(body), msg.COPY_SEND,
                         msg.MAKE_SEND_ONCE,
                         number if type(number) is int and 0 <= number < 1 << 31 else 0)
        return raw, body

    def _inline(self, cpu: Any, data: bytes, n: int) -> bytes:
        """``data`` (``n`` bytes) if it fits a message inline; else the out-of-line
        descriptor of ``n`` bytes, the pages charged as Mach maps them
        (vm_map_copyin: a pmap operation to enter and one to remove each page, no
        byte copy)."""
        if n <= MAX_MSG:
            return data
        pages = (n + 0xFFF) >> 12
        cpu.charge(pages * (2 * self.k.vm.c_pte + self.ipc.c_page))
        self.ool += 1
        return _Q.pack(n)

    def _server_pages(self, cpu: Any, asid: int) -> None:
        """Touch the server's own code and data pages (its MIG stubs, dispatch)."""
        for i in range(_SERVER_PAGES):
            self.ipc.fp.user(SERVER_VPN + i, asid)

    def _switch(self, cpu: Any, space: AddressSpace) -> int:
        """Charge a thread switch into ``space``: the scheduler path, registers, the
        address-space load (which flushes an untagged TLB); return its ASID."""
        cpu.charge(self.c_switch)
        asid = self.k.asid_for(space)
        if asid != cpu.asid:
            cpu.set_asid(asid)
        return asid

    def statistics(self) -> UxStats:
        """Return a frozen snapshot of the server's counters."""
        return UxStats(self.calls, self.errors, self.ool)


class KernelServer(UxServer):
    """Mach's kernel-served ports: a call on a task's or thread's port (MIG to
    the kernel: thread_create, vm_allocate, vm_protect, ...) is a request and a
    reply message like any RPC, but the kernel answers it inside the caller's
    trap (Mach 3.0 ``ipc_kobject_server``): the request kmsg is not queued and
    not received into any space — the MIG routine reads it where it lies and
    builds the reply kmsg itself, which is queued on the reply port for the
    caller's receive; no switch, no second trap, the kernel's own code pages."""

    def __init__(self, kernel: "MachKernel") -> None:
        super().__init__(kernel)
        self.task.name = "kernel"
        self.c_reply_trap = 0           # the kernel replies from inside the trap

    def call(self, cpu: Any, proc: Any, number: Any, args: tuple[Any, ...],
             ux_name: int, reply_name: int) -> Any:
        """Run one kernel call as the caller's request, the kernel's MIG routine on
        the kmsg, its reply and the caller's receive; the result or the error."""
        ipc = self.ipc
        raw, body = self._request(cpu, number, args, ux_name, reply_name)
        cpu.charge(ipc.c_msg)
        request = ipc.send(cpu, proc, raw, body, True, kobject=True)
        self._server_pages(cpu, cpu.asid)
        cpu.charge(self.c_demux)
        self.calls += 1
        try:
            result, err = dispatch(self.k, cpu, number, args), None
        except SyscallError as ex:
            result, err = None, ex
            self.errors += 1
        except (ThreadExit, RecursionError):
            ipc.kobject_drop(request)
            raise
        data = _ERR_WORD if err is not None else self._inline(cpu, *marshal((result,)))
        ipc.kobject_reply(cpu, request, data)
        ipc.receive(cpu, proc, reply_name, poll=True)
        if err is not None:
            raise err
        return result

    def _server_pages(self, cpu: Any, asid: int) -> None:
        """The kernel's VM/thread code (mapped only where the kernel is)."""
        self.ipc.fp.text("vm", asid)

    def _switch(self, cpu: Any, space: AddressSpace) -> int:
        """No switch: the kernel serves the port in the caller's context."""
        return cpu.asid
