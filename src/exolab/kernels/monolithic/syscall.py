"""The monolithic kernel's generic system-call path and system-call table.

Every service enters here through a trap. The generic path — save the full
user context, decode the call number, check the argument count, copy the
arguments in — costs ``mono_syscall_path`` cycles (calibrated on Ultrix's
getpid and Linux's clock_getres); then the handler runs (decode: validate and
raise a typed :class:`SyscallError`; invoke: mutate kernel state).

Kernel code runs on the program's Python stack, so a call made at the
program's recursion limit could fail half done. Every call but the hot,
short ones (:data:`UNGUARDED`) first proves it has :data:`KERNEL_STACK`
frames of headroom: without them it fails as a Python call at the limit
fails, with RecursionError, before the kernel has changed anything. ``exit``
needs no headroom at all (see proc.sys_exit).

Interface::

    Sys                     IntEnum of call numbers
    TABLE                   Sys -> (handler, number of arguments)
    UNGUARDED, KERNEL_STACK the calls run without the headroom check; its depth
    dispatch(k, cpu, number, args) -> result
"""
from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any, Callable

from exolab.kernels.common.args import call_error
from exolab.kernels.monolithic import fs, ktest, pipe, proc, rpc, shm, signal, vm
from exolab.kernels.monolithic import socket as sock
from exolab.kernels.common import park                  # thread_park, thread_unpark
from exolab.machine.cpu import CPU

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel

__all__ = ["Sys", "TABLE", "UNGUARDED", "KERNEL_STACK", "dispatch"]


class Sys(IntEnum):
    """System-call numbers."""

    GETPID = 1
    CLOCK_GETRES = 2
    SPAWN = 3
    FORK = 4
    EXIT = 5
    WAIT = 6
    YIELD = 7
    THREAD_CREATE = 8
    PIPE = 9
    READ = 10
    WRITE = 11
    READ_INTO = 12
    WRITE_FROM = 13
    CLOSE = 14
    MMAP = 15
    MUNMAP = 16
    MPROTECT = 17
    DIRTY = 18
    SET_FAULT_HANDLER = 19
    SHM_CREATE = 20
    SHM_ATTACH = 21
    SHM_DETACH = 22
    RPC_REGISTER = 23
    RPC_CONNECT = 24
    RPC_ACCEPT = 25
    SET_EXCEPTION_HANDLER = 26
    THREAD_YIELD = 27
    THREAD_PARK = 28        # the park/unpark pair (kernels/common/park.py)
    THREAD_UNPARK = 29
    KERNEL_TEST = 30        # a test the kernel is built with (ktest.py)
    # the file calls (fs.py), numbered apart so other call groups can grow below
    OPEN = 40
    LSEEK = 41
    FSYNC = 42
    UNLINK = 43
    RENAME = 44
    MKDIR = 45
    RMDIR = 46
    LISTDIR = 47
    STAT = 48
    SOCKET = 50             # sockets (socket.py): numbers clear of other call groups
    BIND = 51
    SENDTO = 52
    RECVFROM = 53


def _clock_getres(k: "MonolithicKernel", cpu: CPU, proc: Any) -> int:
    """Return the timer resolution in cycles (reads the kernel's clock record)."""
    return k.quantum


Handler = Callable[..., Any]

#: call number -> (handler(kernel, cpu, proc, *args), argument count)
TABLE: dict[int, tuple[Handler, int]] = {
    Sys.GETPID: (proc.sys_getpid, 0),
    Sys.CLOCK_GETRES: (_clock_getres, 0),
    Sys.SPAWN: (proc.sys_spawn, 3),
    Sys.FORK: (proc.sys_fork, 2),
    Sys.EXIT: (proc.sys_exit, 1),
    Sys.WAIT: (proc.sys_wait, 1),
    Sys.YIELD: (proc.sys_yield, 0),
    Sys.THREAD_CREATE: (proc.sys_thread_create, 2),
    Sys.PIPE: (pipe.sys_pipe, 0),
    Sys.READ: (pipe.sys_read, 2),
    Sys.WRITE: (pipe.sys_write, 2),
    Sys.READ_INTO: (pipe.sys_read_into, 3),
    Sys.WRITE_FROM: (pipe.sys_write_from, 3),
    Sys.CLOSE: (pipe.sys_close, 1),
    Sys.MMAP: (vm.sys_mmap, 2),
    Sys.MUNMAP: (vm.sys_munmap, 2),
    Sys.MPROTECT: (vm.sys_mprotect, 3),
    Sys.DIRTY: (vm.sys_dirty, 1),
    Sys.SET_FAULT_HANDLER: (signal.sys_set_fault_handler, 1),
    Sys.SHM_CREATE: (shm.sys_shm_create, 1),
    Sys.SHM_ATTACH: (shm.sys_shm_attach, 1),
    Sys.SHM_DETACH: (shm.sys_shm_detach, 1),
    Sys.RPC_REGISTER: (rpc.sys_rpc_register, 1),
    Sys.RPC_CONNECT: (rpc.sys_rpc_connect, 1),
    Sys.RPC_ACCEPT: (rpc.sys_rpc_accept, 1),
    Sys.SET_EXCEPTION_HANDLER: (signal.sys_set_exception_handler, 2),
    Sys.THREAD_YIELD: (proc.sys_thread_yield, 0),
    Sys.THREAD_PARK: (park.sys_thread_park, 0),
    Sys.THREAD_UNPARK: (park.sys_thread_unpark, 1),
    Sys.KERNEL_TEST: (ktest.sys_kernel_test, 2),
    Sys.OPEN: (fs.sys_open, 3),
    Sys.LSEEK: (fs.sys_lseek, 3),
    Sys.FSYNC: (fs.sys_fsync, 1),
    Sys.UNLINK: (fs.sys_unlink, 1),
    Sys.RENAME: (fs.sys_rename, 2),
    Sys.MKDIR: (fs.sys_mkdir, 2),
    Sys.RMDIR: (fs.sys_rmdir, 1),
    Sys.LISTDIR: (fs.sys_listdir, 1),
    Sys.STAT: (fs.sys_stat, 1),
    Sys.SOCKET: (sock.sys_socket, 1),
    Sys.BIND: (sock.sys_bind, 2),
    Sys.SENDTO: (sock.sys_sendto, 4),
    Sys.RECVFROM: (sock.sys_recvfrom, 2),
}


#: frames of Python stack a guarded kernel path may need (fork, spawn, pipe paths need
#: about 8, the test of limits fails below that: 20 leaves room; an error path that
#: overflows is harmless, as every call decodes before it mutates)
KERNEL_STACK = 20

#: calls whose paths are short and hot (or, exit, need no stack): no headroom check
UNGUARDED = frozenset({Sys.GETPID, Sys.CLOCK_GETRES, Sys.EXIT, Sys.READ, Sys.WRITE,
                       Sys.YIELD, Sys.THREAD_YIELD, Sys.THREAD_PARK, Sys.THREAD_UNPARK})


def _probe(n: int) -> None:
    """Recurse ``n`` frames deep: RecursionError unless that much stack is left."""
    if n:
        _probe(n - 1)


def _guarded(handler: Handler) -> Handler:
    """``handler``, run only once KERNEL_STACK frames of headroom are proven."""
    def guarded(k: "MonolithicKernel", cpu: CPU, proc: Any, *args: Any) -> Any:
        _probe(KERNEL_STACK)            # decode: enough stack, or nothing happens
        return handler(k, cpu, proc, *args)
    guarded.__name__ = guarded.__qualname__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


#: TABLE as a list indexed by call number (None: no such call), for the hot path;
#: guarded handlers wrapped
_BY_NUMBER: list[tuple[Handler, int] | None] = [
    None if i not in TABLE else
    (TABLE[i] if i in UNGUARDED else (_guarded(TABLE[i][0]), TABLE[i][1]))
    for i in range(max(TABLE) + 1)]


def dispatch(k: "MonolithicKernel", cpu: CPU, number: Any,
             args: tuple[Any, ...]) -> Any:
    """Run the generic path, then the handler for ``number`` (ENOSYS/EINVAL decoded)."""
    clk = cpu.clock                     # cpu.charge, inlined on the hottest path
    clk.now += k.c_syscall
    if clk.now >= clk.deadline:
        cpu.service()
    try:                                # (exact ints only: never a caller's __index__)
        entry = _BY_NUMBER[number] if (type(number) is int or type(number) is Sys) \
            and number >= 0 else None
    except IndexError:
        entry = None
    if entry is None or len(args) != entry[1]:
        raise call_error(number, entry, len(args))
    handler, nargs = entry
    k.syscalls += 1
    proc = cpu.current.owner                    # type: ignore[union-attr]
    # The common arities are passed as-is: CPython runs a call with *args as a C-level
    # call, about twice the cost of the interpreter's inlined Python-to-Python call.
    if nargs == 2:
        return handler(k, cpu, proc, args[0], args[1])
    if nargs == 0:
        return handler(k, cpu, proc)
    return handler(k, cpu, proc, *args)
