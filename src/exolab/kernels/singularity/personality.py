"""The ABI on Singularity: a SIP's ``os``, every call a procedure call into the kernel.

Each call charges the ABI-call path (``sing_abi_call``: no trap, no mode
switch) and then what it does. Memory is the SIP's own heap regions,
addressed physically (paging is off): every load and store is bounds-checked
(``sing_bounds_check``, the safe-code tax) and an access outside the SIP's
regions is its fault. Pipes are channels carrying exchange-heap blocks;
``rpc_*`` is a name service handing out channels (a reply to a client that
went away, EPIPE, closes that connection, and the server serves on). What a
sealed SIP cannot have is ENOSYS (:data:`kernel.REFUSES`). Beyond the ABI:
``channel``, ``send``, ``receive``, ``close_endpoint``, ``endpoint`` (one its
manifest declared), ``exheap_new/read/write/free`` and, for a driver SIP
whose manifest declares the NIC, ``nic_post/nic_send/nic_wait``, or the disk,
``disk_info/disk_read``. With paging on (the isolation knob) every access,
``load_bytes``/``store_bytes`` too, goes through the TLB page by page.

Interface::

    SipOS(kernel, sip)          the personality (an exolab.abi.ABI)
    release(kernel, sip)        a SIP exited: its services go
    no_server(kernel) -> bool   fail connects nobody can serve (True: some were)
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.abi import ACCESS_SIZES, MAX_COMPUTE, PROT_RW, as_bytes, wrap_word
from exolab.errors import KernelPanic, ProgramFault, SyscallError
from exolab.kernels.common.args import cycles as compute_cycles
from exolab.kernels.common.args import func, nat, opt_nat, random_count, shown, str_arg
from exolab.kernels.common.args import word as rpc_word
from exolab.kernels.common.exitstatus import exit_value
from exolab.kernels.common.personality import Personality
from exolab.kernels.singularity.channel import Endpoint
from exolab.kernels.singularity.connections import Clients
from exolab.kernels.singularity.exheap import Block
from exolab.kernels.singularity.limits import (MAX_FDS, MAX_HEAP_PAGES, PIPE_BUFFER,
                                               RPC_CONNECTIONS)
from exolab.kernels.common.park import Parking, thread_of
from exolab.machine.threads import ThreadExit

__all__ = ["SipOS", "release", "no_server"]

_MASK = (1 << 64) - 1


def _refused(call: str) -> SyscallError:
    """ENOSYS for what a sealed SIP cannot have."""
    return SyscallError("ENOSYS", "a sealed SIP cannot do this", call=call)


class _Service:
    """An rpc name: its server SIP, the connections handed to it, its sleepers, and
    its clients' live connections (bounded per client: :mod:`.connections`)."""

    __slots__ = ("server", "conns", "sleepers", "clients")

    def __init__(self, server: int, clients: Clients) -> None:
        self.server = server
        self.conns: list[Endpoint] = []
        self.sleepers: list[Any] = []
        self.clients = clients


class _Pipe:
    """A pipe's state beside its channel: bytes in it, its sleeping writers."""

    __slots__ = ("buffered", "writers", "reader_closed", "open", "pages")

    def __init__(self, pages: int) -> None:
        self.buffered = 0                   # sent and not yet read (PIPE_BUFFER at most)
        self.writers: list[Any] = []        # threads asleep on a full pipe
        self.reader_closed = False
        self.open = 2                       # its descriptors still open
        self.pages = pages                  # frames it reserved for its block


class SipOS(Personality):
    """A SIP's view of the kernel; see the module docstring."""

    kernel_name = "singularity"

    def __init__(self, kernel: Any, sip: Any) -> None:
        self._k = kernel
        self._sip = sip
        self._pid = sip.pid
        self._ch = kernel.channels
        self._heap = kernel.heap
        self._mem = kernel.machine.memory
        self._c_call = kernel.paths["sing_abi_call"]
        p = kernel.machine.profile
        self._c_check = kernel.paths["sing_bounds_check"]
        self._c_access = p.load_store + self._c_check
        self._c_kib = p.copy_per_kib
        self._res = p.us_to_cycles(1)           # clock resolution: 1 us in cycles
        self._base, self._end = sip.regions[0]
        self._brk = self._base + (1 << kernel.page_shift) * 2   # first pages: the image
        self._partial: dict[int, bytes] = {}    # read fd -> bytes left of a block
        self._rpc: dict[int, Endpoint] = {}
        self._pipes: dict[int, _Pipe] = {}      # pipe fd -> the pipe's state (both ends)
        self._ring3 = sip.ring3                 # (isolation knob)
        self._paged = kernel.paged
        self._park = Parking(kernel)            # its threads' wake tokens (common/park.py)
        self._sched = kernel.sched
        super().__init__(kernel.machine.cpu)

    # -- the call path -------------------------------------------------------------

    def _begin(self, cycles: int) -> Any:
        """Charge the start of a call: a preemption point (sched.py), where a slice
        that ended is taken before the call has done anything; the CPU."""
        cpu: Any = self._cpu
        cpu.charge(cycles)
        if self._sched.resched:
            self._sched.preempt(cpu)
        return cpu

    def _enter(self) -> Any:
        """Charge the ABI call (a procedure call) and stop a killed thread."""
        cpu: Any = self._cpu             # the machine CPU (traps, current thread)
        if self._ring3:
            cpu.trap(0)                     # the isolation knob: a ring crossing
        self._begin(self._c_call)
        self._k.calls += 1
        t = cpu.current
        if t is not None and t.killed:
            raise ThreadExit(t.exit_status)
        return cpu

    @staticmethod
    def _alive(cpu: Any) -> None:
        """Stop the calling thread if its SIP was killed (a call that is no ABI call)."""
        t = cpu.current
        if t is not None and t.killed:
            raise ThreadExit(t.exit_status)

    def _fault(self, ex: ProgramFault) -> ThreadExit:
        """End this SIP for ``ex`` (a safety or contract violation)."""
        return self._k.fault(self._sip, "fault: ProgramFault: " + str(ex), None)

    # -- identity, time, processes -------------------------------------------------------

    def time(self) -> int:
        return int(self._begin(self._c_clock).now())

    def compute(self, cycles: int) -> None:
        if type(cycles) is not int or not 0 <= cycles <= MAX_COMPUTE:   # hot: inline
            cycles = compute_cycles(cycles)                            # (its error)
        self._begin(cycles)

    def random(self, n: int) -> bytes:
        n = random_count(n)
        return self._begin(self.random_cost(n)).randbytes(n)

    def getpid(self) -> int:
        self._enter()
        return self._pid

    def api_call(self) -> int:
        self._enter().charge(self._cpu.profile.load_store)    # reads one kernel field
        return self._res

    def spawn(self, program: Any, *args: Any, name: str = "") -> int:
        self._enter()
        return int(self._k.spawn(self._sip, program, args, name).pid)

    def fork(self, entry: Any, *args: Any) -> int:
        self._enter()
        raise _refused("fork")

    def exit(self, status: Any = 0) -> None:
        self._enter()
        self._k.kill(self._sip, exit_value(status))
        raise ThreadExit(self._sip.status)

    def wait(self, pid: int | None = None) -> tuple[int, Any]:
        cpu = self._enter()
        if pid is not None and type(pid) is not int:    # never run a caller's __eq__
            raise SyscallError("ECHILD", "no such child", pid=shown(pid))
        while True:
            got = self._k.waits.reap(self._pid, pid)
            if got is not None:
                self._k.forget(got[0])
                return got
            self._k.sched.sleep(cpu, self._sip.waiters)
            self._enter()

    def yield_(self) -> None:
        self._k.sched.yield_(self._enter())

    def thread_create(self, entry: Callable[..., Any], *args: Any) -> int:
        """A new thread of this SIP; endpoints among ``args`` move to it."""
        self._enter()
        entry = func(entry, "entry")
        eps = [a for a in args if type(a) is Endpoint]
        try:
            for ep in eps:                      # decode: the caller owns each
                self._ch.side(self._pid, ep)
        except ProgramFault as ex:
            raise self._fault(ex) from None
        t = self._k.start_thread(self._sip, entry, args)
        for ep in eps:
            self._ch.claim(self._pid, ep, t.tid)
        return int(t.tid)

    def thread_yield(self) -> None:
        self._k.sched.yield_(self._enter(), self._sip)

    def thread_id(self) -> int:
        return int(self._enter().current.tid)

    def thread_park(self) -> None:
        """An ABI call into the kernel: sleep until unparked (or take the token)."""
        cpu = self._enter()
        self._park.park(cpu, cpu.current)
        t = cpu.current
        if t is not None and t.killed:
            raise ThreadExit(t.exit_status)

    def thread_unpark(self, tid: int) -> None:
        """Wake thread ``tid`` of this SIP, or leave it a token (EINVAL, ESRCH)."""
        self._enter()
        self._park.unpark(thread_of(self._sip.threads, tid))

    # -- pipes: channels of exchange-heap blocks ------------------------------------------

    def _new_fd(self, kind: str, ep: Endpoint) -> int:
        """The lowest free descriptor for ``ep``."""
        fds = self._sip.fds
        for fd in range(MAX_FDS):
            if fd not in fds:
                fds[fd] = (kind, ep)
                return fd
        raise SyscallError("EMFILE", "too many open descriptors", limit=MAX_FDS)

    def _fd(self, fd: Any, kind: str) -> Any:
        """The endpoint behind ``fd`` if it is of ``kind`` ("console" too for writes)."""
        ent = self._sip.fds.get(fd) if type(fd) is int else None
        if ent is None or (ent[0] != kind and not (kind == "w" and ent[0] == "console")):
            raise SyscallError("EBADF", "bad file descriptor", fd=fd)
        return ent

    def pipe(self) -> tuple[int, int]:
        """A pipe: a channel within the SIP, and the frame its one block will use,
        reserved now (ENOMEM here, never at a write)."""
        self._enter()
        if len(self._sip.fds) + 2 > MAX_FDS:
            raise SyscallError("EMFILE", "too many open descriptors", limit=MAX_FDS)
        pages = -(-PIPE_BUFFER >> self._k.page_shift)
        self._heap.reserve(pages)
        try:
            exp, imp = self._ch.create(self._pid, shared=True,    # descriptors: the SIP's
                                       queue=PIPE_BUFFER)         # (bytes bound it first)
        except SyscallError:
            self._heap.unreserve(pages)
            raise
        r, w = self._new_fd("r", imp), self._new_fd("w", exp)
        self._pipes[r] = self._pipes[w] = _Pipe(pages)
        return r, w

    def read(self, fd: int, n: int) -> bytes:
        cpu = self._enter()
        _kind, ep = self._fd(fd, "r")
        n = nat(n, "n")
        if n == 0:
            return b""
        data = self._partial.pop(fd, b"")
        if not data:
            msg = self._ch.receive(cpu, self._pid, ep)
            if msg is None:                     # no write end remains: end of file
                return b""
            block = msg[1][0]
            data = self._heap.read(self._pid, block)
            self._heap.free(self._pid, block)
        if len(data) > n:
            self._partial[fd] = data[n:]
            data = data[:n]
        pipe = self._pipes[fd]
        pipe.buffered -= len(data)
        if pipe.writers:                        # room again: the writers wake
            self._k.sched.wakeup(pipe.writers)
        return data

    def write(self, fd: int, data: bytes) -> int:
        cpu = self._enter()
        kind, ep = self._fd(fd, "w")
        data = data if type(data) is bytes else as_bytes(data)
        if kind == "console":
            self._k.console.write(self._pid, data)
            return len(data)
        pipe = self._pipes[fd]
        if pipe.reader_closed:
            raise SyscallError("EPIPE", "no read descriptor remains")
        at, n = 0, len(data)
        while at < n:                           # in pieces, as the reader drains it
            room = self._room(cpu, pipe)
            piece = data[at:at + room] if at or room < n else data
            self._send_piece(cpu, ep, piece)
            pipe.buffered += len(piece)
            at += len(piece)
        return n

    def _room(self, cpu: Any, pipe: "_Pipe") -> int:
        """Bytes the pipe can take now, sleeping while it is full (EPIPE once the
        reader has gone, even to a writer asleep)."""
        while True:
            if pipe.reader_closed:
                raise SyscallError("EPIPE", "no read descriptor remains")
            room = PIPE_BUFFER - pipe.buffered
            if room > 0:
                return room
            self._k.sched.sleep(cpu, pipe.writers)
            t = cpu.current
            if t is not None and t.killed:
                raise ThreadExit(t.exit_status)

    def _send_piece(self, cpu: Any, ep: Endpoint, piece: bytes) -> None:
        """Copy ``piece`` (once) to the end of the block still waiting in the pipe, or
        into a new block on the pipe's reserved frame, sent. A pipe holds at most
        PIPE_BUFFER bytes, so at most one block ever waits: it always fits."""
        cpu.charge(self._c_kib * len(piece) >> 10)
        waiting = self._ch.pending(self._pid, ep)
        if waiting is not None:
            if not self._heap.append(self._pid, waiting[1][0], piece):
                raise KernelPanic("singularity: a pipe's block overflows its page")
            return
        block = self._heap.alloc(self._pid, piece, reserved=True)
        try:
            self._ch.send(cpu, self._pid, ep, "Data", (block,))
        except SyscallError:
            self._heap.free(self._pid, block)
            raise

    def close(self, fd: int) -> None:
        self._enter()
        ent = self._sip.fds.get(fd) if type(fd) is int else None
        if ent is None:
            raise SyscallError("EBADF", "bad file descriptor", fd=fd)
        del self._sip.fds[fd]
        self._partial.pop(fd, None)
        pipe = self._pipes.pop(fd, None)
        if pipe is not None and ent[0] == "r":  # the reader went: writers get EPIPE
            pipe.reader_closed = True
            if pipe.writers:
                self._k.sched.wakeup(pipe.writers)
        if ent[1] is not None:
            self._ch.close(self._pid, ent[1])   # a block waiting there: freed
        if pipe is not None:
            pipe.open -= 1
            if pipe.open == 0:                  # both ends gone: the frame goes back
                self._heap.unreserve(pipe.pages)

    # -- memory: the SIP's own regions, bounds-checked, physical (paging off) ------------

    def mmap(self, length: int, prot: int = PROT_RW) -> int:
        self._enter()
        length = nat(length, "length", hi=MAX_HEAP_PAGES << self._k.page_shift)
        if length == 0 or type(prot) is not int or not 0 <= prot <= PROT_RW:
            raise SyscallError("EINVAL", "bad mmap", length=length, prot=shown(prot))
        pages = -(-length >> self._k.page_shift)
        if len(self._sip.frames) + pages > MAX_HEAP_PAGES:
            raise SyscallError("ENOMEM", "SIP heap limit", pages=pages)
        return int(self._k.alloc_region(self._sip, pages))

    def munmap(self, vaddr: int, length: int) -> None:
        self._enter()
        shift = self._k.page_shift
        if type(vaddr) is not int or type(length) is not int or length <= 0 or \
                vaddr < 0 or vaddr & ((1 << shift) - 1) or \
                vaddr + length > self._k.machine.memory.frames << shift:
            raise SyscallError("EINVAL", "bad munmap", vaddr=shown(vaddr),
                               length=shown(length))
        self._k.unmap_region(self._sip, vaddr, vaddr + (-(-length >> shift) << shift))

    def mprotect(self, vaddr: int, length: int, prot: int) -> None:
        self._enter()
        raise _refused("mprotect")

    def dirty(self, vaddr: int) -> bool:
        self._enter()
        raise _refused("dirty")

    def set_fault_handler(self, handler: Any) -> None:
        self._enter()
        raise _refused("set_fault_handler")

    def _check(self, vaddr: Any, size: int, what: str) -> None:
        """The safety check: [vaddr, vaddr+size) inside this SIP's regions, or its fault
        (an access outside the SIP's heap: "SIGSEGV", as the ABI names a bad access)."""
        if not (self._base <= vaddr and vaddr + size <= self._end) and \
                not self._sip.contains(vaddr, size):
            raise self._k.fault(self._sip, "SIGSEGV", vaddr)

    def load(self, vaddr: int, size: int = 4) -> int:
        if type(vaddr) is not int or type(size) is not int or size not in ACCESS_SIZES:
            raise SyscallError("EINVAL", "bad load operands", vaddr=shown(vaddr))
        if self._paged:                         # the knob: the check, then the TLB
            self._begin(self._c_check)
            self._check(vaddr, size, "load")
            return self._cpu.load(vaddr, size)
        self._begin(self._c_access)
        self._check(vaddr, size, "load")
        return int.from_bytes(self._mem.read(vaddr, size), "little")

    def store(self, vaddr: int, value: int, size: int = 4) -> None:
        if type(vaddr) is not int or type(value) is not int or type(size) is not int \
                or size not in ACCESS_SIZES:
            raise SyscallError("EINVAL", "bad store operands", vaddr=shown(vaddr))
        if self._paged:
            self._begin(self._c_check)
            self._check(vaddr, size, "store")
            self._cpu.store(vaddr, value, size)
            return
        self._begin(self._c_access)
        self._check(vaddr, size, "store")
        self._mem.write(vaddr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    def load_bytes(self, vaddr: int, n: int) -> bytes:
        if type(vaddr) is not int or type(n) is not int or n < 0:
            raise SyscallError("EINVAL", "bad load_bytes operands", vaddr=shown(vaddr))
        paged = self._paged
        self._begin(self._c_check if paged else self._c_access)
        self._check(vaddr, n, "load_bytes")
        self._cpu.charge(self._c_kib * n >> 10)
        if paged:
            self._touch(vaddr, n, None)
        return self._mem.read(vaddr, n)

    def store_bytes(self, vaddr: int, data: bytes) -> None:
        if type(vaddr) is not int:
            raise SyscallError("EINVAL", "bad store_bytes address", vaddr=shown(vaddr))
        data = data if type(data) is bytes else as_bytes(data)
        paged = self._paged
        self._begin(self._c_check if paged else self._c_access)
        self._check(vaddr, len(data), "store_bytes")
        self._cpu.charge(self._c_kib * len(data) >> 10)
        if paged:
            self._touch(vaddr, len(data), data)
        self._mem.write(vaddr, data)

    def _touch(self, vaddr: int, n: int, data: bytes | None) -> None:
        """Paging on: the first word of each page of [vaddr, vaddr+n) goes through the
        MMU (a miss walks the table; a store needs a writable entry), the rest of the
        page is the copy already charged."""
        cpu: Any = self._cpu
        size = 1 << self._k.page_shift
        at, end = vaddr, vaddr + n
        while at < end:
            if data is None:
                cpu.load(at, 1)
            else:
                cpu.store(at, data[at - vaddr], 1)
            at = (at & ~(size - 1)) + size

    # -- shared memory: a sealed SIP shares nothing --------------------------------------

    def shm_create(self, length: int) -> int:
        self._enter()
        nat(length, "length")                   # decode first: a bad argument is EINVAL
        raise _refused("shm_create")

    def shm_attach(self, key: int) -> int:
        self._enter()
        nat(key, "key")
        raise _refused("shm_attach")

    def shm_detach(self, vaddr: int) -> None:
        self._enter()
        nat(vaddr, "vaddr")
        raise _refused("shm_detach")

    # -- rpc: a name service that hands out channels ---------------------------------------

    def rpc_serve(self, name: str, handler: Any, count: int | None = None) -> None:
        cpu = self._enter()
        name = str_arg(name, "name", 64)
        handler = func(handler, "handler")
        count = opt_nat(count, "count")
        services = self._k.services
        if name in services:
            raise SyscallError("EINVAL", "name already served", name=name)
        svc = services[name] = _Service(self._pid, Clients(self._ch.connected,
                                                           RPC_CONNECTIONS))
        self._k.sched.wakeup(_connect_waiters(self._k))
        served = 0
        try:
            while count is None or served < count:
                ep = self._next_call(cpu, svc)
                if ep is None:
                    continue
                self._enter()
                msg = self._ch.receive(cpu, self._pid, ep)
                if msg is None:
                    continue
                reply = wrap_word(handler(self, msg[1][0]))
                self._enter()
                served += self._reply(cpu, svc, ep, reply)
        finally:
            if services.get(name) is svc:
                del services[name]

    def _reply(self, cpu: Any, svc: _Service, ep: Endpoint, reply: int) -> int:
        """Send ``reply`` on connection ``ep``: 1, or 0 if its client went away before
        the answer (EPIPE): the connection is closed, and the server serves on."""
        try:
            self._ch.send(cpu, self._pid, ep, "Reply", (reply,))
        except SyscallError as ex:
            if ex.errno != "EPIPE":
                raise
            svc.conns = [c for c in svc.conns if c is not ep]
            self._ch.close(self._pid, ep)
            return 0
        return 1

    def _next_call(self, cpu: Any, svc: _Service) -> Endpoint | None:
        """A connection with a call waiting, or None after a wait (closed ones dropped,
        and their ends closed: they leave the server's table)."""
        conns = []
        for ep in svc.conns:
            if self._ch.alive(self._pid, ep):
                conns.append(ep)
            else:
                self._ch.close(self._pid, ep)
        svc.conns = conns
        for ep in svc.conns:
            if self._ch.poll(self._pid, ep):
                return ep
        self._ch.sleep_any(cpu, self._pid, svc.conns, svc.sleepers)
        return None

    def rpc_connect(self, name: str) -> int:
        cpu = self._enter()
        name = str_arg(name, "name", 64)
        k = self._k
        while name not in k.services:
            if not k.sched.ready:
                raise SyscallError("ESRCH", "nobody serves this name", name=name)
            k.sched.sleep(cpu, _connect_waiters(k))
            self._enter()
            if name not in k.services and getattr(k, "connect_failed", False):
                raise SyscallError("ESRCH", "nobody serves this name", name=name)
        svc = k.services[name]
        svc.clients.admit(self._pid, self._sip.principal)   # EAGAIN: this client (or
        #                                         its principal's tree) holds too many
        self._ch.room(svc.server, 1)            # EAGAIN: the server holds too many
        exp, imp = self._ch.create(self._pid, shared=True)  # rpc handles: the SIP's
        svc.conns.append(self._ch.give(self._pid, exp, svc.server))
        svc.clients.add(self._pid, self._sip.principal, imp)
        k.sched.wakeup(svc.sleepers)
        handle = len(self._rpc) + 1
        self._rpc[handle] = imp
        return handle

    def rpc_call(self, handle: int, word: int) -> int:
        cpu = self._enter()
        w = rpc_word(word)
        ep = self._rpc.get(handle) if type(handle) is int else None
        if ep is None:
            raise SyscallError("EBADF", "bad rpc handle", handle=shown(handle))
        self._ch.send(cpu, self._pid, ep, "Call", (w,))
        self._enter()
        msg = self._ch.receive(cpu, self._pid, ep)
        if msg is None:
            raise SyscallError("EPIPE", "the server went away")
        return int(msg[1][0])

    # -- beyond the ABI: channels and the exchange heap ---------------------------------

    def channel(self, contract: str | None = None) -> tuple[Endpoint, Endpoint]:
        """A new channel (Exp, Imp) of ``contract`` (a name the manifest declares)."""
        self._enter()
        c = None
        if contract is not None:
            contract = str_arg(contract, "contract", 64)
            if contract not in self._sip.manifest.contracts or self._k.catalogue is None:
                raise self._fault(ProgramFault("contract not in the manifest",
                                               contract=contract))
            c = self._k.catalogue[contract]
        return self._ch.create(self._pid, c)

    def endpoint(self, name: str) -> Endpoint:
        """An endpoint the manifest declared (ENOENT for any other name)."""
        self._enter()
        ep = self._sip.endpoints.get(name) if type(name) is str else None
        if ep is None:
            raise SyscallError("ENOENT", "no such endpoint in the manifest", name=shown(name))
        return ep

    def send(self, ep: Endpoint, message: str, *args: Any) -> None:
        """Send ``message(*args)``: scalars copied, blocks and endpoints moved."""
        cpu = self._enter()
        try:
            self._ch.send(cpu, self._pid, ep, message, args)
        except ProgramFault as ex:
            raise self._fault(ex) from None

    def receive(self, ep: Endpoint) -> tuple[str, tuple[Any, ...]] | None:
        """The next message at ``ep`` (waits); None once the peer closed."""
        cpu = self._enter()
        try:
            return self._ch.receive(cpu, self._pid, ep)
        except ProgramFault as ex:
            raise self._fault(ex) from None

    def close_endpoint(self, ep: Endpoint) -> None:
        """Close an endpoint this SIP owns."""
        self._enter()
        try:
            self._ch.close(self._pid, ep)
        except ProgramFault as ex:
            raise self._fault(ex) from None

    def exheap_new(self, data: bytes) -> Block:
        """A new exchange-heap block holding ``data`` (copied in once)."""
        cpu = self._enter()
        data = data if type(data) is bytes else as_bytes(data)
        cpu.charge(self._c_kib * len(data) >> 10)
        return self._heap.alloc(self._pid, data)

    def exheap_read(self, block: Block) -> bytes:
        """The contents of a block this SIP owns, read in place: the exchange heap is
        mapped in every SIP, so this is a checked memory access, not a kernel call
        (but a preemption point, as a load is)."""
        self._alive(self._begin(self._c_check))
        try:
            return self._heap.read(self._pid, block)
        except ProgramFault as ex:
            raise self._fault(ex) from None

    def exheap_write(self, block: Block, data: bytes) -> None:
        """Replace the contents of a block this SIP owns: a checked copy into it in
        place (a memory access, not a kernel call; a growth takes whole pages)."""
        data = data if type(data) is bytes else as_bytes(data)
        self._alive(self._begin(self._c_check + (self._c_kib * len(data) >> 10)))
        try:
            self._heap.write(self._pid, block, data)
        except ProgramFault as ex:
            raise self._fault(ex) from None

    def exheap_free(self, block: Block) -> None:
        """Free a block this SIP owns; the handle dies."""
        self._enter()
        try:
            self._heap.free(self._pid, block)
        except ProgramFault as ex:
            raise self._fault(ex) from None


    # -- beyond the ABI: a driver SIP's device (its manifest declares the NIC) -----------

    def _nic(self) -> Any:
        """The NIC port, EPERM unless this SIP is its driver."""
        port = self._k.nic
        if port is None:
            raise SyscallError("ENODEV", "no NIC on this machine")
        port.check(self._pid)
        return port

    def nic_post(self, vaddr: int, size: int) -> bool:
        """Post a receive buffer in this SIP's heap (its physical address: paging off)."""
        self._enter()
        port = self._nic()
        size = nat(size, "size")
        if type(vaddr) is not int:
            raise SyscallError("EINVAL", "nic_post needs an int address", vaddr=shown(vaddr))
        self._check(vaddr, size, "nic_post")
        return bool(port.post(vaddr, size))

    def nic_send(self, vaddr: int, n: int) -> bool:
        """Transmit ``n`` bytes of this SIP's heap at ``vaddr``."""
        self._enter()
        port = self._nic()
        n = nat(n, "n")
        if type(vaddr) is not int:
            raise SyscallError("EINVAL", "nic_send needs an int address", vaddr=shown(vaddr))
        self._check(vaddr, n, "nic_send")
        return bool(port.send(vaddr, n))

    def nic_wait(self) -> list[tuple[int, int]]:
        """The frames received since the last call ((address, length)), waiting for one."""
        cpu = self._enter()
        return self._nic().wait(cpu, self._k.sched)


    # -- beyond the ABI: a driver SIP's disk (its manifest declares it) ----------------

    def _disk(self) -> Any:
        """The disk port, EPERM unless this SIP is its driver."""
        port = self._k.disk
        if port is None:
            raise SyscallError("ENODEV", "no disk on this machine")
        port.check(self._pid)
        return port

    def disk_info(self) -> tuple[int, int]:
        """(block size in bytes, blocks) of the disk this SIP drives."""
        self._enter()
        port = self._disk()
        return port.block_size, port.blocks

    def disk_read(self, block: int, vaddr: int) -> int:
        """Read disk ``block`` by DMA into this SIP's heap at ``vaddr`` (its physical
        address: paging off, and identity-mapped with it on); waits; the bytes read."""
        cpu = self._enter()
        port = self._disk()
        block = nat(block, "block")
        if type(vaddr) is not int:
            raise SyscallError("EINVAL", "disk_read needs an int address", vaddr=shown(vaddr))
        self._check(vaddr, port.block_size, "disk_read")
        port.read(cpu, self._k.sched, block, vaddr)
        return int(port.block_size)


def _connect_waiters(k: Any) -> list[Any]:
    """The kernel's queue of threads waiting in rpc_connect."""
    q = getattr(k, "connect_waiters", None)
    if q is None:
        q = k.connect_waiters = []
    return q


def release(k: Any, sip: Any) -> None:
    """``sip`` exited (its endpoints closed, its blocks freed): drop the names it
    served (their connects fail or wait), its connections' counts and its pipes'
    reservations."""
    for name in [n for n, s in k.services.items() if s.server == sip.pid]:
        del k.services[name]
    for svc in k.services.values():
        svc.clients.drop(sip.pid, sip.principal)
    os = sip.personality
    if os is not None:
        for pipe in {id(p): p for p in os._pipes.values()}.values():
            k.heap.unreserve(pipe.pages)
        os._pipes.clear()


def no_server(k: Any) -> bool:
    """Nothing can run: wake every rpc_connect still waiting, to fail with ESRCH."""
    q = _connect_waiters(k)
    if not q:
        return False
    k.connect_failed = True
    k.sched.wakeup(q)
    return True
