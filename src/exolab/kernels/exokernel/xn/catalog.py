"""XN's catalogues: metadata types by unique name, and the roots of trees.

The *type catalogue* holds every installed :class:`~.udf.Template` under its
unique name ("ext2 inode", "flat dir"). Installing a name again with the
same source is a no-op (a library restarting re-installs its types);
installing it with different source is refused (EEXIST), so nobody can
replace the ownership function another library's blocks depend on.

The *root catalogue* names the root block of each tree ("ext2" -> the
superblock, type "ext2 super") and the principal that registered it; every
block reachable from a root through ownership functions is in use, every
other block is free (XN's free map is derived from the roots). A root's
block must be free when it is registered.

Both catalogues are XN's own state; a persistent XN stores them on its disk
(:mod:`.store`) and rebuilds them at boot from what it reads back, every
template verified again (docs/xn.md, "On the disk").

Interface::

    MAX_TYPES, MAX_ROOTS, MAX_HELD
    Root(name, block, type, principal)              slotted, immutable
    TypeCatalogue()   install(name, source) -> Template   get(name) -> Template
                      __contains__(name), names()   remove(name)
    RootCatalogue()   register(name, block, type, principal) -> Root
                      get(name) -> Root   roots() -> tuple[Root, ...]   blocks()
                      remove(name)
"""
from __future__ import annotations

from dataclasses import dataclass

from exolab.errors import SyscallError, safe_repr
from exolab.kernels.exokernel.xn.udf import MAX_NAME, Template, compile_template

__all__ = ["MAX_TYPES", "MAX_ROOTS", "MAX_HELD", "Root", "TypeCatalogue", "RootCatalogue"]

MAX_TYPES = 256         # templates one XN holds
MAX_ROOTS = 64          # roots one XN holds
MAX_HELD = 65_536       # blocks one principal's trees may hold (register, alloc, adopt):
                        # XN keeps a count per principal and a holder per used block, and
                        # an adopt's walk builds a set of every block it reaches, so this
                        # bounds the host memory one principal makes XN hold; 64 MiB of
                        # 1 KiB blocks is more than ExOS's largest image (32 MiB) needs


@dataclass(frozen=True, slots=True)
class Root:
    """One registered tree: its name, root block, root type and registrant."""

    name: str
    block: int
    type: str
    principal: int


class TypeCatalogue:
    """Unique name -> verified template."""

    __slots__ = ("_types",)

    def __init__(self) -> None:
        self._types: dict[str, Template] = {}

    def install(self, name: object, source: object) -> Template:
        """Verify and install a template (same source again: the existing one)."""
        old = self._types.get(name) if type(name) is str else None
        if old is not None:
            if old.source != source:
                raise SyscallError("EEXIST", "type name taken by another template",
                                   type=name)
            return old
        if len(self._types) >= MAX_TYPES:
            raise SyscallError("ENOSPC", "type catalogue full", limit=MAX_TYPES)
        t = compile_template(name, source)
        self._types[t.name] = t
        return t

    def get(self, name: object) -> Template:
        """The template named ``name`` (ENOENT if none)."""
        t = self._types.get(name) if type(name) is str else None
        if t is None:
            raise SyscallError("ENOENT", "no such metadata type", type=safe_repr(name))
        return t

    def __contains__(self, name: object) -> bool:
        return type(name) is str and name in self._types

    def names(self) -> tuple[str, ...]:
        """Installed type names, in installation order."""
        return tuple(self._types)

    def remove(self, name: str) -> None:
        """Forget a type no block has (XN decides; see XN.release)."""
        del self._types[name]


class RootCatalogue:
    """Unique name -> root block and its type."""

    __slots__ = ("_roots",)

    def __init__(self) -> None:
        self._roots: dict[str, Root] = {}

    def register(self, name: object, block: int, type_name: str, principal: int) -> Root:
        """Record a new root (EEXIST if the name is taken); the caller checked the block."""
        if type(name) is not str or not 0 < len(name) <= MAX_NAME:
            raise SyscallError("EINVAL", "bad root name", name=safe_repr(name))
        if name in self._roots:
            raise SyscallError("EEXIST", "root name taken", root=name)
        if len(self._roots) >= MAX_ROOTS:
            raise SyscallError("ENOSPC", "root catalogue full", limit=MAX_ROOTS)
        r = self._roots[name] = Root(name, block, type_name, principal)
        return r

    def get(self, name: object) -> Root:
        """The root named ``name`` (ENOENT if none)."""
        r = self._roots.get(name) if type(name) is str else None
        if r is None:
            raise SyscallError("ENOENT", "no such root", root=safe_repr(name))
        return r

    def roots(self) -> tuple[Root, ...]:
        """Every root, in registration order."""
        return tuple(self._roots.values())

    def remove(self, name: str) -> None:
        """Forget a root whose tree never reached the disk (XN decides; XN.release)."""
        del self._roots[name]

    def blocks(self) -> frozenset[int]:
        """The root blocks."""
        return frozenset(r.block for r in self._roots.values())
