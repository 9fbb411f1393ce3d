"""The flat file system's metadata types, as XN templates (source text).

One directory block (the root, type ``flat dir``): the magic ``FLAT`` and
then 32-byte entries ``name[28] | u32 file block``. Each file is one block of
type ``flat file``: ``u32 size`` and then u32 pointers to its ``flat data``
blocks (a leaf type: no ownership function). Every access function admits
only the principal that made the file system (its number is written into the
source, so the templates of two owners are two different types).

Interface::

    MAGIC, ENTRY, NAME_MAX
    entries(block_size) -> int       pointers(block_size) -> int
    templates(block_size, owner, prefix="flat") -> {type name: source}
"""
from __future__ import annotations

__all__ = ["MAGIC", "ENTRY", "NAME_MAX", "entries", "pointers", "templates"]

MAGIC = b"FLAT"
ENTRY = 32              # bytes of a directory entry
NAME_MAX = 28           # bytes of a name


def entries(block_size: int) -> int:
    """Directory entries in the root block."""
    return (block_size - ENTRY) // ENTRY


def pointers(block_size: int) -> int:
    """Data-block pointers in a file block."""
    return (block_size - 4) // 4


_ACL = '''
def acl(data, op, principal):
    return principal == {owner}


def size(data):
    return {bs}
'''

_DIR = '''from struct import unpack_from


def owns(data):
    out = []
    if data[0:4] != {magic!r}:
        return out
    for i in range({n}):
        b = unpack_from("<I", data, {entry} + i * {entry} + {name_max})[0]
        if b:
            out.append((b, "{prefix} file"))
    return out
'''

_FILE = '''from struct import unpack_from


def owns(data):
    out = []
    p = unpack_from("<{n}I", data, 4)
    for i in range({n}):
        if p[i]:
            out.append((p[i], "{prefix} data"))
    return out
'''


def templates(block_size: int, owner: int, prefix: str = "flat") -> dict[str, str]:
    """The three templates for a flat file system of ``owner`` on ``block_size`` blocks."""
    acl = _ACL.format(owner=int(owner), bs=int(block_size))
    return {
        f"{prefix} dir": _DIR.format(magic=MAGIC, n=entries(block_size), entry=ENTRY,
                                     name_max=NAME_MAX, prefix=prefix) + acl,
        f"{prefix} file": _FILE.format(n=pointers(block_size), prefix=prefix) + acl,
        f"{prefix} data": acl,
    }
