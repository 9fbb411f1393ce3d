"""XN, step by step: the seed's walk-through (setup, startup, allocate, read, write).

Covers: Aegis's XN calls made by a library file system in a program's own
protection domain (``os.aegis``: ExOS's raw kernel entry): templates
(ownership, access and size functions, verified as deterministic and
terminating before XN runs them), the type and root catalogues, the
allocation protocol (owns(m) lacks b; apply; owns(m') is owns(m) plus exactly
b; else revert and refuse), the buffer-cache registry (a read needs the
parent cached and owning the block, and the parent's access function's
consent; the library maps the page XN returns), the two ordering rules and
XN's free map.

Scenario: a tiny flat file system takes a fresh XN principal, installs its
three templates (a directory, a file, data) and registers its root; it
starts up by loading the root from the root catalogue; it allocates a file
block and a data block, each by naming the block, the parent and the bytes
that make the parent point to it; a forged allocation (bytes that point to
two blocks) is refused and changes nothing; a forked child with another
principal is refused a read; writing the file block back before its new
child is refused (rule 1) and sync writes in a safe order; a freed block
stays unusable until the cleared pointer is durable (rule 2).

Run it: ``python examples/xn_walkthrough.py`` (or ``exolab run
examples/xn_walkthrough.py --kernel exokernel``).
"""
from __future__ import annotations

from struct import pack
from typing import Any

from exolab.errors import SyscallError
from exolab.kernels.exokernel import Sys

BS = 1024
ACL = """
def acl(data, op, principal):
    return principal == OWNER


def size(data):
    return 1024
"""
DIR = """from struct import unpack_from


def owns(data):
    out = []
    if data[0:4] != b"FLAT":
        return out
    for i in range(31):
        b = unpack_from("<I", data, 32 + i * 32 + 28)[0]
        if b:
            out.append((b, "walk file"))
    return out
"""
FILE = """from struct import unpack_from


def owns(data):
    out = []
    for i in range(255):
        b = unpack_from("<I", data, 4 + i * 4)[0]
        if b:
            out.append((b, "walk data"))
    return out
"""


def refused(os: Any, what: str, *call: Any) -> None:
    """Make the XN call; print the errno XN refuses it with."""
    try:
        os.aegis(*call)
    except SyscallError as ex:
        os.print(f"  {what}: refused {ex.errno} ({ex.message})")
        return
    os.print(f"  {what}: NOT refused")


def intruder(os: Any, data_block: int, file_block: int) -> int:
    """Another principal tries to read the data block."""
    os.aegis(Sys.XN_PRINCIPAL, True)
    refused(os, "another principal reads it", Sys.XN_READ, data_block, file_block)
    return 0


def main(os: Any) -> None:
    me = os.aegis(Sys.XN_PRINCIPAL, True)
    acl = ACL.replace("OWNER", str(me))
    os.print("SETUP")
    for name, src in (("walk dir", DIR + acl), ("walk file", FILE + acl),
                      ("walk data", acl)):
        os.print(f"  install template {os.aegis(Sys.XN_INSTALL, name, src)!r}")
    os.aegis(Sys.XN_REGISTER, "walk", 1, "walk dir")
    os.aegis(Sys.XN_WRITE, 1, [(0, b"FLAT")])
    root, ty = os.aegis(Sys.XN_ROOT, "walk")
    os.print(f"  root catalogue: 'walk' -> block {root}, type {ty!r}")

    os.print("STARTUP")
    ppn, _cap = os.aegis(Sys.XN_LOAD_ROOT, "walk")
    os.print(f"  load root 'walk': registry page {ppn}, a read capability to map it")

    os.print("ALLOCATE")
    f = os.aegis(Sys.XN_FREE_LIST, 2, 1)[0]
    entry = b"hello".ljust(28, b"\0") + pack("<I", f)
    os.aegis(Sys.XN_ALLOC, root, [(32, entry)], f, "walk file")
    os.print(f"  file block {f}: owns(root) lacked it; owns(root') = owns(root) + {{{f}}}")
    d1, d2 = os.aegis(Sys.XN_FREE_LIST, f + 1, 2)
    refused(os, f"forged: name {d1}, point to {d1} and {d2}", Sys.XN_ALLOC, f,
            [(4, pack("<II", d1, d2))], d1, "walk data")
    os.aegis(Sys.XN_ALLOC, f, [(4, pack("<I", d1))], d1, "walk data")
    os.print(f"  data block {d1} under file block {f}")

    os.print("READ")
    ppn, cap = os.aegis(Sys.XN_READ, d1, f)
    os.aegis(Sys.GUARANTEE, 0x60000, ppn, cap, False)
    os.print(f"  read {d1} under {f}: registry page {ppn}, mapped read-only")
    refused(os, f"read {d1} under the root (which does not own it)", Sys.XN_READ, d1, root)
    os.wait(os.fork(intruder, d1, f))

    os.print("WRITE")
    os.aegis(Sys.XN_WRITE, d1, [(0, b"hello, disk")])
    os.print(f"  the mapped page now reads {os.load_bytes(0x60000 << 12, 11)!r}")
    os.aegis(Sys.XN_WRITE, f, [(0, pack("<I", 11))])
    refused(os, "write back the file block first (rule 1)", Sys.XN_WRITEBACK, f)
    os.print(f"  sync: {os.aegis(Sys.XN_SYNC)} blocks written, children first, then a flush")
    os.aegis(Sys.XN_FREE, f, [(4, bytes(4))], d1)
    refused(os, f"reuse freed {d1} before the cleared pointer is durable (rule 2)",
            Sys.XN_ALLOC, f, [(8, pack("<I", d1))], d1, "walk data")
    os.aegis(Sys.XN_SYNC)
    os.print(f"  after sync: block {d1} is free again: "
             f"{d1 in os.aegis(Sys.XN_FREE_LIST, d1, 1)}")
    st = os.aegis(Sys.XN_STATS)
    os.print(f"  XN: {st.allocs} allocations, {st.frees} free, {st.refused} refused, "
             f"{st.udf_runs} function runs, {st.disk_writes} disk writes")


if __name__ == "__main__":
    from exolab.runner import run_program

    run = run_program(main, kernel="exokernel")
    for line in run.console:
        print(line)
    print(f"run: {run.result.reason}; faults: {run.faults}")
