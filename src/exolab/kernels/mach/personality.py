"""MachLibc: the ABI on the Mach-style kernel, and Mach's own calls for programs.

Every ABI call is the monolithic C library's stub (:class:`Libc`), whose
trap the kernel turns into an RPC to the UX server; what this class adds
are Mach's calls (the declaration's extensions), each one trap, and the
message library a Mach program links (``mach_msg`` wrapped): it builds the
header and the typed body, and the kernel trusts none of it.

Extensions::

    mach_msg(header, body, rcv, poll) -> None | (msg_id, reply, data, rights)
                                             the raw trap (fuzzed)
    port_allocate() -> name          port_destroy(name)     port_deallocate(name)
    port_set_allocate() -> name      port_set_add(set, name)
    port_register(service, name)     port_lookup(service) -> name (a send right)
    port_names() -> ((name, rights), ...)                   thread_self() -> int
    vm_allocate_pager(length, pager) -> vaddr               (an external pager)
    msg_send(dest, data=b"", msg_id=0, rights=())           rights: ((disp, name), ...)
    msg_receive(name, poll=False) -> (msg_id, reply, data, rights)
    msg_rpc(dest, data=b"", msg_id=0) -> (msg_id, data)     send + receive, one trap
    msg_reply(reply, data=b"", msg_id=0)
    msg_reply_receive(reply, data, name) -> (msg_id, reply, data, rights)

Interface::

    MachLibc(kernel, proc)      implements exolab.abi.ABI (a Personality)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.abi import as_bytes
from exolab.errors import SyscallError
from exolab.kernels.mach import message as msg
from exolab.kernels.mach.ipc import NOTIFY_SEND_ONCE
from exolab.kernels.mach.kernel import MACH_BASE, MACH_TRAPS
from exolab.kernels.mach.limits import HEADER_SIZE
from exolab.kernels.monolithic.libc import Libc

if TYPE_CHECKING:
    from exolab.kernels.mach.kernel import MachKernel
    from exolab.kernels.monolithic.proc import Process

__all__ = ["MachLibc"]

_N = {name: MACH_BASE + i for i, name in enumerate(MACH_TRAPS)}
_MSG = _N["mach_msg"]


def _body(data: Any, rights: Any = ()) -> bytes:
    """The typed body: the data as one byte item, then one item per right."""
    raw = as_bytes(data)
    out = msg.item_bytes(raw) if raw else b""
    for disp, name in rights:
        out += msg.item_port(disp, name)
    return out


class MachLibc(Libc):
    """One task's view of the Mach-style kernel (the UNIX calls are Libc's)."""

    kernel_name = "mach"

    def __init__(self, kernel: "MachKernel", proc: "Process") -> None:
        super().__init__(kernel, proc)
        self._replies: dict[int, int] = {}      # thread id -> its reply port's name

    # the raw trap and Mach's port calls
    def mach_msg(self, header: Any, body: Any, rcv: Any, poll: Any) -> Any:
        """The mach_msg trap as is: send ``header`` + ``body`` (unless None), then
        receive on ``rcv`` (unless None)."""
        return self._trap(_MSG, header, body, rcv, poll)

    def port_allocate(self) -> int:
        return self._trap(_N["port_allocate"])

    def port_destroy(self, name: int) -> None:
        self._trap(_N["port_destroy"], name)

    def port_deallocate(self, name: int) -> None:
        self._trap(_N["port_deallocate"], name)

    def port_set_allocate(self) -> int:
        return self._trap(_N["port_set_allocate"])

    def port_set_add(self, pset: int, name: int) -> None:
        self._trap(_N["port_set_add"], pset, name)

    def port_register(self, service: str, name: int) -> None:
        self._trap(_N["port_register"], service, name)

    def port_lookup(self, service: str) -> int:
        return self._trap(_N["port_lookup"], service)

    def port_names(self) -> tuple[tuple[int, str], ...]:
        return self._trap(_N["port_names"])

    def thread_self(self) -> int:
        return self._trap(_N["thread_self"])

    def vm_allocate_pager(self, length: int, pager: int) -> int:
        return self._trap(_N["vm_allocate_pager"], length, pager)

    # the message library
    def msg_send(self, dest: int, data: bytes = b"", msg_id: int = 0,
                 rights: Any = ()) -> None:
        """Send ``data`` (and rights) to ``dest`` (a send right), no reply port."""
        body = _body(data, _rights(rights))
        raw = msg.header(_u32(dest), 0, HEADER_SIZE + len(body), msg.COPY_SEND, 0,
                         _u32(msg_id))
        self._trap(_MSG, raw, body, None, False)

    def msg_receive(self, name: int, poll: bool = False) -> Any:
        """Receive the next message on port or set ``name``."""
        return self._trap(_MSG, None, None, name, poll is True)

    def msg_rpc(self, dest: int, data: bytes = b"", msg_id: int = 0) -> tuple[int, bytes]:
        """Send ``data`` with a send-once reply right and wait for the reply, in one
        trap; EPIPE if the server died before answering."""
        reply = self._reply_port()
        body = _body(data)
        raw = msg.header(_u32(dest), reply, HEADER_SIZE + len(body), msg.COPY_SEND,
                         msg.MAKE_SEND_ONCE, _u32(msg_id))
        got = self._trap(_MSG, raw, body, reply, False)
        if got[0] == NOTIFY_SEND_ONCE:
            raise SyscallError("EPIPE", "the server died before replying", dest=dest)
        return got[0], got[2]

    def msg_reply(self, reply: int, data: bytes = b"", msg_id: int = 0) -> None:
        """Answer a request through its send-once reply right."""
        body = _body(data)
        raw = msg.header(_u32(reply), 0, HEADER_SIZE + len(body), msg.MOVE_SEND_ONCE, 0,
                         _u32(msg_id))
        self._trap(_MSG, raw, body, None, False)

    def msg_reply_receive(self, reply: int, data: bytes, name: int) -> Any:
        """Reply and wait for the next request in one trap (a server's loop)."""
        body = _body(data)
        raw = msg.header(_u32(reply), 0, HEADER_SIZE + len(body), msg.MOVE_SEND_ONCE)
        return self._trap(_MSG, raw, body, name, False)

    def _reply_port(self) -> int:
        """This thread's reply port (allocated on first use, as mig_get_reply_port)."""
        tid = self.thread_self()
        name = self._replies.get(tid)
        if name is None:
            name = self._replies[tid] = self.port_allocate()
        return name


def _u32(x: Any) -> int:
    """A header word from a program's value (anything else is 0: the kernel then
    finds no such name)."""
    return x if type(x) is int and 0 <= x < 1 << 32 else 0


def _rights(rights: Any) -> list[tuple[int, int]]:
    """Decode ``((disposition, name), ...)`` (EINVAL for anything else)."""
    if type(rights) is not tuple and type(rights) is not list:
        raise SyscallError("EINVAL", "rights is a tuple of (disposition, name)")
    out = []
    for r in rights:
        if type(r) is not tuple or len(r) != 2 or type(r[0]) is not int \
                or type(r[1]) is not int or r[0] not in msg.DISPOSITIONS \
                or not 0 <= r[1] < 1 << 32:
            raise SyscallError("EINVAL", "a right is (disposition, name)")
        out.append((r[0], r[1]))
    return out
