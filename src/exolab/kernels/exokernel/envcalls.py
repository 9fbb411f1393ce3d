"""Aegis system-call handlers for environments, pages, capabilities, bindings, slices.

Each handler is ``sys_x(k, env, *args)``: ``env`` is the calling environment.
The first lines decode (capability lookups with the rights the call needs,
argument types), then the mechanism module invokes. The protected-control
transfer calls are in :mod:`.pct`; the table is :mod:`.syscall`.

Interface::

    sys_getres, sys_console, sys_env_alloc, sys_env_alloc_principal, sys_env_setup,
    sys_env_start,
    sys_env_destroy, sys_thread_alloc, sys_page_alloc, sys_page_free,
    sys_page_share, sys_page_list, sys_cap_derive, sys_cap_revoke, sys_cap_info,
    sys_tlb_write, sys_tlb_vec, sys_tlb_unbind, sys_guarantee, sys_slice_alloc,
    sys_yield, sys_sleep, sys_wake
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.abi import as_flag
from exolab.errors import KernelPanic, SyscallError, type_name
from exolab.kernels.exokernel.caps import Capability, checked
from exolab.kernels.exokernel.env import ENTRY_NAMES, Environment
from exolab.kernels.exokernel.limits import MAX_CONSOLE, MAX_NAME, MAX_RIGHTS, MAX_SHARE
from exolab.kernels.exokernel.quota import FRAMES, Principal, check
from exolab.machine.cpu import Cause

if TYPE_CHECKING:
    from exolab.kernels.exokernel.kernel import Aegis

__all__ = ["sys_getres", "sys_console", "sys_env_alloc", "sys_env_alloc_principal",
           "sys_env_setup",
           "sys_env_start", "sys_env_destroy", "sys_thread_alloc", "sys_page_alloc",
           "sys_page_free", "sys_page_share", "sys_page_list", "sys_cap_derive",
           "sys_cap_revoke", "sys_cap_info", "sys_tlb_write", "sys_tlb_vec",
           "sys_tlb_unbind", "sys_guarantee", "sys_slice_alloc", "sys_yield", "sys_sleep",
           "sys_wake",
           "MAX_NAME", "MAX_CONSOLE", "MAX_SHARE", "MAX_RIGHTS"]

_SHARE = ("share",)                     # the right a PAGE_SHARE item needs


def _env(k: "Aegis", handle: Any, right: str) -> Environment:
    """Decode an environment capability carrying ``right``."""
    cap = checked(k.caps, k.cpu, k.c_cap, handle, "env", (right,))
    return cap.obj  # type: ignore[no-any-return]


def sys_getres(k: "Aegis", env: Environment) -> int:
    """The null system call: return the slice length in cycles (clock resolution)."""
    return k.sched.slice


def sys_console(k: "Aegis", env: Environment, data: Any) -> int:
    """Write ``data`` to the console (a device Aegis multiplexes by line)."""
    if type(data) is not bytes:         # a subclass is copied out: its real bytes
        if not isinstance(data, (bytes, bytearray)):
            raise SyscallError("EFAULT", "console data must be bytes", type=type_name(data))
        data = bytes(memoryview(data))
    if len(data) > MAX_CONSOLE:
        raise SyscallError("EFAULT", "console write too long", length=len(data))
    k.cpu.charge(k.machine.profile.copy_cost(len(data)))
    k.machine.memory.note_copy(len(data))           # copyin of the line
    k.console_write(env, data)
    return len(data)


def sys_env_alloc(k: "Aegis", env: Environment, name: Any,
                  pages: Any) -> tuple[int, int]:
    """Create an environment holding ``pages`` reserved free pages; return (eid, handle).

    The reservation (ENOMEM if there are not that many free, or past the
    principal's share of memory) lets a builder fail at once instead of leaving
    a half-built environment: the new environment's first ``pages`` allocations
    are guaranteed, others may not take them. The child is in the caller's
    principal (quota.py), which pays for the reservation now.
    """
    return _env_alloc(k, env, name, pages, env.principal)


def sys_env_alloc_principal(k: "Aegis", env: Environment, name: Any,
                            pages: Any) -> tuple[int, int]:
    """As ENV_ALLOC, the child rooting a new principal nested in the caller's."""
    if env.principal is None:
        raise KernelPanic("aegis: environment without a principal", eid=env.eid)
    return _env_alloc(k, env, name, pages, k.principals.nested(env.principal))


def _env_alloc(k: "Aegis", env: Environment, name: Any, pages: Any,
               principal: Principal | None) -> tuple[int, int]:
    """Decode, then make ``env``'s child in ``principal`` with ``pages`` reserved."""
    if type(name) is not str or not 0 < len(name) <= MAX_NAME:
        raise SyscallError("EINVAL", "bad environment name", name=name)
    if type(pages) is not int or not 0 <= pages <= k.phys.count:
        raise SyscallError("EINVAL", "bad page reservation", pages=pages)
    if k.phys.available() < pages:                        # decode: all or nothing
        raise SyscallError("ENOMEM", "not enough free physical pages", wanted=pages)
    check(principal, FRAMES, pages)                       # (its share: nothing to undo)
    child = k.new_env(name, env, principal)
    k.phys.reserve(child, pages)
    if child.cap is None:
        raise KernelPanic("aegis: new environment without a capability", eid=child.eid)
    return child.eid, child.cap.handle


def _entries(entries: Any) -> dict[str, Any]:
    """Decode an entry-point table (names from ENTRY_NAMES, callables or None)."""
    if type(entries) is not dict:
        raise SyscallError("EINVAL", "entries must be a dict", type=type_name(entries))
    for name, fn in entries.items():
        if type(name) is not str or name not in ENTRY_NAMES or \
                (fn is not None and not callable(fn)):
            raise SyscallError("EINVAL", "bad entry point", name=name,
                               expected=list(ENTRY_NAMES))
    return entries


def _exc_handlers(exc: Any) -> dict[int, Any]:
    """Decode an exception-handler table (Cause values, callables or None)."""
    if type(exc) is not dict:
        raise SyscallError("EINVAL", "exception handlers must be a dict")
    causes = {int(c) for c in Cause} - {int(Cause.PROGRAM), int(Cause.SYSCALL)}
    for cause, fn in exc.items():
        if type(cause) is not int or cause not in causes or \
                (fn is not None and not callable(fn)):
            raise SyscallError("EINVAL", "bad exception handler", cause=cause)
    return exc


def sys_env_setup(k: "Aegis", env: Environment, handle: Any, entries: Any, exc: Any,
                  save_vpn: Any) -> None:
    """Set an environment's entry points, exception handlers and save area."""
    target = _env(k, handle, "control")
    entries, exc = _entries(entries), _exc_handlers(exc)
    save = None
    if save_vpn is not None:
        g = target.guaranteed.get(save_vpn) if type(save_vpn) is int else None
        if g is None or not g.writable:
            raise SyscallError("EINVAL", "save area must be a writable guaranteed mapping",
                               vpn=save_vpn)
        save = (save_vpn, g.ppn)
    for name, fn in entries.items():
        if fn is None:
            target.entries.pop(name, None)
        else:
            target.entries[name] = fn
    for cause, fn in exc.items():
        if fn is None:
            target.exc_handlers.pop(cause, None)
        else:
            target.exc_handlers[cause] = fn
    if save is not None:
        target.save_area = save


def sys_env_start(k: "Aegis", env: Environment, handle: Any, fn: Any, args: Any) -> None:
    """Give a new environment its first context, running ``fn(*args)`` in user mode."""
    target = _env(k, handle, "control")
    if target.ctx or not target.alive:
        raise SyscallError("EINVAL", "environment already started", eid=target.eid)
    if not callable(fn) or type(args) is not tuple:
        raise SyscallError("EINVAL", "start needs a callable and an argument tuple")
    k.start(target, fn, args)


def sys_env_destroy(k: "Aegis", env: Environment, handle: Any, status: Any,
                    fault: Any) -> None:
    """Destroy an environment (itself or one it controls); ``fault`` records why."""
    fault = as_flag(fault, "fault")
    target = _env(k, handle, "control")
    if not target.alive:
        raise SyscallError("ESRCH", "environment already gone", eid=target.eid)
    k.destroy(target, status, exited=not fault)


def sys_thread_alloc(k: "Aegis", env: Environment, fn: Any, args: Any, name: Any) -> int:
    """Create another context of the caller (a library-OS thread's register file)."""
    if not callable(fn) or type(args) is not tuple or type(name) is not str \
            or len(name) > MAX_NAME:
        raise SyscallError("EINVAL", "thread needs a callable, a tuple and a name")
    return k.new_thread(env, fn, args, name).tid       # a name, never the kernel record


def sys_page_alloc(k: "Aegis", env: Environment, ppn: Any) -> tuple[int, int]:
    """Allocate a physical page (``ppn`` or any); return (ppn, root handle)."""
    cap = k.phys.alloc(env, ppn)
    return cap.obj, cap.handle


def sys_page_free(k: "Aegis", env: Environment, handle: Any) -> None:
    """Give back a page the caller owns (its root capability)."""
    k.phys.free(env, checked(k.caps, k.cpu, k.c_cap, handle, "page", ("free",)))


def sys_page_share(k: "Aegis", env: Environment, handles: Any,
                   target_handle: Any) -> list[int]:
    """Make an environment co-owner of pages (items: handle or (handle, rights));
    return its root handles."""
    target = _env(k, target_handle, "control")
    if type(handles) not in (list, tuple) or len(handles) > MAX_SHARE:
        raise SyscallError("EINVAL", "handles must be a short list")
    shares = [_share_item(k, item) for item in handles]
    return [k.phys.share(c, target, rights).handle for c, rights in shares]


def _share_item(k: "Aegis", item: Any) -> tuple[Capability, frozenset[str]]:
    """Decode one PAGE_SHARE item: a handle, giving the new owner the handle's own
    rights (never more: sharing does not amplify), or (handle, rights) to give it
    only ``rights`` (a subset of the handle's, EPERM otherwise); ``free`` is
    always added (it gives back only the new owner's own root)."""
    if type(item) is not tuple:
        cap = checked(k.caps, k.cpu, k.c_cap, item, "page", _SHARE)
        return cap, cap.rights
    if len(item) != 2 or type(item[1]) not in (list, tuple, frozenset) or \
            len(item[1]) > MAX_RIGHTS:
        raise SyscallError("EINVAL", "a share item is a handle or (handle, rights)")
    for r in item[1]:                   # (a loop, not any(): a fork shares ~50 items)
        if type(r) is not str:
            raise SyscallError("EINVAL", "a share item is a handle or (handle, rights)")
    cap = checked(k.caps, k.cpu, k.c_cap, item[0], "page", _SHARE)
    rights = frozenset(item[1])
    if not rights <= cap.rights:
        raise SyscallError("EPERM", "cannot share rights the capability lacks",
                           handle=item[0], asked=sorted(rights))
    return cap, rights


def sys_page_list(k: "Aegis", env: Environment) -> list[tuple[int, int]]:
    """The pages the caller owns: (ppn, root handle), ascending (exposed names)."""
    return [(ppn, cap.handle) for ppn, cap in sorted(env.roots.items())]


def sys_cap_derive(k: "Aegis", env: Environment, handle: Any, rights: Any) -> int:
    """Derive a capability with a subset of ``handle``'s rights."""
    if type(rights) not in (list, tuple, set, frozenset) or len(rights) > MAX_RIGHTS or \
            any(type(r) is not str for r in rights):
        raise SyscallError("EINVAL", "rights must be a collection of names")
    k.cpu.charge(k.c_cap)
    return k.caps.derive(handle, rights).handle


def sys_cap_revoke(k: "Aegis", env: Environment, handle: Any) -> int:
    """Revoke a derived capability and everything derived from it; return bindings broken."""
    cap = checked(k.caps, k.cpu, k.c_cap, handle)
    if cap.parent is None:
        raise SyscallError("EPERM", "root capabilities are given back, not revoked",
                           handle=handle)
    return k.bind.revoke(cap)


def sys_cap_info(k: "Aegis", env: Environment, handle: Any) -> tuple[str, int, tuple[str, ...], int]:
    """Describe a capability: (kind, ppn or eid, rights, owners of the page)."""
    cap = checked(k.caps, k.cpu, k.c_cap, handle)
    if cap.kind == "page":
        return "page", cap.obj, tuple(sorted(cap.rights)), k.phys.owners(cap.obj)
    return "env", cap.obj.eid, tuple(sorted(cap.rights)), 0


def sys_tlb_write(k: "Aegis", env: Environment, vpn: Any, ppn: Any, handle: Any,
                  flags: Any) -> None:
    """Bind one virtual page (the secure binding checked against ``handle``)."""
    k.bind.write(env, vpn, ppn, handle, flags)


def sys_tlb_vec(k: "Aegis", env: Environment, entries: Any) -> int:
    """Bind many virtual pages in one crossing."""
    return k.bind.write_vec(env, entries)


def sys_tlb_unbind(k: "Aegis", env: Environment, vpn: Any, npages: Any) -> None:
    """Remove bindings."""
    k.bind.unbind(env, vpn, npages)


def sys_guarantee(k: "Aegis", env: Environment, vpn: Any, ppn: Any, handle: Any,
                  writable: Any) -> None:
    """Install a guaranteed mapping (served by the kernel, never upcalled)."""
    if type(vpn) is not int:
        raise SyscallError("EFAULT", "bad virtual page", vpn=vpn)
    k.bind.guarantee(env, vpn, ppn, handle, as_flag(writable, "writable"))


def sys_slice_alloc(k: "Aegis", env: Environment, handle: Any, position: Any,
                    count: Any, spread: Any) -> list[int]:
    """Allocate time slices to the caller (or an environment it controls)."""
    target = env if handle is None else _env(k, handle, "control")
    return k.sched.alloc(target, position, count, spread)


def sys_yield(k: "Aegis", env: Environment, handle: Any) -> bool:
    """Donate the rest of the slice (directed with a handle); False if nobody ran."""
    if handle is None:                  # the undirected yield, Scheduler.yield_ inlined
        s = k.sched                     # (the ExOS yield path: a frame less)
        s.yields += 1
        to = s._next(env)
        if to is None:
            k.deliver(env)
            return False
        s.switch(k.cpu, to)
        return True
    return k.sched.yield_(env, _env(k, handle, "yield"))


def sys_sleep(k: "Aegis", env: Environment) -> None:
    """Give up the processor until a message or a wake arrives."""
    k.sched.sleep(env)


def sys_wake(k: "Aegis", env: Environment, handle: Any) -> None:
    """Wake an environment (it needs the ``wake`` right)."""
    k.sched.wake(_env(k, handle, "wake"))
