"""The monolithic kernel's C library: the ABI as thin system-call stubs.

Every ABI call that needs the kernel is one trap (``cpu.trap``) into the
generic system-call path; what every kernel provides alike (``time``,
``compute``, ``print``, ``random``, the memory instructions, ``trigger``'s
decoding) comes from :class:`~exolab.kernels.common.personality.Personality`,
with Ultrix's exception causes as its hook. RPC is
built here from pipes the kernel's name service connects (see
:mod:`exolab.kernels.monolithic.rpc`).

Interface::

    Libc(kernel, proc)      implements exolab.abi.ABI (a Personality)
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Callable

from exolab.abi import (O_RDONLY, PROT_RW, SEEK_SET, FaultHandler, FileStat, Program,
                        RpcHandler, wrap_word)
from exolab.errors import SyscallError
from exolab.kernels.common.args import func, opt_nat, shown
from exolab.kernels.common.args import word as rpc_word
from exolab.kernels.common.personality import Personality
from exolab.kernels.monolithic.signal import ULTRIX_EXCEPTIONS
from exolab.kernels.monolithic.syscall import Sys

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel
    from exolab.kernels.monolithic.proc import Process
    from exolab.machine.cpu import Cause

__all__ = ["Libc"]

_WORD = struct.Struct("<q")

# call numbers as plain ints (an IntEnum lookup per call is measurable)
_CLOCK_GETRES = int(Sys.CLOCK_GETRES)
_CLOSE = int(Sys.CLOSE)
_DIRTY = int(Sys.DIRTY)
_EXIT = int(Sys.EXIT)
_FORK = int(Sys.FORK)
_GETPID = int(Sys.GETPID)
_MMAP = int(Sys.MMAP)
_MPROTECT = int(Sys.MPROTECT)
_MUNMAP = int(Sys.MUNMAP)
_PIPE = int(Sys.PIPE)
_READ = int(Sys.READ)
_READ_INTO = int(Sys.READ_INTO)
_RPC_ACCEPT = int(Sys.RPC_ACCEPT)
_RPC_CONNECT = int(Sys.RPC_CONNECT)
_RPC_REGISTER = int(Sys.RPC_REGISTER)
_SET_EXCEPTION_HANDLER = int(Sys.SET_EXCEPTION_HANDLER)
_SET_FAULT_HANDLER = int(Sys.SET_FAULT_HANDLER)
_SHM_ATTACH = int(Sys.SHM_ATTACH)
_SHM_CREATE = int(Sys.SHM_CREATE)
_SHM_DETACH = int(Sys.SHM_DETACH)
_SPAWN = int(Sys.SPAWN)
_THREAD_CREATE = int(Sys.THREAD_CREATE)
_THREAD_YIELD = int(Sys.THREAD_YIELD)
_THREAD_PARK = int(Sys.THREAD_PARK)
_THREAD_UNPARK = int(Sys.THREAD_UNPARK)
_WAIT = int(Sys.WAIT)
_WRITE = int(Sys.WRITE)
_WRITE_FROM = int(Sys.WRITE_FROM)
_YIELD = int(Sys.YIELD)
_KERNEL_TEST = int(Sys.KERNEL_TEST)
_OPEN, _LSEEK, _FSYNC = int(Sys.OPEN), int(Sys.LSEEK), int(Sys.FSYNC)
_UNLINK, _RENAME, _MKDIR = int(Sys.UNLINK), int(Sys.RENAME), int(Sys.MKDIR)
_RMDIR, _LISTDIR, _STAT = int(Sys.RMDIR), int(Sys.LISTDIR), int(Sys.STAT)
_SOCKET = int(Sys.SOCKET)
_BIND = int(Sys.BIND)
_SENDTO = int(Sys.SENDTO)
_RECVFROM = int(Sys.RECVFROM)


class Libc(Personality):
    """One process's view of the monolithic kernel.

    Each public method implements the same-named :class:`~exolab.abi.ABI` method,
    whose docstring is its contract; only the pointer forms say more here.
    """

    kernel_name = "monolithic"

    def __init__(self, kernel: "MonolithicKernel", proc: "Process") -> None:
        self._k = kernel
        self._proc = proc
        cpu = kernel.machine.cpu
        super().__init__(cpu)
        self._trap = cpu.trap
        self._rpc: dict[int, tuple[int, int]] = {}     # handle -> (req_w, rep_r)

    def _enter(self, number: Any, *args: Any) -> Any:
        """A kernel service: a trap from user level, a procedure call from code
        resident in the kernel (the kernel's ``kcall``)."""
        cpu = self._k.machine.cpu
        t = cpu.current
        if t is not None and t.tid in self._k._incode:
            return self._k.kcall(cpu, self._proc, number, args)
        return cpu.trap(number, *args)

    def kernel_test(self, name: Any = None, *args: Any) -> Any:
        """Run the kernel's built-in test ``name`` (kernels/monolithic/ktest.py) as
        ``name(os, *args)`` in the kernel on this thread; its value. ENOENT: no such
        test; ENOSYS: a kernel built without them."""
        self._trap = self._enter        # from now on resident code's calls are calls
        return self._trap(_KERNEL_TEST, name, args)

    # identity and time
    def getpid(self) -> int:
        return self._trap(_GETPID)

    def api_call(self) -> int:
        return self._trap(_CLOCK_GETRES)

    # processes and threads
    def spawn(self, program: Program, *args: Any, name: str = "") -> int:
        return self._trap(_SPAWN, program, args, name)

    def fork(self, entry: Program, *args: Any) -> int:
        return self._trap(_FORK, entry, args)

    def exit(self, status: Any = 0) -> None:
        self._trap(_EXIT, status)

    def wait(self, pid: int | None = None) -> tuple[int, Any]:
        return self._trap(_WAIT, pid)

    def yield_(self) -> None:
        self._trap(_YIELD)

    def thread_create(self, entry: Callable[..., Any], *args: Any) -> int:
        return self._trap(_THREAD_CREATE, entry, args)

    def thread_yield(self) -> None:
        self._trap(_THREAD_YIELD)

    def thread_id(self) -> int:
        """The thread pointer the kernel loads at each switch (Alpha ``rduniq``, a
        TLS register elsewhere): one load, no kernel entry."""
        cpu = self._cpu
        cpu.charge(cpu.profile.load_store)
        return int(cpu.current.tid)  # type: ignore[attr-defined]

    def thread_park(self) -> None:
        self._trap(_THREAD_PARK)

    def thread_unpark(self, tid: int) -> None:
        self._trap(_THREAD_UNPARK, tid)

    # descriptors
    def pipe(self) -> tuple[int, int]:
        return self._trap(_PIPE)

    def read(self, fd: int, n: int) -> bytes:
        return self._trap(_READ, fd, n)

    def write(self, fd: int, data: bytes) -> int:
        return self._trap(_WRITE, fd, data)

    def read_into(self, fd: int, vaddr: int, n: int) -> int:
        """Read up to ``n`` bytes into memory at ``vaddr`` (pointer form)."""
        return self._trap(_READ_INTO, fd, vaddr, n)

    def write_from(self, fd: int, vaddr: int, n: int) -> int:
        """Write ``n`` bytes from memory at ``vaddr`` (pointer form)."""
        return self._trap(_WRITE_FROM, fd, vaddr, n)

    def close(self, fd: int) -> None:
        self._trap(_CLOSE, fd)

    # files (fs.py)
    def open(self, path: str, flags: int = O_RDONLY, mode: int = 0o644) -> int:
        return self._trap(_OPEN, path, flags, mode)

    def lseek(self, fd: int, offset: int, whence: int = SEEK_SET) -> int:
        return self._trap(_LSEEK, fd, offset, whence)

    def fsync(self, fd: int) -> None:
        self._trap(_FSYNC, fd)

    def unlink(self, path: str) -> None:
        self._trap(_UNLINK, path)

    def rename(self, old: str, new: str) -> None:
        self._trap(_RENAME, old, new)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._trap(_MKDIR, path, mode)

    def rmdir(self, path: str) -> None:
        self._trap(_RMDIR, path)

    def listdir(self, path: str) -> list[str]:
        return self._trap(_LISTDIR, path)

    def stat(self, path: str) -> FileStat:
        return self._trap(_STAT, path)
    # sockets (socket.py: the stack inside the kernel)
    def socket(self, kind: str = "udp") -> int:
        return self._trap(_SOCKET, kind)

    def bind(self, fd: int, port: int) -> int:
        return self._trap(_BIND, fd, port)

    def sendto(self, fd: int, data: bytes, addr: str, port: int) -> int:
        return self._trap(_SENDTO, fd, data, addr, port)

    def recvfrom(self, fd: int, n: int) -> tuple[bytes, tuple[str, int]]:
        return self._trap(_RECVFROM, fd, n)

    # memory
    def mmap(self, length: int, prot: int = PROT_RW) -> int:
        return self._trap(_MMAP, length, prot)

    def munmap(self, vaddr: int, length: int) -> None:
        self._trap(_MUNMAP, vaddr, length)

    def mprotect(self, vaddr: int, length: int, prot: int) -> None:
        self._trap(_MPROTECT, vaddr, length, prot)

    def dirty(self, vaddr: int) -> bool:
        return self._trap(_DIRTY, vaddr)

    def set_fault_handler(self, handler: FaultHandler | None) -> None:
        self._trap(_SET_FAULT_HANDLER, handler)

    def set_exception_handler(self, kind: str, handler: Any) -> None:
        self._trap(_SET_EXCEPTION_HANDLER, kind, handler)

    def exception_cause(self, kind: str) -> tuple[Cause, int]:
        """Ultrix raises only the kinds its signal path delivers (ENOSYS otherwise)."""
        if kind not in ULTRIX_EXCEPTIONS:
            raise SyscallError("ENOSYS", "Ultrix cannot raise this exception", kind=kind)
        return ULTRIX_EXCEPTIONS[kind][1], 0

    # shared memory
    def shm_create(self, length: int) -> int:
        return self._trap(_SHM_CREATE, length)

    def shm_attach(self, key: int) -> int:
        return self._trap(_SHM_ATTACH, key)

    def shm_detach(self, vaddr: int) -> None:
        self._trap(_SHM_DETACH, vaddr)

    # rpc over pipes
    def rpc_serve(self, name: str, handler: RpcHandler, count: int | None = None) -> None:
        func(handler, "handler")
        opt_nat(count, "count")
        self._trap(_RPC_REGISTER, name)
        served = 0
        while count is None or served < count:
            req, rep = self._trap(_RPC_ACCEPT, name)
            try:                        # a failing handler or reply ends the connection
                served = self._serve(req, rep, handler, count, served)
            finally:
                self._close_quietly(req)
                self._close_quietly(rep)

    def _serve(self, req: int, rep: int, handler: RpcHandler, count: int | None,
               served: int) -> int:
        """Answer requests on one connection until EOF or ``count``; return ``served``."""
        while count is None or served < count:
            try:
                msg = self.read(req, 8)
            except SyscallError:        # the client broke its end: drop the connection
                break
            if len(msg) < 8:
                break
            reply = _WORD.pack(wrap_word(handler(self, _WORD.unpack(msg)[0])))
            try:
                self.write(rep, reply)
            except SyscallError:        # (EPIPE: the client went away) not the server's
                break
            served += 1
        return served

    def _close_quietly(self, fd: int) -> None:
        """Close ``fd`` unless the handler already closed it itself."""
        try:
            self.close(fd)
        except SyscallError:
            pass

    def rpc_connect(self, name: str) -> int:
        req, rep = self._trap(_RPC_CONNECT, name)
        self._rpc[req] = (req, rep)
        return req

    def rpc_call(self, handle: int, word: int) -> int:
        conn = self._rpc.get(handle) if type(handle) is int else None
        if conn is None:
            raise SyscallError("EBADF", "not an rpc handle", handle=shown(handle))
        rpc_word(word)
        self.write(conn[0], _WORD.pack(word))
        reply = self.read(conn[1], 8)
        if len(reply) < 8:
            raise SyscallError("EPIPE", "server went away", handle=handle)
        return _WORD.unpack(reply)[0]
