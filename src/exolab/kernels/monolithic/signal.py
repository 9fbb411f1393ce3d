"""Monolithic kernel signals: memory faults delivered to a user-level handler.

Ultrix delivers a protection fault as SIGSEGV: the kernel posts the signal,
builds a signal frame on the user stack and upcalls the handler; the handler
returns through ``sigreturn``, a system call. Appel & Li's benchmarks (the
``trap``/``appel1``/``appel2`` rows) measure exactly this path. Here the
kernel charges ``mono_signal_path`` for posting and delivery, runs the
handler in user mode with :meth:`CPU.upcall`, then charges a full system call
for ``sigreturn``. A fault with no handler, or a fault inside a handler
nested too deep, kills the process with status ``"SIGSEGV"``.

Interface::

    deliver_fault(k, cpu, proc, vaddr, write)      upcall or kill
    sys_set_fault_handler(k, cpu, proc, handler)
    MAX_NESTING
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.errors import SyscallError
from exolab.kernels.monolithic.proc import Process, kill
from exolab.machine.cpu import CPU
from exolab.machine.threads import ThreadExit

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel

__all__ = ["deliver_fault", "sys_set_fault_handler", "MAX_NESTING"]

MAX_NESTING = 4         # fault handlers may fault this deep before the process dies


def deliver_fault(k: "MonolithicKernel", cpu: CPU, proc: Process, vaddr: int,
                  write: bool) -> None:
    """Upcall ``proc``'s fault handler for ``vaddr``, or kill the process."""
    handler = proc.fault_handler
    if handler is None or proc.handler_depth >= MAX_NESTING:
        k.record_fault(proc, "SIGSEGV", vaddr)
        kill(k, proc, "SIGSEGV")
        raise ThreadExit("SIGSEGV")
    p = k.machine.profile
    cpu.charge(p.mono_signal_path)
    proc.handler_depth += 1
    try:
        cpu.upcall(handler, proc.personality, vaddr, write)
    finally:
        proc.handler_depth -= 1
    cpu.charge(p.trap_entry + p.mono_syscall_path + p.trap_exit)   # sigreturn


def sys_set_fault_handler(k: "MonolithicKernel", cpu: CPU, proc: Process,
                          handler: Any) -> None:
    """Install (or, with None, remove) the process's memory-fault handler."""
    if handler is not None and not callable(handler):
        raise SyscallError("EINVAL", "fault handler is not callable",
                           handler=repr(handler))
    proc.fault_handler = handler
