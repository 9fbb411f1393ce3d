"""Exception and TLB-miss dispatch: Aegis's two user-level upcall paths.

*Exceptions* go straight to the environment's handler for their cause: Aegis
saves the three scratch registers it needs into the environment's agreed
save area (a guaranteed page, written by physical address), loads the
exception PC, the faulting address and the cause, and jumps to the handler in
user mode — 18 instructions (:mod:`.paths`). The handler returns to the
application by itself; Aegis is not on the way back.

A *TLB miss* first probes the STLB (18 instructions); a hit refills the
hardware TLB and returns without bothering the library OS. A binding with the
valid bit clear is a protection exception (TLB_LOAD/TLB_STORE) for the
handler of that cause. Only an STLB miss is upcalled to the library OS's
TLB-miss handler, which binds the page itself (TLB_WRITE).

A handler that returns without fixing its fault would make the CPU retry
forever; after :data:`MAX_STRIKES` such returns for the same page Aegis
destroys the environment (it alone suffers). A real unaligned access cannot
be resumed, so after its handler the environment is destroyed; an exception
raised on purpose (``info == TRIGGERED``, the ABI's ``trigger``) resumes
after the instruction.

Interface::

    MAX_STRIKES
    on_tlb_miss(k, cpu, vaddr, write)          the CPU's TLB-miss vector
    on_exception(k, cpu, cause, vaddr, info)   the CPU's exception vector
    dispatch(k, env, fn, *words)               save area + upcall (18 instructions)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from exolab.abi import TRIGGERED, fault_status
from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.exokernel.env import LIVE, Environment
from exolab.kernels.exokernel.limits import MAX_EXC_DEPTH, MAX_STRIKES
from exolab.kernels.exokernel.pct import run_entry
from exolab.kernels.exokernel.stlb import ASID_MIX
from exolab.machine.cpu import CPU, KERNEL, Cause

if TYPE_CHECKING:
    from exolab.kernels.exokernel.kernel import Aegis

__all__ = ["MAX_STRIKES", "on_tlb_miss", "on_exception", "dispatch"]



def dispatch(k: "Aegis", env: Environment, fn: Callable[..., Any], *words: Any) -> None:
    """Exception dispatch: save three scratch registers, upcall the handler."""
    k.cpu.charge(k.c_exc)
    k.exceptions += 1
    save = env.save_area
    if save is not None:                    # bound to the environment: only while its
        g = env.guaranteed.get(save[0])     # guaranteed mapping of that frame stands
        if g is None or g.ppn != save[1] or not g.writable:
            env.save_area = None            # (the page was freed or rebound: unbound)
        else:
            mem, ppn = k.machine.memory, save[1]
            for i, w in enumerate(words[:3]):
                mem.store_word(ppn, 4 * i, w & 0xFFFFFFFF if type(w) is int else 0)
    if env.exc_depth >= MAX_EXC_DEPTH:      # a handler that faults in itself again and
        k.destroy(env, "exceptions nested too deep")    # again ends its environment
    env.exc_depth += 1
    try:
        run_entry(k, env, fn, *words)
    finally:
        env.exc_depth -= 1


def _strike(k: "Aegis", env: Environment, vpn: int, cause: int, fixed: bool) -> None:
    """Count a handler return that left the fault unfixed; too many destroy ``env``."""
    key = (env.eid, vpn, cause)
    if fixed:
        k.strikes.pop(key, None)
        return
    n = k.strikes.get(key, 0) + 1
    k.strikes[key] = n
    if n >= MAX_STRIKES:
        del k.strikes[key]
        k.destroy(env, f"handler never fixed {Cause(cause).name} at "
                       f"{vpn << k.machine.memory.page_shift:#x}")


def on_tlb_miss(k: "Aegis", cpu: CPU, vaddr: int, write: bool) -> None:
    """STLB first (no upcall on a hit); else the environment's handler."""
    env = k.current
    if env is None:
        raise KernelPanic("aegis: TLB miss with no environment", vaddr=vaddr)
    vpn = vaddr >> k.pshift
    asid = env.asid                         # the STLB-hit fast path (Binder.refill inlined;
    e = k.stlb_slots[(vpn ^ (asid * ASID_MIX)) & k.stlb_mask]   # a dying environment's
    if e is not None and e.vpn == vpn and e.asid == asid and e.valid:   # bindings are gone)
        k.stlb.hits += 1
        k.clock.now += k.c_probe
        b = k.bind                          # FIFO replacement with tlbwi (Binder.tlb_fill)
        i = b.fifo
        b.fifo = i + 1 if i < b.fifo_last else b.fifo_first
        cpu.tlb_write_indexed(i, e)
        return
    if env.state != LIVE:                   # a dying environment gets no more upcalls
        k.unwind(env)
    _slow_miss(k, cpu, env, vaddr, vpn, write)


def _slow_miss(k: "Aegis", cpu: CPU, env: Environment, vaddr: int, vpn: int,
               write: bool) -> None:
    """Guaranteed mappings, protection exceptions, or the library OS's handler."""
    how = k.bind.refill(env, vpn)
    if how == "ok":
        return
    if cpu.prev_mode == KERNEL:
        raise SyscallError("EFAULT", "bad user address", vaddr=vaddr)
    if how == "prot":
        cause = int(Cause.TLB_STORE if write else Cause.TLB_LOAD)
        handler = env.exc_handlers.get(cause)
        if handler is None:
            k.destroy(env, f"protection fault at {vaddr:#x}")
        dispatch(k, env, handler, cause, vaddr, write)  # type: ignore[arg-type]
        e = k.stlb.peek(env.asid, vpn)
        _strike(k, env, vpn, cause, e is None or e.valid)
        return
    handler = env.entries.get("tlb_miss")
    if handler is None:
        k.destroy(env, f"TLB miss at {vaddr:#x} and no handler")
    k.tlb_upcalls += 1
    dispatch(k, env, handler, vaddr, write)  # type: ignore[arg-type]
    e = k.stlb.peek(env.asid, vpn)
    _strike(k, env, vpn, int(Cause.TLB_LOAD), e is not None and e.valid)


def on_exception(k: "Aegis", cpu: CPU, cause: Cause, vaddr: int, info: Any) -> None:
    """Dispatch an exception to the environment's handler for its cause."""
    env = k.current
    if env is None:
        raise KernelPanic("aegis: exception with no environment", cause=cause.name)
    if env.state != LIVE:
        k.unwind(env)
    if cause == Cause.PROGRAM:
        k.destroy(env, fault_status(info))     # (the exception may not even print)
        return
    if cpu.prev_mode == KERNEL:
        raise SyscallError("EFAULT", "fault in a kernel access", cause=cause.name)
    handler = env.exc_handlers.get(int(cause))
    if handler is None:
        k.destroy(env, f"unhandled exception {cause.name} at {vaddr:#x}")
    write = cause in (Cause.TLB_MOD, Cause.ADDR_STORE)
    dispatch(k, env, handler, int(cause), vaddr, write)  # type: ignore[arg-type]
    if cause in (Cause.ADDR_LOAD, Cause.ADDR_STORE) and \
            (type(info) is not str or info != TRIGGERED):
        k.destroy(env, f"unaligned access at {vaddr:#x} cannot resume")
    if cause == Cause.TLB_MOD:
        vpn = vaddr >> k.pshift
        e = k.stlb.peek(env.asid, vpn)
        _strike(k, env, vpn, int(cause), e is None or not e.valid or e.writable)
