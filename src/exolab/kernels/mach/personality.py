"""MachLibc: the ABI on the Mach-style kernel, and Mach's own calls for programs.

Every ABI call is the monolithic C library's stub (:class:`Libc`), whose
trap the kernel turns into an RPC to the UX server (or, for threads and the
clock, serves itself); the ABI's rpc calls are Mach RPCs over ports found
through the kernel's rpc names (:mod:`.rpc`). What this class adds
are Mach's calls (the declaration's extensions), each one trap, and the
message library a Mach program links (``mach_msg`` wrapped): it builds the
header and the typed body, and the kernel trusts none of it.

Extensions::

    mach_msg(header, body, rcv, poll) -> None | (msg_id, reply, data, rights)
                                             the raw trap (fuzzed)
    port_allocate() -> name          port_destroy(name)     port_deallocate(name)
    port_set_allocate() -> name      port_set_add(set, name)
    port_register(service, name)     port_lookup(service) -> name (a send right)
    port_insert_send(name) -> name   (a send right made from the receive right)
    port_names() -> ((name, rights), ...)                   thread_self() -> int
    vm_allocate_pager(length, pager) -> vaddr               (an external pager)
    msg_send(dest, data=b"", msg_id=0, rights=())           rights: ((disp, name), ...)
    msg_receive(name, poll=False) -> (msg_id, reply, data, rights)
    msg_rpc(dest, data=b"", msg_id=0) -> (msg_id, data, rights)   send + receive, one trap
    msg_reply(reply, data=b"", msg_id=0, rights=())
    msg_reply_receive(reply, data, name) -> (msg_id, reply, data, rights)

Interface::

    MachLibc(kernel, proc)      implements exolab.abi.ABI (a Personality)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import struct

from exolab.abi import RpcHandler, as_bytes, wrap_word
from exolab.errors import SyscallError
from exolab.kernels.common.args import func, opt_nat, shown
from exolab.kernels.common.args import word as rpc_word
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
_WORD = struct.Struct("<q")
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
        self._handles: set[int] = set()         # send rights rpc_connect handed out

    # Mach's calls take their arguments through _bind, so a wrong number of
    # arguments is EINVAL like any other bad argument of an extension (the ABI's
    # own calls keep Python's TypeError: docs/abi.md)
    def mach_msg(self, *args: Any, **kw: Any) -> Any:
        """The mach_msg trap as is: send ``header`` + ``body`` (unless None), then
        receive on ``rcv`` (unless None)."""
        header, body, rcv, poll = _bind("mach_msg", args, kw, _MACH_MSG)
        return self._trap(_MSG, header, body, rcv, poll)

    def port_allocate(self, *args: Any, **kw: Any) -> int:
        return self._port_call("port_allocate", args, kw)

    def port_destroy(self, *args: Any, **kw: Any) -> None:
        self._port_call("port_destroy", args, kw)

    def port_deallocate(self, *args: Any, **kw: Any) -> None:
        self._port_call("port_deallocate", args, kw)

    def port_set_allocate(self, *args: Any, **kw: Any) -> int:
        return self._port_call("port_set_allocate", args, kw)

    def port_set_add(self, *args: Any, **kw: Any) -> None:
        self._port_call("port_set_add", args, kw)

    def port_register(self, *args: Any, **kw: Any) -> None:
        self._port_call("port_register", args, kw)

    def port_lookup(self, *args: Any, **kw: Any) -> int:
        return self._port_call("port_lookup", args, kw)

    def port_insert_send(self, *args: Any, **kw: Any) -> int:
        return self._port_call("port_insert_send", args, kw)

    def port_names(self, *args: Any, **kw: Any) -> tuple[tuple[int, str], ...]:
        return self._port_call("port_names", args, kw)

    def thread_self(self, *args: Any, **kw: Any) -> int:
        return self._port_call("thread_self", args, kw)

    def vm_allocate_pager(self, *args: Any, **kw: Any) -> int:
        return self._port_call("vm_allocate_pager", args, kw)

    def _port_call(self, name: str, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        """One Mach trap with its arguments bound by name."""
        return self._trap(_N[name], *_bind(name, args, kw, _PARAMS[name]))

    # the message library
    def msg_send(self, *args: Any, **kw: Any) -> None:
        """msg_send(dest, data=b"", msg_id=0, rights=()): send ``data`` (and rights)
        to ``dest`` (a send right), no reply port."""
        dest, data, msg_id, rights = _bind("msg_send", args, kw, _SEND)
        body = _body(data, _rights(rights))
        raw = msg.header(_u32(dest), 0, HEADER_SIZE + len(body), msg.COPY_SEND, 0,
                         _u32(msg_id))
        self._trap(_MSG, raw, body, None, False)

    def msg_receive(self, *args: Any, **kw: Any) -> Any:
        """msg_receive(name, poll=False): the next message on port or set ``name``."""
        name, poll = _bind("msg_receive", args, kw, _RECEIVE)
        return self._trap(_MSG, None, None, name, poll is True)

    def msg_rpc(self, *args: Any, **kw: Any) -> tuple[int, bytes, tuple[int, ...]]:
        """msg_rpc(dest, data=b"", msg_id=0): send ``data`` with a send-once reply
        right and wait for the reply, in one trap; EPIPE if the server died first.
        Returns the reply's (msg_id, data, rights)."""
        dest, data, msg_id = _bind("msg_rpc", args, kw, _RPC)
        reply = self._reply_port()
        body = _body(data)
        raw = msg.header(_u32(dest), reply, HEADER_SIZE + len(body), msg.COPY_SEND,
                         msg.MAKE_SEND_ONCE, _u32(msg_id))
        got = self._trap(_MSG, raw, body, reply, False)
        if got[0] == NOTIFY_SEND_ONCE:
            raise SyscallError("EPIPE", "the server died before replying", dest=dest)
        return got[0], got[2], got[3]

    def msg_reply(self, *args: Any, **kw: Any) -> None:
        """msg_reply(reply, data=b"", msg_id=0, rights=()): answer through a
        send-once right (rights: as msg_send's)."""
        reply, data, msg_id, rights = _bind("msg_reply", args, kw, _REPLY)
        body = _body(data, _rights(rights))
        raw = msg.header(_u32(reply), 0, HEADER_SIZE + len(body), msg.MOVE_SEND_ONCE, 0,
                         _u32(msg_id))
        self._trap(_MSG, raw, body, None, False)

    def msg_reply_receive(self, *args: Any, **kw: Any) -> Any:
        """msg_reply_receive(reply, data, name): reply and wait for the next request
        in one trap (a server's loop)."""
        reply, data, name = _bind("msg_reply_receive", args, kw, _REPLY_RECEIVE)
        body = _body(data)
        raw = msg.header(_u32(reply), 0, HEADER_SIZE + len(body), msg.MOVE_SEND_ONCE)
        return self._trap(_MSG, raw, body, name, False)

    # the ABI's rpc calls as Mach RPCs (kernels/mach/rpc.py)
    def rpc_serve(self, name: str, handler: RpcHandler, count: int | None = None) -> None:
        func(handler, "handler")
        opt_nat(count, "count")
        port = self.port_allocate()
        try:
            self._trap(_N["rpc_register"], name, port)
            if count != 0:
                self._serve_port(port, handler, count)
        except Exception:               # (not a thread unwinding: ThreadExit and
            self.port_destroy(port)     # GreenletExit trap nothing; the task's death
            raise                       # takes its ports)
        self.port_destroy(port)         # clients still queued get EPIPE

    def _serve_port(self, port: int, handler: RpcHandler, count: int | None) -> None:
        """Answer requests on ``port`` until ``count`` are served."""
        served, got = 0, self.msg_receive(port)
        while True:
            reply, data = got[1], got[2]
            try:
                answer = _WORD.pack(wrap_word(handler(self, _WORD.unpack(data)[0])))
            except BaseException:
                if reply is not None:   # the client learns the call died (EPIPE)
                    self._quietly(self.port_deallocate, reply)
                raise
            served += 1
            if count is not None and served >= count:
                self._quietly(self.msg_reply, reply, answer)
                return
            try:
                got = self.msg_reply_receive(reply, answer, port)
            except SyscallError:        # the client went away: not the server's fault
                if reply is not None:   # (its right is a dead name now: drop it)
                    self._quietly(self.port_deallocate, reply)
                got = self.msg_receive(port)

    @staticmethod
    def _quietly(call: Any, *args: Any) -> None:
        """``call(*args)``, a SyscallError ignored (a client already gone)."""
        try:
            call(*args)
        except SyscallError:
            pass

    def rpc_connect(self, name: str) -> int:
        handle = self._trap(_N["rpc_lookup"], name)
        self._handles.add(handle)
        return handle

    def rpc_call(self, handle: int, word: int) -> int:
        if type(handle) is not int or handle not in self._handles:
            raise SyscallError("EBADF", "not an rpc handle", handle=shown(handle))
        rpc_word(word)
        _id, data, _rights = self.msg_rpc(handle, _WORD.pack(word))
        if len(data) != 8:
            raise SyscallError("EPIPE", "server went away", handle=handle)
        return _WORD.unpack(data)[0]

    def _reply_port(self) -> int:
        """This thread's reply port (allocated on first use and kept in the thread's
        user-level storage, as mig_get_reply_port: no trap to find it)."""
        t = self._k.machine.cpu.current
        tid = t.tid if t is not None else 0
        name = self._replies.get(tid)
        if name is None:
            name = self._replies[tid] = self.port_allocate()
        return name


_REQUIRED = object()
_MACH_MSG = (("header", _REQUIRED), ("body", _REQUIRED), ("rcv", _REQUIRED),
             ("poll", _REQUIRED))
_SEND = (("dest", _REQUIRED), ("data", b""), ("msg_id", 0), ("rights", ()))
_RECEIVE = (("name", _REQUIRED), ("poll", False))
_RPC = (("dest", _REQUIRED), ("data", b""), ("msg_id", 0))
_REPLY = (("reply", _REQUIRED), ("data", b""), ("msg_id", 0), ("rights", ()))
_REPLY_RECEIVE = (("reply", _REQUIRED), ("data", _REQUIRED), ("name", _REQUIRED))
_NAME = (("name", _REQUIRED),)
#: Mach trap -> its parameters (name, default or _REQUIRED)
_PARAMS: dict[str, tuple[tuple[str, Any], ...]] = {
    "port_allocate": (), "port_set_allocate": (), "port_names": (), "thread_self": (),
    "port_destroy": _NAME, "port_deallocate": _NAME, "port_insert_send": _NAME,
    "port_set_add": (("pset", _REQUIRED), ("name", _REQUIRED)),
    "port_register": (("service", _REQUIRED), ("name", _REQUIRED)),
    "port_lookup": (("service", _REQUIRED),),
    "vm_allocate_pager": (("length", _REQUIRED), ("pager", _REQUIRED)),
}


def _bind(call: str, args: tuple[Any, ...], kw: dict[str, Any],
          params: tuple[tuple[str, Any], ...]) -> list[Any]:
    """Bind ``args``/``kw`` to ``params`` in order; EINVAL for too many, a missing
    required one or an unknown keyword."""
    if len(args) > len(params) or any(k not in {p for p, _d in params} for k in kw):
        raise SyscallError("EINVAL", "wrong arguments", call=call, expected=len(params),
                           actual=len(args) + len(kw))
    out = list(args)
    for pname, default in params[len(args):]:
        value = kw.get(pname, default)
        if value is _REQUIRED:
            raise SyscallError("EINVAL", "missing argument", call=call, argument=pname)
        out.append(value)
    if any(p in kw for p, _d in params[:len(args)]):
        raise SyscallError("EINVAL", "an argument given twice", call=call)
    return out


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
