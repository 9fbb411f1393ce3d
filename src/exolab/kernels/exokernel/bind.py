"""Secure bindings of virtual to physical pages (TLB entries), and refill.

A library OS manages its own page tables; Aegis only checks, at *bind time*,
that the environment holds a capability for the physical page with the
rights the binding needs, and then writes the translation into the hardware
TLB and the STLB (:mod:`.stlb`). Each binding remembers the capability that
authorised it, so revoking that capability (or an ancestor) breaks the
binding everywhere. A binding with the valid bit clear needs no capability:
it makes a page inaccessible, and touching it raises a protection exception
that Aegis dispatches straight to the environment.

*Guaranteed mappings* are bindings Aegis itself serves on a TLB miss (the
library OS's page table, handler code and save area), so that its TLB-miss
handler never misses on its own data.

Interface::

    VALID, WRITABLE                        flag bits of a binding
    USER_VPN_LIMIT, MAX_GUARANTEED, MAX_VEC
    Binder(caps, cpu, stlb, asids, costs)  costs: Aegis's path cycles (paths.py)
      write(env, vpn, ppn, handle, flags)  one binding (tlbwi + STLB)
      write_vec(env, entries) -> int       [(vpn, ppn, handle, flags)] (STLB only)
      unbind(env, vpn, npages)             remove bindings
      guarantee(env, vpn, ppn, handle, writable)
      tlb_fill(entry)                      write the hardware TLB (FIFO, tlbwi)
      refill(env, vpn) -> "ok" | "prot" | "miss"           the TLB-miss slow path
      revoke(cap) -> int                   revoke a capability subtree, break bindings
      forget(env)                          drop every binding of a dying environment
"""
from __future__ import annotations

from typing import Any

from exolab.errors import KernelPanic, SyscallError, type_name
from exolab.kernels.common.asids import Asids
from exolab.kernels.exokernel.caps import Capability, CapTable
from exolab.kernels.exokernel.env import Environment
from exolab.kernels.exokernel.limits import MAX_GUARANTEED, MAX_VEC, USER_VPN_LIMIT
from exolab.kernels.exokernel.stlb import STLB
from exolab.machine.cpu import CPU
from exolab.machine.tlb import TLBEntry

__all__ = ["Binder", "VALID", "WRITABLE", "USER_VPN_LIMIT", "MAX_GUARANTEED",
           "MAX_VEC"]

VALID, WRITABLE = 1, 2


class Binder:
    """Bind-time checks and the bookkeeping that lets revocation find bindings."""

    def __init__(self, caps: CapTable, cpu: CPU, stlb: STLB, asids: Asids,
                 costs: dict[str, int]) -> None:
        self.caps = caps                    # authority: a binding needs a page capability
        self.cpu = cpu
        self.stlb = stlb
        self.asids = asids                  # whose STLB/TLB entries are still tagged
        self.c_probe = costs["stlb_probe"]  # (paths.py, resolved for the profile by the
        self.c_cap = costs["cap_check"]     # kernel)
        self.c_entry = costs["bind_entry"]
        tlb = cpu.tlb                       # hardware TLB slots Aegis refills, FIFO
        self.fifo_first, self.fifo_last = tlb.wired, tlb.size - 1   # (tlbwi), and the
        self.fifo = tlb.wired                                       # next one
        self.bindings = self.refused = 0

    # -- decode --------------------------------------------------------------------

    def _decode(self, env: Environment, vpn: Any, ppn: Any, handle: Any,
                flags: Any, replacing: bool = False) -> Capability | None:
        """Validate one binding request; return the authorising capability (or None).
        A guaranteed page may be bound only when ``replacing`` its guarantee."""
        if type(vpn) is not int or not 0 < vpn < USER_VPN_LIMIT:
            raise SyscallError("EFAULT", "virtual page outside user space", vpn=vpn)
        if type(flags) is not int or flags & ~(VALID | WRITABLE):
            raise SyscallError("EINVAL", "bad binding flags", flags=flags)
        if vpn in env.guaranteed and not replacing:
            raise SyscallError("EINVAL", "page has a guaranteed mapping", vpn=vpn)
        if not flags & VALID:
            return None                       # an inaccessible page needs no authority
        self.cpu.charge(self.c_cap)
        need = ("read", "write") if flags & WRITABLE else ("read",)
        try:
            cap = self.caps.lookup(handle, "page", need)
        except SyscallError:
            self.refused += 1
            raise
        if type(ppn) is not int or cap.obj != ppn:     # (never a caller's __ne__)
            self.refused += 1
            raise SyscallError("EPERM", "capability names another physical page",
                               handle=handle, ppn=ppn)
        return cap

    # -- invoke ------------------------------------------------------------------------

    def _install(self, env: Environment, vpn: int, ppn: int, cap: Capability | None,
                 flags: int) -> TLBEntry:
        """Record a binding made with ``cap`` and put it in the STLB."""
        self._forget(env, vpn)
        e = TLBEntry(vpn, env.asid, ppn if cap is not None else 0, cap is not None,
                     bool(flags & WRITABLE) and cap is not None)
        if cap is not None:
            _record(cap, env, vpn)
            env.bound[vpn] = cap
        env.cached.add(vpn)
        self.stlb.insert(e)
        self.bindings += 1
        return e

    def write(self, env: Environment, vpn: int, ppn: int, handle: int,
              flags: int) -> None:
        """Bind ``vpn`` -> ``ppn`` in ``env`` (tlbwr when valid, STLB always)."""
        cap = self._decode(env, vpn, ppn, handle, flags)
        e = self._install(env, vpn, ppn, cap, flags)
        if cap is not None:
            self.tlb_fill(e)                           # (replaces any old copy)
        else:
            self.cpu.tlb_invalidate(vpn, env.asid)

    def write_vec(self, env: Environment, entries: Any) -> int:
        """Bind many pages in one call (STLB; the TLB copy is dropped); return count."""
        if type(entries) not in (list, tuple) or len(entries) > MAX_VEC:
            raise SyscallError("EINVAL", "binding vector must be a short list",
                               type=type_name(entries))
        decoded = []
        for item in entries:                  # decode all before changing anything
            self.cpu.charge(self.c_entry)
            if type(item) is not tuple or len(item) != 4:
                raise SyscallError("EINVAL", "binding entry must be (vpn, ppn, cap, flags)")
            vpn, ppn, handle, flags = item
            decoded.append((vpn, ppn, self._decode(env, vpn, ppn, handle, flags), flags))
        for vpn, ppn, cap, flags in decoded:
            self._install(env, vpn, ppn, cap, flags)
            self.cpu.tlb_invalidate(vpn, env.asid)
        return len(decoded)

    def unbind(self, env: Environment, vpn: Any, npages: Any) -> None:
        """Remove the bindings of ``npages`` pages from ``vpn`` (EFAULT outside user space)."""
        if type(vpn) is not int or type(npages) is not int or npages < 0 \
                or not 0 < vpn <= vpn + npages <= USER_VPN_LIMIT:
            raise SyscallError("EFAULT", "range outside user space", vpn=vpn, npages=npages)
        for v in range(vpn, vpn + npages):
            self.cpu.charge(self.c_entry)
            self._invalidate(env, v)

    def guarantee(self, env: Environment, vpn: int, ppn: int, handle: int,
                  writable: Any) -> None:
        """Give ``env`` a mapping the kernel serves itself on a TLB miss."""
        if len(env.guaranteed) >= MAX_GUARANTEED and vpn not in env.guaranteed:
            raise SyscallError("ENOMEM", "too many guaranteed mappings",
                               limit=MAX_GUARANTEED)
        flags = VALID | (WRITABLE if writable else 0)
        cap = self._decode(env, vpn, ppn, handle, flags, replacing=True)
        if cap is None:
            raise KernelPanic("bind: a valid binding decoded without a capability",
                              vpn=vpn)
        if vpn in env.guaranteed:                   # checked: now replace the old one
            self._drop_guaranteed(env, vpn)
        self.unbind(env, vpn, 1)
        e = TLBEntry(vpn, env.asid, ppn, True, bool(writable))
        env.guaranteed[vpn] = e
        env.bound[vpn] = cap
        _record(cap, env, vpn)
        env.cached.add(vpn)
        self.stlb.insert(e)

    def _drop_guaranteed(self, env: Environment, vpn: int) -> None:
        """Remove a guaranteed mapping and its cached copies."""
        self._unguarantee(env, vpn)
        self._invalidate(env, vpn)

    @staticmethod
    def _unguarantee(env: Environment, vpn: int) -> None:
        """Drop ``env``'s guarantee of ``vpn``; a save area there is unbound with it
        (the kernel never writes a frame the environment no longer holds)."""
        env.guaranteed.pop(vpn, None)
        if env.save_area is not None and env.save_area[0] == vpn:
            env.save_area = None

    def _forget(self, env: Environment, vpn: int) -> None:
        """Drop ``env``'s record of its binding of ``vpn`` (and the capability's)."""
        cap = env.bound.pop(vpn, None)
        if cap is not None and cap.bindings is not None:
            _unrecord(cap, env, vpn)

    def _invalidate(self, env: Environment, vpn: int) -> None:
        """Forget ``env``'s binding of ``vpn`` and drop its STLB and TLB copies."""
        self._forget(env, vpn)
        self.stlb.invalidate(env.asid, vpn)
        self.cpu.tlb_invalidate(vpn, env.asid)

    # -- the TLB-miss fast path ---------------------------------------------------------

    def tlb_fill(self, e: TLBEntry) -> None:
        """Write ``e`` into the hardware TLB: Aegis replaces FIFO with tlbwi (its policy)."""
        i = self.fifo
        self.fifo = i + 1 if i < self.fifo_last else self.fifo_first
        self.cpu.tlb_write_indexed(i, e)

    def refill(self, env: Environment, vpn: int) -> str:
        """Serve a hardware TLB miss from the STLB or a guaranteed mapping."""
        cpu = self.cpu
        cpu.charge(self.c_probe)
        e = self.stlb.lookup(env.asid, vpn)
        if e is None:
            e = env.guaranteed.get(vpn)
            if e is None:
                return "miss"
            self.stlb.insert(e)
        elif not e.valid:
            return "prot"
        self.tlb_fill(e)
        return "ok"

    # -- revocation ------------------------------------------------------------------------

    def revoke(self, cap: Capability) -> int:
        """Revoke ``cap`` and its derivations; break every binding made with them."""
        broken = 0
        for c in self.caps.revoke(cap):
            made = c.bindings
            for env, vpn in made if isinstance(made, set) else (made,) if made else ():
                if env.bound.get(vpn) is c:
                    del env.bound[vpn]
                    self._unguarantee(env, vpn)
                if env.asid_gen == self.asids.gen:     # (else flushed at the rollover)
                    self.stlb.invalidate(env.asid, vpn)
                    self.cpu.tlb_invalidate(vpn, env.asid)
                else:
                    self.cpu.charge(self.cpu.profile.tlb_probe + self.cpu.profile.tlb_write)
                broken += 1
            c.bindings = None
        return broken

    def forget(self, env: Environment) -> None:
        """Drop every binding of a dying environment (its ASID will be reused)."""
        for vpn, cap in env.bound.items():
            if cap.bindings is not None:
                _unrecord(cap, env, vpn)
        env.bound.clear()
        env.guaranteed.clear()
        env.save_area = None
        if env.asid_gen == self.asids.gen:     # its STLB entries: what it put there
            stlb, asid = self.stlb, env.asid    # (not a walk of every slot)
            for vpn in env.cached:
                stlb.invalidate(asid, vpn)
            self.cpu.tlb_flush(asid)
        else:                                   # (flushed at the rollover; same charge)
            self.cpu.charge(self.cpu.profile.tlb_flush)
        env.cached.clear()


def _record(cap: Capability, env: Environment, vpn: int) -> None:
    """Note that ``cap`` authorised ``env``'s binding of ``vpn``: the first binding is
    kept alone, a set made at the second (most capabilities authorise one binding, and
    a set each was 3 of an ExOS process's 57 KB of host memory)."""
    made, key = cap.bindings, (env, vpn)
    if made is None:
        cap.bindings = key
    elif isinstance(made, set):
        made.add(key)
    elif made[0] is not env or made[1] != vpn:
        cap.bindings = {made, key}


def _unrecord(cap: Capability, env: Environment, vpn: int) -> None:
    """Forget that ``cap`` authorised ``env``'s binding of ``vpn`` (if it did)."""
    made = cap.bindings
    if isinstance(made, set):
        made.discard((env, vpn))
    elif made is not None and made[0] is env and made[1] == vpn:
        cap.bindings = None
