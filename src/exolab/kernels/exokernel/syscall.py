"""Aegis's system-call interface: numbers, the table, decode-then-invoke.

Every call is decoded (argument count, types, capabilities and rights; a
typed :class:`~exolab.errors.SyscallError` on failure) before anything
changes, then invoked. Each entry names its path: ``fast`` (the
no-stack path of Table 4, 33 instructions), ``stack`` (calls written in C,
50 instructions) or ``pct`` (the 30-instruction control-transfer path).
The handlers live with their mechanisms; this module is the table.

Interface::

    Sys                         IntEnum of call numbers (the interface)
    TABLE                       Sys -> (handler(k, env, *args), nargs, path)
    costed_table(k)             the same, paths resolved to cycles (the kernel's copy)
    dispatch(k, cpu, number, args) -> result
    describe() -> list[(number, name, nargs, path, doc)]      for generated docs

(A short module: the handlers live with their mechanisms.)
"""
from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any, Callable

from exolab.kernels.common.args import arity, no_such_call
from exolab.kernels.exokernel import ash, dpf_rx, netaddr
from exolab.kernels.exokernel import envcalls as E
from exolab.kernels.exokernel import pct, paths
from exolab.kernels.exokernel.env import LIVE
from exolab.kernels.exokernel.xn import calls as X
from exolab.machine.cpu import CPU

if TYPE_CHECKING:
    from exolab.kernels.exokernel.kernel import Aegis

__all__ = ["Sys", "TABLE", "dispatch", "describe", "costed_table"]


class Sys(IntEnum):
    """Aegis system-call numbers."""

    GETRES = 1          # () -> slice length in cycles (the null system call)
    CONSOLE = 2         # (data: bytes) -> len
    ENV_ALLOC = 10      # (name, pages) -> (eid, env handle with every right); reserves pages
    ENV_SETUP = 11      # (env, entries, exc_handlers, save_vpn)
    ENV_START = 12      # (env, fn, args) give it its first context
    ENV_DESTROY = 13    # (env, status, fault: bool)
    THREAD_ALLOC = 14   # (fn, args, name) -> thread id for a user-mode switch
    ENV_ALLOC_PRINCIPAL = 15   # (name, pages) as ENV_ALLOC; the child roots a principal
    #                            nested in the caller's (quota.py: an ExOS spawn)
    PAGE_ALLOC = 20     # (ppn | None) -> (ppn, root handle)
    PAGE_FREE = 21      # (root handle)
    PAGE_SHARE = 22     # (handles, env) -> root handles of env, one per page
    PAGE_LIST = 23      # () -> [(ppn, root handle)] the caller owns
    CAP_DERIVE = 24     # (handle, rights) -> handle
    CAP_REVOKE = 25     # (handle) revoke a derived capability and its subtree
    CAP_INFO = 26       # (handle) -> (kind, ppn | eid, rights, owners)
    TLB_WRITE = 30      # (vpn, ppn, handle, flags) one secure binding
    TLB_VEC = 31        # ([(vpn, ppn, handle, flags)]) many bindings
    TLB_UNBIND = 32     # (vpn, npages)
    GUARANTEE = 33      # (vpn, ppn, handle, writable) a kernel-served mapping
    SLICE_ALLOC = 40    # (env | None, position | None, count, spread) -> positions
    YIELD = 41          # (env | None) -> whether anybody else ran
    SLEEP = 42          # () until a message or a wake
    WAKE = 43           # (env)
    PCT_SYNC = 44       # (env, words) -> reply words
    PCT_ASYNC = 45      # (env, words, donate) -> whether the callee ran
    XN_PRINCIPAL = 60   # (new: bool) -> the caller's XN principal (new: a fresh one)
    XN_INSTALL = 61     # (name, source) install a metadata template
    XN_REGISTER = 62    # (name, block, type) register a root
    XN_ROOT = 63        # (name) -> (block, type)
    XN_LOAD_ROOT = 64   # (name) -> (ppn, handle) of the root's registry page
    XN_READ = 65        # (block, parent) -> (ppn, handle) of its registry page
    XN_ALLOC = 66       # (m, mods, block, type) the allocation protocol
    XN_FREE = 67        # (m, mods, block)
    XN_MODIFY = 68      # (m, mods, alloc, free) the protocol for a batch
    XN_WRITE = 69       # (block, mods) ownership unchanged
    XN_WRITEBACK = 70   # (block) to disk, children first
    XN_SYNC = 71        # () everything, in a safe order, then flush
    XN_FREE_LIST = 72   # (start, n) -> free blocks
    XN_STATS = 73       # () -> XNStats
    XN_ADOPT = 74       # (name, block, type, extent) -> blocks: a root over a tree on disk
    XN_PROBE = 75       # (block) -> bytes, only while no root exists
    XN_FLUSH = 76       # () make written blocks durable
    DPF_BIND = 80       # (filter, ring page handles, flags) -> fid      (dpf_rx.py)
    DPF_UNBIND = 81     # (fid)
    DPF_INFO = 82       # (fid) -> (state, delivered, dropped, reason)
    NET_SEND = 83       # (page handle, offset, length) transmit a frame
    NET_ADDR = 84       # () -> (mac, ipv4 int)                           (netaddr.py)
    ASH_BIND = 85       # (fid, handler source, window page handles)      (ash.py)


Handler = Callable[..., Any]

#: number -> (handler(kernel, env, *args), argument count, path name)
TABLE: dict[int, tuple[Handler, int, str]] = {
    Sys.GETRES: (E.sys_getres, 0, "syscall_fast"),
    Sys.CONSOLE: (E.sys_console, 1, "syscall_stack"),
    Sys.ENV_ALLOC: (E.sys_env_alloc, 2, "syscall_stack"),
    Sys.ENV_ALLOC_PRINCIPAL: (E.sys_env_alloc_principal, 2, "syscall_stack"),
    Sys.ENV_SETUP: (E.sys_env_setup, 4, "syscall_stack"),
    Sys.ENV_START: (E.sys_env_start, 3, "syscall_stack"),
    Sys.ENV_DESTROY: (E.sys_env_destroy, 3, "syscall_stack"),
    Sys.THREAD_ALLOC: (E.sys_thread_alloc, 3, "syscall_stack"),
    Sys.PAGE_ALLOC: (E.sys_page_alloc, 1, "syscall_stack"),
    Sys.PAGE_FREE: (E.sys_page_free, 1, "syscall_stack"),
    Sys.PAGE_SHARE: (E.sys_page_share, 2, "syscall_stack"),
    Sys.PAGE_LIST: (E.sys_page_list, 0, "syscall_stack"),
    Sys.CAP_DERIVE: (E.sys_cap_derive, 2, "syscall_stack"),
    Sys.CAP_REVOKE: (E.sys_cap_revoke, 1, "syscall_stack"),
    Sys.CAP_INFO: (E.sys_cap_info, 1, "syscall_stack"),
    Sys.TLB_WRITE: (E.sys_tlb_write, 4, "syscall_stack"),
    Sys.TLB_VEC: (E.sys_tlb_vec, 1, "syscall_stack"),
    Sys.TLB_UNBIND: (E.sys_tlb_unbind, 2, "syscall_stack"),
    Sys.GUARANTEE: (E.sys_guarantee, 4, "syscall_stack"),
    Sys.SLICE_ALLOC: (E.sys_slice_alloc, 4, "syscall_stack"),
    Sys.YIELD: (E.sys_yield, 1, "pct"),
    Sys.SLEEP: (E.sys_sleep, 0, "syscall_fast"),
    Sys.WAKE: (E.sys_wake, 1, "syscall_fast"),
    Sys.PCT_SYNC: (pct.call, 2, "pct"),
    Sys.PCT_ASYNC: (pct.send, 3, "pct"),
    Sys.XN_PRINCIPAL: (X.sys_xn_principal, 1, "syscall_stack"),
    Sys.XN_INSTALL: (X.sys_xn_install, 2, "syscall_stack"),
    Sys.XN_REGISTER: (X.sys_xn_register, 3, "syscall_stack"),
    Sys.XN_ROOT: (X.sys_xn_root, 1, "syscall_stack"),
    Sys.XN_LOAD_ROOT: (X.sys_xn_load_root, 1, "syscall_stack"),
    Sys.XN_READ: (X.sys_xn_read, 2, "syscall_stack"),
    Sys.XN_ALLOC: (X.sys_xn_alloc, 4, "syscall_stack"),
    Sys.XN_FREE: (X.sys_xn_free, 3, "syscall_stack"),
    Sys.XN_MODIFY: (X.sys_xn_modify, 4, "syscall_stack"),
    Sys.XN_WRITE: (X.sys_xn_write, 2, "syscall_stack"),
    Sys.XN_WRITEBACK: (X.sys_xn_writeback, 1, "syscall_stack"),
    Sys.XN_SYNC: (X.sys_xn_sync, 0, "syscall_stack"),
    Sys.XN_FREE_LIST: (X.sys_xn_free_list, 2, "syscall_stack"),
    Sys.XN_STATS: (X.sys_xn_stats, 0, "syscall_stack"),
    Sys.XN_ADOPT: (X.sys_xn_adopt, 4, "syscall_stack"),
    Sys.XN_PROBE: (X.sys_xn_probe, 1, "syscall_stack"),
    Sys.XN_FLUSH: (X.sys_xn_flush, 0, "syscall_stack"),
    Sys.DPF_BIND: (dpf_rx.sys_dpf_bind, 3, "syscall_stack"),
    Sys.DPF_UNBIND: (dpf_rx.sys_dpf_unbind, 1, "syscall_stack"),
    Sys.DPF_INFO: (dpf_rx.sys_dpf_info, 1, "syscall_stack"),
    Sys.NET_SEND: (dpf_rx.sys_net_send, 3, "syscall_stack"),
    Sys.NET_ADDR: (netaddr.sys_net_addr, 0, "syscall_fast"),
    Sys.ASH_BIND: (ash.sys_ash_bind, 3, "syscall_stack"),
}


def costed_table(k: "Aegis") -> dict[int, tuple[Handler, int, int]]:
    """TABLE with each path resolved to cycles on ``k``'s profile (built once)."""
    return {int(n): (h, nargs, k.c_path[path]) for n, (h, nargs, path) in TABLE.items()}


def dispatch(k: "Aegis", cpu: CPU, number: Any, args: tuple[Any, ...]) -> Any:
    """Charge the call's path, decode the number and count, run the handler."""
    entry = k.table.get(number) if type(number) is int or type(number) is Sys else None
    if entry is None:
        cpu.charge(k.c_path["syscall_fast"])
        raise no_such_call(number, "Aegis call")
    handler, nargs, cycles = entry
    clk = cpu.clock                     # cpu.charge, inlined (every call's path)
    clk.now += cycles
    if clk.now >= clk.deadline:
        cpu.service()
    if len(args) != nargs:
        raise arity(number, nargs, len(args))
    env = k.current
    if env is None or env.state != LIVE:
        k.unwind_current()
    k.syscalls += 1
    # as the monolithic dispatch: CPython runs a *args call as a C-level call (a deeper
    # C stack, which every greenlet switch below it copies out and back: the yield)
    if nargs == 1:
        return handler(k, env, args[0])
    if nargs == 2:
        return handler(k, env, args[0], args[1])
    if nargs == 0:
        return handler(k, env)
    return handler(k, env, *args)


def describe() -> list[tuple[int, str, int, str, str]]:
    """Every call: (number, name, argument count, path, handler doc), for docs."""
    out = []
    for num, (handler, nargs, path) in sorted(TABLE.items()):
        doc = (handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else ""
        out.append((int(num), Sys(num).name, nargs, f"{path} ({paths.PATHS[path][0]})", doc))
    return out
