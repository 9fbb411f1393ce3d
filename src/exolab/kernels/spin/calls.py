"""SPIN's own calls: domains, in-kernel code, events, capabilities.

An application names kernel objects only by externalized reference (an int
into its own :class:`~.refs.RefTable`); each call decodes every reference at
its exact kind before it acts. Called from user level each call is a trap
into ``spin_syscall_path``; from in-kernel code it is a procedure call
(:meth:`Spin.kcall`). The kernel's own domain exports the core services to
extensions (:func:`kernel_domain`); the procedures that act for their caller
(``CALLER_AWARE``) are handed its Owner: the importing extension's, or for
``domain_call`` the calling process's one Owner (``Spin.process_owner``,
unloaded at its exit with everything it installed, exported and made).

Interface::

    CALLS: number -> (handler(kernel, cpu, proc, *args), argument count)
    SPIN_KERNEL, DOMAIN_CREATE, ...     the call numbers (1000 and up)
    trap(kernel, cpu, number, args)     the trap path of these calls
    lookup(number, nargs) -> handler    a call's handler (ENOSYS / EINVAL decoded)
    kernel_domain(kernel) -> Domain     Console, Clock, PhysAddr, VirtAddr, Translation
"""
from __future__ import annotations

from types import FunctionType
from typing import TYPE_CHECKING, Any, Callable

from exolab.errors import SyscallError
from exolab.kernels.common.args import arity, func, no_such_call
from exolab.kernels.monolithic.proc import Process
from exolab.kernels.spin import domain as dom
from exolab.kernels.spin.core import Context, Strand
from exolab.kernels.spin.cthreads import CCondition, CThread
from exolab.kernels.spin.dispatch import Binding, Owner
from exolab.kernels.spin.domain import Domain
from exolab.kernels.monolithic.ktest import leave
from exolab.kernels.spin.net import CALLER_AWARE as EVENT_CALLERS
from exolab.kernels.spin.net import event_interface
from exolab.machine.cpu import CPU
from exolab.safe.load import _compile_module, _exec_module
from exolab.safe.policy import PROGRAM
from exolab.safe.runtime import namespace

if TYPE_CHECKING:
    from exolab.kernels.spin.kernel import Spin

__all__ = ["CALLS", "trap", "lookup", "kernel_domain", "SPIN_KERNEL", "DOMAIN_CREATE",
           "DOMAIN_FROM_MODULE", "DOMAIN_RESOLVE", "DOMAIN_COMBINE", "DOMAIN_KERNEL",
           "DOMAIN_CALL", "EVENT_INSTALL", "STRAND_SELF", "CONTEXT_SELF", "REF_RELEASE",
           "CTHREAD_FORK", "CTHREAD_JOIN", "CTHREAD_CONDITION", "CTHREAD_WAIT",
           "CTHREAD_SIGNAL"]

(SPIN_KERNEL, DOMAIN_CREATE, DOMAIN_FROM_MODULE, DOMAIN_RESOLVE, DOMAIN_COMBINE,
 DOMAIN_KERNEL, DOMAIN_CALL, EVENT_INSTALL, STRAND_SELF, CONTEXT_SELF,
 REF_RELEASE) = range(1000, 1011)
#: the integrated thread package's calls (cthreads.py)
CTHREAD_FORK, CTHREAD_JOIN, CTHREAD_CONDITION, CTHREAD_WAIT, CTHREAD_SIGNAL = \
    range(1011, 1016)


def _args(args: Any) -> tuple[Any, ...]:
    """Decode an argument tuple (EINVAL)."""
    if type(args) is not tuple and type(args) is not list:
        raise SyscallError("EINVAL", "arguments must be a tuple")
    return tuple(args)


def _spin_kernel(k: "Spin", cpu: CPU, proc: Process, fn: Any, args: Any) -> Any:
    """Run the program's verified ``fn(os, *args)`` as in-kernel code."""
    func(fn, "fn")
    return k.run_in_kernel(cpu, proc, fn, (proc.personality, *_args(args)))


def _load(k: "Spin", source: str) -> tuple[dict[str, Any], Any]:
    """Verify, compile and run an object file's module in a fresh namespace."""
    code = _compile_module(source, "<extension>", PROGRAM)
    ns = namespace("exolab_extension", PROGRAM)
    _exec_module(code, ns, "<extension>")
    return ns, code


def _domain_create(k: "Spin", cpu: CPU, proc: Process, source: Any) -> int:
    """Create(object file): a domain of one verified extension."""
    from exolab.errors import ConfigError
    try:
        d = dom.create(source, lambda src: _load(k, src))
    except ConfigError as ex:               # its top level raised: not loadable
        raise SyscallError("EINVAL", "object file cannot be loaded",
                           reason=str(ex.fields.get("reason", ""))[:200]) from None
    k.load_extension(d.extensions[0].owner, d.extensions[0].namespace)
    return k.refs_of(proc).externalize(d)


def _domain_from_module(k: "Spin", cpu: CPU, proc: Process, interface: Any,
                        procs: Any) -> int:
    """CreateFromModule(): the caller's own functions exported as ``interface``,
    held by the process's owner (they go when it exits)."""
    d = dom.from_module(interface, procs, k.process_owner(proc))
    return k.refs_of(proc).externalize(d)


def _domain_resolve(k: "Spin", cpu: CPU, proc: Process, source: Any, target: Any) -> int:
    """Resolve(source, target): link target's imports against source's exports."""
    refs = k.refs_of(proc)
    src, dst = refs.internalize(source, Domain), refs.internalize(target, Domain)
    return dom.resolve(src, dst, k.meter.charge, k.c_proc_call)   # a gate: a check point


def _domain_combine(k: "Spin", cpu: CPU, proc: Process, d1: Any, d2: Any) -> int:
    """Combine(d1, d2): an aggregate domain exporting both."""
    refs = k.refs_of(proc)
    return refs.externalize(dom.combine(refs.internalize(d1, Domain),
                                        refs.internalize(d2, Domain)))


def _domain_kernel(k: "Spin", cpu: CPU, proc: Process) -> int:
    """The kernel's own domain (its core services), as a reference."""
    return k.refs_of(proc).externalize(kernel_domain(k))


def _domain_call(k: "Spin", cpu: CPU, proc: Process, ref: Any, symbol: Any,
                 args: Any) -> Any:
    """Call exported procedure ``symbol`` of a fully resolved domain, in the kernel
    (an invocation under the cycle bound: an overrun is EFAULT, its culprit unloaded)."""
    d = k.refs_of(proc).internalize(ref, Domain)
    ext, fn = dom.lookup(d, symbol)
    args = _args(args)
    cpu.charge(k.c_proc_call)
    if not ext.owner.loaded:
        raise SyscallError("ESRCH", "the extension was unloaded")
    if ext.callers and symbol.partition(".")[2] in ext.callers:
        args = (k.process_owner(proc), *args)       # the caller, named by the kernel
    from exolab.kernels.spin.dispatch import invoke
    tid = cpu.current.tid  # type: ignore[union-attr]
    k.mark_kernel_strand(tid)           # extension code runs as in-kernel code
    try:                                # ... as an invocation under the cycle bound
        return k.meter.run(tid, invoke, (ext.owner, fn, args))
    finally:
        leave(k._incode, tid)


def _event_install(k: "Spin", cpu: CPU, proc: Process, event: Any, cap: Any,
                   handler: Any, guard: Any) -> int:
    """Install the program's verified ``handler`` on a core event for the strand or
    context behind reference ``cap`` (the owner's capability), guarded by ``guard``
    (over the fault's address and kind, or the strand) if it is not None."""
    func(handler, "handler")
    if guard is not None:
        func(guard, "guard")
    if type(handler) is not FunctionType or (guard is not None and
                                             type(guard) is not FunctionType):
        raise SyscallError("EINVAL", "a handler and its guard are plain functions")
    refs = k.refs_of(proc)
    obj = refs.internalize(cap, (Strand, Context))
    owner = k.process_owner(proc)           # decoded first: nothing made for a refusal
    b = k.core.install_for(event, obj, k.as_program(proc, handler, None), owner,
                           k.as_program(proc, guard, False))
    try:
        return refs.externalize(b)
    except SyscallError:
        k.dispatcher.remove(b)              # no reference: no binding either
        raise


def _strand_self(k: "Spin", cpu: CPU, proc: Process) -> int:
    """The calling strand's capability, as a reference."""
    return k.refs_of(proc).externalize(k.core.strand_of(cpu.current))  # type: ignore[arg-type]


def _context_self(k: "Spin", cpu: CPU, proc: Process) -> int:
    """The caller's Translation context, as a reference."""
    return k.refs_of(proc).externalize(k.core.context_of(proc.space))


def _ref_release(k: "Spin", cpu: CPU, proc: Process, ref: Any) -> None:
    """Drop a reference; a handler binding's release uninstalls it."""
    refs = k.refs_of(proc)
    try:
        b = refs.internalize(ref, Binding)
    except SyscallError:
        b = None
    if b is not None:
        k.dispatcher.remove(b)
    refs.release(ref)


def _cthread_fork(k: "Spin", cpu: CPU, proc: Process, fn: Any, args: Any) -> int:
    """The integrated package's cthread_fork: a reference to the new cthread."""
    return k.refs_of(proc).externalize(k.cthreads.fork(cpu, proc, fn, args))


def _cthread_join(k: "Spin", cpu: CPU, proc: Process, ref: Any) -> Any:
    """cthread_join: block until the cthread ends; its value (the reference is
    consumed: a cthread is joined once)."""
    refs = k.refs_of(proc)
    ct = refs.internalize(ref, CThread)
    value = k.cthreads.join(cpu, proc, ct)
    refs.release(ref)
    return value


def _cthread_condition(k: "Spin", cpu: CPU, proc: Process) -> int:
    """condition_alloc: a reference to a new condition of the package."""
    return k.refs_of(proc).externalize(k.cthreads.condition(cpu, proc))


def _cthread_wait(k: "Spin", cpu: CPU, proc: Process, ref: Any) -> None:
    """condition_wait: block on the condition until it is signalled."""
    k.cthreads.wait(cpu, proc, k.refs_of(proc).internalize(ref, CCondition))


def _cthread_signal(k: "Spin", cpu: CPU, proc: Process, ref: Any) -> None:
    """condition_signal: wake its first waiter, who runs next."""
    k.cthreads.signal(cpu, proc, k.refs_of(proc).internalize(ref, CCondition))


#: call number -> (handler, argument count)
CALLS: dict[int, tuple[Callable[..., Any], int]] = {
    SPIN_KERNEL: (_spin_kernel, 2), DOMAIN_CREATE: (_domain_create, 1),
    DOMAIN_FROM_MODULE: (_domain_from_module, 2), DOMAIN_RESOLVE: (_domain_resolve, 2),
    DOMAIN_COMBINE: (_domain_combine, 2), DOMAIN_KERNEL: (_domain_kernel, 0),
    DOMAIN_CALL: (_domain_call, 3), EVENT_INSTALL: (_event_install, 4),
    STRAND_SELF: (_strand_self, 0), CONTEXT_SELF: (_context_self, 0),
    REF_RELEASE: (_ref_release, 1), CTHREAD_FORK: (_cthread_fork, 2),
    CTHREAD_JOIN: (_cthread_join, 1), CTHREAD_CONDITION: (_cthread_condition, 0),
    CTHREAD_WAIT: (_cthread_wait, 1), CTHREAD_SIGNAL: (_cthread_signal, 1),
}


def trap(k: "Spin", cpu: CPU, number: int, args: tuple[Any, ...]) -> Any:
    """A SPIN call from user level: the trap path, then the call (ENOSYS/EINVAL)."""
    cpu.charge(k.c_syscall)
    handler = lookup(number, len(args))
    k.syscalls += 1
    return handler(k, cpu, cpu.current.owner, *args)  # type: ignore[union-attr]


def lookup(number: Any, nargs: int) -> Callable[..., Any]:
    """The handler of SPIN call ``number`` taking ``nargs`` arguments (ENOSYS: no
    such call; EINVAL: it takes another count)."""
    entry = CALLS.get(number) if type(number) is int else None
    if entry is None:
        raise no_such_call(number)
    if nargs != entry[1]:
        raise arity(number, entry[1], nargs)
    return entry[0]


def kernel_domain(k: "Spin") -> Domain:
    """The kernel's domain: the core services as interfaces extensions import."""
    dom_ = getattr(k, "_kernel_domain", None)
    if dom_ is not None:
        return dom_
    core, cpu = k.core, k.machine.cpu
    owner = Owner("kernel", trusted=True)

    def iface(name: str, procs: dict[str, Callable[..., Any]],
              callers: frozenset[str] = frozenset()) -> Domain:
        return dom.from_module(name, procs, owner, callers)

    def print_(caller: Owner, text: Any) -> None:
        if type(text) is not str:
            raise SyscallError("EINVAL", "Console.Print takes a str")
        writer = caller.pid if caller.pid is not None else caller   # quota: the caller's
        k.console.write(writer, (text + "\n").encode())

    mine = frozenset({"Allocate", "Create", "Print"})
    parts = [
        iface("Console", {"Print": print_}, mine),
        iface("Clock", {"Time": lambda: cpu.now()}),
        iface("PhysAddr", {"Allocate": lambda caller, pages: core.phys_allocate(pages, caller),
                           "Deallocate": core.phys_deallocate}, mine),
        iface("VirtAddr", {"Allocate": lambda caller, pages: core.virt_allocate(pages, caller),
                           "Deallocate": core.virt_deallocate}, mine),
        iface("Translation", {"Create": core.tr_create, "Destroy": core.tr_destroy,
                              "AddMapping": core.add_mapping,
                              "RemoveMapping": core.remove_mapping,
                              "ExamineMapping": core.examine_mapping}, mine),
        iface("Event", event_interface(k), EVENT_CALLERS),
    ]
    d = parts[0]
    for p in parts[1:]:
        d = dom.combine(d, p)
    k._kernel_domain = d  # type: ignore[attr-defined]
    return d
