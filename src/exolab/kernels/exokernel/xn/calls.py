"""Aegis's XN system calls: decode (the caller's principal, the kernel's XN), invoke.

The kernel makes its XN on the first call, over the machine's first disk
(without one, over an empty 8 MiB disk in host memory that costs no drive time).
On a machine's disk XN is persistent: it boots from the catalogues it finds
at the disk's tail (docs/xn.md, "On the disk"); a damaged or foreign
catalogue makes every XN call fail with EIO and nothing on the disk changes.
XN's disk requests go through one DMA frame it holds
(:mod:`.queue`): writes are queued on the drive and not waited for (a flush
queued whenever the drive's write cache fills); for a read or a flush the
kernel waits in place (interrupts stay pending until the caller is back in
user mode; the wait is simulated time, not cycles charged to anybody). Each call's cost is its Aegis path (``syscall_stack``) plus
what XN reports: registry lookups, functions run, the fuel ticks they spent
(:data:`~.limits.UDF_STEP` instructions each), the entries they return, bytes of
modifications applied (:data:`~exolab.kernels.exokernel.paths.PATHS`
rows ``xn_*``, and the profile's copy cost).

*Principals.* An environment acts as the principal of its nearest ancestor
that took one with ``XN_PRINCIPAL`` (0 if none): a library file system's
templates name the principal whose access they allow, so two libraries
running as different principals cannot read or change each other's blocks.
Numbers are never handed out twice in a boot (a tree on disk may name one).

*Lifetimes.* A principal other than 0 is gone when no live environment acts
as it. At the first XN call after an environment exits, the kernel forgets the
principal-table entries no live environment inherits through, and XN forgets
what the gone principals left that no block has: types no tree names, roots
never written (:meth:`~.core.XN.release`). Trees on the disk persist.

Interface (handlers ``sys_xn_*(k, env, ...)`` for :mod:`..syscall`)::

    xn_of(k) -> XN            principal_of(k, env) -> int     reap(k, xn)
    sys_xn_principal, sys_xn_install, sys_xn_register, sys_xn_adopt, sys_xn_probe,
    sys_xn_root, sys_xn_load_root,
    sys_xn_read, sys_xn_alloc, sys_xn_free, sys_xn_modify, sys_xn_write,
    sys_xn_writeback, sys_xn_flush, sys_xn_sync, sys_xn_free_list, sys_xn_stats
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.errors import DiskImageError, SyscallError, safe_str
from exolab.kernels.exokernel.env import Environment
from exolab.kernels.exokernel.xn.core import XN, XNStats
from exolab.kernels.exokernel.xn.limits import UDF_STEP
from exolab.kernels.exokernel.xn.pages import FramePages
from exolab.kernels.exokernel.xn.queue import QueuedDisk
from exolab.services.ext2.interfaces import MemoryDevice

if TYPE_CHECKING:
    from exolab.kernels.exokernel.kernel import Aegis

__all__ = ["xn_of", "principal_of", "reap", "REGISTRY_PAGES", "SPARE_DISK"] + [
    f"sys_xn_{n}" for n in ("principal", "install", "register", "adopt", "probe", "root", "load_root", "read",
                            "alloc", "free", "modify", "write", "writeback", "flush", "sync",
                            "free_list", "stats")]

REGISTRY_PAGES = 1024   # frames XN may hold for its buffer-cache registry
SPARE_DISK = (1024, 8192)   # block size and blocks of the disk XN uses when none is attached
_LAST = -1              # principal-table key of the last number handed out (no eid is < 0)


def _charger(k: "Aegis") -> Any:
    """XN's cost hook on ``k``: each kind is an Aegis path row or the copy cost."""
    cpu, p, c = k.cpu, k.machine.profile, k.c_path
    rows = {"xn.call": c["xn_call"], "xn.udf": c["xn_udf"], "xn.owns": c["xn_owns"],
            "xn.step": UDF_STEP * p.instruction,
            "xn.disk_read": c["xn_disk_req"], "xn.disk_write": c["xn_disk_req"],
            "xn.flush": c["xn_disk_req"]}

    def charge(kind: str, count: int) -> None:
        cpu.charge(p.copy_cost(count) if kind == "xn.copy" else rows[kind] * count)
    return charge


def xn_of(k: "Aegis") -> XN:
    """The kernel's XN, made over the machine's first disk on first use (ENODEV)."""
    xn: XN | None = k.xn
    if xn is not None:
        if xn.reaped != k.exits.ended:
            reap(k, xn)
        return xn
    pages = FramePages(k, REGISTRY_PAGES)
    dev: Any
    if not k.machine.disks:     # no disk attached: an empty one in memory, no drive time
        xn = k.xn = XN(MemoryDevice(*SPARE_DISK), pages, _charger(k))
        return xn
    disk = k.machine.disks[0]
    dma = pages.alloc()
    dev = QueuedDisk(disk, k.machine.memory, dma << k.pshift, k.clock)
    try:
        xn = XN(dev, pages, _charger(k), persist=True)
    except DiskImageError as ex:    # refused at boot: nothing was written
        pages.free(dma)
        raise SyscallError("EIO", "XN refuses the disk's catalogue", reason=safe_str(ex)) from None
    k.xn = xn
    xn.reaped = k.exits.ended
    return xn


def reap(k: "Aegis", xn: XN) -> None:
    """Environments exited: drop the principal-table entries no live environment
    inherits through, and release what XN holds for principals now gone."""
    xn.reaped = k.exits.ended
    table = k.xn_principals
    used: set[int] = set()
    live = {0}
    for env in k.envs.values():
        e: Environment | None = env if env.alive else None
        while e is not None and e.eid not in table:
            e = e.parent
        if e is not None:
            used.add(e.eid)
            live.add(table[e.eid])
    for eid in [x for x in table if x != _LAST and x not in used]:
        del table[eid]
    for owner in xn.owners() - live:
        xn.release(owner)


def principal_of(k: "Aegis", env: Environment) -> int:
    """The principal ``env`` acts as: its own or its nearest ancestor's, else 0."""
    table = k.xn_principals
    e: Environment | None = env
    while e is not None:
        p = table.get(e.eid)
        if p is not None:
            return p
        e = e.parent
    return 0


def sys_xn_principal(k: "Aegis", env: Environment, new: Any) -> int:
    """The caller's XN principal; with ``new`` a fresh one for it and its later children."""
    if type(new) is not bool:
        raise SyscallError("EINVAL", "new must be a bool")
    if not new:
        return principal_of(k, env)
    table = k.xn_principals
    p = table[env.eid] = table[_LAST] = table.get(_LAST, 999) + 1
    return p


def sys_xn_install(k: "Aegis", env: Environment, name: Any, source: Any) -> str:
    """Install a metadata template (verified deterministic) in the type catalogue."""
    p = principal_of(k, env)
    return xn_of(k).install_type(name, source, p or None)


def sys_xn_register(k: "Aegis", env: Environment, name: Any, block: Any, type_name: Any
                    ) -> None:
    """Register a root: a free block becomes the root of a tree of the named type."""
    p = principal_of(k, env)
    xn_of(k).register_root(p, name, block, type_name, p or None)


def sys_xn_adopt(k: "Aegis", env: Environment, name: Any, block: Any, type_name: Any,
                 extent: Any) -> int:
    """Register a root over a tree already on disk (its blocks must all be free).

    ``extent``: the library's promise that the tree stays below this block (None:
    no promise); with one, XN may keep its catalogues at the disk's tail."""
    return xn_of(k).adopt_root(principal_of(k, env), name, block, type_name, extent)


def sys_xn_probe(k: "Aegis", env: Environment, block: Any) -> bytes:
    """Read a block while XN knows no root yet (setup over an existing image)."""
    return xn_of(k).probe(block)


def sys_xn_root(k: "Aegis", env: Environment, name: Any) -> tuple[int, str]:
    """Look a root up in the root catalogue: (block, type)."""
    r = xn_of(k).root(name)
    return r.block, r.type


def sys_xn_load_root(k: "Aegis", env: Environment, name: Any) -> tuple[int, int]:
    """Cache a root block; (ppn, read capability) of its registry page."""
    return xn_of(k).load_root(principal_of(k, env), name)


def sys_xn_read(k: "Aegis", env: Environment, block: Any, parent: Any) -> tuple[int, int]:
    """Cache ``block`` under its cached, owning ``parent``; (ppn, read capability)."""
    return xn_of(k).read(principal_of(k, env), block, parent)


def sys_xn_alloc(k: "Aegis", env: Environment, m: Any, mods: Any, block: Any,
                 type_name: Any) -> None:
    """Allocate free ``block`` of a type: ``mods`` make cached ``m`` point to it."""
    xn_of(k).alloc(principal_of(k, env), m, mods, block, type_name)


def sys_xn_free(k: "Aegis", env: Environment, m: Any, mods: Any, block: Any) -> None:
    """Free ``block``: ``mods`` make ``m`` stop pointing to it."""
    xn_of(k).free(principal_of(k, env), m, mods, block)


def sys_xn_modify(k: "Aegis", env: Environment, m: Any, mods: Any, alloc: Any,
                  free: Any) -> None:
    """Change ``m`` adding exactly ``alloc`` [(block, type)] and removing ``free``."""
    xn_of(k).modify(principal_of(k, env), m, mods, alloc, free)


def sys_xn_write(k: "Aegis", env: Environment, block: Any, mods: Any) -> None:
    """Change cached ``block``; what it owns must stay the same."""
    xn_of(k).write(principal_of(k, env), block, mods)


def sys_xn_writeback(k: "Aegis", env: Environment, block: Any) -> None:
    """Write a dirty cached block to disk (EAGAIN while it points to one not durable)."""
    xn_of(k).writeback(principal_of(k, env), block)


def sys_xn_flush(k: "Aegis", env: Environment) -> None:
    """Make every write-back durable; free the blocks whose last pointer went."""
    xn_of(k).flush()


def sys_xn_sync(k: "Aegis", env: Environment) -> int:
    """Write every dirty block, children first, and flush; blocks written."""
    return xn_of(k).sync()


def sys_xn_free_list(k: "Aegis", env: Environment, start: Any, n: Any) -> list[int]:
    """Up to ``n`` free blocks from ``start`` on (the free list libraries choose from)."""
    return xn_of(k).free_blocks(start, n)


def sys_xn_stats(k: "Aegis", env: Environment) -> XNStats:
    """XN's counters (a frozen record)."""
    return xn_of(k).statistics()
