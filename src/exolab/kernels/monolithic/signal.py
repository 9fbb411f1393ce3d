"""Monolithic kernel signals: memory faults delivered to a user-level handler.

Ultrix delivers a protection fault as SIGSEGV: the kernel posts the signal,
builds a signal frame on the user stack and upcalls the handler; the handler
returns through ``sigreturn``, a system call. Appel & Li's benchmarks (the
``trap``/``appel1``/``appel2`` rows) measure exactly this path. Here the
kernel charges ``mono_signal_path`` for posting and delivery, runs the
handler in user mode with :meth:`CPU.upcall`, then charges a full system call
for ``sigreturn``. A fault with no handler, or a fault inside a handler
nested too deep, kills the process with status ``"SIGSEGV"``.

Exceptions a program raises on purpose (``trigger``, for the Exokernel
paper's Table 5) take the same path: Ultrix delivers arithmetic overflow as
SIGFPE and a write to a protected page as SIGSEGV, each to the handler set
with ``set_exception_handler``. It cannot deliver unaligned accesses (it fixes
them up) or disabled-coprocessor use (it never disables it): ENOSYS.

Interface::

    deliver_fault(k, cpu, proc, vaddr, write)      upcall or kill
    deliver_exception(k, cpu, proc, cause, info) -> bool   a triggered exception
    fatal_signal(cause, info) -> str               what an unhandled exception is
    terminate(k, proc, what, where) -> ThreadExit  record the fault, kill the process
    sys_set_fault_handler(k, cpu, proc, handler)
    sys_set_exception_handler(k, cpu, proc, kind, handler)
    MAX_NESTING, ULTRIX_EXCEPTIONS
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.abi import EXCEPTION_KINDS, TRIGGERED, fault_status
from exolab.errors import SyscallError
from exolab.hostint import host_interrupted
from exolab.kernels.monolithic.limits import MAX_NESTING
from exolab.kernels.monolithic.proc import Process, kill
from exolab.machine.cpu import CPU, Cause
from exolab.machine.threads import ThreadExit

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel

__all__ = ["deliver_fault", "deliver_exception", "fatal_signal", "terminate",
           "sys_set_fault_handler", "sys_set_exception_handler", "MAX_NESTING",
           "ULTRIX_EXCEPTIONS"]

#: exception kind -> (signal, cause) for the kinds Ultrix can deliver
ULTRIX_EXCEPTIONS = {"overflow": ("SIGFPE", Cause.OVERFLOW),
                     "prot": ("SIGSEGV", Cause.TLB_MOD)}
#: cause -> the signal that kills a process taking it with no handler
_SIGNAL_OF = {Cause.ADDR_LOAD: "SIGBUS", Cause.ADDR_STORE: "SIGBUS",
              Cause.OVERFLOW: "SIGFPE", Cause.COPROC: "SIGILL",
              Cause.PRIVILEGED: "SIGILL", Cause.BREAK: "SIGTRAP"}


def terminate(k: "MonolithicKernel", proc: Process, what: str, where: Any) -> ThreadExit:
    """Record ``proc``'s fatal fault and kill it; return the ThreadExit to raise."""
    k.record_fault(proc, what, where)
    kill(k, proc, what)
    return ThreadExit(what)


def fatal_signal(cause: Cause, info: Any) -> str:
    """The status of a process killed by an unhandled ``cause`` exception."""
    what = _SIGNAL_OF.get(cause)
    if what is None:            # (a program's exception may not even print)
        what = fault_status(info) if cause == Cause.PROGRAM else cause.name
    return what


def deliver_fault(k: "MonolithicKernel", cpu: CPU, proc: Process, vaddr: int,
                  write: bool) -> None:
    """Upcall ``proc``'s fault handler for ``vaddr``, or kill the process."""
    handler = proc.fault_handler
    if handler is None or proc.handler_depth >= MAX_NESTING:
        raise terminate(k, proc, "SIGSEGV", vaddr)
    p = k.machine.profile
    cpu.charge(k.paths["mono_signal_path"])
    proc.handler_depth += 1
    try:
        _upcall(k, cpu, proc, vaddr, handler, proc.personality, vaddr, write)
    finally:
        proc.handler_depth -= 1
    cpu.charge(p.trap_entry + k.c_syscall + p.trap_exit)   # sigreturn


def _upcall(k: "MonolithicKernel", cpu: CPU, proc: Process, where: Any,
            handler: Any, *args: Any) -> None:
    """Run a signal handler in user mode; an exception escaping it ends the process
    (as one escaping the program would), never the faulting code's caller."""
    try:
        cpu.upcall(handler, *args)
    except ThreadExit:
        raise
    except BaseException as ex:         # noqa: BLE001 - anything a handler may raise
        if k.machine.panic is not None:     # a kernel path broke below the handler
            raise
        if type(ex) is KeyboardInterrupt and host_interrupted():
            raise
        raise terminate(k, proc, fault_status(ex), where) from None


def sys_set_fault_handler(k: "MonolithicKernel", cpu: CPU, proc: Process,
                          handler: Any) -> None:
    """Install (or, with None, remove) the process's memory-fault handler."""
    if handler is not None and not callable(handler):
        raise SyscallError("EINVAL", "fault handler is not callable", handler=handler)
    proc.fault_handler = handler


def sys_set_exception_handler(k: "MonolithicKernel", cpu: CPU, proc: Process, kind: Any,
                              handler: Any) -> None:
    """Set the handler of a signal Ultrix raises for exception ``kind``."""
    if type(kind) is not str or kind not in EXCEPTION_KINDS:
        raise SyscallError("EINVAL", "unknown exception kind", kind=kind)
    if kind not in ULTRIX_EXCEPTIONS:
        raise SyscallError("ENOSYS", "Ultrix cannot deliver this exception", kind=kind)
    if handler is not None and not callable(handler):
        raise SyscallError("EINVAL", "exception handler is not callable")
    if handler is None:
        proc.exc_handlers.pop(kind, None)
    else:
        proc.exc_handlers[kind] = handler


def deliver_exception(k: "MonolithicKernel", cpu: CPU, proc: Process, cause: Cause,
                      info: Any) -> bool:
    """Deliver a triggered exception as its signal, through the fault path; False if
    it was not triggered or has no handler (the caller then kills the process)."""
    if type(info) is not str or info != TRIGGERED:  # (never a program object's __ne__)
        return False
    kind = next((kd for kd, (_sig, c) in ULTRIX_EXCEPTIONS.items() if c == cause), None)
    handler = proc.exc_handlers.get(kind) if kind else None
    if handler is None:
        return False
    p = k.machine.profile
    cpu.charge(k.paths["mono_signal_path"])
    _upcall(k, cpu, proc, 0, handler, proc.personality, kind)
    cpu.charge(p.trap_entry + k.c_syscall + p.trap_exit)   # sigreturn
    return True
