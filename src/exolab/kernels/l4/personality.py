"""L4OS: the ABI on L4, as a library that talks to user-level servers by IPC.

A process's ``os`` is this library, linked into its address space. What is
plain user-mode work stays here (time, compute, loads and stores through
the MMU, whose faults the kernel sends to the process's pager); threads are
the kernel's (``thread_create`` in the process's own space, ``thread_yield``
within it); ``rpc_*`` is native L4 IPC between the processes (a service is
the serving thread's id; a call is one ``call``, its answer one
``reply_wait``); everything else — processes, descriptors, pipes, memory
regions, names — is an IPC ``call`` to the UNIX server (:mod:`.ux`).
``fork`` is the server's too: as the pager it shares the parent's pages
with the child and write-protects them (flush, write rights only); a write
fault then gets a copy. Shared segments and protections are the pager's:
``shm_*`` and ``mprotect`` are calls to it (it hands pages out as map items
and takes rights back by flush); ``dirty`` asks the kernel for the access
bits of the caller's own page (L4 X.2's unmap status), the pager only when
the page is not held. A fault the pager will not map comes back as an
upcall: the library's stub runs the handler ``set_fault_handler`` installed,
on the faulting thread. Refused (ENOSYS, declared): exception handlers,
files and sockets (see docs/l4.md).

Interface::

    L4OS(system, pid, ux_tid, sid)        the personality (an exolab.abi.ABI)
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.abi import PROT_RW, as_bytes, wrap_word
from exolab.errors import SyscallError
from exolab.kernels.common.args import func, nat, opt_nat, shown, str_arg
from exolab.kernels.common.args import prot as prot_arg
from exolab.kernels.common.args import word as rpc_word
from exolab.kernels.common.exitstatus import exit_value
from exolab.kernels.common.personality import Personality
from exolab.kernels.l4.kernel import USER_LIMIT
from exolab.kernels.l4.syscall import STATUS, STATUS_WRITE
from exolab.kernels.l4.ux import ERR, MAX_SHM, OPS
from exolab.machine.threads import ThreadExit

__all__ = ["L4OS"]

_PAGE = 4096


_TOP = USER_LIMIT << 12         # the end of the user part of a space


def _range(vaddr: Any, length: Any) -> tuple[int, int]:
    """An aligned range of user pages as (first vpn, pages), else EINVAL."""
    if type(vaddr) is not int or type(length) is not int or vaddr & (_PAGE - 1) \
            or not 0 < length <= _TOP or not 0 <= vaddr <= _TOP - length:
        raise SyscallError("EINVAL", "range must be page aligned in user space",
                           vaddr=shown(vaddr), length=shown(length))
    return vaddr >> 12, (length + _PAGE - 1) >> 12


def _fd(fd: Any) -> int:
    """A descriptor: an exact int (EBADF otherwise, naming the argument)."""
    if type(fd) is not int:
        raise SyscallError("EBADF", "bad file descriptor", fd=fd)
    return fd


class L4OS(Personality):
    """One process's view of the system; see the module docstring."""

    kernel_name = "l4"

    def __init__(self, system: Any, pid: int, ux_tid: int, sid: int) -> None:
        self._k = system
        self._pid = pid
        self._ux = ux_tid                   # the UNIX server's thread id
        self._sid = sid                     # this process's address space
        self._rpc: dict[int, int] = {}      # handle -> serving thread id
        self._res = system.machine.profile.us_to_cycles(1)
        self._handler: Any = None           # the fault handler (set_fault_handler)
        self._parks: dict[int, int] = {}    # thread id -> its park notification's cap
        self._spare_parks: list[int] = []   # notifications of ended threads, for reuse
        super().__init__(system.machine.cpu)
        self._mcpu: Any = system.machine.cpu    # the machine CPU (current thread)

    # -- talking to the kernel and the server ------------------------------------------

    def _trap(self, number: Any, *args: Any) -> Any:
        """The raw kernel entry: any L4 call with any arguments (the kernel decodes)."""
        return self._mcpu.trap(number, *args)

    def _lib(self) -> Any:
        """The calling thread's L4 library (its UTCB); ThreadExit if it was killed."""
        t = self._mcpu.current
        if t is not None and t.killed:
            raise ThreadExit(t.exit_status)
        return self._k.lib_of(t)

    def _call(self, op: str, *words: int, data: bytes = b"",
              objs: tuple[Any, ...] = (), window: int = -1) -> Any:
        """One request to the UNIX server; the reply (an error reply is raised);
        pages the reply maps land from vpn ``window`` on."""
        lib = self._lib()
        try:
            got = lib.call(self._ux, words=(OPS[op], *words), string=data or None,
                           objs=objs, buffer=None if window < 0 else (0, 0, window))
        except SyscallError:
            t = self._mcpu.current
            if t is not None and t.killed:          # our process ended meanwhile
                raise ThreadExit(t.exit_status) from None
            raise
        if got.words and got.words[0] == ERR:
            errno, message, fields = got.objs
            raise SyscallError(errno, message, **fields)
        return got

    # -- identity, processes --------------------------------------------------------------

    def getpid(self) -> int:
        return int(self._call("getpid").words[1])

    def api_call(self) -> int:
        self._lib().myself()                        # the cheapest kernel call
        return self._res

    def spawn(self, program: Any, *args: Any, name: str = "") -> int:
        program = func(program, "program")
        name = str_arg(name, "name", 64) or getattr(program, "__name__", "proc")
        if type(name) is not str:
            name = "proc"
        return int(self._call("spawn", objs=(program, args, name[:64])).words[1])

    def fork(self, entry: Any, *args: Any) -> int:
        entry = func(entry, "entry")
        objs = (entry, args) if self._handler is None else (entry, args, self._handler)
        return int(self._call("fork", objs=objs).words[1])

    def exit(self, status: Any = 0) -> None:
        status = exit_value(status)
        self._k.exiting(self._mcpu.current, status)
        self._call("exit", objs=(status,))
        raise ThreadExit(status)                    # (not reached: the space is gone)

    def wait(self, pid: int | None = None) -> tuple[int, Any]:
        if pid is not None and (type(pid) is not int or pid < 0):
            raise SyscallError("ECHILD", "no such child", pid=shown(pid))
        got = self._call("wait", -1 if pid is None else pid)
        return int(got.words[1]), got.objs[0]

    def yield_(self) -> None:
        self._lib().yield_(False)

    # -- threads ------------------------------------------------------------------------

    def thread_create(self, entry: Callable[..., Any], *args: Any) -> int:
        entry = func(entry, "entry")
        lib = self._lib()
        tid = int(lib.thread_create(self._sid, self._k.thread_entry, self, entry, args,
                                    start=False))
        self._call("thread", tid)       # made inactive, started once the server knows
        lib.thread_start(tid)           # it (a thread it does not know cannot call it)
        return tid

    def thread_yield(self) -> None:
        self._lib().yield_(True)

    def thread_id(self) -> int:
        return int(self._lib().myself())

    def _park_cap(self, lib: Any, tid: int) -> int:
        """Thread ``tid``'s park notification (made at its first park or unpark)."""
        cap = self._parks.get(tid)
        if cap is None:
            if self._spare_parks:           # an ended thread's: take any bit it left
                cap = self._spare_parks.pop()
                try:
                    lib.wait(cap, 0)
                except SyscallError:        # EAGAIN: no bit was left
                    pass
            else:
                cap = int(lib.notification_create())
            self._parks[tid] = cap
        return cap

    def thread_ends(self, lib: Any) -> None:
        """A further thread returns: the server forgets it (its id may come back,
        another version of its TCB), and its park notification is kept for the
        next thread of this process to park (the capability table is finite)."""
        lib.send(self._ux, words=(OPS["thread_end"],))
        tid = self._k.by_sim[self._mcpu.current.tid].tid
        cap = self._parks.pop(tid, None)
        if cap is not None:
            self._spare_parks.append(cap)

    def thread_park(self) -> None:
        """Wait on this thread's own notification: an unpark that came first left
        its bit there, so the wait takes it and returns at once."""
        lib = self._lib()
        cap = self._park_cap(lib, int(lib.myself()))
        try:
            lib.wait(cap)
        except SyscallError:
            self._lib()                     # killed meanwhile: ThreadExit
            raise
        self._lib()

    def thread_unpark(self, tid: int) -> None:
        """Signal thread ``tid``'s park notification (EINVAL, ESRCH)."""
        if type(tid) is not int:
            raise SyscallError("EINVAL", "a thread id is an int", tid=shown(tid))
        if not self._k.thread_in_space(tid, self._sid):
            raise SyscallError("ESRCH", "no such thread in this process", tid=tid)
        lib = self._lib()
        lib.signal(self._park_cap(lib, tid), 1)

    # -- descriptors and pipes ------------------------------------------------------------

    def pipe(self) -> tuple[int, int]:
        got = self._call("pipe")
        return int(got.words[1]), int(got.words[2])

    def read(self, fd: int, n: int) -> bytes:
        fd = _fd(fd)
        n = nat(n, "n", 1 << 20)
        return bytes(self._call("read", fd, n).data)

    def write(self, fd: int, data: bytes) -> int:
        fd = _fd(fd)
        raw = as_bytes(data)
        if len(raw) > 1 << 20:
            raise SyscallError("EINVAL", "write: at most 1 MiB at once", n=len(raw))
        return int(self._call("write", fd, data=raw).words[1])

    def close(self, fd: int) -> None:
        self._call("close", _fd(fd))

    # -- memory -------------------------------------------------------------------------

    def mmap(self, length: int, prot: int = PROT_RW) -> int:
        length = nat(length, "length", 1 << 32)
        if length == 0:
            raise SyscallError("EINVAL", "mmap of zero bytes", length=0)
        prot = prot_arg(prot)
        pages = (length + _PAGE - 1) // _PAGE
        if prot == PROT_RW:
            return int(self._call("mmap", pages).words[1])
        return int(self._call("mmap", pages, prot).words[1])

    def munmap(self, vaddr: int, length: int) -> None:
        if type(vaddr) is not int or vaddr < 0 or vaddr & (_PAGE - 1):
            raise SyscallError("EINVAL", "munmap needs a page-aligned address",
                               vaddr=shown(vaddr))
        length = nat(length, "length", 1 << 32)
        pages = (length + _PAGE - 1) // _PAGE
        self._call("munmap", vaddr >> 12, pages)

    def mprotect(self, vaddr: int, length: int, prot: int) -> None:
        vpn, pages = _range(vaddr, length)
        prot = prot_arg(prot)
        self._call("mprotect", vpn, pages, prot, window=vpn)

    def dirty(self, vaddr: int) -> bool:
        if type(vaddr) is not int or not 0 <= vaddr < _TOP:
            raise SyscallError("EFAULT", "page not mapped", vaddr=shown(vaddr))
        try:                                    # the kernel: the page's access bits
            bits = self._trap(STATUS, vaddr >> 12, 1, True)
        except SyscallError as ex:
            if ex.errno != "EFAULT":
                raise
            return bool(self._call("dirty", vaddr >> 12).words[1])  # not held: the pager
        return bool(bits & STATUS_WRITE)

    def set_fault_handler(self, handler: Any) -> None:
        if handler is not None:
            handler = func(handler, "handler")
        self._cpu.charge(self._cpu.profile.load_store)  # the library's own word
        self._handler = handler

    def _fault_upcall(self, vaddr: int, write: bool) -> None:
        """The stub the kernel returns to when the pager refuses a fault: the
        installed handler, on the faulting thread (none installed: return, and the
        retried access ends the process)."""
        handler = self._handler
        if handler is not None:
            handler(self, vaddr, write)

    def shm_create(self, length: int) -> int:
        length = nat(length, "length")
        if not 0 < length <= MAX_SHM:
            raise SyscallError("EINVAL", "bad segment length", length=length, max=MAX_SHM)
        return int(self._call("shm_create", length).words[1])

    def shm_attach(self, key: int) -> int:
        if type(key) is not int or not 0 < key < 1 << 63:
            raise SyscallError("ESRCH", "no such segment", key=shown(key))
        return int(self._call("shm_attach", key).words[1])

    def shm_detach(self, vaddr: int) -> None:
        if type(vaddr) is not int or not 0 <= vaddr < _TOP:
            raise SyscallError("EINVAL", "no segment attached there", vaddr=shown(vaddr))
        self._call("shm_detach", vaddr)

    # -- rpc: native L4 IPC between processes --------------------------------------------

    def rpc_serve(self, name: str, handler: Any, count: int | None = None) -> None:
        name = str_arg(name, "name", 64)
        handler = func(handler, "handler")
        count = opt_nat(count, "count")
        if count == 0:
            return
        lib = self._lib()
        self._call("register", objs=(name,))
        served = 0
        m = lib.receive()
        while True:
            result = handler(self, m.words[0] if m.words else 0)
            if type(result) is not int:             # an int wraps like a register
                raise SyscallError("EINVAL", "an rpc handler must answer a word",
                                   result=shown(result))
            served += 1
            words = (wrap_word(result),)
            if count is not None and served >= count:
                self._reply(lib.send, m.sender, words, timeout=0)
                break
            got = self._reply(lib.reply_wait, m.sender, words)
            m = lib.receive() if got is None else got
        self._call("unregister", objs=(name,))

    def _reply(self, op: Callable[..., Any], to: int, words: tuple[int, ...],
               **kw: Any) -> Any:
        """An rpc answer to ``to`` by ``op`` (``reply_wait``, or a final ``send``
        that never blocks); its result, or None when the caller is gone: dead
        (ESRCH: its id names nothing) or no longer waiting for this answer (EAGAIN:
        its process ended between our receive and this reply). That answer is
        dropped, as Mach's ``_serve_port`` does: a client's death must not end the
        service of the others. Any other error, and this thread's own end, still
        raise. (The receive half of ``reply_wait``, from anybody and without a
        timeout, fails only when this thread is ended: then ``_lib`` raises.)"""
        try:
            return op(to, words=words, **kw)
        except SyscallError as ex:
            self._lib()                         # ended meanwhile: ThreadExit
            if ex.errno not in ("ESRCH", "EAGAIN"):
                raise
            return None

    def rpc_connect(self, name: str) -> int:
        name = str_arg(name, "name", 64)
        tid = int(self._call("connect", objs=(name,)).words[1])
        handle = len(self._rpc) + 1
        self._rpc[handle] = tid
        return handle

    def rpc_call(self, handle: int, word: int) -> int:
        tid = self._rpc.get(handle) if type(handle) is int else None
        if tid is None:
            raise SyscallError("EBADF", "bad rpc handle", handle=shown(handle))
        w = rpc_word(word)
        try:
            got = self._lib().call(tid, words=(w,))
        except SyscallError as ex:
            if ex.errno != "ESRCH":
                raise
            raise SyscallError("EPIPE", "the service ended", handle=handle) from None
        return int(got.words[0]) if got.words else 0

