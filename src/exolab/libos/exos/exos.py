"""ExOS: the library operating system of the exokernel, one per application.

ExOS runs in the application's own protection domain, untrusted by Aegis,
and implements the whole exolab ABI (:class:`exolab.abi.ABI`) on Aegis's
low-level interface: processes and threads (:mod:`.proc`), virtual memory
on its own page tables (:mod:`.vm`), pipes and shared memory (:mod:`.ipc`) and
lrpc (:mod:`.lrpc`). Only a few calls enter the kernel at all: binding a page,
allocating one, a control transfer, a yield. A bug in an ExOS instance (or
an application scribbling over ExOS's memory) harms that process alone.

How each ABI call is provided:

    getpid          a load from ExOS's own memory (no kernel entry)
    time, compute   the cycle counter / burn cycles in user mode (Personality)
    random          the machine's seeded generator, read like a device (Personality)
    api_call        Aegis's null system call (GETRES)
    print           write(1): the descriptor layer, then Aegis's console
    spawn, fork     a new environment built by ExOS (COW on ExOS's page table)
    exit, wait      an asynchronous PCT to the parent / block until it arrives
    yield_          Aegis yield (ExOS saves and restores its own registers)
    threads         ExOS threads switched in user mode (CPU.user_switch)
    pipe/read/...   a ring in a shared page, yield or sleep when empty/full
    mmap/mprotect   ExOS's page table + batched secure bindings
    fault handler   upcalled from Aegis's exception dispatch, full context saved
    shm             capability-named segments, attachers become co-owners
    rpc             lrpc: synchronous PCT into the server's single entry
    sockets         the network stack as a library over DPF filters (net.py)

Extensions beyond the ABI: ``bind_handler`` (an ASH on a UDP socket),
``read_inline``/``write_inline`` (pipe'),
``rpc_call_trusted`` (tlrpc), ``pct_call`` (a bare PCT), ``aegis(number,
*args)`` (the raw kernel interface), ``handle``/``pid`` attributes,
``dropped`` (asynchronous messages refused). ``cpu`` is a user-mode view
(:class:`~exolab.libos.exos.ucpu.UserCPU`): nothing physical.

Interface::

    ExOS(cpu, pid, handle, parent_handle, name="")     implements exolab.abi.ABI
                                                       (a Personality)
    ExOS.first(cpu, eid, handle, program, args) -> (fn, args)   for Aegis.boot
    ExOS.vm_class, ipc_class, lrpc_class, procs_class  the components a subclass
                                                       may replace
    libos_of(program, default) -> class   the library OS a program is linked with
    TRIGGER_VPN
    (for the components: entry_table, exc_table, set_entries, run_exception,
    exc_handler, die, block; ``aegis(number, *args)``, the raw kernel interface)

A program picks its own library OS by naming it: ``main.libos = MyExOS`` (a
subclass of ExOS). Aegis boots it with that one, ``spawn`` gives a spawned
program the one it names, and a fork child keeps its parent's (the copied
image includes the library). Programs that name none get ExOS.
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.abi import PROT_RW, FaultHandler, Program, RpcHandler
from exolab.errors import SyscallError, safe_repr
from exolab.kernels.common.args import exception_kind, opt_func
from exolab.kernels.common.names import program_name
from exolab.kernels.common.personality import Personality
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.fs import files_of
from exolab.libos.exos.ipc import FD_FILE, IPC
from exolab.libos.exos.layout import (
    EXOS_VPN,
    MISC_EXC,
    MISC_HANDLER,
    MISC_PID,
    MISC_VA,
    P_COW,
    P_DIRTY,
    P_PRESENT,
    P_SHARED,
    P_WRITE,
    SHIFT,
    cost,
)
from exolab.libos.exos.lrpc import LRPC
from exolab.libos.exos.net import ExosNet
from exolab.libos.exos.proc import Procs
from exolab.libos.exos.ucpu import UserCPU
from exolab.libos.exos.vm import VM
from exolab.machine.cpu import CPU, Cause

__all__ = ["ExOS", "TRIGGER_VPN", "libos_of"]

_YIELD = int(Sys.YIELD)                 # (a plain int: no IntEnum lookup per call)
TRIGGER_VPN = EXOS_VPN + 0x101          # a page that stays read-only: trigger("prot")
_CAUSE = {"unalign": Cause.ADDR_LOAD, "overflow": Cause.OVERFLOW,
          "coproc": Cause.COPROC, "prot": Cause.TLB_MOD}


def _exc_slot(kind: str) -> int:
    """Address of the misc-page word that says whether ``kind`` has a handler."""
    return MISC_VA + MISC_EXC + 4 * list(_CAUSE).index(kind)


class ExOS(Personality):
    """One process's library operating system."""

    kernel_name = "exokernel"
    TRIGGER_VPN = TRIGGER_VPN
    # one class per mechanism: a specialised library OS replaces some (docs/exokernel.md)
    vm_class: type[VM] = VM
    ipc_class: type[IPC] = IPC
    lrpc_class: type[LRPC] = LRPC
    procs_class: type[Procs] = Procs

    def __init__(self, cpu: "CPU | UserCPU", pid: int, handle: int, parent: int | None,
                 name: str = "") -> None:
        ucpu = cpu if type(cpu) is UserCPU else UserCPU(cpu)   # user mode only
        super().__init__(ucpu)
        self.cpu = ucpu
        self.profile = cpu.profile
        self.trap = cpu.trap                    # the only way into Aegis
        self.pid = pid                          # = the environment id
        self.handle = handle                    # capability for our own environment
        self.parent = parent                    # {wake, pct} capability for the parent
        self.name = name or f"exos{pid}"
        self.wake_handle = 0                    # {wake} capability others may hold
        self.registry_va = 0                    # the shared rpc registry page
        self.image_span = 0                     # pages of ExOS text + program image
        self.fault_handler: FaultHandler | None = None
        self.exc_handlers: dict[str, Callable[..., Any]] = {}
        self.prot_epoch = 0                     # bumped by every mprotect
        self.in_entry = 0                       # running a PCT entry on a borrowed thread
        self.dropped = 0                        # asynchronous messages refused (_on_async)
        self.c_call = cost(cpu.profile, "proc_call")
        self.vm = self.vm_class(self)
        self.ipc = self.ipc_class(self)
        self.lrpc = self.lrpc_class(self)
        self.procs = self.procs_class(self)
        self.pct_call = self.lrpc.pct           # a bare PCT and back (Table 6): no stub
        self.net: ExosNet | None = None         # the library stack, made by socket()

    @classmethod
    def first(cls, cpu: "CPU | UserCPU", eid: int, handle: int, program: Program,
              args: tuple[Any, ...]) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The entry and arguments of the first environment's first context."""
        os = cls(cpu, eid, handle, None, name=program_name(program, "init"))
        return os.procs.first_main, (program, args)

    # -- the tables ExOS gives Aegis --------------------------------------------------

    def entry_table(self) -> dict[str, Any]:
        """Entry points: TLB miss, prologue/epilogue, messages, revocation."""
        self.wake_handle = self.trap(Sys.CAP_DERIVE, self.handle, ("wake",))
        return {"tlb_miss": self.vm.on_tlb_miss, "prologue": self._prologue,
                "epilogue": self._epilogue, "async": self._on_async,
                "revoke": self._on_revoke, "repossessed": self._on_repossessed}

    def exc_table(self) -> dict[int, Any]:
        """Exception handlers ExOS always installs (write faults, protection)."""
        return {int(Cause.TLB_MOD): self.vm.on_tlb_mod,
                int(Cause.TLB_LOAD): self.vm.on_prot, int(Cause.TLB_STORE): self.vm.on_prot}

    def set_entries(self, entries: dict[str, Any]) -> None:
        """Change some of our entry points (a sync entry is always lrpc's, which runs
        on the caller's borrowed thread and counts itself in ``in_entry``)."""
        if "sync" in entries and entries["sync"] is not None:
            entries = dict(entries, sync=self.lrpc.entry)
        self.trap(Sys.ENV_SETUP, self.handle, entries, {}, None)

    def _prologue(self) -> None:
        """A slice starts (or control is donated): restore our registers."""
        self.cpu.charge(self.profile.reg_restore)

    def _epilogue(self) -> None:
        """The slice ends: save our registers (the kernel saves none); our running
        thread's turn is over (taken at its next preemption point, proc.py)."""
        self.cpu.charge(self.profile.reg_save)
        self.procs.slice_ended()

    def _on_async(self, sender: int, *words: Any) -> None:
        """An asynchronous message: the kernel's death notice of a child (sender 0).

        Anyone holding our wake capability may send one, with any registers, so
        it is decoded at exact types; anything else is dropped and counted
        (``dropped``), never run: no caller's ``__eq__``, no exception."""
        if type(sender) is int and len(words) == 3 and type(words[0]) is str \
                and words[0] == "exit" and type(words[1]) is int:
            if self.procs.on_exit_message(sender, words[1], words[2]):
                return
        elif type(sender) is int and len(words) == 4 and type(words[0]) is str \
                and words[0] == "reg":
            if self.lrpc.on_register(sender, words[1:]):
                return
        self.dropped += 1

    def _on_revoke(self, npages: int) -> None:
        """Visible revocation: give back clean, private pages (refilled on demand)."""
        pt, given = self.vm.pt, 0
        for i in range(pt.count()):
            if given >= npages:
                break
            ppn, flags = pt.entry(i)
            if flags & P_PRESENT and flags & P_WRITE and \
                    not flags & (P_DIRTY | P_SHARED | P_COW):
                vpn, h = pt.vpn(i), pt.cap(i)
                pt.set_frame(i, 0, 0, flags & ~P_PRESENT)
                self.trap(Sys.TLB_UNBIND, vpn, 1)
                self.trap(Sys.PAGE_FREE, h)
                given += 1

    def _on_repossessed(self, *taken: tuple[int, int]) -> None:
        """The abort protocol took pages: mark their PTEs lost."""
        self.vm.lose({ppn for ppn, _h in taken})

    def exc_handler(self, kind: str) -> Callable[..., Any] | None:
        """The program's handler for exception ``kind``, if any."""
        return self.exc_handlers.get(kind)

    def run_exception(self, kind: str, cause: int, vaddr: int) -> None:
        """Dispatch an exception to the program's handler and resume after it."""
        handler = self.exc_handlers.get(kind)
        self.cpu.load(_exc_slot(kind))
        self.cpu.charge(self.c_call)
        if handler is None:
            self.die(f"unhandled {kind}")
        handler(self, kind)                                 # type: ignore[misc]
        self.vm.handler_return()

    def _exc_entry(self, kind: str) -> Callable[..., None]:
        """An Aegis exception handler bound to ``kind``."""
        def entry(cause: int, vaddr: int, write: bool = False) -> None:
            self.run_exception(kind, cause, vaddr)
        entry.__name__ = f"exc_{kind}"
        return entry

    def die(self, what: str) -> None:
        """End this process after an unhandled fault (``what`` is the recorded status)."""
        self.procs.die(what)

    def block(self, sleeper: int | None, ready: Callable[[], bool], spins: int = 0) -> None:
        """Wait a turn (see Procs.block; ``spins``: turns already waited in vain)."""
        self.procs.block(sleeper, ready, spins=spins)

    def aegis(self, number: int, *args: Any) -> Any:
        """The raw Aegis interface (an exokernel lets applications use it)."""
        return self.trap(number, *args)

    # -- ABI: sockets (net.py: the stack as a library over Aegis's packet filters) -------

    def socket(self, kind: str = "udp") -> int:
        if self.net is None:
            self.net = ExosNet(self)            # ENODEV without a NIC
        return self.net.socket(kind)

    def _net(self) -> ExosNet:
        """The library stack; a descriptor call before any socket() is EBADF."""
        if self.net is None:
            raise SyscallError("EBADF", "no socket is open")
        return self.net

    def bind(self, fd: int, port: int) -> int:
        return self._net().bind(fd, port)

    def sendto(self, fd: int, data: bytes, addr: str, port: int) -> int:
        return self._net().sendto(fd, data, addr, port)

    def recvfrom(self, fd: int, n: int) -> tuple[bytes, tuple[str, int]]:
        return self._net().recvfrom(fd, n)

    def bind_handler(self, fd: int, source: str) -> None:
        """Extension: attach an ASH (``handler(msg)`` source, verified by Aegis) to
        bound UDP socket ``fd``: it runs in the kernel on arrival (net.py, ash.py)."""
        self._net().bind_handler(fd, source)

    # -- ABI: identity and time --------------------------------------------------------

    # -- ABI: the program's own operations, each a preemption point (proc.py) ------------

    def time(self) -> int:
        if self.procs.resched:
            self.procs.preempt()
        return super().time()

    def compute(self, cycles: int) -> None:
        if self.procs.resched:
            self.procs.preempt()
        super().compute(cycles)

    def random(self, n: int) -> bytes:
        if self.procs.resched:
            self.procs.preempt()
        return super().random(n)

    def load(self, vaddr: int, size: int = 4) -> int:
        if self.procs.resched:
            self.procs.preempt()
        return super().load(vaddr, size)

    def store(self, vaddr: int, value: int, size: int = 4) -> None:
        if self.procs.resched:
            self.procs.preempt()
        super().store(vaddr, value, size)

    def load_bytes(self, vaddr: int, n: int) -> bytes:
        if self.procs.resched:
            self.procs.preempt()
        return super().load_bytes(vaddr, n)

    def store_bytes(self, vaddr: int, data: bytes) -> None:
        if self.procs.resched:
            self.procs.preempt()
        super().store_bytes(vaddr, data)

    def getpid(self) -> int:
        if self.procs.resched:
            self.procs.preempt()
        self.cpu.charge(self.c_call)                   # the library routine
        return self.cpu.load(MISC_VA + MISC_PID)

    def api_call(self) -> int:
        return self.trap(Sys.GETRES)  # type: ignore[no-any-return]

    # -- ABI: processes and threads ------------------------------------------------------

    def spawn(self, program: Program, *args: Any, name: str = "") -> int:
        return self.procs.spawn(program, args, name)

    def fork(self, entry: Program, *args: Any) -> int:
        return self.procs.fork(entry, args)

    def exit(self, status: Any = 0) -> None:
        self.procs.exit(status)

    def wait(self, pid: int | None = None) -> tuple[int, Any]:
        return self.procs.wait(pid)

    def yield_(self) -> None:
        self.cpu.charge(self.profile.reg_save)  # Procs.yield_env, inlined (a frame
        self.trap(_YIELD, None)                 # less on the yield path)

    def thread_create(self, entry: Callable[..., Any], *args: Any) -> int:
        return self.procs.thread_create(entry, args)

    def thread_yield(self) -> None:
        self.procs.thread_yield()

    def thread_id(self) -> int:
        return self.procs.thread_id()

    def thread_park(self) -> None:
        self.procs.thread_park()

    def thread_unpark(self, tid: int) -> None:
        self.procs.thread_unpark(tid)

    # -- ABI: descriptors ------------------------------------------------------------------

    def pipe(self) -> tuple[int, int]:
        return self.ipc.pipe()

    def read(self, fd: int, n: int) -> bytes:
        return self.ipc.read(fd, n)

    def write(self, fd: int, data: bytes) -> int:
        return self.ipc.write(fd, data)

    def close(self, fd: int) -> None:
        self.ipc.close(fd)

    # -- ABI: files (ext2 over XN, libos/exos/fs.py) -------------------------------------

    @property
    def _files(self) -> Any:
        """The machine's ExOS file system (mounted over XN on first use)."""
        return files_of(self)

    def open(self, path: str, flags: int = 0, mode: int = 0o644) -> int:
        return self._files.open(self, path, flags, mode)  # type: ignore[no-any-return]

    def lseek(self, fd: int, offset: int, whence: int = 0) -> int:
        return self._files.lseek(self._file(fd), offset, whence)  # type: ignore[no-any-return]

    def fsync(self, fd: int) -> None:
        self._files.fsync(self._file(fd, "EINVAL"))

    def _file(self, fd: int, errno: str = "ESPIPE") -> int:
        """The open-file number of descriptor ``fd`` (EBADF, or ``errno`` if not a file)."""
        kind, index = self.ipc.fd_entry(fd)
        if kind != FD_FILE:
            raise SyscallError(errno, "not a file", fd=fd)
        return index

    def unlink(self, path: str) -> None:
        self._files.unlink(path)

    def rename(self, old: str, new: str) -> None:
        self._files.rename(old, new)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._files.mkdir(path, mode)

    def rmdir(self, path: str) -> None:
        self._files.rmdir(path)

    def listdir(self, path: str) -> list[str]:
        return self._files.listdir(path)  # type: ignore[no-any-return]

    def stat(self, path: str) -> Any:
        return self._files.stat(path)

    def read_inline(self, fd: int, n: int) -> bytes:
        """pipe': read with the ring code inlined (no descriptor layer)."""
        return self.ipc.read_inline(fd, n)

    def write_inline(self, fd: int, data: bytes) -> int:
        """pipe': write with the ring code inlined."""
        return self.ipc.write_inline(fd, data)

    # -- ABI: memory -------------------------------------------------------------------------

    def mmap(self, length: int, prot: int = PROT_RW) -> int:
        self.cpu.charge(self.c_call)                   # the library routine
        return self.vm.mmap(length, prot)

    def munmap(self, vaddr: int, length: int) -> None:
        self.cpu.charge(self.c_call)                   # the library routine
        self.vm.munmap(vaddr, length)

    def mprotect(self, vaddr: int, length: int, prot: int) -> None:
        self.cpu.charge(self.c_call)                   # the library routine
        self.vm.mprotect(vaddr, length, prot)

    def dirty(self, vaddr: int) -> bool:
        self.cpu.charge(self.c_call)                   # the library routine
        return self.vm.dirty(vaddr)

    def set_fault_handler(self, handler: FaultHandler | None) -> None:
        self.fault_handler = opt_func(handler, "handler")
        self.cpu.store(MISC_VA + MISC_HANDLER, int(handler is not None))

    def set_exception_handler(self, kind: str, handler: Callable[..., Any] | None) -> None:
        exception_kind(kind)
        opt_func(handler, "handler")
        if handler is None:
            self.exc_handlers.pop(kind, None)
        else:
            self.exc_handlers[kind] = handler
        self.cpu.store(_exc_slot(kind), int(handler is not None))
        if kind != "prot":              # prot arrives through ExOS's write-fault handler
            entry = None if handler is None else self._exc_entry(kind)
            self.trap(Sys.ENV_SETUP, self.handle, {}, {int(_CAUSE[kind]): entry}, None)

    def exception_cause(self, kind: str) -> tuple[Cause, int]:
        """Every kind is raised on ExOS's trigger page (an unaligned address for
        ``unalign``, the read-only page for ``prot``)."""
        vaddr = (TRIGGER_VPN << SHIFT) + (1 if kind == "unalign" else 0)
        return _CAUSE[kind], vaddr if kind in ("unalign", "prot") else 0

    # -- ABI: shared memory and rpc --------------------------------------------------------------

    def shm_create(self, length: int) -> int:
        return self.ipc.shm_create(length)

    def shm_attach(self, key: int) -> int:
        return self.ipc.shm_attach(key)

    def shm_detach(self, vaddr: int) -> None:
        self.ipc.shm_detach(vaddr)

    def rpc_serve(self, name: str, handler: RpcHandler, count: int | None = None) -> None:
        self.lrpc.serve(name, handler, count)

    def rpc_connect(self, name: str) -> int:
        return self.lrpc.connect(name)

    def rpc_call(self, handle: int, word: int) -> int:
        return self.lrpc.call(handle, word)

    def rpc_call_trusted(self, handle: int, word: int) -> int:
        """tlrpc: the callee is trusted to save its own registers (Table 12)."""
        return self.lrpc.call_trusted(handle, word)


def libos_of(program: Any, default: type[ExOS]) -> type[ExOS]:
    """The library OS ``program`` is linked with: its ``libos`` attribute, else ``default``.

    EINVAL when the attribute is not a subclass of ExOS (a spawned process
    starts inside ExOS's own process-building code, so it must be one).
    """
    libos = getattr(program, "libos", None)
    if libos is None:
        return default
    if not (isinstance(libos, type) and issubclass(libos, ExOS)):
        raise SyscallError("EINVAL", "program.libos is not a library OS (an ExOS subclass)",
                           libos=safe_repr(libos))
    return libos
