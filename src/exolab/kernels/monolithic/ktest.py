"""Kernel-resident test code: the monolithic kernel built with a test module.

The SPIN paper measured OSF/1's kernel threads "using the native primitives
provided by each kernel (thread_sleep and thread_wakeup in DEC OSF/1 and
Mach ...)" (SOSP'95, section 5.2): code inside the OSF/1 kernel, which the
SPIN group could build, having OSF/1's source. A monolithic kernel loads no
code at run time; what runs in it was linked into it. This module is that
link step: trusted test bodies registered by name (:func:`register`; the
modules of :data:`BUILT_WITH` are linked in at the first lookup: the spin
suite's kernel-thread bodies) are part of every monolithic kernel, and a
program asks for one by name with the ABI
extension ``kernel_test(name, *args)``. The body runs on the calling thread in
kernel mode:

- its ABI calls are procedure calls into the same services (:func:`kcall`: the
  call's decode, no trap, no system-call path; ``mono_proc_call`` a call);
- a thread it creates is a kernel thread (``kernel_thread``): it stays in the
  kernel, and its creation costs ``mono_kthread_path`` (no Mach RPCs);
- a kernel thread's sleep and wakeup are the kernel's own (``thread_sleep``,
  ``thread_wakeup``): the scheduler charges ``mono_kswitch_path``.

A program cannot pass code in: a name nobody registered is ENOENT. SPIN (which
loads verified extensions at run time: ``spin_kernel``) and Mach are not built
with the module and answer ENOSYS.

Interface::

    register(name, fn)            build fn(os, *args) into the kernel as ``name``
    BUILT_WITH                    modules linked in (imported) at the first lookup
    tests() -> tuple of names
    sys_kernel_test(k, cpu, proc, name, args)    the system call (KERNEL_TEST)
    kcall(k, cpu, proc, number, args)            a service called from resident code
    enter(depths, tid), leave(depths, tid)       per-thread depth counters
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable

from exolab.errors import KernelPanic, SyscallError
from exolab.hostint import host_interrupted
from exolab.kernels.common.args import shown
from exolab.machine.cpu import KERNEL
from exolab.machine.threads import ThreadExit

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel
    from exolab.kernels.monolithic.proc import Process
    from exolab.machine.cpu import CPU

__all__ = ["BUILT_WITH", "register", "tests", "sys_kernel_test", "kcall", "enter", "leave"]

#: name -> the test body the kernel was built with
_TESTS: dict[str, Callable[..., Any]] = {}
#: the modules whose tests every monolithic kernel is built with (imported at the first
#: lookup, so a program run any way finds them): the spin suite's kernel-thread bodies
BUILT_WITH = ("exolab.bench.spin",)
_built = False


def _build() -> None:
    """Link the test modules in (once): importing one registers its bodies."""
    global _built
    if not _built:
        _built = True
        for module in BUILT_WITH:
            importlib.import_module(module)


def register(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Build ``fn(os, *args)`` into the kernel as test ``name``; return ``fn``."""
    if type(name) is not str or not name or not callable(fn):
        raise TypeError("register(name: str, fn: callable)")
    known = _TESTS.get(name)
    if known is not None and known is not fn:
        raise ValueError(f"kernel test {name!r} is already built in")
    _TESTS[name] = fn
    return fn


def tests() -> tuple[str, ...]:
    """The names of the tests the kernel is built with, sorted."""
    _build()
    return tuple(sorted(_TESTS))


def enter(depths: dict[int, int], tid: int) -> None:
    """One level deeper for thread ``tid`` in ``depths`` (resident code or calls)."""
    depths[tid] = depths.get(tid, 0) + 1


def leave(depths: dict[int, int], tid: int) -> None:
    """One level out for ``tid``; at depth 0 its entry goes (``tid in depths``
    means "inside")."""
    left = depths.get(tid, 1) - 1
    if left:
        depths[tid] = left
    else:
        depths.pop(tid, None)


def sys_kernel_test(k: "MonolithicKernel", cpu: "CPU", proc: "Process", name: Any,
                    args: Any) -> Any:
    """Run built-in test ``name`` with ``args`` as resident code of this thread."""
    if not k.builds_kernel_tests:
        raise SyscallError("ENOSYS", "this kernel is not built with kernel tests",
                           kernel=k.name)
    _build()
    fn = _TESTS.get(name) if type(name) is str else None
    if fn is None:
        raise SyscallError("ENOENT", "no such kernel test", name=shown(name))
    if type(args) is not tuple:
        raise SyscallError("EINVAL", "arguments must be a tuple")
    tid = cpu.current.tid  # type: ignore[union-attr]
    enter(k._incode, tid)
    try:
        return fn(proc.personality, *args)
    except (ThreadExit, SyscallError, KernelPanic):
        raise
    except BaseException as ex:     # noqa: BLE001 - a test body's own failure
        if k.machine.panic is not None or (type(ex) is KeyboardInterrupt
                                           and host_interrupted()):
            raise
        raise SyscallError("EFAULT", "the kernel test failed",
                           name=name, error=type(ex).__name__) from None
    finally:
        leave(k._incode, tid)


def kcall(k: "MonolithicKernel", cpu: "CPU", proc: "Process", number: Any,
          args: tuple[Any, ...]) -> Any:
    """A service called from resident code: a procedure call, the call decoded as a
    trap's would be; a thread it creates stays in the kernel."""
    from exolab.kernels.monolithic.syscall import (KERNEL_STACK, TABLE, UNGUARDED,
                                                   Sys, _probe)     # (it imports this)
    cpu.charge(k.c_proc_call)
    entry = TABLE.get(number) if type(number) is int else None  # type: ignore[call-overload]
    if entry is None:
        raise SyscallError("ENOSYS", "no such kernel service", number=shown(number))
    handler, nargs = entry
    if len(args) != nargs:
        raise SyscallError("EINVAL", "wrong number of arguments", number=number)
    if number not in UNGUARDED:
        _probe(KERNEL_STACK)            # the stack headroom a trap's decode checks
    k.kcalls += 1
    prev, cpu.mode = cpu.mode, KERNEL
    try:
        result = handler(k, cpu, proc, *args)
    finally:
        cpu.mode = prev
    if number == Sys.THREAD_CREATE:     # kernel_thread: the new thread stays resident
        enter(k._incode, result)
    return result
