"""The application ABI: what every kernel's personality offers a program.

A program is written once, as a Python function ``main(os, *args)``, against
:class:`ABI`; each kernel supplies a subclass (its *personality*: a libc on
the monolithic kernel, ExOS on the exokernel, ...) and passes an instance as
``os``. How each kernel provides a call — a trap into a generic system-call
path, a library routine over secure bindings, a message to a server — is the
point of the lab; the contract below is the same everywhere.

Conventions
- Addresses are virtual addresses in the caller's address space; sizes in bytes.
- Errors are :class:`exolab.errors.SyscallError` with an ``errno`` string
  from :data:`ERRNOS` (``EBADF``, ``EFAULT``, ...); nothing else escapes a call.
- "Blocks" means the calling thread sleeps and other threads run meanwhile.
- Memory faults that the program does not handle end the process with
  ``exit status = "SIGSEGV"`` (other processes keep running).

Interface (each method documents its own contract)::

    identity   getpid, time, compute, api_call, print, random
    processes  spawn, fork, exit, wait, yield_
    threads    thread_create, thread_yield, thread_id, thread_park, thread_unpark
    files      pipe, read, write, close
               open, lseek, fsync, unlink, rename, mkdir, rmdir, listdir, stat
               (FILE_CALLS; default ENOSYS), FileStat, O_*, SEEK_*, S_IF*
    memory     mmap, munmap, mprotect, dirty, load, store, load_bytes,
               store_bytes, set_fault_handler
    exceptions set_exception_handler, trigger (EXCEPTION_KINDS; default ENOSYS)
    sharing    shm_create, shm_attach, shm_detach
    rpc        rpc_serve, rpc_connect, rpc_call
    sockets    socket, bind, sendto, recvfrom (SOCKET_CALLS; default ENOSYS)
    PROT_NONE, PROT_READ, PROT_WRITE, PROT_RW, ERRNOS, Program, FaultHandler
    WORD_MIN, WORD_MAX (an rpc word), MAX_COMPUTE (largest compute() burst),
    MAX_RANDOM (largest random() request),
    ACCESS_SIZES (load/store sizes), fault_status(ex) (the status of a crash)
    wrap_word(x) (an rpc reply as a word), as_bytes(data) (a buffer, decoded),
    as_flag(x, name) (a flag, decoded)
    IMAGE_PAGES, image_pages(program) (how many pages a program's image takes)

Arguments are decoded at the boundary by exact type (``type(x) is int``, not
``isinstance``): an ``int`` or ``bytes`` subclass could lie about its value
through ``__index__``/``__eq__``/``__len__``, so a call checks and uses one
plain value (``bool`` is not an int here).

A call made with the wrong number (or names) of arguments is not a call: Python
raises ``TypeError`` in the caller before any of the personality runs, so nothing
enters a kernel and nothing is charged; every personality takes exactly the
parameters below (``exolab.kernels.common.personality`` checks it), so this is the
same on every kernel.
"""
from __future__ import annotations

import importlib.util
import operator
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from exolab.errors import ConfigError, SyscallError, safe_str, type_name
from exolab.safe.sealed import SealedABCMeta

__all__ = ["ABI", "PROT_NONE", "PROT_READ", "PROT_WRITE", "PROT_RW", "ERRNOS",
           "Program", "FaultHandler", "RpcHandler", "ExceptionHandler", "EXCEPTION_KINDS",
           "TRIGGERED", "load_program", "WORD_MIN", "WORD_MAX", "MAX_COMPUTE",
           "ACCESS_SIZES", "fault_status", "wrap_word", "as_bytes", "MAX_RANDOM",
           "FILE_CALLS", "FileStat", "O_RDONLY", "O_WRONLY", "O_RDWR", "O_CREAT",
           "O_EXCL", "O_TRUNC", "O_APPEND", "SEEK_SET", "SEEK_CUR", "SEEK_END",
           "S_IFMT", "S_IFREG", "S_IFDIR", "NAME_MAX", "PATH_MAX",
           "SOCKET_CALLS", "SOCKET_KINDS"]

PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
PROT_RW = PROT_READ | PROT_WRITE

#: an rpc word is a signed 64-bit integer
WORD_MIN, WORD_MAX = -(1 << 63), (1 << 63) - 1
#: the largest ``compute(cycles)``: 2**40 cycles, 12 simulated hours at 25 MHz
MAX_COMPUTE = 1 << 40
#: the most bytes one ``random(n)`` returns
MAX_RANDOM = 1 << 16
#: the most bytes one file ``read(fd, n)`` returns (a short read past it: a hole
#: of gigabytes would otherwise be built in host memory by one call)
MAX_READ = 1 << 24
#: the word sizes ``load``/``store`` accept, in bytes
ACCESS_SIZES = frozenset((1, 2, 4, 8))
_WORD_MASK = (1 << 64) - 1

#: errno -> meaning; kernels raise SyscallError(errno, ...) with one of these
ERRNOS = {
    "EBADF": "bad file descriptor",
    "EFAULT": "bad address",
    "EINVAL": "invalid argument",
    "ENOMEM": "out of memory",
    "ECHILD": "no such child",
    "EPIPE": "broken pipe (no reader)",
    "ESRCH": "no such process or service",
    "EAGAIN": "resource temporarily unavailable",
    "ENOSYS": "call not provided by this kernel",
    "EMFILE": "too many open descriptors",
    "EPERM": "operation not permitted (a capability lacks the right)",
    "ENOEXEC": "program cannot be started",
    "ENOENT": "no such name",
    "ENODEV": "no such device",
    "EBUSY": "resource busy",
    # the file calls (FILE_CALLS)
    "EEXIST": "file exists",
    "ENOTDIR": "not a directory",
    "EISDIR": "is a directory",
    "ENOTEMPTY": "directory not empty",
    "ENOSPC": "no space left on device",
    "ENAMETOOLONG": "file name too long",
    "EMLINK": "too many links",
    "EFBIG": "file too large",
    "ESPIPE": "illegal seek",
    "EIO": "input/output error",
    "EADDRINUSE": "address (port) already in use",
    "EMSGSIZE": "message too long for one datagram",
    "ENOTSOCK": "descriptor is not a socket",
}

#: the socket calls (a kernel without a network stack refuses them: ENOSYS)
SOCKET_CALLS = frozenset({"socket", "bind", "sendto", "recvfrom"})
#: socket kinds: UDP datagrams, and ICMP echo (an unprivileged ping socket)
SOCKET_KINDS = ("udp", "icmp")

Program = Callable[..., Any]                       # main(os, *args) -> status
FaultHandler = Callable[["ABI", int, bool], None]  # handler(os, vaddr, write)
RpcHandler = Callable[["ABI", int], int]           # handler(os, word) -> word
ExceptionHandler = Callable[["ABI", str], None]    # handler(os, kind)

#: CPU.fault ``info`` of an exception raised by ``trigger``: resumable (skipped)
TRIGGERED = "trigger"

#: exception kind -> what raises it (the rows of the Exokernel paper's Table 5)
EXCEPTION_KINDS = {
    "unalign": "an unaligned pointer access",
    "overflow": "arithmetic overflow",
    "coproc": "use of the floating-point coprocessor while it is disabled",
    "prot": "a store to a write-protected page",
}


# -- the file calls -------------------------------------------------------------------

#: the file calls beyond read/write/close; a kernel without a file system adds
#: this set to its Declaration's ``refuses`` (each is ENOSYS by default)
FILE_CALLS = frozenset({"open", "lseek", "fsync", "unlink", "rename", "mkdir", "rmdir",
                        "listdir", "stat"})
#: open flags (Linux's values)
O_RDONLY, O_WRONLY, O_RDWR = 0, 1, 2
O_CREAT, O_EXCL, O_TRUNC, O_APPEND = 0o100, 0o200, 0o1000, 0o2000
#: lseek's whence
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2
#: the file-type bits of FileStat.mode
S_IFMT, S_IFREG, S_IFDIR = 0o170000, 0o100000, 0o040000
#: the longest path component, and path, in bytes of UTF-8
NAME_MAX, PATH_MAX = 255, 4096


@dataclass(frozen=True, slots=True)
class FileStat:
    """What ``stat(path)`` reports: times are whole seconds of simulated time
    (a fixed epoch plus the simulated clock; never the host's wall clock)."""

    ino: int            # inode number (unique within the file system)
    mode: int           # S_IFREG/S_IFDIR | permission bits
    links: int          # hard links (names) to it
    size: int           # bytes
    atime: int
    mtime: int
    ctime: int

    @property
    def is_dir(self) -> bool:
        """Whether it is a directory."""
        return self.mode & S_IFMT == S_IFDIR


def _no_files() -> SyscallError:
    """The ENOSYS of a kernel without a file system."""
    return SyscallError("ENOSYS", "no file system on this kernel")


class ABI(ABC, metaclass=SealedABCMeta):
    """The calls a program may make; a kernel personality implements them all."""

    #: kernel name as used by the benchmark harness ("monolithic", "exokernel", ...)
    kernel_name: str = "abstract"

    # -- identity and time ---------------------------------------------------------

    @abstractmethod
    def getpid(self) -> int:
        """Return the caller's process id (> 0)."""

    @abstractmethod
    def time(self) -> int:
        """Return the current simulated time in cycles (never the wall clock)."""

    @abstractmethod
    def compute(self, cycles: int) -> None:
        """Burn ``cycles`` of pure computation in user mode (preemptible)."""

    @abstractmethod
    def api_call(self) -> int:
        """The cheapest kernel call that reads an existing kernel structure
        (Unix ``clock_getres``); returns the clock resolution in cycles."""

    @abstractmethod
    def print(self, *parts: Any) -> None:
        """Write a line to the console (the run's output, in order)."""

    def random(self, n: int) -> bytes:
        """Return ``n`` bytes (0..MAX_RANDOM) from the machine's seeded random
        generator, read like a device (the same seed gives the same bytes).
        EINVAL for a bad ``n``; ENOSYS if the kernel has no random device."""
        raise SyscallError("ENOSYS", "no random device on this kernel")

    # -- processes -------------------------------------------------------------------

    @abstractmethod
    def spawn(self, program: Program, *args: Any, name: str = "") -> int:
        """Create a process running ``program(os, *args)`` in a fresh address
        space; return its pid. It inherits no descriptors but 0-2."""

    @abstractmethod
    def fork(self, entry: Program, *args: Any) -> int:
        """Create a child whose address space is a copy-on-write copy of the
        caller's and whose descriptors are shared; the child runs
        ``entry(os, *args)`` (Python stacks cannot be cloned, memory can).
        Return the child's pid to the parent."""

    @abstractmethod
    def exit(self, status: Any = 0) -> None:
        """End the calling process with ``status``; never returns."""

    @abstractmethod
    def wait(self, pid: int | None = None) -> tuple[int, Any]:
        """Block until child ``pid`` (or any child) exits; return (pid, status).
        ECHILD if there is no such child."""

    @abstractmethod
    def yield_(self) -> None:
        """Give the processor to another runnable process, if any."""

    # -- threads ---------------------------------------------------------------------

    @abstractmethod
    def thread_create(self, entry: Callable[..., Any], *args: Any) -> int:
        """Start a thread in the caller's address space running
        ``entry(os, *args)``; return its thread id."""

    @abstractmethod
    def thread_yield(self) -> None:
        """Give the processor to another thread of the same process, if any."""

    @abstractmethod
    def thread_id(self) -> int:
        """The calling thread's id: what ``thread_create`` returned for it (the
        main thread's too), the id ``thread_unpark`` takes."""

    @abstractmethod
    def thread_park(self) -> None:
        """Block the calling thread until a thread of its process unparks it; if an
        unpark came first (its wake token is set), consume it and return at once.
        A park may return without an unpark (the caller re-checks its condition)."""

    @abstractmethod
    def thread_unpark(self, tid: int) -> None:
        """Wake thread ``tid`` of the caller's process if it is parked; else set its
        wake token (one: unparks do not count), so its next park returns at once.
        EINVAL if ``tid`` is not an int; ESRCH if it names no live thread of the
        caller's process."""

    # -- descriptors and pipes -----------------------------------------------------------

    @abstractmethod
    def pipe(self) -> tuple[int, int]:
        """Create a pipe; return (read_fd, write_fd)."""

    @abstractmethod
    def read(self, fd: int, n: int) -> bytes:
        """Read up to ``n`` bytes; blocks while the pipe is empty and a writer
        exists; returns b"" at end of file. EBADF for a bad descriptor."""

    @abstractmethod
    def write(self, fd: int, data: bytes) -> int:
        """Write ``data``; blocks while the pipe is full; returns len(data).
        EPIPE if no reader remains; EBADF for a bad descriptor."""

    @abstractmethod
    def close(self, fd: int) -> None:
        """Close a descriptor. EBADF if it is not open."""

    # -- files (optional: FILE_CALLS, ENOSYS by default; docs/abi.md "Files") ----------
    # A path is an absolute str ("/a/b"); each component at most NAME_MAX bytes
    # of UTF-8 and the whole at most PATH_MAX (ENAMETOOLONG); "" or a relative
    # path is EINVAL. read/write/close work on an open file's descriptor as on
    # a pipe's: read returns up to n bytes from the offset (b"" at end of
    # file), write writes at the offset (the end with O_APPEND) and returns
    # the count (short only when the disk fills; ENOSPC if nothing fits).

    def open(self, path: str, flags: int = O_RDONLY, mode: int = 0o644) -> int:
        """Open ``path`` (O_CREAT: create it with ``mode``; O_EXCL: EEXIST if it
        exists; O_TRUNC: empty it); return the lowest free descriptor. ENOENT,
        EISDIR (a directory opened for writing), ENOTDIR, EINVAL, EMFILE,
        ENAMETOOLONG, ENOSPC."""
        raise _no_files()

    def lseek(self, fd: int, offset: int, whence: int = SEEK_SET) -> int:
        """Move an open file's offset (SEEK_SET/CUR/END); return the new offset
        (past the end is allowed: a later write leaves a hole). EBADF, ESPIPE
        (a pipe or the console), EINVAL (bad whence, a negative result)."""
        raise _no_files()

    def fsync(self, fd: int) -> None:
        """Return once the file's data and metadata are durable on the disk (a
        power cut then loses none of it). EBADF, EINVAL (not a file)."""
        raise _no_files()

    def unlink(self, path: str) -> None:
        """Remove the name ``path`` (not a directory: EISDIR); the file goes
        with its last name and last open descriptor. ENOENT, ENOTDIR."""
        raise _no_files()

    def rename(self, old: str, new: str) -> None:
        """Move ``old`` to ``new``, atomically replacing a file (or an empty
        directory, if ``old`` is one) there. ENOENT, EEXIST, ENOTDIR, EISDIR,
        ENOTEMPTY, EINVAL (a directory into itself)."""
        raise _no_files()

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        """Make the directory ``path``. EEXIST, ENOENT, ENOTDIR, ENOSPC."""
        raise _no_files()

    def rmdir(self, path: str) -> None:
        """Remove the empty directory ``path``. ENOENT, ENOTDIR, ENOTEMPTY,
        EBUSY (the root), EINVAL ("." as the last component)."""
        raise _no_files()

    def listdir(self, path: str) -> list[str]:
        """The names in directory ``path``, sorted, without "." and "..".
        ENOENT, ENOTDIR."""
        raise _no_files()

    def stat(self, path: str) -> FileStat:
        """Size, mode, links, inode number and times of ``path``. ENOENT, ENOTDIR."""
        raise _no_files()

    # -- virtual memory ------------------------------------------------------------------

    @abstractmethod
    def mmap(self, length: int, prot: int = PROT_RW) -> int:
        """Map ``length`` bytes (rounded up to pages) of demand-zero anonymous
        memory; return its page-aligned address. EINVAL, ENOMEM."""

    @abstractmethod
    def munmap(self, vaddr: int, length: int) -> None:
        """Unmap the pages of [vaddr, vaddr+length). EINVAL if unaligned."""

    @abstractmethod
    def mprotect(self, vaddr: int, length: int, prot: int) -> None:
        """Set the protection of the mapped pages of [vaddr, vaddr+length).
        EINVAL if unaligned, EFAULT if a page is not mapped."""

    @abstractmethod
    def dirty(self, vaddr: int) -> bool:
        """Return whether the page holding ``vaddr`` was written since mapped."""

    @abstractmethod
    def set_fault_handler(self, handler: FaultHandler | None) -> None:
        """Install ``handler(os, vaddr, write)`` for memory faults on mapped
        pages (Ultrix's SIGSEGV as Appel & Li use it). It runs in user mode;
        when it returns, the faulting access is retried. None uninstalls."""

    @abstractmethod
    def load(self, vaddr: int, size: int = 4) -> int:
        """Load an unsigned little-endian word of ``size`` (1, 2, 4, 8) bytes."""

    @abstractmethod
    def store(self, vaddr: int, value: int, size: int = 4) -> None:
        """Store the low ``size`` bytes of ``value`` little-endian."""

    @abstractmethod
    def load_bytes(self, vaddr: int, n: int) -> bytes:
        """Read ``n`` bytes of the caller's memory."""

    @abstractmethod
    def store_bytes(self, vaddr: int, data: bytes) -> None:
        """Write ``data`` into the caller's memory."""

    # -- exceptions (optional: the default is ENOSYS) ----------------------------------

    def set_exception_handler(self, kind: str, handler: ExceptionHandler | None) -> None:
        """Install ``handler(os, kind)`` for exception ``kind`` (a key of
        EXCEPTION_KINDS; None uninstalls). It runs in user mode; when it
        returns, execution resumes after the instruction that raised it.
        EINVAL for an unknown kind; ENOSYS if the kernel cannot deliver it."""
        raise SyscallError("ENOSYS", "exception not deliverable by this kernel", kind=kind)

    def trigger(self, kind: str) -> None:
        """Execute one instruction that raises exception ``kind`` (its handler
        runs, then execution continues). An unhandled exception ends the
        process. EINVAL for an unknown kind; ENOSYS if not deliverable."""
        raise SyscallError("ENOSYS", "exception not deliverable by this kernel", kind=kind)

    # -- shared memory ---------------------------------------------------------------

    @abstractmethod
    def shm_create(self, length: int) -> int:
        """Create a shared segment of ``length`` bytes; return its key."""

    @abstractmethod
    def shm_attach(self, key: int) -> int:
        """Map segment ``key`` read-write into the caller; return its address.
        ESRCH if there is no such segment."""

    @abstractmethod
    def shm_detach(self, vaddr: int) -> None:
        """Unmap the segment attached at ``vaddr``. EINVAL if none is."""

    # -- remote procedure call ---------------------------------------------------------

    @abstractmethod
    def rpc_serve(self, name: str, handler: RpcHandler, count: int | None = None) -> None:
        """Serve calls to ``name``, answering each with ``handler(os, word)``;
        return after ``count`` calls (None: serve until the process ends)."""

    @abstractmethod
    def rpc_connect(self, name: str) -> int:
        """Return a handle for calling service ``name``; blocks until it is
        served. ESRCH if the name can never be served."""

    @abstractmethod
    def rpc_call(self, handle: int, word: int) -> int:
        """Call the service behind ``handle`` with one word; return its word."""

    # -- sockets (optional: the default is ENOSYS; SOCKET_CALLS) -------------------------

    def socket(self, kind: str = "udp") -> int:
        """Create a datagram socket of ``kind`` (a SOCKET_KINDS entry: "udp", or
        "icmp" for echo requests and replies); return its descriptor, closed
        with ``close``. EINVAL for another kind, EMFILE, ENOSYS without a stack."""
        raise SyscallError("ENOSYS", "no network stack on this kernel")

    def bind(self, fd: int, port: int) -> int:
        """Bind socket ``fd`` to local ``port`` (1..65535; 0 picks a free
        ephemeral port); return the port. An ICMP socket's port is its echo
        identifier. EADDRINUSE if taken, EINVAL if already bound or out of
        range, EBADF/ENOTSOCK for a bad descriptor."""
        raise SyscallError("ENOSYS", "no network stack on this kernel")

    def sendto(self, fd: int, data: bytes, addr: str, port: int) -> int:
        """Send ``data`` as one datagram to ``addr`` (a dotted quad) and ``port``
        (an ICMP socket sends an echo request; ``port`` is its sequence number);
        binds an unbound socket to an ephemeral port first; returns len(data).
        EMSGSIZE beyond one Ethernet frame, EINVAL for a bad address or port,
        EAGAIN if the interface cannot take the frame now."""
        raise SyscallError("ENOSYS", "no network stack on this kernel")

    def recvfrom(self, fd: int, n: int) -> tuple[bytes, tuple[str, int]]:
        """Block until a datagram arrives for ``fd``; return at most ``n`` of
        its bytes (the rest of it is discarded) and its source ``(addr, port)``
        (an ICMP socket returns an echo reply's data and ``(addr, seq)``).
        EINVAL if the socket is not bound (nothing can arrive)."""
        raise SyscallError("ENOSYS", "no network stack on this kernel")


def fault_status(ex: BaseException) -> str:
    """The exit status of a process an escaping exception ended:
    ``"fault: <Type>: <message>"`` (never raises, whatever ``ex`` is)."""
    return f"fault: {type_name(ex)}: {safe_str(ex)}"


def wrap_word(x: Any) -> int:
    """An rpc handler's reply as a word: an int (or an object with ``__index__``)
    wrapped to signed 64 bits, as a register holds it; EINVAL for anything else."""
    if type(x) is not int:
        try:
            word = operator.index(x)
        except Exception:
            word = None
        if type(word) is not int:
            raise SyscallError("EINVAL", "an rpc reply must be an int", type=type_name(x))
        x = word
    return ((x - WORD_MIN) & _WORD_MASK) + WORD_MIN


def as_bytes(data: Any) -> bytes:
    """Decode a buffer argument: ``bytes`` as it is, a ``bytearray`` (or a subclass of
    either) copied out through the buffer protocol, so its length and contents are
    what they are, not what its methods say; EFAULT for anything else."""
    if type(data) is bytes:
        return data
    if not isinstance(data, (bytes, bytearray)):
        raise SyscallError("EFAULT", "buffer is not bytes", type=type_name(data))
    return bytes(memoryview(data))


IMAGE_PAGES = 16                # a program's text+data pages unless it says otherwise
MAX_IMAGE_PAGES = 4096


def image_pages(program: Any) -> int:
    """Decode ``program.image_pages``, the size of its image in pages (default
    :data:`IMAGE_PAGES`); EINVAL unless an int in 0..MAX_IMAGE_PAGES."""
    try:
        pages = getattr(program, "image_pages", IMAGE_PAGES)
    except Exception:
        pages = None
    if type(pages) is not int or not 0 <= pages <= MAX_IMAGE_PAGES:
        raise SyscallError("EINVAL", "bad image_pages", image_pages=pages)
    return pages


def as_flag(x: Any, name: str) -> bool:
    """Decode a flag argument: a real ``bool`` (EINVAL otherwise), so that no
    program object's ``__bool__`` ever runs inside a kernel."""
    if type(x) is not bool:
        raise SyscallError("EINVAL", f"{name} must be a bool", type=type_name(x))
    return x


def load_program(spec: str) -> Program:
    """Resolve ``path/to/file.py[:func]`` or ``package.module[:func]`` to a program.

    The function defaults to ``main``. ConfigError if it cannot be found.
    """
    target, _, func = spec.partition(":")
    func = func or "main"
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ConfigError("program file not found", path=target)
        name = f"exolab_program_{path.stem}"
        mod_spec = importlib.util.spec_from_file_location(name, path)
        if mod_spec is None or mod_spec.loader is None:
            raise ConfigError("cannot load program file", path=target)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = module
        mod_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as ex:
            raise ConfigError("program module not found", module=target,
                              reason=str(ex)) from None
    program = getattr(module, func, None)
    if not callable(program):
        raise ConfigError("program has no such function", program=target, function=func)
    return program  # type: ignore[no-any-return]
