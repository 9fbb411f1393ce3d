"""SPIN's personality: the UNIX server's libc, plus SPIN's own calls.

Every ABI call goes through :meth:`SpinLibc._enter`: from user level it is
the trap of the monolithic libc (a PALcode trap into ``spin_syscall_path``);
from in-kernel code (a fault handler installed in the kernel, code run with
:meth:`spin_kernel`, a kernel strand) it is a procedure call into the same
service (:meth:`Spin.kcall`): no trap, no address-space switch. A process's
``os`` acts only on its own strands: a call made while another process's
strand (or none: an interrupt on the idle CPU) is current, as a handler the
process installed may find, is EPERM, so no call ever acts for whoever
happens to be current. The additional calls name kernel objects by
externalized reference (an int). In an in-kernel invocation the calls that
charge cycles without entering the kernel (time, compute, random, trigger and
the memory instructions) are check points of its cycle bound (bound.py): past
it they raise Overrun on the strand, and the invocation ends.

Interface::

    SpinLibc(kernel, proc)       Libc + spin_kernel, domain_create,
        domain_from_module, domain_resolve, domain_combine, domain_kernel,
        domain_call, event_install, strand_self, context_self, ref_release,
        cthread_fork, cthread_join, cthread_condition, cthread_wait, cthread_signal
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from exolab.errors import SyscallError
from exolab.kernels.monolithic.libc import Libc
from exolab.kernels.spin import calls as c

if TYPE_CHECKING:
    from exolab.kernels.monolithic.proc import Process
    from exolab.kernels.spin.kernel import Spin

__all__ = ["SpinLibc"]


def _no_sockets() -> SyscallError:
    """ENOSYS: SPIN's NIC belongs to its event-driven driver, not to a socket stack."""
    return SyscallError("ENOSYS", "no socket stack on spin (its NIC raises events)")


class SpinLibc(Libc):
    """One process's view of SPIN (the UNIX server's calls and SPIN's own)."""

    kernel_name = "spin"

    def __init__(self, kernel: "Spin", proc: "Process") -> None:
        super().__init__(kernel, proc)
        self._trap = self._enter
        self._meter = kernel.meter
        self._open = kernel.meter.open      # non-empty: some invocation is bounded

    # the calls that charge cycles in place: check points of the cycle bound
    def time(self) -> int:
        now = Libc.time(self)
        if self._open:
            self._meter.check()
        return now

    def compute(self, cycles: int) -> None:
        Libc.compute(self, cycles)
        if self._open:
            self._meter.check()

    def random(self, n: int) -> bytes:
        data = Libc.random(self, n)
        if self._open:
            self._meter.check()
        return data

    def trigger(self, kind: str) -> None:
        if self._open:
            self._meter.check()
        Libc.trigger(self, kind)

    def load(self, vaddr: int, size: int = 4) -> int:
        value = Libc.load(self, vaddr, size)
        if self._open:
            self._meter.check()
        return value

    def store(self, vaddr: int, value: int, size: int = 4) -> None:
        Libc.store(self, vaddr, value, size)
        if self._open:
            self._meter.check()

    def load_bytes(self, vaddr: int, n: int) -> bytes:
        data = Libc.load_bytes(self, vaddr, n)
        if self._open:
            self._meter.check()
        return data

    def store_bytes(self, vaddr: int, data: bytes) -> None:
        Libc.store_bytes(self, vaddr, data)
        if self._open:
            self._meter.check()

    def _enter(self, number: Any, *args: Any) -> Any:
        """A kernel service for this process, from one of its own strands only
        (EPERM otherwise): a trap from user level, a procedure call in-kernel."""
        k = self._k
        cpu = k.machine.cpu
        t = cpu.current
        if t is None or t.owner is not self._proc:
            raise SyscallError("EPERM", "a process's calls run on its own strands only")
        if t.tid in k._incode:
            return k.kcall(cpu, self._proc, number, args)
        return cpu.trap(number, *args)

    # sockets: refused (the NIC is the event-driven driver's: Ether.PacketArrived)
    def socket(self, kind: str = "udp") -> int:
        raise _no_sockets()

    def bind(self, fd: int, port: int) -> int:
        raise _no_sockets()

    def sendto(self, fd: int, data: bytes, addr: str, port: int) -> int:
        raise _no_sockets()

    def recvfrom(self, fd: int, n: int) -> tuple[bytes, tuple[str, int]]:
        raise _no_sockets()

    # SPIN's calls (docs/spin.md)
    def spin_kernel(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run verified ``fn(os, *args)`` in the kernel on this strand; return its
        value. Its ABI calls are procedure calls; a fault in it is EFAULT here."""
        return self._trap(c.SPIN_KERNEL, fn, args)

    def domain_create(self, source: str) -> int:
        """Domain.Create(object file): verify and load extension ``source``."""
        return self._trap(c.DOMAIN_CREATE, source)

    def domain_from_module(self, interface: str, procs: dict[str, Any]) -> int:
        """Domain.CreateFromModule(): export the caller's ``procs`` as ``interface``."""
        return self._trap(c.DOMAIN_FROM_MODULE, interface, procs)

    def domain_resolve(self, source: int, target: int) -> int:
        """Domain.Resolve(source, target); returns how many imports it linked."""
        return self._trap(c.DOMAIN_RESOLVE, source, target)

    def domain_combine(self, d1: int, d2: int) -> int:
        """Domain.Combine(d1, d2): an aggregate domain exporting both."""
        return self._trap(c.DOMAIN_COMBINE, d1, d2)

    def domain_kernel(self) -> int:
        """The kernel's domain (Console, Clock, PhysAddr, VirtAddr, Translation)."""
        return self._trap(c.DOMAIN_KERNEL)

    def domain_call(self, domain: int, symbol: str, *args: Any) -> Any:
        """Call ``symbol`` ("Iface.Proc") of a resolved domain, in the kernel."""
        return self._trap(c.DOMAIN_CALL, domain, symbol, args)

    def event_install(self, event: str, cap: int, handler: Callable[..., Any],
                      guard: Callable[..., Any] | None = None) -> int:
        """Install ``handler`` on core event ``event`` for the strand or context
        behind reference ``cap``, guarded by ``guard`` too (a fault event's guard
        gets ``(vaddr, write)``, a strand event's the strand); returns the binding's
        reference."""
        return self._trap(c.EVENT_INSTALL, event, cap, handler, guard)

    def strand_self(self) -> int:
        """A reference to the calling strand's capability."""
        return self._trap(c.STRAND_SELF)

    def context_self(self) -> int:
        """A reference to the caller's Translation context."""
        return self._trap(c.CONTEXT_SELF)

    def ref_release(self, ref: int) -> None:
        """Drop a reference (a binding's: uninstall the handler)."""
        self._trap(c.REF_RELEASE, ref)

    # the integrated thread package (cthreads.py): one system call per operation
    def cthread_fork(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> int:
        """Fork a cthread of the in-kernel package running ``fn(os, *args)``; a
        reference to it."""
        return self._trap(c.CTHREAD_FORK, fn, args)

    def cthread_join(self, ref: int) -> Any:
        """Block until the cthread ends; its value (the reference is consumed)."""
        return self._trap(c.CTHREAD_JOIN, ref)

    def cthread_condition(self) -> int:
        """A reference to a new condition of the package."""
        return self._trap(c.CTHREAD_CONDITION)

    def cthread_wait(self, ref: int) -> None:
        """Block on the condition until it is signalled."""
        self._trap(c.CTHREAD_WAIT, ref)

    def cthread_signal(self, ref: int) -> None:
        """Wake the condition's first waiter (it runs next)."""
        self._trap(c.CTHREAD_SIGNAL, ref)
